"""Bids for connection and how they are answered (turning toward, away, against, missed).

A *bid* (``code == "bid"``) is one partner reaching for the other; the other partner answers
with ``toward``, ``away`` or ``against``. A response names its bid through ``bid_id``; without
one it answers the other partner's most recent unanswered bid. A bid with no response within
``window`` counts as *missed* (a form of turning away); a response after the window is
reported separately as *late*.

Examples
--------
>>> ev = schema.coerce_dtypes(pd.DataFrame({
...     "couple_id": "c1", "actor": ["p1", "p2", "p1", "p2", "p1"],
...     "ts": pd.to_datetime(["2026-01-05 18:00", "2026-01-05 18:01", "2026-01-06 18:00",
...                           "2026-01-06 18:02", "2026-01-07 09:00"], utc=True),
...     "code": ["bid", "toward", "bid", "away", "bid"]}), "events")
>>> turning_rates(ev)[["partner_label", "bids", "toward", "away", "missed", "share_toward"]]
  partner_label  bids  toward  away  missed  share_toward
0     Partner A     3       1     1       1      0.333333
1     Partner B     0       0     0       0           NaN
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from patterns import schema
from patterns.cycles import _check_confidence, _period_start, _wilson
from patterns.errors import check_option, option_error
from patterns.timeutil import DEFAULT_CUTOFF_HOUR, diary_day, resolve_timezones

__all__ = ["REFERENCE_SOURCE", "TURNING_TOWARD_REFERENCE", "match_responses", "turning_rates"]

#: Reference lines for the share of bids turned toward, as reported by Gottman and
#: colleagues in popular books (not found in the peer-reviewed paper): couples still together
#: six years later vs couples who had divorced. Context for a chart, never a norm or cut-off.
TURNING_TOWARD_REFERENCE: dict[str, float] = {
    "still together after six years": 0.86,
    "divorced within six years": 0.33,
}
#: How to cite :data:`TURNING_TOWARD_REFERENCE` wherever it is shown.
REFERENCE_SOURCE = "reported by Gottman and colleagues (popular-press figures, not a clinical norm)"

_KINDS = ("toward", "away", "against")


def _timedelta(value, param: str, func: str) -> pd.Timedelta:
    try:
        out = pd.Timedelta(value)
    except (TypeError, ValueError):
        raise option_error(param, func, "a duration such as '1h'", value) from None
    if pd.isna(out) or out <= pd.Timedelta(0):
        raise option_error(param, func, "a positive duration such as '1h'", value)
    return out


def match_responses(events: pd.DataFrame, *, passes: int = 3) -> pd.DataFrame:
    """Pair each bid with the response that answers it.

    Parameters
    ----------
    events : DataFrame
        Events in the data contract (``couple_id``, ``ts``, ``actor``, ``code``; ``bid_id``
        optional).
    passes : int
        Rounds of matching for responses without ``bid_id`` (see Notes).

    Returns
    -------
    DataFrame
        One row per bid, in couple and time order:

        - ``couple_id``, ``ts`` (of the bid), ``partner`` (who bid), ``receiver``.
        - ``response`` : ``toward``/``away``/``against``, missing when unanswered.
        - ``response_ts`` : time of the response (missing when unanswered).
        - ``latency_s`` : seconds from bid to response.
        - ``matched_by`` : ``bid_id``, ``recency`` or missing.

    Notes
    -----
    Responses carrying a ``bid_id`` are joined to the bid with that id made by the other
    partner of the same couple (the first such response counts). The others are matched
    with :func:`pandas.merge_asof` (``direction="backward"``, by couple and bidder) to the
    other partner's latest bid at or before the response that is still unanswered; when two
    responses land on the same bid the earlier keeps it and the later one is matched again
    among the remaining bids in the next pass (``passes`` rounds; a loop over passes, not
    over events). Responses still unmatched after that are ignored.

    Examples
    --------
    >>> ev = schema.coerce_dtypes(pd.DataFrame({"couple_id": "c1",
    ...     "actor": ["p1", "p1", "p2", "p2"],
    ...     "ts": pd.date_range("2026-01-05 18:00", periods=4, freq="1min", tz="UTC"),
    ...     "code": ["bid", "bid", "toward", "against"]}), "events")
    >>> match_responses(ev)[["response", "latency_s"]]
      response  latency_s
    0  against      180.0
    1   toward       60.0
    """
    func = "match_responses"
    schema.require_columns(events, ["couple_id", "ts", "actor", "code"], func=func)
    if not isinstance(passes, int) or isinstance(passes, bool) or passes < 1:
        raise option_error("passes", func, "a positive integer", passes)
    code = events["code"].astype(str).to_numpy()
    has_id = "bid_id" in events.columns
    bid_id = (
        events["bid_id"].astype(object).to_numpy()
        if has_id
        else np.full(len(events), None, dtype=object)
    )
    base = pd.DataFrame(
        {
            "couple_id": events["couple_id"].astype(str).to_numpy(),
            "ts": pd.to_datetime(events["ts"], utc=True).dt.as_unit("ns").reset_index(drop=True),
            "actor": events["actor"].astype(str).to_numpy(),
            "bid_id": pd.Series(bid_id, dtype=object).where(pd.notna(bid_id), None).to_numpy(),
        }
    )
    lo = base.groupby("couple_id")["actor"].transform("min")
    hi = base.groupby("couple_id")["actor"].transform("max")
    base["other"] = np.where(base["actor"] == lo, hi, lo)
    bids = base[code == "bid"].copy()
    bids["bid_row"] = np.arange(len(bids))
    resp = base[np.isin(code, _KINDS)].copy()
    resp["response"] = code[np.isin(code, _KINDS)]
    resp = resp.sort_values(["ts"], kind="stable")

    # 1) by bid_id (response by the other partner)
    with_id = resp[resp["bid_id"].notna()]
    by_id = pd.DataFrame({"bid_row": [], "ts": [], "response": []})
    if len(with_id):
        by_id = with_id.merge(
            bids[["couple_id", "bid_id", "actor", "bid_row"]].rename(columns={"actor": "bidder"}),
            left_on=["couple_id", "bid_id", "other"],
            right_on=["couple_id", "bid_id", "bidder"],
            how="inner",
        )
        by_id = by_id.sort_values("ts", kind="stable").drop_duplicates("bid_row")
    matches = [by_id.assign(matched_by="bid_id")[["bid_row", "ts", "response", "matched_by"]]]
    taken = set(by_id["bid_row"].tolist())

    # 2) by recency, for responses without a bid_id
    pending = resp[resp["bid_id"].isna()][["couple_id", "ts", "other", "response"]]
    pending = pending.rename(columns={"other": "bidder"}).reset_index(drop=True)
    pending["_rid"] = np.arange(len(pending))
    for _ in range(passes):
        if pending.empty:
            break
        free = bids[~bids["bid_row"].isin(taken)][["couple_id", "actor", "ts", "bid_row"]]
        if free.empty:
            break
        free = free.rename(columns={"actor": "bidder", "ts": "bid_ts"}).sort_values(
            "bid_ts", kind="stable"
        )
        hit = pd.merge_asof(
            pending.sort_values("ts", kind="stable"),
            free,
            left_on="ts",
            right_on="bid_ts",
            by=["couple_id", "bidder"],
            direction="backward",
        ).dropna(subset=["bid_row"])
        hit["bid_row"] = hit["bid_row"].astype(np.int64)
        hit = hit.sort_values("ts", kind="stable").drop_duplicates("bid_row")
        matches.append(
            hit.assign(matched_by="recency")[["bid_row", "ts", "response", "matched_by"]]
        )
        taken |= set(hit["bid_row"].tolist())
        pending = pending[~pending["_rid"].isin(hit["_rid"])]
    m = pd.concat(matches, ignore_index=True).rename(columns={"ts": "response_ts"})
    m = m.sort_values("response_ts", kind="stable").drop_duplicates("bid_row")
    out = bids.merge(m, on="bid_row", how="left").sort_values(["couple_id", "ts"], kind="stable")
    out["response_ts"] = pd.to_datetime(out["response_ts"], utc=True)
    out["ts"] = pd.to_datetime(out["ts"], utc=True)
    latency = (out["response_ts"] - out["ts"]).dt.total_seconds()
    return pd.DataFrame(
        {
            "couple_id": out["couple_id"].to_numpy(),
            "ts": out["ts"].to_numpy(),
            "partner": out["actor"].to_numpy(),
            "receiver": out["other"].to_numpy(),
            "response": out["response"].astype(object).to_numpy(),
            "response_ts": out["response_ts"].to_numpy(),
            "latency_s": latency.to_numpy(),
            "matched_by": out["matched_by"].astype(object).to_numpy(),
        }
    ).assign(
        ts=lambda d: pd.to_datetime(d["ts"], utc=True),
        response_ts=lambda d: pd.to_datetime(d["response_ts"], utc=True),
    )


def turning_rates(
    events: pd.DataFrame,
    *,
    period: str = "W",
    window: str | pd.Timedelta = "1h",
    confidence: float = 0.95,
    timezone: str | Mapping[str, str] | None = None,
    cutoff_hour: int = DEFAULT_CUTOFF_HOUR,
) -> pd.DataFrame:
    """Bids and how they were answered, per couple, bidding partner and local period.

    Parameters
    ----------
    events : DataFrame
        Events in the data contract.
    period : {"D", "W", "M"}
        Local diary day, ISO week starting Monday, or calendar month (of the bid).
    window : str or Timedelta
        A bid with no response within this long counts as missed.
    confidence : float
        Level of the Wilson intervals.
    timezone : str or dict, optional
        IANA zone(s); default ``events.attrs["timezones"]``, else UTC.
    cutoff_hour : int
        Local hour at which a diary day starts.

    Returns
    -------
    DataFrame
        One row per couple, partner and period in which either partner bid:

        - ``couple_id``, ``period_start`` (naive local date), ``partner`` (the bidder's id),
          ``partner_label`` (``Partner A``/``Partner B``).
        - ``bids`` : bids this partner made.
        - ``toward``, ``away``, ``against`` : those answered so within ``window``.
        - ``missed`` : those with no response within ``window`` (including late ones).
        - ``late`` : answered, but after ``window`` (counted in ``missed``).
        - ``share_toward``, ``share_away``, ``share_against``, ``share_missed`` : shares of
          ``bids``, each with ``*_ci_low``/``*_ci_high`` Wilson intervals.
        - ``median_latency_s`` : median seconds to a response within the window.
        - ``bids_received`` : bids the other partner made in the period.
        - ``toward_given`` : of those, how many this partner turned toward within window.

    Notes
    -----
    Responses are paired with bids by :func:`match_responses`. Each share ``k/n`` has the
    Wilson score interval ``(p̂ + z²/2n ± z sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)``
    computed by :func:`statsmodels.stats.proportion.proportion_confint` (``wilson``); the
    tests check it against that closed form and R's ``prop.test(k, n, correct = FALSE)``.
    Compare the toward share with :data:`TURNING_TOWARD_REFERENCE` only as context.

    Examples
    --------
    >>> ev = schema.coerce_dtypes(pd.DataFrame({"couple_id": "c1",
    ...     "actor": ["p1", "p2", "p2", "p1"],
    ...     "ts": pd.to_datetime(["2026-01-05 18:00", "2026-01-05 18:10",
    ...                           "2026-01-05 19:00", "2026-01-05 21:00"], utc=True),
    ...     "code": ["bid", "toward", "bid", "toward"]}), "events")
    >>> turning_rates(ev)[["partner", "bids", "toward", "missed", "late", "bids_received"]]
      partner  bids  toward  missed  late  bids_received
    0      p1     1       1       0     0              1
    1      p2     1       0       1     1              1
    """
    func = "turning_rates"
    schema.require_columns(events, ["couple_id", "ts", "actor", "code"], func=func)
    check_option("period", period, ["D", "W", "M"], func=func)
    win = _timedelta(window, "window", func)
    _check_confidence(confidence, func)
    bids = match_responses(events)
    zone = resolve_timezones(events, timezone)
    day = diary_day(bids["ts"], bids["couple_id"], zone, cutoff_hour=cutoff_hour)
    bids["period_start"] = _period_start(day, period)
    answered = bids["response"].notna() & (bids["latency_s"] <= win.total_seconds())
    kind = bids["response"].where(answered, "missed")
    for k in (*_KINDS, "missed"):
        bids[k] = (kind == k).astype("int64")
    bids["late"] = (bids["response"].notna() & ~answered).astype("int64")
    bids["lat_in"] = bids["latency_s"].where(answered)
    keys = ["couple_id", "period_start", "partner"]
    g = bids.groupby(keys, sort=True)
    made = g.agg(
        bids=("toward", "size"),
        toward=("toward", "sum"),
        away=("away", "sum"),
        against=("against", "sum"),
        missed=("missed", "sum"),
        late=("late", "sum"),
        median_latency_s=("lat_in", "median"),
    )
    got = bids.groupby(["couple_id", "period_start", "receiver"], sort=True).agg(
        bids_received=("toward", "size"), toward_given=("toward", "sum")
    )
    got.index = got.index.set_names(keys)
    # every couple's two partners in every period in which either bid
    couples = events["couple_id"].astype(str)
    actors = events["actor"].astype(str)
    pairs = pd.DataFrame({"couple_id": couples, "partner": actors}).drop_duplicates()
    periods = bids[["couple_id", "period_start"]].drop_duplicates()
    grid = periods.merge(pairs, on="couple_id").set_index(keys).index
    out = made.reindex(grid).join(got).reset_index()
    out = out.sort_values(keys, kind="stable").reset_index(drop=True)
    for c in (
        "bids",
        "toward",
        "away",
        "against",
        "missed",
        "late",
        "bids_received",
        "toward_given",
    ):
        out[c] = out[c].fillna(0).astype("int64")
    first = out.groupby("couple_id")["partner"].transform("min")
    out.insert(3, "partner_label", np.where(out["partner"] == first, "Partner A", "Partner B"))
    n = out["bids"].to_numpy()
    for k in (*_KINDS, "missed"):
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"share_{k}"] = np.where(n > 0, out[k] / np.where(n > 0, n, 1), np.nan)
        out[f"{k}_ci_low"], out[f"{k}_ci_high"] = _wilson(out[k], n, confidence)
    cols = [
        "couple_id",
        "period_start",
        "partner",
        "partner_label",
        "bids",
        *_KINDS,
        "missed",
        "late",
    ]
    for k in (*_KINDS, "missed"):
        cols += [f"share_{k}", f"{k}_ci_low", f"{k}_ci_high"]
    cols += ["median_latency_s", "bids_received", "toward_given"]
    return out[cols]
