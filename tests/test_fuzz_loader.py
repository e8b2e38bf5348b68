"""Fuzzing the loader with hypothesis: random bytes, random messy tables (mixed valid and
invalid cells, ragged rows, duplicates, odd encodings and delimiters), random JSON and
random manifests. Whatever comes in, ``load_export`` either raises ``ExportError`` or
returns an export whose row accounting holds (``rows_in == rows_loaded +
rows_quarantined``) with contract dtypes. Any other exception is a bug.

Run longer locally with ``HYPOTHESIS_PROFILE=long`` (1,000 examples per test).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from patterns.errors import ExportError
from patterns.io import load_export

# The default run is bounded (a shared 2-core machine, files under ~60 s): 30 examples per
# test and no shrinking (a failure prints the unshrunk example). The long profile shrinks.
settings.register_profile(
    "default_fuzz",
    max_examples=30,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    parent=settings.get_profile("default_fuzz"),
    max_examples=1000,
    phases=list(Phase),
)
PROFILE = "long" if os.environ.get("HYPOTHESIS_PROFILE") == "long" else "default_fuzz"

EVENT_COLUMNS = [
    "couple_id",
    "ts",
    "actor",
    "code",
    "bid_id",
    "bid_type",
    "intensity",
    "topic",
    "note",
]
CHECKIN_COLUMNS = [
    "couple_id",
    "partner",
    "ts",
    "connection",
    "stress",
    "lonely",
    "time_together_min",
    "conflict",
    "conflict_topic",
    "tension",
    "shutdown",
    "answer",
]

GOOD = {
    "couple_id": st.sampled_from(["c1", "c2", "007", "NA"]),
    "actor": st.sampled_from(["a", "b", "c"]),
    "partner": st.sampled_from(["a", "b", "c"]),
    "ts": st.sampled_from(
        [
            "2026-03-02T08:00:00+01:00",
            "2026-03-02 08:05:00",
            "2026-03-29T02:30:00",
            "2026-10-25T02:30:00",
            "46083.5",
            "1772438400",
            "1772438400000",
            "2026-03-02Z",
            "13/03/2026 10:00",
            "yesterday",
            "",
            "NaT",
            "9999-99-99",
        ]
    ),
    "code": st.sampled_from(
        ["bid", "toward", "away", "against", "pursue", "withdraw", "conflict", "Toward", "hug", ""]
    ),
    "intensity": st.sampled_from(["0.5", "1", "0", "1.5", "-1", "3,5", "x", "", "nan", "inf"]),
    "connection": st.sampled_from(["5", "10", "0", "11", "-3", "7.5", "seven", "", "1e308"]),
    "conflict": st.sampled_from(["true", "False", "yes", "0", "maybe", ""]),
    "tension": st.sampled_from(["0", "4", "yes", "5", "", "2.5"]),
    "shutdown": st.sampled_from(["true", "no", "2", ""]),
}
NASTY_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30
) | st.sampled_from(
    [
        "=1+1",
        "</script><script>alert(1)</script>",
        "../../etc",
        "\x00",
        '"',
        '""',
        "a,b",
        "a;b",
        "a\tb",
        "\u202e",
        "\ufeff",
        "\r\n",
        "café – 5€",  # (cp1252-encodable: stray bytes in the utf-8+cp1252 tables)
        "zoë",
    ]
)


def _cell(col: str):
    return (GOOD.get(col, NASTY_TEXT) | NASTY_TEXT) if col in GOOD else NASTY_TEXT


@st.composite
def tables(draw, columns: list[str]):
    required = [c for c in columns[:4]]
    optional = draw(st.lists(st.sampled_from(columns[4:]), unique=True, max_size=5))
    extra = draw(
        st.lists(st.sampled_from(["junk", "Timestamp", "note", "ts", "Couple"]), max_size=2)
    )
    header = draw(st.permutations(required + optional)) + extra
    if draw(st.booleans()):
        header = header[: draw(st.integers(1, len(header)))]  # maybe drop required columns
    n = draw(st.integers(0, 12))
    rows = []
    for _ in range(n):
        row = [draw(_cell(c)) for c in header]
        shape = draw(st.integers(0, 9))
        if shape == 0 and row:
            row = row[:-1]  # ragged: short
        elif shape == 1:
            row = [*row, "surplus"]  # ragged: long
        rows.append(row)
        if draw(st.integers(0, 6)) == 0:
            rows.append(list(row))  # exact duplicate
    return header, rows


def _csv_bytes(header, rows, delimiter: str, encoding: str, bom: bool) -> bytes:
    buf = io.StringIO()
    # CRLF, so that a bare CR inside a cell is quoted (with "\n" csv leaves it bare and
    # every reader, rightly, splits the row there)
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    text = buf.getvalue()
    if encoding == "utf-8+cp1252":  # UTF-8 with every other line pasted from a cp1252 tool
        lines = text.split("\r\n")
        for i in range(1, len(lines), 2):
            try:
                lines[i] = lines[i].encode("cp1252").decode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                pass  # (not encodable: stays UTF-8)
        return (b"\xef\xbb\xbf" if bom else b"") + "\r\n".join(lines).encode(
            "utf-8", "surrogateescape"
        )
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
        encoding = "utf-8"
    prefix = {"utf-8": b"\xef\xbb\xbf", "utf-16": b""}.get(encoding, b"") if bom else b""
    return prefix + data


MANIFESTS = st.one_of(
    st.none(),
    st.just("{not json"),
    st.just("[]"),
    st.just(json.dumps({"timezone": "Europe/Amsterdam"})),
    st.just(json.dumps({"timezone": "Mars/Olympus"})),
    st.just(
        json.dumps(
            {
                "couples": [
                    {"couple_id": "c1", "partners": ["a", "b"], "timezone": "America/New_York"}
                ]
            }
        )
    ),
    st.just(json.dumps({"couples": "nope", "scales": {"connection": [1, 7]}})),
    st.just(json.dumps({"scales": {"connection": [5, 5]}})),
)


def _check(exp) -> None:
    s = exp.summary()
    assert (s["rows_in"] == s["rows_loaded"] + s["rows_quarantined"]).all(), s
    loaded = s.set_index("table")["rows_loaded"]
    assert loaded["events"] == len(exp.events) and loaded["checkins"] == len(exp.checkins)
    for df in (exp.events, exp.checkins):
        assert str(df["ts"].dtype) == "datetime64[ns, UTC]" or df.empty
        assert df["ts"].notna().all()
        assert df["couple_id"].notna().all()
    assert {"table", "source", "row", "reason"} <= set(exp.quarantine.columns)
    # notices (DST, stray bytes) only on loaded rows, counted per table
    q, n = exp.quarantine, exp.notices
    assert not set(zip(n["table"], n["record"], strict=True)) & set(
        zip(q["table"], q["record"], strict=True)
    )
    assert (s["rows_not_utf8"] <= s["rows_loaded"]).all()


def _load(files: dict[str, bytes]):
    root = Path(tempfile.mkdtemp(prefix="fuzz"))
    try:
        for name, data in files.items():
            (root / name).write_bytes(data)
        try:
            exp = load_export(root)
        except ExportError:
            return None
        _check(exp)
        return exp
    finally:
        shutil.rmtree(root, ignore_errors=True)


@settings(parent=settings.get_profile(PROFILE))
@given(
    data=st.binary(max_size=2000),
    name=st.sampled_from(
        [
            "events.csv",
            "checkins.csv",
            "events.jsonl",
            "events.json",
            "events.parquet",
            "events.xlsx",
            "events.csv.gz",
            "manifest.json",
        ]
    ),
)
@example(data=b"\x00\r\x00", name="events.csv")  # found by the long run: bare CR in header
def test_random_bytes(data: bytes, name: str) -> None:
    files = {name: data}
    if name != "manifest.json":
        files["manifest.json"] = b"{}"
    _load(files)


@settings(parent=settings.get_profile(PROFILE))
@given(
    ev=tables(EVENT_COLUMNS),
    ck=tables(CHECKIN_COLUMNS),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-16", "cp1252", "latin-1", "utf-8+cp1252"]),
    bom=st.booleans(),
    manifest=MANIFESTS,
)
def test_random_tables(ev, ck, delimiter, encoding, bom, manifest) -> None:
    files = {
        "events.csv": _csv_bytes(*ev, delimiter, encoding, bom),
        "checkins.csv": _csv_bytes(*ck, delimiter, encoding, bom),
    }
    if manifest is not None:
        files["manifest.json"] = manifest.encode()
    exp = _load(files)
    if exp is not None:
        # every data row of both files is accounted for (duplicates and ragged rows too)
        rows_in = exp.summary().set_index("table")["rows_in"]
        assert rows_in["events"] == len(ev[1]) and rows_in["checkins"] == len(ck[1])


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | NASTY_TEXT,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(NASTY_TEXT, c, max_size=3),
    max_leaves=8,
)


@settings(parent=settings.get_profile(PROFILE))
@given(
    records=st.lists(
        st.dictionaries(
            st.sampled_from([*EVENT_COLUMNS, "junk"]),
            st.one_of(JSON_VALUES, *[GOOD[k] for k in ("ts", "code", "actor")]),
            max_size=9,
        ),
        max_size=8,
    ),
    as_lines=st.booleans(),
)
def test_random_json_records(records, as_lines) -> None:
    if as_lines:
        files = {"events.jsonl": "\n".join(json.dumps(r) for r in records).encode()}
    else:
        files = {"events.json": json.dumps(records).encode()}
    exp = _load(files)
    if exp is not None:
        assert exp.summary().set_index("table")["rows_in"]["events"] == len(records)


@settings(parent=settings.get_profile(PROFILE))
@given(doc=JSON_VALUES)
def test_random_single_json_export(doc) -> None:
    root = Path(tempfile.mkdtemp(prefix="fuzz"))
    try:
        path = root / "export.json"
        path.write_text(json.dumps(doc))
        try:
            _check(load_export(path))
        except ExportError:
            pass
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_fuzz_helpers_build_real_tables() -> None:
    """The fuzz strategies do produce loadable rows (the property tests are not vacuous)."""
    header = EVENT_COLUMNS[:4]
    rows = [["c1", "2026-03-02T08:00:00+01:00", "a", "bid"], ["c1", "x", "b", "toward"]]
    exp = _load({"events.csv": _csv_bytes(header, rows, ";", "utf-16", True)})
    assert exp is not None and len(exp.events) == 1
    assert exp.quarantine["reason"].tolist() == ["bad_timestamp"]
    assert isinstance(exp.events, pd.DataFrame)
