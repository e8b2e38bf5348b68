"""Charts: Altair only, no analysis. Each ``chart_*`` takes an analysis *result* (already
aggregated) and returns an unrendered ``alt.Chart``; tests assert on ``chart.to_dict()``.

Submodules per concern; their public ``chart_*`` functions are re-exported here.
"""

from __future__ import annotations

import importlib
from typing import Any

# chart name -> submodule. Add a line when a chart lands.
_LAZY: dict[str, str] = {
    "chart_checkin_completion": "quality",
    "chart_turning_rates": "bids",
    "chart_transitions": "bids",
    "chart_episode_timeline": "bids",
    "chart_pursuer_share": "bids",
    "chart_topic_weeks": "topics",
    "chart_escalation_repair": "topics",
    "chart_signal_calendar": "regulation",
    "chart_connection": "trends",
    "chart_before_after": "trends",
    "chart_indicators": "trends",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'patterns.charts' has no attribute {name!r}")
    return getattr(importlib.import_module(f"patterns.charts.{module}"), name)
