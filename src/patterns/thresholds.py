"""Every indicator threshold in one documented, editable place.

The numbers live in ``patterns/data/thresholds.yaml`` (each with its source and how strong
that source is: ``reported_popular``, ``reported_peer`` or ``kit_default``). This module
reads that file, applies overrides, and validates the result.

Examples
--------
>>> th = load_thresholds()
>>> th["turning_toward"]["direction"], th["turning_toward"]["evidence"]
('lower_is_worse', 'reported_popular')
>>> load_thresholds({"turning_toward": {"watch": 0.6}})["turning_toward"]["watch"]
0.6
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from patterns.errors import check_int, option_error

__all__ = ["INDICATORS", "LEVELS", "level_for", "load_thresholds"]

#: The signs, in display order.
INDICATORS: tuple[str, ...] = (
    "escalation",
    "pursue_withdraw",
    "resurfacing",
    "lonely_together",
    "intimacy",
    "turning_toward",
    "conflict_ratio",
)
#: Plain-word levels (never a diagnosis), in increasing order of attention.
LEVELS: tuple[str, ...] = ("no_data", "none", "watch", "discuss")
_REQUIRED = (
    "label",
    "unit",
    "direction",
    "watch",
    "discuss",
    "min_n",
    "params",
    "evidence",
    "source",
    "caveat",
)
_EVIDENCE = ("reported_popular", "reported_peer", "kit_default")


@functools.lru_cache(maxsize=1)
def _packaged() -> dict[str, Any]:
    text = resources.files("patterns").joinpath("data/thresholds.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _read(path: str | None) -> dict[str, Any]:
    # Only the packaged file is cached: a user's copy is re-read on every call, so edits
    # made between two calls (e.g. in a notebook) take effect.
    if path is None:
        return _packaged()
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def load_thresholds(
    overrides: Mapping[str, Mapping[str, Any]] | str | Path | None = None,
) -> dict[str, dict[str, Any]]:
    """The indicator thresholds: the packaged YAML, another YAML file, or overrides.

    Parameters
    ----------
    overrides : mapping, path or None
        ``None`` for the packaged file; a path to a complete YAML file of the same shape; or
        a mapping ``indicator → {key: value}`` merged over the packaged values (``params``
        merged key by key).

    Returns
    -------
    dict
        ``indicator → settings`` with keys ``label``, ``unit``, ``direction``, ``watch``,
        ``discuss``, ``min_n``, ``params``, ``evidence``, ``source``, ``caveat``.

    Examples
    --------
    >>> load_thresholds({"escalation": {"params": {"intensity_min": 0.8}}})[
    ...     "escalation"]["params"]["intensity_min"]
    0.8
    >>> load_thresholds({"flooding": {"watch": 1}})
    Traceback (most recent call last):
    ...
    ValueError: load_thresholds: overrides must be keyed by one of ...; got 'flooding'.
    """
    func = "load_thresholds"
    if isinstance(overrides, (str, Path)):
        raw = _read(str(overrides))
        if not isinstance(raw, Mapping) or not isinstance(raw.get("indicators"), Mapping):
            raise option_error(
                "overrides", func, "a YAML file with an 'indicators' mapping", str(overrides)
            )
        data = copy.deepcopy(dict(raw["indicators"]))
        overrides = None
    else:
        data = copy.deepcopy(_read(None))["indicators"]
    if overrides is not None:
        if not isinstance(overrides, Mapping):
            raise option_error(
                "overrides", func, "a mapping, a YAML path or None", type(overrides).__name__
            )
        for name, values in overrides.items():
            if name not in data:
                raise option_error("overrides", func, f"keyed by one of {list(INDICATORS)}", name)
            if not isinstance(values, Mapping):
                raise option_error(f"overrides[{name!r}]", func, "a mapping", values)
            for key, value in values.items():
                if key not in _REQUIRED:
                    raise option_error(
                        f"overrides[{name!r}]", func, f"keyed by one of {list(_REQUIRED)}", key
                    )
                if key == "params":
                    data[name]["params"].update(value)
                else:
                    data[name][key] = value
    for name in INDICATORS:
        data[name] = _validate(name, data.get(name), func)
    return data


def _validate(name: str, spec: Any, func: str) -> dict[str, Any]:
    """``spec`` checked, as a dict with ``min_n`` as the plain ``int`` ``check_int`` gives
    (an override may be a NumPy integer)."""
    if not isinstance(spec, Mapping):
        raise option_error(f"thresholds[{name!r}]", func, "a mapping of settings", spec)
    missing = [k for k in _REQUIRED if k not in spec]
    if missing:
        raise option_error(
            f"thresholds[{name!r}]", func, f"to have keys {list(_REQUIRED)}", f"missing {missing}"
        )
    if spec["direction"] not in ("higher_is_worse", "lower_is_worse"):
        raise option_error(
            f"thresholds[{name!r}].direction",
            func,
            "'higher_is_worse' or 'lower_is_worse'",
            spec["direction"],
        )
    if spec["evidence"] not in _EVIDENCE:
        raise option_error(
            f"thresholds[{name!r}].evidence", func, f"one of {list(_EVIDENCE)}", spec["evidence"]
        )
    watch, discuss = spec["watch"], spec["discuss"]
    for key, val in (("watch", watch), ("discuss", discuss)):
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            raise option_error(f"thresholds[{name!r}].{key}", func, "a number", val)
    min_n = check_int(spec["min_n"], f"thresholds[{name!r}].min_n", func=func)
    ordered = discuss >= watch if spec["direction"] == "higher_is_worse" else discuss <= watch
    if not ordered:
        raise option_error(
            f"thresholds[{name!r}]",
            func,
            "a 'discuss' line beyond the 'watch' line in the worse direction",
            {"watch": watch, "discuss": discuss},
        )
    return {**spec, "min_n": min_n}


def level_for(value: float, n: float, spec: Mapping[str, Any]) -> str:
    """The plain-word level of ``value`` (with ``n`` observations) under ``spec``.

    Examples
    --------
    >>> spec = load_thresholds()["turning_toward"]
    >>> [level_for(v, 50, spec) for v in (0.9, 0.6, 0.4)], level_for(0.9, 3, spec)
    (['none', 'watch', 'discuss'], 'no_data')
    """
    if value is None or n is None or n != n or value != value or n < spec["min_n"]:
        return "no_data"
    if spec["direction"] == "higher_is_worse":
        if value >= spec["discuss"]:
            return "discuss"
        return "watch" if value >= spec["watch"] else "none"
    if value <= spec["discuss"]:
        return "discuss"
    return "watch" if value <= spec["watch"] else "none"
