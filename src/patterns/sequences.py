"""Lag-sequential statistics over coded interaction moves (Bakeman & Quera; GSEQ).

A *code stream* is the time-ordered list of a couple's moves, each labelled with its code (or
family) and, by default, the partner who made it (``A:pursue``, ``B:withdraw``). Streams are
cut into *sessions* (a new couple, a new local diary day, or a gap longer than
``session_gap``) and lag-L pairs are counted within sessions only, never across them.

:func:`lag_table` returns one row per (given, target) cell with counts, expected counts,
transitional probabilities, Haberman adjusted residuals, Yule's Q, odds ratios and corrected
p-values; :func:`lag_test` tests the whole table (G², Pearson X²). Couple-level tables are
small, so effects are computed per couple first (:func:`lag_effects`) and summarised across
couples (:func:`pooled_effect`) instead of pooling raw tallies.

Examples
--------
>>> tab = lag_table(list("ababababa"))
>>> tab[["given", "target", "count", "adjusted_residual", "yules_q"]]
  given target  count  adjusted_residual  yules_q
0     a      a      0          -2.828427     -1.0
1     a      b      4           2.828427      1.0
2     b      a      4           2.828427      1.0
3     b      b      0          -2.828427     -1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from patterns import schema
from patterns._eventcodes import FAMILY_NAMES, MARKER, encode, local_day_ns, utc_from_ns
from patterns.errors import (
    check_duration,
    check_fraction,
    check_int,
    check_option,
    option_error,
)
from patterns.timeutil import DEFAULT_CUTOFF_HOUR, resolve_timezones

__all__ = [
    "code_stream",
    "lag_effects",
    "lag_table",
    "lag_test",
    "pooled_effect",
]

_CORRECTIONS = (
    "holm",
    "bonferroni",
    "fdr_bh",
    "fdr_by",
    "sidak",
    "holm-sidak",
    "simes-hochberg",
    "hommel",
    "none",
)
_SESSION_COLUMNS = ("couple_id", "session")


# --- building code streams ----------------------------------------------------------------


def code_stream(
    events: pd.DataFrame,
    *,
    by: str = "code",
    actor_tagged: bool = True,
    session_gap: str | pd.Timedelta = "2h",
    timezone: str | dict[str, str] | None = None,
    cutoff_hour: int = DEFAULT_CUTOFF_HOUR,
    drop_markers: bool = True,
) -> pd.DataFrame:
    """Time-ordered, actor-tagged code labels with session ids, ready for :func:`lag_table`.

    Parameters
    ----------
    events : DataFrame
        Events in the data contract (``couple_id``, ``ts``, ``actor``, ``code``).
    by : {"code", "family"}
        Label each move by its code (``pursue``) or by its family (``pursue`` for
        ``criticize`` too).
    actor_tagged : bool
        Prefix each label with the partner who made it: ``A:`` for the partner whose id sorts
        first in the couple, ``B:`` for the other (the labels of
        :func:`patterns.schema.partner_labels`).
    session_gap : str or Timedelta
        A gap longer than this between two moves of a couple starts a new session.
    timezone : str or dict, optional
        IANA zone(s) for local days; default ``events.attrs["timezones"]``, else UTC.
    cutoff_hour : int
        Local hour at which a diary day starts (see :func:`patterns.timeutil.diary_day`).
    drop_markers : bool
        Leave out ``conflict`` markers (they annotate, they are not moves).

    Returns
    -------
    DataFrame
        One row per move, ordered by couple and time:

        - ``couple_id`` : couple.
        - ``session`` : integer session id, unique across couples (0, 1, …).
        - ``ts`` : UTC time of the move.
        - ``code`` : the label (``A:pursue`` or ``pursue``).

    Notes
    -----
    A new session starts at a new couple, a new local diary day, or a gap longer than
    ``session_gap``. Ties in time keep the input order (stable sort).

    Examples
    --------
    >>> ev = schema.coerce_dtypes(pd.DataFrame({
    ...     "couple_id": ["c1"] * 3, "actor": ["p1", "p2", "p1"],
    ...     "ts": pd.to_datetime(["2026-01-05 10:00", "2026-01-05 10:05",
    ...                           "2026-01-05 15:00"], utc=True),
    ...     "code": ["criticize", "stonewall", "bid"]}), "events")
    >>> code_stream(ev, by="family")[["session", "code"]]
       session        code
    0        0   A:pursue
    1        0  B:withdraw
    2        1   A:connect
    """
    func = "code_stream"
    schema.require_columns(events, ["couple_id", "ts", "actor", "code"], func=func)
    check_option("by", by, ["code", "family"], func=func)
    gap = check_duration(session_gap, "session_gap", func=func)
    enc = encode(events)
    every = enc.order()  # couple, time, row (shared with bids and cycles)
    order = every[enc.family[every] != MARKER] if drop_markers else every
    couple_i, ts_ns = enc.couple[order], enc.ts[order]
    # labels built from integer codes: one small table of names, then a single take
    if by == "family":
        idx, names = enc.family[order], np.array(FAMILY_NAMES, dtype=object)
    else:
        idx, names = enc.code[order], np.array(schema.CODES, dtype=object)
    if np.any(idx < 0):
        raise option_error(
            "events", func, f"codes from the vocabulary {list(schema.CODES)}", "an unknown code"
        )
    if actor_tagged:
        is_b = (enc.actor > enc.other())[order]  # sorted ids: the larger is Partner B
        names = np.concatenate(
            [("A:" + names.astype(str)).astype(object), ("B:" + names.astype(str)).astype(object)]
        )
        idx = idx + is_b * (len(names) // 2)
    code = pd.Series(pd.Categorical.from_codes(idx, categories=list(names)))
    couple = pd.Series(enc.couple_names[couple_i], dtype=object)
    ts = pd.Series(utc_from_ns(ts_ns))
    day_i = local_day_ns(
        ts_ns, couple_i, enc.couple_names, resolve_timezones(events, timezone), cutoff_hour
    )
    new = np.ones(len(order), dtype=bool)
    if len(order):
        new[1:] = (
            (couple_i[1:] != couple_i[:-1])
            | (day_i[1:] != day_i[:-1])
            | (np.diff(ts_ns) > gap.value)
        )
    session = np.cumsum(new) - 1
    return pd.DataFrame(
        {"couple_id": couple, "session": session.astype("int64"), "ts": ts, "code": code}
    )


# --- the table ------------------------------------------------------------------------------


def _as_stream(
    codes, func: str, session: str | Sequence[str] | None
) -> tuple[pd.Series, np.ndarray]:
    """Labels (as strings) and contiguous integer session ids from a sequence or DataFrame."""
    if isinstance(codes, pd.DataFrame):
        schema.require_columns(codes, ["code"], func=func, table="codes")
        if session is None:
            cols = [c for c in _SESSION_COLUMNS if c in codes.columns]
        else:
            cols = [session] if isinstance(session, str) else list(session)
            schema.require_columns(codes, cols, func=func, table="codes")
        labels = codes["code"]
        if cols:
            change = np.zeros(len(codes), dtype=bool)
            for col in cols:  # a few session columns, each compared vectorised
                v = pd.factorize(codes[col])[0]
                change[1:] |= v[1:] != v[:-1]
        else:
            change = np.zeros(len(codes), dtype=bool)
    elif isinstance(codes, str):
        raise option_error("codes", func, "a sequence of labels or a DataFrame", codes)
    else:
        labels = pd.Series(list(codes), dtype=object)
        change = np.zeros(len(labels), dtype=bool)
    if labels.isna().any():
        raise option_error("codes", func, "labels without missing values", "a missing label")
    if len(change):
        change[0] = True
    labels = labels.reset_index(drop=True)
    if isinstance(labels.dtype, pd.CategoricalDtype):
        cats = [str(c) for c in labels.cat.categories]
        if len(set(cats)) == len(cats):
            return labels.cat.rename_categories(cats), np.cumsum(change) - 1
    return labels.astype(str), np.cumsum(change) - 1


def _run_starts(labels: pd.Series, sess: np.ndarray) -> np.ndarray:
    """True at the first label of each run of the same label within a session."""
    keep = np.ones(len(labels), dtype=bool)
    if len(labels) > 1:
        v = (
            labels.cat.codes.to_numpy()
            if isinstance(labels.dtype, pd.CategoricalDtype)
            else labels.to_numpy()
        )
        keep[1:] = (v[1:] != v[:-1]) | (sess[1:] != sess[:-1])
    return keep


def _merge_runs(labels: pd.Series, sess: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """Collapse runs of the same label within a session (``a a b`` → ``a b``)."""
    keep = _run_starts(labels, sess)
    return labels[keep].reset_index(drop=True), sess[keep]


def _pair_counts(idx: np.ndarray, sess: np.ndarray, k: int, lag: int) -> np.ndarray:
    """K×K counts of lag-``lag`` pairs within sessions (``idx`` may be 2-D: one row per
    permutation)."""
    g, t = idx[..., :-lag], idx[..., lag:]
    ok = sess[:-lag] == sess[lag:]
    flat = g * k + t
    if flat.ndim == 1:
        return np.bincount(flat[ok], minlength=k * k).reshape(k, k).astype(float)
    p = flat.shape[0]
    offs = (np.arange(p)[:, None] * (k * k) + flat)[:, ok]
    return np.bincount(offs.ravel(), minlength=p * k * k).reshape(p, k, k).astype(float)


def _ipf(
    x: np.ndarray, allowed: np.ndarray, *, tol: float = 1e-10, max_iter: int = 1000
) -> np.ndarray:
    """Expected counts under quasi-independence by iterative proportional fitting.

    Written by hand because no maintained library offers IPF for an incomplete table with
    a structural-zero mask; this is the textbook algorithm (Bishop, Fienberg & Holland 1975,
    §5.1): start from the mask and rescale rows, then columns, to the observed margins.
    """
    r, c = x.sum(1), x.sum(0)
    m = allowed.astype(float)
    for _ in range(max_iter):
        rs = m.sum(1)
        m *= np.divide(r, rs, out=np.zeros_like(r), where=rs > 0)[:, None]
        cs = m.sum(0)
        m *= np.divide(c, cs, out=np.zeros_like(c), where=cs > 0)[None, :]
        if np.abs(m.sum(1) - r).max(initial=0) < tol:
            break
    return m


def _residual_variance_factor(e: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """``1 − h`` for each cell of the (quasi-)independence log-linear model.

    The adjusted residual is ``(x − e) / sqrt(e (1 − h))`` with ``h`` the leverage of the
    Poisson log-linear model with row and column effects fitted to the allowed cells
    (Haberman 1973). Without structural zeros ``1 − h = (1 − r/N)(1 − c/N)`` exactly, so this
    reduces to the familiar formula; with structural zeros (merged repeats) it gives the
    correct variance where the familiar formula would only approximate it.
    """
    k_r, k_c = e.shape
    rows, cols = np.nonzero(allowed & (e > 0))
    out = np.full(e.shape, np.nan)
    if len(rows) == 0:
        return out
    x_design = np.zeros((len(rows), k_r + k_c))
    x_design[np.arange(len(rows)), rows] = 1.0
    x_design[np.arange(len(rows)), k_r + cols] = 1.0
    w = e[rows, cols]
    info = x_design.T @ (x_design * w[:, None])
    cov = np.linalg.pinv(info)
    h = w * np.einsum("ij,jk,ik->i", x_design, cov, x_design)
    out[rows, cols] = 1.0 - h
    return out


def _cells(x: np.ndarray, allowed: np.ndarray) -> dict[str, np.ndarray]:
    """Every per-cell statistic of one K×K table (vectorised over cells)."""
    n = x.sum()
    r, c = x.sum(1, keepdims=True), x.sum(0, keepdims=True)
    if allowed.all():
        e = r * c / n if n > 0 else np.zeros_like(x)
        one_minus_h = (1 - r / n) * (1 - c / n) if n > 0 else np.full(x.shape, np.nan)
    else:
        e = _ipf(x, allowed)
        one_minus_h = _residual_variance_factor(e, allowed)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = e * one_minus_h
        z = np.where((var > 1e-12) & allowed, (x - e) / np.sqrt(var), np.nan)
        p_tg = np.where(r > 0, x / r, np.nan)
        # the 2×2 collapse of each cell: given/not given × target/not target
        a = x
        b = r - x
        cc = c - x
        d = n - r - c + x
        ad, bc = a * d, b * cc
        q = np.where(allowed & (ad + bc > 0), (ad - bc) / (ad + bc), np.nan)
        # Haldane–Anscombe 0.5 correction, only for tables with a zero cell
        zero = (a == 0) | (b == 0) | (cc == 0) | (d == 0)
        a2, b2, c2, d2 = (v + 0.5 * zero for v in (a, b, cc, d))
        log_or = np.where(allowed, np.log(a2) + np.log(d2) - np.log(b2) - np.log(c2), np.nan)
        se = np.where(allowed, np.sqrt(1 / a2 + 1 / b2 + 1 / c2 + 1 / d2), np.nan)
    p = 2 * stats.norm.sf(np.abs(z))
    return {
        "count": x,
        "expected": np.broadcast_to(e, x.shape).astype(float),
        "p_target_given": np.broadcast_to(p_tg, x.shape),
        "adjusted_residual": z,
        "yules_q": q,
        "odds_ratio": np.exp(log_or),
        "log_odds": log_or,
        "log_odds_se": se,
        "p_value": p,
        "zero_corrected": np.broadcast_to(zero, x.shape) & allowed,
    }


def _prepare(codes, *, lag, merge_repeats, labels, session, func):
    lag = check_int(lag, "lag", func=func, minimum=1)
    lab, sess = _as_stream(codes, func, session)
    if merge_repeats:
        lab, sess = _merge_runs(lab, sess)
    observed = sorted(
        pd.unique(lab.cat.remove_unused_categories().cat.categories)
        if isinstance(lab.dtype, pd.CategoricalDtype)
        else pd.unique(lab)
    )
    if labels is None:
        names = observed
    else:
        names = [str(v) for v in labels]
        extra = sorted(set(observed) - set(names))
        if extra or len(set(names)) != len(names):
            raise option_error(
                "labels",
                func,
                "unique labels covering every code present",
                f"missing {extra}" if extra else "duplicates",
            )
    if len(names) < 2:
        raise option_error("codes", func, "a stream with at least two distinct labels", names)
    k = len(names)
    if isinstance(lab.dtype, pd.CategoricalDtype):  # recode categories, not every row
        idx = lab.cat.set_categories(names).cat.codes.to_numpy().astype(np.int64)
    else:
        idx = pd.Categorical(lab, categories=names).codes.astype(np.int64)
    x = _pair_counts(idx, sess, k, lag) if len(idx) > lag else np.zeros((k, k))
    allowed = np.ones((k, k), dtype=bool)
    if merge_repeats and lag == 1:
        np.fill_diagonal(allowed, False)  # structural zeros: a merged code cannot follow itself
    return names, idx, sess, x, allowed


def _permutation_z(idx, sess, k, lag, permutations, seed, allowed):
    """Adjusted residuals and G² for ``permutations`` within-session shuffles (vectorised:
    one random key per element, sorted within session blocks)."""
    rng = np.random.default_rng(seed)
    out_z, out_g2 = [], []
    batch = max(1, int(2e7 // max(len(idx), 1)))  # bounded memory
    done = 0
    while done < permutations:
        p = min(batch, permutations - done)
        keys = rng.random((p, len(idx))) + sess[None, :]
        order = np.argsort(keys, axis=1, kind="stable")
        xs = _pair_counts(idx[order], sess, k, lag)
        n = xs.sum(axis=(1, 2), keepdims=True)
        r, c = xs.sum(2, keepdims=True), xs.sum(1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            e = r * c / n
            var = e * (1 - r / n) * (1 - c / n)
            z = np.where(var > 1e-12, (xs - e) / np.sqrt(var), np.nan)
            g2 = 2 * np.where((xs > 0) & allowed, xs * np.log(xs / e), 0).sum(axis=(1, 2))
        out_z.append(z)
        out_g2.append(g2)
        done += p
    return np.concatenate(out_z), np.concatenate(out_g2)


def lag_table(
    codes,
    *,
    lag: int = 1,
    merge_repeats: bool = False,
    correction: str = "holm",
    permutations: int = 0,
    seed: int | None = None,
    labels: Sequence[str] | None = None,
    session: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Lag-L transition table with per-cell statistics (GSEQ-style).

    Parameters
    ----------
    codes : sequence of str or DataFrame
        Labels in time order (one session), or a DataFrame with a ``code`` column and
        optional session columns (``couple_id``, ``session``; e.g. from :func:`code_stream`).
        A session is a contiguous run of equal session values; pairs never cross sessions.
    lag : int
        Distance between the given and the target move (1 = the next move).
    merge_repeats : bool
        Collapse runs of the same label first. At lag 1 the diagonal then holds structural
        zeros: expected counts come from iterative proportional fitting and the table's
        degrees of freedom drop by the number of structural zeros.
    correction : str
        Multiplicity correction of the cell p-values, any ``method`` of
        :func:`statsmodels.stats.multitest.multipletests` (default ``"holm"``), or ``"none"``.
    permutations : int
        When > 0, also a permutation p-value per cell: codes are shuffled within sessions
        ``permutations`` times and ``|z|`` is compared with its permutation distribution.
        Not available with ``merge_repeats`` (a shuffle would create repeats).
    seed : int, optional
        Seed for the permutations.
    labels : sequence of str, optional
        Row/column order (must cover every label present); default sorted labels.
    session : str or list of str, optional
        Session column(s) of a DataFrame input; default those of ``couple_id``/``session``
        that are present.

    Returns
    -------
    DataFrame
        One row per (given, target) cell, rows in label order:

        - ``given``, ``target`` : labels.
        - ``count`` : observed lag-L pairs.
        - ``expected`` : expected count under (quasi-)independence.
        - ``p_target_given`` : transitional probability ``count / row total``.
        - ``adjusted_residual`` : Haberman adjusted residual ``z``.
        - ``yules_q`` : Yule's Q of the cell's 2×2 collapse (``±1`` when a cell is empty).
        - ``odds_ratio``, ``log_odds``, ``log_odds_se`` : odds ratio of the 2×2 collapse,
          its log and the log's standard error.
        - ``zero_corrected`` : whether 0.5 was added to the 2×2 cells (a cell was zero).
        - ``p_value`` : two-sided p from ``z`` (standard normal).
        - ``p_adjusted`` : ``p_value`` after the multiplicity ``correction``.
        - ``p_permutation`` : permutation p-value (NaN unless ``permutations`` > 0).
        - ``low_expected`` : expected count below 5 (the normal approximation is doubtful).
        - ``structural_zero`` : the cell cannot occur (merged repeats, lag 1).
        - ``n`` : total pairs in the table.

    Notes
    -----
    With ``r`` and ``c`` the row and column totals and ``N`` the number of pairs, the
    expected count is ``e = r c / N`` and the adjusted residual
    ``z = (x − e) / sqrt(e (1 − r/N)(1 − c/N))`` (Haberman 1973; Allison & Liker 1982 is the
    same statistic; Bakeman & Quera 2011, ch. 9). With structural zeros the variance uses the
    exact leverage ``h`` of the quasi-independence log-linear model, ``z = (x − e)/sqrt(e (1−h))``,
    which equals the formula above when no cell is structural. Yule's Q of cell (i, j) is
    ``(ad − bc)/(ad + bc)`` from the 2×2 table ``a = x_ij``, ``b = r_i − a``,
    ``c = c_j − a``, ``d = N − a − b − c``; the odds ratio is ``ad/bc`` and
    ``SE(log OR) = sqrt(1/a + 1/b + 1/c + 1/d)``, with 0.5 added to all four cells only when
    one of them is zero (Haldane–Anscombe; Q itself is left uncorrected so a perfectly
    alternating stream gives ±1). Tested against hand-worked values (``a b a b a b a b a``:
    z = ±2.828427, Q = ±1; ``[[10, 20], [30, 40]]``: z = −0.890871, Q = −0.2), statsmodels'
    ``Table.standardized_resids`` on seeded random tables, and statsmodels' Poisson GLM
    studentized residuals for the structural-zero case.

    Examples
    --------
    >>> tab = lag_table(["a", "b", "b", "a", "b"], lag=1)
    >>> tab[["given", "target", "count", "expected"]]
      given target  count  expected
    0     a      a      0       0.5
    1     a      b      2       1.5
    2     b      a      1       0.5
    3     b      b      1       1.5
    """
    func = "lag_table"
    check_option("correction", correction, _CORRECTIONS, func=func)
    permutations = _check_permutations(permutations, merge_repeats, func)
    seed = _check_seed(seed, func)
    names, idx, sess, x, allowed = _prepare(
        codes, lag=lag, merge_repeats=merge_repeats, labels=labels, session=session, func=func
    )
    cells = _cells(x, allowed)
    k = len(names)
    p = cells["p_value"].ravel()
    p_adj = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        p_adj[finite] = (
            p[finite] if correction == "none" else multipletests(p[finite], method=correction)[1]
        )
    p_perm = np.full(k * k, np.nan)
    if permutations:
        z_perm, _ = _permutation_z(idx, sess, k, lag, permutations, seed, allowed)
        z_obs = np.abs(cells["adjusted_residual"]).ravel()
        z_abs = np.abs(z_perm.reshape(permutations, -1))
        hits = (np.nan_to_num(z_abs, nan=-1.0) >= z_obs[None, :] - 1e-9).sum(0)
        p_perm = np.where(np.isfinite(z_obs), (hits + 1) / (permutations + 1), np.nan)
    out = pd.DataFrame(
        {
            "given": np.repeat(names, k),
            "target": np.tile(names, k),
            **{key: np.asarray(val).ravel() for key, val in cells.items()},
        }
    )
    out["count"] = out["count"].astype("int64")
    out["p_adjusted"] = p_adj
    out["p_permutation"] = p_perm
    out["low_expected"] = (out["expected"] < 5) & allowed.ravel()
    out["structural_zero"] = ~allowed.ravel()
    out["n"] = int(x.sum())
    return out


def _check_seed(seed: Any, func: str) -> int | None:
    """``seed`` as :func:`patterns.errors.check_int` gives it; ``None`` (fresh entropy) kept."""
    return None if seed is None else check_int(seed, "seed", func=func)


def _check_permutations(permutations, merge_repeats, func) -> int:
    permutations = check_int(permutations, "permutations", func=func)
    if permutations and merge_repeats:
        raise option_error(
            "permutations",
            func,
            "0 when merge_repeats=True (shuffles would create repeats)",
            permutations,
        )
    return int(permutations)


def lag_test(
    codes,
    *,
    lag: int = 1,
    merge_repeats: bool = False,
    permutations: int = 0,
    seed: int | None = None,
    labels: Sequence[str] | None = None,
    session: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Test the whole lag-L table for sequential dependency (G² and Pearson X²).

    Parameters
    ----------
    codes, lag, merge_repeats, labels, session
        As in :func:`lag_table`.
    permutations : int
        When > 0, also a permutation p-value of G² (codes shuffled within sessions).
    seed : int, optional
        Seed for the permutations.

    Returns
    -------
    DataFrame
        One row:

        - ``n`` : number of lag-L pairs.
        - ``k`` : number of labels (rows = columns of the table).
        - ``g2`` : likelihood-ratio statistic ``2 Σ x ln(x/e)``.
        - ``df`` : degrees of freedom ``(R−1)(C−1) − S``.
        - ``p_value`` : upper chi-square tail of ``g2``.
        - ``pearson_x2``, ``pearson_p_value`` : Pearson ``Σ (x−e)²/e`` and its p-value.
        - ``low_expected_cells`` : allowed cells with expected count below 5.
        - ``share_low_expected`` : their share of the allowed cells.
        - ``structural_zeros`` : ``S``, cells that cannot occur.
        - ``p_permutation`` : permutation p-value of ``g2`` (NaN unless ``permutations``).

    Notes
    -----
    ``R`` and ``C`` count the rows and columns with a non-zero total (a label that never
    occurs as a given — e.g. only as the last move of each session — adds no degree of
    freedom), so for a table without empty margins ``df = (K − 1)²`` (Bakeman & Quera 2011).
    Tested against :func:`scipy.stats.chi2_contingency` with ``correction=False`` (X²) and
    ``lambda_="log-likelihood"`` (G²), and on the structural-zero case against a Poisson
    quasi-independence GLM's deviance and residual df in statsmodels.

    Examples
    --------
    >>> lag_test(list("ababababa"))[["n", "g2", "df", "pearson_x2"]]
       n        g2  df  pearson_x2
    0  8  11.09035   1         8.0
    """
    func = "lag_test"
    permutations = _check_permutations(permutations, merge_repeats, func)
    seed = _check_seed(seed, func)
    names, idx, sess, x, allowed = _prepare(
        codes, lag=lag, merge_repeats=merge_repeats, labels=labels, session=session, func=func
    )
    cells = _cells(x, allowed)
    e = cells["expected"]
    with np.errstate(divide="ignore", invalid="ignore"):
        g2 = 2 * np.where((x > 0) & allowed, x * np.log(x / e), 0).sum()
        x2 = np.where(allowed & (e > 0), (x - e) ** 2 / e, 0).sum()
    live_r, live_c = x.sum(1) > 0, x.sum(0) > 0
    live = live_r[:, None] & live_c[None, :]
    s = int((~allowed & live).sum())
    df = max(int((live_r.sum() - 1) * (live_c.sum() - 1)) - s, 0)
    low = int(((e < 5) & allowed).sum())
    p_perm = np.nan
    if permutations:
        _, g2_perm = _permutation_z(idx, sess, len(names), lag, permutations, seed, allowed)
        p_perm = (int((g2_perm >= g2 - 1e-9).sum()) + 1) / (permutations + 1)
    return pd.DataFrame(
        {
            "n": [int(x.sum())],
            "k": [len(names)],
            "g2": [float(g2)],
            "df": [df],
            "p_value": [float(stats.chi2.sf(g2, df)) if df > 0 else np.nan],
            "pearson_x2": [float(x2)],
            "pearson_p_value": [float(stats.chi2.sf(x2, df)) if df > 0 else np.nan],
            "low_expected_cells": [low],
            "share_low_expected": [low / max(int(allowed.sum()), 1)],
            "structural_zeros": [int((~allowed).sum())],
            "p_permutation": [p_perm],
        }
    )


# --- per-couple effects ------------------------------------------------------------------------


def _match(labels: pd.Series, wanted: str | Sequence[str]) -> np.ndarray:
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    return labels.isin(wanted).to_numpy()


def lag_effects(
    events: pd.DataFrame,
    *,
    given: str | Sequence[str],
    target: str | Sequence[str],
    lag: int = 1,
    by: str = "family",
    actor_tagged: bool = True,
    session_gap: str | pd.Timedelta = "2h",
    timezone: str | dict[str, str] | None = None,
    cutoff_hour: int = DEFAULT_CUTOFF_HOUR,
    merge_repeats: bool = False,
    cross_partner: bool = False,
) -> pd.DataFrame:
    """Per-couple sequential effect of ``given`` → ``target``: Yule's Q and log odds.

    Parameters
    ----------
    events : DataFrame
        Events in the data contract.
    given, target : str or list of str
        Label(s) of the given and target moves as :func:`code_stream` writes them, e.g.
        ``"A:pursue"`` and ``"B:withdraw"`` (or ``"pursue"`` with ``actor_tagged=False``).
        A list matches any of its labels.
    lag, merge_repeats
        As in :func:`lag_table`.
    by, actor_tagged, session_gap, timezone, cutoff_hour
        As in :func:`code_stream` (default ``by="family"``).
    cross_partner : bool
        Role-free effect: ``given`` and ``target`` are untagged labels (``"pursue"``,
        ``"withdraw"``) and a pair counts as a target only when the *other* partner made the
        second move (so "pursue → partner withdraws", whoever pursues). The 2×2 collapse is
        then given / not given × "the next move is ``target`` by the other partner" / not.

    Returns
    -------
    DataFrame
        One row per couple (every couple in ``events``):

        - ``couple_id`` : couple.
        - ``given``, ``target`` : the labels asked for (lists joined with ``|``).
        - ``n`` : lag-L pairs within sessions.
        - ``count`` : pairs given → target (cell ``a`` of the 2×2 collapse).
        - ``given_count``, ``target_count`` : pairs whose first / second move matches.
        - ``expected`` : ``given_count · target_count / n``.
        - ``adjusted_residual`` : Haberman ``z`` of the cell.
        - ``yules_q`` : Yule's Q (NaN when undefined, e.g. no given move).
        - ``odds_ratio``, ``log_odds``, ``log_odds_se`` : with 0.5 added to every cell of
          the 2×2 table only when one is zero.
        - ``zero_corrected`` : whether that correction was applied.

    Notes
    -----
    Computed for all couples at once from grouped sums of the pair indicators (no loop over
    couples); the same 2×2 collapse and formulas as :func:`lag_table`, which a test checks
    couple by couple. This is the per-couple table a researcher exports for their own models
    (e.g. a multilevel model of log odds with ``log_odds_se``).

    Examples
    --------
    >>> ev = schema.coerce_dtypes(pd.DataFrame({
    ...     "couple_id": ["c1"] * 6, "actor": ["p1", "p2"] * 3,
    ...     "ts": pd.date_range("2026-01-05 10:00", periods=6, freq="5min", tz="UTC"),
    ...     "code": ["pursue", "withdraw", "criticize", "stonewall", "bid", "toward"]}),
    ...     "events")
    >>> lag_effects(ev, given="A:pursue", target="B:withdraw")[["n", "count", "yules_q"]]
       n  count  yules_q
    0  5      2      1.0
    """
    func = "lag_effects"
    lag = check_int(lag, "lag", func=func, minimum=1)
    stream = code_stream(
        events,
        by=by,
        actor_tagged=actor_tagged or cross_partner,
        session_gap=session_gap,
        timezone=timezone,
        cutoff_hour=cutoff_hour,
    )
    lab, sess = stream["code"].reset_index(drop=True), stream["session"].to_numpy()
    all_couples = pd.Index(sorted(pd.unique(events["couple_id"].astype(str))), name="couple_id")
    couple = all_couples.get_indexer(stream["couple_id"])  # integer couple codes
    if merge_repeats:
        keep = _run_starts(lab, sess)
        lab, sess, couple = lab[keep].reset_index(drop=True), sess[keep], couple[keep]
    ok = sess[:-lag] == sess[lag:] if len(sess) > lag else np.zeros(0, dtype=bool)
    if cross_partner:
        # split "A:pursue" into actor side and untagged label, per category (not per row)
        cats = pd.Series(lab.cat.categories.astype(str))
        codes_ = lab.cat.codes.to_numpy()
        bare = cats.str.slice(2)
        side = cats.str.startswith("B:").to_numpy()[codes_]
        g, t = _match(bare, given)[codes_], _match(bare, target)[codes_]
        gi = g[:-lag][ok]
        ti = (t[lag:] & (side[lag:] != side[:-lag]))[ok]
    else:
        g, t = _match(lab, given), _match(lab, target)
        gi, ti = g[:-lag][ok], t[lag:][ok]
    cid = couple[:-lag][ok] if len(sess) > lag else np.array([], dtype=np.int64)
    k = len(all_couples)
    sums = pd.DataFrame(
        {
            "n": np.bincount(cid, minlength=k),
            "count": np.bincount(cid, weights=gi & ti, minlength=k),
            "given_count": np.bincount(cid, weights=gi, minlength=k),
            "target_count": np.bincount(cid, weights=ti, minlength=k),
        },
        index=all_couples,
    ).astype("int64")
    n, a = sums["n"].to_numpy(float), sums["count"].to_numpy(float)
    r, c = sums["given_count"].to_numpy(float), sums["target_count"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = r * c / n
        var = e * (1 - r / n) * (1 - c / n)
        z = np.where(var > 1e-12, (a - e) / np.sqrt(var), np.nan)
        b, cc, d = r - a, c - a, n - r - c + a
        ad, bc = a * d, b * cc
        q = np.where(ad + bc > 0, (ad - bc) / (ad + bc), np.nan)
        zero = (a == 0) | (b == 0) | (cc == 0) | (d == 0)
        a2, b2, c2, d2 = (v_ + 0.5 * zero for v_ in (a, b, cc, d))
        log_or = np.log(a2) + np.log(d2) - np.log(b2) - np.log(c2)
        se = np.sqrt(1 / a2 + 1 / b2 + 1 / c2 + 1 / d2)
    undefined = (n == 0) | (r == 0) | (c == 0) | (r == n) | (c == n)
    log_or = np.where(undefined, np.nan, log_or)
    se = np.where(undefined, np.nan, se)
    return pd.DataFrame(
        {
            "couple_id": all_couples.to_numpy(),
            "given": given if isinstance(given, str) else "|".join(given),
            "target": target if isinstance(target, str) else "|".join(target),
            "n": sums["n"].to_numpy(),
            "count": sums["count"].to_numpy(),
            "given_count": sums["given_count"].to_numpy(),
            "target_count": sums["target_count"].to_numpy(),
            "expected": e,
            "adjusted_residual": z,
            "yules_q": q,
            "odds_ratio": np.exp(log_or),
            "log_odds": log_or,
            "log_odds_se": se,
            "zero_corrected": zero & ~undefined,
        }
    )


def pooled_effect(
    effects: pd.DataFrame,
    *,
    method: str = "random",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Summarise per-couple log odds across couples by inverse-variance meta-analysis.

    Parameters
    ----------
    effects : DataFrame
        Output of :func:`lag_effects` (``log_odds``, ``log_odds_se``, ``yules_q``); couples
        whose log odds are undefined are left out and counted.
    method : {"random", "fixed"}
        DerSimonian–Laird random effects (couples differ; the default) or fixed effect.
    confidence : float
        Confidence level of the intervals.

    Returns
    -------
    DataFrame
        One row:

        - ``couples`` : couples with a defined effect; ``couples_excluded`` : the others.
        - ``log_odds``, ``log_odds_se``, ``ci_low``, ``ci_high`` : pooled log odds ratio,
          its standard error and interval.
        - ``odds_ratio`` : ``exp(log_odds)``; ``yules_q`` : ``(OR − 1)/(OR + 1)`` of the
          pooled odds ratio, ``q_ci_low``, ``q_ci_high`` its interval.
        - ``z``, ``p_value`` : Wald test of ``log_odds = 0``.
        - ``tau2`` : between-couple variance (DerSimonian–Laird, truncated at 0);
          ``i2`` : share of variation due to between-couple differences.
        - ``q_stat``, ``q_df``, ``p_heterogeneity`` : Cochran's Q test of equal effects.
        - ``mean_yules_q`` : unweighted mean of the couples' Q, ``sd_yules_q`` its SD.

    Notes
    -----
    ``w_i = 1/(se_i² + τ²)``, pooled ``θ = Σ w_i θ_i / Σ w_i``, ``SE = 1/sqrt(Σ w_i)``;
    ``τ² = max(0, (Q − (k−1)) / (Σ w − Σ w²/Σ w))`` with fixed-effect weights
    (DerSimonian & Laird 1986). Written out here rather than taken from statsmodels'
    ``combine_effects`` because that (0.14–0.15) does not truncate a negative ``τ²`` at 0,
    which gives random-effects weights larger than the fixed-effect ones; the test checks
    agreement with ``combine_effects(method_re="dl")`` whenever its ``τ²`` is positive.

    Examples
    --------
    >>> eff = pd.DataFrame({"log_odds": [0.5, 1.0, 0.2], "log_odds_se": [0.3, 0.45, 0.4],
    ...                     "yules_q": [0.24, 0.46, 0.1]})
    >>> round(float(pooled_effect(eff)["log_odds"].iloc[0]), 4)
    0.5266
    """
    func = "pooled_effect"
    schema.require_columns(effects, ["log_odds", "log_odds_se"], func=func, table="effects")
    check_option("method", method, ["random", "fixed"], func=func)
    confidence = check_fraction(confidence, "confidence", func=func)
    y = effects["log_odds"].to_numpy(float)
    se = effects["log_odds_se"].to_numpy(float)
    ok = np.isfinite(y) & np.isfinite(se) & (se > 0)
    y, v = y[ok], se[ok] ** 2
    k = int(ok.sum())
    qs = effects["yules_q"].to_numpy(float)[ok] if "yules_q" in effects else np.full(k, np.nan)
    nan = np.nan
    row = dict.fromkeys(
        [
            "log_odds",
            "log_odds_se",
            "ci_low",
            "ci_high",
            "odds_ratio",
            "yules_q",
            "q_ci_low",
            "q_ci_high",
            "z",
            "p_value",
            "tau2",
            "i2",
            "q_stat",
            "p_heterogeneity",
        ],
        nan,
    )
    row = {"couples": k, "couples_excluded": int((~ok).sum()), **row, "q_df": max(k - 1, 0)}
    if k >= 1:
        w = 1 / v
        fe = (w * y).sum() / w.sum()
        q_stat = float((w * (y - fe) ** 2).sum())
        tau2 = 0.0
        if method == "random" and k > 1:
            tau2 = max(0.0, (q_stat - (k - 1)) / (w.sum() - (w**2).sum() / w.sum()))
        wr = 1 / (v + tau2)
        mu = float((wr * y).sum() / wr.sum())
        s = float(1 / np.sqrt(wr.sum()))
        crit = stats.norm.ppf(0.5 + confidence / 2)
        lo, hi = mu - crit * s, mu + crit * s
        row.update(
            log_odds=mu,
            log_odds_se=s,
            ci_low=lo,
            ci_high=hi,
            odds_ratio=float(np.exp(mu)),
            yules_q=float(np.tanh(0.5 * mu)),
            q_ci_low=float(np.tanh(0.5 * lo)),
            q_ci_high=float(np.tanh(0.5 * hi)),
            z=mu / s,
            p_value=float(2 * stats.norm.sf(abs(mu / s))),
            tau2=tau2,
            q_stat=q_stat,
            i2=max(0.0, (q_stat - (k - 1)) / q_stat) if k > 1 and q_stat > 0 else 0.0,
            p_heterogeneity=float(stats.chi2.sf(q_stat, k - 1)) if k > 1 else nan,
        )
    row["mean_yules_q"] = float(np.nanmean(qs)) if np.isfinite(qs).any() else nan
    row["sd_yules_q"] = float(np.nanstd(qs, ddof=1)) if np.isfinite(qs).sum() > 1 else nan
    return pd.DataFrame({key: [val] for key, val in row.items()})
