"""Tests for patterns.indicators and patterns.thresholds: each sign fires on a simulated
couple that plants it and stays quiet on one that does not; hand counts; no_data paths."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from patterns import schema
from patterns._eventcodes import encode
from patterns.indicators import INDICATORS, indicators
from patterns.testing import check_contract
from patterns.thresholds import load_thresholds


@pytest.fixture(scope="module")
def sim():
    from patterns.simulate import simulate_export

    return simulate_export(couples=4, days=120, seed=1)


@pytest.fixture(scope="module")
def table(sim):
    out = indicators(sim)
    arch = sim.truth["couples"].set_index("couple_id")["archetype"]
    return out.assign(archetype=out["couple_id"].map(arch))


def _level(table, archetype, sign):
    return table.query("archetype == @archetype and indicator == @sign")["level"].item()


# which archetype plants each sign (fires) and which does not (quiet)
_FIRES = {
    "escalation": "conflict_heavy",
    "pursue_withdraw": "pursue_withdraw",
    "resurfacing": "conflict_heavy",
    "lonely_together": "pursue_withdraw",
    "intimacy": "conflict_heavy",
    "turning_toward": "conflict_heavy",
    "conflict_ratio": "pursue_withdraw",
}


@pytest.mark.parametrize("sign", INDICATORS)
def test_each_sign_fires_where_planted_and_not_on_secure(table, sign):
    assert _level(table, _FIRES[sign], sign) in {"watch", "discuss"}
    assert _level(table, "secure", sign) == "none"


def test_contract_shape_and_plain_language(sim, table):
    out = check_contract(indicators, sim, couple_id="c002")
    assert out["indicator"].tolist() == list(INDICATORS)
    assert len(table) == 4 * len(INDICATORS)
    assert set(table["level"]) <= {"none", "watch", "discuss", "no_data"}
    ids = set(sim.checkins["partner"].astype(str)) | set(sim.checkins["couple_id"].astype(str))
    for s in table["sentence"]:
        assert not any(i in s for i in ids), s
        assert not re.search(r"diagnos|disorder", s, re.I)
    assert "Partner A" in " ".join(table["sentence"])
    ok = table["level"] != "no_data"
    assert (table.loc[ok, "ci_low"] <= table.loc[ok, "value"]).all()
    assert (table.loc[ok, "value"] <= table.loc[ok, "ci_high"]).all()


def test_turning_toward_equals_hand_count(sim, table):
    ev = sim.events
    bids = ev[ev["code"] == "bid"].groupby("couple_id").size()
    toward = ev[(ev["code"] == "toward") & ev["bid_id"].isin(ev.loc[ev["code"] == "bid", "bid_id"])]
    toward = toward.groupby("couple_id").size()
    got = table[table["indicator"] == "turning_toward"].set_index("couple_id")
    np.testing.assert_allclose(got["value"], (toward / bids).loc[got.index], atol=0.01)
    np.testing.assert_allclose(got["n"], bids.loc[got.index])


def test_conflict_ratio_hand_built():
    t0 = pd.Timestamp("2026-02-01T18:00Z")
    rows = [("c1", t0, "a", "conflict")]
    rows += [("c1", t0 + pd.Timedelta(minutes=5 + i), "a", "criticize") for i in range(4)]
    rows += [("c1", t0 + pd.Timedelta(minutes=20 + i), "b", "repair") for i in range(8)]
    rows += [("c1", t0 + pd.Timedelta(hours=5), "b", "contempt")]  # outside the 2 h window
    ev = schema.coerce_dtypes(
        pd.DataFrame(rows, columns=["couple_id", "ts", "actor", "code"]), "events"
    )
    exp = type("E", (), {"events": ev, "checkins": schema.empty_frame("checkins")})()
    row = indicators(exp).set_index("indicator").loc["conflict_ratio"]
    assert row["value"] == 2.0 and row["n"] == 12
    se = np.sqrt(1 / 8 + 1 / 4)
    assert row["ci_low"] == pytest.approx(2 * np.exp(-1.959964 * se), rel=1e-5)
    assert row["level"] == "watch"  # 2:1 is between the 1:1 and 5:1 lines
    # checkins absent: the check-in signs say so instead of crashing
    missing = indicators(exp).set_index("indicator")
    for sign in ("lonely_together", "intimacy"):
        assert missing.loc[sign, "level"] == "no_data"
        assert "Not enough data" in missing.loc[sign, "sentence"]


def test_no_events_gives_no_data_rows(sim):
    exp = type(
        "E",
        (),
        {
            "events": schema.empty_frame("events"),
            "checkins": sim.checkins[sim.checkins["couple_id"] == "c001"],
        },
    )()
    out = indicators(exp).set_index("indicator")
    for sign in ("pursue_withdraw", "turning_toward", "conflict_ratio"):
        assert out.loc[sign, "level"] == "no_data", sign
        assert out.loc[sign, "sentence"].startswith("Not enough data for this sign:")
    assert out.loc["lonely_together", "level"] != "no_data"


def test_thresholds_override_changes_level(sim):
    base = indicators(sim, couple_id="c001").set_index("indicator")
    assert base.loc["turning_toward", "level"] == "none"
    strict = indicators(
        sim, couple_id="c001", thresholds={"turning_toward": {"watch": 0.95, "discuss": 0.9}}
    )
    assert strict.set_index("indicator").loc["turning_toward", "level"] == "discuss"
    assert strict.set_index("indicator").loc["turning_toward", "threshold"] == 0.95


def test_errors(sim):
    with pytest.raises(ValueError, match="couple_id must be one of"):
        indicators(sim, couple_id="nobody")
    with pytest.raises(ValueError, match="export must be an Export"):
        indicators(object())
    with pytest.raises(ValueError, match="overrides must be keyed by one of"):
        load_thresholds({"flooding": {"watch": 1}})
    with pytest.raises(ValueError, match="'discuss' line beyond the 'watch' line"):
        load_thresholds({"turning_toward": {"watch": 0.5, "discuss": 0.7}})
    with pytest.raises(ValueError, match="direction must be"):
        load_thresholds({"escalation": {"direction": "up"}})
    with pytest.raises(ValueError, match=r"overrides\['escalation'\] must be keyed by"):
        load_thresholds({"escalation": {"colour": "red"}})
    # min_n is a count (errors.check_int): a float, bool or negative count is refused
    for bad in (10.0, True, -1, "10"):
        rule = r"load_thresholds: thresholds\['escalation'\]\.min_n must be a non-negative integer"
        with pytest.raises(ValueError, match=rule):
            load_thresholds({"escalation": {"min_n": bad}})
    # the checked value is kept: a plain int, not the caller's NumPy integer
    min_n = load_thresholds({"escalation": {"min_n": np.int64(3)}})["escalation"]["min_n"]
    assert min_n == 3 and type(min_n) is int
    with pytest.raises(ValueError, match=r"thresholds\['escalation'\]\.watch must be a number"):
        load_thresholds({"escalation": {"watch": "high"}})
    # the conflict window: a negative, NaN or text value is refused (not an empty count)
    rule = r"indicators: thresholds\['conflict_ratio'\]\.params\.window_hours must be a number"
    for bad in (-1.0, float("nan"), "2h", True):
        with pytest.raises(ValueError, match=rule):
            indicators(sim, thresholds={"conflict_ratio": {"params": {"window_hours": bad}}})
    zero = {"conflict_ratio": {"params": {"window_hours": 0}}}
    assert len(indicators(sim, couple_id="c001", thresholds=zero)) == len(INDICATORS)


def test_thresholds_yaml_documents_every_sign():
    th = load_thresholds()
    assert set(th) == set(INDICATORS)
    for name, spec in th.items():
        assert spec["source"].strip() and spec["caveat"].strip(), name
    assert "Gottman" in th["turning_toward"]["source"]
    assert th["turning_toward"]["evidence"] == "reported_popular"
    assert th["conflict_ratio"]["evidence"] == "reported_peer"


def test_thresholds_from_a_yaml_copy_and_validation_errors(tmp_path, sim):
    import yaml

    raw = yaml.safe_load(
        (__import__("importlib").resources.files("patterns") / "data/thresholds.yaml").read_text(
            "utf-8"
        )
    )
    raw["indicators"]["turning_toward"]["watch"] = 0.99
    raw["indicators"]["turning_toward"]["discuss"] = 0.95
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    out = indicators(sim, couple_id="c001", thresholds=str(path)).set_index("indicator")
    assert out.loc["turning_toward", "level"] == "discuss"
    bad = dict(raw)
    del bad["indicators"]["intimacy"]["caveat"]
    path.write_text(yaml.safe_dump(bad), encoding="utf-8")
    with pytest.raises(ValueError, match=r"thresholds\['intimacy'\] must be to have keys"):
        load_thresholds(str(path))
    path.write_text("just: text\n", encoding="utf-8")
    with pytest.raises(ValueError, match="a YAML file with an 'indicators' mapping"):
        load_thresholds(path)
    with pytest.raises(ValueError, match="evidence must be one of"):
        load_thresholds({"escalation": {"evidence": "folk wisdom"}})
    with pytest.raises(ValueError, match="watch must be a number"):
        load_thresholds({"escalation": {"watch": "high"}})
    with pytest.raises(ValueError, match="overrides must be a mapping"):
        load_thresholds(42)
    with pytest.raises(ValueError, match=r"overrides\['escalation'\] must be a mapping"):
        load_thresholds({"escalation": 3})


def test_poisson_rates_for_all_couples_equal_the_scalar_rate():
    """The one-call-for-all-couples Garwood intervals equal the per-couple function."""
    import importlib

    ind = importlib.import_module("patterns.indicators")
    rng = np.random.default_rng(2)
    span = {f"c{i}": float(w) for i, w in enumerate(rng.random(300) * 30)}
    span.update({"zero": 0.0, "neg": -1.0, "tiny": 1e-9})
    counts = pd.Series({c: int(rng.integers(0, 40)) for c in list(span)[::2]})
    for scale in (1.0, 4.0):
        got = ind._poisson_rates(span, counts, scale=scale)
        for c, weeks in span.items():
            want = ind._poisson_rate(float(counts.get(c, 0)), weeks / scale)
            np.testing.assert_array_equal(np.array(got[c]), np.array(want))


def test_input_attrs_not_mutated():
    from types import SimpleNamespace

    from patterns.simulate import simulate_export

    sim = simulate_export(couples=1, days=30, seed=1)
    ev, ci = sim.events.copy(), sim.checkins.copy()
    ev.attrs, ci.attrs = {}, {}
    export = SimpleNamespace(events=ev, checkins=ci, timezones={"c001": "Europe/Amsterdam"})
    out = indicators(export)
    assert len(out) and ev.attrs == {} and ci.attrs == {}


def test_observed_weeks_equal_a_groupby_of_diary_days(monkeypatch):
    # first to last diary day per couple over both tables, in weeks: against a string
    # groupby of the Timestamp route's days (timeutil._wall_clock_day); rows without a
    # couple or a time do not count; with none of those, diary_day's integer route is used
    import patterns.timeutil as tu
    from patterns.indicators import _observed_weeks

    rng = np.random.default_rng(3)
    zones = {"c1": "Europe/Amsterdam", "c2": "Australia/Sydney"}  # c3: UTC

    def table(n):
        ts = pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(
            rng.integers(0, 80 * 86400, n), unit="s"
        )
        cid = pd.array(rng.choice(["c1", "c2", "c3"], n), dtype="string")
        return pd.DataFrame({"couple_id": cid, "ts": ts.as_unit("ns")})

    def reference(ev, ci):
        both = pd.concat([ev, ci], ignore_index=True).dropna()
        day = tu._wall_clock_day(both["ts"], both["couple_id"], zones, 4)
        span = day.groupby(both["couple_id"].to_numpy()).agg(["min", "max"])
        return ((span["max"] - span["min"]).dt.days.add(1) / 7).to_dict()

    ev, ci = table(500), table(300)
    odd = ev.copy()
    odd.loc[[4, 9], "couple_id"] = pd.NA
    odd.loc[[11], "ts"] = pd.NaT
    assert _observed_weeks(odd, ci, zones) == reference(odd, ci)

    def refuse(*args, **kwargs):
        raise AssertionError("the integer route was not taken")

    want = reference(ev, ci)
    monkeypatch.setattr(tu, "local_time", refuse)
    got = _observed_weeks(ev, ci, zones)
    assert got == want and set(got) == {"c1", "c2", "c3"}
    assert _observed_weeks(ev.iloc[:0], ci.iloc[:0], zones) == {}


@pytest.mark.parametrize("seed", range(6))
def test_moves_after_markers_equals_merge_asof(seed):
    # the vectorised conflict-window match against the pandas formulation it replaced
    # (merge_asof by couple, backward, tolerance = the window), on shuffled or sorted
    # events with moves and markers at the very same time in either row order
    import importlib

    ind = importlib.import_module("patterns.indicators")
    rng = np.random.default_rng(seed)
    n = 500
    t0 = pd.Timestamp("2026-01-05", tz="UTC")
    ev = pd.DataFrame(
        {
            "couple_id": rng.choice(["c1", "c2", "c10"], n),
            "ts": t0 + pd.to_timedelta(rng.integers(0, 2 * 24 * 60, n) // 7 * 7, unit="min"),
            "code": rng.choice(["bid", "toward", "criticize", "conflict", "away"], n),
            "actor": rng.choice(["a", "b"], n),
        }
    )
    ev = ev.sort_values(["couple_id", "ts"]) if seed % 2 else ev
    pos = {"toward", "bid"} | ({"conflict"} if seed == 5 else set())  # a marker as a move
    neg = {"criticize"}
    window = pd.Timedelta("210min")  # (a multiple of the 7-minute grid: moves at its edge)
    enc = encode(ev)
    k_pos, k_neg = ind._moves_after_markers(enc, pos, neg, window)
    uniques = enc.couple_names
    e = ev.sort_values("ts", kind="stable")
    markers = e[e["code"] == "conflict"].rename(columns={"ts": "marker_ts"})
    moves = e[e["code"].isin(pos | neg)]
    m = pd.merge_asof(
        moves,
        markers[["couple_id", "marker_ts"]],
        left_on="ts",
        right_on="marker_ts",
        by="couple_id",
        direction="backward",
        tolerance=window,
    ).dropna(subset=["marker_ts"])
    want = m.assign(p=m["code"].isin(pos)).groupby("couple_id")["p"].agg(["sum", "size"])
    got = pd.DataFrame({"sum": k_pos, "size": k_pos + k_neg}, index=uniques)
    pd.testing.assert_frame_equal(got.loc[want.index], want, check_dtype=False, check_names=False)
    assert (got.drop(want.index)["size"] == 0).all() and want["size"].sum() > 0


def test_moves_after_markers_over_int64_spans():
    # times over 292 years apart: t - t[marker] and the sortedness check's np.diff wrapped
    # around int64. A move 560 years after a marker counted as within 3.5 h, and rows
    # listed 2250, 1690, 1960, 2249 passed as sorted, so two moves before the 2250 marker
    # counted after it. merge_asof (the earlier formulation) counts none of them.
    import importlib

    ind = importlib.import_module("patterns.indicators")
    window = pd.Timedelta("210min")
    far = pd.DataFrame(
        {
            "couple_id": ["c1", "c1", "c2", "c2"],
            "ts": pd.to_datetime(
                ["1690-01-01 00:00", "2250-01-01 00:00", "2026-01-05 10:00", "2026-01-05 10:30"],
                utc=True,
            ),
            "code": ["conflict", "toward", "conflict", "criticize"],
            "actor": "a",
        }
    )
    mixed = pd.DataFrame(
        {
            "couple_id": "c1",
            "ts": pd.to_datetime(
                ["2250-01-01 00:00", "1690-01-01 00:00", "1960-01-01 00:00", "2249-12-31 23:55"],
                utc=True,
            ),
            "code": ["conflict", "toward", "toward", "criticize"],
            "actor": "a",
        }
    )
    for ev, want_pos, want_neg in ((far, [0, 0], [0, 1]), (mixed, [0], [0])):
        pos, neg = {"toward"}, {"criticize"}
        k_pos, k_neg = ind._moves_after_markers(encode(ev), pos, neg, window)
        assert (k_pos.tolist(), k_neg.tolist()) == (want_pos, want_neg)
