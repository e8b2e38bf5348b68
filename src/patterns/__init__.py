"""connection-patterns: pursue–withdraw cycles, recurring conflict topics and connection
trends from couples' check-in and bid logs.

The public names (DESIGN §7) are imported lazily, so ``import patterns`` stays fast and a
notebook pays only for what it uses.

Examples
--------
>>> import patterns
>>> patterns.ExportError.__mro__[1].__name__
'ValueError'
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from patterns.errors import ExportError

__version__ = "0.1.0"

# public name -> module that defines it. Add a line here when a module lands.
_LAZY: dict[str, str] = {
    "Export": "patterns.io",
    "load_export": "patterns.io",
    "simulate_export": "patterns.simulate",
    "turning_rates": "patterns.bids",
    "lag_table": "patterns.sequences",
    "lag_test": "patterns.sequences",
    "pursue_withdraw_episodes": "patterns.cycles",
    "match_responses": "patterns.bids",
    "code_stream": "patterns.sequences",
    "lag_effects": "patterns.sequences",
    "pooled_effect": "patterns.sequences",
    "pursuer_share": "patterns.cycles",
    "episode_summary": "patterns.cycles",
    "episode_topics": "patterns.cycles",
    "daily_cycle_reports": "patterns.cycles",
    "conflict_log": "patterns.topics",
    "topic_recurrence": "patterns.topics",
    "topic_weeks": "patterns.topics",
    "explain_topics": "patterns.topics",
    "load_lexicon": "patterns.topics",
    "cycle_topics": "patterns.topics",
    "signal_frequency": "patterns.regulation",
    "signal_cooccurrence": "patterns.regulation",
    "lagged_association": "patterns.regulation",
    "pooled_lagged_association": "patterns.regulation",
    "reflection_summary": "patterns.prompts",
    "paired_answers": "patterns.prompts",
    "mann_kendall": "patterns.trends",
    "daily_connection": "patterns.trends",
    "weekly_connection": "patterns.trends",
    "rolling_connection": "patterns.trends",
    "theil_sen": "patterns.trends",
    "trend_tests": "patterns.trends",
    "change_points": "patterns.trends",
    "partner_agreement": "patterns.trends",
    "intervention_effect": "patterns.trends",
    "lonely_together": "patterns.trends",
    "couple_week_metrics": "patterns.metrics",
    "couple_metrics": "patterns.metrics",
    "metrics_codebook": "patterns.metrics",
    "write_metrics": "patterns.metrics",
    "dyadic_daily": "patterns.metrics",
    "indicators": "patterns.indicators",
    "load_thresholds": "patterns.thresholds",
    "check_consent": "patterns.consent",
    "consent_table": "patterns.consent",
}

__all__ = ["ExportError", "__version__", *sorted(_LAZY)]


#: Public functions that share their name with the submodule defining them
#: (``patterns.indicators``). The function is the contract (DESIGN §7).
_SHADOWED = frozenset(n for n, m in _LAZY.items() if m == f"{__name__}.{n}")


class _Package(types.ModuleType):
    """The package module, keeping public functions bound over same-named submodules.

    Importing ``patterns.indicators`` (the module) makes the import system bind the module
    as the attribute ``patterns.indicators``, shadowing the public function of the same name.
    This class keeps the function bound instead. Import the module's other names with
    ``from patterns.indicators import NAME``, which goes through ``sys.modules``.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'patterns' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
