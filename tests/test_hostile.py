"""The hostile-input corpus (tests/hostile/build.py): every case meets its expected
outcome — loads with the listed quarantine reasons (and the row accounting holds), fails
with a clear ExportError, gets neutralised in the kit's outputs, or is refused by consent."""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import pandas as pd
import pytest

from hostile.build import CASES, FORMULAS, SCRIPT, Case, outcome_table
from patterns.consent import check_consent
from patterns.errors import ExportError
from patterns.io import MAX_FIELD_BYTES, load_export
from patterns.privacy import (
    FORMULA_PREFIXES,
    escape_html,
    json_for_html,
    redact_frame,
    safe_csv,
    safe_join,
)

ON = "2026-06-01"
BY_NAME = {c.name: c for c in CASES}


def _accounting(exp) -> None:
    s = exp.summary()
    assert (s["rows_in"] == s["rows_loaded"] + s["rows_quarantined"]).all(), s
    assert s.set_index("table")["rows_loaded"].to_dict() == {
        "events": len(exp.events),
        "checkins": len(exp.checkins),
    }
    assert (exp.quarantine.groupby(["table", "source", "row"]).ngroups) == int(
        s["rows_quarantined"].sum()
    )


def _reasons(exp) -> dict[str, int]:
    q = exp.quarantine
    return {} if not len(q) else {str(k): int(v) for k, v in q.groupby("reason").size().items()}


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.slow else []) for c in CASES],
)
def test_case_outcome(case: Case, tmp_path: Path) -> None:
    path = case.build(tmp_path / case.name)
    if case.kind == "error":
        t0 = time.perf_counter()
        with pytest.raises(ExportError, match=case.match):
            load_export(path)
        assert time.perf_counter() - t0 < 10  # refused early, not after expanding
        return
    exp = load_export(path)
    _accounting(exp)
    if case.kind == "load":
        assert _reasons(exp) == case.quarantine
    if case.kind == "consent":
        d = check_consent(exp.manifest, "c001", on=ON)
        assert [(p.partner, p.rule) for p in d.problems] == list(case.rules)
        assert d.ok is (not case.rules)
    # the quarantine never copies a row's free text
    blob = exp.quarantine.astype(str).to_csv()
    assert "argued about rent" not in blob and SCRIPT not in blob


def test_outcome_table_in_readme() -> None:
    readme = Path(__file__).parent / "hostile" / "README.md"
    assert outcome_table() in readme.read_text(encoding="utf-8")


# --- per-case details ------------------------------------------------------------------------


def _load(name: str, tmp_path: Path):
    return load_export(BY_NAME[name].build(tmp_path / name))


def test_encodings_decode_text(tmp_path: Path) -> None:
    for name in ("bom", "utf16"):
        exp = _load(name, tmp_path)
        assert list(exp.events.columns[:4]) == ["couple_id", "ts", "actor", "code"]
        assert exp.events["note"].dropna().tolist() == ["argued about rent"]
    assert _load("cp1252", tmp_path).events["note"].dropna().tolist() == ["Zoë’s café bill – 5€"]
    # invalid UTF-8 falls back to a single-byte decoding: garbled but kept, nothing lost
    note = _load("invalid_bytes", tmp_path).events["note"].dropna().tolist()
    assert len(note) == 1 and note[0].startswith("argu") and note[0].endswith("ed about rent")


def test_nul_and_bidi_kept_as_text_and_neutralised_in_html(tmp_path: Path) -> None:
    nul = _load("nul", tmp_path).events["note"].dropna().tolist()
    assert nul == ["argued\x00about\x00rent"]
    zw = _load("zero_width_bidi", tmp_path)
    assert set(zw.events["couple_id"]) == {"c001"}  # the look-alike id did not merge in
    assert set(zw.events["actor"]) == {"c001-a", "c001-b"}
    q = zw.quarantine
    assert q.loc[q["reason"] == "unknown_couple", "column"].tolist() == ["couple_id"]
    note = zw.events["note"].dropna().iloc[0]
    assert "\u202e" in note  # kept as data ...
    html = escape_html(note)
    assert "<" not in html and "\u202e" not in html  # ... but not shown reordered


def test_duplicate_header_renamed_not_merged(tmp_path: Path) -> None:
    exp = _load("duplicate_headers", tmp_path)
    assert exp.events["note"].dropna().tolist() == ["argued about rent"]  # the first column
    assert exp.dropped_columns["events"] == ["note__2"]


def test_strings_stay_strings(tmp_path: Path) -> None:
    exp = _load("na_007", tmp_path)
    assert set(exp.events["couple_id"]) == {"007"}
    last = exp.events.sort_values("ts").iloc[-1]
    assert (last["topic"], last["note"]) == ("NA", "None")


def test_dst_gap_and_overlap(tmp_path: Path) -> None:
    exp = _load("dst", tmp_path)
    ts = exp.events.sort_values("ts")["ts"].dt.strftime("%Y-%m-%dT%H:%M").tolist()
    # gap 02:30 local → 03:30 CEST = 01:30Z; overlap 02:30 → first (CEST) = 00:30Z
    assert ts == ["2026-03-29T01:30", "2026-03-29T01:40", "2026-10-25T00:30", "2026-10-25T00:45"]
    reasons = exp.notices["reason"].value_counts().to_dict()
    assert reasons == {"dst_nonexistent": 1, "dst_ambiguous": 2}


def test_excel_serials(tmp_path: Path) -> None:
    exp = _load("excel_serial", tmp_path)
    ts = exp.events.sort_values("ts")["ts"].dt.strftime("%Y-%m-%dT%H:%M").tolist()
    # 46083.5 = 2026-03-02 12:00 local Amsterdam (CET, UTC+1) → 11:00Z
    assert ts == ["2026-03-02T11:00", "2026-03-02T11:05", "2026-03-02T17:00"]


def test_formula_injection_neutralised_in_csv_outputs(tmp_path: Path) -> None:
    from patterns.topics import conflict_log, topic_recurrence

    exp = _load("formula_injection", tmp_path)
    topics = set(exp.events["topic"].dropna())
    # loaded verbatim (the loader only trims surrounding whitespace from labels)
    assert {f.strip() for f in FORMULAS} <= topics
    log = conflict_log(exp.events)
    rec = topic_recurrence(log)
    for name, table in (("log", log), ("recurrence", rec), ("events", exp.events)):
        path = safe_csv(table, tmp_path / f"{name}.csv")
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        cells = [c for row in rows for c in row]
        bad = [
            c
            for c in cells
            if c.startswith(FORMULA_PREFIXES) and not re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", c)
        ]
        assert not bad, (name, bad[:3])
        if name == "events":
            assert any(c.startswith("'=HYPERLINK") for c in cells)
            assert "'+cmd|' /C calc'!A0" in cells and "'@SUM(1+9)" in cells


def test_script_injection_escaped_in_html_and_chart_json(tmp_path: Path) -> None:
    from patterns.topics import conflict_log, topic_recurrence

    exp = _load("script_injection", tmp_path)
    # the topics analysis maps free labels onto its lexicon ("other"), so the payload
    # cannot reach a topic chart through it ...
    assert SCRIPT not in set(topic_recurrence(conflict_log(exp.events))["topic"])
    # ... but a chart of raw labels (aggregated counts) would carry it: its JSON is safe
    counts = exp.events.groupby("topic").size().reset_index(name="n")
    assert SCRIPT in set(counts["topic"])
    import altair as alt

    chart = (
        alt.Chart(counts)
        .mark_bar()
        .encode(x="n:Q", y="topic:N", tooltip=["topic:N"])
        .properties(title=SCRIPT)
    )
    spec = json_for_html(chart.to_dict())
    assert "</script" not in spec.lower() and "<" not in spec
    assert SCRIPT in json.dumps(json.loads(spec))  # same data after decoding
    page = f"<p>{escape_html(SCRIPT)}</p>"
    assert "<script" not in page.lower()


def test_path_traversal_ids_stay_inside(tmp_path: Path) -> None:
    exp = _load("path_traversal_ids", tmp_path)
    cid = exp.events["couple_id"].iloc[0]
    assert cid == "../../etc"
    out = tmp_path / "reports"
    out.mkdir()
    target = safe_join(out, cid, "report.html")
    target.parent.mkdir()
    target.write_text("x")
    assert out.resolve() in target.resolve().parents
    assert check_consent(exp.manifest, cid, on=ON).ok


def test_third_partner_keeps_the_two_main_ids(tmp_path: Path) -> None:
    exp = _load("third_partner", tmp_path)
    assert set(exp.events["actor"]) == {"c001-a", "c001-b"}


def test_consent_expired_retention_warns_then_refuses_under_strict(tmp_path: Path) -> None:
    exp = _load("consent_expired", tmp_path)
    d = check_consent(exp.manifest, "c001", on=ON)
    assert len(d.warnings) == 1 and "retention" in d.warnings[0]
    s = check_consent(exp.manifest, "c001", on=ON, strict=True)
    assert [(p.partner, p.rule) for p in s.problems] == [("c001-a", "period"), (None, "retention")]
    assert check_consent(exp.manifest, "c001", on="2026-01-15").ok


def test_categories_not_shared_means_no_free_text(tmp_path: Path) -> None:
    exp = _load("consent_categories", tmp_path)
    d = check_consent(exp.manifest, "c001", on=ON)
    assert d.ok and not d.allows("free_text")
    shown = redact_frame(exp.events, allow_text=d.allows("free_text"))
    assert "note" not in shown.columns
    assert not check_consent(exp.manifest, "c001", on=ON, require=["free_text"]).ok


def test_consent_withdrawn_stops_joint_analysis(tmp_path: Path) -> None:
    exp = _load("consent_withdrawn", tmp_path)
    assert check_consent(exp.manifest, "c001", on="2026-03-31").ok  # before withdrawal
    d = check_consent(exp.manifest, "c001", on=ON)
    assert not d.ok and "withdrew consent on 2026-04-01" in d.explain()


def test_big_field_quarantines_only_its_row(tmp_path: Path) -> None:
    exp = _load("big_field", tmp_path)
    q = exp.quarantine
    assert q[["row", "column", "reason"]].values.tolist() == [[13, "note", "field_too_large"]]
    assert q["detail"].tolist() == [
        f"note is {10 * 1024 * 1024:,} bytes, over the {MAX_FIELD_BYTES:,}-byte field limit"
    ]
    assert len(exp.events) == 12  # the other rows load
    assert exp.events["note"].isna().all()  # the huge cell is nowhere in the tables
    assert exp.quarantine.memory_usage(deep=True).sum() < 100_000


def test_big_field_under_the_limit_loads(tmp_path: Path) -> None:
    from hostile.build import big_field

    exp = load_export(big_field(tmp_path / "ok", size=MAX_FIELD_BYTES))
    assert exp.quarantine.empty
    assert exp.events["note"].str.len().max() == MAX_FIELD_BYTES


def test_script_injection_export_builder(tmp_path: Path) -> None:
    from hostile.build import SCRIPT_MARKER, script_injection_export

    path = script_injection_export(tmp_path)
    exp = load_export(path)
    _accounting(exp)
    assert exp.summary()["rows_quarantined"].sum() == 0
    assert (exp.events["topic"] == SCRIPT_MARKER).sum() > 0
    assert (exp.events["note"].str.startswith(SCRIPT_MARKER)).sum() > 0
    assert pd.Series(exp.checkins["answer"]).eq(SCRIPT_MARKER).sum() > 0
