"""Tests for patterns.charts.trends: specs (to_dict), partner labels instead of ids, no
free text or ids in chart data, errors."""

from __future__ import annotations

import json

import pytest

from patterns.charts import chart_before_after, chart_connection, chart_indicators
from patterns.indicators import indicators
from patterns.trends import (
    change_points,
    daily_connection,
    intervention_effect,
    rolling_connection,
)


@pytest.fixture(scope="module")
def sim():
    from patterns.simulate import simulate_export

    return simulate_export(couples=2, days=90, seed=4, archetypes=["improving", "conflict_heavy"])


def _datasets(spec: dict) -> str:
    return json.dumps(spec.get("datasets", {}), default=str)


def test_chart_connection_layers_labels_and_no_ids(sim):
    daily = daily_connection(sim.checkins)
    truth = sim.truth["couples"].set_index("couple_id")
    spec = chart_connection(
        rolling_connection(daily),
        couple_id="c002",
        change_points=change_points(daily),
        intervention_date=None,
    ).to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["area", "line", "point", "rule"]
    data = _datasets(spec)
    assert "Partner A" in data and "Couple" in data
    assert "c002-a" not in data and "c001" not in data
    iv = chart_connection(
        rolling_connection(daily),
        couple_id="c001",
        intervention_date=truth.loc["c001", "intervention_date"],
    ).to_dict()
    assert iv["layer"][-1]["mark"]["color"] == "black"


def test_chart_before_after_and_indicators(sim):
    daily = daily_connection(sim.checkins)
    truth = sim.truth["couples"].set_index("couple_id")
    eff = intervention_effect(
        daily, intervention_date={"c001": truth.loc["c001", "intervention_date"]}, n_boot=200
    )
    spec = chart_before_after(eff).to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["rule", "point"]
    assert "c001-a" not in _datasets(spec)
    ind = indicators(sim, couple_id="c002")
    panel = chart_indicators(ind).to_dict()
    data = _datasets(panel)
    assert "discuss" in data and "c002" not in data
    assert panel["layer"][0]["encoding"]["color"]["scale"]["domain"] == [
        "none",
        "watch",
        "discuss",
        "no_data",
    ]


def test_chart_errors(sim):
    daily = daily_connection(sim.checkins)
    with pytest.raises(ValueError, match=r"couple_id must be one of .*\(the data has several\)"):
        chart_connection(rolling_connection(daily))
    with pytest.raises(ValueError, match="couple_id must be one of"):
        chart_indicators(indicators(sim), couple_id="zzz")
    with pytest.raises(ValueError, match="missing columns"):
        chart_before_after(daily)
