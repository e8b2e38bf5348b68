"""Exceptions and the one error template used everywhere (scikit-learn style)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["ExportError", "check_duration", "check_option", "option_error"]


class ExportError(ValueError):
    """An export cannot be read as asked: unreadable, missing required columns, or any
    problem at all under ``strict=True``. The message names the problem and the fix."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


def option_error(param: str, func: str, allowed: str, got: Any) -> ValueError:
    """Build the kit's one error message: parameter, function, what is allowed, what was given.

    Examples
    --------
    >>> str(option_error("period", "turning_rates", "'D', 'W' or 'M'", "Q"))
    "turning_rates: period must be 'D', 'W' or 'M'; got 'Q'."
    """
    return ValueError(f"{func}: {param} must be {allowed}; got {got!r}.")


def check_option(param: str, value: Any, allowed: Iterable[Any], *, func: str) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise the standard ValueError.

    Examples
    --------
    >>> check_option("alternative", "less", ["two-sided", "less", "greater"], func="f")
    'less'
    >>> check_option("alternative", "both", ["two-sided", "less"], func="f")
    Traceback (most recent call last):
    ...
    ValueError: f: alternative must be one of ['two-sided', 'less']; got 'both'.
    """
    allowed = list(allowed)
    if value not in allowed:
        raise option_error(param, func, f"one of {allowed}", value)
    return value


def check_duration(value: Any, param: str, *, func: str, example: str = "2h") -> Any:
    """Return ``value`` as a positive ``pandas.Timedelta``, else raise the standard ValueError.

    Examples
    --------
    >>> check_duration("90min", "max_gap", func="f")
    Timedelta('0 days 01:30:00')
    >>> check_duration("0h", "max_gap", func="f")
    Traceback (most recent call last):
    ...
    ValueError: f: max_gap must be a positive duration such as '2h'; got '0h'.
    """
    import pandas as pd  # kept local: `patterns` imports this module at start-up

    try:
        out = pd.Timedelta(value)
    except (TypeError, ValueError):
        raise option_error(param, func, f"a duration such as {example!r}", value) from None
    if pd.isna(out) or out <= pd.Timedelta(0):
        raise option_error(param, func, f"a positive duration such as {example!r}", value)
    return out
