"""Charts for bids, sequences and pursue–withdraw cycles (Altair; no statistics here).

Each function takes an analysis *result* (already aggregated) and returns an unrendered
Altair chart; partner ids never reach a chart, only ``Partner A``/``Partner B`` labels.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from patterns import schema
from patterns.bids import REFERENCE_SOURCE, TURNING_TOWARD_REFERENCE
from patterns.charts._common import (
    ENDING_COLORS,
    READABLE_LABEL,
    base,
    check_rows,
    one_couple,
    partner_scale,
)
from patterns.errors import check_fraction

__all__ = [
    "chart_episode_timeline",
    "chart_pursuer_share",
    "chart_transitions",
    "chart_turning_rates",
]


def _day(values: pd.Series) -> pd.Series:
    """Dates as ISO strings (naive local dates, or UTC times) for the chart spec."""
    ts = pd.to_datetime(values)
    if getattr(ts.dt, "tz", None) is not None:
        return ts.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return ts.dt.strftime("%Y-%m-%d")


def chart_turning_rates(rates: pd.DataFrame, *, couple_id: str | None = None) -> alt.LayerChart:
    """Share of bids turned toward over time, per partner, with the reference lines.

    Parameters
    ----------
    rates : DataFrame
        Output of :func:`patterns.bids.turning_rates`.
    couple_id : str, optional
        Which couple to draw (required when ``rates`` holds several).

    Returns
    -------
    altair.LayerChart
        Lines (share toward of the bids each partner made), Wilson bands, and dashed rules
        at :data:`patterns.bids.TURNING_TOWARD_REFERENCE`, labelled and cited.

    Examples
    --------
    >>> rates = pd.DataFrame({"couple_id": "c1", "period_start": pd.to_datetime(
    ...     ["2026-03-02", "2026-03-09"]), "partner_label": "Partner A", "bids": [10, 12],
    ...     "share_toward": [0.7, 0.75], "toward_ci_low": [0.4, 0.47],
    ...     "toward_ci_high": [0.89, 0.91]})
    >>> spec = chart_turning_rates(rates).to_dict()
    >>> len(spec["layer"])
    4
    """
    func = "chart_turning_rates"
    schema.require_columns(
        rates,
        [
            "period_start",
            "partner_label",
            "bids",
            "share_toward",
            "toward_ci_low",
            "toward_ci_high",
        ],
        func=func,
        table="rates",
    )
    data = one_couple(rates, couple_id, func)
    data = data[data["bids"] > 0]
    data = check_rows(
        pd.DataFrame(
            {
                "period_start": _day(data["period_start"]).to_numpy(),
                "partner": data["partner_label"].astype(str).to_numpy(),
                "bids": data["bids"].to_numpy(),
                "share_toward": data["share_toward"].to_numpy(float),
                "ci_low": data["toward_ci_low"].to_numpy(float),
                "ci_high": data["toward_ci_high"].to_numpy(float),
            }
        ),
        func=func,
    )
    ref = pd.DataFrame(
        {
            "share": list(TURNING_TOWARD_REFERENCE.values()),
            "label": [
                f"{v:.0%}: {k} ({REFERENCE_SOURCE.split(' (')[0]})"
                for k, v in TURNING_TOWARD_REFERENCE.items()
            ],
        }
    )
    scale = partner_scale(data["partner"])
    x = alt.X("period_start:T", title="Period")
    y_scale = alt.Scale(domain=[0, 1])
    chart = base(data, title="Bids turned toward")
    band = chart.mark_area(opacity=0.2).encode(
        x=x,
        y=alt.Y("ci_low:Q", scale=y_scale, title="Share turned toward"),
        y2="ci_high:Q",
        color=alt.Color("partner:N", scale=scale, title="Bids made by"),
    )
    line = chart.mark_line(point=True).encode(
        x=x,
        y=alt.Y("share_toward:Q", scale=y_scale),
        color=alt.Color("partner:N", scale=scale, title="Bids made by"),
        tooltip=[
            alt.Tooltip("period_start:T", title="Period"),
            "partner:N",
            "bids:Q",
            alt.Tooltip("share_toward:Q", format=".0%"),
            alt.Tooltip("ci_low:Q", format=".0%"),
            alt.Tooltip("ci_high:Q", format=".0%"),
        ],
    )
    rules = alt.Chart(ref).mark_rule(strokeDash=[4, 4], color="#777777").encode(y="share:Q")
    text = (
        alt.Chart(ref)
        .mark_text(align="left", dx=4, dy=-6, color="#555555", fontSize=10)
        .encode(y="share:Q", text="label:N", x=alt.value(0))
    )
    return alt.layer(band, line, rules, text).properties(
        title=alt.TitleParams(
            "Bids turned toward", subtitle=[f"Dashed lines: figures {REFERENCE_SOURCE}."]
        )
    )


def chart_transitions(table: pd.DataFrame, *, alpha: float = 0.05) -> alt.LayerChart:
    """Heat map of adjusted residuals (given → target), significant cells marked.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`patterns.sequences.lag_table`.
    alpha : float
        Cells with ``p_adjusted < alpha`` are marked with ``*``.

    Returns
    -------
    altair.LayerChart
        A rect per cell coloured by the adjusted residual (diverging, symmetric around 0),
        with count, expected count, transitional probability and corrected p in the tooltip.

    Examples
    --------
    >>> from patterns.sequences import lag_table
    >>> spec = chart_transitions(lag_table(list("abababab"))).to_dict()
    >>> spec["layer"][0]["mark"]["type"], len(spec["layer"])
    ('rect', 2)
    """
    func = "chart_transitions"
    schema.require_columns(
        table,
        [
            "given",
            "target",
            "count",
            "expected",
            "adjusted_residual",
            "p_adjusted",
            "p_target_given",
        ],
        func=func,
        table="table",
    )
    alpha = check_fraction(alpha, "alpha", func=func)
    data = check_rows(
        table[
            [
                "given",
                "target",
                "count",
                "expected",
                "adjusted_residual",
                "p_adjusted",
                "p_target_given",
            ]
        ].copy(),
        func=func,
    )
    data["mark"] = np.where(data["p_adjusted"] < alpha, "*", "")
    zmax = (
        float(np.nanmax(np.abs(data["adjusted_residual"])))
        if data["adjusted_residual"].notna().any()
        else 1.0
    )
    zmax = max(zmax, 1.96)
    chart = alt.Chart(data).properties(
        width=360,
        height=360,
        title=alt.TitleParams(
            "Which move follows which",
            subtitle=[f"Colour: adjusted residual; * p_adjusted < {alpha:g}"],
        ),
    )
    x = alt.X("target:N", title="Next move")
    y = alt.Y("given:N", title="Move")
    rect = chart.mark_rect().encode(
        x=x,
        y=y,
        color=alt.Color(
            "adjusted_residual:Q",
            title="Adjusted residual",
            scale=alt.Scale(scheme="redblue", domain=[zmax, -zmax]),
        ),
        tooltip=[
            "given:N",
            "target:N",
            "count:Q",
            alt.Tooltip("expected:Q", format=".1f"),
            alt.Tooltip("p_target_given:Q", format=".0%"),
            alt.Tooltip("adjusted_residual:Q", format=".2f"),
            alt.Tooltip("p_adjusted:Q", format=".3f"),
        ],
    )
    marks = chart.mark_text(fontSize=16, fontWeight="bold").encode(x=x, y=y, text="mark:N")
    return alt.layer(rect, marks)


def chart_episode_timeline(episodes: pd.DataFrame, *, couple_id: str | None = None) -> alt.Chart:
    """One mark per pursue–withdraw episode over time, coloured by how it ended.

    Parameters
    ----------
    episodes : DataFrame
        Output of :func:`patterns.cycles.pursue_withdraw_episodes`.
    couple_id : str, optional
        Which couple to draw (required when several are present).

    Returns
    -------
    altair.Chart
        Points at the episode start, one row per pursuer (``Partner A``/``Partner B``),
        size by rounds, colour by ending (``charts._common.ENDING_COLORS``).

    Examples
    --------
    >>> eps = pd.DataFrame({"couple_id": "c1", "start": pd.to_datetime(["2026-03-02 18:00"],
    ...     utc=True), "pursuer": "p1", "withdrawer": "p2", "rounds": 3,
    ...     "ended_by": "repair", "peak_intensity": 0.8})
    >>> chart_episode_timeline(eps).to_dict()["encoding"]["color"]["scale"]["domain"][0]
    'repair'
    """
    func = "chart_episode_timeline"
    schema.require_columns(
        episodes,
        ["start", "pursuer", "withdrawer", "rounds", "ended_by"],
        func=func,
        table="episodes",
    )
    ep = one_couple(episodes, couple_id, func)
    labels = schema.partner_labels(pd.concat([ep["pursuer"], ep["withdrawer"]]).astype(str))
    data = check_rows(
        pd.DataFrame(
            {
                "start": _day(ep["start"]).to_numpy(),
                "pursuer": ep["pursuer"].astype(str).map(labels).to_numpy(),
                "rounds": ep["rounds"].to_numpy(),
                "ended_by": ep["ended_by"].astype(str).to_numpy(),
                "peak_intensity": (
                    ep["peak_intensity"].to_numpy(float)
                    if "peak_intensity" in ep
                    else np.full(len(ep), np.nan)
                ),
            }
        ),
        func=func,
    )
    return (
        base(data, title="Pursue–withdraw episodes", height=120)
        .mark_point(filled=True, opacity=0.85)
        .encode(
            x=alt.X("start:T", title="Start"),
            y=alt.Y("pursuer:N", title="Who pursued"),
            size=alt.Size("rounds:Q", title="Rounds"),
            color=alt.Color(
                "ended_by:N",
                title="How it ended",
                scale=alt.Scale(domain=list(ENDING_COLORS), range=list(ENDING_COLORS.values())),
                legend=alt.Legend(labelExpr=READABLE_LABEL),
            ),
            tooltip=[
                alt.Tooltip("start:T", title="Start"),
                "pursuer:N",
                "rounds:Q",
                "ended_by:N",
                alt.Tooltip("peak_intensity:Q", format=".2f"),
            ],
        )
    )


def chart_pursuer_share(shares: pd.DataFrame, *, couple_id: str | None = None) -> alt.LayerChart:
    """Roles over time: each partner's share of the pursuer role with its interval.

    Parameters
    ----------
    shares : DataFrame
        Output of :func:`patterns.cycles.pursuer_share`.
    couple_id : str, optional
        Which couple to draw (required when several are present).

    Returns
    -------
    altair.LayerChart
        A line and Wilson band per partner, with a reference rule at one half (both
        partners pursue equally often).

    Examples
    --------
    >>> sh = pd.DataFrame({"couple_id": "c1", "period_start": pd.to_datetime(["2026-03-02"]),
    ...     "partner_label": "Partner A", "episodes": 4, "as_pursuer": 3, "share": 0.75,
    ...     "ci_low": 0.3, "ci_high": 0.95})
    >>> [layer["mark"]["type"] for layer in chart_pursuer_share(sh).to_dict()["layer"]]
    ['area', 'line', 'rule']
    """
    func = "chart_pursuer_share"
    schema.require_columns(
        shares,
        ["period_start", "partner_label", "episodes", "share", "ci_low", "ci_high"],
        func=func,
        table="shares",
    )
    sh = one_couple(shares, couple_id, func)
    data = check_rows(
        pd.DataFrame(
            {
                "period_start": _day(sh["period_start"]).to_numpy(),
                "partner": sh["partner_label"].astype(str).to_numpy(),
                "episodes": sh["episodes"].to_numpy(),
                "share": sh["share"].to_numpy(float),
                "ci_low": sh["ci_low"].to_numpy(float),
                "ci_high": sh["ci_high"].to_numpy(float),
            }
        ),
        func=func,
    )
    scale = partner_scale(data["partner"])
    chart = base(data, title="Who pursues")
    x = alt.X("period_start:T", title="Period")
    y_scale = alt.Scale(domain=[0, 1])
    color = alt.Color("partner:N", scale=scale, title="Partner")
    band = chart.mark_area(opacity=0.2).encode(
        x=x,
        y=alt.Y("ci_low:Q", scale=y_scale, title="Share of episodes as pursuer"),
        y2="ci_high:Q",
        color=color,
    )
    line = chart.mark_line(point=True).encode(
        x=x,
        y=alt.Y("share:Q", scale=y_scale),
        color=color,
        tooltip=[
            alt.Tooltip("period_start:T", title="Period"),
            "partner:N",
            "episodes:Q",
            alt.Tooltip("share:Q", format=".0%"),
        ],
    )
    half = (
        alt.Chart(pd.DataFrame({"y": [0.5]}))
        .mark_rule(strokeDash=[2, 2], color="#999999")
        .encode(y="y:Q")
    )
    return alt.layer(band, line, half)
