"""The therapist's indicators: one row per couple and sign, in plain language, never a
diagnosis.

Signs (thresholds, units and sources in ``patterns/data/thresholds.yaml``, read through
:mod:`patterns.thresholds`):

``escalation``       emotional conversations escalating into conflict
``pursue_withdraw``  one partner pursuing while the other withdraws
``resurfacing``      past hurts resurfacing (a topic returning after it was marked repaired)
``lonely_together``  loneliness despite time together
``intimacy``         tense or avoided physical intimacy
``turning_toward``   share of bids turned toward
``conflict_ratio``   positive to negative moves during conflict

Each sign has a value, an interval, the thresholds, a level (``none``, ``watch``,
``discuss``, or ``no_data`` when the data needed is absent or too thin), a sentence that
uses partner labels only (never ids or names), and a caveat.

Examples
--------
>>> from patterns.simulate import simulate_export
>>> sim = simulate_export(couples=1, days=56, seed=3, archetypes=["secure"])
>>> ind = indicators(sim)
>>> ind["indicator"].tolist()
['escalation', 'pursue_withdraw', 'resurfacing', 'lonely_together', 'intimacy',
 'turning_toward', 'conflict_ratio']
>>> ind.loc[ind["indicator"] == "turning_toward", "level"].item()
'none'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from patterns import _fast
from patterns._eventcodes import CODE, Encoded, encode
from patterns._fast import wilson as _wilson_interval
from patterns.errors import option_error
from patterns.schema import partner_labels
from patterns.thresholds import INDICATORS, level_for, load_thresholds
from patterns.timeutil import DEFAULT_CUTOFF_HOUR, diary_day, resolve_timezones

__all__ = ["INDICATORS", "indicators"]

_COLUMNS = [
    "couple_id",
    "indicator",
    "label",
    "value",
    "ci_low",
    "ci_high",
    "threshold",
    "threshold_discuss",
    "direction",
    "unit",
    "level",
    "sentence",
    "caveat",
    "evidence",
    "n",
]
_LEVEL_PHRASE = {
    "none": "This is on the calm side of the kit's watch line.",
    "watch": "This is past the kit's watch line: worth keeping an eye on.",
    "discuss": "This is past the kit's discuss line: it may be worth talking about together.",
}
_Z = stats.norm.ppf(0.975)


def _poisson_rate(k: float, exposure: float) -> tuple[float, float, float]:
    """Rate k/exposure with the exact (Garwood) 95% interval."""
    if exposure <= 0:
        return np.nan, np.nan, np.nan
    lo = stats.chi2.ppf(0.025, 2 * k) / 2 if k > 0 else 0.0
    hi = stats.chi2.ppf(0.975, 2 * k + 2) / 2
    return k / exposure, lo / exposure, hi / exposure


def _poisson_rates(span: Mapping[str, float], counts: Any, scale: float = 1.0) -> dict:
    """:func:`_poisson_rate` for every couple of ``span`` at once (count from ``counts``,
    exposure ``weeks / scale``): the same scipy quantiles on arrays instead of two scalar
    ``chi2.ppf`` calls per couple (0.3 s per sign at 1,000 couples)."""
    couples = list(span)
    k = np.array([float(counts.get(c, 0)) for c in couples], dtype=float)
    exposure = np.array([span[c] for c in couples], dtype=float) / scale
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k > 0, stats.chi2.ppf(0.025, 2 * k) / 2, 0.0)
        hi = stats.chi2.ppf(0.975, 2 * k + 2) / 2
        ok = exposure > 0
        safe = np.where(ok, exposure, 1.0)
        v = np.where(ok, k / safe, np.nan)
        lo = np.where(ok, lo / safe, np.nan)
        hi = np.where(ok, hi / safe, np.nan)
    return {c: (float(v[i]), float(lo[i]), float(hi[i])) for i, c in enumerate(couples)}


def _wilson(k: float, n: float) -> tuple[float, float, float]:
    if n <= 0:
        return np.nan, np.nan, np.nan
    # closed form (statsmodels' arithmetic; importing statsmodels cost 0.8 s per call path)
    lo, hi = _wilson_interval(k, n, 0.95)
    return k / n, float(lo), float(hi)


def _tables(export: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    from patterns import schema

    ev = getattr(export, "events", None)
    ci = getattr(export, "checkins", None)
    if ev is None and ci is None:
        raise option_error(
            "export", "indicators", "an Export (with .events and .checkins)", type(export).__name__
        )
    ev = schema.empty_frame("events") if ev is None else ev
    ci = schema.empty_frame("checkins") if ci is None else ci
    return ev, ci


def indicators(
    export: Any,
    *,
    couple_id: str | None = None,
    thresholds: Mapping[str, Mapping[str, Any]] | str | None = None,
) -> pd.DataFrame:
    """Signs worth a conversation, one row per couple and sign, in plain language.

    Parameters
    ----------
    export : Export
        A loaded export (:func:`patterns.load_export`) or anything with ``.events`` and
        ``.checkins`` in the data contract (e.g. a :func:`patterns.simulate_export` result).
    couple_id : str, optional
        Only this couple (default: every couple).
    thresholds : mapping or path, optional
        Overrides of, or a replacement for, ``thresholds.yaml``
        (see :func:`patterns.thresholds.load_thresholds`).

    Returns
    -------
    DataFrame
        One row per couple and sign (order of :data:`INDICATORS`): ``couple_id``,
        ``indicator``, ``label``, ``value``, ``ci_low``, ``ci_high`` (95%), ``threshold``
        (the watch line), ``threshold_discuss``, ``direction`` (``higher_is_worse`` /
        ``lower_is_worse``), ``unit``, ``level`` (``none``, ``watch``, ``discuss``,
        ``no_data``), ``sentence`` (plain language, partner labels only), ``caveat``,
        ``evidence`` (``reported_popular``, ``reported_peer``, ``kit_default``), ``n`` (the
        observations behind the value: days, bids or moves — see ``unit``).

    Notes
    -----
    Rates per week and per 4 weeks divide a count by the couple's observed span (first to
    last diary day with any data) and carry the exact Poisson (Garwood) interval; shares
    carry the Wilson interval; the conflict ratio uses the log-ratio interval
    exp(log(p/q) ± 1.96·√(1/p + 1/q)) with 0.5 added to both counts when either is 0.
    Inputs: ``escalation`` — :func:`patterns.topics.conflict_log` with intensity at least
    ``params.intensity_min``; ``pursue_withdraw`` —
    :func:`patterns.cycles.pursue_withdraw_episodes`; ``resurfacing`` — the ``resurfaced``
    count of :func:`patterns.topics.topic_recurrence`; ``lonely_together`` —
    :func:`patterns.trends.lonely_together` (the partner with the higher share);
    ``intimacy`` — days with ``intimacy_comfort ≤ params.comfort_max`` (the partner with the
    higher share); ``turning_toward`` — :func:`patterns.bids.turning_rates` summed over the
    period; ``conflict_ratio`` — moves within ``params.window_hours`` after a conflict
    marker. Tested on planted simulator couples (each sign fires for an archetype that
    plants it and stays quiet for one that does not) and against hand counts.
    """
    with _fast.shared_keys():  # event codes and check-in days computed once for all signs
        return _indicators(export, couple_id=couple_id, thresholds=thresholds)


def _indicators(
    export: Any,
    *,
    couple_id: str | None,
    thresholds: Mapping[str, Mapping[str, Any]] | str | None,
) -> pd.DataFrame:
    func = "indicators"
    th = load_thresholds(thresholds)
    ev, ci = _tables(export)
    couples = sorted(
        # distinct values first: a Python set of every row's id took a second at scale
        {str(c) for c in pd.unique(ev["couple_id"].dropna())}
        | {str(c) for c in pd.unique(ci["couple_id"].dropna())}
        | set(getattr(export, "couples", []) or [])
    )
    if couple_id is not None:
        if str(couple_id) not in couples:
            raise option_error("couple_id", func, f"one of {couples}", couple_id)
        couples = [str(couple_id)]
        ev = ev[ev["couple_id"] == couple_id].reset_index(drop=True)
        ci = ci[ci["couple_id"] == couple_id].reset_index(drop=True)
    tz = resolve_timezones(ci if len(ci) else ev, getattr(export, "timezones", None) or None)
    # shallow copies (no data copied under copy-on-write): the caller's frames keep their
    # own attrs (an analysis never mutates its input)
    ev, ci = ev.copy(deep=False), ci.copy(deep=False)
    ev.attrs["timezones"] = ci.attrs["timezones"] = tz
    partners = dict(getattr(export, "partners", {}) or {})
    span = _observed_weeks(ev, ci, tz)
    conflicts = _ConflictLog(ev, ci)  # built once, shared by the two signs that need it
    parts = {
        "escalation": _escalation(ev, ci, th["escalation"], span, conflicts),
        "pursue_withdraw": _pursue_withdraw(ev, th["pursue_withdraw"], span),
        "resurfacing": _resurfacing(ev, ci, span, conflicts),
        "lonely_together": _lonely(ci, th["lonely_together"]),
        "intimacy": _intimacy(ci, th["intimacy"]),
        "turning_toward": _turning(ev),
        "conflict_ratio": _ratio(ev, th["conflict_ratio"]),
    }
    rows = []
    for couple in couples:
        ids = partners.get(couple) or sorted(
            set(ci.loc[ci["couple_id"] == couple, "partner"].dropna().astype(str))
            | set(ev.loc[ev["couple_id"] == couple, "actor"].dropna().astype(str))
        )
        labels = dict(partner_labels(ids))
        for name in INDICATORS:
            spec = th[name]
            res = parts[name].get(couple)
            rows.append(_row(couple, name, spec, res, labels))
    out = pd.DataFrame(rows, columns=_COLUMNS)
    for c in ("value", "ci_low", "ci_high", "threshold", "threshold_discuss", "n"):
        out[c] = out[c].astype(float)
    return out


# --- one row --------------------------------------------------------------------------------


def _row(couple, name, spec, res, labels) -> dict:
    base = {
        "couple_id": couple,
        "indicator": name,
        "label": spec["label"],
        "threshold": spec["watch"],
        "threshold_discuss": spec["discuss"],
        "direction": spec["direction"],
        "unit": spec["unit"],
        "caveat": spec["caveat"],
        "evidence": spec["evidence"],
    }
    if res is None or isinstance(res, str):
        missing = res or "the data this sign needs"
        return {
            **base,
            "value": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "n": 0.0,
            "level": "no_data",
            "sentence": f"Not enough data for this sign: {missing}.",
        }
    value, lo, hi, n, who = (
        res["value"],
        res["ci_low"],
        res["ci_high"],
        res["n"],
        res.get("partner"),
    )
    level = level_for(value, n, spec)
    if level == "no_data":
        sentence = f"Too little data to say (n = {n:g}; at least {spec['min_n']:g} needed)."
    else:
        label = labels.get(str(who), "One partner") if who is not None else None
        sentence = _SENTENCES[name](value, lo, hi, label, res) + " " + _LEVEL_PHRASE[level]
    return {
        **base,
        "value": value,
        "ci_low": lo,
        "ci_high": hi,
        "n": float(n),
        "level": level,
        "sentence": sentence,
    }


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _num(x: float) -> str:
    """A rate for a sentence: one decimal from 1 up, two significant digits below
    (``0.04`` rather than ``0.0``), ``0`` for zero."""
    if x == 0 or not np.isfinite(x):
        return f"{x:g}"
    return f"{x:.1f}" if abs(x) >= 1 else f"{x:.2g}"


_SENTENCES = {
    "escalation": lambda v, lo, hi, who, r: (
        f"About {_num(v)} conflicts a week reached high intensity "
        f"(95% interval {_num(lo)} to {_num(hi)})."
    ),
    "pursue_withdraw": lambda v, lo, hi, who, r: (
        f"About {_num(v)} pursue–withdraw cycles a week (95% interval {_num(lo)} to {_num(hi)})"
        + (f"; {who} was the one reaching out in {_pct(r['share'])} of them." if who else ".")
    ),
    "resurfacing": lambda v, lo, hi, who, r: (
        f"About {_num(v)} conflicts every 4 weeks were on a topic already marked as repaired "
        f"(95% interval {_num(lo)} to {_num(hi)})."
    ),
    "lonely_together": lambda v, lo, hi, who, r: (
        f"On {_pct(v)} of the days with more time together than usual, {who} still felt "
        f"lonely or disconnected (95% interval {_pct(lo)} to {_pct(hi)})."
    ),
    "intimacy": lambda v, lo, hi, who, r: (
        f"{who} reported low comfort with physical closeness on {_pct(v)} of check-in days "
        f"(95% interval {_pct(lo)} to {_pct(hi)})."
    ),
    "turning_toward": lambda v, lo, hi, who, r: (
        f"{_pct(v)} of bids for connection were turned toward (95% interval {_pct(lo)} to "
        f"{_pct(hi)}); figures reported by Gottman and colleagues are about 86% in couples "
        f"who stayed together and 33% in those who divorced."
    ),
    "conflict_ratio": lambda v, lo, hi, who, r: (
        f"During conflicts there were about {_num(v)} positive moves for every negative one "
        f"(95% interval {_num(lo)} to {_num(hi)}); Gottman and colleagues reported about 5 to 1 "
        f"in stable couples."
    ),
}


# --- the signs (each returns {couple_id: result dict | reason str}) -------------------------


def _observed_weeks(ev, ci, tz) -> dict[str, float]:
    # first and last diary day per couple: the diary days of every row with a couple and a
    # time, as integers, reduced per couple code by ufunc.at, then per id over the few
    # (table, couple) rows (a string groupby over every row took 0.9 s)
    frames = []
    for df in (ev, ci):
        if len(df):
            code, names = _fast.codes(df["couple_id"])
            ts = pd.to_datetime(df["ts"], utc=True).dt.as_unit("ns")
            days = diary_day(
                ts, df["couple_id"], tz, cutoff_hour=DEFAULT_CUTOFF_HOUR, codes=(code, names)
            )
            days = days.to_numpy("datetime64[ns]").view(np.int64)
            ok = np.flatnonzero((code >= 0) & (days != np.iinfo(np.int64).min))
            day = days[ok]
            lo = np.full(len(names), np.iinfo(np.int64).max)
            hi = np.full(len(names), np.iinfo(np.int64).min)
            np.minimum.at(lo, code[ok], day)
            np.maximum.at(hi, code[ok], day)
            seen = hi >= lo
            frames.append(
                pd.DataFrame(
                    {
                        "couple_id": [str(c) for c in names[seen]],
                        "min": lo[seen].view("datetime64[ns]"),
                        "max": hi[seen].view("datetime64[ns]"),
                    }
                )
            )
    if not frames:
        return {}
    d = pd.concat(frames).groupby("couple_id").agg({"min": "min", "max": "max"})
    return ((d["max"] - d["min"]).dt.days.add(1) / 7).to_dict()


def _any_conflict(ev: pd.DataFrame, ci: pd.DataFrame) -> bool:
    """Whether the events or the check-ins log any conflict."""
    has_ev = len(ev) and (ev["code"] == "conflict").any()
    has_ci = len(ci) and ("conflict" in ci.columns) and ci["conflict"].fillna(False).any()
    return bool(has_ev or has_ci)


def _rate_results(span: Mapping[str, float], counts: Any, scale: float = 1.0) -> dict:
    """Per couple of ``span`` (observed weeks): the :func:`_poisson_rates` rate of
    ``counts`` as a sign's result (``value``, ``ci_low``, ``ci_high``, ``n`` = days)."""
    rates = _poisson_rates(span, counts, scale)
    return {
        couple: dict(zip(("value", "ci_low", "ci_high"), rates[couple], strict=True), n=weeks * 7)
        for couple, weeks in span.items()
    }


class _ConflictLog:
    """``conflict_log(events, checkins)`` computed on first use and then reused."""

    def __init__(self, ev, ci):
        self._ev, self._ci, self._log = ev, ci, None

    def get(self) -> pd.DataFrame:
        if self._log is None:
            from patterns.topics import conflict_log

            ev, ci = self._ev, self._ci
            self._log = conflict_log(ev if len(ev) else None, ci if len(ci) else None)
        return self._log


def _escalation(ev, ci, spec, span, conflicts):
    if not _any_conflict(ev, ci):
        return dict.fromkeys(span, "no conflicts were logged")
    log = conflicts.get()
    if log["intensity"].isna().all():
        return dict.fromkeys(span, "conflicts carry no intensity rating")
    hot = log[log["intensity"] >= spec["params"]["intensity_min"]]
    return _rate_results(span, hot.groupby("couple_id").size())


def _pursue_withdraw(ev, spec, span):
    from patterns.cycles import pursue_withdraw_episodes

    if not len(ev):
        return dict.fromkeys(span, "no interaction log (events) to find cycles in")
    p = spec["params"]
    ep = pursue_withdraw_episodes(ev, min_rounds=int(p["min_rounds"]), max_gap=p["max_gap"])
    # per couple: episodes, and the most frequent pursuer (ties: as value_counts orders
    # them, by count then first appearance) — one grouped pass instead of a scan per couple
    e = pd.DataFrame(
        {"couple_id": ep["couple_id"].astype(str), "pursuer": ep["pursuer"].astype(str)}
    )
    e["first"] = np.arange(len(e))
    by = e.groupby(["couple_id", "pursuer"], sort=False).agg(
        k=("first", "size"), f=("first", "min")
    )
    by = by.reset_index().sort_values(["couple_id", "k", "f"], ascending=[True, False, True])
    top = by.drop_duplicates("couple_id").set_index("couple_id")
    total = e.groupby("couple_id").size()
    out = _rate_results(span, total)
    for couple, res in out.items():
        k = int(total.get(couple, 0))
        if k:
            res["partner"] = top.at[couple, "pursuer"]
            res["share"] = top.at[couple, "k"] / k
    return out


def _resurfacing(ev, ci, span, conflicts):
    from patterns.topics import topic_recurrence

    if not _any_conflict(ev, ci):
        return dict.fromkeys(span, "no conflicts were logged")
    if not len(ci) or ci["repaired"].isna().all():
        return dict.fromkeys(span, "no check-in says whether a conflict was repaired")
    rec = topic_recurrence(conflicts.get())
    return _rate_results(span, rec.groupby("couple_id")["resurfaced"].sum(), scale=4)


def _lonely(ci, spec):
    from patterns.trends import lonely_together

    if (
        not len(ci)
        or ci["time_together_min"].isna().all()
        or (ci["lonely"].isna().all() and ci["connection"].isna().all())
    ):
        return _missing_for(ci, "check-ins with time together and loneliness or connection")
    p = spec["params"]
    lt = lonely_together(ci, lonely_min=p["lonely_min"], connection_max=p["connection_max"])
    # each couple's partner with the highest share (ties: first id; NaN last): one sort of
    # all rows instead of one per couple ((couple, partner) is unique, so no ties remain)
    lt = lt.sort_values(
        ["couple_id", "share", "partner"], ascending=[True, False, True], na_position="last"
    ).drop_duplicates("couple_id")
    out = {}
    for top in lt.itertuples(index=False):
        out[top.couple_id] = {
            "value": top.share,
            "ci_low": top.ci_low,
            "ci_high": top.ci_high,
            "n": top.together_days,
            "partner": top.partner,
        }
    return out


def _intimacy(ci, spec):
    from patterns.trends import daily_partner_table

    if not len(ci) or ci["intimacy_comfort"].isna().all():
        return _missing_for(ci, "no check-in rated comfort with physical intimacy")
    d = daily_partner_table(ci, ["intimacy_comfort"]).dropna(subset=["intimacy_comfort"])
    d["low"] = d["intimacy_comfort"] <= spec["params"]["comfort_max"]
    g = d.groupby(["couple_id", "partner"])["low"].agg(["sum", "size"]).reset_index()
    # each couple's partner with the highest share (ties: first partner id), all at once
    g = g.assign(share=g["sum"] / g["size"]).sort_values(
        ["couple_id", "share", "partner"], ascending=[True, False, True], kind="stable"
    )
    out = {}
    for top in g.drop_duplicates("couple_id").itertuples(index=False):
        v, lo, hi = _wilson(float(top.sum), float(top.size))
        out[top.couple_id] = {
            "value": v,
            "ci_low": lo,
            "ci_high": hi,
            "n": float(top.size),
            "partner": top.partner,
        }
    return out


def _turning(ev):
    from patterns.bids import turning_rates

    if not len(ev) or not (ev["code"] == "bid").any():
        return _missing_for(ev, "no bids for connection were logged")
    tr = turning_rates(ev, period="M")
    g = tr.groupby("couple_id")[["bids", "toward"]].sum()
    return {
        c: dict(
            zip(("value", "ci_low", "ci_high"), _wilson(r.toward, r.bids), strict=True),
            n=float(r.bids),
        )
        for c, r in g.iterrows()
    }


def _ratio(ev, spec):
    p = spec["params"]
    # a user's window checked here (merge_asof refused a negative tolerance; the integer
    # match would count nothing, or fail on the unsigned comparison, without a word)
    hours = p["window_hours"]
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not hours >= 0:
        raise option_error(
            "thresholds['conflict_ratio'].params.window_hours",
            "indicators",
            "a number of hours, 0 or more",
            hours,
        )
    if not len(ev) or not (ev["code"] == "conflict").any():
        return _missing_for(ev, "no conflicts were logged in the interaction log")
    pos, neg = set(p["positive"]), set(p["negative"])
    enc = encode(ev)  # the events' integer encoding, shared with the other event signs
    k_pos, k_neg = _moves_after_markers(enc, pos, neg, pd.Timedelta(hours=float(hours)))
    out = {}
    for i, couple in enumerate(enc.couple_names.tolist()):
        if k_pos[i] + k_neg[i] == 0:
            out[couple] = "no positive or negative moves during conflicts"
            continue
        kp, kn = float(k_pos[i]), float(k_neg[i])
        a, b = (kp, kn) if kp > 0 and kn > 0 else (kp + 0.5, kn + 0.5)
        se = np.sqrt(1 / a + 1 / b)
        v = a / b
        out[couple] = {
            "value": v,
            "ci_low": v * np.exp(-_Z * se),
            "ci_high": v * np.exp(_Z * se),
            "n": kp + kn,
        }
    return out


def _moves_after_markers(
    enc: Encoded, pos: set, neg: set, window: pd.Timedelta
) -> tuple[np.ndarray, np.ndarray]:
    """Per couple code of ``enc`` (:func:`patterns._eventcodes.encode`): the positive and
    the negative moves within ``window`` after the couple's latest ``conflict`` marker at
    or before them (a backward as-of match with a tolerance, as
    ``pandas.merge_asof(by="couple_id", tolerance=window)``).

    Only markers and counted moves are taken, in the encoding's (couple, time) order;
    each move takes the latest marker row before it by a running maximum, or a marker at
    its very time. The merge_asof on string couple ids took 1.1-1.8 s at 1,000 couples
    (3.1 M events); this takes ~0.1 s.
    """
    n_couples = len(enc.couple_names)

    def has(names: set) -> np.ndarray:  # (a code outside the vocabulary is code −1: never)
        return np.isin(enc.code, [CODE[c] for c in names if c in CODE])

    marker, is_pos = enc.code == CODE["conflict"], has(pos)
    move = is_pos | has(neg)  # (a code may be a marker and a move: it counts itself)
    keep = marker | move
    if enc.blocked():  # one run per couple in time order: no sort (see Encoded.in_order)
        rows = enc.in_order(np.flatnonzero(keep))
    else:
        order = enc.order()
        rows = order[keep[order]]
    k, t, marker, is_pos, move = (
        enc.couple[rows],
        enc.ts[rows],
        marker[rows],
        is_pos[rows],
        move[rows],
    )
    idx = np.where(marker, np.arange(len(k)), -1)
    last = np.maximum.accumulate(idx) if len(k) else idx  # the latest marker row so far
    if len(k):  # a marker at a move's very time counts, whichever row comes first
        run = np.r_[True, (k[1:] != k[:-1]) | (t[1:] != t[:-1])]  # one couple, one time
        same = np.maximum.reduceat(idx, np.flatnonzero(run))[np.cumsum(run) - 1]
        last = np.where(same >= 0, same, last)
    ok = move & (last >= 0)
    m = np.where(ok, last, 0)
    # the time since the marker as unsigned: sorted, it is in [0, 2**64) within a couple and
    # exact where int64 wraps (a move 560 years later counted as within the window)
    since = t.view(np.uint64) - t[m].view(np.uint64)
    ok &= (k[m] == k) & (since <= np.uint64(window.value))
    k_pos = np.bincount(k[ok & is_pos], minlength=n_couples)
    k_neg = np.bincount(k[ok & ~is_pos], minlength=n_couples)
    return k_pos, k_neg


def _missing_for(df, reason):
    ids = df["couple_id"].dropna().astype(str).unique() if len(df) else []
    return dict.fromkeys(ids, reason)
