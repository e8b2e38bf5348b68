"""Data-quality summaries for reports: why rows were quarantined, and how completely each
partner checked in.

Both are pure functions (tidy table in, tidy table out) used by the data-quality notebook.

Examples
--------
>>> import pandas as pd
>>> q = pd.DataFrame({"table": ["events", "events", "checkins"],
...                   "reason": ["duplicate", "duplicate", "bad_timestamp"]})
>>> quarantine_reasons(q)[["table", "reason", "rows"]].values.tolist()
[['checkins', 'bad_timestamp', 1], ['events', 'duplicate', 2]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from patterns._fast import wilson
from patterns.errors import check_fraction, option_error
from patterns.schema import QUARANTINE_REASONS, require_columns
from patterns.timeutil import DEFAULT_CUTOFF_HOUR, diary_day, resolve_timezones

__all__ = ["checkin_completion", "quarantine_reasons"]


def quarantine_reasons(quarantine: pd.DataFrame) -> pd.DataFrame:
    """Count quarantined rows per table and reason, with the reason's plain meaning.

    Parameters
    ----------
    quarantine : DataFrame
        ``Export.quarantine`` (needs ``table`` and ``reason``).

    Returns
    -------
    DataFrame
        One row per (table, reason), sorted by table then reason: ``table``, ``reason``,
        ``meaning`` (from :data:`patterns.schema.QUARANTINE_REASONS`; empty when the
        reason is not listed there), ``rows``. Empty (same columns) when nothing was
        quarantined. Never carries the quarantined rows' content.

    Notes
    -----
    A plain group-by count; tested against :class:`collections.Counter`.
    """
    require_columns(quarantine, ["table", "reason"], func="quarantine_reasons")
    counts = (
        quarantine.assign(
            table=quarantine["table"].astype("string"), reason=quarantine["reason"].astype("string")
        )
        .groupby(["table", "reason"], observed=True, sort=True)
        .size()
        .reset_index(name="rows")
    )
    counts["meaning"] = counts["reason"].map(QUARANTINE_REASONS).fillna("").astype("string")
    counts["rows"] = counts["rows"].astype("int64")
    return counts[["table", "reason", "meaning", "rows"]].reset_index(drop=True)


def checkin_completion(
    checkins: pd.DataFrame,
    *,
    start: Any = None,
    end: Any = None,
    partners: Mapping[str, Sequence[str]] | None = None,
    timezone: str | Mapping[str, str] | None = None,
    cutoff_hour: int = DEFAULT_CUTOFF_HOUR,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Share of diary days on which each partner checked in, with a Wilson interval.

    Parameters
    ----------
    checkins : DataFrame
        Check-ins (``couple_id``, ``partner``, ``ts``).
    start, end : date-like, optional
        First and last diary day of the period; default each couple's first and last day
        with any check-in.
    partners : mapping couple_id -> partner ids, optional
        Partners to report even when they never checked in (completion 0).
    timezone : str or mapping, optional
        Zone(s) for local diary days; default ``checkins.attrs["timezones"]``, else UTC.
    cutoff_hour : int
        Hour at which a diary day starts (see :func:`patterns.timeutil.diary_day`).
    confidence : float
        Level of the Wilson interval, in (0, 1).

    Returns
    -------
    DataFrame
        One row per couple and partner: ``couple_id``, ``partner``, ``first_day``,
        ``last_day``, ``days`` (diary days in the period), ``days_with_checkin``,
        ``completion`` (= days_with_checkin / days), ``ci_low``, ``ci_high``.

    Notes
    -----
    Several check-ins on one diary day count once. The interval is Wilson's score interval
    (:func:`patterns._fast.wilson`: statsmodels' ``proportion_confint(method="wilson")``
    arithmetic without importing statsmodels); tested against a few-line pandas count and
    statsmodels directly.

    Examples
    --------
    >>> ts = pd.to_datetime(["2026-01-01T12:00Z", "2026-01-01T20:00Z", "2026-01-03T12:00Z",
    ...                      "2026-01-02T12:00Z"])
    >>> ci = pd.DataFrame({"couple_id": ["c1"] * 4, "partner": ["a", "a", "a", "b"], "ts": ts})
    >>> checkin_completion(ci)[["partner", "days", "days_with_checkin", "completion"]]
      partner  days  days_with_checkin  completion
    0       a     3                  2    0.666667
    1       b     3                  1    0.333333
    """
    func = "checkin_completion"
    require_columns(checkins, ["couple_id", "partner", "ts"], func=func, table="checkins")
    confidence = check_fraction(confidence, "confidence", func=func)
    cols = [
        "couple_id",
        "partner",
        "first_day",
        "last_day",
        "days",
        "days_with_checkin",
        "completion",
        "ci_low",
        "ci_high",
    ]
    zones = resolve_timezones(checkins, timezone)
    df = checkins[["couple_id", "partner", "ts"]].dropna()
    day = diary_day(df["ts"], df["couple_id"], zones, cutoff_hour=cutoff_hour)
    days = pd.DataFrame(
        {
            "couple_id": df["couple_id"].astype(str).to_numpy(),
            "partner": df["partner"].astype(str).to_numpy(),
            "day": day.to_numpy(),
        }
    )
    lo = pd.Timestamp(start).normalize() if start not in (None, "") else None
    hi = pd.Timestamp(end).normalize() if end not in (None, "") else None
    if lo is not None and hi is not None and hi < lo:
        raise option_error("end", func, f"on or after start ({lo.date()})", str(hi.date()))
    if lo is not None:
        days = days[days["day"] >= lo]
    if hi is not None:
        days = days[days["day"] <= hi]
    span = days.groupby("couple_id")["day"].agg(["min", "max"])
    if lo is not None:
        span["min"] = lo
    if hi is not None:
        span["max"] = hi
    counted = (
        days.drop_duplicates()
        .groupby(["couple_id", "partner"])
        .size()
        .rename("days_with_checkin")
        .reset_index()
    )
    if partners:
        wanted = pd.DataFrame(
            [(str(c), str(p)) for c, ps in partners.items() for p in ps],
            columns=["couple_id", "partner"],
        )
        counted = wanted.merge(counted, how="outer", on=["couple_id", "partner"])
        counted["days_with_checkin"] = counted["days_with_checkin"].fillna(0)
    out = counted.merge(span, how="inner", left_on="couple_id", right_index=True)
    if out.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    out = out.rename(columns={"min": "first_day", "max": "last_day"})
    out["days"] = ((out["last_day"] - out["first_day"]).dt.days + 1).astype("int64")
    out["days_with_checkin"] = out["days_with_checkin"].astype("int64")
    out["completion"] = out["days_with_checkin"] / out["days"]
    out["ci_low"], out["ci_high"] = wilson(
        out["days_with_checkin"].to_numpy(), out["days"].to_numpy(), confidence
    )
    out = out.sort_values(["couple_id", "partner"], kind="stable")
    return out[cols].reset_index(drop=True)
