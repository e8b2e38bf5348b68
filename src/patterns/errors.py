"""Exceptions and the one error template used everywhere (scikit-learn style)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any, Literal

__all__ = [
    "ExportError",
    "check_duration",
    "check_fraction",
    "check_int",
    "check_option",
    "check_positive",
    "option_error",
]


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


_FRACTION_RULES = {
    False: ("a number strictly between 0 and 1", False, False),
    True: ("a number between 0 and 1 inclusive", True, True),
    "right": ("a number greater than 0 and at most 1", False, True),
}


def check_fraction(
    value: Any, param: str, *, func: str, closed: bool | Literal["right"] = False
) -> float:
    """Return ``value`` as a float if it is a fraction, else raise the standard ValueError.

    A fraction is a real number (Python or NumPy integer or float; ``fractions.Fraction``
    too) that is not a bool, not NaN, and lies strictly inside (0, 1) (confidence levels,
    ``alpha``), or in [0, 1] or (0, 1] as ``closed`` says (shares, thresholds).

    Parameters
    ----------
    value : Any
        The argument as the caller gave it.
    param : str
        Its name, for the message.
    func : str
        The public function that was called, for the message.
    closed : bool or "right", default False
        ``False`` allows (0, 1); ``True`` allows [0, 1]; ``"right"`` allows (0, 1].

    Returns
    -------
    float
        ``float(value)``.

    Raises
    ------
    ValueError
        Built by :func:`option_error`, naming ``param``, ``func``, the rule and ``value``.

    Notes
    -----
    Real numbers are recognised through :class:`numbers.Real`, which NumPy registers its
    scalar types with, so this module need not import NumPy at start-up. ``bool`` is a
    ``numbers.Integral`` in Python and is refused explicitly: ``True`` is not a share.
    NaN fails every comparison and so every range; infinities are outside every range.

    Examples
    --------
    >>> check_fraction(0.9, "confidence", func="f")
    0.9
    >>> check_fraction(0, "escalation_threshold", func="f", closed=True)
    0.0
    >>> check_fraction(1.0, "confidence", func="f")
    Traceback (most recent call last):
    ...
    ValueError: f: confidence must be a number strictly between 0 and 1; got 1.0.
    >>> check_fraction(True, "share", func="f", closed=True)
    Traceback (most recent call last):
    ...
    ValueError: f: share must be a number between 0 and 1 inclusive; got True.
    """
    if not (isinstance(closed, bool) or (isinstance(closed, str) and closed == "right")):
        raise option_error("closed", "check_fraction", "False, True or 'right'", closed)
    allowed, low_ok, high_ok = _FRACTION_RULES[closed]
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        x = float(value)
        ok = (0.0 <= x if low_ok else 0.0 < x) and (x <= 1.0 if high_ok else x < 1.0)
    if not ok:
        raise option_error(param, func, allowed, value)
    return x


def check_int(
    value: Any, param: str, *, func: str, minimum: int = 0, maximum: int | None = None
) -> int:
    """Return ``value`` as an int if it is a whole-number count in range, else raise.

    An integer is a Python or NumPy integer that is not a bool; a float is refused even
    when it is whole (``3.0``): counts, lags, windows, ``min_*`` options, seeds.

    Parameters
    ----------
    value : Any
        The argument as the caller gave it.
    param : str
        Its name, for the message.
    func : str
        The public function that was called, for the message.
    minimum : int, default 0
        The smallest value allowed.
    maximum : int, optional
        The largest value allowed; no upper bound when None.

    Returns
    -------
    int
        ``int(value)``.

    Raises
    ------
    ValueError
        Built by :func:`option_error`, naming ``param``, ``func``, the rule and ``value``.

    Notes
    -----
    Integers are recognised through :class:`numbers.Integral` (NumPy registers
    ``np.integer`` with it; ``np.bool_`` is not registered), and ``bool`` is refused
    explicitly. The rule reads "a non-negative integer" for ``minimum=0``, "a positive
    integer" for ``minimum=1``, "an integer ≥ m" otherwise, and "an integer from m to M"
    with a ``maximum``.

    Examples
    --------
    >>> check_int(3, "lag", func="f", minimum=1)
    3
    >>> check_int(3.0, "lag", func="f", minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: f: lag must be a positive integer; got 3.0.
    >>> check_int(50, "n_perm", func="f", minimum=99)
    Traceback (most recent call last):
    ...
    ValueError: f: n_perm must be an integer ≥ 99; got 50.
    >>> check_int(24, "cutoff_hour", func="f", maximum=23)
    Traceback (most recent call last):
    ...
    ValueError: f: cutoff_hour must be an integer from 0 to 23; got 24.
    """
    if maximum is not None:
        allowed = f"an integer from {minimum} to {maximum}"
    elif minimum == 0:
        allowed = "a non-negative integer"
    elif minimum == 1:
        allowed = "a positive integer"
    else:
        allowed = f"an integer ≥ {minimum}"
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok:
        n = int(value)
        ok = n >= minimum and (maximum is None or n <= maximum)
    if not ok:
        raise option_error(param, func, allowed, value)
    return n


def check_positive(value: Any, param: str, *, func: str, unit: str = "") -> float:
    """Return ``value`` as a float if it is a finite real number > 0, else raise.

    A positive real is a Python or NumPy integer or float (``fractions.Fraction`` too)
    that is not a bool, not NaN, not infinite, and greater than 0: durations in seconds
    such as ``run_report``'s ``timeout``.

    Parameters
    ----------
    value : Any
        The argument as the caller gave it.
    param : str
        Its name, for the message.
    func : str
        The public function that was called, for the message.
    unit : str, optional
        The unit, for the message: "a number of {unit} > 0" (else "a number > 0").

    Returns
    -------
    float
        ``float(value)``.

    Raises
    ------
    ValueError
        Built by :func:`option_error`, naming ``param``, ``func``, the rule and ``value``.

    Notes
    -----
    Recognised through :class:`numbers.Real` as in :func:`check_fraction` (NumPy's scalar
    types are registered with it); ``bool`` is refused explicitly. Infinity is refused:
    ``run_report`` hands ``timeout`` to papermill in whole seconds, which fails for ``inf``
    and ``NaN`` (both passed its earlier hand-written check, and failed only once a
    notebook was started).

    Examples
    --------
    >>> check_positive(90, "timeout", func="f", unit="seconds")
    90.0
    >>> check_positive(0, "timeout", func="f", unit="seconds")
    Traceback (most recent call last):
    ...
    ValueError: f: timeout must be a number of seconds > 0; got 0.
    >>> check_positive(float("inf"), "scale", func="f")
    Traceback (most recent call last):
    ...
    ValueError: f: scale must be a number > 0; got inf.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        x = float(value)
        ok = 0.0 < x < math.inf  # NaN fails both comparisons
    if not ok:
        raise option_error(
            param, func, f"a number of {unit} > 0" if unit else "a number > 0", value
        )
    return x
