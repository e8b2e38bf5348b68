"""Integer encodings of event columns, shared by bids, sequences and cycles (private).

Analyses over millions of events compare and sort integers, never strings: couple and actor
ids are factorized (sorted, so the smaller actor code is Partner A, as in
:func:`patterns.schema.partner_labels`), codes become their position in
:data:`patterns.schema.CODES` and families their position in :data:`patterns.schema.FAMILIES`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from patterns import _fast, schema
from patterns.errors import check_int

FAMILY_NAMES: tuple[str, ...] = tuple(schema.FAMILIES)
#: family index of each code index (-1 for an unknown code)
_CODE_FAMILY = np.array([FAMILY_NAMES.index(schema.family_of(c)) for c in schema.CODES] + [-1])
CONNECT, PURSUE, WITHDRAW, AGAINST, MARKER = (
    FAMILY_NAMES.index(f) for f in ("connect", "pursue", "withdraw", "against", "marker")
)
CODE = {c: i for i, c in enumerate(schema.CODES)}


@dataclass
class Encoded:
    """Integer columns of an events table (row order kept)."""

    couple: np.ndarray
    couple_names: np.ndarray
    actor: np.ndarray
    actor_names: np.ndarray
    code: np.ndarray
    family: np.ndarray
    ts: np.ndarray  # int64 nanoseconds since the epoch, UTC
    #: first row of each couple's run when every couple's rows are ONE contiguous run
    #: (found while encoding ``couple_id``), else None
    run_starts: np.ndarray | None = None

    def other(self) -> np.ndarray:
        """The other partner's actor code for each row (same code when a couple has one)."""
        cached = self.__dict__.get("_other")
        if cached is not None:
            return cached
        out = self.__dict__["_other"] = self.other_of(self.couple, self.actor)
        return out

    def other_of(self, couple: np.ndarray, actor: np.ndarray) -> np.ndarray:
        """The other partner's actor code for given couple and actor codes (e.g. of a few
        rows, without computing :meth:`other` for every row)."""
        total = self._pair_sum()
        if total is not None:  # at most two partners per couple: the other is sum − self
            out = total[couple]
            out -= actor
            return out
        lo, hi = self._actor_range()
        lo_r, hi_r = lo[couple], hi[couple]
        return np.where(actor == lo_r, hi_r, lo_r)

    def _pair_sum(self) -> np.ndarray | None:
        """Smallest plus largest actor code of each couple code when no couple has more
        than two partners (:meth:`pairs`), else None. Then the other partner of actor ``a``
        is ``sum − a`` (also for a couple with one partner: ``2a − a``): one gather and a
        subtraction per row instead of two gathers, a comparison and a select."""
        cached = self.__dict__.get("_sum", False)
        if cached is not False:
            return cached
        couple, _ = self.pairs()
        total = None
        if len(couple) == 0 or np.bincount(couple + 1).max() <= 2:
            lo, hi = self._actor_range()
            total = lo + hi  # an unused slot holds int64 max + min = −1 (no overflow)
        self.__dict__["_sum"] = total
        return total

    def _actor_range(self) -> tuple[np.ndarray, np.ndarray]:
        """Smallest and largest actor code of each couple code (an extra last slot for −1)."""
        cached = self.__dict__.get("_range")
        if cached is not None:
            return cached
        k = len(self.couple_names)
        lo = np.full(k + 1, np.iinfo(np.int64).max)
        hi = np.full(k + 1, np.iinfo(np.int64).min)
        starts = self.run_starts
        if starts is not None and len(starts):
            # one contiguous run per couple (found while encoding): a reduce per run
            # instead of ufunc.at over every row (0.03 s at 1,000 couples)
            run_couple = self.couple[starts]
            lo[run_couple] = np.minimum.reduceat(self.actor, starts)
            hi[run_couple] = np.maximum.reduceat(self.actor, starts)
        else:
            # per-couple min/max actor code by ufunc.at on int codes (a pandas grouped
            # transform took 0.3 s on 3 M events); rows without a couple (code −1) share
            # the extra last slot, as they shared the group −1 before
            np.minimum.at(lo, self.couple, self.actor)
            np.maximum.at(hi, self.couple, self.actor)
        cached = self.__dict__["_range"] = (lo, hi)
        return cached

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct (couple, actor) code pairs (−1 codes included), sorted by couple, actor.

        A presence table over all code pairs when it is small (a hash/sort of millions of
        rows otherwise), computed once per encoding.
        """
        cached = self.__dict__.get("_pairs")
        if cached is not None:
            return cached
        nc, na = len(self.couple_names) + 1, len(self.actor_names) + 1
        key = self.couple + 1  # (couple + 1) * na + (actor + 1), in place: one temporary
        key *= na
        key += self.actor
        key += 1
        if nc * na <= 50_000_000:
            seen = np.zeros(nc * na, dtype=bool)
            seen[key] = True
            uniq = np.flatnonzero(seen)
        else:
            uniq = np.unique(key)
        cached = self.__dict__["_pairs"] = (uniq // na - 1, uniq % na - 1)
        return cached

    def order(self) -> np.ndarray:
        """Row positions ordered by couple, time, row (``np.lexsort((ts, couple))``)."""
        cached = self.__dict__.get("_order")
        if cached is None:
            if self.blocked():  # the runs reordered, no sort (see _couple_time_order)
                starts = self.run_starts
                cached = _runs_in_order(starts, len(self.couple), self.couple[starts])
            else:
                cached = _couple_time_order(self.couple, self.ts)
            self.__dict__["_order"] = cached
        return cached

    def blocked(self) -> bool:
        """True when every couple's rows are ONE contiguous run in time order (the loader
        writes them so, couples in any order): row positions then rank the rows of a couple
        exactly as :meth:`order` does, and callers need not order every row."""
        cached = self.__dict__.get("_blocked")
        if cached is None:
            starts = self.run_starts
            cached = self.__dict__["_blocked"] = starts is not None and _in_time(self.ts, starts)
        return cached

    def in_order(self, rows: np.ndarray) -> np.ndarray:
        """Ascending row positions ``rows`` of a :meth:`blocked` encoding rearranged in
        (couple, time, row) order: each run's rows kept as they are, the runs put in couple
        code order (O(len(rows)), no sort; ``rows`` itself when the runs already are)."""
        starts = self.run_starts
        run_couple = self.couple[starts]
        if len(starts) <= 1 or bool(np.all(run_couple[1:] > run_couple[:-1])):
            return rows
        return rows[_runs_in_order(np.searchsorted(rows, starts), len(rows), run_couple)]


def _in_time(ts: np.ndarray, starts: np.ndarray) -> bool:
    """No step back in time inside a run (a step back onto a run's first row is allowed)."""
    down = np.flatnonzero(ts[1:] < ts[:-1]) + 1
    return len(down) == 0 or bool(np.isin(down, starts).all())


def _runs_in_order(first: np.ndarray, n: int, run_couple: np.ndarray) -> np.ndarray:
    """Positions that reorder ``n`` items split in runs (run k starts at ``first[k]``,
    ascending) so that the runs follow ``run_couple`` order, each run kept as is."""
    lengths = np.diff(np.r_[first, n])
    ro = np.argsort(run_couple, kind="stable")
    out_first = np.cumsum(lengths[ro]) - lengths[ro]
    return np.repeat(first[ro] - out_first, lengths[ro]) + np.arange(n)


def _couple_time_order(couple: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Row order by couple, then time, then row (= ``np.lexsort((ts, couple))``).

    Exports usually list each couple's events in time order, so a stable sort by couple
    alone often is already that order (checked, O(n)); couple codes that fit in int16 sort
    by numpy's radix sort. Otherwise two stable sorts (time, then couple) give the same
    order as lexsort. Written by hand because lexsort over millions of rows took 0.15-0.2 s
    per call and three analyses asked for it.
    """
    n = len(couple)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    same = couple[1:] == couple[:-1]
    starts = np.flatnonzero(np.r_[True, ~same])
    run_couple = couple[starts]
    # more runs than couple codes cannot be one run each (skips a unique of millions of
    # runs when rows are interleaved, e.g. in time order)
    few_runs = len(starts) <= int(couple.max()) - int(couple.min()) + 1
    if few_runs and len(np.unique(run_couple)) == len(starts) and _in_time(ts, starts):
        # each couple one contiguous run already in time order (the usual export): order
        # the runs by couple code and keep each run as is — no sort of every row
        return _runs_in_order(starts, n, run_couple)
    small = couple.min() >= np.iinfo(np.int16).min and couple.max() <= np.iinfo(np.int16).max
    key = couple.astype(np.int16) if small else couple
    by_couple = np.argsort(key, kind="stable")
    c, t = couple[by_couple], ts[by_couple]
    if not np.any((c[1:] == c[:-1]) & (t[1:] < t[:-1])):
        return by_couple
    by_time = np.argsort(ts, kind="stable")
    return by_time[np.argsort(key[by_time], kind="stable")]


def encode(events: pd.DataFrame) -> Encoded:
    """Encode ``couple_id``, ``actor``, ``code`` and ``ts`` of a contract events table.

    Inside :func:`patterns._fast.shared_keys` the encoding of the same frame object is
    computed once and shared by every analysis that asks for it.
    """
    return _fast.memo("encode", events, lambda: _encode(events))


def _run_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``_fast.codes(values, sort=True)`` plus each run's first row, when the column is
    Arrow strings without missing values in which every distinct value is ONE contiguous
    run (couple ids as exports list them); None otherwise.

    Written by hand because comparing neighbouring strings (Arrow ``not_equal``, in C)
    finds the runs 5x faster than hashing every row (``dictionary_encode``) at 3 M events;
    the codes are the runs' ranks among the sorted distinct values, exactly as
    :func:`patterns._fast.codes` sorts them (Python string order).
    """
    arrow = _fast._arrow_strings(values)
    if arrow is None or len(arrow) == 0 or arrow.null_count:
        return None
    import pyarrow.compute as pc

    n = len(arrow)
    change = pc.not_equal(arrow.slice(1), arrow.slice(0, n - 1))
    starts = np.flatnonzero(change.to_numpy(zero_copy_only=False)) + 1
    starts = np.concatenate([np.zeros(1, dtype=starts.dtype), starts]).astype(np.int64)
    if len(starts) > max(1024, n // 64):
        return None  # many runs (rows interleaved, e.g. in time order): not one run each
    names = np.asarray(arrow.take(starts).to_numpy(zero_copy_only=False), dtype=object)
    if len(set(names.tolist())) != len(names):
        return None  # a value in more than one run: hash every row instead
    order = np.argsort(names, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    codes = np.repeat(rank, np.diff(np.r_[starts, n]))
    return codes, names[order], starts


def _sorted_codes(values: pd.Series, *, stride: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``_fast.codes(values, sort=True)``: int64 codes (−1 for missing) and the sorted
    distinct values, found by looking every row up in the sorted distinct values of a
    sample (every ``stride``-th row) — for Arrow strings with few distinct values (actor
    ids). A value the sample missed is added after one more pass; many distinct values,
    or anything else, go to :func:`patterns._fast.codes`.

    Written by hand because a lookup in a known set (Arrow ``index_in``) costs half of
    hashing every row into a growing dictionary (``dictionary_encode``: 44 -> 24 ms for the
    actors of 3 M events), and its positions already are the sorted codes (no remap).
    """
    arrow = _fast._arrow_strings(values)
    n = 0 if arrow is None else len(arrow)
    if n < 16 * stride:
        return _fast.codes(values, sort=True)
    import pyarrow as pa
    import pyarrow.compute as pc

    sample = pc.unique(arrow.take(pa.array(np.arange(0, n, stride)))).drop_null()
    names = sorted(sample.to_pylist())
    for _ in range(2):  # the sample's values, then once more with those it missed
        if len(names) > n // (4 * stride):  # many distinct values: hash every row
            break
        idx = pc.index_in(arrow, value_set=pa.array(names, type=arrow.type))
        if idx.null_count == arrow.null_count:  # every present value was found
            codes = (pc.fill_null(idx, -1) if idx.null_count else idx).to_numpy()
            return codes.astype(np.int64), np.array(names, dtype=object)
        missed = pc.unique(arrow.filter(pc.and_(pc.is_null(idx), pc.is_valid(arrow))))
        names = sorted(set(names) | set(missed.to_pylist()))
    return _fast.codes(values, sort=True)


def _encode(events: pd.DataFrame) -> Encoded:
    runs = _run_codes(events["couple_id"])
    if runs is None:
        couple, couple_names = _sorted_codes(events["couple_id"])
        run_starts = None
    else:
        couple, couple_names, run_starts = runs
    actor, actor_names = _sorted_codes(events["actor"])
    code = events["code"]
    if not isinstance(code.dtype, pd.CategoricalDtype) or list(code.cat.categories) != list(
        schema.CODES
    ):
        # unknown codes → −1 (callers refuse or skip them)
        cc = pd.Index(schema.CODES).get_indexer(code.astype(str)).astype(np.int64)
    else:
        cc = code.cat.codes.to_numpy().astype(np.int64)
    ts = events["ts"]
    if not (isinstance(ts.dtype, pd.DatetimeTZDtype) and ts.dtype.unit == "ns"):
        ts = pd.to_datetime(ts, utc=True).dt.as_unit("ns")
    ts = ts.array.asi8.copy()  # int64 ns since the epoch (UTC); NaT → int64 minimum
    # The contract's couple_id, actor and ts are required: a missing one would be code −1
    # (counted in the last couple or partner by numpy's indexing) or NaT (sorted as the
    # earliest moment). load_export quarantines such rows; hand-built frames are refused.
    for column, missing in (
        ("couple_id", int(np.count_nonzero(couple < 0))),
        ("actor", int(np.count_nonzero(actor < 0))),
        ("ts", int(np.count_nonzero(ts == np.iinfo(np.int64).min))),
    ):
        if missing:
            raise schema.SchemaError(
                f"events has {missing} row(s) with a missing {column}; every event needs "
                f"one. load_export quarantines such rows; drop them "
                f"(events.dropna(subset=[{column!r}])) before calling an analysis."
            )
    return Encoded(
        couple=np.asarray(couple, dtype=np.int64),
        couple_names=np.asarray(couple_names, dtype=object),
        actor=np.asarray(actor, dtype=np.int64),
        actor_names=np.asarray(actor_names, dtype=object),
        code=cc,
        family=_CODE_FAMILY[cc],
        ts=ts,
        run_starts=run_starts,
    )


_DAY_NS = 86_400 * 10**9


def local_day_ns(
    ts_ns: np.ndarray,
    couple: np.ndarray,
    couple_names: np.ndarray,
    timezone,
    cutoff_hour: int,
) -> np.ndarray:
    """Local diary day (int64 ns of naive local midnight) of each UTC time — the integer fast
    path of :func:`patterns.timeutil.diary_day` (a test checks they agree). One conversion
    per distinct zone; the zone of each couple is looked up once per couple, not per row."""
    cutoff_hour = check_int(cutoff_hour, "cutoff_hour", func="diary_day", maximum=23)
    if isinstance(timezone, str):
        zones = np.array([timezone] * len(couple_names), dtype=object)
    else:
        tz = dict(timezone)
        zones = np.array([tz.get(str(c), "UTC") for c in couple_names], dtype=object)
    zone_names, zone_of_couple = (
        np.unique(zones.astype(str), return_inverse=True)
        if len(zones)
        else (np.array([], dtype=object), np.array([], dtype=np.int64))
    )
    ts_ns = np.asarray(ts_ns, dtype=np.int64)

    def wall(utc: np.ndarray, zone: str) -> np.ndarray:
        """Naive local wall-clock ns (UTC's wall clock is UTC itself: no conversion)."""
        if zone == "UTC":
            return utc
        index = pd.DatetimeIndex(utc.view("datetime64[ns]"), tz="UTC")
        return index.tz_convert(zone).tz_localize(None).as_unit("ns").asi8

    if len(zone_names) == 1:  # one zone: every row at once, no masks
        out = np.array(wall(ts_ns, zone_names[0]), dtype=np.int64)  # a fresh array
    else:
        out = np.empty(len(ts_ns), dtype=np.int64)
        zi = zone_of_couple[couple] if len(couple) else np.array([], dtype=np.int64)
        for k, zone in enumerate(zone_names):  # a handful of IANA zones, not rows
            m = zi == k
            out[m] = wall(ts_ns[m], zone)
    # (local − cutoff) // day * day, in place on the fresh array (no temporaries)
    out -= cutoff_hour * 3600 * 10**9
    np.floor_divide(out, _DAY_NS, out=out)
    out *= _DAY_NS
    return out


def period_start_ns(day_ns: np.ndarray, period: str) -> np.ndarray:
    """Start of the local period containing each local day: the day (``D``), the Monday of
    its ISO week (``W``), or the first of its month (``M``)."""
    if period == "D":
        return day_ns
    if period == "W":
        # (days − (days + 3) % 7) · day: 1970-01-01 was a Thursday (weekday 3); in place
        days = day_ns // _DAY_NS
        weekday = days + 3
        weekday %= 7
        days -= weekday
        days *= _DAY_NS
        return days
    months = day_ns.astype("datetime64[ns]").astype("datetime64[M]")
    return months.astype("datetime64[ns]").astype(np.int64)


def utc_from_ns(ns: np.ndarray) -> pd.DatetimeIndex:
    """UTC timestamps from int64 nanoseconds (``pd.to_datetime(ints, utc=True)`` is ~50×
    slower on millions of values; the int64 minimum becomes NaT)."""
    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("datetime64[ns]"), tz="UTC")
