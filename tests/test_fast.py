"""The private speed helpers: equal to what they replace (pandas.factorize, statsmodels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from patterns import _fast
from patterns._eventcodes import encode
from patterns.schema import SchemaError


@pytest.mark.parametrize("confidence", [0.5, 0.8, 0.9, 0.95, 0.99, 0.999])
def test_wilson_equals_statsmodels(confidence):
    rng = np.random.default_rng(7)
    n = rng.integers(1, 500, size=2000).astype(float)
    k = np.floor(rng.random(2000) * (n + 1))
    k[:50], k[50:100] = 0, n[50:100]  # both edges
    lo, hi = _fast.wilson(k, n, confidence)
    ref_lo, ref_hi = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    # same arithmetic; the normal quantile (stdlib vs scipy's ndtri) differs by an ulp
    np.testing.assert_allclose(lo, ref_lo, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(hi, ref_hi, rtol=1e-13, atol=1e-16)


def test_wilson_r_values():
    # R: prop.test(7, 10, correct = FALSE)$conf.int -> 0.3967781 0.8922087
    lo, hi = _fast.wilson(np.array([7.0]), np.array([10.0]), 0.95)
    assert (lo[0], hi[0]) == (
        pytest.approx(0.3967781, abs=5e-8),
        pytest.approx(0.8922087, abs=5e-8),
    )
    # R: prop.test(0, 25, correct = FALSE, conf.level = 0.9)$conf.int -> 0 0.09763...
    lo, hi = _fast.wilson(np.array([0.0]), np.array([25.0]), 0.9)
    assert lo[0] == 0.0
    assert hi[0] == pytest.approx(1.6448536**2 / (25 + 1.6448536**2), rel=1e-6)


STRINGS = ["c10", "c2", None, "c2", "Zoë", "zoe", "c10", "", "c1", None, "ä", "a"]


@pytest.mark.parametrize("dtype", ["string[pyarrow]", "str", "object", "string[python]"])
@pytest.mark.parametrize("sort", [True, False])
def test_codes_equal_factorize(dtype, sort):
    s = pd.Series(STRINGS, dtype=dtype)
    got_codes, got_uniques = _fast.codes(s, sort=sort)
    ref_codes, ref_uniques = pd.factorize(s, sort=sort)
    np.testing.assert_array_equal(got_codes, np.asarray(ref_codes, dtype=np.int64))
    assert got_codes.dtype == np.int64
    assert list(got_uniques) == list(np.asarray(ref_uniques, dtype=object))
    codes_only, none = _fast.codes(s, sort=sort, uniques=False)
    assert none is None
    if not sort:
        np.testing.assert_array_equal(codes_only, got_codes)


def test_codes_chunked_arrow_and_empty():
    import pyarrow as pa

    chunked = pa.chunked_array([["b", "a"], [None, "b", "c"]])
    s = pd.Series(pd.arrays.ArrowStringArray(chunked))
    c, u = _fast.codes(s, sort=True)
    assert c.tolist() == [1, 0, -1, 1, 2] and u.tolist() == ["a", "b", "c"]
    c, u = _fast.codes(pd.Series([], dtype="string[pyarrow]"), sort=True)
    assert len(c) == 0 and len(u) == 0


def test_memo_only_inside_shared_keys():
    calls = []
    frame = pd.DataFrame({"x": [1]})

    def compute():
        calls.append(1)
        return len(calls)

    assert _fast.memo("k", frame, compute) == 1
    assert _fast.memo("k", frame, compute) == 2  # outside: never cached
    with _fast.shared_keys():
        assert _fast.memo("k", frame, compute) == 3
        assert _fast.memo("k", frame, compute) == 3  # same object: reused
        assert _fast.memo("k", frame.copy(), compute) == 4  # another object: computed
        assert _fast.memo("other", frame, compute) == 5  # another kind
    with _fast.shared_keys():
        assert _fast.memo("k", frame, compute) == 6  # a new block starts empty


def test_encode_other_matches_grouped_min_max():
    ev = pd.DataFrame(
        {
            "couple_id": pd.array(["c2", "c1", "c1", "c4", "c2", "c3", "c4"], dtype="str"),
            "actor": pd.array(["y", "a", "b", "q", "x", "s", "r"], dtype="str"),
            "code": ["bid"] * 7,
            "ts": pd.date_range("2026-01-01", periods=7, freq="h", tz="UTC"),
        }
    )
    enc = encode(ev)
    g = pd.Series(enc.actor).groupby(enc.couple, sort=False)
    lo, hi = g.transform("min").to_numpy(), g.transform("max").to_numpy()
    np.testing.assert_array_equal(enc.other(), np.where(enc.actor == lo, hi, lo))
    assert enc.other() is enc.other()  # computed once per encoding
    with pytest.raises(SchemaError, match=r"2 row\(s\) with a missing couple_id"):
        encode(ev.assign(couple_id=pd.array(["c2", None, "c1", None, "c2", "c3", "c4"], "str")))


@pytest.mark.parametrize("n_couples", [3, 40_000])  # int16 radix path and the int64 path
@pytest.mark.parametrize("layout", ["sorted", "blocks", "shuffled"])
def test_couple_time_order_equals_lexsort(n_couples, layout):
    from patterns._eventcodes import _couple_time_order

    rng = np.random.default_rng(3)
    n = 5000
    couple = rng.integers(0, n_couples, size=n).astype(np.int64)
    ts = rng.integers(0, 50, size=n).astype(np.int64) * 10**9  # many ties
    if layout != "shuffled":
        o = np.lexsort((ts, couple))
        couple, ts = couple[o], ts[o]
    if layout == "blocks":  # each couple's block time-sorted, blocks out of couple order
        perm = rng.permutation(n_couples)
        o = np.argsort(perm[couple], kind="stable")
        couple, ts = couple[o], ts[o]
    np.testing.assert_array_equal(_couple_time_order(couple, ts), np.lexsort((ts, couple)))


@pytest.mark.parametrize("distinct_blocks", [False, True])
@pytest.mark.parametrize("layout", ["sorted", "blocks", "shuffled"])
@pytest.mark.parametrize("dtype", ["string[pyarrow]", "object"])
def test_codes_within_equal_exactly_when_values_equal_in_group(layout, dtype, distinct_blocks):
    rng = np.random.default_rng(5)
    n = 3000
    group = np.sort(rng.integers(-1, 60, size=n))  # −1: rows without a couple
    vals = rng.choice(["a", "b", "Zoë", "", "c10", "c1", None], size=n)
    if layout == "shuffled":
        p = rng.permutation(n)
        group, vals = group[p], vals[p]
    if layout == "blocks":  # each group contiguous, groups not in code order
        p = np.argsort(rng.permutation(61)[group + 1], kind="stable")
        group, vals = group[p], vals[p]
    s = pd.Series(vals, dtype=dtype)
    got = _fast.codes_within(
        s, group, np.lexsort((np.arange(n), group)), block=256, distinct_blocks=distinct_blocks
    )
    ref, _ = pd.factorize(s)
    assert ((got == -1) == (ref == -1)).all()
    same_group = group[:, None] == group[None, :]
    np.testing.assert_array_equal(
        (got[:, None] == got[None, :]) & same_group, (ref[:, None] == ref[None, :]) & same_group
    )
    if distinct_blocks:
        # what bids' direct id table relies on: a code names ONE value across all groups
        # (codes offset per block), and codes stay below the number of rows
        known = got >= 0
        per_code = pd.Series(ref[known]).groupby(got[known]).nunique()
        assert (per_code == 1).all() and got.max() < n


@pytest.mark.parametrize("bound", [1, 50, 10**9])
def test_unique_inverse_equals_numpy(bound):
    from patterns._fast import unique_inverse

    rng = np.random.default_rng(bound)
    for n in (0, 1, 1000):
        v = rng.integers(0, bound, n)
        u, inv = unique_inverse(v, bound)
        want_u, want_inv = np.unique(v, return_inverse=True)
        assert u.tolist() == want_u.tolist() and inv.tolist() == want_inv.tolist()


def test_usable_cpus_follows_the_affinity_mask(monkeypatch):
    import os

    from patterns import io, metrics

    # the loader and the table use this one rule (a module name, so tests can patch it)
    assert metrics._usable_cpus is _fast.usable_cpus and io._usable_cpus is _fast.usable_cpus
    if hasattr(os, "sched_getaffinity"):
        assert _fast.usable_cpus() == len(os.sched_getaffinity(0))
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5})
        assert _fast.usable_cpus() == 3
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert _fast.usable_cpus() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert _fast.usable_cpus() == 1


def test_may_thread_only_with_two_cpus_on_the_main_thread():
    import threading

    assert not _fast.may_thread(1) and _fast.may_thread(2)  # (pytest: the main thread)
    seen = []
    t = threading.Thread(target=lambda: seen.append(_fast.may_thread(8)))
    t.start()
    t.join()
    assert seen == [False]


def test_tasks_pool_or_one_by_one_same_results_and_context():
    """``_fast.Tasks``: on the pool (other threads, the submitting context's values) or
    one by one in read order (disabled); errors are raised when the result is read; no
    thread outlives the block."""
    import contextvars
    import threading

    var = contextvars.ContextVar("v", default=None)
    var.set("mine")
    log = []

    def job(k):
        log.append((k, threading.current_thread().name, var.get()))
        if k == 2:
            raise ValueError("task 2 failed")
        return k * k

    before = threading.active_count()
    with _fast.Tasks(2, name="t-pool") as tasks:
        futures = [tasks.submit(job, k) for k in range(4)]
        assert [futures[k].result() for k in (0, 1, 3)] == [0, 1, 9]
        with pytest.raises(ValueError, match="task 2 failed"):
            futures[2].result()
    assert threading.active_count() == before
    assert {name.startswith("t-pool") for _, name, _ in log} == {True}
    assert {v for _, _, v in log} == {"mine"}
    log.clear()
    with _fast.Tasks(2, name="t-off", enabled=False) as tasks:
        later = [tasks.submit(job, k) for k in (3, 1)]
        assert log == []  # nothing runs before it is read
        assert [t.result() for t in reversed(later)] == [1, 9]
    assert [k for k, _, _ in log] == [1, 3]  # in read order, on this thread
    assert {name for _, name, _ in log} == {threading.current_thread().name}
