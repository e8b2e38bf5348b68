"""Local time and diary days, shared by every analysis that buckets by day or period.

Inside the kit all timestamps are UTC. Days and weeks are *local*: each couple's IANA zone
comes from the manifest (``Export.timezones``, also attached to loaded frames as
``df.attrs["timezones"]``). A *diary day* starts at ``cutoff_hour`` local time, so with the
default cutoff of 4 an entry at 00:30 belongs to the previous day; a 23-hour spring-forward
day is still one diary day because days are computed on local wall-clock time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import pandas as pd

from patterns.errors import check_int

__all__ = [
    "DEFAULT_CUTOFF_HOUR",
    "SharedMapping",
    "TimezoneMap",
    "diary_day",
    "local_time",
    "resolve_timezones",
    "week_start",
]

DEFAULT_CUTOFF_HOUR = 4


class SharedMapping(dict[str, Any]):
    """An immutable mapping that ``copy.copy`` and ``copy.deepcopy`` return as itself.

    For per-couple tables kept in ``DataFrame.attrs`` (zones, observed periods): pandas
    deep-copies ``attrs`` into every derived frame (``__finalize__`` after each slice,
    ``assign``, ``merge``, …), which with a plain dict of 1,000 couples cost seconds per
    analysis. An immutable value can safely be shared instead. Written by hand because
    neither a plain ``dict`` (copied) nor ``types.MappingProxyType`` (which cannot be
    deep-copied or pickled) behaves this way. Values should be immutable too (strings,
    tuples).

    It is a ``dict`` (every mutating method refused) so that whatever serialises
    ``attrs`` as JSON keeps working: ``DataFrame.to_parquet`` stores ``attrs`` with
    ``json.dumps``, which refused the earlier ``Mapping`` class, so a loaded table could
    not be written to Parquet.

    Examples
    --------
    >>> import copy, json
    >>> m = SharedMapping({"c1": ("2026-01-05", "2026-01-12")})
    >>> copy.deepcopy(m) is m, m["c1"], json.dumps(m)
    (True, ('2026-01-05', '2026-01-12'), '{"c1": ["2026-01-05", "2026-01-12"]}')
    >>> m["c2"] = ("x", "y")
    Traceback (most recent call last):
    ...
    TypeError: SharedMapping is immutable: it does not support item assignment
    """

    __slots__ = ()

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(data or {})

    def _immutable(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{type(self).__name__} is immutable: it does not support item assignment")

    __setitem__ = __delitem__ = __ior__ = _immutable
    clear = pop = popitem = setdefault = update = _immutable

    def __eq__(self, other: object) -> bool:
        # identity first: pandas compares attrs when concatenating frames
        if other is self:
            return True
        return isinstance(other, Mapping) and dict(self) == dict(other.items())

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self)!r})"

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self

    def __reduce__(self) -> tuple[type[Self], tuple[dict[str, Any]]]:
        return (type(self), (dict(self),))


class TimezoneMap(SharedMapping):
    """An immutable couple id → IANA zone mapping, shared (not copied) by derived frames.

    The loader (and the simulator) store one in ``df.attrs["timezones"]``; accepted wherever
    a zone mapping is. See :class:`SharedMapping` for why.

    Examples
    --------
    >>> import copy
    >>> tz = TimezoneMap({"c1": "Europe/Amsterdam"})
    >>> copy.deepcopy(tz) is tz, tz["c1"], dict(tz)
    (True, 'Europe/Amsterdam', {'c1': 'Europe/Amsterdam'})
    """

    __slots__ = ()


def resolve_timezones(
    df: pd.DataFrame, timezone: str | Mapping[str, str] | None = None
) -> Mapping[str, str] | str:
    """Pick the zone(s) for ``df``: an explicit argument, else ``df.attrs``, else ``"UTC"``.

    A mapping (explicit or from ``attrs``) comes back as a :class:`TimezoneMap`, so frames
    that carry it on in their ``attrs`` share it instead of deep-copying it.
    """
    tz = timezone
    if tz is None:
        tz = df.attrs.get("timezones") if hasattr(df, "attrs") else None
        if not tz:
            return "UTC"
    if isinstance(tz, Mapping) and not isinstance(tz, TimezoneMap):
        return TimezoneMap(tz)
    return tz


def local_time(
    ts: pd.Series, couple_id: pd.Series, timezone: str | Mapping[str, str] = "UTC"
) -> pd.Series:
    """Naive local wall-clock times for UTC ``ts``, per couple zone (vectorised per zone).

    Examples
    --------
    >>> ts = pd.Series(pd.to_datetime(["2026-03-29T00:30:00Z"]))
    >>> local_time(ts, pd.Series(["c1"]), {"c1": "Europe/Amsterdam"}).iloc[0]
    Timestamp('2026-03-29 01:30:00')
    """
    ts = pd.to_datetime(ts, utc=True)
    if isinstance(timezone, str):
        return ts.dt.tz_convert(timezone).dt.tz_localize(None)
    # Zones looked up once per distinct couple and rows selected by position: the former
    # label-based ``.loc`` per zone dominated at millions of rows (same values).
    tz = dict(timezone)
    codes, names = pd.factorize(couple_id.astype(str), sort=False)
    zone_of_name = [str(tz.get(str(c), "UTC")) for c in names] + ["UTC"]
    zone_names, zone_of_code = np.unique(zone_of_name, return_inverse=True)
    zone_idx = zone_of_code[codes]  # code -1 (missing id) -> the trailing "UTC"
    utc = ts.dt.as_unit("ns").array.asi8
    out = np.full(len(ts), np.datetime64("NaT"), dtype="datetime64[ns]")
    for k, zone in enumerate(zone_names):  # a loop over the distinct IANA zones, not rows
        pos = np.flatnonzero(zone_idx == k)
        local = pd.DatetimeIndex(utc[pos].view("datetime64[ns]")).tz_localize("UTC")
        out[pos] = local.tz_convert(zone).tz_localize(None).to_numpy()
    return pd.Series(out, index=ts.index)


def diary_day(
    ts: pd.Series,
    couple_id: pd.Series,
    timezone: str | Mapping[str, str] = "UTC",
    *,
    cutoff_hour: int = DEFAULT_CUTOFF_HOUR,
    codes: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.Series:
    """The local diary day (midnight-normalised naive Timestamp) of each UTC time.

    A diary day runs from ``cutoff_hour`` local time to the same hour next day.

    Parameters
    ----------
    ts : Series
        UTC times.
    couple_id : Series
        The couple of each row (its zone, when ``timezone`` is a mapping).
    timezone : str or mapping
        One IANA zone, or couple id → zone (a couple without one: UTC).
    cutoff_hour : int
        Local hour at which a diary day starts (0–23).
    codes : (ndarray, ndarray), optional
        ``couple_id`` as int64 codes (−1 missing) into an array of its distinct values, as
        :func:`patterns._fast.codes` gives them, for a caller that has them already (the
        column is then not hashed again). Only read when ``timezone`` is a mapping.

    Returns
    -------
    Series
        Naive ``datetime64`` local midnights, on ``ts``'s index (NaT for NaT).

    Notes
    -----
    ``(local wall-clock time − cutoff_hour).normalize()``. Computed on int64 nanoseconds
    (:func:`patterns._eventcodes.local_day_ns`: one zone conversion per distinct zone, then
    integer floor division; about half the time) when ``ts`` is UTC in nanoseconds, the
    zones are a string or a mapping and, for a mapping, every row has a couple; otherwise
    on Timestamps through :func:`local_time`. Both routes are tested equal
    (tests/test_timeutil.py), and the days against ``tz_convert`` one row at a time.

    Examples
    --------
    >>> ts = pd.Series(pd.to_datetime(["2026-06-02T22:30:00Z", "2026-06-03T08:00:00Z"]))
    >>> diary_day(ts, pd.Series(["c1", "c1"]), {"c1": "Europe/Amsterdam"}).dt.strftime(
    ...     "%Y-%m-%d").tolist()
    ['2026-06-02', '2026-06-03']
    """
    # an integer hour (3.5 used to be cut to 3 by int())
    cutoff_hour = check_int(cutoff_hour, "cutoff_hour", func="diary_day", maximum=23)
    day = _integer_day(ts, couple_id, timezone, cutoff_hour, codes)
    return _wall_clock_day(ts, couple_id, timezone, cutoff_hour) if day is None else day


def _integer_day(
    ts: pd.Series,
    couple_id: pd.Series,
    timezone: Any,
    cutoff_hour: int,
    codes: tuple[np.ndarray, np.ndarray] | None,
) -> pd.Series | None:
    """:func:`diary_day` on int64 nanoseconds, or None when it does not apply (see there);
    the same values, index, name and dtype as :func:`_wall_clock_day`."""
    if not (
        isinstance(timezone, str | Mapping)
        and isinstance(ts.dtype, pd.DatetimeTZDtype)
        and str(ts.dtype.tz) == "UTC"
        and ts.dtype.unit == "ns"
    ):
        return None
    from patterns import _fast
    from patterns._eventcodes import local_day_ns

    if isinstance(timezone, str):  # one zone for every row, whatever its couple
        couple, names = np.zeros(len(ts), dtype=np.int64), np.array([timezone], dtype=object)
    else:
        couple, names = _fast.codes(couple_id) if codes is None else codes
        if (couple < 0).any():  # a row without a couple: local_time's rule for its zone
            return None
    ns = ts.array.asi8
    day = local_day_ns(ns, couple, names, timezone, cutoff_hour)
    nat = ns == np.iinfo(np.int64).min
    if nat.any():  # NaT in, NaT out (its integer arithmetic is meaningless)
        day[nat] = np.iinfo(np.int64).min
    # local_time keeps the name of one zone's tz_convert, not of its per-zone assembly
    name = ts.name if isinstance(timezone, str) else None
    return pd.Series(day.view("datetime64[ns]"), index=ts.index, name=name)


def _wall_clock_day(
    ts: pd.Series, couple_id: pd.Series, timezone: Any, cutoff_hour: int
) -> pd.Series:
    """:func:`diary_day` on Timestamps: :func:`local_time` minus the cutoff, normalised
    (any input; the reference the integer route is tested against)."""
    local = local_time(ts, couple_id, timezone)
    return (local - pd.Timedelta(hours=cutoff_hour)).dt.normalize()


def week_start(day: pd.Series) -> pd.Series:
    """The Monday (ISO week start) of each naive local day.

    Examples
    --------
    >>> week_start(pd.Series(pd.to_datetime(["2026-03-29", "2026-03-30"]))).dt.strftime(
    ...     "%Y-%m-%d").tolist()
    ['2026-03-23', '2026-03-30']
    """
    return day - pd.to_timedelta(day.dt.day_of_week, unit="D")
