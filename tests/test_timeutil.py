"""Tests for patterns.timeutil: the shared TimezoneMap and zone resolution."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pandas as pd
import pytest

from patterns.io import load_export
from patterns.simulate import simulate_export
from patterns.timeutil import TimezoneMap, diary_day, local_time, resolve_timezones

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
ZONES = {"c1": "Europe/Amsterdam", "c2": "America/New_York", "c3": "Asia/Tokyo"}


def test_map_behaves_like_the_dict():
    tz = TimezoneMap(ZONES)
    assert dict(tz) == ZONES
    assert tz == ZONES and ZONES == tz
    assert tz != {"c1": "UTC"}
    assert len(tz) == 3 and list(tz) == list(ZONES) and tz["c2"] == "America/New_York"
    assert "c4" not in tz and tz.get("c4") is None
    assert hash(tz) == hash(TimezoneMap(dict(ZONES)))
    assert repr(tz).startswith("TimezoneMap({")


def test_map_is_immutable_and_independent_of_its_source():
    src = dict(ZONES)
    tz = TimezoneMap(src)
    src["c1"] = "UTC"  # changing the source after the fact does not leak in
    assert tz["c1"] == "Europe/Amsterdam"
    with pytest.raises(TypeError, match="does not support item assignment"):
        tz["c1"] = "UTC"  # type: ignore[index]
    for change in (  # every dict method that would change it (it is a dict for JSON)
        lambda: tz.update(c1="UTC"),
        lambda: tz.pop("c1"),
        lambda: tz.popitem(),
        lambda: tz.setdefault("c9", "UTC"),
        lambda: tz.clear(),
        lambda: tz.__delitem__("c1"),
        lambda: tz.__ior__({"c9": "UTC"}),
    ):
        with pytest.raises(TypeError, match="TimezoneMap is immutable"):
            change()
    assert dict(tz) == ZONES


def test_copies_share_the_object_and_pickle_round_trips():
    tz = TimezoneMap(ZONES)
    assert copy.copy(tz) is tz
    assert copy.deepcopy(tz) is tz
    assert copy.deepcopy({"timezones": tz})["timezones"] is tz
    back = pickle.loads(pickle.dumps(tz))
    assert isinstance(back, TimezoneMap) and back == tz


def test_derived_frames_share_the_map():
    tz = TimezoneMap(ZONES)
    df = pd.DataFrame({"couple_id": ["c1", "c2", "c3"], "x": [1.0, 2.0, 3.0]})
    df.attrs["timezones"] = tz
    derived = [
        df[df["x"] > 1],
        df.assign(y=1),
        df.copy(),
        df.copy(deep=True),
        df.groupby("couple_id", as_index=False)["x"].sum(),
        pd.concat([df, df], ignore_index=True),
        df.merge(df, on="couple_id"),
    ]
    for d in derived:
        assert d.attrs["timezones"] is tz
    # a plain dict, by contrast, is deep-copied into each derived frame (pandas behaviour)
    plain = df.copy()
    plain.attrs["timezones"] = dict(ZONES)
    assert plain.assign(y=1).attrs["timezones"] is not plain.attrs["timezones"]


def test_resolve_timezones():
    df = pd.DataFrame({"couple_id": ["c1"]})
    assert resolve_timezones(df) == "UTC"
    assert resolve_timezones(df, "Asia/Tokyo") == "Asia/Tokyo"
    got = resolve_timezones(df, dict(ZONES))
    assert isinstance(got, TimezoneMap) and got == ZONES
    tz = TimezoneMap(ZONES)
    assert resolve_timezones(df, tz) is tz
    df.attrs["timezones"] = tz
    assert resolve_timezones(df) is tz
    df.attrs["timezones"] = dict(ZONES)  # a dict set by hand still works
    assert resolve_timezones(df) == ZONES
    df.attrs["timezones"] = {}
    assert resolve_timezones(df) == "UTC"


def test_local_days_identical_with_dict_or_map():
    ts = pd.Series(
        pd.to_datetime(
            [
                "2026-03-29T00:30:00Z",
                "2026-03-29T02:30:00Z",
                "2026-11-01T05:30:00Z",
                "2026-06-02T19:10:00Z",
            ]
        )
    )
    cid = pd.Series(["c1", "c1", "c2", "c3"])
    pd.testing.assert_series_equal(
        local_time(ts, cid, TimezoneMap(ZONES)), local_time(ts, cid, dict(ZONES))
    )
    day_map = diary_day(ts, cid, TimezoneMap(ZONES))
    pd.testing.assert_series_equal(day_map, diary_day(ts, cid, dict(ZONES)))
    # independent oracle: tz_convert one element at a time
    want = [
        (t.tz_convert(ZONES[c]).tz_localize(None) - pd.Timedelta(hours=4)).normalize()
        for t, c in zip(ts, cid, strict=True)
    ]
    assert day_map.tolist() == want


def test_loader_and_simulator_attach_one_shared_map():
    exp = load_export(SAMPLE)
    tz = exp.events.attrs["timezones"]
    assert isinstance(tz, TimezoneMap)
    assert exp.checkins.attrs["timezones"] is tz
    assert tz == exp.timezones
    sub = exp.events[exp.events["code"] == "bid"].reset_index(drop=True)
    assert sub.attrs["timezones"] is tz
    sim = simulate_export(couples=2, days=14, seed=1)
    assert isinstance(sim.events.attrs["timezones"], TimezoneMap)
    assert sim.events.attrs["timezones"] is sim.checkins.attrs["timezones"]


def test_conflict_log_observed_period_is_shared():
    from patterns.timeutil import SharedMapping
    from patterns.topics import conflict_log

    sim = simulate_export(couples=2, days=14, seed=1)
    log = conflict_log(sim.events, sim.checkins)
    per = log.attrs["observed_period"]
    assert isinstance(per, SharedMapping) and set(per) == {"c001", "c002"}
    assert log[log["topic"].notna()].attrs["observed_period"] is per
    assert log.attrs["timezones"] == sim.events.attrs["timezones"]


def test_local_time_keeps_index_nat_and_unknown_or_missing_couples_in_utc():
    ts = pd.Series(
        pd.to_datetime(
            ["2026-01-05T12:00:00Z", None, "2026-07-01T12:00:00Z", "2026-07-01T12:00:00Z"]
        ),
        index=[10, 3, 7, 1],
    )
    cid = pd.Series(["c3", "c1", None, "zz"], index=[10, 3, 7, 1], dtype="string")
    got = local_time(ts, cid, TimezoneMap(ZONES))
    assert got.index.tolist() == [10, 3, 7, 1] and got.dtype == "datetime64[ns]"
    assert got.iloc[0] == pd.Timestamp("2026-01-05 21:00")  # Tokyo
    assert pd.isna(got.iloc[1])
    assert got.iloc[2] == got.iloc[3] == pd.Timestamp("2026-07-01 12:00")  # UTC fallback
