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

from patterns import _fast, schema
from patterns._eventcodes import (
    _DAY_NS,
    CODE,
    Encoded,
    encode,
    local_day_ns,
    period_start_ns,
    utc_from_ns,
)
from patterns.cycles import _wilson
from patterns.errors import (
    check_duration,
    check_fraction,
    check_int,
    check_option,
)
from patterns.timeutil import DEFAULT_CUTOFF_HOUR, resolve_timezones

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
_NAT = np.iinfo(np.int64).min  # pandas reads this int64 as NaT


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
    partner of the same couple (the earliest such bid; the first such response counts). The
    others are matched by a backward as-of join (as :func:`pandas.merge_asof` with
    ``direction="backward"``, by couple and bidder, would; done on sorted integer keys) to
    the other partner's latest bid at or before the response that is still unanswered; when two
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
    passes = check_int(passes, "passes", func=func, minimum=1)
    enc, b = _match(events, passes)
    answered = b["r_kind"] >= 0
    latency = np.where(answered, (b["r_ts"] - b["ts"]) / 1e9, np.nan)
    kinds = np.array([*_KINDS, None], dtype=object)
    how = np.array(["bid_id", "recency", None], dtype=object)
    return pd.DataFrame(
        {
            "couple_id": enc.couple_names[b["couple"]],
            "ts": utc_from_ns(b["ts"]),
            "partner": enc.actor_names[b["actor"]],
            "receiver": enc.actor_names[b["other"]],
            "response": kinds[b["r_kind"]],
            "response_ts": utc_from_ns(np.where(answered, b["r_ts"], _NAT)),
            "latency_s": latency,
            "matched_by": how[b["r_by"]],
        }
    )


def _match(events: pd.DataFrame, passes: int) -> tuple[Encoded, dict[str, np.ndarray]]:
    """Integer core of :func:`match_responses`: one entry per bid, ordered by couple, time.

    Written with sorted integer keys and :func:`numpy.searchsorted` instead of
    ``merge``/``merge_asof``: on millions of events the pandas joins spent most of their time
    re-factorizing keys; the logic is the same (a backward as-of match by couple and bidder).
    Only bids and responses are looked at, ranked by their positions in the (couple, time,
    row) order — or by their row positions when each couple's rows are one run in time
    order: every comparison is between rows of ONE couple, which either position ranks
    exactly as a global time rank would. Bids come out in (couple, time, row) order;
    responses are in an order that is time order within each couple.
    """
    enc = encode(events)
    n = len(enc.ts)
    n_act = max(len(enc.actor_names), 1)
    # what each code is here: 0 a bid, 1/2/3 toward/away/against, −1 anything else
    # (the last entry is for unknown codes, −1)
    role = np.full(len(CODE) + 1, -1, dtype=np.int8)
    role[CODE["bid"]] = 0
    for i, k in enumerate(_KINDS):
        role[CODE[k]] = i + 1
    row_role = role[enc.code]
    if enc.blocked():
        # each couple one run in time order (the loader's layout): row positions rank the
        # rows of a couple as the (couple, time, row) order does — no order of every row
        b_idx = enc.in_order(np.flatnonzero(row_role == 0))  # bids in the output order
        r_idx = np.flatnonzero(row_role > 0)  # responses in row order
        b_rank, r_rank = b_idx, r_idx
    else:
        every = enc.order()
        row_role = row_role[every]
        b_rank = np.flatnonzero(row_role == 0)  # positions in the order
        r_rank = np.flatnonzero(row_role > 0)
        b_idx, r_idx = every[b_rank], every[r_rank]  # bids, responses in that order
    b_couple, b_actor = enc.couple[b_idx], enc.actor[b_idx]
    b_other = enc.other_of(b_couple, b_actor)
    nb, nr = len(b_idx), len(r_idx)
    # the response (index into r_idx) that answers each bid, nr for none
    resp = np.full(nb, nr)
    by_id = np.zeros(nb, dtype=bool)
    if nb and nr:
        b_group = b_couple * n_act + b_actor  # (couple, bidder)
        r_couple = enc.couple[r_idx]
        r_group = r_couple * n_act + enc.other_of(r_couple, enc.actor[r_idx])  # (couple, partner)
        if "bid_id" in events.columns:
            b_key, r_key = _bid_keys(events["bid_id"], enc, b_idx, r_idx, b_rank, r_rank)
            _match_ids(b_key, r_key, b_group, r_group, resp)
            by_id = resp < nr
            pending = np.flatnonzero(r_key < 0)
        else:
            pending = np.arange(nr)
        _match_recency(b_group, b_rank, r_group, r_rank, n, pending, passes, resp)
    # each response's time and kind with one extra last entry for "none" (index nr): a
    # gather per bid instead of filling and masked scatters
    r_ts = np.concatenate([enc.ts[r_idx], [_NAT]])[resp]
    r_kind = np.concatenate([row_role[r_rank] - 1, [-1]]).astype(np.int64)[resp]
    r_by = np.where(resp < nr, np.where(by_id, 0, 1), -1)  # 0 by bid_id, 1 by recency
    return enc, {
        "couple": b_couple,
        "actor": b_actor,
        "other": b_other,
        "ts": enc.ts[b_idx],
        "r_ts": r_ts,
        "r_kind": r_kind,
        "r_by": r_by,
    }


#: rows per block of whole couples in which bid ids are hashed (see :func:`_bid_keys`)
_ID_BLOCK = 1 << 16


def _bid_keys(
    values: pd.Series,
    enc: Encoded,
    b_idx: np.ndarray,
    r_idx: np.ndarray,
    b_rank: np.ndarray,
    r_rank: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Integer keys of the bids' and the responses' ``bid_id`` that are equal exactly when
    the ids are equal within a couple (all the matching compares; missing → −1); unique
    across blocks, below the row count (what :func:`patterns._fast.codes_within` gives with
    ``distinct_blocks``).

    Hashed per block of about :data:`_ID_BLOCK` rows of whole couples (a hash table that
    stays in the CPU cache). When each couple's rows are one run (the usual export), the
    blocks are slices of the column itself; otherwise only the bids' and responses' ids
    are taken, in (couple, time) order (``*_rank`` are their positions in that order).
    Calls ``codes_within``'s core (:func:`patterns._fast.hash_blocks`) on just those ids,
    not ``codes_within`` itself, which takes every row's id in that order (0.11 -> 0.08 s
    at 1,000 couples in runs).
    """
    arrow = _fast._arrow_strings(values)
    if arrow is None:  # not Arrow strings: one table of every id (also valid)
        keys = _fast.codes_within(
            values, enc.couple, enc.order(), block=_ID_BLOCK, distinct_blocks=True
        )
        return keys[b_idx], keys[r_idx]
    if enc.run_starts is not None:
        keys = _fast.hash_blocks(arrow, enc.run_starts, _ID_BLOCK, distinct_blocks=True)
        return keys[b_idx], keys[r_idx]
    import pyarrow as pa

    n = len(enc.couple)
    wanted = np.zeros(n, dtype=bool)  # positions in the (couple, time, row) order
    wanted[b_rank] = True
    wanted[r_rank] = True
    pos = np.flatnonzero(wanted)
    rows = enc.order()[pos]
    couple = enc.couple[rows]
    starts = np.flatnonzero(np.r_[True, couple[1:] != couple[:-1]])
    key_at = np.empty(n, dtype=np.int64)
    key_at[pos] = _fast.hash_blocks(
        arrow.take(pa.array(rows)), starts, _ID_BLOCK, distinct_blocks=True
    )
    return key_at[b_rank], key_at[r_rank]


def _match_ids(b_key, r_key, b_group, r_group, resp) -> None:
    """Pair responses carrying a ``bid_id`` with the bid of that id made by the responder's
    partner (the earliest such bid, and the earliest such response per bid); writes the
    index of each bid's response into ``resp`` (which holds ``len(r_key)`` for none)."""
    kb = np.flatnonzero(b_key >= 0)
    r_with = np.flatnonzero(r_key >= 0)
    if len(kb) == 0 or len(r_with) == 0:
        return
    n_id = int(max(b_key.max(), r_key.max())) + 1
    # a direct table from id code to bid, valid when every id code names ONE bid (codes
    # are per block of whole couples, so an id repeated within a block shares a code):
    # the hits the sorted search finds, without sorting 1.4 M keys. A repeated code
    # shows as a bid whose table entry names another bid, whichever write won.
    table = np.full(n_id, -1)
    kb_key = b_key[kb]
    table[kb_key] = kb
    if np.array_equal(table[kb_key], kb):
        cand = table[r_key[r_with]]
        # a candidate −1 (no bid has the id) reads the last bid's group: masked by cand >= 0
        ok = (cand >= 0) & (b_group[cand] == r_group[r_with])
        hb, hr = cand[ok], r_with[ok]
    else:  # the first bid (in couple, time order) with the (bidder, id) key
        key = b_group[kb] * n_id + b_key[kb]
        kb = kb[np.argsort(key, kind="stable")]
        sorted_key = b_group[kb] * n_id + b_key[kb]
        want = r_group[r_with] * n_id + r_key[r_with]
        pos = np.searchsorted(sorted_key, want)
        ok = pos < len(kb)
        ok[ok] = sorted_key[pos[ok]] == want[ok]
        hb, hr = kb[pos[ok]], r_with[ok]
    # responses are in time order within a couple: each bid keeps its smallest index
    # (ufunc.at: O(n), no sort)
    np.minimum.at(resp, hb, hr)


def _match_recency(b_group, b_rank, r_group, r_rank, n, pending, passes, resp) -> None:
    """Pair responses without ``bid_id`` (``pending``) with the latest still-free bid of the
    responder's partner at or before them; when two land on the same bid the earlier
    response keeps it and the later tries again in the next pass (``passes`` rounds: a loop
    over passes, not over events). Writes into ``resp`` like :func:`_match_ids`."""
    nr = len(r_group)
    if len(pending) == 0:
        return
    # the free bids sorted by (group, rank) once: bids are in rank order, so a stable sort
    # by group alone does it; later passes only drop the bids taken (order kept)
    free = np.flatnonzero(resp == nr)
    free = free[np.argsort(b_group[free], kind="stable")]
    fkey = b_group[free] * (n + 1) + b_rank[free]
    for _ in range(passes):
        if len(pending) == 0 or len(free) == 0:
            break
        want = r_group[pending] * (n + 1) + r_rank[pending]
        pos = np.searchsorted(fkey, want, side="right") - 1
        ok = pos >= 0
        ok[ok] = fkey[pos[ok]] // (n + 1) == r_group[pending[ok]]
        hb, hr = free[pos[ok]], pending[ok]
        np.minimum.at(resp, hb, hr)  # free bids hold nr: each keeps its earliest response
        won = resp[hb] == hr
        matched = np.zeros(nr, dtype=bool)
        matched[hr[won]] = True
        pending = pending[~matched[pending]]
        still = resp[free] == nr
        free, fkey = free[still], fkey[still]


def _bid_periods(
    events: pd.DataFrame,
    period: str,
    window: pd.Timedelta,
    timezone: str | Mapping[str, str] | None,
    cutoff_hour: int,
) -> tuple[Encoded, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The matched bids (:func:`_match`), the local start (int64 ns) of each bid's period
    and whether it was answered within ``window``: the rule :func:`turning_rates` and
    ``couple_week_metrics``' bid columns both count by."""
    enc, b = _match(events, 3)
    zone = resolve_timezones(events, timezone)
    day = local_day_ns(b["ts"], b["couple"], enc.couple_names, zone, cutoff_hour)
    answered = (b["r_kind"] >= 0) & ((b["r_ts"] - b["ts"]) <= window.value)
    return enc, b, period_start_ns(day, period), answered


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
    computed in closed form (the arithmetic of statsmodels' ``proportion_confint``
    ``wilson``, without its 1.4 s import); the tests check it against statsmodels and R's
    ``prop.test(k, n, correct = FALSE)``.
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
    win = check_duration(window, "window", func=func, example="1h")
    confidence = check_fraction(confidence, "confidence", func=func)
    enc, b, period_ns, answered = _bid_periods(events, period, win, timezone, cutoff_hour)
    late = (b["r_kind"] >= 0) & ~answered
    kind = np.where(answered, b["r_kind"], 3)  # 0 toward, 1 away, 2 against, 3 missed
    frame = pd.DataFrame(
        {
            "couple": b["couple"],
            "period": period_ns,
            "actor": b["actor"],
            "other": b["other"],
            "toward": kind == 0,
            "away": kind == 1,
            "against": kind == 2,
            "missed": kind == 3,
            "late": late,
            "lat_in": np.where(answered, (b["r_ts"] - b["ts"]) / 1e9, np.nan),
        }
    )
    keys = ["couple", "period", "actor"]
    aggs = {
        "bids": ("toward", "size"),
        "toward": ("toward", "sum"),
        "away": ("away", "sum"),
        "against": ("against", "sum"),
        "missed": ("missed", "sum"),
        "late": ("late", "sum"),
        "median_latency_s": ("lat_in", "median"),
    }
    got_aggs = {"bids_received": ("toward", "size"), "toward_given": ("toward", "sum")}
    # every couple's partners in every period in which either of them bid: the distinct
    # (couple, actor) pairs of the encoding (drop_duplicates on two columns of millions of
    # rows was a tenth of this function); their order does not matter, rows are sorted below
    pair_couple, pair_actor = enc.pairs()
    pairs = pd.DataFrame({"couple": pair_couple, "actor": pair_actor})
    # (couple, period, actor) as ONE int64 key when it fits: pandas groups a single integer
    # column far faster than three (the groups, their rows and aggregates are the same)
    nc, na = len(enc.couple_names) + 1, len(enc.actor_names) + 1
    p0 = int(period_ns.min()) if len(period_ns) else 0
    n_per = (int(period_ns.max()) - p0) // _DAY_NS + 1 if len(period_ns) else 1
    if nc * n_per * na < 2**62:

        def key_of(c, per, a):
            c, per, a = (np.asarray(x, dtype=np.int64) for x in (c, per, a))
            return ((c + 1) * n_per + (per - p0) // _DAY_NS) * na + (a + 1)

        made = frame.groupby(key_of(b["couple"], period_ns, b["actor"]), sort=False).agg(**aggs)
        got = frame.groupby(key_of(b["couple"], period_ns, b["other"]), sort=False).agg(**got_aggs)
        pk = np.unique((b["couple"] + 1) * n_per + (period_ns - p0) // _DAY_NS)
        periods = pd.DataFrame({"couple": pk // n_per - 1, "period": pk % n_per * _DAY_NS + p0})
        grid = periods.merge(pairs, on="couple")[keys]
        gk = key_of(grid["couple"], grid["period"], grid["actor"])
        out = pd.concat(
            [
                grid.reset_index(drop=True),
                made.reindex(gk).reset_index(drop=True),
                got.reindex(gk).reset_index(drop=True),
            ],
            axis=1,
        ).sort_values(keys, kind="stable")
    else:  # astronomically many ids: the three-column groupby
        made = frame.groupby(keys, sort=False).agg(**aggs)
        got = frame.groupby(["couple", "period", "other"], sort=False).agg(**got_aggs)
        got.index = got.index.set_names(keys)
        periods = frame[["couple", "period"]].drop_duplicates()
        grid = pd.MultiIndex.from_frame(periods.merge(pairs, on="couple")[keys])
        out = made.reindex(grid).join(got).reset_index().sort_values(keys, kind="stable")
    out = out.reset_index(drop=True)
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
    first = out.groupby("couple")["actor"].transform("min")
    out["couple_id"] = enc.couple_names[out["couple"].to_numpy()]
    out["partner"] = enc.actor_names[out["actor"].to_numpy()]
    out["period_start"] = pd.to_datetime(out["period"].to_numpy().astype("datetime64[ns]"))
    out["partner_label"] = np.where(out["actor"] == first, "Partner A", "Partner B")
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
