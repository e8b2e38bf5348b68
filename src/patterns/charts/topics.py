"""Charts for conflict topics: recurrence over time (topic × week) with resurfacing marks,
and escalation vs repair by topic. Inputs are :mod:`patterns.topics` results; no
statistics here."""

from __future__ import annotations

import altair as alt
import pandas as pd

from patterns.charts._common import base, check_rows, one_couple, readable
from patterns.schema import require_columns

__all__ = ["chart_escalation_repair", "chart_topic_weeks"]

#: Colours for the two shares (Okabe–Ito): escalation vermillion, repair bluish green.
SHARE_COLORS = {"escalation": "#D55E00", "repair": "#009E73"}


def chart_topic_weeks(weeks: pd.DataFrame, *, couple_id: str | None = None) -> alt.LayerChart:
    """Heat map of conflicts per topic and week, with a mark where a topic resurfaced.

    Parameters
    ----------
    weeks : DataFrame
        :func:`patterns.topics.topic_weeks` output (``couple_id``, ``topic``,
        ``week_start``, ``conflicts``, ``resurfaced``, ``escalated``).
    couple_id : str, optional
        The couple to draw (required when ``weeks`` holds several).

    Returns
    -------
    alt.LayerChart
        Rect layer (colour = conflicts that week) and a point layer (black diamond where a
        conflict came back after the topic had been marked repaired); unrendered.

    Examples
    --------
    >>> import pandas as pd
    >>> w = pd.DataFrame({"couple_id": "c1", "topic": ["money", "money", "work"],
    ...     "week_start": pd.to_datetime(["2026-01-05", "2026-01-12", "2026-01-12"]),
    ...     "conflicts": [1, 2, 1], "resurfaced": [0, 1, 0], "escalated": [1, 0, 0]})
    >>> spec = chart_topic_weeks(w).to_dict()
    >>> [layer["mark"]["type"] for layer in spec["layer"]]
    ['rect', 'point']
    """
    func = "chart_topic_weeks"
    cols = ["couple_id", "topic", "week_start", "conflicts", "resurfaced", "escalated"]
    require_columns(weeks, cols, func=func)
    data = one_couple(weeks[cols], couple_id, func)
    data = check_rows(data.drop(columns="couple_id").reset_index(drop=True), func=func)
    data = data.assign(topic=readable(data["topic"]))
    order = data.groupby("topic")["conflicts"].sum().sort_values(ascending=False, kind="stable")
    chart = base(
        data,
        title="Conflict topics week by week (◆ = came back after a repair)",
        height=max(120, 22 * len(order)),
    )
    y = alt.Y("topic:N", sort=list(order.index), title=None)
    x = alt.X("yearmonthdate(week_start):O", title="week starting", axis=alt.Axis(labelAngle=-45))
    tooltip = [
        alt.Tooltip("topic:N"),
        alt.Tooltip("week_start:T", title="week of"),
        alt.Tooltip("conflicts:Q"),
        alt.Tooltip("resurfaced:Q"),
        alt.Tooltip("escalated:Q"),
    ]
    rect = chart.mark_rect().encode(
        x=x,
        y=y,
        color=alt.Color(
            "conflicts:Q",
            scale=alt.Scale(scheme="oranges", domainMin=0),
            # counts: whole-number legend labels (not 1.0, 1.2, … 2.0)
            legend=alt.Legend(format="d", tickMinStep=1),
            title="conflicts",
        ),
        tooltip=tooltip,
    )
    marks = (
        chart.transform_filter(alt.datum.resurfaced > 0)
        .mark_point(shape="diamond", filled=True, color="black", size=60)
        .encode(x=x, y=y, tooltip=tooltip)
    )
    return alt.layer(rect, marks)


def chart_escalation_repair(recurrence: pd.DataFrame, *, couple_id: str | None = None) -> alt.Chart:
    """Escalation share vs repair share by topic (grouped bars).

    Parameters
    ----------
    recurrence : DataFrame
        :func:`patterns.topics.topic_recurrence` output (``couple_id``, ``topic``,
        ``conflicts``, ``escalation_share``, ``repair_share``, ``rank``).
    couple_id : str, optional
        The couple to draw (required when ``recurrence`` holds several).

    Returns
    -------
    alt.Chart
        Horizontal bars, two per topic (escalation, repair), topics in ``rank`` order.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"couple_id": "c1", "topic": ["money", "work"], "conflicts": [8, 2],
    ...     "escalation_share": [0.5, 0.0], "repair_share": [0.25, 1.0], "rank": [1, 2]})
    >>> spec = chart_escalation_repair(r).to_dict()
    >>> spec["mark"]["type"], spec["encoding"]["yOffset"]["field"]
    ('bar', 'measure')
    """
    func = "chart_escalation_repair"
    cols = ["couple_id", "topic", "conflicts", "escalation_share", "repair_share", "rank"]
    require_columns(recurrence, cols, func=func)
    data = one_couple(recurrence[cols], couple_id, func)
    order = readable(data.sort_values("rank", kind="stable")["topic"]).tolist()
    long = data.melt(
        id_vars=["topic", "conflicts"],
        value_vars=["escalation_share", "repair_share"],
        var_name="measure",
        value_name="share",
    )
    long["measure"] = long["measure"].str.replace("_share", "", regex=False)
    long["topic"] = readable(long["topic"])
    long = check_rows(long.reset_index(drop=True), func=func)
    colors = alt.Scale(domain=list(SHARE_COLORS), range=list(SHARE_COLORS.values()))
    return (
        base(
            long,
            title="How often each topic escalates, and how often it gets repaired",
            height=max(120, 30 * len(order)),
        )
        .mark_bar()
        .encode(
            y=alt.Y("topic:N", sort=order, title=None),
            yOffset=alt.YOffset("measure:N"),
            x=alt.X("share:Q", scale=alt.Scale(domain=[0, 1]), title="share of conflicts"),
            color=alt.Color("measure:N", scale=colors, title=None),
            tooltip=["topic:N", "measure:N", alt.Tooltip("share:Q", format=".0%"), "conflicts:Q"],
        )
    )
