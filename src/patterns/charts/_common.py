"""Shared look for every chart: colours, partner labels, size. No statistics here."""

from __future__ import annotations

from collections.abc import Iterable

import altair as alt
import pandas as pd

from patterns.errors import option_error

__all__ = [
    "ENDING_COLORS",
    "PARTNER_COLORS",
    "base",
    "check_rows",
    "one_couple",
    "partner_scale",
    "readable",
]

#: Colour-blind-safe palette (Okabe–Ito) for the two partners and the couple.
PARTNER_COLORS = {"Partner A": "#0072B2", "Partner B": "#D55E00", "Couple": "#555555"}
#: How a pursue–withdraw episode ended.
ENDING_COLORS = {
    "repair": "#009E73",
    "toward": "#56B4E9",
    "timeout": "#999999",
    "against": "#D55E00",
    "role_switch": "#CC79A7",
}
#: Charts carry aggregated data only; anything bigger is a bug upstream.
MAX_ROWS = 5000


def check_rows(data: pd.DataFrame, *, func: str) -> pd.DataFrame:
    """Refuse chart data that is not aggregated (more than MAX_ROWS rows) or holds free text."""
    if len(data) > MAX_ROWS:
        raise ValueError(
            f"{func}: chart data has {len(data)} rows; charts take aggregated results "
            f"(at most {MAX_ROWS} rows). Aggregate first."
        )
    leaked = [c for c in ("note", "answer", "prompt") if c in data.columns]
    if leaked:
        raise ValueError(f"{func}: chart data must not carry free text columns {leaked}.")
    return data


def readable(codes: pd.Series) -> pd.Series:
    """Codes as words for chart labels (``time_together`` → ``time together``).

    Examples
    --------
    >>> readable(pd.Series(["urge_withdraw", "money"])).tolist()
    ['urge withdraw', 'money']
    """
    return codes.astype(str).str.replace("_", " ", regex=False)


#: Vega expression doing the same for legend/axis labels whose domain must stay the codes.
READABLE_LABEL = "replace(datum.label, /_/g, ' ')"


def partner_scale(labels: Iterable[str] | None = None) -> alt.Scale:
    """The partner colour scale (:data:`PARTNER_COLORS`), limited to ``labels`` if given.

    Examples
    --------
    >>> partner_scale(["Partner B"]).to_dict()
    {'domain': ['Partner B'], 'range': ['#D55E00']}
    """
    present = list(PARTNER_COLORS) if labels is None else set(labels)
    keys = [k for k in PARTNER_COLORS if k in present]
    return alt.Scale(domain=keys, range=[PARTNER_COLORS[k] for k in keys])


def base(data: pd.DataFrame, *, title: str, width: int = 560, height: int = 220) -> alt.Chart:
    """A chart with the kit's size and title conventions."""
    return alt.Chart(data, title=title).properties(width=width, height=height)


def one_couple(data: pd.DataFrame, couple_id: str | None, func: str) -> pd.DataFrame:
    """Rows of one couple: ``couple_id`` if given, else the only couple present.

    Charts draw one couple at a time; a result holding several couples needs ``couple_id``.
    """
    if "couple_id" not in data.columns:
        return data
    couples = sorted(data["couple_id"].astype(str).unique())
    if couple_id is None:
        if len(couples) > 1:
            raise option_error(
                "couple_id", func, f"one of {couples[:5]} (the data has several)", couple_id
            )
        return data
    if str(couple_id) not in couples:
        raise option_error("couple_id", func, f"one of {couples[:5]}", couple_id)
    return data[data["couple_id"].astype(str) == str(couple_id)]
