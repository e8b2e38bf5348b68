"""Local time and diary days, shared by every analysis that buckets by day or period.

Inside the kit all timestamps are UTC. Days and weeks are *local*: each couple's IANA zone
comes from the manifest (``Export.timezones``, also attached to loaded frames as
``df.attrs["timezones"]``). A *diary day* starts at ``cutoff_hour`` local time, so with the
default cutoff of 4 an entry at 00:30 belongs to the previous day; a 23-hour spring-forward
day is still one diary day because days are computed on local wall-clock time.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

__all__ = ["DEFAULT_CUTOFF_HOUR", "diary_day", "local_time", "resolve_timezones"]

DEFAULT_CUTOFF_HOUR = 4


def resolve_timezones(
    df: pd.DataFrame, timezone: str | Mapping[str, str] | None = None
) -> Mapping[str, str] | str:
    """Pick the zone(s) for ``df``: an explicit argument, else ``df.attrs``, else ``"UTC"``."""
    if timezone is not None:
        return timezone
    tz = df.attrs.get("timezones") if hasattr(df, "attrs") else None
    return tz if tz else "UTC"


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
    out = pd.Series(pd.NaT, index=ts.index, dtype="datetime64[ns]")
    zones = couple_id.astype(str).map(dict(timezone)).fillna("UTC")
    for zone, idx in zones.groupby(zones, sort=False).groups.items():
        out.loc[idx] = ts.loc[idx].dt.tz_convert(zone).dt.tz_localize(None).to_numpy()
    return out


def diary_day(
    ts: pd.Series,
    couple_id: pd.Series,
    timezone: str | Mapping[str, str] = "UTC",
    *,
    cutoff_hour: int = DEFAULT_CUTOFF_HOUR,
) -> pd.Series:
    """The local diary day (midnight-normalised naive Timestamp) of each UTC time.

    A diary day runs from ``cutoff_hour`` local time to the same hour next day.

    Examples
    --------
    >>> ts = pd.Series(pd.to_datetime(["2026-06-02T22:30:00Z", "2026-06-03T08:00:00Z"]))
    >>> diary_day(ts, pd.Series(["c1", "c1"]), {"c1": "Europe/Amsterdam"}).dt.strftime(
    ...     "%Y-%m-%d").tolist()
    ['2026-06-02', '2026-06-03']
    """
    if not 0 <= int(cutoff_hour) <= 23:
        raise ValueError(f"diary_day: cutoff_hour must be in 0..23; got {cutoff_hour!r}.")
    local = local_time(ts, couple_id, timezone)
    return (local - pd.Timedelta(hours=int(cutoff_hour))).dt.normalize()
