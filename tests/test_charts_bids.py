"""Tests for patterns.charts.bids: assertions on ``chart.to_dict()``."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from patterns.bids import turning_rates
from patterns.charts import (
    chart_episode_timeline,
    chart_pursuer_share,
    chart_transitions,
    chart_turning_rates,
)
from patterns.charts._common import ENDING_COLORS, PARTNER_COLORS
from patterns.cycles import pursue_withdraw_episodes, pursuer_share
from patterns.sequences import code_stream, lag_table
from patterns.simulate import simulate_export


@pytest.fixture(scope="module")
def sim():
    return simulate_export(couples=4, days=60, seed=3)


def _datasets(spec: dict) -> list[list[dict]]:
    return list(spec.get("datasets", {}).values())


def test_turning_rates_chart_has_reference_lines_and_no_ids(sim):
    rates = turning_rates(sim.events)
    spec = chart_turning_rates(rates, couple_id="c002").to_dict()
    text = json.dumps(spec)
    assert "c002-a" not in text and "c002-b" not in text  # labels only
    refs = [row["share"] for data in _datasets(spec) for row in data if "label" in row]
    assert sorted(refs) == [0.33, 0.86]
    assert "Gottman" in text and "popular-press" in text
    line = spec["layer"][1]
    assert line["encoding"]["y"]["field"] == "share_toward"
    assert line["encoding"]["color"]["scale"]["range"] == [
        PARTNER_COLORS["Partner A"],
        PARTNER_COLORS["Partner B"],
    ]
    rows = [r for data in _datasets(spec) for r in data if "share_toward" in r]
    weekly = rates[(rates["couple_id"] == "c002") & (rates["bids"] > 0)]
    assert len(rows) == len(weekly)


def test_transition_chart_marks_significant_cells():
    tab = lag_table(list("ab" * 15))
    spec = chart_transitions(tab, alpha=0.05).to_dict()
    rows = _datasets(spec)[0]
    assert {r["mark"] for r in rows} == {"*"}
    assert spec["layer"][0]["encoding"]["color"]["field"] == "adjusted_residual"
    noisy = lag_table(list("aabbabba"))
    assert {r["mark"] for r in _datasets(chart_transitions(noisy).to_dict())[0]} == {""}


def test_episode_timeline_colours_by_ending(sim):
    eps = pursue_withdraw_episodes(sim.events)
    spec = chart_episode_timeline(eps, couple_id="c002").to_dict()
    scale = spec["encoding"]["color"]["scale"]
    assert scale["domain"] == list(ENDING_COLORS)
    assert scale["range"] == list(ENDING_COLORS.values())
    rows = _datasets(spec)[0]
    assert len(rows) == int((eps["couple_id"] == "c002").sum())
    assert {r["pursuer"] for r in rows} <= {"Partner A", "Partner B"}


def test_pursuer_share_chart(sim):
    eps = pursue_withdraw_episodes(sim.events)
    spec = chart_pursuer_share(pursuer_share(eps, period="M"), couple_id="c002").to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["area", "line", "rule"]
    assert all(0 <= r["share"] <= 1 for r in _datasets(spec)[0] if "share" in r)


def test_chart_errors(sim):
    rates = turning_rates(sim.events)
    with pytest.raises(ValueError, match="chart_turning_rates: couple_id must be one of"):
        chart_turning_rates(rates)
    with pytest.raises(ValueError, match="couple_id must be one of"):
        chart_turning_rates(rates, couple_id="nobody")
    with pytest.raises(ValueError, match="chart_transitions: alpha must be a number"):
        chart_transitions(lag_table(list("abab")), alpha=5)
    with pytest.raises(ValueError, match="is missing columns"):
        chart_episode_timeline(pd.DataFrame({"start": []}))
    big = code_stream(sim.events)
    with pytest.raises(ValueError, match="charts take aggregated results"):
        chart_transitions(pd.concat([lag_table(big)] * 20, ignore_index=True))
