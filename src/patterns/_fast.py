"""Fast integer keys and small closed forms shared by the analyses (private).

Why this module exists (issue 8): with pandas 3, string columns are Arrow-backed
(``ArrowStringArray``) and ``pd.factorize``/``Series.map``/``astype(str)`` on millions of
them go through Python objects, while :func:`pyarrow.compute.dictionary_encode` hashes the
same column in C. :func:`codes` gives exactly what :func:`pandas.factorize` gives (same
codes, same uniques, ``-1`` for missing), only faster on Arrow strings.

:func:`shared_keys` lets one caller (``couple_week_metrics``) compute each per-row key
(integer-encoded events, check-in diary days) once and reuse it across the analyses it calls,
without changing any public signature: inside the ``with`` block, :func:`memo` returns the
value computed earlier for the *same* input frame object; outside it, nothing is cached.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Later",
    "Tasks",
    "codes",
    "codes_within",
    "may_thread",
    "memo",
    "shared_keys",
    "sharing",
    "strings",
    "unique_inverse",
    "usable_cpus",
    "wilson",
]

_SCOPE: ContextVar[dict[Any, Any] | None] = ContextVar("patterns_shared_keys", default=None)


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask (e.g. under a batch scheduler or
    ``taskset``) where the OS has one, else the machine's CPU count.

    Examples
    --------
    >>> usable_cpus() >= 1
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity mask (macOS, Windows)
        return os.cpu_count() or 1


def may_thread(cpus: int) -> bool:
    """Whether work may be spread over ``cpus`` threads here: 2 or more, and called on the
    main thread.

    Off the main thread (a Dask worker's task, a caller's thread pool, the loader's own
    background thread) work stays on the caller's thread: that caller already runs things
    side by side, and pools within pools would only oversubscribe the CPUs.

    Examples
    --------
    >>> may_thread(1)
    False
    """
    return cpus >= 2 and threading.current_thread() is threading.main_thread()


class Later:
    """A call made when its result is first asked for: the one-thread stand-in for a
    ``Future`` (so one by one, the work runs in exactly the order it is read).

    Examples
    --------
    >>> seen = []
    >>> task = Later(seen.append, (1,))
    >>> len(seen)  # nothing has run yet
    0
    >>> task.result(), task.result(), seen  # runs once, when first asked
    (None, None, [1])
    """

    def __init__(self, fn: Callable[..., Any], args: tuple):
        self._fn, self._args, self._done, self._value = fn, args, False, None

    def result(self) -> Any:
        if not self._done:
            self._value = self._fn(*self._args)
            self._done = True
        return self._value


class Tasks:
    """Independent tasks of one call: on a thread pool of ``workers`` threads that lives
    for the ``with`` block, or, when ``enabled`` is false or :func:`may_thread` says no,
    each run in this thread when its result is first asked for (:class:`Later`).

    Callers read the results in a fixed order, so values and the first error raised are
    the same either way. A task starts on the pool in the order submitted and runs in a
    copy of the submitting context (``ContextVar`` values such as :func:`shared_keys`'
    dict, which threads do not inherit, are the same objects). Leaving the block cancels
    the tasks not started and waits for the others: no thread outlives the call. Used by
    the loader's column checks and ``couple_week_metrics``' parts (their heavy loops are
    numpy/pyarrow kernels that release the GIL).

    Examples
    --------
    >>> with Tasks(2, name="doc") as tasks:
    ...     squares = [tasks.submit(pow, k, 2) for k in range(4)]
    ...     [t.result() for t in squares]
    [0, 1, 4, 9]
    """

    def __init__(self, workers: int, *, name: str, enabled: bool = True):
        self._pool = None
        if enabled and may_thread(workers):
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(workers, thread_name_prefix=name)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` as a task: an object whose ``result()`` gives its value."""
        if self._pool is None:
            return Later(fn, args)
        return self._pool.submit(contextvars.copy_context().run, fn, *args)

    def __enter__(self) -> Tasks:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def shared_keys() -> Iterator[None]:
    """Within this block, :func:`memo` reuses values computed for the same frame object.

    The caller promises not to mutate the frames it passes while the block runs (the
    analyses are pure functions, so within one ``couple_week_metrics`` call this holds).
    """
    token = _SCOPE.set({})
    try:
        yield
    finally:
        _SCOPE.reset(token)


def sharing() -> bool:
    """True inside :func:`shared_keys` (where per-row keys computed once are reused)."""
    return _SCOPE.get() is not None


def memo(kind: str, frame: Any, compute: Callable[[], Any], *extra: Any) -> Any:
    """``compute()``, or its earlier result for the same ``frame`` object inside
    :func:`shared_keys` (keyed by identity; the frame is held so its id stays unique)."""
    scope = _SCOPE.get()
    if scope is None:
        return compute()
    key = (kind, id(frame), *extra)
    hit = scope.get(key)
    if hit is not None and hit[0] is frame:
        return hit[1]
    value = compute()
    scope[key] = (frame, value)
    return value


def _arrow_strings(values: pd.Series) -> Any:
    """The column as one ``pyarrow`` string array, or None when it is not Arrow strings."""
    arr = values.array if isinstance(values, pd.Series | pd.Index) else values
    dtype = getattr(arr, "dtype", None)
    if not (
        isinstance(dtype, pd.StringDtype) and getattr(dtype, "storage", None) == "pyarrow"
    ) and not (
        isinstance(dtype, pd.ArrowDtype) and str(dtype.pyarrow_dtype) in ("string", "large_string")
    ):
        return None
    chunked = arr.__arrow_array__()
    if not hasattr(chunked, "combine_chunks"):
        return chunked
    # one chunk (the usual case) is used as is: combine_chunks copied every string
    return chunked.chunk(0) if chunked.num_chunks == 1 else chunked.combine_chunks()


def codes(values: pd.Series, *, sort: bool = False, uniques: bool = True):
    """``pandas.factorize(values, sort=sort)`` as ``(int64 codes, object uniques)``.

    Arrow-backed strings are hashed by :func:`pyarrow.compute.dictionary_encode` (first
    appearance order, like ``factorize``); with ``sort`` the few uniques are sorted in
    Python (code point order, like ``factorize``) and the codes remapped. Anything else goes
    to :func:`pandas.factorize`. ``uniques=False`` skips building the uniques (None).

    Examples
    --------
    >>> c, u = codes(pd.Series(["b", "a", None, "b"], dtype="string[pyarrow]"), sort=True)
    >>> c.tolist(), u.tolist()
    ([1, 0, -1, 1], ['a', 'b'])
    """
    arrow = _arrow_strings(values)
    if arrow is None:
        c, u = pd.factorize(values, sort=sort)
        return np.asarray(c, dtype=np.int64), (np.asarray(u, dtype=object) if uniques else None)
    import pyarrow.compute as pc

    enc = pc.dictionary_encode(arrow)
    idx = pc.fill_null(enc.indices, -1).to_numpy()  # int32, zero-copy
    if not (uniques or sort):
        return idx.astype(np.int64), None
    names = enc.dictionary.to_numpy(zero_copy_only=False).astype(object)
    if sort and len(names):
        order = np.argsort(names, kind="stable")
        rank = np.empty(len(order) + 1, dtype=np.int64)
        rank[order] = np.arange(len(order))
        rank[-1] = -1  # index −1 (missing) takes the last entry
        return rank[idx], (names[order] if uniques else None)
    return idx.astype(np.int64), (names if uniques else None)


def codes_within(
    values: pd.Series,
    group: np.ndarray,
    order: np.ndarray,
    *,
    block: int = 1 << 16,
    distinct_blocks: bool = False,
) -> np.ndarray:
    """Integer codes of ``values`` that are equal exactly when the values are equal
    *within the same group* (−1 for missing); codes of different groups are unrelated.
    With ``distinct_blocks`` each block's codes are offset past the previous blocks', so
    a code also names one block (its codes stay below the number of rows).

    ``order`` sorts the rows by group (each group's rows contiguous after it). The column
    is hashed in blocks of whole groups of about ``block`` rows: a hash table that fits in
    the CPU cache instead of one over millions of distinct ids (bids' ids: 0.65 -> 0.12 s
    at 1,000 couples). Without Arrow strings: :func:`codes` (one table, also valid).

    Examples
    --------
    >>> v = pd.Series(["x", "y", "x", None, "y"], dtype="string[pyarrow]")
    >>> c = codes_within(v, np.array([0, 0, 0, 1, 1]), np.arange(5), block=2)
    >>> bool(c[0] == c[2]), bool(c[0] == c[1]), int(c[3])
    (True, False, -1)
    """
    arrow = _arrow_strings(values)
    if arrow is None or len(arrow) == 0:
        return codes(values, uniques=False)[0]
    import pyarrow as pa

    order = np.asarray(order, dtype=np.int64)
    group = np.asarray(group)
    # rows already in contiguous group runs (e.g. couples listed one after another, in any
    # order of ids) need no reordering: one run per distinct group
    runs = 1 + int(np.count_nonzero(group[1:] != group[:-1]))
    distinct = int(np.count_nonzero(np.bincount(group - group.min()))) if len(group) else 0
    if runs == distinct:
        order = np.arange(len(group))
    identity = bool(np.array_equal(order, np.arange(len(order))))
    sorted_values = arrow if identity else arrow.take(pa.array(order))
    g = np.asarray(group)[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    out = hash_blocks(sorted_values, starts, block, distinct_blocks=distinct_blocks)
    if identity:
        return out
    result = np.empty_like(out)
    result[order] = out
    return result


def hash_blocks(arrow: Any, starts: np.ndarray, block: int, *, distinct_blocks: bool) -> np.ndarray:
    """Codes of an Arrow string array whose groups start at ``starts`` (ascending, from 0):
    hashed per block of whole groups of about ``block`` rows, −1 for missing. Codes are
    equal exactly when the values are equal within a block; with ``distinct_blocks`` each
    block's codes are offset past the previous blocks' (so a code also names one block).
    The core of :func:`codes_within` (also used by ``bids`` on the ids of couple runs).

    Examples
    --------
    >>> import pyarrow as pa
    >>> a = pa.array(["x", "y", None, "x", "x"])
    >>> hash_blocks(a, np.array([0, 3]), 2, distinct_blocks=True).tolist()
    [0, 1, -1, 2, 2]
    """
    import pyarrow.compute as pc

    n = len(arrow)
    # each block ends at the first group starting at or after a multiple of the block size
    at = np.searchsorted(starts, np.arange(block, n, block))
    cuts = np.unique(np.r_[0, starts[np.minimum(at, len(starts) - 1)], n])
    out = np.empty(n, dtype=np.int64)
    base = 0
    for a, z in itertools.pairwise(cuts.tolist()):  # a loop over blocks, not rows
        encoded = pc.dictionary_encode(arrow.slice(a, z - a))
        idx = encoded.indices
        # the int32 codes as stored (a null's slot holds some code: overwritten below)
        codes = np.frombuffer(idx.buffers()[1], np.int32, count=len(idx), offset=4 * idx.offset)
        np.add(codes, base, out=out[a:z], dtype=np.int64)
        if distinct_blocks:
            base += len(encoded.dictionary)
    if arrow.null_count:
        out[arrow.is_null().to_numpy(zero_copy_only=False)] = -1
    return out


def unique_inverse(values: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for non-negative ints below ``bound``.

    A presence table and its running count when ``bound`` is small next to the number of
    values (no sort: O(n + bound)); ``np.unique`` otherwise.

    Examples
    --------
    >>> u, inv = unique_inverse(np.array([5, 2, 5, 0]), 8)
    >>> u.tolist(), inv.tolist()
    ([0, 2, 5], [2, 1, 2, 0])
    """
    values = np.asarray(values, dtype=np.int64)
    if bound > 4 * len(values) + (1 << 20):
        u, inv = np.unique(values, return_inverse=True)
        return u, inv.reshape(-1)
    seen = np.zeros(bound + 1, dtype=bool)
    seen[values] = True
    rank = np.cumsum(seen) - 1
    return np.flatnonzero(seen), rank[values]


def strings(names: np.ndarray, idx: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``pd.array(names[idx], dtype="string")`` built by an Arrow take (no Python string
    object per row; 8x faster on hundreds of thousands of rows)."""
    import pyarrow as pa

    taken = pa.array(np.asarray(names, dtype=object), type=pa.string()).take(
        pa.array(np.asarray(idx, dtype=np.int64))
    )
    return pd.array(taken, dtype="string")


def wilson(count: Any, nobs: Any, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``count`` successes of ``nobs`` (arrays; ``nobs > 0``).

    ``(p̂ + z²/2n ± z sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)``, clipped to [0, 1], with the
    same operations in the same order as ``statsmodels.stats.proportion.proportion_confint(
    method="wilson")``. Written out because importing statsmodels' proportion module took
    1.4 s of the 7 s of ``patterns metrics`` at 1,000 couples; the normal quantile comes
    from the standard library (``NormalDist.inv_cdf``, within 1e-15 of scipy's ``ndtri``).
    Tested against statsmodels and R's ``prop.test(k, n, correct = FALSE)``.

    Examples
    --------
    R: ``prop.test(3, 10, correct = FALSE)$conf.int`` → 0.1077913 0.6032219

    >>> lo, hi = wilson(np.array([3.0]), np.array([10.0]), 0.95)
    >>> round(float(lo[0]), 6), round(float(hi[0]), 6)
    (0.107791, 0.603222)
    """
    count = np.asarray(count, dtype=float)
    nobs = np.asarray(nobs, dtype=float)
    alpha = (1 - confidence) / 2.0
    crit = -NormalDist().inv_cdf(alpha)
    crit2 = crit**2
    q_ = count / nobs
    denom = 1 + crit2 / nobs
    center = (q_ + crit2 / (2 * nobs)) / denom
    dist = crit * np.sqrt(q_ * (1.0 - q_) / nobs + crit2 / (4.0 * nobs**2))
    dist /= denom
    return np.clip(center - dist, 0, 1), np.clip(center + dist, 0, 1)
