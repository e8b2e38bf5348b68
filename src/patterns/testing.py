"""Helpers for testing analyses against the kit's conventions (used by the test suite and
available to anyone extending the kit)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pandas as pd

__all__ = ["assert_tidy", "check_contract"]

_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


def assert_tidy(result: pd.DataFrame, *, free_text: tuple[str, ...] = ("note", "answer")) -> None:
    """Assert ``result`` is a tidy result table: a DataFrame with a plain RangeIndex, unique
    snake_case identifier column names, and no free-text columns.

    Examples
    --------
    >>> assert_tidy(pd.DataFrame({"n": [1], "p_value": [0.5]}))
    >>> assert_tidy(pd.DataFrame({"p-val": [0.5]}))
    Traceback (most recent call last):
    ...
    AssertionError: column names are not snake_case identifiers: ['p-val']
    """
    assert isinstance(result, pd.DataFrame), f"expected a DataFrame, got {type(result)}"
    assert isinstance(result.index, pd.RangeIndex), f"index is {type(result.index).__name__}"
    assert result.index.start == 0 and result.index.step == 1, "index is not 0..n-1"
    bad = [c for c in result.columns if not (isinstance(c, str) and _IDENT.match(c))]
    assert not bad, f"column names are not snake_case identifiers: {bad}"
    assert result.columns.is_unique, "duplicate column names"
    leaked = [c for c in free_text if c in result.columns]
    assert not leaked, f"free-text columns in a result: {leaked}"


def check_contract(func: Callable[..., pd.DataFrame], *args: Any, **kwargs: Any) -> pd.DataFrame:
    """Call ``func`` and check the analysis contract: tidy output, inputs not mutated,
    deterministic (a second call gives an equal frame). Returns the result.
    """
    before = copy.deepcopy((args, kwargs))
    result = func(*args, **kwargs)
    assert_tidy(result)
    for old, new in zip(before[0], args, strict=True):
        _assert_same(old, new, func)
    for key in kwargs:
        _assert_same(before[1][key], kwargs[key], func)
    again = func(*args, **kwargs)
    pd.testing.assert_frame_equal(result, again)
    return result


def _assert_same(old: Any, new: Any, func: Callable) -> None:
    if isinstance(old, pd.DataFrame):
        pd.testing.assert_frame_equal(old, new, obj=f"{func.__name__} input")
    elif isinstance(old, pd.Series):
        pd.testing.assert_series_equal(old, new, obj=f"{func.__name__} input")
