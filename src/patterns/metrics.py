"""The couple-week table a researcher takes away, its codebook, and dyadic daily layouts.

:func:`couple_week_metrics` applies the pure one-couple function :func:`couple_metrics` to
each couple and stacks the results. Every per-couple number depends only on that couple's
rows, so any engine that maps :func:`couple_metrics` over couples (e.g. Dask) gets the
identical table.

Partner columns use the suffixes ``_a`` and ``_b``: ``a`` is the first of the couple's two
partner ids in sorted order (the same partner the reports call "Partner A"); the ids are in
``partner_a`` / ``partner_b``.

Examples
--------
>>> from patterns.simulate import simulate_export
>>> sim = simulate_export(couples=1, days=21, seed=2, archetypes=["secure"])
>>> table = couple_week_metrics(sim)
>>> table[["iso_week", "checkins", "days_observed"]].to_dict("records")[:2]
[{'iso_week': 2, 'checkins': 13, 'days_observed': 7},
 {'iso_week': 3, 'checkins': 13, 'days_observed': 7}]
>>> set(table.columns) == set(metrics_codebook()["column"])
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from patterns import _fast, schema
from patterns._eventcodes import _DAY_NS, local_day_ns, period_start_ns
from patterns.errors import check_int, check_option, option_error
from patterns.timeutil import DEFAULT_CUTOFF_HOUR, resolve_timezones, week_start

__all__ = [
    "couple_metrics",
    "couple_week_metrics",
    "dyadic_daily",
    "metrics_codebook",
    "metrics_partition",
    "write_metrics",
]

#: Intensity (0–1) at or above which a conflict counts as escalated (as in thresholds.yaml).
_BODY_MIN = 2.0  # a body signal "present" on a day when rated at least 2 on its 0–4 scale

# column -> (meaning, unit, method). Order = column order of the table.
_CODEBOOK: dict[str, tuple[str, str, str]] = {
    "couple_id": ("pseudonymous couple id", "id", "from the export"),
    "week_start": ("local Monday that starts the ISO week", "date", "diary day − weekday"),
    "iso_year": ("ISO year of the week", "year", "ISO 8601 calendar"),
    "iso_week": ("ISO week number", "week", "ISO 8601 calendar"),
    "partner_a": ("id of partner a (first in sorted order)", "id", "sorted partner ids"),
    "partner_b": ("id of partner b", "id", "sorted partner ids"),
    "days_observed": ("diary days with at least one check-in", "days", "count"),
    "checkins": ("check-in rows", "count", "count"),
    "checkins_a": ("check-ins by partner a", "count", "count"),
    "checkins_b": ("check-ins by partner b", "count", "count"),
    "connection_a": ("mean daily connection, partner a", "0–10", "mean of daily means"),
    "connection_b": ("mean daily connection, partner b", "0–10", "mean of daily means"),
    "connection_couple": (
        "mean daily couple connection (days both rated)",
        "0–10",
        "mean over days of the two partners' daily means",
    ),
    "stress_a": ("mean daily stress, partner a", "0–10", "mean of daily means"),
    "stress_b": ("mean daily stress, partner b", "0–10", "mean of daily means"),
    "lonely_a": ("mean daily loneliness, partner a", "0–10", "mean of daily means"),
    "lonely_b": ("mean daily loneliness, partner b", "0–10", "mean of daily means"),
    "supported_a": ("mean daily feeling supported, partner a", "0–10", "mean of daily means"),
    "supported_b": ("mean daily feeling supported, partner b", "0–10", "mean of daily means"),
    "intimacy_comfort_a": (
        "mean comfort with physical intimacy, partner a",
        "0–10",
        "mean of daily means",
    ),
    "intimacy_comfort_b": (
        "mean comfort with physical intimacy, partner b",
        "0–10",
        "mean of daily means",
    ),
    "time_together_min": (
        "mean daily time together reported (both partners)",
        "minutes",
        "mean over partner-days",
    ),
    "lonely_together_days_a": (
        "days partner a felt lonely despite above-median time together",
        "days",
        "patterns.trends.lonely_together_days",
    ),
    "lonely_together_days_b": (
        "days partner b felt lonely despite above-median time together",
        "days",
        "patterns.trends.lonely_together_days",
    ),
    "bids_a": ("bids for connection made by partner a", "count", "patterns.bids.turning_rates"),
    "bids_b": ("bids for connection made by partner b", "count", "patterns.bids.turning_rates"),
    "toward_share_a": (
        "share of partner a's bids that partner b turned toward",
        "share 0–1",
        "toward / bids (turning_rates)",
    ),
    "toward_share_b": (
        "share of partner b's bids that partner a turned toward",
        "share 0–1",
        "toward / bids (turning_rates)",
    ),
    "toward_share": ("share of all bids turned toward", "share 0–1", "Σ toward / Σ bids"),
    "episodes": (
        "pursue–withdraw episodes starting in the week",
        "count",
        "patterns.cycles.pursue_withdraw_episodes (min_rounds 2, max_gap 2h)",
    ),
    "pursuer_share_a": (
        "share of the week's episodes in which partner a pursued",
        "share 0–1",
        "episodes with pursuer a / episodes (NaN without episodes)",
    ),
    "conflicts": ("conflicts in the week", "count", "patterns.topics.conflict_log"),
    "escalated": ("conflicts with intensity ≥ 0.6", "count", "conflict_log intensity"),
    "repair_share": (
        "share of conflicts marked repaired",
        "share 0–1",
        "repaired / conflicts with a repaired answer",
    ),
    "resurfaced": (
        "conflicts whose previous conflict on the same topic was marked repaired",
        "count",
        "per couple and topic in time order (topic_recurrence's rule)",
    ),
    "body_signal_days_a": (
        "days partner a rated any body signal ≥ 2 (of 0–4)",
        "days",
        "tension, urge_withdraw, overwhelmed, blank",
    ),
    "body_signal_days_b": (
        "days partner b rated any body signal ≥ 2 (of 0–4)",
        "days",
        "tension, urge_withdraw, overwhelmed, blank",
    ),
    "protective_days_a": (
        "days partner a noticed a protective response",
        "days",
        "self_reliant, critical or shutdown true",
    ),
    "protective_days_b": (
        "days partner b noticed a protective response",
        "days",
        "self_reliant, critical or shutdown true",
    ),
    "pursued_days_a": ("days partner a reported pursuing", "days", "self-report `pursued`"),
    "pursued_days_b": ("days partner b reported pursuing", "days", "self-report `pursued`"),
    "withdrew_days_a": ("days partner a reported withdrawing", "days", "self-report `withdrew`"),
    "withdrew_days_b": ("days partner b reported withdrawing", "days", "self-report `withdrew`"),
}
_COLUMNS = list(_CODEBOOK)
_KEY = ["couple_id", "week_start"]
#: largest dense (couple, week) grid counted by np.bincount (else np.unique of the keys)
_DENSE_CELLS = 4_000_000


def metrics_codebook() -> pd.DataFrame:
    """The codebook of :func:`couple_week_metrics`: one row per column.

    Returns
    -------
    DataFrame
        ``column``, ``meaning``, ``unit``, ``method``.

    Examples
    --------
    >>> metrics_codebook().query("column == 'toward_share'")["unit"].item()
    'share 0–1'
    """
    return pd.DataFrame(
        [(c, *v) for c, v in _CODEBOOK.items()], columns=["column", "meaning", "unit", "method"]
    )


def _partner_roles(
    events: pd.DataFrame,
    checkins: pd.DataFrame,
    couples: Sequence[str],
    partners: Mapping[str, Sequence[str]] | None,
    func: str,
) -> pd.DataFrame:
    """``couple_id``, ``partner_a``, ``partner_b``: the two ids of each couple, sorted.

    Ids come from ``partners`` when given for a couple, else from the rows (partner and
    actor ids). A couple with one id gets ``""`` as partner b; more than two is an error.
    """
    partners = dict(partners or {})
    # distinct pairs first (integer codes of the two columns), then str: never a Python
    # pass over every row (a two-column drop_duplicates on Arrow strings took 0.2 s)
    seen = pd.concat([_checkin_pairs(checkins), _event_pairs(events)], ignore_index=True)
    seen = seen.astype(str).drop_duplicates()
    seen = seen[~seen["couple_id"].isin([c for c in couples if partners.get(c) is not None])]
    listed = [(c, str(p)) for c in couples if partners.get(c) is not None for p in partners[c]]
    ids = pd.concat(
        [seen, pd.DataFrame(listed, columns=["couple_id", "p"], dtype=object)], ignore_index=True
    ).astype(str)
    ids = ids.drop_duplicates().sort_values(["couple_id", "p"], ignore_index=True)
    n = ids.groupby("couple_id")["p"].transform("size")
    if (n > 2).any():
        bad = ids[n > 2]
        first = bad["couple_id"].iloc[0]
        raise option_error(
            "partners", func, "two partner ids", bad.loc[bad["couple_id"] == first, "p"].tolist()
        )
    k = ids.groupby("couple_id").cumcount()
    roles = ids.assign(k=k).pivot(index="couple_id", columns="k", values="p")
    roles = roles.reindex(columns=[0, 1]).fillna("")
    roles.columns = ["partner_a", "partner_b"]
    return roles.reindex(list(couples)).fillna("").reset_index()


def _distinct_pairs(couple: pd.Series, who: pd.Series) -> pd.DataFrame:
    """The distinct (couple, id) pairs of two columns, missing values dropped, in order of
    first appearance (= ``DataFrame.dropna().drop_duplicates()`` on the two columns)."""
    return _coded_pairs(*_fast.codes(couple), *_fast.codes(who))


def _coded_pairs(c: np.ndarray, cu: np.ndarray, w: np.ndarray, wu: np.ndarray) -> pd.DataFrame:
    """:func:`_distinct_pairs` of two coded columns (codes ``c``/``w`` into names
    ``cu``/``wu``, −1 missing); any numbering of the codes gives the same pairs."""
    ok = np.flatnonzero((c >= 0) & (w >= 0))
    _, first = np.unique(c[ok] * max(len(wu), 1) + w[ok], return_index=True)
    rows = ok[np.sort(first)]
    return pd.DataFrame({"couple_id": cu[c[rows]], "p": wu[w[rows]]})


def _shared_checkin_codes(checkins: pd.DataFrame) -> tuple | None:
    """The check-ins' sorted couple/partner codes shared with the daily table
    (:func:`patterns.trends._checkin_codes`) inside ``couple_week_metrics``, when both
    columns are strings (so its ``astype("string")`` changes no value); else None."""
    if not (
        _fast.sharing()
        and {"couple_id", "partner"} <= set(checkins.columns)
        and isinstance(checkins["couple_id"].dtype, pd.StringDtype)
        and isinstance(checkins["partner"].dtype, pd.StringDtype)
    ):
        return None
    from patterns import trends

    return trends._checkin_codes(checkins)


def _checkin_pairs(checkins: pd.DataFrame) -> pd.DataFrame:
    """Distinct (couple, partner) pairs of the check-ins (:func:`_distinct_pairs`), from the
    shared codes when there are any (the same pairs: codes only name the values)."""
    shared = _shared_checkin_codes(checkins)
    if shared is None:
        return _distinct_pairs(checkins["couple_id"], checkins["partner"])
    return _coded_pairs(*shared)


def _event_pairs(events: pd.DataFrame) -> pd.DataFrame:
    """Distinct (couple, actor) pairs of the events from their integer encoding (computed
    once per ``couple_week_metrics`` call and shared with bids and cycles); the order of
    the pairs does not matter (the ids are sorted afterwards)."""
    if not {"couple_id", "actor"} <= set(events.columns) or events.empty:
        return pd.DataFrame({"couple_id": [], "p": []}, dtype=object)
    if not {"code", "ts"} <= set(events.columns):
        return _distinct_pairs(events["couple_id"], events["actor"])
    from patterns._eventcodes import encode

    enc = encode(events)
    c, a = enc.pairs()
    ok = (c >= 0) & (a >= 0)  # dropna
    return pd.DataFrame({"couple_id": enc.couple_names[c[ok]], "p": enc.actor_names[a[ok]]})


def _role_of(
    couple: np.ndarray,
    actor: np.ndarray,
    couple_names: np.ndarray,
    actor_names: np.ndarray,
    roles: pd.DataFrame,
) -> np.ndarray:
    """Role code per row (0 = a, 1 = b, 2 = neither) of encoded (couple, actor) codes:
    the partner_a/partner_b comparison done once per couple on integer codes.

    Codes index their names the way numpy does (−1 = the last name), as the analyses'
    outputs did when their names were looked up with these codes.
    """
    nc, na = len(couple_names), len(actor_names)
    r = roles.set_index("couple_id")
    code_of = {str(a): i for i, a in enumerate(actor_names)}
    cn = pd.Series(np.asarray(couple_names, dtype=object)).astype(str)
    a_code = np.array([code_of.get(x, -2) for x in cn.map(r["partner_a"]).fillna("")])
    b_code = np.array([code_of.get(x, -2) for x in cn.map(r["partner_b"]).fillna("")])
    c = np.where(couple < 0, couple + nc, couple)
    a = np.where(actor < 0, actor + na, actor)
    a_r = a_code[c] if nc else np.full(len(c), -2)
    b_r = b_code[c] if nc else np.full(len(c), -2)
    return np.where(a == a_r, 0, np.where(a == b_r, 1, 2))


def _week_cells(couple: np.ndarray, week_ns: np.ndarray, n_couples: int):
    """Integer (couple, week) cell of each row: ``(cell, n_cells, cell_couple, cell_week)``.

    Dense ``couple * n_weeks + week`` when that grid is small (the usual case: ``np.bincount``
    over it needs no sort); otherwise the distinct keys by ``np.unique`` (a week far from
    the others must not allocate a grid of every week in between).
    """
    w0 = int(week_ns.min()) if len(week_ns) else 0
    wk = (week_ns - w0) // (7 * _DAY_NS)
    n_w = int(wk.max()) + 1 if len(wk) else 1
    key = couple * n_w + wk
    if n_couples * n_w <= _DENSE_CELLS:
        cells = np.arange(n_couples * n_w)
        cell = key
    else:
        cells, cell = np.unique(key, return_inverse=True)
        cell = cell.reshape(-1)
    return cell, len(cells), cells // n_w, w0 + cells % n_w * 7 * _DAY_NS


def _checkin_weeks(
    ci: pd.DataFrame,
    day: pd.Series,
    values: Mapping[str, Any],
    roles: pd.DataFrame,
    *,
    couple_rows: bool,
    lonely: bool,
) -> _Cells:
    """The check-in columns per (couple, week) from ONE daily partner table
    (:func:`patterns.trends._daily_core`: a row per couple, partner and diary day).

    Every value is the same pandas aggregation of the same rows in the same order as the
    former (couple_id, week_start, role) string groupbys, widened by unstack, were: sums of
    counts and 0/1 day flags by ``np.bincount`` (exact: integers), means by one pandas
    ``groupby(...).mean()`` on an integer (couple, week, role) key (its compensated
    summation, same rows, same order), then scattered into the ``_a``/``_b`` columns by
    role; role ``x`` (an id neither listed partner) keeps its weeks, not its values.
    ``couple_rows``/``lonely``: add ``connection_couple`` (the couple rows of
    :func:`patterns.trends.daily_connection`: mean of the two partners' daily means on days
    both rated, then the week's mean) and ``lonely_together_days_a/_b``
    (:func:`patterns.trends.lonely_together_days`' flags: time together above the partner's
    median and lonely ≥ or connection ≤ the thresholds).
    """
    from patterns import trends

    means, n, cc, cpl_names, pc, par_names, day_values = trends._daily_core(ci, day, values)
    if not len(n):
        return _NO_CELLS
    col = {c: means[c].to_numpy() for c in means.columns}
    day_ns = np.asarray(day_values).astype("datetime64[ns]").view(np.int64)
    cell, n_cells, cell_couple, cell_week = _week_cells(
        cc, period_start_ns(day_ns, "W"), len(cpl_names)
    )
    role = _role_of(cc, pc, cpl_names, par_names, roles)
    rc = cell * 3 + role

    def by_role(weights: np.ndarray | None, rows: np.ndarray | None = None) -> np.ndarray:
        k, w = (rc, weights) if rows is None else (rc[rows], weights[rows])
        return np.bincount(k, weights=w, minlength=n_cells * 3).reshape(n_cells, 3)

    def mean_by(key: np.ndarray, frame: dict[str, np.ndarray], size: int) -> dict:
        # pandas' grouped mean, scattered to a dense array per column. sort=True numbers the
        # groups as the former string groupby did (keys sort like the strings): pandas 3.1's
        # grouped mean is not bit-for-bit independent of the numbering and count of the
        # groups (seen: its compensated sum differed in the last bit), so it gets the same
        # numbering and groups as before
        g = pd.DataFrame(frame).groupby(key, sort=True).mean()
        at = g.index.to_numpy()
        res = {}
        for c in g.columns:
            res[c] = np.full(size, np.nan)
            res[c][at] = g[c].to_numpy()
        return res

    seen = np.flatnonzero(np.bincount(cell, minlength=n_cells))
    out: dict[str, np.ndarray] = {}
    # distinct diary days per week (over both partners)
    span = (int(day_ns.max()) - int(day_ns.min())) // _DAY_NS + 1
    cd = cc * span + (day_ns - int(day_ns.min())) // _DAY_NS  # (couple, day)
    first_cd = np.unique(cd, return_index=True)[1]
    out["days_observed"] = np.bincount(cell[first_cd], minlength=n_cells)[seen]
    out["checkins"] = np.bincount(cell, weights=n, minlength=n_cells)[seen]
    out["time_together_min"] = mean_by(cell, {"t": col["time_together_min"]}, n_cells)["t"][seen]
    sums = {
        "checkins": n,
        "body_signal_days": col["_body"] > 0,
        "protective_days": col["_protective"] > 0,
        "pursued_days": col["_pursued"] > 0,
        "withdrew_days": col["_withdrew"] > 0,
    }
    for name, w in sums.items():
        t = by_role(np.asarray(w, dtype=float))
        out[f"{name}_a"], out[f"{name}_b"] = t[seen, 0], t[seen, 1]
    mean_cols = ["connection", "stress", "lonely", "supported", "intimacy_comfort"]
    m = mean_by(rc, {c: col[c] for c in mean_cols}, n_cells * 3)
    for c in mean_cols:
        out[f"{c}_a"], out[f"{c}_b"] = m[c][seen * 3], m[c][seen * 3 + 1]
    if couple_rows:
        # days both partners rated: couple-day groups of exactly two rated partner rows
        rated = np.flatnonzero(~np.isnan(col["connection"]))
        g = pd.Series(col["connection"][rated]).groupby(cd[rated], sort=True)
        both = g.agg(["mean", "size"])
        two = both["size"].to_numpy() == 2
        day_cell = cell[rated][np.unique(cd[rated], return_index=True)[1]][two]
        cm = mean_by(day_cell, {"c": both["mean"].to_numpy()[two]}, n_cells)["c"]
        out["connection_couple"] = cm[seen]
    if lonely:
        lo_min, co_max = trends._lonely_thresholds(None, None, "lonely_together")
        ttm = col["time_together_min"]
        has = np.flatnonzero(~np.isnan(ttm))
        pair = cc[has] * max(len(par_names), 1) + pc[has]
        median = pd.Series(ttm[has]).groupby(pair).transform("median").to_numpy()
        flag = (ttm[has] > median) & (
            (col["lonely"][has] >= lo_min) | (col["connection"][has] <= co_max)
        )
        w = np.zeros(len(n))
        w[has] = flag
        t = by_role(w)
        out["lonely_together_days_a"] = t[seen, 0]
        out["lonely_together_days_b"] = t[seen, 1]
    return _Cells(cpl_names, cell_couple[seen], cell_week[seen], out)


def _conflict_keys_complete(cl: pd.DataFrame) -> bool:
    """True when every conflict has a couple, a UTC time and a diary day."""
    return bool(
        cl["couple_id"].notna().all()
        and isinstance(cl["ts"].dtype, pd.DatetimeTZDtype)
        and cl["ts"].notna().all()
        and cl["day"].notna().all()
    )


def _conflict_weeks(cl: pd.DataFrame) -> _Cells:
    """``conflicts``, ``escalated``, ``repair_share`` and ``resurfaced`` per (couple, week)
    of a conflict log with complete keys, by ``np.bincount`` on integer cells.

    ``resurfaced``: the previous conflict (in time order, ties in log order) of the same
    couple and topic was marked repaired — what a stable ``sort_values("ts")`` and a
    grouped ``shift(1)`` computed, from a stable sort of the time-ordered rows by (couple,
    topic) codes. All values are integer counts or their ratio, so the sums are exact.
    """
    cc, names = _fast.codes(cl["couple_id"].astype(str), sort=True)
    tc, tnames = _fast.codes(cl["topic"])
    by_time = np.argsort(cl["ts"].dt.as_unit("ns").array.asi8, kind="stable")
    rep = cl["repaired"].astype("boolean")
    rep_true = rep.fillna(False).to_numpy(dtype=bool)
    group = cc[by_time] * (len(tnames) + 1) + (tc[by_time] + 1)
    o = np.argsort(group, kind="stable")
    runs, g = by_time[o], group[o]  # rows of each (couple, topic) in time order
    same = np.r_[False, g[1:] == g[:-1]]
    resurfaced = np.zeros(len(cl), dtype=bool)
    resurfaced[runs[same]] = rep_true[runs[np.flatnonzero(same) - 1]]
    day_ns = cl["day"].to_numpy().astype("datetime64[ns]").view(np.int64)
    cell, n_cells, cell_couple, cell_week = _week_cells(
        cc, period_start_ns(day_ns, "W"), len(names)
    )

    def count(w: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(cell, weights=w, minlength=n_cells)

    escalated = cl["intensity"].to_numpy(float, na_value=np.nan) >= 0.6

    n = count()
    seen = np.flatnonzero(n)
    answered = count(rep.notna().to_numpy(dtype=float))[seen]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(answered > 0, count(rep_true.astype(float))[seen] / answered, np.nan)
    return _Cells(
        names,
        cell_couple[seen],
        cell_week[seen],
        {
            "conflicts": n[seen].astype(np.int64),
            "escalated": count(escalated.astype(float))[seen],
            "repair_share": share,
            "resurfaced": count(resurfaced.astype(float))[seen],
        },
    )


def _bid_weeks(ev: pd.DataFrame, tz: Any, cutoff_hour: int, roles: pd.DataFrame) -> _Cells:
    """``bids_a/_b`` and ``toward_share_a/_b``/``toward_share`` per (couple, week): the sums
    of :func:`patterns.bids.turning_rates` (``period="W"``, ``window="1h"``) rows per role,
    counted from the same matched bids (:func:`patterns.bids._bid_periods`) by ``np.bincount``
    on integer (couple, week, role) cells instead of building its per-partner frame
    (medians, Wilson intervals and a three-key aggregate the table never uses: 0.3 s)."""
    from patterns.bids import _bid_periods

    schema.require_columns(ev, ["couple_id", "ts", "actor", "code"], func="turning_rates")
    enc, b, week, answered = _bid_periods(ev, "W", pd.Timedelta("1h"), tz, cutoff_hour)
    nc = len(enc.couple_names)
    couple = np.where(b["couple"] < 0, b["couple"] + nc, b["couple"])  # names[-1] is the last
    cell, n_cells, cell_couple, cell_week = _week_cells(couple, week, nc)
    role = _role_of(b["couple"], b["actor"], enc.couple_names, enc.actor_names, roles)
    toward = answered & (b["r_kind"] == 0)
    rc = cell * 3 + role
    bids = np.bincount(rc, minlength=n_cells * 3).reshape(n_cells, 3)
    tw = np.bincount(rc[toward], minlength=n_cells * 3).reshape(n_cells, 3)
    seen = np.flatnonzero(bids.sum(axis=1))  # the weeks in which either partner bid
    ba, bb = bids[seen, 0], bids[seen, 1]
    ta, tb = tw[seen, 0], tw[seen, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return _Cells(
            enc.couple_names,
            cell_couple[seen],
            cell_week[seen],
            {
                "bids_a": ba,
                "bids_b": bb,
                "toward_share_a": ta / ba,
                "toward_share_b": tb / bb,
                "toward_share": (ta + tb).astype(float) / (ba + bb).astype(float),
            },
        )


def _episode_weeks(ev: pd.DataFrame, tz: Any, cutoff_hour: int, roles: pd.DataFrame) -> _Cells:
    """``episodes`` and ``pursuer_share_a`` per (couple, week) of the episodes'
    local start day: :func:`patterns.cycles.pursue_withdraw_episodes` (defaults) counted
    from its integer core (:func:`patterns.cycles._episode_runs`: each episode's couple,
    start and pursuer), without its topics, intensities and frame (0.25 s at 1,000
    couples) — the same episodes, so the same counts; the share is ``count_a / count``,
    what a grouped mean of the 0/1 pursuer-is-a column computed."""
    from patterns.cycles import _episode_runs

    schema.require_columns(
        ev, ["couple_id", "ts", "actor", "code"], func="pursue_withdraw_episodes"
    )
    r = _episode_runs(ev, 2, pd.Timedelta("2h"))
    if r is None:
        return _NO_CELLS
    start = r.first_round[np.flatnonzero(r.keep_run)]
    enc, couple, actor = r.enc, r.couple[start], r.actor[start]
    day = local_day_ns(r.tsv[start], couple, enc.couple_names, tz, cutoff_hour)
    cell, n_cells, cell_couple, cell_week = _week_cells(
        couple, period_start_ns(day, "W"), len(enc.couple_names)
    )
    is_a = _role_of(couple, actor, enc.couple_names, enc.actor_names, roles) == 0
    n = np.bincount(cell, minlength=n_cells)
    n_a = np.bincount(cell[is_a], minlength=n_cells)
    seen = np.flatnonzero(n)
    return _Cells(
        enc.couple_names,
        cell_couple[seen],
        cell_week[seen],
        {"episodes": n[seen], "pursuer_share_a": n_a[seen] / n[seen]},
    )


@dataclass(frozen=True)
class _Cells:
    """One part of the table: values per (couple, week) cell, on integer keys.

    ``names`` are couple names indexed by ``couple`` (each cell's couple code), ``week``
    each cell's local week start (int64 ns of the naive Monday), ``columns`` the values
    per cell. :meth:`frame` is the same as a frame on the string (``couple_id``,
    ``week_start``) index, which the parts returned before (kept for the general path and
    for tests).
    """

    names: np.ndarray
    couple: np.ndarray
    week: np.ndarray
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.couple)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.columns, index=_cell_index(self.names, self.couple, self.week))

    @classmethod
    def of_frame(cls, frame: pd.DataFrame) -> _Cells:
        """Cells of a frame on the (``couple_id``, ``week_start``) index."""
        couple, names = pd.factorize(frame.index.get_level_values("couple_id"))
        week = frame.index.get_level_values("week_start").as_unit("ns").asi8
        cols = {c: frame[c].to_numpy() for c in frame.columns}
        return cls(np.asarray(names, dtype=object), np.asarray(couple), week, cols)


_NO_CELLS = _Cells(np.array([], dtype=object), np.zeros(0, np.int64), np.zeros(0, np.int64), {})


def _cell_index(couple_names: np.ndarray, couple: np.ndarray, week_ns: np.ndarray):
    """The (``couple_id``, ``week_start``) index of (couple code, week start ns) cells."""
    return pd.MultiIndex.from_arrays(
        [
            pd.Index(np.asarray(couple_names, dtype=object)[couple]).astype(str),
            pd.DatetimeIndex(np.asarray(week_ns).astype("datetime64[ns]")),
        ],
        names=_KEY,
    )


def _couple_ids(events: pd.DataFrame, checkins: pd.DataFrame) -> list[str]:
    """Sorted distinct couple ids of both tables (unique first: no pass over every row)."""
    ids = set()
    for df in (events, checkins):
        if _fast.sharing() and len(df) and {"actor", "code", "ts"} <= set(df.columns):
            from patterns._eventcodes import encode

            names = encode(df).couple_names  # the events' shared encoding: same set
        elif (shared := _shared_checkin_codes(df)) is not None:
            names = shared[1]  # the check-ins' shared codes: the same set
        else:
            # the distinct values by Arrow hashing (same set as pd.unique(...dropna()))
            names = _fast.codes(df["couple_id"])[1]
        ids |= {str(c) for c in names}
    return sorted(ids)


def _bare(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without ``attrs`` (an analysis's zones and observed periods, one entry per
    couple), which pandas would deep-copy into every frame derived from it here."""
    frame = frame.copy(deep=False)
    frame.attrs = {}
    return frame


def _keyed(frame: pd.DataFrame, day: str = "day") -> pd.DataFrame:
    """Add the (couple, week) key: string ``couple_id`` and local Monday ``week_start``."""
    return frame.assign(couple_id=frame["couple_id"].astype(str), week_start=week_start(frame[day]))


def _checkin_part(
    ci: pd.DataFrame, tz: Any, cutoff_hour: int, roles: pd.DataFrame, func: str
) -> _Cells:
    """The check-in columns per (couple, week) (see :func:`_checkin_weeks`)."""
    from patterns import trends

    measures = [
        "connection",
        "stress",
        "lonely",
        "supported",
        "intimacy_comfort",
        "time_together_min",
    ]
    cutoff = check_int(cutoff_hour, "cutoff_hour", func=func, maximum=23)
    schema.require_columns(
        ci, ["couple_id", "partner", "ts", *measures], func=func, table="checkins"
    )
    # ONE daily table (diary day computed once) for the measures and the day flags:
    # a flag's daily mean of 0/1 is > 0 exactly when any check-in that day said yes
    values = {c: trends._measure(ci[c]) for c in measures}
    flag_values = {
        "body": (ci[list(schema.BODY_SIGNALS)].astype(float) >= _BODY_MIN).any(axis=1),
        "protective": np.logical_or.reduce([_true(ci[c]) for c in schema.PROTECTIVE]),
        "pursued": _true(ci["pursued"]),
        "withdrew": _true(ci["withdrew"]),
    }
    day = trends._checkin_days(ci, tz, cutoff)
    return _checkin_weeks(
        ci,
        day,
        {**values, **{f"_{k}": np.asarray(v, float) for k, v in flag_values.items()}},
        roles,
        couple_rows=bool(ci["connection"].notna().any()),
        lonely=bool(ci["time_together_min"].notna().any()),
    )


def _true(column: pd.Series) -> np.ndarray:
    """True where the column says yes, missing as no:
    ``column.astype("boolean").fillna(False).to_numpy(bool)`` without the copies when it is
    a nullable boolean column already (the loader's dtype)."""
    if isinstance(column.dtype, pd.BooleanDtype):
        return column.to_numpy(dtype=bool, na_value=False)
    return column.astype("boolean").fillna(False).to_numpy(bool)


def _bid_part(ev: pd.DataFrame, tz: Any, cutoff_hour: int, roles: pd.DataFrame) -> _Cells:
    """:func:`_bid_weeks` when there is a bid (else no rows)."""
    if not (ev["code"] == "bid").any():
        return _NO_CELLS
    return _bid_weeks(ev, tz, cutoff_hour, roles)


def _conflict_part(ev: pd.DataFrame, ci: pd.DataFrame, tz: Any, cutoff_hour: int) -> _Cells:
    """``conflicts``, ``escalated``, ``repair_share``, ``resurfaced`` per (couple, week)
    from :func:`patterns.topics.conflict_log`'s core."""
    from patterns.topics import _conflict_log

    has_conflict = (len(ev) and (ev["code"] == "conflict").any()) or (
        (len(ci) and _true(ci["conflict"]).any())
        or (len(ci) and ci["conflict_topic"].notna().any())
    )
    if not has_conflict:
        return _NO_CELLS
    # conflict_log without its observed periods (attrs, dropped here anyway)
    cl = _bare(
        _conflict_log(
            ev if len(ev) else None,
            ci if len(ci) else None,
            lexicon=None,
            timezone=tz,
            cutoff_hour=cutoff_hour,
            include_text=False,
            observed=False,
        )
    )
    if not len(cl):
        return _NO_CELLS
    if _conflict_keys_complete(cl):
        return _conflict_weeks(cl)
    # a missing couple, time or day: the general pandas path
    cl = _keyed(cl.sort_values("ts", kind="stable"))
    prev = cl.groupby(["couple_id", "topic"], dropna=False)["repaired"].shift(1)
    cl = cl.assign(
        escalated=(cl["intensity"] >= 0.6).astype(float),
        resurfaced=prev.astype("boolean").fillna(False).astype(float),
        rep=cl["repaired"].astype("Float64"),
    )
    g = cl.groupby(_KEY)
    return _Cells.of_frame(
        pd.DataFrame(
            {
                "conflicts": g.size(),
                "escalated": g["escalated"].sum(),
                "repair_share": g["rep"].mean().astype(float),
                "resurfaced": g["resurfaced"].sum(),
            }
        )
    )


#: Fewer rows (events + check-ins) than this: the parts run one after another in the
#: calling thread (one couple-year is ~7k rows; threads would only add their start-up).
_THREAD_MIN_ROWS = 100_000


# (a module name, so tests can pretend other machines)
_usable_cpus = _fast.usable_cpus


def _metrics_rows(events: pd.DataFrame, checkins: pd.DataFrame, **options: Any) -> pd.DataFrame:
    """:func:`_metrics_table` (same keyword options) with per-row keys (event codes,
    check-in diary days) computed once and shared by the analyses it calls
    (:func:`patterns._fast.shared_keys`)."""
    with _fast.shared_keys():
        return _metrics_table(events, checkins, **options)


def _metrics_table(
    events: pd.DataFrame,
    checkins: pd.DataFrame,
    *,
    timezone: str | Mapping[str, str],
    cutoff_hour: int,
    partners: Mapping[str, Sequence[str]] | None,
    func: str,
) -> pd.DataFrame:
    """The couple-week table for the WHOLE couples in ``events``/``checkins`` (one or many).

    Every step is a grouped operation keyed by couple (the analyses called are themselves
    per couple), so the rows of a couple do not depend on which other couples are present:
    one call on all couples (pandas engine) equals the concatenation of calls on any
    partition of the couples (Dask engine), and of :func:`couple_metrics` per couple.
    """
    # Zones are passed explicitly to every analysis. The loader's attrs["timezones"] is a
    # TimezoneMap, which pandas shares instead of deep-copying into every derived frame
    # (a plain dict of 1,000 couples used to cost 8 of 27 CPU seconds here).
    ev, ci, tz = events, checkins, timezone
    # the parts' modules imported here, in the calling thread, not by the parts' threads
    # at once (concurrent first imports can meet Python's import-lock deadlock detection)
    from patterns import bids, cycles, topics, trends  # noqa: F401

    # Four independent parts (check-ins, bids, episodes, conflicts), each a function of the
    # frames, the zones and (but conflicts) the partner roles: run concurrently, the
    # conflicts (which need no roles) while the couple ids and roles are found, and
    # assembled in this fixed order.
    # On a pool of min(usable CPUs, 4) threads from _THREAD_MIN_ROWS rows, on the main
    # thread only (_fast.Tasks); inline otherwise. With the second core busy (other jobs)
    # the threads save no wall time and cost 0.1-0.4 s more CPU at 1,000 couples; with it
    # free they cut the table's wall time by 0.3-0.5 s.
    big = len(ev) + len(ci) >= _THREAD_MIN_ROWS
    with _fast.Tasks(min(_usable_cpus(), 4), name="patterns-metrics", enabled=big) as run:
        conflicts = run.submit(_conflict_part, ev, ci, tz, cutoff_hour)
        couples = _couple_ids(events, checkins)
        if not couples:
            return couple_metrics_empty()
        roles = _partner_roles(events, checkins, couples, partners, func)
        bid = run.submit(_bid_part, ev, tz, cutoff_hour, roles) if len(ev) else None
        checkin = run.submit(_checkin_part, ci, tz, cutoff_hour, roles, func) if len(ci) else None
        episodes = run.submit(_episode_weeks, ev, tz, cutoff_hour, roles) if len(ev) else None
        parts = [p.result() for p in (checkin, bid, episodes, conflicts) if p is not None]
    parts = [p for p in parts if len(p)]
    if not parts:
        return couple_metrics_empty()
    return _assemble(parts, roles, couples)


#: integer count columns (0 in a week without data); the rest but keys are floats
_COUNTS = [
    "days_observed",
    "checkins",
    "checkins_a",
    "checkins_b",
    "bids_a",
    "bids_b",
    "episodes",
    "conflicts",
    "escalated",
    "resurfaced",
    *[c for c in _COLUMNS if c.endswith(("_days_a", "_days_b"))],
]
_FLOATS = [
    c
    for c in _COLUMNS
    if c not in _COUNTS
    and c not in ("couple_id", "week_start", "iso_year", "iso_week", "partner_a", "partner_b")
]
_WEEK_NS = 7 * _DAY_NS


def _assemble(parts: list[_Cells], roles: pd.DataFrame, couples: list[str]) -> pd.DataFrame:
    """The table from the parts' cells: one row per couple and week from the couple's
    first to its last week with data, couples in sorted order, weeks ascending.

    The rows and values of :func:`_assemble_frames` (the former concat of the parts'
    string-indexed frames, a reindex to every week and a merge of the roles), placed by
    integer (couple, week) positions instead (tested equal). Falls back to it when a
    part names a couple that is not among ``couples`` (a missing id on the general path).
    """
    position = {c: i for i, c in enumerate(couples)}
    keyed = []
    for p in parts:
        at = [position.get(str(n), -1) for n in p.names]
        if min(at, default=0) < 0:
            return _assemble_frames([q.frame() for q in parts], roles)
        keyed.append((np.asarray(at, dtype=np.int64)[p.couple], p))
    n_c = len(couples)
    w0 = min(int(p.week.min()) for p in parts)
    lo = np.full(n_c, np.iinfo(np.int64).max)
    hi = np.full(n_c, -1)
    for g, p in keyed:
        w = (p.week - w0) // _WEEK_NS
        np.minimum.at(lo, g, w)
        np.maximum.at(hi, g, w)
    weeks = np.where(hi >= 0, hi - lo + 1, 0)  # rows per couple (0: no data)
    first_row = np.cumsum(weeks) - weeks
    n_rows = int(weeks.sum())
    row_couple = np.repeat(np.arange(n_c), weeks)
    week_ns = w0 + (lo[row_couple] + np.arange(n_rows) - first_row[row_couple]) * _WEEK_NS
    cols: dict[str, np.ndarray] = {}
    for g, p in keyed:
        rows = first_row[g] + (p.week - w0) // _WEEK_NS - lo[g]
        for name, values in p.columns.items():
            if name not in cols:
                cols[name] = np.full(n_rows, np.nan)
            cols[name][rows] = values
    week = pd.Series(week_ns.astype("datetime64[ns]"))
    iso = week.dt.isocalendar()
    r = roles.set_index("couple_id").reindex(couples)
    names = np.asarray(couples, dtype=object)[row_couple]
    out = {
        "couple_id": pd.Series(names, dtype=object).astype("string"),
        "week_start": week,
        "iso_year": iso["year"].astype("int64").to_numpy(),
        "iso_week": iso["week"].astype("int64").to_numpy(),
        "partner_a": pd.Series(r["partner_a"].to_numpy()[row_couple], dtype=object),
        "partner_b": pd.Series(r["partner_b"].to_numpy()[row_couple], dtype=object),
    }
    out["partner_a"] = out["partner_a"].astype("string")
    out["partner_b"] = out["partner_b"].astype("string")
    for c in _COUNTS:
        v = cols.get(c)
        out[c] = np.zeros(n_rows, np.int64) if v is None else np.nan_to_num(v).astype(np.int64)
    for c in _FLOATS:
        out[c] = cols.get(c, np.full(n_rows, np.nan)).astype(float)
    return pd.DataFrame({c: out[c] for c in _COLUMNS})


def _assemble_frames(parts: list[pd.DataFrame], roles: pd.DataFrame) -> pd.DataFrame:
    """:func:`_assemble` on the parts' string-indexed frames (the former assembly)."""
    out = pd.concat(parts, axis=1)
    # every week from each couple's first to its last week with data (vectorised ranges)
    keys = out.index.to_frame(index=False)
    span = keys.groupby("couple_id")["week_start"].agg(["min", "max"])
    n = ((span["max"] - span["min"]) // pd.Timedelta(days=7)).astype("int64").to_numpy() + 1
    offset = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    starts = np.repeat(span["min"].to_numpy(), n) + offset * np.timedelta64(7, "D")
    full = pd.MultiIndex.from_arrays(
        [np.repeat(span.index.to_numpy(), n), pd.DatetimeIndex(starts)], names=_KEY
    )
    out = out.reindex(full).reset_index()
    iso = out["week_start"].dt.isocalendar()
    out["iso_year"] = iso["year"].astype("int64").to_numpy()
    out["iso_week"] = iso["week"].astype("int64").to_numpy()
    out = out.merge(roles, on="couple_id", how="left")
    for c in _COLUMNS:
        if c not in out.columns:
            out[c] = np.nan
    for c in _COUNTS:
        out[c] = out[c].fillna(0).astype("int64")
    floats = _FLOATS
    out[floats] = out[floats].astype(float)
    out[["couple_id", "partner_a", "partner_b"]] = out[
        ["couple_id", "partner_a", "partner_b"]
    ].astype("string")
    return out[_COLUMNS].reset_index(drop=True)


def couple_metrics(
    events: pd.DataFrame,
    checkins: pd.DataFrame,
    *,
    timezone: str | Mapping[str, str] | None = None,
    cutoff_hour: int = DEFAULT_CUTOFF_HOUR,
    partners: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The couple-week table for ONE couple (the unit any engine maps over couples).

    Parameters
    ----------
    events, checkins : DataFrame
        That couple's rows in the data contract (either may be empty).
    timezone : str or mapping, optional
        The couple's IANA zone (or couple → zone); default the frames' ``attrs``, else UTC.
    cutoff_hour : int, default 4
        Local hour at which a diary day starts.
    partners : sequence of two str, optional
        The couple's two partner ids (default: the ids found in the rows).

    Returns
    -------
    DataFrame
        One row per ISO week from the first to the last week with data, columns as in
        :func:`metrics_codebook`.

    Raises
    ------
    ValueError
        When the rows hold more than one couple.

    Notes
    -----
    Computed by the same grouped (per couple) code that :func:`couple_week_metrics` runs on
    all couples at once, so this one-couple table equals that couple's rows of the full
    table (tested).

    Examples
    --------
    >>> from patterns.simulate import simulate_export
    >>> sim = simulate_export(couples=1, days=14, seed=2, archetypes=["secure"])
    >>> len(couple_metrics(sim.events, sim.checkins))
    2
    """
    func = "couple_metrics"
    ids_c = set(_couple_ids(events, checkins))
    if len(ids_c) != 1:
        raise option_error(
            "events/checkins", func, "the rows of exactly one couple", f"{len(ids_c)} couples"
        )
    couple = ids_c.pop()
    tz = resolve_timezones(checkins if len(checkins) else events, timezone)
    listed = None
    if partners is not None:
        ids = sorted(str(p) for p in partners)
        if len(ids) not in (1, 2):
            raise option_error("partners", func, "two partner ids", ids)
        listed = {couple: ids}
    return _metrics_rows(
        events, checkins, timezone=tz, cutoff_hour=cutoff_hour, partners=listed, func=func
    )


def couple_week_metrics(
    export: Any,
    *,
    cutoff_hour: int = DEFAULT_CUTOFF_HOUR,
    engine: str = "pandas",
    scheduler: Any = None,
    partitions: int | None = None,
    staging: str | Path | None = None,
) -> pd.DataFrame:
    """One row per couple and ISO week with every headline number (see the codebook).

    Parameters
    ----------
    export : Export
        A loaded export, or anything with ``.events`` and ``.checkins`` (optionally
        ``.timezones`` and ``.partners``).
    cutoff_hour : int, default 4
        Local hour at which a diary day starts.
    engine : {"pandas", "dask"}, default "pandas"
        ``"pandas"`` computes all couples in this process with grouped operations;
        ``"dask"`` writes the tables as Parquet partitioned by couple and runs the same
        per-couple code on a Dask cluster (:func:`patterns.engine.dask_couple_week_metrics`).
        Both give the identical table.
    scheduler : str or distributed.Client, optional
        Dask only: a scheduler address (``"tcp://host:8786"``) or a ``Client``; default a
        ``distributed.LocalCluster`` of 2 single-threaded worker processes for this call.
    partitions : int, optional
        Dask only: number of couple partitions (default about 4 per worker).
    staging : str or Path, optional
        Dask only: folder for the partitioned Parquet (must be readable by every worker;
        default a temporary folder, removed afterwards).

    Returns
    -------
    DataFrame
        Columns of :func:`metrics_codebook`, sorted by couple and week.

    Raises
    ------
    ValueError
        For an object without tables, an unknown ``engine``, or Dask options with the
        pandas engine.

    Notes
    -----
    Every number is computed by grouped operations keyed by couple (the analyses called are
    per couple too), so a couple's rows never depend on other couples: mapping
    :func:`couple_metrics` over couples, one call on all couples, and the Dask engine over
    any partition of couples all give the same table (tested with ``assert_frame_equal``).
    Tested against few-line pandas counts, the simulator's planted truth (episodes, bids)
    and the codebook.

    Examples
    --------
    >>> from patterns.simulate import simulate_export
    >>> sim = simulate_export(couples=2, days=14, seed=2)
    >>> couple_week_metrics(sim).groupby("couple_id").size().to_dict()
    {'c001': 2, 'c002': 2}
    """
    func = "couple_week_metrics"
    check_option("engine", engine, ["pandas", "dask"], func=func)
    ev = getattr(export, "events", None)
    ci = getattr(export, "checkins", None)
    if ev is None or ci is None:
        raise option_error(
            "export", func, "an Export (with .events and .checkins)", type(export).__name__
        )
    tz = getattr(export, "timezones", None) or resolve_timezones(ci if len(ci) else ev)
    partners = dict(getattr(export, "partners", {}) or {})
    if engine == "dask":
        from patterns.engine import dask_couple_week_metrics

        return dask_couple_week_metrics(
            ev,
            ci,
            timezone=tz,
            partners=partners,
            cutoff_hour=cutoff_hour,
            scheduler=scheduler,
            partitions=partitions,
            staging=staging,
        )
    for name, value in (("scheduler", scheduler), ("partitions", partitions), ("staging", staging)):
        if value is not None:
            raise option_error(name, func, "None with engine='pandas'", value)
    return metrics_partition(ev, ci, timezone=tz, partners=partners, cutoff_hour=cutoff_hour)


def metrics_partition(
    events: pd.DataFrame,
    checkins: pd.DataFrame,
    *,
    timezone: str | Mapping[str, str],
    partners: Mapping[str, Sequence[str]] | None = None,
    cutoff_hour: int = DEFAULT_CUTOFF_HOUR,
) -> pd.DataFrame:
    """The couple-week rows of the whole couples in ``events``/``checkins`` (any number).

    The unit of work of every engine: the pandas engine calls it once on all couples, the
    Dask engine once per couple partition. Rows sorted by couple and week.

    Examples
    --------
    >>> from patterns.simulate import simulate_export
    >>> sim = simulate_export(couples=2, days=14, seed=2)
    >>> tz = sim.events.attrs["timezones"]
    >>> len(metrics_partition(sim.events, sim.checkins, timezone=tz))
    4
    """
    return _metrics_rows(
        events,
        checkins,
        timezone=timezone,
        cutoff_hour=cutoff_hour,
        partners=partners,
        func="couple_week_metrics",
    )


def couple_metrics_empty() -> pd.DataFrame:
    """An empty couple-week table with every column."""
    return pd.DataFrame({c: pd.Series([], dtype=float) for c in _COLUMNS})


def write_metrics(table: pd.DataFrame, path: str | Path) -> Path:
    """Write the couple-week table (``.csv`` or ``.parquet``) and its codebook beside it.

    CSV output goes through :func:`patterns.privacy.safe_csv` (no spreadsheet formula can
    run); the codebook is written as ``<stem>_codebook.csv``. Returns the table's path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from patterns.simulate import simulate_export
    >>> t = couple_week_metrics(simulate_export(couples=1, days=14, seed=2))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_metrics(t, pathlib.Path(d) / "weeks.csv")
    ...     sorted(x.name for x in p.parent.iterdir())
    ['weeks.csv', 'weeks_codebook.csv']
    """
    from patterns.privacy import safe_csv

    path = Path(path)
    suffix = path.suffix.lower()
    check_option("path suffix", suffix, [".csv", ".parquet"], func="write_metrics")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        safe_csv(table, path, index=False)
    else:
        table.to_parquet(path, index=False)
    safe_csv(metrics_codebook(), path.with_name(f"{path.stem}_codebook.csv"), index=False)
    return path


_DYAD_MEASURES = (
    "connection",
    "stress",
    "supported",
    "lonely",
    "intimacy_comfort",
    "time_together_min",
)


def dyadic_daily(
    checkins: pd.DataFrame,
    *,
    layout: str = "individual",
    center: bool = True,
    measures: Sequence[str] | None = None,
    cutoff_hour: int = DEFAULT_CUTOFF_HOUR,
    timezone: str | Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Daily check-in measures in the usual dyadic layouts, with within-person centring.

    Parameters
    ----------
    checkins : DataFrame
        Check-ins in the data contract.
    layout : {"individual", "dyad", "pairwise"}
        ``individual``: one row per person-day. ``dyad``: one wide row per couple-day with
        ``_a``/``_b`` columns (a = first partner id in sorted order). ``pairwise``: two rows
        per couple-day, each person once as actor, with ``_actor``/``_partner`` columns
        (the layout for actor–partner interdependence models).
    center : bool, default True
        Add ``<m>_pm`` (the person's mean over all their days) and ``<m>_cw`` (day value −
        person mean) for each measure.
    measures : sequence of str, optional
        Default: connection, stress, supported, lonely, intimacy_comfort, time_together_min.
    cutoff_hour, timezone
        Diary-day settings, as in :func:`patterns.trends.daily_connection`.

    Returns
    -------
    DataFrame
        individual: ``couple_id``, ``partner``, ``role`` (``a``/``b``), ``day``,
        ``day_number`` (days since the couple's first diary day), then per measure ``<m>``
        (and ``<m>_pm``, ``<m>_cw``). dyad: ``couple_id``, ``day``, ``day_number``,
        ``partner_a``, ``partner_b``, then ``<m>_a``, ``<m>_b`` (and ``<m>_pm_a``, …).
        pairwise: ``couple_id``, ``day``, ``day_number``, ``actor``, ``partner``, ``role``,
        then ``<m>_actor``, ``<m>_partner`` (and ``<m>_pm_actor``, ``<m>_cw_actor``, …).

    Notes
    -----
    Person-mean centring (within-person deviation plus the person mean as a level-2
    predictor) as in multilevel diary analysis; lags should use ``day_number``, not rows.
    Tested against few-line pandas reshapes.

    Examples
    --------
    >>> import pandas as pd
    >>> ci = pd.DataFrame({"couple_id": "c1", "partner": ["a", "b", "a", "b"],
    ...     "ts": pd.to_datetime(["2026-03-01T20:00Z"] * 2 + ["2026-03-02T20:00Z"] * 2),
    ...     "connection": [4.0, 6.0, 8.0, 7.0]})
    >>> dyadic_daily(ci, layout="dyad", measures=["connection"])[
    ...     ["connection_a", "connection_b", "connection_cw_a"]].to_dict("list")
    {'connection_a': [4.0, 8.0], 'connection_b': [6.0, 7.0], 'connection_cw_a': [-2.0, 2.0]}
    """
    from patterns.trends import daily_partner_table

    func = "dyadic_daily"
    check_option("layout", layout, ["individual", "dyad", "pairwise"], func=func)
    if not isinstance(center, bool):
        raise option_error("center", func, "True or False", center)
    if measures is None:
        measures = [m for m in _DYAD_MEASURES if m in checkins.columns]
    measures = list(measures)
    if not measures:
        raise option_error("measures", func, "at least one check-in measure", measures)
    d = daily_partner_table(
        checkins, measures, cutoff_hour=cutoff_hour, timezone=timezone, func=func
    ).drop(columns="n")
    d["partner"] = d["partner"].astype("string")
    first = d.groupby("couple_id")["day"].transform("min")
    d["day_number"] = (d["day"] - first).dt.days.astype("int64")
    rank = d.groupby("couple_id")["partner"].rank(method="dense").astype("int64")
    d["role"] = np.where(rank == 1, "a", "b")
    if center:
        for m in measures:
            d[f"{m}_pm"] = d.groupby(["couple_id", "partner"])[m].transform("mean")
            d[f"{m}_cw"] = d[m] - d[f"{m}_pm"]
    values = [
        c for c in d.columns if c not in ("couple_id", "partner", "day", "day_number", "role")
    ]
    if layout == "individual":
        out = d[["couple_id", "partner", "role", "day", "day_number", *values]]
        return out.sort_values(["couple_id", "partner", "day"], ignore_index=True)
    ids = d.groupby(["couple_id", "role"])["partner"].first().unstack("role")
    ids = ids.reindex(columns=["a", "b"])
    wide = d.pivot_table(
        index=["couple_id", "day", "day_number"],
        columns="role",
        values=values,
        aggfunc="first",
        observed=True,
        dropna=False,
    )
    wide = wide.reindex(columns=pd.MultiIndex.from_product([values, ["a", "b"]]))
    wide.columns = [f"{v}_{r}" for v, r in wide.columns]
    wide = wide.dropna(how="all").reset_index()
    wide = wide.merge(
        ids.rename(columns={"a": "partner_a", "b": "partner_b"}).reset_index(),
        on="couple_id",
        how="left",
    )
    if layout == "dyad":
        cols = ["couple_id", "day", "day_number", "partner_a", "partner_b"]
        cols += [f"{v}_{r}" for v in values for r in ("a", "b")]
        return wide[cols].sort_values(["couple_id", "day"], ignore_index=True)
    halves = []
    for me, other in (("a", "b"), ("b", "a")):
        h = wide[["couple_id", "day", "day_number"]].copy()
        h["actor"] = wide[f"partner_{me}"].to_numpy()
        h["partner"] = wide[f"partner_{other}"].to_numpy()
        h["role"] = me
        for v in values:
            h[f"{v}_actor"] = wide[f"{v}_{me}"].to_numpy()
            h[f"{v}_partner"] = wide[f"{v}_{other}"].to_numpy()
        halves.append(h)
    out = pd.concat(halves, ignore_index=True)
    return out.sort_values(["couple_id", "day", "role"], ignore_index=True)
