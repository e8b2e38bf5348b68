"""Tests for patterns.timeutil: the shared TimezoneMap and zone resolution."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import numpy as np
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


def _row_by_row(ts: pd.Series, cid: pd.Series, zones, cutoff: int) -> list:
    """Independent oracle: each time converted on its own (``tz_convert`` of one
    Timestamp), the cutoff subtracted and the date kept; a couple without a zone: UTC."""
    out = []
    for t, c in zip(ts, cid, strict=True):
        zone = zones if isinstance(zones, str) else zones.get(c, "UTC")
        local = t.tz_convert(zone).tz_localize(None) if pd.notna(t) else pd.NaT
        out.append((local - pd.Timedelta(hours=cutoff)).normalize() if pd.notna(t) else pd.NaT)
    return out


@pytest.mark.parametrize("cutoff", [0, 4, 23])
def test_diary_day_integer_route_equals_wall_clock_route(cutoff, monkeypatch):
    # diary_day's int64 route (UTC ns times) against its Timestamp route (_wall_clock_day)
    # and against tz_convert row by row: across the March/April DST changes on both
    # hemispheres, a couple without a zone, NaT times, and the caller's own codes
    import patterns.timeutil as tu
    from patterns import _fast

    rng = np.random.default_rng(cutoff)
    n = 2000
    ts = pd.Series(
        pd.Timestamp("2026-03-20", tz="UTC")
        + pd.to_timedelta(rng.integers(0, 45 * 24 * 3600, n), unit="s"),
        index=pd.RangeIndex(n)[::-1] + 10,  # any index, kept
        name="ts",
    ).dt.as_unit("ns")
    ts.iloc[[3, 700]] = pd.NaT
    cid = pd.Series(rng.choice(["c1", "c2", "c3", "c4"], n), dtype="string")  # c4: no zone
    zones = {"c1": "Europe/Amsterdam", "c2": "America/New_York", "c3": "Australia/Sydney"}
    cases = [(zones, None), (TimezoneMap(zones), None), ("Asia/Kolkata", None), ("UTC", None)]
    cases.append((zones, _fast.codes(cid, sort=True)))  # the caller's sorted codes
    wants = [tu._wall_clock_day(ts, cid, z, cutoff) for z, _ in cases]

    def refuse(*args, **kwargs):
        raise AssertionError("the integer route was not taken")

    monkeypatch.setattr(tu, "local_time", refuse)  # the Timestamp route's only way in
    for (z, codes), want in zip(cases, wants, strict=True):
        got = diary_day(ts, cid, z, cutoff_hour=cutoff, codes=codes)
        pd.testing.assert_series_equal(got, want, check_exact=True)
        assert got.dtype == "datetime64[ns]" and got.index.equals(ts.index)
    assert got.isna().sum() == 2
    head = slice(0, 300)
    for z, _ in cases[:3]:
        want = _row_by_row(ts.iloc[head], cid.iloc[head], z, cutoff)
        got = diary_day(ts.iloc[head], cid.iloc[head], z, cutoff_hour=cutoff)
        assert [None if pd.isna(x) else x for x in got] == [None if pd.isna(x) else x for x in want]
    # a string zone needs no couple at all: a missing id keeps the integer route
    odd = cid.mask(cid.index == 5)
    pd.testing.assert_series_equal(
        diary_day(ts, odd, "Asia/Kolkata", cutoff_hour=cutoff), wants[2], check_exact=True
    )
    monkeypatch.undo()
    # a zone mapping and a row without a couple, or times not in ns: the Timestamp route
    # (local_time's zone rule for a missing id), same values as before
    for times in (ts, ts.dt.as_unit("us")):
        pd.testing.assert_series_equal(
            diary_day(times, odd, zones, cutoff_hour=cutoff),
            tu._wall_clock_day(times, odd, zones, cutoff),
            check_exact=True,
        )
    monkeypatch.setattr(tu, "local_time", refuse)
    with pytest.raises(AssertionError, match="integer route was not taken"):
        diary_day(ts, odd, zones, cutoff_hour=cutoff)
    # empty input
    empty = diary_day(ts.iloc[:0], cid.iloc[:0], zones, cutoff_hour=cutoff)
    assert len(empty) == 0 and empty.dtype == "datetime64[ns]"
