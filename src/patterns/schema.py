"""The data contract (schema v1), declared once.

Every table the kit reads or produces is described here: columns, dtypes, which are
required, the code vocabulary and its families, and the rating scales. Loaders coerce to
these dtypes; analyses check their inputs with :func:`require_columns`; the data dictionary
in ``data/sample/README.md`` is generated from :func:`data_dictionary_markdown` and a test
keeps the two in sync.

Examples
--------
>>> from patterns import schema
>>> schema.family_of("stonewall")
'withdraw'
>>> sorted(schema.FAMILIES)
['against', 'connect', 'marker', 'pursue', 'withdraw']
>>> [c.name for c in schema.EVENTS if c.required]
['couple_id', 'ts', 'actor', 'code']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches

import pandas as pd

__all__ = [
    "BODY_SIGNALS",
    "CHECKINS",
    "CODES",
    "CODE_DTYPE",
    "EVENTS",
    "FAMILIES",
    "PROTECTIVE",
    "QUARANTINE",
    "RATINGS",
    "RATING_SCALE",
    "SCHEMA_VERSION",
    "STRING",
    "TOPICS",
    "Column",
    "SchemaError",
    "columns_of",
    "data_dictionary_markdown",
    "empty_frame",
    "family_of",
    "require_columns",
]

SCHEMA_VERSION = "1"

#: Strings stay strings: nullable string dtype (``"007"`` is never 7).
STRING = pd.StringDtype()


@dataclass(frozen=True)
class Column:
    """One column of a table in the contract.

    Parameters
    ----------
    name : str
        Column name (a snake_case identifier).
    dtype : str
        One of ``"string"``, ``"timestamp"``, ``"category"``, ``"float"``, ``"bool"``.
    required : bool
        Whether a table without this column is rejected.
    meaning : str
        One-line description for the data dictionary.
    private : bool
        Free text that is redacted unless consent and a flag both allow it.
    lo, hi : float or None
        Allowed range for numeric columns (after scale normalisation), inclusive.
    """

    name: str
    dtype: str
    required: bool
    meaning: str
    private: bool = False
    lo: float | None = None
    hi: float | None = None


# --- vocabulary -----------------------------------------------------------------------

#: Code families (DESIGN §2). Order within a family is display order.
FAMILIES: dict[str, tuple[str, ...]] = {
    "connect": ("bid", "toward", "repair"),
    "pursue": ("pursue", "criticize", "complain", "demand"),
    "withdraw": ("withdraw", "stonewall", "away"),
    "against": ("against", "contempt", "defend"),
    "marker": ("conflict",),
}
#: Every valid event code, in family order.
CODES: tuple[str, ...] = tuple(c for codes in FAMILIES.values() for c in codes)
_FAMILY_OF = {code: fam for fam, codes in FAMILIES.items() for code in codes}
#: Categorical dtype of ``events.code``.
CODE_DTYPE = pd.CategoricalDtype(categories=list(CODES), ordered=False)
#: Codes that answer a bid.
RESPONSE_CODES: tuple[str, ...] = ("toward", "away", "against")
#: Common bid types (free strings are allowed too).
BID_TYPES: tuple[str, ...] = (
    "attention",
    "affection",
    "humor",
    "support",
    "conversation",
    "help",
    "interest",
    "play",
)

#: Conflict-topic vocabulary (display order); ``other`` catches everything unmatched.
TOPICS: tuple[str, ...] = (
    "money",
    "chores",
    "parenting",
    "family",
    "work",
    "intimacy",
    "time_together",
    "communication",
    "trust",
    "health",
    "screens",
    "other",
)

#: Canonical rating scale for check-in ratings after normalisation (inclusive).
RATING_SCALE: tuple[float, float] = (0.0, 10.0)
#: Check-in ratings that are rescaled from the manifest's declared scale to RATING_SCALE.
RATINGS: tuple[str, ...] = ("connection", "stress", "supported", "lonely", "intimacy_comfort")
#: Body signals under stress: bool or 0–4 in exports, stored as float 0–4 (True → 1).
BODY_SIGNALS: tuple[str, ...] = ("tension", "urge_withdraw", "overwhelmed", "blank")
#: Protective responses (Internal Family Systems terms), stored as bool.
PROTECTIVE: tuple[str, ...] = ("self_reliant", "critical", "shutdown")

# --- tables ---------------------------------------------------------------------------

EVENTS: tuple[Column, ...] = (
    Column("couple_id", "string", True, "pseudonymous couple id"),
    Column("ts", "timestamp", True, "when it happened (tz-aware, UTC inside)"),
    Column("actor", "string", True, "partner id within the couple (exactly two per couple)"),
    Column("code", "category", True, "interaction move; see the code vocabulary"),
    Column("bid_id", "string", False, "links a response to the bid it answers"),
    Column("bid_type", "string", False, "attention, affection, humor, support, conversation, …"),
    Column("intensity", "float", False, "strength of the move, normalised to 0–1", lo=0, hi=1),
    Column("topic", "string", False, "conflict topic tag or free label"),
    Column("note", "string", False, "free text — private by default", private=True),
)

CHECKINS: tuple[Column, ...] = (
    Column("couple_id", "string", True, "pseudonymous couple id"),
    Column("partner", "string", True, "partner id within the couple"),
    Column("ts", "timestamp", True, "when the check-in was made (tz-aware, UTC inside)"),
    Column("connection", "float", False, "how connected they felt, 0–10", lo=0, hi=10),
    Column("stress", "float", False, "stress, 0–10", lo=0, hi=10),
    Column("supported", "float", False, "felt supported, 0–10", lo=0, hi=10),
    Column("lonely", "float", False, "felt lonely, 0–10", lo=0, hi=10),
    Column("time_together_min", "float", False, "minutes of shared time", lo=0, hi=1440),
    Column("conflict", "bool", False, "a conflict happened"),
    Column("conflict_topic", "string", False, "topic of that conflict"),
    Column("conflict_intensity", "float", False, "intensity of that conflict, 0–1", lo=0, hi=1),
    Column("repaired", "bool", False, "that conflict was repaired"),
    Column("tension", "float", False, "body signal: tension, 0–4 (True → 1)", lo=0, hi=4),
    Column("urge_withdraw", "float", False, "body signal: urge to withdraw, 0–4", lo=0, hi=4),
    Column("overwhelmed", "float", False, "body signal: flooded/overwhelmed, 0–4", lo=0, hi=4),
    Column("blank", "float", False, "body signal: going blank, 0–4", lo=0, hi=4),
    Column("self_reliant", "bool", False, "protective response: self-reliant stance"),
    Column("critical", "bool", False, "protective response: critical response"),
    Column("shutdown", "bool", False, "protective response: shutting down"),
    Column("intimacy_comfort", "float", False, "comfort with physical intimacy, 0–10", lo=0, hi=10),
    Column("pursued", "bool", False, "self-report: I pursued today"),
    Column("withdrew", "bool", False, "self-report: I withdrew today"),
    Column("prompt", "string", False, "reflection question asked", private=False),
    Column("answer", "string", False, "answer to the reflection question", private=True),
)

QUARANTINE: tuple[Column, ...] = (
    Column("table", "string", True, "events or checkins"),
    Column("source", "string", True, "source file (inside the export)"),
    Column("row", "float", True, "1-based data row number in the source file"),
    Column("column", "string", True, "offending column, empty when the whole row"),
    Column("reason", "string", True, "machine-readable reason code"),
    Column("detail", "string", True, "what was wrong (never the row's free text)"),
)

TABLES: dict[str, tuple[Column, ...]] = {"events": EVENTS, "checkins": CHECKINS}

#: Machine-readable quarantine reasons and what each means.
QUARANTINE_REASONS: dict[str, str] = {
    "bad_timestamp": "the time could not be parsed",
    "missing_required": "a required value is empty",
    "unknown_code": "an event code outside the vocabulary, with no mapping for it",
    "out_of_range": "a number outside its declared scale",
    "bad_number": "a number could not be parsed",
    "bad_bool": "a yes/no value could not be parsed",
    "unknown_partner": "an actor/partner not listed for the couple in the manifest",
    "third_partner": "a third distinct partner id in a couple (dyads have exactly two)",
    "unknown_couple": "a couple id not listed in the manifest",
    "duplicate": "an exact duplicate of an earlier row",
    "ragged_row": "the row has more or fewer fields than the header",
    "dst_nonexistent": "a naive local time inside a DST gap (loaded, moved forward by the gap; "
    "a notice, not a quarantine)",
    "dst_ambiguous": "a naive local time inside a DST overlap (loaded, first occurrence; "
    "a notice, not a quarantine)",
    "not_utf8": "bytes that are not UTF-8 in an otherwise UTF-8 file (loaded, those bytes "
    "read as cp1252; a notice, not a quarantine)",
    "bad_record": "a JSON line or record that is not an object",
    "excluded": "a row the column mapping's `keep` rule leaves out (e.g. REDCap base rows)",
    "field_too_large": "a cell over the loader's field limit (`patterns.io.MAX_FIELD_BYTES`, "
    "1 MiB of UTF-8); that cell is not kept, the rest of the file loads",
}

_PANDAS_DTYPES = {
    "string": STRING,
    "timestamp": "datetime64[ns, UTC]",
    "category": CODE_DTYPE,
    "float": "float64",
    "bool": "boolean",
}


class SchemaError(ValueError):
    """An analysis input does not satisfy the data contract (missing columns, bad dtype)."""


def columns_of(table: str) -> tuple[Column, ...]:
    """Return the column declarations of ``table`` (``"events"`` or ``"checkins"``).

    Examples
    --------
    >>> columns_of("checkins")[0].name
    'couple_id'
    """
    try:
        return TABLES[table]
    except KeyError:
        raise SchemaError(f"columns_of got table={table!r}; allowed: {sorted(TABLES)}.") from None


def family_of(code: str) -> str | None:
    """Return the family of an event code, or ``None`` for an unknown code.

    Examples
    --------
    >>> family_of("criticize"), family_of("hug")
    ('pursue', None)
    """
    return _FAMILY_OF.get(code)


def pandas_dtype(column: Column):
    """Return the pandas dtype used in memory for a contract column."""
    return _PANDAS_DTYPES[column.dtype]


def empty_frame(table: str) -> pd.DataFrame:
    """An empty table with every contract column at its contract dtype.

    Examples
    --------
    >>> df = empty_frame("events")
    >>> len(df), str(df["ts"].dtype)
    (0, 'datetime64[ns, UTC]')
    """
    cols = columns_of(table)
    return pd.DataFrame({c.name: pd.Series([], dtype=pandas_dtype(c)) for c in cols})


def require_columns(
    df: pd.DataFrame,
    required: Iterable[str],
    *,
    func: str,
    table: str = "input",
    error: type[Exception] = SchemaError,
) -> None:
    """Raise when ``df`` lacks any of ``required``, naming all missing and present columns.

    Parameters
    ----------
    df : DataFrame
        The table to check.
    required : iterable of str
        Column names that must be present.
    func : str
        Name of the public function doing the check (goes into the message).
    table : str
        Name of the table in the message.
    error : exception class
        Raised class (``SchemaError`` for analyses, ``ExportError`` for the loader).

    Examples
    --------
    >>> import pandas as pd
    >>> require_columns(pd.DataFrame({"timestamp": [1]}), ["ts", "actor"], func="f")
    Traceback (most recent call last):
    ...
    patterns.schema.SchemaError: f: input is missing columns ['ts', 'actor']; ...
    """
    if not isinstance(df, pd.DataFrame):
        raise error(f"{func}: {table} must be a pandas DataFrame, got {type(df).__name__}.")
    present = [str(c) for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if not missing:
        return
    hints = []
    for m in missing:
        close = get_close_matches(m, present, n=1, cutoff=0.5)
        close = close or [p for p in present if _ALIASES.get(p.lower()) == m]
        if close:
            hints.append(f"did you mean `{close[0]}` → map it to `{m}`")
    hint = ("; " + "; ".join(hints)) if hints else ""
    raise error(
        f"{func}: {table} is missing columns {missing}; present columns: {present}{hint}. "
        "Rename the columns or pass a column mapping (see `patterns.io` / mapping YAML)."
    )


#: Common source names for contract columns (used in error hints and default mappings).
_ALIASES: dict[str, str] = {
    "timestamp": "ts",
    "time": "ts",
    "datetime": "ts",
    "date": "ts",
    "created_at": "ts",
    "couple": "couple_id",
    "dyad": "couple_id",
    "dyad_id": "couple_id",
    "person": "actor",
    "participant": "partner",
    "participant_id": "partner",
    "partner_id": "partner",
    "user": "actor",
    "event": "code",
    "move": "code",
    # loader hints: events name the partner `actor`, check-ins name it `partner`
    "partner": "actor",
    "actor": "partner",
    "who": "actor",
    "sender": "actor",
    "timestamp_utc": "ts",
    "start_date": "ts",
    "startdate": "ts",
    "recorded_at": "ts",
}


def coerce_dtypes(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Return a copy whose contract columns have their contract dtypes (others kept).

    Missing optional columns are added empty, so every table always has every column.
    """
    out = df.copy()
    for col in columns_of(table):
        dtype = pandas_dtype(col)
        if col.name not in out.columns:
            fill = pd.NA if col.dtype != "float" else float("nan")
            out[col.name] = pd.Series(fill, index=out.index, dtype=dtype)  # also when empty
        elif str(out[col.name].dtype) != str(dtype):
            out[col.name] = out[col.name].astype(dtype)
    order = [c.name for c in columns_of(table)]
    return out[order + [c for c in out.columns if c not in order]]


def data_dictionary_markdown() -> str:
    """The data dictionary (markdown) generated from this module.

    ``data/sample/README.md`` embeds this text between markers; a test keeps them equal.
    """
    lines = [f"## Data dictionary (schema v{SCHEMA_VERSION})", ""]
    for table, cols in TABLES.items():
        lines += [
            f"### `{table}`",
            "",
            "| column | type | required | range | meaning |",
            "|---|---|---|---|---|",
        ]
        for c in cols:
            rng = "" if c.lo is None else f"{c.lo:g}–{c.hi:g}"
            private = " (private)" if c.private else ""
            lines.append(
                f"| `{c.name}` | {c.dtype} | {'yes' if c.required else 'no'} | {rng} | "
                f"{c.meaning}{private} |"
            )
        lines.append("")
    lines += ["### Code vocabulary", "", "| family | codes |", "|---|---|"]
    lines += [
        f"| {fam} | {', '.join(f'`{c}`' for c in codes)} |" for fam, codes in FAMILIES.items()
    ]
    lines += ["", "### Quarantine reasons", "", "| reason | meaning |", "|---|---|"]
    lines += [f"| `{r}` | {m} |" for r, m in QUARANTINE_REASONS.items()]
    lines.append("")
    return "\n".join(lines)


def partner_labels(partners: Iterable[str]) -> Mapping[str, str]:
    """Display labels for a couple's two partner ids: sorted ids → ``Partner A``/``Partner B``.

    Reports never show partner ids or names, only these labels.

    Examples
    --------
    >>> dict(partner_labels(["p2", "p1"]))
    {'p1': 'Partner A', 'p2': 'Partner B'}
    """
    ids = sorted({str(p) for p in partners})
    return {p: f"Partner {chr(ord('A') + i)}" for i, p in enumerate(ids)}
