"""Tests for patterns.charts.topics and patterns.charts.regulation: specs built from
analysis results, aggregated data only, partner labels (never ids), errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from patterns import charts
from patterns.regulation import signal_frequency
from patterns.topics import conflict_log, topic_recurrence, topic_weeks

simulate = pytest.importorskip("patterns.simulate")


@pytest.fixture(scope="module")
def sim():
    return simulate.simulate_export(
        couples=3, days=90, seed=2, archetypes=["conflict_heavy", "secure", "improving"]
    )


@pytest.fixture(scope="module")
def log(sim):
    return conflict_log(sim.events, sim.checkins)


def _data(spec):
    return [row for rows in spec["datasets"].values() for row in rows]


def test_topic_weeks_heat_map(sim, log):
    weeks = topic_weeks(log)
    chart = charts.chart_topic_weeks(weeks, couple_id="c001")
    spec = chart.to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["rect", "point"]
    assert spec["layer"][1]["transform"] == [{"filter": "(datum.resurfaced > 0)"}]
    rows = _data(spec)
    c1 = weeks[weeks["couple_id"] == "c001"]
    assert len(rows) == len(c1)
    assert sum(r["resurfaced"] for r in rows) == c1["resurfaced"].sum() > 0
    text = json.dumps(spec)
    assert not any(n in text for n in sim.events["note"].dropna().unique())
    assert "c001" not in text  # the couple id is not carried into the chart
    with pytest.raises(ValueError, match="chart_topic_weeks: couple_id must be one of"):
        charts.chart_topic_weeks(weeks)
    with pytest.raises(ValueError, match="couple_id must be one of"):
        charts.chart_topic_weeks(weeks, couple_id="nope")


def test_escalation_repair_bars(log):
    rec = topic_recurrence(log)
    spec = charts.chart_escalation_repair(rec, couple_id="c001").to_dict()
    assert spec["mark"]["type"] == "bar"
    assert (
        spec["encoding"]["y"]["sort"]
        == rec.loc[rec["couple_id"] == "c001"]
        .sort_values("rank")["topic"]
        .str.replace("_", " ")  # codes shown as words
        .tolist()
    )
    rows = _data(spec)
    assert {r["measure"] for r in rows} == {"escalation", "repair"}
    c1 = rec[rec["couple_id"] == "c001"]
    c1 = c1.set_index(c1["topic"].astype(str).str.replace("_", " "))
    for r in rows:
        assert r["share"] == pytest.approx(c1.loc[r["topic"], f"{r['measure']}_share"])


def test_signal_calendar_uses_labels(sim):
    freq = signal_frequency(sim.checkins, period="D")
    spec = charts.chart_signal_calendar(freq, couple_id="c002", kind="body").to_dict()
    assert spec["spec"]["mark"]["type"] == "rect"
    assert spec["facet"]["row"]["field"] == "partner"
    rows = _data(spec)
    assert {r["partner"] for r in rows} == {"Partner A", "Partner B"}
    assert {r["kind"] for r in rows} == {"body"}
    assert "c002-a" not in json.dumps(spec)
    c2 = freq[(freq["couple_id"] == "c002") & (freq["kind"] == "body")]
    assert len(rows) == len(c2)
    assert sum(r["state"] == "present" for r in rows) == int((c2["days_present"] > 0).sum())
    with pytest.raises(ValueError, match="chart_signal_calendar: kind must be one of"):
        charts.chart_signal_calendar(freq, couple_id="c002", kind="mind")


def test_charts_refuse_unaggregated_or_text():
    big = pd.DataFrame(
        {
            "couple_id": "c1",
            "topic": "money",
            "conflicts": 1,
            "resurfaced": 0,
            "escalated": 0,
            "week_start": pd.date_range("2000-01-03", periods=5001, freq="W-MON"),
        }
    )
    with pytest.raises(ValueError, match="charts take aggregated results"):
        charts.chart_topic_weeks(big)


def test_codes_shown_as_words_and_counts_as_whole_numbers():
    weeks = pd.DataFrame(
        {
            "couple_id": "c1",
            "topic": ["time_together", "money"],
            "week_start": pd.to_datetime(["2026-01-05", "2026-01-12"]),
            "conflicts": [1, 2],
            "resurfaced": [0, 1],
            "escalated": [0, 0],
        }
    )
    spec = charts.chart_topic_weeks(weeks).to_dict()
    rows = _data(spec)
    assert {r["topic"] for r in rows} == {"time together", "money"}
    legend = spec["layer"][0]["encoding"]["color"]["legend"]
    assert legend["format"] == "d" and legend["tickMinStep"] == 1
    assert spec["layer"][0]["encoding"]["color"]["scale"]["domainMin"] == 0
