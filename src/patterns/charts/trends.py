"""Charts for connection trends and the indicator panel. Inputs are results of
:mod:`patterns.trends` and :mod:`patterns.indicators`; no statistics here. Partner ids are
replaced by "Partner A"/"Partner B" (and "Couple") before anything reaches a chart.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from patterns.charts._common import PARTNER_COLORS, base, check_rows, one_couple, partner_scale
from patterns.schema import partner_labels, require_columns

__all__ = ["LEVEL_COLORS", "chart_before_after", "chart_connection", "chart_indicators"]

#: Indicator levels (Okabe–Ito): calm, keep an eye on, talk about, nothing to say.
LEVEL_COLORS = {"none": "#009E73", "watch": "#E69F00", "discuss": "#D55E00", "no_data": "#BBBBBB"}
_LEVEL_WORDS = {
    "none": "calm",
    "watch": "watch",
    "discuss": "discuss",
    "no_data": "not enough data",
}


def _label(partner: pd.Series) -> pd.Series:
    ids = sorted(p for p in partner.astype(str).unique() if p != "couple")
    labels = {**partner_labels(ids), "couple": "Couple"}
    return partner.astype(str).map(labels)


def chart_connection(
    rolling: pd.DataFrame,
    *,
    couple_id: str | None = None,
    change_points: pd.DataFrame | None = None,
    intervention_date: Any = None,
) -> alt.LayerChart:
    """Connection over time per partner: rolling mean with its band, daily points, change
    points and an intervention line.

    Parameters
    ----------
    rolling : DataFrame
        :func:`patterns.trends.rolling_connection` output.
    couple_id : str, optional
        The couple to draw (required when ``rolling`` holds several).
    change_points : DataFrame, optional
        :func:`patterns.trends.change_points` output (dashed rules at ``date``).
    intervention_date : date-like, optional
        A solid black rule at this day.

    Returns
    -------
    alt.LayerChart
        Layers: band (``ci_low``–``ci_high``, titled 95%: with rolling_connection's
        default ``autocorrelation="ar1"`` it covers about 95% even when days carry over),
        line (``rolling_mean``), points (daily ``connection``), then optional
        change-point and intervention rules; unrendered.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"couple_id": "c1", "partner": ["p1", "p1", "couple"],
    ...     "day": pd.to_datetime(["2026-01-05", "2026-01-06", "2026-01-06"]),
    ...     "connection": [5.0, 6.0, 5.5], "rolling_mean": [5.0, 5.5, 5.5],
    ...     "ci_low": [None, 4.0, None], "ci_high": [None, 7.0, None]})
    >>> spec = chart_connection(r, intervention_date="2026-01-06").to_dict()
    >>> [layer["mark"]["type"] for layer in spec["layer"]]
    ['area', 'line', 'point', 'rule']
    """
    func = "chart_connection"
    cols = ["couple_id", "partner", "day", "connection", "rolling_mean", "ci_low", "ci_high"]
    require_columns(rolling, cols, func=func)
    data = one_couple(rolling[cols], couple_id, func)
    data = data.assign(who=_label(data["partner"])).drop(columns=["couple_id", "partner"])
    data = check_rows(data.reset_index(drop=True), func=func)
    chart = base(data, title="How connected each partner felt (rolling mean with 95% band)")
    x = alt.X("day:T", title=None)
    color = alt.Color("who:N", scale=partner_scale(), title=None)
    band = chart.mark_area(opacity=0.18).encode(
        x=x, y=alt.Y("ci_low:Q"), y2="ci_high:Q", color=color
    )
    line = chart.mark_line().encode(
        x=x,
        y=alt.Y("rolling_mean:Q", title="connection (0–10)", scale=alt.Scale(domain=[0, 10])),
        color=color,
        tooltip=[
            alt.Tooltip("who:N", title="who"),
            alt.Tooltip("day:T"),
            alt.Tooltip("rolling_mean:Q", format=".1f", title="rolling mean"),
        ],
    )
    points = chart.mark_point(size=12, opacity=0.35).encode(x=x, y="connection:Q", color=color)
    layers = [band, line, points]
    if change_points is not None:
        require_columns(change_points, ["couple_id", "partner", "date", "delta"], func=func)
        cp = change_points[
            change_points["couple_id"]
            .astype(str)
            .isin(rolling["couple_id"].astype(str).unique() if couple_id is None else [couple_id])
        ]
        cp = cp.assign(who=_label(cp["partner"]))[["date", "delta", "who"]].reset_index(drop=True)
        layers.append(
            alt.Chart(cp)
            .mark_rule(strokeDash=[4, 3])
            .encode(
                x="date:T",
                color=color,
                tooltip=[
                    alt.Tooltip("who:N"),
                    alt.Tooltip("date:T", title="change on"),
                    alt.Tooltip("delta:Q", format="+.1f", title="change"),
                ],
            )
        )
    if intervention_date is not None:
        day = pd.DataFrame({"day": [pd.Timestamp(intervention_date)], "what": ["intervention"]})
        layers.append(
            alt.Chart(day)
            .mark_rule(color="black", strokeWidth=2)
            .encode(x="day:T", tooltip=[alt.Tooltip("what:N"), alt.Tooltip("day:T")])
        )
    return alt.layer(*layers)


def chart_before_after(effect: pd.DataFrame, *, couple_id: str | None = None) -> alt.LayerChart:
    """Mean connection before and after the intervention, per partner and for the couple.

    Parameters
    ----------
    effect : DataFrame
        :func:`patterns.trends.intervention_effect` output.
    couple_id : str, optional
        The couple to draw (required when ``effect`` holds several).

    Returns
    -------
    alt.LayerChart
        A rule from the before mean to the after mean and a point at each, one row per
        partner/couple; the tooltip carries the difference and its interval (``ci_low``,
        ``ci_high``; titled 95%, the level the reports use: with intervention_effect's
        default ``ci_method="reml"`` it covers about 95% even when days carry over).

    Examples
    --------
    >>> import pandas as pd
    >>> e = pd.DataFrame({"couple_id": "c1", "partner": ["p1", "couple"],
    ...     "mean_before": [5.0, 5.2], "mean_after": [6.4, 6.5], "difference": [1.4, 1.3],
    ...     "ci_low": [0.8, 0.9], "ci_high": [2.0, 1.8]})
    >>> [layer["mark"]["type"] for layer in chart_before_after(e).to_dict()["layer"]]
    ['rule', 'point']
    """
    func = "chart_before_after"
    cols = ["couple_id", "partner", "mean_before", "mean_after", "difference", "ci_low", "ci_high"]
    require_columns(effect, cols, func=func)
    data = one_couple(effect[cols], couple_id, func)
    data = data.assign(who=_label(data["partner"])).drop(columns=["couple_id", "partner"])
    data = check_rows(data.reset_index(drop=True), func=func)
    long = data.melt(
        id_vars=["who", "difference", "ci_low", "ci_high"],
        value_vars=["mean_before", "mean_after"],
        var_name="period",
        value_name="mean",
    )
    long["period"] = long["period"].map({"mean_before": "before", "mean_after": "after"})
    tooltip = [
        alt.Tooltip("who:N"),
        alt.Tooltip("difference:Q", format="+.2f"),
        alt.Tooltip("ci_low:Q", format="+.2f", title="95% interval from"),
        alt.Tooltip("ci_high:Q", format="+.2f", title="95% interval to"),
    ]
    y = alt.Y("who:N", title=None, sort=list(PARTNER_COLORS))
    rule = (
        base(data, title="Mean connection before → after the intervention", height=90)
        .mark_rule(color="#999999")
        .encode(
            x=alt.X(
                "mean_before:Q", title="mean connection (0–10)", scale=alt.Scale(domain=[0, 10])
            ),
            x2="mean_after:Q",
            y=y,
            tooltip=tooltip,
        )
    )
    points = (
        alt.Chart(long)
        .mark_point(filled=True, size=90)
        .encode(
            x="mean:Q",
            y=y,
            shape=alt.Shape("period:N", sort=["before", "after"], title=None),
            color=alt.Color("who:N", scale=partner_scale(), legend=None),
            tooltip=[*tooltip, alt.Tooltip("period:N"), alt.Tooltip("mean:Q", format=".2f")],
        )
    )
    return alt.layer(rule, points)


def chart_indicators(table: pd.DataFrame, *, couple_id: str | None = None) -> alt.LayerChart:
    """A compact panel of the indicators: one line per sign with its level word and colour;
    the plain-language sentence and caveat are in the tooltip.

    Parameters
    ----------
    table : DataFrame
        :func:`patterns.indicators.indicators` output.
    couple_id : str, optional
        The couple to draw (required when ``table`` holds several).

    Returns
    -------
    alt.LayerChart
        A coloured square (level) and the sign's label per row; unrendered.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"couple_id": "c1", "indicator": ["escalation", "intimacy"],
    ...     "label": ["Escalation", "Intimacy"], "level": ["watch", "none"],
    ...     "sentence": ["About 0.6 a week.", "Rare."], "caveat": ["Self-rated.", "Varies."]})
    >>> [layer["mark"]["type"] for layer in chart_indicators(t).to_dict()["layer"]]
    ['square', 'text']
    """
    func = "chart_indicators"
    cols = ["couple_id", "indicator", "label", "level", "sentence", "caveat"]
    require_columns(table, cols, func=func)
    data = one_couple(table[cols], couple_id, func).drop(columns="couple_id")
    data = check_rows(data.reset_index(drop=True), func=func)
    data = data.assign(
        level_word=data["level"].map(_LEVEL_WORDS).fillna(data["level"]), row=range(len(data))
    )
    y = alt.Y(
        "label:N",
        sort=alt.SortField("row"),
        title=None,
        axis=alt.Axis(labelLimit=420, labelFontSize=14, labelPadding=8),
    )
    tooltip = [
        alt.Tooltip("label:N", title="sign"),
        alt.Tooltip("level_word:N", title="level"),
        alt.Tooltip("sentence:N", title="what the data show"),
        alt.Tooltip("caveat:N"),
    ]
    chart = base(
        data, title="Signs worth a conversation (not a diagnosis)", width=160, height=36 * len(data)
    )
    # no legend: the level is written beside every square, in the words a reader uses
    squares = chart.mark_square(size=400).encode(
        y=y,
        x=alt.value(10),
        color=alt.Color(
            "level:N",
            scale=alt.Scale(domain=list(LEVEL_COLORS), range=list(LEVEL_COLORS.values())),
            title="level",
            legend=None,
        ),
        tooltip=tooltip,
    )
    words = chart.mark_text(align="left", dx=24, fontSize=14).encode(
        y=y, x=alt.value(10), text="level_word:N", tooltip=tooltip
    )
    return alt.layer(squares, words)
