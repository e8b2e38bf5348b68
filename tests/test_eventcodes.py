"""Tests for patterns._eventcodes: the run-based couple codes equal pandas' factorize, the
(couple, time, row) order equals lexsort and knows when it is the identity, and the other
partner's code is the same whether computed over runs, by ufunc.at or for a few rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from patterns import _fast, schema
from patterns._eventcodes import _couple_time_order, _encode, _run_codes, _sorted_codes


def _arrow(values) -> pd.Series:
    return pd.Series(pd.array(values, dtype="string[pyarrow]"))


@pytest.mark.parametrize("n_couples", [1, 7, 300])
def test_run_codes_equal_sorted_factorize(n_couples):
    rng = np.random.default_rng(n_couples)
    names = np.array([f"c{k:03d}" for k in rng.permutation(n_couples)] + ["Z", "é", "a"])
    lengths = rng.integers(1, 9, size=len(names))
    s = _arrow(np.repeat(names, lengths).tolist())  # runs in a shuffled couple order
    codes, uniques, starts = _run_codes(s)
    want_codes, want_uniques = pd.factorize(s.astype(object), sort=True)
    np.testing.assert_array_equal(codes, want_codes)
    assert codes.dtype == np.int64
    assert uniques.tolist() == list(want_uniques)
    np.testing.assert_array_equal(starts, np.r_[0, np.cumsum(lengths)[:-1]])
    fast_codes, fast_uniques = _fast.codes(s, sort=True)  # the hashing path it replaces
    np.testing.assert_array_equal(codes, fast_codes)
    assert uniques.tolist() == fast_uniques.tolist()


@pytest.mark.parametrize(
    "case", ["few", "rare_value", "nulls", "many_distinct", "small", "object", "rare_null"]
)
def test_sorted_codes_equal_fast_codes(case):
    # the lookup path (a sample's values), its second pass (a value the sample missed),
    # and the fallbacks (many distinct values, short or non-Arrow columns) all give what
    # _fast.codes(sort=True) gives: same codes, same sorted values
    rng = np.random.default_rng(7)
    n = 20_000
    values = rng.choice(["b-2", "a", "Zoë", "é", "a "], size=n).astype(object)
    if case == "rare_value":
        values[[5, 12_345]] = "only twice"  # between the sample's rows (every 64th)
    if case in ("nulls", "rare_null"):
        values[rng.random(n) < (0.2 if case == "nulls" else 0.0001)] = None
    if case == "many_distinct":
        values = np.array([f"p{k}" for k in rng.integers(0, 5000, size=n)], dtype=object)
    if case == "small":
        values = values[:100]
    s = pd.Series(values, dtype=object if case == "object" else "string[pyarrow]")
    codes, names = _sorted_codes(s)
    want_codes, want_names = _fast.codes(s, sort=True)
    np.testing.assert_array_equal(codes, want_codes)
    assert codes.dtype == np.int64 and names.dtype == object
    assert names.tolist() == want_names.tolist()
    # and the independent reference: pandas' factorize
    f_codes, f_names = pd.factorize(s.astype(object), sort=True)
    np.testing.assert_array_equal(codes, f_codes)
    assert names.tolist() == list(f_names)
    if case == "rare_value":
        assert "only twice" in names.tolist()


def test_run_codes_refuses_what_it_cannot_do():
    # a value in two runs: few runs, so only the duplicate-name check can refuse it ...
    assert _run_codes(_arrow(["a", "b", "a"])) is None
    assert _run_codes(_arrow(["a", "b", "c"])) is not None  # ... and distinct runs pass it
    # too many runs: the early give-up. Every value here is distinct (one run each), so
    # the duplicate-name check would accept them; None can only come from the run count,
    # which is allowed up to max(1024, n // 64) runs
    for n_runs, run_len in ((1024, 1), (2000, 64)):
        names = [f"v{k:05d}" for k in range(n_runs)]
        ok = _run_codes(_arrow(np.repeat(names, run_len).tolist()))
        assert ok is not None and ok[1].tolist() == names
        one_more = np.repeat([*names, "zz"], [run_len] * n_runs + [1]).tolist()
        assert _run_codes(_arrow(one_more)) is None
    assert _run_codes(_arrow(["a", "b"] * 3000)) is None  # interleaved: gives up early
    assert _run_codes(_arrow(["a", None, None])) is None  # missing values
    assert _run_codes(_arrow([])) is None
    assert _run_codes(pd.Series(["a", "a", "b"], dtype=object)) is None  # not Arrow strings


@pytest.mark.parametrize(
    "layout", ["sorted", "blocks", "blocks_back_in_time", "shuffled", "by_time"]
)
def test_order_equals_lexsort(layout):
    rng = np.random.default_rng(5)
    n, k = 4000, 30
    couple = rng.integers(0, k, size=n).astype(np.int64)
    ts = rng.integers(0, 60, size=n).astype(np.int64) * 10**9  # many ties
    o = np.lexsort((ts, couple))
    couple, ts = couple[o], ts[o]
    if layout.startswith("blocks"):  # each couple one run, runs out of couple order
        perm = rng.permutation(k)
        o = np.argsort(perm[couple], kind="stable")
        couple, ts = couple[o], ts[o]
    if layout == "blocks_back_in_time":  # one step back in time inside a run
        i = int(np.flatnonzero(couple[1:] == couple[:-1])[100]) + 1
        ts[i] = ts[i - 1] - 1
    if layout == "shuffled":
        o = rng.permutation(n)
        couple, ts = couple[o], ts[o]
    if layout == "by_time":  # couples interleaved, every row in time order
        o = np.argsort(ts, kind="stable")
        couple, ts = couple[o], ts[o]
    want = np.lexsort((ts, couple))
    np.testing.assert_array_equal(_couple_time_order(couple, ts), want)
    ev = pd.DataFrame(
        {
            "couple_id": pd.array([f"c{c:02d}" for c in couple], dtype="string[pyarrow]"),
            "actor": "p",
            "code": "bid",
            "ts": pd.to_datetime(ts, utc=True),
        }
    )
    enc = _encode(schema.coerce_dtypes(ev, "events"))
    np.testing.assert_array_equal(enc.couple, couple)
    np.testing.assert_array_equal(enc.order(), want)
    assert enc.blocked() == (layout in ("sorted", "blocks"))
    assert (enc.run_starts is not None) == (layout not in ("shuffled", "by_time"))
    if enc.blocked():  # any ascending subset of rows comes out in the same order
        rows = np.flatnonzero(rng.random(n) < 0.3)
        np.testing.assert_array_equal(enc.in_order(rows), want[np.isin(want, rows)])
    assert len(_couple_time_order(couple[:0], ts[:0])) == 0


def _events(couple, actor) -> pd.DataFrame:
    return schema.coerce_dtypes(
        pd.DataFrame(
            {
                "couple_id": pd.array(couple, dtype="string[pyarrow]"),
                "actor": pd.array(actor, dtype="string[pyarrow]"),
                "code": "bid",
                "ts": pd.date_range("2026-01-01", periods=len(couple), freq="h", tz="UTC"),
            }
        ),
        "events",
    )


@pytest.mark.parametrize("third", [False, True])
@pytest.mark.parametrize("runs", [True, False])
def test_encoding_same_with_and_without_runs(runs, third):
    # contiguous couples take the run path; a couple split in two runs takes the hashing
    # path; codes, order and the other partner are the same either way, for couples of at
    # most two partners (other = sum - self) and with a third partner (the general rule)
    couple = ["c2", "c2", "c2", "c1", "c1", "c3", "c3", "c3"]
    actor = ["y", "x", "y", "a", "b", "s", "s", "s"]  # c3 has one partner
    if third:
        actor[1], actor[2] = "w", "x"  # c2: y, w, x — three partners
    if not runs:
        couple, actor = [*couple, "c2"], [*actor, "x"]
    enc = _encode(_events(couple, actor))
    assert (enc.run_starts is not None) == runs
    assert (enc._pair_sum() is None) == third
    want_c, want_names = pd.factorize(pd.Series(couple), sort=True)
    np.testing.assert_array_equal(enc.couple, want_c)
    assert enc.couple_names.tolist() == list(want_names)
    g = pd.Series(enc.actor).groupby(enc.couple)
    lo, hi = g.transform("min").to_numpy(), g.transform("max").to_numpy()
    other = np.where(enc.actor == lo, hi, lo)
    rows = np.array([4, 0, 6, 1, 2])
    np.testing.assert_array_equal(enc.other_of(enc.couple[rows], enc.actor[rows]), other[rows])
    np.testing.assert_array_equal(enc.other(), other)
    np.testing.assert_array_equal(enc.order(), np.lexsort((enc.ts, enc.couple)))
    assert enc.blocked() == runs  # c2 before c1: blocked, runs reordered by in_order
    if runs:
        np.testing.assert_array_equal(enc.in_order(np.array([1, 2, 3, 6])), [3, 1, 2, 6])


@pytest.mark.parametrize(
    "zones",
    ["UTC", "Europe/Amsterdam", {"c1": "Australia/Sydney", "c2": "America/New_York"}, {}],
)
def test_local_days_and_weeks_match_timeutil(zones):
    # one zone (every row at once; UTC without conversion) and several zones (per zone),
    # across the March/April DST changes on both hemispheres, against diary_day's
    # Timestamp route (diary_day itself takes local_day_ns for these) and week_start;
    # inputs never modified
    from patterns._eventcodes import local_day_ns, period_start_ns
    from patterns.timeutil import _wall_clock_day, week_start

    ts = pd.Series(pd.date_range("2026-03-25", periods=2000, freq="23min", tz="UTC"))
    couple = np.arange(2000) % 3
    names = np.array(["c1", "c2", "c3"], dtype=object)  # c3 (and all, for {}): UTC
    ns = ts.dt.as_unit("ns").astype("int64").to_numpy()
    before = ns.copy()
    for cutoff in (0, 4, 23):
        got = local_day_ns(ns, couple, names, zones, cutoff)
        want = _wall_clock_day(ts, pd.Series(names[couple]), zones or "UTC", cutoff)
        np.testing.assert_array_equal(got, want.to_numpy().astype("datetime64[ns]").view("i8"))
        weeks = week_start(pd.Series(got.view("datetime64[ns]")))
        np.testing.assert_array_equal(
            period_start_ns(got, "W"), weeks.to_numpy().astype("datetime64[ns]").view("i8")
        )
    np.testing.assert_array_equal(ns, before)
    assert got is not ns
