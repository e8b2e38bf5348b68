"""The kit's argument checks: one template, one rule per kind of argument."""

from __future__ import annotations

import decimal
import fractions
import math
import re

import numpy as np
import pytest

from patterns.errors import check_fraction, check_int, check_positive, option_error

# ---------------------------------------------------------------------------------------
# check_fraction


@pytest.mark.parametrize(
    "value",
    [
        0.5,
        0.95,
        1e-12,
        1 - 1e-12,
        np.float64(0.9),
        np.float32(0.25),
        np.float16(0.5),
        fractions.Fraction(1, 3),
    ],
)
def test_fraction_accepts_reals_inside_open_interval(value):
    out = check_fraction(value, "confidence", func="f")
    assert type(out) is float
    assert out == float(value)


@pytest.mark.parametrize(
    "value",
    [
        0,
        1,
        0.0,
        1.0,
        -0.1,
        1.5,
        math.inf,
        -math.inf,
        math.nan,
        np.nan,
        np.float64(1.0),
        np.int64(0),
        np.int64(1),
        True,
        False,
        np.bool_(True),
        "0.5",
        None,
        [0.5],
        decimal.Decimal("0.5"),
        complex(0.5, 0),
        np.array([0.5]),
    ],
)
def test_fraction_refuses_everything_else(value):
    msg = f"f: confidence must be a number strictly between 0 and 1; got {value!r}."
    with pytest.raises(ValueError, match=re.escape(msg)):
        check_fraction(value, "confidence", func="f")


@pytest.mark.parametrize("value", [0, 1, 0.0, 1.0, np.int64(0), np.int8(1), np.float32(0.0), 0.3])
def test_fraction_closed_accepts_the_ends(value):
    out = check_fraction(value, "escalation_threshold", func="g", closed=True)
    assert type(out) is float and out == float(value)


@pytest.mark.parametrize(
    "value", [True, False, np.bool_(False), -1e-300, 1 + 1e-15, math.nan, math.inf, "1"]
)
def test_fraction_closed_refuses(value):
    msg = f"g: escalation_threshold must be a number between 0 and 1 inclusive; got {value!r}."
    with pytest.raises(ValueError, match=re.escape(msg)):
        check_fraction(value, "escalation_threshold", func="g", closed=True)


def test_fraction_right_closed():
    assert check_fraction(1, "perpetual_share", func="h", closed="right") == 1.0
    assert check_fraction(0.5, "perpetual_share", func="h", closed="right") == 0.5
    for bad in (0, 0.0, True, 1.01, math.nan):
        with pytest.raises(
            ValueError,
            match=re.escape(
                f"h: perpetual_share must be a number greater than 0 and at most 1; got {bad!r}."
            ),
        ):
            check_fraction(bad, "perpetual_share", func="h", closed="right")


@pytest.mark.parametrize("closed", ["left", "both", None, 1.0, 1, np.bool_(True)])
def test_fraction_bad_closed(closed):
    with pytest.raises(
        ValueError, match=re.escape("check_fraction: closed must be False, True or 'right'")
    ):
        check_fraction(0.5, "x", func="f", closed=closed)


def test_fraction_message_is_the_standard_template():
    with pytest.raises(ValueError) as err:
        check_fraction(2, "alpha", func="mann_kendall")
    assert str(err.value) == str(
        option_error("alpha", "mann_kendall", "a number strictly between 0 and 1", 2)
    )


# ---------------------------------------------------------------------------------------
# check_int


@pytest.mark.parametrize("value", [0, 1, 7, 10**12, np.int64(3), np.int8(0), np.uint16(5)])
def test_int_accepts_integers(value):
    out = check_int(value, "permutations", func="f")
    assert type(out) is int and out == int(value)


@pytest.mark.parametrize(
    "value",
    [
        -1,
        np.int64(-2),
        3.0,
        np.float64(2.0),
        0.5,
        math.nan,
        math.inf,
        True,
        False,
        np.bool_(True),
        "3",
        None,
        decimal.Decimal(3),
        fractions.Fraction(2, 1),
        np.array([1]),
    ],
)
def test_int_refuses_everything_else(value):
    msg = f"f: permutations must be a non-negative integer; got {value!r}."
    with pytest.raises(ValueError, match=re.escape(msg)):
        check_int(value, "permutations", func="f")


@pytest.mark.parametrize(
    ("minimum", "maximum", "bad", "allowed"),
    [
        (1, None, 0, "a positive integer"),
        (1, None, 2.0, "a positive integer"),
        (2, None, 1, "an integer ≥ 2"),
        (99, None, np.int32(98), "an integer ≥ 99"),
        (-3, None, -4, "an integer ≥ -3"),
        (0, 23, 24, "an integer from 0 to 23"),
        (0, 23, -1, "an integer from 0 to 23"),
        (0, 23, 4.0, "an integer from 0 to 23"),
    ],
)
def test_int_rule_wording(minimum, maximum, bad, allowed):
    msg = f"g: n must be {allowed}; got {bad!r}."
    with pytest.raises(ValueError, match=re.escape(msg)):
        check_int(bad, "n", func="g", minimum=minimum, maximum=maximum)


def test_int_bounds_are_inclusive():
    assert check_int(99, "n_perm", func="f", minimum=99) == 99
    assert check_int(np.int64(23), "cutoff_hour", func="f", maximum=23) == 23
    assert check_int(0, "cutoff_hour", func="f", maximum=23) == 0
    assert check_int(-3, "x", func="f", minimum=-3) == -3


# ---------------------------------------------------------------------------------------
# check_positive


@pytest.mark.parametrize(
    "value",
    [
        1e-9,
        0.5,
        1,
        600,
        10**12,
        np.int64(30),
        np.uint8(1),
        np.float32(2.5),
        fractions.Fraction(1, 2),
    ],
)
def test_positive_accepts_finite_reals_above_zero(value):
    out = check_positive(value, "timeout", func="f", unit="seconds")
    assert type(out) is float
    assert out == float(value)


@pytest.mark.parametrize(
    "value",
    [
        0,
        0.0,
        -0.0,
        -1,
        -1e-9,
        np.int64(0),
        np.float64(-2.0),
        math.inf,
        -math.inf,
        math.nan,
        np.float64(np.inf),
        True,
        np.bool_(True),
        "600",
        None,
        [600],
        decimal.Decimal("600"),
        complex(1, 0),
        np.array([600]),
    ],
)
def test_positive_refuses_everything_else(value):
    msg = f"f: timeout must be a number of seconds > 0; got {value!r}."
    with pytest.raises(ValueError, match=re.escape(msg)):
        check_positive(value, "timeout", func="f", unit="seconds")


def test_positive_message_is_the_standard_template():
    with pytest.raises(ValueError) as err:
        check_positive(-1, "scale", func="g")
    assert str(err.value) == str(option_error("scale", "g", "a number > 0", -1))


@pytest.mark.parametrize("bad", [math.inf, math.nan, True, "600", 0])
def test_run_report_checks_timeout_with_check_positive(bad, tmp_path):
    # refused before the export is read (inf and NaN used to pass and fail only inside
    # the notebook process, at int(timeout)); a NumPy integer is accepted (it got as far
    # as the missing export)
    from patterns.errors import ExportError
    from patterns.report import run_report

    missing = tmp_path / "no_export"
    rule = r"run_report: timeout must be a number of seconds > 0"
    with pytest.raises(ValueError, match=rule):
        run_report(missing, timeout=bad, out=tmp_path / "out", progress=False)
    with pytest.raises(ExportError, match="does not exist"):
        run_report(missing, timeout=np.int64(30), out=tmp_path / "out", progress=False)
