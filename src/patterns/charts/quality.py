"""Charts for the data-quality report: check-in completion per partner."""

from __future__ import annotations

import altair as alt
import pandas as pd

from patterns.charts._common import base, check_rows, partner_scale
from patterns.schema import require_columns

__all__ = ["chart_checkin_completion"]


def chart_checkin_completion(completion: pd.DataFrame) -> alt.LayerChart:
    """Bars of check-in completion per partner with their Wilson interval.

    Parameters
    ----------
    completion : DataFrame
        :func:`patterns.quality.checkin_completion` output with ``partner`` already turned
        into display labels ("Partner A"), columns ``partner``, ``completion``, ``ci_low``,
        ``ci_high``.

    Returns
    -------
    alt.LayerChart
        Bars (share of days, 0–1) with interval rules; unrendered.

    Examples
    --------
    >>> df = pd.DataFrame({"partner": ["Partner A", "Partner B"], "completion": [0.9, 0.5],
    ...                    "ci_low": [0.8, 0.4], "ci_high": [0.95, 0.6]})
    >>> spec = chart_checkin_completion(df).to_dict()
    >>> [layer["mark"]["type"] for layer in spec["layer"]]
    ['bar', 'rule']
    """
    func = "chart_checkin_completion"
    require_columns(completion, ["partner", "completion", "ci_low", "ci_high"], func=func)
    data = check_rows(
        completion[["partner", "completion", "ci_low", "ci_high"]].reset_index(drop=True),
        func=func,
    )
    data = data.assign(partner=data["partner"].astype(str))
    chart = base(data, title="Share of days with a check-in", height=120)
    colors = partner_scale()
    bars = chart.mark_bar().encode(
        y=alt.Y("partner:N", title=None),
        x=alt.X("completion:Q", title="share of days", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("partner:N", scale=colors, legend=None),
    )
    rules = chart.mark_rule(color="#222").encode(y="partner:N", x="ci_low:Q", x2="ci_high:Q")
    return alt.layer(bars, rules)
