"""Charts for body signals and protective responses: calendars per partner. Inputs are
:mod:`patterns.regulation` results; no statistics here."""

from __future__ import annotations

import altair as alt
import pandas as pd

from patterns.charts._common import check_rows, one_couple, readable
from patterns.schema import partner_labels, require_columns

__all__ = ["chart_signal_calendar"]


def chart_signal_calendar(
    frequency: pd.DataFrame, *, couple_id: str | None = None, kind: str | None = None
) -> alt.FacetChart:
    """Calendar of days with each body signal / protective response, one row per partner.

    Parameters
    ----------
    frequency : DataFrame
        :func:`patterns.regulation.signal_frequency` output with ``period="D"`` (or
        ``"W"``): ``couple_id``, ``partner``, ``period_start``, ``signal``, ``kind``,
        ``days_present``, ``days_observed``.
    couple_id : str, optional
        The couple to draw (required when ``frequency`` holds several).
    kind : {"body", "protective"}, optional
        Draw only body signals or only protective responses (default both).

    Returns
    -------
    alt.FacetChart
        Rect marks (x = day, y = signal; dark = present, light = reported absent, blank =
        not reported), faceted by partner label ("Partner A"/"Partner B": never ids).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"couple_id": "c1", "partner": ["p1", "p2"],
    ...     "period_start": pd.to_datetime(["2026-01-05", "2026-01-05"]),
    ...     "signal": "tension", "kind": "body", "days_present": [1, 0],
    ...     "days_observed": [1, 1]})
    >>> spec = chart_signal_calendar(f).to_dict()
    >>> spec["spec"]["mark"]["type"], sorted({r["partner"] for r in
    ...     spec["datasets"][spec["data"]["name"]]})
    ('rect', ['Partner A', 'Partner B'])
    """
    from patterns.errors import check_option

    func = "chart_signal_calendar"
    cols = [
        "couple_id",
        "partner",
        "period_start",
        "signal",
        "kind",
        "days_present",
        "days_observed",
    ]
    require_columns(frequency, cols, func=func)
    if kind is not None:
        check_option("kind", kind, ["body", "protective"], func=func)
    data = one_couple(frequency[cols], couple_id, func)
    if kind is not None:
        data = data[data["kind"].astype(str) == kind]
    labels = partner_labels(data["partner"].astype(str).unique())
    data = data.assign(
        partner=data["partner"].astype(str).map(labels),
        signal=readable(data["signal"]),
        kind=data["kind"].astype(str),
        state=(data["days_present"] > 0).map({True: "present", False: "absent"}),
    ).drop(columns="couple_id")
    data = check_rows(data.reset_index(drop=True), func=func)
    order = list(dict.fromkeys(data["signal"]))
    title = {"body": "Body signals", "protective": "Protective responses"}.get(
        kind or "", "Body signals and protective responses"
    )
    chart = (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X(
                "yearmonthdate(period_start):O",
                title="day",
                axis=alt.Axis(labelAngle=-45, labelOverlap=True),
            ),
            y=alt.Y("signal:N", sort=order, title=None),
            color=alt.Color(
                "state:N",
                scale=alt.Scale(domain=["present", "absent"], range=["#CC79A7", "#EEEEEE"]),
                title=None,
            ),
            tooltip=[
                "partner:N",
                "signal:N",
                alt.Tooltip("period_start:T", title="day"),
                "days_present:Q",
                "days_observed:Q",
            ],
        )
        .properties(width=560, height=22 * max(1, len(order)))
    )
    return chart.facet(row=alt.Row("partner:N", title=None)).properties(title=title)
