"""Read any supported export into the schema-v1 tables without losing a row.

:func:`load_export` reads a folder, a ``.zip`` or a single ``.json`` file and returns an
:class:`Export`: the ``events`` and ``checkins`` tables at contract dtypes, a ``quarantine``
table that says, for every rejected input row, which file, which data row, which column and
why (never the row's free text), and ``summary()`` proving
``rows_in == rows_loaded + rows_quarantined`` for every table.

Finding the tables
------------------
Files are matched by name, case-insensitively, at the top level of the export (a zip whose
files all sit in one folder is read from inside that folder; ``truth/`` and other folders are
ignored): ``events`` (also ``event``, ``bids``, ``interactions``, ``moves``) and ``checkins``
(also ``checkin``, ``check_ins``, ``check-ins``, ``diary``, ``daily``, ``dailies``, ``ema``,
``survey``, ``surveys``), with any of the extensions ``.csv .tsv .txt .csv.gz .tsv.gz
.txt.gz .jsonl .ndjson .json .parquet .pq .xlsx``; plus ``manifest.json``. Every matching
file is read (sorted by name) and the table is their concatenation; a mapping's ``tables``
entry (a file name or glob) replaces the name rules. A single ``.json`` export is an object
``{"manifest": {...}, "events": [...], "checkins": [...]}``; a single table file can also
be given directly.

Reading
-------
Text tables are decoded as UTF-8, UTF-8 with BOM, UTF-16 LE/BE with BOM (Excel "Unicode
text"), else cp1252 (then Latin-1); the delimiter (``,`` ``;`` tab ``|``) is sniffed from the
header line; Excel-resaved files whose whole lines are wrapped in quotes are unwrapped.
Every column is read as a string first, so ``"007"`` stays ``"007"`` and ``"NA"`` is not
missing unless the mapping declares it in ``na_values``; an empty cell is missing. Parquet
and JSON values that are already typed keep their type (numbers and timestamps) and ids
become strings. Extra source columns are **dropped** (they may hold free text or names);
their names are listed in ``Export.dropped_columns``, as are a second column with the same
contract name after renaming (``Note`` after ``note``: the first is loaded) and a source
column a mapping constant replaces.

Timestamps
----------
Parsed per column with vectorised pandas: ISO 8601 with an offset or ``Z`` → UTC; naive
ISO 8601 (and unambiguous day/month forms such as ``13/03/2026 10:00``; ambiguous ones need
the mapping's ``ts_format``) are **local** times in the couple's zone; pure numbers are, by
magnitude, Excel serial days (25,569–73,050, i.e. 1970–2099, local time), Unix epoch
seconds (1e8–5e9) or milliseconds (1e11–5e12, both UTC). Anything else, or a time outside
1900–2199, is quarantined as ``bad_timestamp``. A couple's zone is the manifest's zone for
that couple, else the manifest's ``timezone``, else the ``timezone`` argument, else the
mapping's ``timezone``, else UTC.

DST rule (the same as Python's ``zoneinfo`` with ``fold=0``): a nonexistent local time in
the spring-forward gap is read with the offset in force *before* the gap, i.e. it moves
forward by the size of the gap (02:30 on a 02:00→03:00 night becomes 03:30 local); an
ambiguous time in the fall-back overlap takes the *first* occurrence (the DST one). Both are
loaded, not quarantined, and reported in ``Export.notices`` (reasons ``dst_nonexistent`` and
``dst_ambiguous``) and in the ``rows_dst_adjusted`` column of ``summary()``; ``strict=True``
does not reject them because the rule resolves them deterministically.

Stray bytes that are not UTF-8 in an otherwise UTF-8 file (a line pasted from a cp1252
tool) are read as cp1252: the whole field (the text between line ends, quotes and
delimiters) when it holds at least as many stray bytes as valid characters, else (or when
they are a character cut at the field's end) the stray bytes alone; the rest of the file
stays UTF-8. Their rows load with a ``not_utf8`` notice (one per column) and are counted
in ``rows_not_utf8``. A file whose non-ASCII bytes are mostly not UTF-8 is read whole as
cp1252 (``Export.sources``).

Quarantine reasons
------------------
``schema.QUARANTINE_REASONS``: ``bad_timestamp``, ``missing_required``, ``unknown_code``
(after lower-casing and the mapping's ``recode``), ``out_of_range`` (after scale
normalisation), ``bad_number``, ``bad_bool``, ``unknown_couple`` (the manifest lists couples),
``unknown_partner`` (the manifest lists the couple's partners), ``third_partner`` (no partner
list: per couple the two ids with the most rows over both tables are kept, ties broken by
first appearance), ``duplicate`` (a row identical in every loaded column to an earlier clean
row of the same table; the first copy loads), ``ragged_row`` (more or fewer fields than the
header), ``bad_record`` (a JSON line/record that is not an object), ``field_too_large`` (a cell
over ``MAX_FIELD_BYTES``, 1 MiB of UTF-8: the cell is dropped, the row quarantined, the
rest of the file loads) and ``excluded`` (a row the mapping's ``keep`` rule leaves out,
e.g. REDCap base rows). A row with several problems
has one quarantine row per problem and is counted once. ``row`` is the 1-based data row in
its file (the first row after the header is 1; rows skipped by ``skip_rows`` count).

Scales
------
Ratings (``schema.RATINGS``) are rescaled linearly from their declared scale (mapping
``scales``, else manifest ``scales`` by column or ``"ratings"``, else 0–10) onto 0–10;
``intensity`` and ``conflict_intensity`` from theirs (default 0–1) onto 0–1; body signals
accept yes/no (→ 1/0) or numbers on their scale (default 0–4) onto 0–4. Booleans accept
true/false, yes/no, y/n, t/f, 1/0, on/off, checked/unchecked, case-insensitively. Decimal
commas (``3,5``) are accepted.

Column mapping (YAML or dict)
-----------------------------
All keys optional::

    rename: {Timestamp: ts}             # global, or per table: {events: {...}, checkins: {...}}
    recode: {code: {turned_toward: toward}}   # per column (also per table)
    scales: {connection: [1, 7], intensity: [0, 100]}
    na_values: ["NA", "-99"]            # extra strings read as missing (all columns)
    timezone: Europe/Amsterdam          # zone for naive times when the manifest has none
    tables: {checkins: "diary_*.csv"}   # file name or glob per table
    skip_rows: 2                        # rows after the header to skip (or per table)
    delimiter: ";"                      # instead of sniffing
    ts_format: "%d/%m/%Y %H:%M"         # strptime format for non-ISO times
    ts_offset: {column: tz_offset, unit: s}   # per-row offset (m-Path style local epochs)
    keep: {redcap_repeat_instrument: [daily_diary]}   # rows kept; others → `excluded`
    constants: {couple_id: c001}        # one value for every row (replaces that column)
    wide:                               # one row per couple-day → two check-in rows
      suffixes: {_A: a, _B: b}          # column suffix → partner label
      couple_column: dyad               # source column with the couple id
      partner: "{couple_id}-{label}"    # partner id template (default)

``keep`` is applied first (source column names), then the ``wide`` pivot, then ``rename``.
A wide sheet counts one input row per partner per source row in ``rows_in`` (both carry
the source ``row``); a partner side with no answers is quarantined as
``missing_required``. Examples ship in
``patterns/data/mappings/`` (``mpath.yaml``, ``redcap.yaml``, ``qualtrics.yaml``) and can be
passed by name (``mapping="mpath"``).

Safety
------
Zip members whose paths are absolute, contain ``..`` or are symlinks are rejected, as are
encrypted members, more than ``MAX_MEMBERS`` members, members over ``MAX_MEMBER_BYTES``
uncompressed, archives over ``MAX_TOTAL_BYTES``, and members whose declared compression ratio
exceeds ``MAX_RATIO`` (checked from the directory, before anything is expanded). ``.gz``
files and ``.xlsx`` workbooks get the same caps. A single cell over ``MAX_FIELD_BYTES``
quarantines only its row (``field_too_large``). Any failure to read is an
:class:`~patterns.errors.ExportError` naming the file.

Examples
--------
>>> import pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "events.csv").write_text(
...     "couple_id,ts,actor,code\\n"
...     "007,2026-03-29T02:30:00,p1,bid\\n"
...     "007,2026-03-29 03:40:00+02:00,p2,Toward\\n"
...     "007,yesterday,p2,toward\\n")
>>> exp = load_export(d, timezone="Europe/Amsterdam")
>>> exp.events[["couple_id", "ts", "actor", "code"]]
  couple_id                        ts actor    code
0       007 2026-03-29 01:30:00+00:00    p1     bid
1       007 2026-03-29 01:40:00+00:00    p2  toward
>>> exp.summary().set_index("table").T
table              events  checkins
rows_in                 3         0
rows_loaded             2         0
rows_quarantined        1         0
rows_dst_adjusted       1         0
rows_not_utf8           0         0
>>> exp.quarantine[["source", "row", "column", "reason"]]
       source  row column         reason
0  events.csv    3     ts  bad_timestamp
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import fnmatch
import gzip
import hashlib
import io
import json
import mmap
import re
import stat
import threading
import zipfile
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from patterns import _fast, schema
from patterns.errors import ExportError, check_option
from patterns.timeutil import TimezoneMap

__all__ = [
    "MAPPINGS_DIR",
    "MAX_FIELD_BYTES",
    "MAX_MEMBERS",
    "MAX_MEMBER_BYTES",
    "MAX_RATIO",
    "MAX_TOTAL_BYTES",
    "Export",
    "load_export",
    "read_mapping",
]

#: Example column mappings shipped with the kit (loadable by file stem).
MAPPINGS_DIR = Path(__file__).resolve().parent / "data" / "mappings"
#: Largest uncompressed member of a zip / decompressed .gz / single file (bytes).
MAX_MEMBER_BYTES = 2 << 30
#: Largest total uncompressed size of a zip (bytes).
MAX_TOTAL_BYTES = 4 << 30
#: Largest uncompressed/compressed ratio accepted for members above 1 MiB.
MAX_RATIO = 200
#: Most members a zip may have.
MAX_MEMBERS = 10_000
#: Largest single cell (UTF-8 bytes). A longer cell quarantines its row as
#: ``field_too_large`` and is not kept (a 10 MB note must not ride along into every copy of
#: the table); the file-size caps above still bound the whole read.
MAX_FIELD_BYTES = 1 << 20

_FUNC = "load_export"
_TABLES = ("events", "checkins")
_SYNONYMS = {
    "events": ("events", "event", "bids", "interactions", "moves"),
    "checkins": (
        "checkins",
        "checkin",
        "check_ins",
        "check-ins",
        "diary",
        "daily",
        "dailies",
        "ema",
        "survey",
        "surveys",
    ),
}
_EXTS = (
    ".csv.gz",
    ".tsv.gz",
    ".txt.gz",
    ".csv",
    ".tsv",
    ".txt",
    ".jsonl",
    ".ndjson",
    ".json",
    ".parquet",
    ".pq",
    ".xlsx",
)
_MAPPING_KEYS = (
    "rename",
    "recode",
    "scales",
    "na_values",
    "timezone",
    "tables",
    "skip_rows",
    "delimiter",
    "ts_format",
    "ts_offset",
    "keep",
    "constants",
    "wide",
    "description",
    "source_app",
)
_TRUE = ("true", "yes", "y", "t", "1", "1.0", "on", "checked")
_FALSE = ("false", "no", "n", "f", "0", "0.0", "off", "unchecked")
_ID_COLUMNS = ("couple_id", "actor", "partner", "bid_id")
_LABEL_COLUMNS = ("bid_type", "topic", "conflict_topic")
_TARGET_SCALE = {
    **{c: schema.RATING_SCALE for c in schema.RATINGS},
    "intensity": (0.0, 1.0),
    "conflict_intensity": (0.0, 1.0),
    **{c: (0.0, 4.0) for c in schema.BODY_SIGNALS},
}
# Valid instants: anything else is a typo or a unit mix-up (and would overflow ns).
_TS_MIN = pd.Timestamp("1900-01-01")
_TS_MAX = pd.Timestamp("2200-01-01")
# [0-9] rather than \d and [ ] rather than \s: pandas then runs these on pyarrow (RE2).
_OFFSET_RE = (
    r"[0-9]:[0-9][0-9](?::[0-9][0-9](?:[.,][0-9]+)?)? *(?:[zZ]|[+-][0-9][0-9](?::?[0-9][0-9])?)$"
)
_NUMBER_RE = r"[+-]?[0-9]+(?:\.[0-9]+)?"
_DATELIKE_RE = (
    r"[0-9]{1,4}[./-][0-9]{1,2}[./-][0-9]{1,4}"
    r"(?:[ T][0-9]{1,2}:[0-9][0-9](?::[0-9][0-9](?:\.[0-9]+)?)?(?: ?[AaPp][Mm])?)?"
)
# Reasons after which a row's other cells are not checked (they are not trustworthy, or a
# dropped oversized cell would read as a spurious `missing_required`).
_BROKEN = ("ragged_row", "bad_record", "field_too_large")
_QCOLS = ["table", "source", "row", "column", "reason", "detail", "couple_id", "record"]


# --------------------------------------------------------------------------------------
# The result object


@dataclass(frozen=True, eq=False)  # eq=False: DataFrames have no single truth value
class Export:
    """A loaded export: validated tables plus everything needed to account for every row.

    Attributes
    ----------
    events, checkins : DataFrame
        Contract columns (``schema.EVENTS`` / ``schema.CHECKINS``) at contract dtypes, UTC
        timestamps, RangeIndex, source row order; ``attrs["timezones"]`` holds
        :attr:`timezones`. Empty with the right columns when the table is absent.
    quarantine : DataFrame
        One row per problem: ``table``, ``source`` (file inside the export), ``row`` (1-based
        data row in that file), ``column`` (empty when the whole row), ``reason`` (a key of
        ``schema.QUARANTINE_REASONS``), ``detail`` (never the row's free text),
        ``couple_id`` (as read, may be missing) and ``record`` (0-based position among all
        input rows of the table; unique per input row).
    notices : DataFrame
        Rows loaded after a documented adjustment (DST), same columns as ``quarantine``.
    manifest : dict
        The parsed ``manifest.json`` (``{}`` when absent).
    timezones : dict
        couple_id → IANA zone for every couple in :attr:`couples`.
    partners : dict
        couple_id → the two partner ids (manifest list, else the two kept from the data).
    sources : DataFrame
        ``file``, ``table``, ``format``, ``encoding``, ``delimiter``, ``sha256``, ``rows``.
    dropped_columns : dict
        table → source columns not loaded (sorted names): those not in the contract, a
        second column with the same contract name after renaming (the first is loaded),
        and a column a mapping constant replaces.
    path : Path or None
        Where the export was read from.
    """

    events: pd.DataFrame
    checkins: pd.DataFrame
    quarantine: pd.DataFrame
    notices: pd.DataFrame
    manifest: dict
    timezones: dict
    partners: dict
    sources: pd.DataFrame
    dropped_columns: dict
    path: Path | None
    rows_in: dict = field(repr=False)
    rows_in_by_couple: dict = field(repr=False)

    @property
    def couples(self) -> list[str]:
        """Sorted couple ids: every couple in the manifest or in a loaded row."""
        return sorted(self.timezones)

    def summary(self) -> pd.DataFrame:
        """Row accounting per table.

        Returns
        -------
        DataFrame
            One row per table: ``table``, ``rows_in`` (data rows read), ``rows_loaded``,
            ``rows_quarantined`` (distinct input rows with at least one problem),
            ``rows_dst_adjusted`` (loaded rows whose local time met a DST gap or overlap),
            ``rows_not_utf8`` (loaded rows of a UTF-8 file holding bytes that are not
            UTF-8, read as cp1252). ``rows_in == rows_loaded + rows_quarantined`` always.
        """
        rows = []
        for table in _TABLES:
            q = self.quarantine[self.quarantine["table"] == table]
            n = self.notices[self.notices["table"] == table]
            dst = n["reason"].isin(["dst_nonexistent", "dst_ambiguous"]).to_numpy(dtype=bool)
            not_utf8 = (n["reason"] == "not_utf8").to_numpy(dtype=bool)
            rows.append(
                {
                    "table": table,
                    "rows_in": int(self.rows_in.get(table, 0)),
                    "rows_loaded": len(getattr(self, table)),
                    "rows_quarantined": int(q["record"].nunique()),
                    "rows_dst_adjusted": int(n["record"][dst].nunique()),
                    "rows_not_utf8": int(n["record"][not_utf8].nunique()),
                }
            )
        return pd.DataFrame(rows)

    def for_couple(self, couple_id: str) -> Export:
        """The same export restricted to one couple (quarantine and accounting included).

        Raises
        ------
        ValueError
            When ``couple_id`` is not one of :attr:`couples` (the message lists them).
        """
        check_option("couple_id", couple_id, self.couples, func="Export.for_couple")
        frames = {}
        # one shared, immutable map, as the loader stores (pandas does not deep-copy it into
        # every frame derived from these)
        zone = TimezoneMap({couple_id: self.timezones[couple_id]})
        for table in _TABLES:
            df = getattr(self, table)
            sub = df[(df["couple_id"] == couple_id).fillna(False).to_numpy(dtype=bool)].reset_index(
                drop=True
            )
            sub.attrs["timezones"] = zone
            frames[table] = sub
        q = self.quarantine[
            (self.quarantine["couple_id"] == couple_id).fillna(False).to_numpy(dtype=bool)
        ].reset_index(drop=True)
        n = self.notices[
            (self.notices["couple_id"] == couple_id).fillna(False).to_numpy(dtype=bool)
        ].reset_index(drop=True)
        manifest = dict(self.manifest)
        if isinstance(manifest.get("couples"), list):
            manifest["couples"] = [
                c
                for c in manifest["couples"]
                if isinstance(c, Mapping) and str(c.get("couple_id")) == couple_id
            ]
        return Export(
            events=frames["events"],
            checkins=frames["checkins"],
            quarantine=q,
            notices=n,
            manifest=manifest,
            timezones={couple_id: self.timezones[couple_id]},
            partners={couple_id: list(self.partners.get(couple_id, []))},
            sources=self.sources,
            dropped_columns=self.dropped_columns,
            path=self.path,
            rows_in={t: self.rows_in_by_couple.get(t, {}).get(couple_id, 0) for t in _TABLES},
            rows_in_by_couple={
                t: {couple_id: self.rows_in_by_couple.get(t, {}).get(couple_id, 0)} for t in _TABLES
            },
        )


# --------------------------------------------------------------------------------------
# Containers: folder, zip, single file


class _Container:
    """Named byte blobs inside an export, read with size caps."""

    label: str

    def names(self) -> list[str]:
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        raise NotImplementedError


class _Folder(_Container):
    def __init__(self, root: Path, only: list[str] | None = None):
        self.root = root
        self.label = root.name
        if only is not None:
            self._names = only
        else:
            self._names = sorted(
                p.name for p in root.iterdir() if not p.name.startswith(".") and _is_file(p)
            )

    def names(self) -> list[str]:
        return self._names

    def _checked(self, name: str) -> tuple[Path, int]:
        p = self.root / name
        if p.is_symlink():
            target = p.resolve()
            if self.root.resolve() not in target.parents:
                raise ExportError(f"{_FUNC}: {name} is a symlink pointing outside the export.")
        size = p.stat().st_size
        if size > MAX_MEMBER_BYTES:
            raise ExportError(
                f"{_FUNC}: {name} is {size:,} bytes, over the {MAX_MEMBER_BYTES:,}-byte limit."
            )
        return p, size

    def read(self, name: str) -> bytes:
        return self._checked(name)[0].read_bytes()

    def read_mapped(self, name: str) -> bytes | mmap.mmap:
        """The file's bytes, memory-mapped (read-only) from ``_MMAP_MIN_BYTES`` on.

        Why: a copy of a 200 MB table into a new bytes object costs ~0.15-0.2 CPU s in a
        fresh process (page faults on new memory, then the copy); the page cache can be
        read in place. Raw exports are not modified while they are read (a file truncated
        during the read could stop the process; small files are copied as before).
        """
        p, size = self._checked(name)
        if not size or size < _MMAP_MIN_BYTES:  # (an empty file cannot be mapped)
            return p.read_bytes()
        with open(p, "rb") as fh:
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)


_MMAP_MIN_BYTES = 16 << 20


def _is_file(p: Path) -> bool:
    try:
        return p.is_file()
    except OSError:
        return False


class _Zip(_Container):
    def __init__(self, path: Path):
        self.label = path.name
        try:
            self.zf = zipfile.ZipFile(path)
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ExportError(f"{_FUNC}: {path.name} is not a readable zip file ({exc}).") from exc
        self.infos = _check_zip_infos(infos, path.name)
        names = list(self.infos)
        prefix = ""
        tops = {n.split("/", 1)[0] for n in names}
        if names and all("/" in n for n in names) and len(tops) == 1:
            prefix = tops.pop() + "/"
        self.prefix = prefix
        self._names = sorted(
            n[len(prefix) :]
            for n in names
            if n.startswith(prefix)
            and "/" not in n[len(prefix) :]
            and not n[len(prefix) :].startswith(".")
        )

    def names(self) -> list[str]:
        return self._names

    def read(self, name: str) -> bytes:
        info = self.infos[self.prefix + name]
        try:
            with self.zf.open(info) as fh:
                data = fh.read(info.file_size + 1)
        except Exception as exc:  # BadZipFile, OSError, EOFError, zlib.error…: corrupt archive
            raise ExportError(f"{_FUNC}: cannot read {name} from {self.label} ({exc}).") from exc
        if len(data) > info.file_size:
            raise ExportError(f"{_FUNC}: {name} in {self.label} is larger than declared.")
        return data


def _check_zip_infos(infos: list[zipfile.ZipInfo], label: str) -> dict[str, zipfile.ZipInfo]:
    """Reject traversal, symlinks, encryption and compression bombs from the directory alone."""
    if len(infos) > MAX_MEMBERS:
        raise ExportError(f"{_FUNC}: {label} has {len(infos):,} members (limit {MAX_MEMBERS:,}).")
    out: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        raw = info.filename
        name = raw.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise ExportError(
                f"{_FUNC}: {label} has a member path that escapes the archive: {raw[:80]!r}."
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ExportError(f"{_FUNC}: {label} contains a symlink member {raw[:80]!r}.")
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise ExportError(f"{_FUNC}: {label} member {raw[:80]!r} is encrypted.")
        _check_size(info.file_size, info.compress_size, f"{label}:{raw[:80]}")
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise ExportError(
                f"{_FUNC}: {label} expands to more than {MAX_TOTAL_BYTES:,} bytes "
                "(compression bomb?)."
            )
        out[name] = info
    return out


def _check_size(size: int, compressed: int, label: str) -> None:
    if size > MAX_MEMBER_BYTES:
        raise ExportError(
            f"{_FUNC}: {label} expands to {size:,} bytes, over the {MAX_MEMBER_BYTES:,}-byte "
            "limit (compression bomb?)."
        )
    if size > (1 << 20) and size / max(compressed, 1) > MAX_RATIO:
        raise ExportError(
            f"{_FUNC}: {label} has a compression ratio of {size / max(compressed, 1):,.0f}:1, "
            f"over the {MAX_RATIO}:1 limit (compression bomb?)."
        )


def _gunzip(data: bytes, label: str) -> bytes:
    """Decompress with a cap on size and ratio, streaming, so a bomb stops early."""
    cap = min(MAX_MEMBER_BYTES, max(1 << 20, MAX_RATIO * len(data)))
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            while True:
                chunk = gz.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                if out.tell() > cap:
                    raise ExportError(
                        f"{_FUNC}: {label} expands beyond {cap:,} bytes (compression bomb?)."
                    )
    except ExportError:
        raise
    except Exception as exc:  # gzip.BadGzipFile, EOFError, zlib.error
        raise ExportError(f"{_FUNC}: {label} is not a readable gzip file ({exc}).") from exc
    return out.getvalue()


# --------------------------------------------------------------------------------------
# Mapping


def read_mapping(mapping: str | Path | Mapping | None) -> dict:
    """Load and check a column mapping (YAML path, shipped example name, or dict).

    Examples
    --------
    >>> sorted(read_mapping("mpath"))[:3]
    ['delimiter', 'description', 'na_values']
    >>> read_mapping({"renam": {}})
    Traceback (most recent call last):
    ...
    patterns.errors.ExportError: load_export: unknown mapping key(s) ['renam']; ...
    """
    if mapping is None:
        return {}
    if isinstance(mapping, Mapping):
        cfg = dict(mapping)
    elif isinstance(mapping, str | Path):
        p = Path(mapping)
        if not p.exists() and (MAPPINGS_DIR / f"{mapping}.yaml").exists():
            p = MAPPINGS_DIR / f"{mapping}.yaml"
        if not p.is_file():
            shipped = sorted(q.stem for q in MAPPINGS_DIR.glob("*.yaml"))
            raise ExportError(
                f"{_FUNC}: mapping file {str(mapping)!r} not found (shipped examples: {shipped})."
            )
        import yaml

        try:
            cfg = yaml.safe_load(p.read_text(encoding="utf-8-sig")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ExportError(f"{_FUNC}: mapping {p.name} is not valid YAML ({exc}).") from exc
        if not isinstance(cfg, dict):
            raise ExportError(f"{_FUNC}: mapping {p.name} must be a YAML mapping of keys.")
    else:
        raise ExportError(
            f"{_FUNC}: mapping must be a path, a shipped mapping name or a dict; "
            f"got {type(mapping).__name__}."
        )
    unknown = sorted(str(k) for k in cfg if k not in _MAPPING_KEYS)
    if unknown:
        raise ExportError(
            f"{_FUNC}: unknown mapping key(s) {unknown}; allowed: {list(_MAPPING_KEYS)}."
        )
    for key in ("rename", "recode", "scales", "tables", "keep", "constants", "wide", "ts_offset"):
        if key in cfg and not isinstance(cfg[key], Mapping):
            raise ExportError(f"{_FUNC}: mapping key `{key}` must be a mapping; got {cfg[key]!r}.")
    if "na_values" in cfg and not isinstance(cfg["na_values"], list | tuple):
        raise ExportError(f"{_FUNC}: mapping key `na_values` must be a list of strings.")
    return cfg


def _per_table(cfg: dict, key: str, table: str) -> dict:
    """A mapping entry that is either global ``{src: dst}`` or per table."""
    value = cfg.get(key) or {}
    if any(k in _TABLES for k in value):
        merged = {k: v for k, v in value.items() if k not in _TABLES}
        sub = value.get(table) or {}
        if not isinstance(sub, Mapping):
            raise ExportError(f"{_FUNC}: mapping `{key}.{table}` must be a mapping.")
        merged.update(sub)
        return merged
    return dict(value)


def _scale(value: Any, where: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ExportError(f"{_FUNC}: {where} must be [low, high]; got {value!r}.") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ExportError(f"{_FUNC}: {where} must have low < high; got {value!r}.")
    return lo, hi


def _zone(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name:
        raise ExportError(f"{_FUNC}: {where} must be an IANA zone name; got {name!r}.")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ExportError(
            f"{_FUNC}: {where} {name!r} is not a known IANA zone (e.g. 'Europe/Amsterdam')."
        ) from None
    return name


# --------------------------------------------------------------------------------------
# Manifest


@dataclass
class _Manifest:
    raw: dict
    default_zone: str | None = None
    zones: dict = field(default_factory=dict)
    partners: dict = field(default_factory=dict)
    couples: list = field(default_factory=list)
    scales: dict = field(default_factory=dict)


def _parse_manifest(obj: Any) -> _Manifest:
    if obj is None:
        return _Manifest(raw={})
    if not isinstance(obj, dict):
        raise ExportError(f"{_FUNC}: manifest.json must hold a JSON object.")
    m = _Manifest(raw=obj)
    if obj.get("timezone") not in (None, ""):
        m.default_zone = _zone(obj["timezone"], "manifest timezone")
    scales = obj.get("scales") or {}
    if not isinstance(scales, dict):
        raise ExportError(f"{_FUNC}: manifest `scales` must be an object.")
    m.scales = {str(k): _scale(v, f"manifest scale for {k}") for k, v in scales.items()}
    couples = obj.get("couples") or []
    if isinstance(couples, dict):
        couples = [
            {"couple_id": k, **(v if isinstance(v, dict) else {})} for k, v in couples.items()
        ]
    if not isinstance(couples, list):
        raise ExportError(f"{_FUNC}: manifest `couples` must be a list.")
    for c in couples:
        if isinstance(c, str | int):
            c = {"couple_id": c}
        if not isinstance(c, dict) or c.get("couple_id") in (None, ""):
            raise ExportError(f"{_FUNC}: every manifest couple needs a `couple_id`.")
        cid = str(c["couple_id"]).strip()
        m.couples.append(cid)
        if c.get("timezone") not in (None, ""):
            m.zones[cid] = _zone(c["timezone"], f"manifest timezone of couple {cid}")
        parts = c.get("partners")
        if parts:
            if not isinstance(parts, list | dict):
                raise ExportError(f"{_FUNC}: manifest partners of couple {cid} must be a list.")
            ids = []
            for p in parts:
                if isinstance(p, dict):
                    p = p.get("partner_id", p.get("id"))
                if p in (None, ""):
                    raise ExportError(f"{_FUNC}: a manifest partner of {cid} has no id.")
                ids.append(str(p).strip())
            m.partners[cid] = ids
    return m


# --------------------------------------------------------------------------------------
# Reading raw tables (every value a string, or a typed value from a typed format)


@dataclass
class _Raw:
    table: str
    source: str
    df: pd.DataFrame
    rows: np.ndarray  # 1-based data row in the source file
    pre: list = field(default_factory=list)  # (mask, column, reason, detail)
    notes: list = field(default_factory=list)  # the same, for rows loaded with a notice


def _table_of(name: str, cfg: dict) -> str | None:
    low = name.lower()
    if low == "manifest.json":
        return None
    globs = cfg.get("tables") or {}
    for table in _TABLES:
        pattern = globs.get(table)
        if pattern is not None and fnmatch.fnmatch(low, str(pattern).lower()):
            return table
    stem = next((low[: -len(e)] for e in _EXTS if low.endswith(e)), None)
    if stem is None:
        return None
    for table in _TABLES:
        if table not in globs and stem in _SYNONYMS[table]:
            return table
    return None


def _cp1252_char(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
        return bytes([byte]).decode("latin-1")


# A stray byte (0x80–0xFF) that is not part of a UTF-8 character is read as cp1252, or
# left as a private-use mark (U+F780–U+F7FF) that survives the table parse, so that the
# cells that held one can be found (:func:`_unmark`).
_STRAY_RUN = re.compile("[\udc80-\udcff]+")  # stray bytes as "surrogateescape" gives them
_MARKS = "[\uf780-\uf7ff]"
_MARK_BYTES = (b"\xef\x9e", b"\xef\x9f")  # the UTF-8 of U+F780–U+F7FF starts so
_CP1252_OF_MARK = {0xF700 + b: _cp1252_char(b) for b in range(0x80, 0x100)}
_MARK_OF_STRAY = {0xDC00 + b: chr(0xF700 + b) for b in range(0x80, 0x100)}
_CP1252_OF_STRAY = {0xDC00 + b: _cp1252_char(b) for b in range(0x80, 0x100)}
_MARK_OF_BYTE = {b: chr(0xF700 + b) for b in range(0x80, 0x100)}  # (a Latin-1 reading's)
_CP1252_OF_BYTE = {b: _cp1252_char(b) for b in range(0x80, 0x100)}
_UNIT_ENDS = '\n\r",;\t|'  # where a unit of text for the stray-byte rule ends (a field)
_UNIT_END = re.compile(f"[{re.escape(_UNIT_ENDS)}]")
_STRAY_BLOCK = 1 << 20  # bytes checked at a time (cut at a line end)
_STRAY_JUDGE = 8  # failing blocks after which a file that looks single-byte is judged so
MIXED_ENCODING = "utf-8+cp1252"


def _read_strays(data: Any, mark: bool) -> tuple[bytes, bool] | None:
    """A UTF-8 file with stray bytes, as UTF-8 with each stray byte replaced by its cp1252
    reading (or, with ``mark``, by its mark) and whether marks were used; None when the
    file is a single-byte file (read it as cp1252).

    The file is checked in 1 MB blocks cut at line ends (pyarrow's validator, no decoded
    copy); only the blocks that fail are decoded (C's "surrogateescape" pass, then a
    regex over its stray runs: a Python error handler or a ``str.translate`` over a whole
    200 MB file took 9–20 s). A block that holds non-ASCII bytes and is valid UTF-8 makes
    the file UTF-8 (cp1252 text almost never is). Else each valid multi-byte character in
    a field of the failing blocks without a stray byte counts for UTF-8
    (:func:`_stray_counts`): a cp1252 file forms one only by chance, and then mostly in a
    field with other accented letters; so the file is UTF-8 unless its stray bytes are
    over 20× that count (decided after 8 failing blocks at most, so a large cp1252 file
    is not decoded twice).
    """
    # (marks only where the file cannot hold one already: then no notices, same text;
    # a lone byte is found ~15× faster than a pair, so the pairs only when needed)
    # (find, not `in`: a memory-mapped file has no `in` for bytes and is iterated instead)
    mark = mark and not (data.find(b"\xef") >= 0 and any(data.find(m) >= 0 for m in _MARK_BYTES))
    view, n = memoryview(data), len(data)
    parts: list[Any] = []
    strays = extra = failed = 0
    utf8 = False  # a valid block with non-ASCII bytes was seen
    start = 0
    eol = b"\n"  # (a CR-only file, old Mac, has no LF: its blocks are cut after a CR, not
    # one block of the whole file; once no LF is left, none is searched for again)
    while start < n:
        end = n if start + _STRAY_BLOCK >= n else data.find(eol, start + _STRAY_BLOCK) + 1
        if not end and eol == b"\n":
            eol = b"\r"
            end = data.find(eol, start + _STRAY_BLOCK) + 1
        end = end or n
        block = view[start:end]
        try:
            _check_utf8(block)
            utf8 = utf8 or bool((np.frombuffer(block, np.uint8) >= 0x80).any())
            parts.append(block)
        except UnicodeDecodeError:
            text = str(block, "utf-8", "surrogateescape")
            strays_here, extra_here = _stray_counts(text, len(block))
            strays += strays_here
            extra += extra_here
            failed += 1
            if failed >= _STRAY_JUDGE and not utf8 and strays > 20 * extra:
                return None
            parts.append(text)  # (its stray bytes replaced once the file is judged)
        start = end
    if not utf8 and strays > 20 * extra:
        return None
    for i, part in enumerate(parts):
        if isinstance(part, str):
            parts[i] = _fix_stray_units(part, mark).encode("utf-8")
    return b"".join(parts), mark


def _stray_unit(text: str, m: re.Match, after: int) -> tuple[int, int]:
    """Start and end of the unit of text around stray run ``m``: a field, the text between
    line ends (LF *or* CR: an old Mac file has no LF), quotes and delimiters. With whole
    lines a one-line JSON file or a CR-only file was one unit, whose single stray byte
    turned the whole file cp1252, and a row whose note alone was pasted from a cp1252
    tool had its UTF-8 fields (a partner id "Zoë") read as cp1252 too. ``after``: the
    end of the previous unit (the search back stops there, so a block is scanned a
    bounded number of times, not once per stray)."""
    start = max(text.rfind(c, after, m.start()) for c in _UNIT_ENDS) + 1
    stop = _UNIT_END.search(text, m.end())
    return max(start, after), len(text) if stop is None else stop.start()


def _fix_stray_units(text: str, mark: bool) -> str:
    """A failing block of a UTF-8 file with its stray bytes read as cp1252 (or marked).

    Unit by unit (:func:`_stray_unit`: a field of a line): a unit with at least as many
    stray bytes as valid multi-byte characters came from a single-byte tool (a pasted
    cp1252 note), so *all* its non-ASCII bytes are read as cp1252, also a pair that
    happens to be valid UTF-8 ("„Spaß“": ß then “ is U+07D3); in a unit with more valid
    characters (UTF-8 text with a broken byte), or one that ends in a cut multi-byte
    character (:func:`_cut_character`), only the stray bytes are.
    """
    strays_only = _MARK_OF_STRAY if mark else _CP1252_OF_STRAY
    whole_unit = _MARK_OF_BYTE if mark else _CP1252_OF_BYTE
    out, pos, end = [], 0, 0
    for m in _STRAY_RUN.finditer(text):
        if m.start() < end:
            continue  # (a later stray run in a unit already read)
        start, end = _stray_unit(text, m, end)
        unit = text[start:end]
        runs = _STRAY_RUN.findall(unit)
        strays = sum(len(r) for r in runs)
        valid = len(unit) - len(unit.encode("ascii", "ignore")) - strays
        if strays >= valid and not _cut_character(unit, runs):
            fixed = unit.encode("utf-8", "surrogateescape").decode("latin-1").translate(whole_unit)
        else:
            fixed = unit.translate(strays_only)
        out += [text[pos:start], fixed]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _cut_character(unit: str, runs: list[str]) -> bool:
    """Whether a unit's only stray bytes end it and are the start of a UTF-8 character (a
    multi-byte character cut off, as a tool that truncates by bytes leaves it). Such a
    unit is UTF-8 with one broken character, also when it holds just one valid character
    ("Zoë sagt \\xc3" read as cp1252 whole was "ZoÃ« sagt Ã"); the stray byte of a
    pasted cp1252 unit that ties ("„Spaß“": „ is 0x84) does not end it.
    """
    if len(runs) != 1 or not unit.endswith(runs[0]):
        return False
    raw = runs[0].encode("utf-8", "surrogateescape")
    try:  # (the standard decoder keeps a valid incomplete ending for the next chunk)
        return codecs.getincrementaldecoder("utf-8")().decode(raw, final=False) == ""
    except UnicodeDecodeError:
        return False


def _stray_counts(text: str, n_bytes: int) -> tuple[int, int]:
    """The stray bytes of a block decoded with "surrogateescape", and the valid multi-byte
    characters' extra bytes (k − 1 each) outside the units (:func:`_stray_unit`: fields
    of a line) that hold a stray byte.

    A unit with a stray byte is not evidence of UTF-8 whatever else it holds: in cp1252
    text a valid pair forms by chance next to the field's other accented letters (German
    „Spaß“: ß then “ is U+07D3), and counting those made a German cp1252 export with
    quoted words look like UTF-8.
    """
    extra = n_bytes - len(text)  # k − 1 for each valid k-byte character of the block
    strays = end = 0
    for m in _STRAY_RUN.finditer(text):
        strays += m.end() - m.start()
        if extra and m.start() >= end:  # a stray unit not yet counted: its extra is not
            start, end = _stray_unit(text, m, end)
            unit = text[start:end]
            extra -= len(unit.encode("utf-8", "surrogateescape")) - len(unit)
    return strays, extra


def _decode(data: bytes) -> tuple[str, str]:
    """Text and encoding of a file's bytes.

    A UTF-16 BOM decides; so do many NUL bytes (UTF-16 without a BOM). A UTF-8 BOM is
    dropped and the rest read as a file without one. Else UTF-8; a file whose non-ASCII
    bytes are mostly not UTF-8 is a single-byte file (cp1252, else Latin-1). A UTF-8 file
    with a few stray bytes (a line pasted from a cp1252 tool, a cut multi-byte character)
    stays UTF-8 and only those bytes are read as cp1252
    (:data:`MIXED_ENCODING`, :func:`_read_strays`). Before, one stray byte made the
    whole file cp1252: every other accented letter became mojibake (``zoë`` → ``zoÃ«``),
    and a manifest's partner ids stopped matching. Hand-written: no codec decodes "UTF-8,
    else cp1252 byte by byte", and a whole-file guess (charset-normalizer) has the old
    problem.
    """
    if not isinstance(data, bytes):  # a memory-mapped file (rare paths: not plain UTF-8)
        data = bytes(data)
    encoding = "utf-8"
    if data.startswith(codecs.BOM_UTF8):
        # (stray bytes as in a file without a BOM: "replace" made each one U+FFFD)
        data, encoding = data[3:], "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "utf-16"
    elif (head := data[:4000]) and head.count(b"\x00") > len(head) // 4:  # UTF-16, no BOM
        enc = "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"
        return data.decode(enc, errors="replace"), enc
    try:
        return data.decode("utf-8"), encoding
    except UnicodeDecodeError:
        pass
    fixed = _read_strays(data, False)
    if fixed is not None:
        return fixed[0].decode("utf-8"), MIXED_ENCODING
    return _single_byte(data)


def _single_byte(data: Any) -> tuple[str, str]:
    try:
        return str(data, "cp1252"), "cp1252"
    except UnicodeDecodeError:
        return str(data, "latin-1"), "latin-1"


def _unmark(df: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    """Read the stray bytes :func:`_decode` marked as cp1252, cell by cell; return the
    table and a notice item (mask, column, reason, detail) for each column that held any.

    Only the Arrow chunks whose bytes hold 0xEF (every mark's UTF-8 starts with it) are
    searched: a regex over every cell took 1.5 s at 3 M rows.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    notes, out = [], None
    for c in df.columns:
        arr = _arrow(df[c])
        chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
        hit = np.zeros(len(df), bool)
        offset = 0
        for i, chunk in enumerate(chunks):
            bufs = chunk.buffers()
            data = bufs[2] if len(bufs) > 2 else None
            if data is not None and (np.frombuffer(data, np.uint8) == 0xEF).any():
                m = _np_bool(pc.match_substring_regex(chunk, _MARKS), False)
                if m.any():
                    hit[offset : offset + len(chunk)] = m
                    fixed = [v.translate(_CP1252_OF_MARK) for v in chunk.filter(m).to_pylist()]
                    # (only the chunks that held a mark are rebuilt; the others are reused)
                    chunks[i] = pc.replace_with_mask(chunk, m, pa.array(fixed, chunk.type))
            offset += len(chunk)
        if hit.any():
            new = pa.chunked_array(chunks, arr.type)
            col = pd.arrays.ArrowStringArray(new, dtype=df[c].dtype)
            out = df.copy(deep=False) if out is None else out
            out[c] = pd.Series(col, index=df.index, copy=False)
            notes.append((hit, str(c), "not_utf8", "bytes that are not UTF-8, read as cp1252"))
    return (df if out is None else out), notes


def _check_utf8(data: bytes) -> None:
    """Raise UnicodeDecodeError unless ``data`` is UTF-8 (pyarrow's validator: ~10× faster
    than ``bytes.decode`` and no decoded copy)."""
    import pyarrow as pa

    arr = pa.LargeStringArray.from_buffers(
        1, pa.py_buffer(np.array([0, len(data)], np.int64)), pa.py_buffer(data)
    )
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid as exc:
        raise UnicodeDecodeError("utf-8", data[:1], 0, 1, str(exc)) from None


def _first_record_line(text: str) -> str:
    """The header line: up to the first CR or LF (old Mac files end lines with a bare CR)."""
    return re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]


def _sniff(line: str) -> tuple[str, bool]:
    """Delimiter of a header line and whether the whole line is wrapped in quotes."""
    outside = re.sub(r'"[^"]*"', "", line)
    counts = {d: outside.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    if counts[best] == 0:
        inside = {d: line.count(d) for d in (",", ";", "\t", "|")}
        wrapped = line.startswith('"') and line.endswith('"') and max(inside.values()) > 0
        if wrapped:
            return max(inside, key=lambda d: inside[d]), True
        return ",", False
    return best, False


def _unique_names(names: list[str]) -> list[str]:
    out, seen = [], {}
    for i, n in enumerate(names):
        n = n.strip().lstrip("\ufeff") or f"unnamed_{i + 1}"
        if n in seen:
            seen[n] += 1
            n = f"{n}__{seen[n]}"
        seen.setdefault(n, 1)
        out.append(n)
    return out


def _read_text_table(data: bytes, name: str, table: str, cfg: dict, skip: int) -> tuple:
    head_bytes = data[:4000]  # bytes also when `data` is memory-mapped
    sig = head_bytes.startswith(codecs.BOM_UTF8)
    if sig:  # UTF-8 with a BOM (m-Path, Excel's "CSV UTF-8") reads as UTF-8 without it:
        # its stray bytes too (decoded whole with "replace", each became U+FFFD, no notice).
        # A copy of a memory-mapped file, the only one: before, the whole file was decoded.
        data = data[3:]
    bom = not sig and (
        head_bytes.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        or head_bytes.count(b"\x00") > len(head_bytes) // 4
    )
    text: str | None = None
    payload: Any = None
    marked = False  # stray bytes left as marks for _unmark
    if bom:
        text, encoding = _decode(data)
    else:
        try:  # validate only (pyarrow's bad-row callback cannot take invalid UTF-8)
            _check_utf8(data)
            # common case: the bytes go to pyarrow untouched
            payload, encoding = data, "utf-8-sig" if sig else "utf-8"
        except UnicodeDecodeError:
            strays = _read_strays(data, True)
            if strays is None:
                text, encoding = _single_byte(data)
            else:
                (payload, marked), encoding = strays, MIXED_ENCODING
    if payload is not None:
        head = payload[:65536].decode("utf-8", errors="replace")
    else:
        text = text.lstrip("\ufeff")
        head = text[:65536]
    if not head.strip():
        return _Raw(table, name, pd.DataFrame(), np.zeros(0, np.int64)), encoding, ""
    delim, wrapped = _sniff(_first_record_line(head))
    if name.lower().endswith((".tsv", ".tsv.gz")):
        delim = "\t"
    if cfg.get("delimiter"):
        delim = str(cfg["delimiter"])
        if len(delim) != 1:
            raise ExportError(f"{_FUNC}: mapping `delimiter` must be one character.")
    if wrapped:
        # Excel re-saved every line as one quoted field: strip the outer quotes (rare files,
        # so a per-line pass is fine).
        if text is None:
            text = str(payload, "utf-8")
        text = "\n".join(
            ln[1:-1].replace('""', '"') if len(ln) > 1 and ln[0] == ln[-1] == '"' else ln
            for ln in text.splitlines()
        )
        payload, head = None, text[:65536]
    if payload is None:
        payload = text.encode("utf-8")
    try:
        header = next(csv.reader(io.StringIO(_first_record_line(head)), delimiter=delim), [])
    except csv.Error as exc:  # e.g. a bare CR inside the header line (found by fuzzing)
        raise ExportError(f"{_FUNC}: {name} has an unreadable header line ({exc}).") from exc
    names = _unique_names([h.translate(_CP1252_OF_MARK) for h in header])
    quoted = payload.find(b'"') >= 0  # no quotes → no quoted newlines → faster parse
    # (No second Arrow parse when this one fails: the bytes were validated as UTF-8 above
    # or are already the decoded text, so the same parse would fail the same way.)
    parsed = _arrow_csv(payload, names, delim, skip, quoted)
    if parsed is not None:
        df, ragged = parsed
        rows = np.arange(skip + 1, skip + 1 + len(df), dtype=np.int64)
        pre = (
            [] if ragged is None else [(ragged, "", "ragged_row", f"expected {len(names)} fields")]
        )
        df, notes = _unmark(df) if marked else (df, [])
        return _Raw(table, name, df, rows, pre, notes), encoding, delim
    if text is None:
        text = str(payload, "utf-8")
    del payload
    # Slow exact path, only for files pyarrow cannot parse (odd quoting) or with very many
    # ragged rows: Python's csv module gives the field count of every record, so each
    # ragged row is quarantined with its true row number.
    limit = csv.field_size_limit()
    try:
        # The field limit is enforced per cell later (field_too_large quarantines the row);
        # the file-size caps bound this read. Restored at once: the limit is process-wide.
        csv.field_size_limit(max(limit, len(text) + 1))
        recs = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delim) if r]
    except csv.Error as exc:
        raise ExportError(f"{_FUNC}: {name} is not a readable delimited file ({exc}).") from exc
    finally:
        csv.field_size_limit(limit)
    body = recs[1:]
    width = len(names)
    lengths = np.fromiter((len(r) for r in body), dtype=np.int64, count=len(body))
    fixed = [(r + [""] * width)[:width] for r in body]
    df = (
        pd.DataFrame(fixed, columns=names, dtype="str")
        if fixed
        else pd.DataFrame({n: pd.Series([], dtype="str") for n in names})
    )
    rows = np.arange(1, len(df) + 1, dtype=np.int64)
    bad = lengths != width
    keep = rows > skip
    df, rows, bad = df[keep].reset_index(drop=True), rows[keep], bad[keep]
    detail = f"expected {width} fields"
    df, notes = _unmark(df) if marked else (df, [])
    return _Raw(table, name, df, rows, [(bad, "", "ragged_row", detail)], notes), encoding, delim


def _arrow_csv(
    payload: bytes, names: list[str], delim: str, skip: int, quoted: bool
) -> tuple[pd.DataFrame, np.ndarray | None] | None:
    """Parse with pyarrow, every column a non-null string, and say which rows are ragged
    (None when none is); None when the file does not parse this way (the caller then reads
    it with Python's csv module).

    A ragged row (too few or too many fields) is read as Python's csv module reads it,
    padded with empty fields or cut to the header's width, at its place among the others
    (the caller quarantines it). pyarrow skips it and reports its record number and text;
    the threaded parse reports no number, so a file with ragged rows is parsed again on one
    thread, unless its one ragged row is the last record (:func:`_last_record`). Before,
    one ragged row sent the whole file to the csv module: 3 ragged rows in the 1,000-couple
    export took 31 s and 4 GB instead of ~3 s.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    ragged: list[tuple[int | None, str]] = []

    def on_bad(row: Any) -> str:
        ragged.append((row.number, row.text))
        return "skip"

    def parse(block_size: int, threads: bool):
        return pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(payload)),  # zero-copy, bytes or memory-mapped
            read_options=pacsv.ReadOptions(
                column_names=names,
                skip_rows=1,  # (the `skip` rows after the header: cut below)
                use_threads=threads,
                block_size=block_size,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delim, newlines_in_values=quoted, invalid_row_handler=on_bad
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.large_string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
            ),
        )

    def attempt(threads: bool):
        ragged.clear()
        try:
            return parse(1 << 20, threads)
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc):
                raise
            # A row longer than a parse block (a huge cell): parse again as one block, so
            # the row loads and the field limit can quarantine just that row. pyarrow's
            # block size is an int32.
            ragged.clear()
            return parse(min(len(payload) + 1, 2**31 - 1), threads)

    threads = len(payload) >= _PARSE_THREADS_MIN_BYTES and _may_thread()
    try:
        tbl = attempt(threads)
        if ragged and len(ragged) <= _RAGGED_MAX and any(n is None for n, _ in ragged):
            last = _last_record(payload, tbl.num_rows, ragged)
            if last is not None:  # a cut-off last line, the usual ragged row: no re-parse
                ragged[:] = [last]
            else:
                del tbl  # (not held while the file is parsed again)
                tbl = attempt(False)  # the record numbers of the ragged rows
    except (pa.ArrowInvalid, pa.ArrowException):
        return None
    bad = None
    if ragged:
        placed = _place_ragged(tbl, ragged, names, delim)
        if placed is None:
            return None
        tbl, bad = placed
    if skip:
        # The rows the mapping skips, cut here as the csv path cuts them (records, blank
        # lines not counted): pyarrow's skip_rows_after_names counts a blank line as a row.
        tbl = tbl.slice(min(skip, tbl.num_rows))
        bad = None if bad is None else bad[skip:]
    df = tbl.to_pandas()
    return (df.astype({c: "str" for c in df.columns}) if len(df.columns) else df), bad


def _last_record(
    payload: Any, n_parsed: int, ragged: list[tuple[int | None, str]]
) -> tuple[int, str] | None:
    """The record number of a lone ragged row that is the file's last record (an export
    cut off while it was written), or None. Without a number from the threaded parse the
    file would be parsed again for it (+0.5 s at 200 MB). Only one ragged row can be the
    last record, and if the file ends with its text it is: a row with that text anywhere
    else would be ragged too, and reported."""
    if len(ragged) != 1:
        return None
    text = ragged[0][1].encode("utf-8")
    end = len(payload)
    while end and payload[end - 1 : end] in (b"\n", b"\r"):  # (blank lines are no records)
        end -= 1
    start = end - len(text)
    if not text or start < 1 or payload[start:end] != text:
        return None
    if payload[start - 1 : start] not in (b"\n", b"\r"):  # (the text must be a whole line)
        return None
    return n_parsed + 2, ragged[0][1]  # the header is record 1, then the parsed rows


#: At most this many ragged rows are placed among pyarrow's rows (more: the csv module
#: reads the file, e.g. a wrong delimiter makes every row ragged).
_RAGGED_MAX = 10_000


def _place_ragged(
    tbl: Any, ragged: list[tuple[int | None, str]], names: list[str], delim: str
) -> tuple[Any, np.ndarray] | None:
    """``tbl`` with the ragged records (pyarrow's 1-based record number, header included,
    and text) put back at their places, read by the csv module and padded or cut to the
    header's width; and the mask of those rows. A few are put back by slicing (no copy of
    the other rows), many by one gather. None when a number is unknown or out of place, or
    the csv module cannot read a row."""
    import pyarrow as pa

    if len(ragged) > _RAGGED_MAX or any(n is None for n, _ in ragged):
        return None
    width = len(names)
    ragged = sorted(ragged, key=lambda r: r[0])
    # data row index of each ragged record: the header is record 1 (rows a mapping skips
    # are still here: the caller cuts them)
    where = [n - 2 for n, _ in ragged]
    total = tbl.num_rows + len(ragged)
    if where[0] < 0 or where[-1] >= total or len(set(where)) != len(where):
        return None
    rows = []
    for _, text in ragged:
        try:
            fields = next(csv.reader(io.StringIO(text, newline=""), delimiter=delim), [])
        except csv.Error:  # e.g. a cell over the csv module's field limit: the csv path,
            return None  # which lifts that limit and quarantines the cell, reads the file
        rows.append((fields + [""] * width)[:width])
    # all ragged rows as one table, sliced or gathered below (a small table per row cost
    # ~0.25 ms each: 2.5 s for 10,000 rows)
    extra = pa.table(
        [pa.array([r[i] for r in rows], pa.large_string()) for i in range(width)],
        schema=tbl.schema,
    )
    cuts = np.asarray(where, dtype=np.int64) - np.arange(len(where))  # places among tbl's
    if (np.diff(cuts) < 0).any() or cuts[-1] > tbl.num_rows:
        return None
    bad = np.zeros(total, bool)
    bad[where] = True
    if len(where) > _RAGGED_SLICES:
        # many: one gather of both tables (a slice per row leaves a chunk per row, which
        # every later step pays for: 9,524 ragged rows in 200,000 took 2.9 s, 1.7 s by csv)
        order = np.empty(total, np.int64)
        order[~bad] = np.arange(tbl.num_rows)
        order[bad] = tbl.num_rows + np.arange(len(where))
        return pa.concat_tables([tbl, extra]).take(pa.array(order)), bad
    pieces, prev = [], 0
    for j, cut in enumerate(cuts.tolist()):
        pieces.append(tbl.slice(prev, cut - prev))
        pieces.append(extra.slice(j, 1))
        prev = cut
    pieces.append(tbl.slice(prev))
    return pa.concat_tables(pieces), bad


#: Up to this many ragged rows are put back by slicing (no copy of the other rows);
#: more, by one gather.
_RAGGED_SLICES = 64


def _json_scalar(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False)


def _records_raw(records: Any, name: str, table: str, skip: int) -> _Raw:
    if isinstance(records, dict) and records and all(isinstance(v, list) for v in records.values()):
        lens = {len(v) for v in records.values()}
        if len(lens) != 1:
            raise ExportError(f"{_FUNC}: {name}: column arrays of `{table}` differ in length.")
        n = lens.pop()
        records = [{k: records[k][i] for k in records} for i in range(n)]
    if not isinstance(records, list):
        raise ExportError(
            f"{_FUNC}: {name}: `{table}` must be a list of records; got {type(records).__name__}."
        )
    ok = np.fromiter((isinstance(r, dict) for r in records), dtype=bool, count=len(records))
    recs = [
        {str(k): _json_scalar(v) for k, v in r.items()} if o else {}
        for r, o in zip(records, ok, strict=True)
    ]
    df = pd.DataFrame.from_records(recs) if recs else pd.DataFrame()
    df = df.fillna("").astype("str") if len(df.columns) else pd.DataFrame(index=range(len(recs)))
    rows = np.arange(1, len(df) + 1, dtype=np.int64)
    keep = rows > skip
    df, rows, ok = df[keep].reset_index(drop=True), rows[keep], ok[keep]
    return _Raw(table, name, df, rows, [(~ok, "", "bad_record", "not a JSON object")])


def _json_loads(text: str, name: str, *, numbers_as_text: bool = True) -> Any:
    try:
        if not numbers_as_text:  # the manifest: ordinary JSON numbers
            return json.loads(text)
        # Table values: numbers stay their source text, so decimals are never rounded.
        return json.loads(text, parse_float=str, parse_int=str, parse_constant=str)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ExportError(f"{_FUNC}: {name} is not valid JSON ({exc}).") from exc


def _read_jsonl(text: str, name: str, table: str, skip: int) -> _Raw:
    # split on "\n" only: str.splitlines would also split inside strings at U+2028 etc.
    lines = [ln for ln in text.split("\n") if ln.strip()]
    recs: list[Any] = []
    for ln in lines:  # per line: one malformed line must not lose the others
        try:
            recs.append(json.loads(ln, parse_float=str, parse_int=str, parse_constant=str))
        except (json.JSONDecodeError, RecursionError):
            recs.append(None)
    return _records_raw(recs, name, table, skip)


def _typed_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Parquet/Excel frame: keep numbers and timestamps typed, everything else as str."""
    out = {}
    for i, c in enumerate(df.columns):
        s = df.iloc[:, i]
        if (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)) or (
            pd.api.types.is_datetime64_any_dtype(s)
        ):
            out[c] = s
        elif _text_categories(s):
            out[c] = s  # a Parquet dictionary: checked by value from its codes (_encode)
        else:
            t = s.astype("str")
            out[c] = t.where(s.notna(), "") if s.isna().any() else t  # no copy when no gaps
    res = pd.DataFrame(out)
    res.columns = _unique_names([str(c) for c in df.columns])
    return res


def _text_categories(s: pd.Series, *, fit: bool = True) -> bool:
    """A categorical of text (``fit``: whose every category fits the field limit, so the
    per-row field check, which skips categoricals, has nothing to find)."""
    if not isinstance(s.dtype, pd.CategoricalDtype):
        return False
    cats = s.cat.categories
    if not pd.api.types.is_string_dtype(cats) or not all(isinstance(v, str) for v in cats):
        return False
    return not fit or all(len(v.encode("utf-8")) <= MAX_FIELD_BYTES for v in cats)


class _Digest:
    """The SHA-256 of a file's bytes, hashed in a background thread when the file is large.

    Why: hashing the 243 MB of the 1,000-couple export costs ~0.17 s; ``hashlib`` releases
    the GIL while it hashes, so on a second core it overlaps the parse and checks instead
    of adding to the load's wall time. The thread holds ``data`` (bytes or a read-only
    memory map) until it is done; :meth:`hexdigest` waits for it (and re-raises what the
    hashing raised), and a failed load waits for it too (:meth:`wait`), so no thread
    still reads the file after ``load_export`` returns or raises.
    """

    def __init__(self, data: Any):
        self._hash = hashlib.sha256()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        if len(data) < _DIGEST_THREAD_MIN_BYTES or not _may_thread():
            self._hash.update(data)
        else:
            self._thread = threading.Thread(
                target=self._update, args=(data,), name="patterns-sha256", daemon=True
            )
            self._thread.start()

    def _update(self, data: Any) -> None:
        try:
            self._hash.update(data)
        except BaseException as exc:  # re-raised by hexdigest, in the loading thread
            self._error = exc

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def hexdigest(self) -> str:
        self.wait()
        if self._error is not None:
            raise self._error
        return self._hash.hexdigest()


def _wait_digests(infos: list[dict]) -> None:
    """Wait for the background hashing of every file read (a load that failed)."""
    for info in infos:
        if isinstance(info.get("sha256"), _Digest):
            info["sha256"].wait()


_DIGEST_THREAD_MIN_BYTES = 8 << 20
# Files from this size are parsed by pyarrow's thread pool (same CPU time as one thread on
# this 2-core VM -- 0.62-0.78 vs 0.60-0.93 CPU s for the 200 MB events file -- at half the
# wall time: 0.32-0.43 vs 0.59-0.92 s). Small files stay on one thread (no pool start-up).
_PARSE_THREADS_MIN_BYTES = 8 << 20


_usable_cpus = _fast.usable_cpus  # (a module name, so tests can pretend other machines)


def _may_thread() -> bool:
    """Whether a load may start threads (:func:`patterns._fast.may_thread`: 2+ usable
    CPUs, on the main thread; e.g. the check-ins file's own thread checks inline)."""
    return _fast.may_thread(_usable_cpus())


def _read_member(cont: _Container, name: str, table: str | None, cfg: dict) -> tuple:
    """Return ([_Raw, ...], source-record dict) for one file."""
    low = name.lower()
    mapped = isinstance(cont, _Folder) and low.endswith((".csv", ".tsv", ".txt"))
    data = cont.read_mapped(name) if mapped else cont.read(name)
    sha = _Digest(data)  # resolved to its hex text in _assemble (overlaps the parse)
    try:
        return _read_member_data(data, sha, name, low, table, cfg)
    except BaseException:
        sha.wait()  # no thread left reading this file
        raise


def _read_member_data(
    data: Any, sha: _Digest, name: str, low: str, table: str | None, cfg: dict
) -> tuple:
    if low.endswith(".gz"):
        data = _gunzip(data, name)
        low = low[:-3]
    info = {"file": name, "table": table or "", "sha256": sha, "encoding": "", "delimiter": ""}
    skip = _skip_rows(cfg, table)
    raws: list[_Raw] = []
    if low.endswith((".csv", ".tsv", ".txt")):
        raw, enc, delim = _read_text_table(data, name, table, cfg, skip)
        info.update(format="csv", encoding=enc, delimiter=delim)
        raws.append(raw)
    elif low.endswith((".jsonl", ".ndjson")):
        text, enc = _decode(data)
        info.update(format="jsonl", encoding=enc)
        raws.append(_read_jsonl(text.lstrip("\ufeff"), name, table, skip))
    elif low.endswith(".json"):
        text, enc = _decode(data)
        info.update(format="json", encoding=enc)
        obj = _json_loads(text.lstrip("\ufeff"), name)
        if isinstance(obj, dict) and any(k in obj for k in _TABLES):
            raise ExportError(
                f"{_FUNC}: {name} holds several tables; pass it directly as the export."
            )
        if isinstance(obj, dict) and isinstance(obj.get("data"), list):
            obj = obj["data"]
        raws.append(_records_raw(obj, name, table, skip))
    elif low.endswith((".parquet", ".pq")):
        info.update(format="parquet")
        try:
            dict_cols = _parquet_dictionary_columns(data, table, cfg)
            df = pd.read_parquet(io.BytesIO(data), read_dictionary=dict_cols or None)
        except Exception as exc:  # pyarrow raises many types for corrupt files
            raise ExportError(f"{_FUNC}: {name} is not a readable Parquet file ({exc}).") from exc
        df = _typed_frame(df).iloc[skip:].reset_index(drop=True)
        raws.append(_Raw(table, name, df, np.arange(skip + 1, skip + 1 + len(df))))
    elif low.endswith(".xlsx"):
        info.update(format="xlsx")
        raws.extend(_read_xlsx(data, name, table, skip))
    else:  # pragma: no cover - names are filtered by extension before
        raise ExportError(f"{_FUNC}: unsupported file type {name}.")
    info["rows"] = sum(len(r.df) for r in raws)
    if len(raws) > 1 or (raws and raws[0].table != table):
        info["table"] = ",".join(sorted({r.table for r in raws}))
    return raws, info


def _parquet_dictionary_columns(data: bytes, table: str | None, cfg: dict) -> list[str]:
    """Text columns of a Parquet file to read as dictionaries: those checked by value.

    Why: Parquet stores such columns dictionary-encoded, so reading the dictionary and
    its codes skips both building every string and hashing them again (1 M events: read
    ~0.04 and encoding ~0.05 CPU s less). Labels, free text and times stay plain strings.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if table is None or cfg.get("wide"):
        return []
    try:
        fields = list(pq.read_schema(pa.BufferReader(pa.py_buffer(data))))
    except Exception:  # pyarrow raises many types; a corrupt file is reported below
        return []
    names = _contract_names([f.name for f in fields], table, _per_table(cfg, "rename", table))
    by_name = {c.name: c for c in schema.columns_of(table)}
    return [
        f.name
        for f, name in zip(fields, names, strict=True)
        if (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
        and name in by_name
        and by_name[name].dtype != "timestamp"
        and _by_value(by_name[name])
    ]


def _skip_rows(cfg: dict, table: str | None) -> int:
    skip_cfg = cfg.get("skip_rows", 0)
    skip = skip_cfg.get(table, 0) if isinstance(skip_cfg, Mapping) else skip_cfg
    try:
        skip = int(skip)
    except (TypeError, ValueError):
        skip = -1
    if skip < 0:
        raise ExportError(f"{_FUNC}: mapping `skip_rows` must be a whole number ≥ 0.")
    return skip


def _read_xlsx(data: bytes, name: str, table: str | None, skip: int) -> list[_Raw]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            _check_zip_infos(zf.infolist(), name)
    except zipfile.BadZipFile as exc:
        raise ExportError(f"{_FUNC}: {name} is not a readable .xlsx workbook ({exc}).") from exc
    try:
        sheets = pd.read_excel(
            io.BytesIO(data),
            sheet_name=None,
            dtype=str,
            engine="openpyxl",
            keep_default_na=False,
            na_filter=False,
        )
    except Exception as exc:  # openpyxl raises many types for corrupt workbooks
        raise ExportError(f"{_FUNC}: {name} is not a readable .xlsx workbook ({exc}).") from exc
    by_name = {str(k).strip().lower(): v for k, v in sheets.items()}
    chosen: list[tuple[str, pd.DataFrame]] = []
    for t in _TABLES:
        for syn in _SYNONYMS[t]:
            if syn in by_name and (table is None or table == t):
                chosen.append((t, by_name[syn]))
                break
    if not chosen and table is not None and sheets:
        chosen = [(table, next(iter(sheets.values())))]
    out = []
    for t, df in chosen:
        df = _typed_frame(df).iloc[skip:].reset_index(drop=True)
        out.append(_Raw(t, name, df, np.arange(skip + 1, skip + 1 + len(df))))
    return out


# --------------------------------------------------------------------------------------
# Column coercion (vectorised)


class _Problems:
    """Problem masks of one table's rows: (mask, column, reason, detail[s])."""

    def __init__(self, n: int):
        self.n = n
        self.items: list[tuple[np.ndarray, str, str, Any]] = []

    def add(self, mask: Any, column: str, reason: str, detail: Any) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.items.append((mask, column, reason, detail))

    def any(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for mask, *_ in self.items:
            out |= mask
        return out


def _text(s: pd.Series) -> pd.Series:
    """A nullable-string view of any column (typed numbers without a spurious ``.0``)."""
    if pd.api.types.is_float_dtype(s):
        vals = s.to_numpy(dtype="float64", na_value=np.nan)
        finite = np.isfinite(vals)
        if (
            finite.any()
            and np.all(np.mod(vals[finite], 1) == 0)
            and np.all(np.abs(vals[finite]) < 2**53)
        ):
            return s.astype("Int64").astype("string")
    return s.astype("string")


def _arrow(t: pd.Series):
    """The pyarrow array behind a string Series (zero-copy for arrow-backed strings).

    The hot checks below call pyarrow.compute directly: at 10^6 rows it is 10–20× faster
    than the equivalent pandas calls (``to_numeric``, ``Index.get_indexer``) on pandas 3.
    """
    import pyarrow as pa

    dtype = t.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        t = t.astype("string")
    return pa.array(t, from_pandas=True)  # may be chunked: pyarrow.compute takes both


def _np_bool(arr, fill: bool) -> np.ndarray:
    import pyarrow.compute as pc

    if arr.null_count:
        arr = pc.fill_null(arr, fill)
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


def _strip(t: pd.Series) -> pd.Series:
    """Strip surrounding whitespace (pyarrow's kernel behind pandas' ``str.strip``)."""
    return t.astype("string").str.strip()


def _missing(t: pd.Series, na_values: list[str]) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _arrow(t)
    # empty (byte length from the offsets: no UTF-8 scan), or whitespace only
    # (utf8_is_space is false for ""), or a declared NA string
    miss = pc.or_(pc.equal(pc.binary_length(arr), 0), pc.utf8_is_space(arr))
    if na_values:
        stripped = pc.utf8_trim_whitespace(arr)
        miss = pc.or_(miss, pc.is_in(stripped, value_set=pa.array(na_values, stripped.type)))
    return _np_bool(miss, True)


# What pyarrow's utf8_trim_whitespace removes from ASCII text (its Unicode rule includes the
# separators U+001C–U+001F); ascii_trim with this set gives the same result ~30% faster.
_ASCII_WS = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "


def _trim(arr) -> tuple[Any, bool]:
    """Trim surrounding whitespace; also say whether the column is pure ASCII (then the
    ASCII kernels are exact and no Unicode normalisation is needed)."""
    import pyarrow.compute as pc

    if pc.all(pc.string_is_ascii(arr)).as_py() is not False:
        return pc.ascii_trim(arr, characters=_ASCII_WS), True
    return pc.utf8_trim_whitespace(arr), False


def _missing_trimmed(arr, na_values: list[str]) -> np.ndarray:
    """:func:`_missing` of a column already trimmed: empty after the trim, or a declared NA
    string (one pass fewer than trimming and testing for whitespace separately)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    miss = pc.equal(pc.binary_length(arr), 0)
    if na_values:
        miss = pc.or_(miss, pc.is_in(arr, value_set=pa.array(na_values, arr.type)))
    return _np_bool(miss, True)


def _to_float(t: pd.Series, miss: np.ndarray, trimmed: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Float values and a bad mask (non-missing text that is not a finite number).

    ``trimmed``: the column's arrow array already trimmed of whitespace (saves a pass).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pc.utf8_trim_whitespace(_arrow(t)) if trimmed is None else trimmed
    if miss.any():
        arr = pc.if_else(pa.array(miss), pa.nulls(len(arr), arr.type), arr)
    if pc.any(pc.match_substring(arr, ",")).as_py():
        arr = pc.replace_substring_regex(arr, r"^([+-]?[0-9]*),([0-9]+)$", r"\1.\2")
    try:  # fast path: every value casts
        vals = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False).astype("float64")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        num = pd.to_numeric(pd.Series(arr.to_pandas()), errors="coerce")
        vals = np.asarray(num.astype("Float64").to_numpy(dtype="float64", na_value=np.nan))
    bad = ~miss & ~np.isfinite(vals)
    vals[bad | miss] = np.nan
    return vals, bad


def _to_bool(
    t: pd.Series, miss: np.ndarray, trimmed: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import pyarrow as pa
    import pyarrow.compute as pc

    low = pc.utf8_lower(pc.utf8_trim_whitespace(_arrow(t)) if trimmed is None else trimmed)
    is_true = _np_bool(pc.is_in(low, value_set=pa.array(_TRUE, low.type)), False)
    is_false = _np_bool(pc.is_in(low, value_set=pa.array(_FALSE, low.type)), False)
    bad = ~miss & ~is_true & ~is_false
    return is_true, is_false, bad


def _localize(naive: pd.Series, zones: pd.Series | str) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Localise naive local times per zone (fold=0 rule) → UTC, nonexistent, ambiguous masks.

    Written by hand around ``tz_localize`` because pandas' ``shift_forward`` moves a gap time
    to the end of the gap, while the documented rule (zoneinfo fold=0) moves it by the gap.
    """
    n = len(naive)
    out = np.full(n, np.datetime64("NaT", "ns"), dtype="datetime64[ns]")
    nonexist = np.zeros(n, dtype=bool)
    ambig = np.zeros(n, dtype=bool)
    valid = naive.notna().to_numpy()
    if isinstance(zones, str):
        groups = [(zones, np.flatnonzero(valid))]
    else:
        zone_arr = zones.to_numpy(dtype=object)
        groups = [(z, np.flatnonzero(valid & (zone_arr == z))) for z in pd.unique(zone_arr[valid])]
    for zone, pos in groups:
        if not len(pos):
            continue
        wall = pd.DatetimeIndex(naive.to_numpy()[pos]).as_unit("ns")
        first = wall.tz_localize(zone, ambiguous=np.ones(len(pos), bool), nonexistent="NaT")
        second = wall.tz_localize(
            zone, ambiguous=np.zeros(len(pos), bool), nonexistent="shift_forward"
        )
        gap = np.asarray(first.isna())
        amb = ~gap & np.asarray(first != second)
        utc = first.tz_convert("UTC").tz_localize(None).to_numpy().copy()
        if gap.any():
            # Offset in force 3 h earlier (before the gap; no zone has two transitions
            # within 3 h): UTC = wall − offset_before.
            before = (wall[gap] - pd.Timedelta(hours=3)).tz_localize(
                zone, ambiguous=np.ones(int(gap.sum()), bool), nonexistent="shift_forward"
            )
            offset = before.tz_localize(None) - before.tz_convert("UTC").tz_localize(None)
            utc[gap] = (wall[gap] - offset).to_numpy()
        out[pos] = utc
        nonexist[pos] = gap
        ambig[pos] = amb
    return pd.Series(out).dt.tz_localize("UTC"), nonexist, ambig


def _naive_ns(values: pd.Series) -> np.ndarray:
    """datetime64[ns] numpy values (UTC wall time for aware input), NaT outside 1900–2199."""
    if values.dtype == "datetime64[ns]":  # fast path: already ns, so already in range of ns
        v = values.to_numpy()
        ok = ~np.isnat(v) & (v >= _TS_MIN.to_datetime64()) & (v < _TS_MAX.to_datetime64())
        return np.where(ok, v, np.datetime64("NaT", "ns"))
    if values.dt.tz is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    v = values.to_numpy(dtype="datetime64[us]")  # us: no overflow before the range check
    ok = ~np.isnat(v) & (v >= _TS_MIN.to_datetime64()) & (v < _TS_MAX.to_datetime64())
    if ok.all():
        return v.astype("datetime64[ns]")
    out = np.full(len(v), np.datetime64("NaT", "ns"))
    out[ok] = v[ok].astype("datetime64[ns]")
    return out


def _parse_ts(
    s: pd.Series,
    miss: np.ndarray,
    zones: pd.Series | str | Callable[[], pd.Series],
    cfg: dict,
    offset: np.ndarray | None,
) -> tuple[pd.Series, np.ndarray, np.ndarray, np.ndarray]:
    """UTC timestamps, bad mask, DST-nonexistent mask, DST-ambiguous mask.

    ``zones``: one zone for all rows, per-row zones, or a function returning them.
    """
    n = len(s)
    utc = np.full(n, np.datetime64("NaT", "ns"))
    naive: np.ndarray | None = None  # allocated only when some time is naive
    todo = ~miss
    is_naive = np.zeros(n, dtype=bool)

    def put_utc(pos: np.ndarray, values: pd.Series) -> None:
        utc[pos] = _naive_ns(values.reset_index(drop=True))

    def put_naive(pos: np.ndarray, values: pd.Series) -> None:
        nonlocal naive
        if naive is None:
            naive = np.full(n, np.datetime64("NaT", "ns"))
        v = _naive_ns(values.reset_index(drop=True))
        naive[pos] = v
        is_naive[pos] = ~np.isnat(v)

    fast = None
    if (
        not cfg.get("ts_format")
        and offset is None
        and not (pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_numeric_dtype(s))
    ):
        fast = _arrow_iso(s, miss)
    if fast is not None:  # ISO 8601 with offsets, or naive, but for the rows in `left`
        values, aware, left = fast
        done = todo & ~left
        if aware and done.all():  # the common case: no gather, no scatter
            utc = _naive_ns(pd.Series(values, copy=False))
        elif done.any():
            pos = np.flatnonzero(done)
            (put_utc if aware else put_naive)(pos, pd.Series(values[pos]))
        rest = todo & left
        if rest.any():  # a few other forms or bad values: the general parser, on them only
            gpos = np.flatnonzero(rest)
            _parse_general(
                s.iloc[gpos].reset_index(drop=True),
                np.ones(len(gpos), bool),
                cfg,
                None,
                lambda p, v: put_utc(gpos[p], v),
                lambda p, v: put_naive(gpos[p], v),
            )
    elif pd.api.types.is_datetime64_any_dtype(s):
        pos = np.flatnonzero(todo)
        sub = s if len(pos) == n else s.iloc[pos]
        (put_utc if sub.dt.tz is not None else put_naive)(pos, sub)
    else:
        _parse_general(s, todo, cfg, offset, put_utc, put_naive)
    ne = np.zeros(n, bool)
    am = np.zeros(n, bool)
    if is_naive.any():
        pos = np.flatnonzero(is_naive)
        if callable(zones):  # per-row zones, built only now that they are needed
            zones = zones()
        sub_zones = zones if isinstance(zones, str) else zones[is_naive].reset_index(drop=True)
        loc, nonexist, ambig = _localize(pd.Series(naive[pos]), sub_zones)
        utc[pos] = loc.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        ne[pos] = nonexist
        am[pos] = ambig
    bad = todo & np.isnat(utc)
    out = pd.Series(utc, dtype="datetime64[ns]").dt.tz_localize("UTC")
    return out, bad, ne & ~bad, am & ~bad


def _parse_general(
    s: pd.Series, todo: np.ndarray, cfg: dict, offset: np.ndarray | None, put_utc, put_naive
) -> None:
    """The general time parser for the ``todo`` rows of ``s``: numbers (epoch seconds or
    milliseconds, Excel serial days) and text (``ts_format``, ISO 8601 with or without an
    offset, unambiguous day/month forms); results go to ``put_utc``/``put_naive``."""
    n = len(s)
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        nums = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        text = None
    else:
        text = _strip(_text(s))
        is_num = text.str.fullmatch(_NUMBER_RE).fillna(False).to_numpy(dtype=bool) & todo
        nums = np.full(n, np.nan)
        if is_num.any():
            nums[is_num] = pd.to_numeric(text[is_num]).to_numpy(dtype="float64")
    num = todo & np.isfinite(nums)
    excel = num & (nums >= 25569) & (nums < 73051)
    epoch_s = num & (nums >= 1e8) & (nums < 5e9)
    epoch_ms = num & (nums >= 1e11) & (nums < 5e12)
    secs = np.where(epoch_ms, nums / 1000.0, nums)
    epoch = epoch_s | epoch_ms
    if epoch.any():
        pos = np.flatnonzero(epoch)
        sec = secs[pos]
        if offset is not None:  # local wall-clock seconds stored as epoch (m-Path)
            sec = sec - offset[pos]
        good = np.isfinite(sec)
        vals = pd.Series(
            pd.to_datetime(np.round(np.where(good, sec, 0) * 1e6).astype("int64"), unit="us")
        )
        vals[~good] = pd.NaT
        put_utc(pos, vals)
    if excel.any():
        pos = np.flatnonzero(excel)
        days = pd.to_timedelta(np.round(nums[pos] * 86400e6).astype("int64"), unit="us")
        put_naive(pos, pd.Series(pd.Timestamp("1899-12-30") + days))
    if text is not None:
        rest = todo & ~num
        if rest.any():
            _parse_text_ts(text, rest, cfg, put_utc, put_naive)


def _arrow_iso(s: pd.Series, miss: np.ndarray) -> tuple[np.ndarray, bool, np.ndarray] | None:
    """Fast path: pyarrow's ISO 8601 cast (about 7× faster than pandas at 10^6 rows).

    Returns (datetime64[ns] values, whether they are UTC, ``left``: the rows the cast could
    not read, NaT in the values), or None when the general parser should read every row.
    Casting to a UTC timestamp succeeds only for values with an offset, casting to a naive
    timestamp only for values without. The column is cast whole to the one of the two
    that reads more of a few samples; where that fails, chunk by chunk, halving a failing piece
    down to :data:`_CAST_LEAF` rows, so a few other forms or bad values (a naive time among
    aware ones, a month 13) leave just their few rows to the general parser, which before
    read all 3.1 M events' times for one bad value (+2.5-4 s). More than
    :data:`_CAST_LEFT_SHARE` of the rows left, in all or in the chunks read so far (a
    mixed column): None. (Rows left keep the general parser's microseconds; the cast
    keeps nanoseconds, as it always did for a column it reads whole.)
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _arrow(s)
    if miss.any():
        arr = pc.if_else(pa.array(miss), pa.nulls(len(arr), arr.type), arr)
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    chunks = [ch for ch in chunks if len(ch)]
    if not chunks:
        return None
    # aware or naive: the kind that reads more of a few small samples (first tried first)
    picks = np.unique(np.linspace(0, len(chunks) - 1, min(8, len(chunks))).astype(int))
    samples = [chunks[i].slice(0, _CAST_LEAF) for i in picks]
    kinds = [(pa.timestamp("ns", "UTC"), True), (pa.timestamp("ns"), False)]
    read = [sum(_cast(x, typ) is not None for x in samples) for typ, _ in kinds]
    if not max(read):
        return None
    typ, aware = kinds[int(np.argmax(read))]
    whole = _cast(arr, typ)
    if whole is not None:
        values = np.asarray(whole.to_numpy(zero_copy_only=False), dtype="datetime64[ns]")
        return values, aware, np.zeros(len(arr), bool)
    pieces: list[Any] = []
    left: list[tuple[int, int]] = []  # (start, length) of the rows the cast left
    budget = [max(16 * _CAST_LEAF, int(len(arr) * _CAST_LEFT_SHARE))]
    start = 0
    for ch in chunks:
        if not _cast_halves(ch, typ, start, pieces, left, budget):
            return None
        start += len(ch)
        # many left so far (a mixed column): stop now rather than halving every chunk
        if sum(k for _, k in left) > _CAST_LEFT_SHARE * start + 16 * _CAST_LEAF:
            return None
    values = np.concatenate(
        [np.asarray(p.to_numpy(zero_copy_only=False), dtype="datetime64[ns]") for p in pieces]
    )
    rest = np.zeros(len(arr), bool)
    for a, k in left:
        rest[a : a + k] = True
    return values, aware, rest


#: Smallest piece :func:`_arrow_iso` halves a failing cast down to, and the share of rows
#: it may leave to the general parser before handing it the whole column.
_CAST_LEAF = 64
_CAST_LEFT_SHARE = 1 / 16


def _cast(arr: Any, typ: Any) -> Any:
    """``pyarrow.compute.cast``, or None when a value does not convert."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.cast(arr, typ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _cast_halves(
    arr: Any, typ: Any, start: int, pieces: list, left: list, budget: list[int]
) -> bool:
    """Cast ``arr`` (rows from ``start``) to ``typ``, halving it where the cast fails; a
    failing piece of ``_CAST_LEAF`` rows or fewer becomes nulls and is listed in ``left``.
    Pieces are appended in row order. False once more rows are left than ``budget``.
    Written by hand: pyarrow's cast has no per-value error mode, and ``strptime`` with
    ``error_is_null`` takes one format (no optional fractions, no ``Z``)."""
    import pyarrow as pa

    cast = _cast(arr, typ)
    if cast is not None:
        pieces.append(cast)
        return True
    if len(arr) <= _CAST_LEAF:
        budget[0] -= len(arr)
        if budget[0] < 0:
            return False
        pieces.append(pa.nulls(len(arr), typ))
        left.append((start, len(arr)))
        return True
    half = len(arr) // 2
    return _cast_halves(arr.slice(0, half), typ, start, pieces, left, budget) and _cast_halves(
        arr.slice(half), typ, start + half, pieces, left, budget
    )


def _parse_text_ts(text: pd.Series, rest: np.ndarray, cfg: dict, put_utc, put_naive) -> None:
    pos = np.flatnonzero(rest)
    sub = text.iloc[pos].reset_index(drop=True)
    done = np.zeros(len(pos), dtype=bool)
    fmt = cfg.get("ts_format")
    if fmt:
        try:
            vals = pd.to_datetime(sub, format=str(fmt), errors="coerce")
        except (ValueError, TypeError) as exc:
            raise ExportError(
                f"{_FUNC}: mapping `ts_format` {fmt!r} is not usable ({exc})."
            ) from exc
        ok = vals.notna().to_numpy()
        if vals.dt.tz is not None:
            put_utc(pos[ok], vals[ok])
        else:
            put_naive(pos[ok], vals[ok])
        done |= ok
    aware = sub.str.contains(_OFFSET_RE, regex=True).fillna(False).to_numpy(dtype=bool)
    for want_aware in (True, False):
        sel = ~done & (aware if want_aware else ~aware)
        if not sel.any():
            continue
        part = sub[sel]
        vals = pd.to_datetime(part, format="ISO8601", utc=want_aware, errors="coerce")
        if want_aware and vals.isna().any():  # "… 10:00 +01:00": drop the space and retry
            retry = part.str.replace(r"\s+(?=[zZ+-][\d:]*$)", "", regex=True)
            vals = vals.fillna(pd.to_datetime(retry, format="ISO8601", utc=True, errors="coerce"))
        ok = vals.notna().to_numpy()
        idx = np.flatnonzero(sel)
        (put_utc if want_aware else put_naive)(pos[idx[ok]], vals[ok])
        done[idx[ok]] = True
    left = ~done
    if left.any():
        left[left] = sub[left].str.fullmatch(_DATELIKE_RE).fillna(False).to_numpy(dtype=bool)
    if left.any():
        # Non-ISO day/month forms: accept a value only when reading it day-first and
        # month-first agree (13/03/2026 is unambiguous; 03/04/2026 needs `ts_format`).
        uniq = pd.unique(sub[left].to_numpy(dtype=object))
        a = pd.to_datetime(pd.Series(uniq), format="mixed", dayfirst=False, errors="coerce")
        b = pd.to_datetime(pd.Series(uniq), format="mixed", dayfirst=True, errors="coerce")
        agree = dict(zip(uniq, a.where(a == b), strict=True))
        idx = np.flatnonzero(left)
        vals = pd.Series([agree[v] for v in sub[left]], dtype="datetime64[us]")
        ok = vals.notna().to_numpy()
        put_naive(pos[idx[ok]], vals[ok])


# --------------------------------------------------------------------------------------
# Per-table pipeline


def _limit_fields(raw: _Raw) -> None:
    """Quarantine rows with a cell over ``MAX_FIELD_BYTES`` (``field_too_large``) and drop
    that cell's text, so the rest of the file loads."""
    import pyarrow.compute as pc

    df = raw.df
    for i, c in enumerate(df.columns):
        s = df.iloc[:, i]
        if not (pd.api.types.is_string_dtype(s) or s.dtype == object):
            continue  # typed numbers and times have a fixed size
        if isinstance(s.dtype, pd.CategoricalDtype):
            continue  # Parquet dictionaries: categories checked in _typed_frame
        arr = _arrow(s)
        if arr.nbytes <= MAX_FIELD_BYTES or _cells_fit(arr):  # no cell can be over
            continue
        size = pc.binary_length(arr)
        if (pc.max(size).as_py() or 0) <= MAX_FIELD_BYTES:
            continue
        sizes = np.asarray(pc.fill_null(size, 0).to_numpy(zero_copy_only=False), np.int64)
        over = sizes > MAX_FIELD_BYTES
        detail = np.full(len(df), "", dtype=object)
        detail[over] = [
            f"{c} is {n:,} bytes, over the {MAX_FIELD_BYTES:,}-byte field limit"
            for n in sizes[over]
        ]
        raw.pre.append((over, str(c), "field_too_large", detail))
        df = df.copy(deep=False) if df is raw.df else df
        df.isetitem(i, s.where(~over, ""))
    raw.df = df


def _cells_fit(arr) -> bool:
    """True when no cell can exceed ``MAX_FIELD_BYTES``: every chunk's character data is
    within the limit (a cell is part of its chunk's data). The CSV reader's 1 MiB blocks
    make this the rule, and it reads ~200 buffer sizes instead of the lengths of 3 M cells
    (0.17 CPU s)."""
    import pyarrow as pa

    for ch in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
        if not (pa.types.is_string(ch.type) or pa.types.is_large_string(ch.type)):
            return False
        data = ch.buffers()[2]
        if data is not None and data.size > MAX_FIELD_BYTES:
            return False
    return True


def _apply_keep(raw: _Raw, cfg: dict) -> None:
    keep = cfg.get("keep") or {}
    if not keep:
        return
    ok = np.ones(len(raw.df), dtype=bool)
    for col, allowed in keep.items():
        if col not in raw.df.columns:
            raise ExportError(
                f"{_FUNC}: mapping `keep` names column {str(col)!r}, which {raw.source} lacks; "
                f"present columns: {[str(c) for c in raw.df.columns]}."
            )
        allowed = [str(a) for a in (allowed if isinstance(allowed, list) else [allowed])]
        ok &= _text(raw.df[col]).fillna("").str.strip().isin(allowed).to_numpy(dtype=bool)
    raw.pre.append((~ok, "", "excluded", "left out by the mapping's `keep` rule"))


def _apply_wide(raw: _Raw, cfg: dict) -> _Raw:
    wide = cfg.get("wide") or {}
    suffixes = wide.get("suffixes") or {}
    if not suffixes or not isinstance(suffixes, Mapping):
        raise ExportError(f"{_FUNC}: mapping `wide.suffixes` must map column suffixes to labels.")
    df = raw.df
    couple_col = str(wide.get("couple_column", "couple_id"))
    if couple_col not in df.columns:
        raise ExportError(
            f"{_FUNC}: wide sheet {raw.source} has no couple column {couple_col!r} "
            f"(mapping `wide.couple_column`); present columns: {list(map(str, df.columns))}."
        )
    template = str(wide.get("partner", "{couple_id}-{label}"))
    stems_of = {
        sfx: [c for c in df.columns if str(c).endswith(sfx) and str(c) != sfx] for sfx in suffixes
    }
    paired = {c for cols in stems_of.values() for c in cols}
    shared = [c for c in df.columns if c not in paired]
    parts, pres = [], []
    n = len(df)
    couple = _text(df[couple_col]).fillna("").str.strip()
    for k, (sfx, label) in enumerate(suffixes.items()):
        cols = stems_of[sfx]
        part = df[shared].copy()
        for c in cols:
            part[str(c)[: -len(sfx)]] = df[c]
        pid = pd.Series("", index=df.index, dtype="string")
        for piece in re.split(r"(\{couple_id\}|\{label\})", template):
            if piece == "{couple_id}":
                pid = pid + couple
            elif piece == "{label}":
                pid = pid + str(label)
            else:
                pid = pid + piece
        part["partner"] = pid.astype("str")
        if couple_col != "couple_id":
            part["couple_id"] = couple.astype("str")
        empty = np.ones(n, dtype=bool)
        for c in cols:
            empty &= _missing(_text(df[c]), [])
        part["_order"] = np.arange(n) * len(suffixes) + k
        parts.append(part)
        pres.append(empty if cols else np.zeros(n, bool))
    long = pd.concat(parts, ignore_index=True)
    order = np.argsort(long["_order"].to_numpy(), kind="stable")
    long = long.iloc[order].drop(columns="_order").reset_index(drop=True)
    rows = np.repeat(raw.rows, len(suffixes))
    empty = np.concatenate(pres)[order]
    k = len(suffixes)
    pre = [
        (np.repeat(m, k), c, r, np.repeat(d, k) if isinstance(d, np.ndarray) else d)
        for m, c, r, d in raw.pre
    ]
    pre.append((empty, "", "missing_required", "no answers from this partner on this row"))
    # notices (stray bytes read as cp1252) follow the cells: a partner's column to that
    # partner's rows under its stem, a shared column to both; the couple column's also to
    # couple_id and to the partner ids built from it
    notes = []
    for m, c, r, d in raw.notes:
        d = np.repeat(d, k) if isinstance(d, np.ndarray) else d
        if c in paired:
            for j, sfx in enumerate(suffixes):
                if c in stems_of[sfx]:
                    mk = np.zeros(n * k, bool)
                    mk[j::k] = m  # (long row i * k + j: source row i, suffix j)
                    notes.append((mk, str(c)[: -len(sfx)], r, d))
            continue
        notes.append((np.repeat(m, k), c, r, d))
        if c == couple_col:
            if couple_col != "couple_id":
                notes.append((np.repeat(m, k), "couple_id", r, d))
            if "{couple_id}" in template:
                notes.append((np.repeat(m, k), "partner", r, d))
    return _Raw(raw.table, raw.source, long, rows, pre, notes)


def _normalise_columns(
    df: pd.DataFrame, table: str, rename: dict
) -> tuple[pd.DataFrame, list, dict[str, str]]:
    """The columns under their contract names; the source names of the columns dropped
    because an earlier column has the same name after renaming (``Note`` after ``note``:
    the first is kept; the others are listed in ``Export.dropped_columns``, not lost); and
    the source name each kept column is loaded from."""
    new = _contract_names(list(df.columns), table, rename)
    out = df.copy(deep=False)
    out.columns = new
    dup = pd.Index(new).duplicated()
    pairs = list(zip(df.columns, new, dup, strict=True))
    return (
        out.loc[:, ~dup],
        [str(c) for c, _, d in pairs if d],
        {name: str(c) for c, name, d in pairs if not d},
    )


def _contract_names(columns: list, table: str, rename: dict) -> list[str]:
    """The names source columns get: the mapping's ``rename``, else case-insensitive
    matching of contract names (spaces and dashes read as underscores)."""
    contract = [c.name for c in schema.columns_of(table)]
    lower_rename = {str(k).strip().lower(): str(v) for k, v in rename.items()}
    new = []
    for c in columns:
        name = str(c)
        key = name.strip().lower()
        if name in rename:
            name = str(rename[name])
        elif key in lower_rename:
            name = lower_rename[key]
        else:
            snake = re.sub(r"[\s\-]+", "_", key)
            if snake in contract:
                name = snake
        new.append(name)
    return new


def _coerce(raw: _Raw, ctx: _Context) -> tuple[pd.DataFrame, _Problems, dict]:
    """Coerce one source's rows to contract dtypes; return frame, problems and notices."""
    table = raw.table
    cfg = ctx.cfg
    df = raw.df
    constants = {str(col): str(value) for col, value in (cfg.get("constants") or {}).items()}
    rename = _per_table(cfg, "rename", table)
    if constants:
        # a constant replaces every source column loaded under its name, however spelled
        # (a `Topic` column came before the appended constant `topic` and was kept)
        fixed = set(_contract_names(list(constants), table, rename))
        names = _contract_names(list(df.columns), table, rename)
        replaced = [c for c, name in zip(df.columns, names, strict=True) if name in fixed]
        if replaced:
            df = df.drop(columns=replaced)
            ctx.dropped.setdefault(table, set()).update(str(c) for c in replaced)
    for col, value in constants.items():
        df = df.assign(**{col: value})
    # contract names, and the source column each is loaded from (the first that maps to it)
    df, doubles, loaded_from = _normalise_columns(df, table, rename)
    if doubles:
        ctx.dropped.setdefault(table, set()).update(doubles)
    required = [c.name for c in schema.columns_of(table) if c.required]
    if not len(df) and not len(df.columns):  # an empty record list is an empty table
        return (
            schema.empty_frame(table),
            _Problems(0),
            {
                "dst_nonexistent": np.zeros(0, bool),
                "dst_ambiguous": np.zeros(0, bool),
                "pre": _Problems(0),
            },
        )
    schema.require_columns(
        df, required, func=_FUNC, table=f"{table} table ({raw.source})", error=ExportError
    )
    contract = [c.name for c in schema.columns_of(table)]
    dropped = [str(c) for c in df.columns if c not in contract]
    ctx.dropped.setdefault(table, set()).update(dropped)
    df = df.drop(columns=dropped)
    n = len(df)
    probs = _Problems(n)
    for mask, column, reason, detail in raw.pre:
        probs.add(mask, column, reason, detail)
    pre_notes = _Problems(n)
    for mask, column, reason, detail in raw.notes:
        name = _contract_names([column], table, rename)[0]
        # (not about a column that is dropped, a second one that maps to the same name,
        # or one the mapping's constants replace: the loaded cells hold no stray byte)
        if name in contract and loaded_from.get(name) == column and column not in constants:
            pre_notes.add(mask, name, reason, detail)
    recode = _per_table(cfg, "recode", table)
    for c in schema.columns_of(table):  # before any column is checked, as the mapping is
        if c.name in df.columns and c.name in recode and not isinstance(recode[c.name], Mapping):
            raise ExportError(f"{_FUNC}: mapping `recode.{c.name}` must be a mapping.")
    na_values = [str(v) for v in cfg.get("na_values") or []]
    out: dict[str, Any] = {}
    # Couple and partner ids checked by value: each row's position among the distinct
    # texts and the checked id of each text (the zone lookup below and the codes in
    # _assemble then work on the distinct ids only).
    encodings: dict[str, tuple[np.ndarray, pd.Series]] = {}
    columns = [c for c in schema.columns_of(table) if c.name in df.columns]
    # the columns' checks on a small pool for large tables (each is a few pyarrow/numpy
    # kernels that release the GIL: on 2 cores about half the wall time), read back in
    # column order: the values, problems and first error are those of one by one
    workers = min(len(columns), _usable_cpus(), 4)
    big = len(df) >= _COLUMN_THREADS_MIN_ROWS
    with _fast.Tasks(workers, name="patterns-load-col", enabled=big) as tasks:
        done: dict[str, Any] = {}
        times = None
        for c in columns:
            s = df[c.name].reset_index(drop=True)
            done[c.name] = tasks.submit(_coerce_column, c, s, recode, na_values, ctx)
            # the times are parsed as soon as their text and the couple ids are submitted
            # (so queued before the other columns; they wait only for those two tasks)
            if times is None and "ts" in done and "couple_id" in done:
                times = tasks.submit(_coerce_times, raw, dict(done), ctx, na_values)
        for c in columns:
            value, items, enc = done[c.name].result()  # in column order, as one by one
            for mk, reason, detail in items:
                probs.add(mk, c.name, reason, detail)
            if c.dtype != "timestamp":
                out[c.name] = value
            if enc is not None:
                encodings[c.name] = enc
        assert times is not None  # (ts and couple_id are required columns)
        ts, bad, nonexist, ambig = times.result()  # (after every column: its errors first)
    probs.add(
        bad, "ts", "bad_timestamp", "not ISO 8601, epoch s/ms or an Excel serial in 1900–2199"
    )
    out["ts"] = ts
    # A ragged row or non-object record has no trustworthy cells: report only that.
    broken = np.zeros(n, bool)
    for mask, _, reason, _ in raw.pre:
        if reason in _BROKEN:
            broken |= mask
    if broken.any():
        probs.items = [(m if r in _BROKEN else m & ~broken, c, r, d) for m, c, r, d in probs.items]
    frame = _contract_frame(out, table, n)
    notices = {
        "dst_nonexistent": nonexist,
        "dst_ambiguous": ambig,
        "encodings": encodings,
        "pre": pre_notes,
    }
    return frame, probs, notices


def _coerce_times(raw: _Raw, done: dict, ctx: _Context, na_values: list[str]) -> tuple:
    """Parse the ``ts`` column of ``_coerce`` (``done``: the columns' tasks by name; the
    couple ids are waited for only when a time is naive and the manifest has zones)."""
    ts_text, ts_miss = done["ts"].result()[0]
    if not ctx.manifest.zones:
        zones: Any = ctx.fallback_zone  # one zone for every row
    else:

        def zones() -> pd.Series:
            # Zones of the distinct couple ids, spread to rows (a dict lookup per row and an
            # object copy of 3 M ids cost 1.1 CPU s); built only when some time is naive.
            value, _, enc = done["couple_id"].result()  # (both columns are required)
            if enc is None:  # ids checked per row: every row's id looked up
                ids, where = value.to_numpy(dtype=object, na_value=None), None
            else:
                where, distinct = enc
                ids = distinct.to_numpy(dtype=object, na_value=None)
            found = [ctx.manifest.zones.get(v) if v is not None else None for v in ids]
            per_id = np.array([ctx.fallback_zone if z is None else z for z in found], object)
            return pd.Series(per_id if where is None else per_id[where], dtype=object)

    offset = None
    ts_off = ctx.cfg.get("ts_offset") or {}
    if ts_off:
        col = str(ts_off.get("column", ""))
        unit = {"s": 1.0, "min": 60.0, "h": 3600.0, "ms": 0.001}.get(str(ts_off.get("unit", "s")))
        if unit is None or col not in raw.df.columns:
            raise ExportError(
                f"{_FUNC}: mapping `ts_offset` needs an existing `column` and `unit` in "
                f"s/min/h/ms; got {dict(ts_off)!r}."
            )
        ot = _text(raw.df[col].reset_index(drop=True))
        offset, _ = _to_float(ot, _missing(ot, na_values))
        offset = offset * unit
    return _parse_ts(ts_text, ts_miss, zones, ctx.cfg, offset)


_COLUMN_THREADS_MIN_ROWS = 200_000


def _coerce_column(
    c: schema.Column, s: pd.Series, recode: dict, na_values: list[str], ctx: _Context
) -> tuple[Any, list, tuple[np.ndarray, pd.Series] | None]:
    """One contract column of ``_coerce``: (value, problems as (mask, reason, detail),
    id encoding or None). A timestamp column's value is (its text or typed times, missing
    mask); the times are parsed by :func:`_coerce_times` once the zones are known."""
    probs = _Problems(len(s))
    typed_ok = c.dtype in ("timestamp", "float") and (
        pd.api.types.is_datetime64_any_dtype(s)
        or (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s))
    )
    if typed_ok and c.name not in recode:
        m = s.isna().to_numpy()
        if c.required:
            probs.add(m, c.name, "missing_required", f"{c.name} is empty")
        if c.dtype == "timestamp":
            return (s, m), _items(probs), None
        value = _coerce_float(c, s, m, probs, ctx)
        return value, _items(probs), None
    if c.dtype == "timestamp":  # (nearly) one distinct value per row: checked per row
        t = _recode(_text(s), c.name, recode)
        m = _missing(t, na_values)
        if c.required:
            probs.add(m, c.name, "missing_required", f"{c.name} is empty")
        return (t, m), _items(probs), None
    # Labels and free text stay per row: their checks are two or three cheap Arrow
    # string kernels, cheaper than the hashing (3.0 M events: note 0.019 per row vs
    # 0.067 by value, topic 0.032 vs 0.053 CPU s). Ids are checked by value because
    # their codes are reused below and in _assemble; codes, numbers and yes/no values
    # because parsing them per row costs more (code 0.092 vs 0.053, intensity 0.086
    # vs 0.052, body signals ~0.03 vs 0.007 per 335 k check-ins).
    enc = _encode(s) if _by_value(c) else None
    if enc is None:
        value, items = _check_column(c, _text(s), recode, na_values, ctx)
        return value, items, None
    # Validate distinct values, not rows: every check below is a function of the
    # cell's text alone, so it runs on the column's dictionary (1,000 couple ids or
    # 14 codes instead of 3 M rows) and the per-value results are expanded to rows
    # by position. 1,000-couple export (3.3 M rows): _coerce 5.4 -> 0.9 CPU s.
    idx, dictionary = enc
    value, items = _check_column(c, dictionary, recode, na_values, ctx)
    encoding = (idx, value) if c.name in ("couple_id", "actor", "partner") else None
    if (
        isinstance(value, pd.Series)
        and not isinstance(s.dtype, pd.CategoricalDtype)  # (no strings to keep)
        and _unchanged(value, dictionary)
    ):
        # Every text stays as read (already trimmed, NFC, none missing: the usual
        # id column): keep the source array instead of rebuilding 3 M strings.
        value = _as_string_series(s)
    else:
        value = _expand(value, idx)
    items = [(mk[idx], r, d[idx] if isinstance(d, np.ndarray) else d) for mk, r, d in items]
    return value, items, encoding


def _items(probs: _Problems) -> list[tuple[np.ndarray, str, Any]]:
    """A column's problems as (mask, reason, detail): its name is added by ``_coerce``."""
    return [(mk, reason, detail) for mk, _, reason, detail in probs.items]


def _by_value(c: schema.Column) -> bool:
    """Whether a (text) column is checked by distinct value (see ``_coerce``)."""
    return c.dtype != "string" or c.name in ("couple_id", "actor", "partner")


def _recode(t: pd.Series, name: str, recode: dict) -> pd.Series:
    """Apply the mapping's ``recode`` for one column (a value-wise map)."""
    if name not in recode:
        return t
    rc = recode[name]
    key = t.str.strip()
    if name == "code":
        key = key.str.lower()
        rc = {str(k).strip().lower(): v for k, v in rc.items()}
    rc = {str(k): "" if v is None else str(v) for k, v in rc.items()}
    return key.map(rc).astype("string").fillna(t)


# Dictionary-encode a text column only when its values repeat: at most one distinct value
# per _ENCODE_RATIO rows, judged on an evenly spaced sample of _ENCODE_SAMPLE rows (encoding
# a mostly-distinct column costs more than it saves: 0.42 CPU s for 3 M bid ids). Smaller
# columns are always encoded (microseconds).
_ENCODE_SAMPLE = 1 << 15
_ENCODE_RATIO = 8


def _encode(s: pd.Series) -> tuple[np.ndarray, pd.Series] | None:
    """Row positions into the column's distinct texts, and those texts as a ``string``
    Series (the same values ``_text(s)`` gives, nulls included as one value); None when
    the column is better checked per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(s)
    if n and _text_categories(s, fit=False):
        # Read as a dictionary (Parquet): its codes are the encoding. Unused categories
        # are dropped and the values put in order of first appearance, as
        # dictionary_encode gives them (the missing value, code -1, is one of them).
        cats = s.cat.categories
        codes = s.cat.codes.to_numpy()
        idx = np.where(codes < 0, len(cats), codes).astype(np.int64)
        order = pd.unique(idx)
        remap = np.zeros(len(cats) + 1, np.int64)
        remap[order] = np.arange(len(order))
        texts = pa.array([*cats, None], type=pa.large_string()).take(pa.array(order))
        return remap[idx], pd.Series(pd.arrays.ArrowStringArray(texts), copy=False)
    if not n or not (isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow"):
        return None  # typed (Parquet) or object columns: the per-row path converts them
    arr = _arrow(s)
    if n > _ENCODE_SAMPLE:
        # 64 evenly spaced runs of rows: slices are free, while a gather of single rows
        # from a 200-chunk column cost 0.06 CPU s per column.
        run = _ENCODE_SAMPLE // 64
        chunks = []
        for start in np.linspace(0, n - run, 64).astype(np.int64):
            part = arr.slice(int(start), run)
            chunks.extend(part.chunks if isinstance(part, pa.ChunkedArray) else [part])
        sample = pa.chunked_array(chunks, type=arr.type)
        if pc.count_distinct(sample, mode="all").as_py() * _ENCODE_RATIO > _ENCODE_SAMPLE:
            return None
    enc = pc.dictionary_encode(arr, null_encoding="encode")
    if isinstance(enc, pa.ChunkedArray):
        if not enc.num_chunks:
            return None
        first = enc.chunk(0).dictionary
        if not all(ch.dictionary.equals(first) for ch in enc.chunks):
            enc = enc.unify_dictionaries()
        dictionary = enc.chunk(0).dictionary
        idx = np.concatenate([ch.indices.to_numpy(zero_copy_only=False) for ch in enc.chunks])
    else:
        dictionary = enc.dictionary
        idx = enc.indices.to_numpy(zero_copy_only=False)
    values = pd.Series(pd.arrays.ArrowStringArray(dictionary.cast(pa.large_string())), copy=False)
    return idx, values


def _unchanged(value: pd.Series, dictionary: pd.Series) -> bool:
    """Whether checked strings equal the texts they came from (nulls where nulls)."""
    import pyarrow as pa

    return pa.array(value.array).equals(pa.array(dictionary.array))


def _as_string_series(s: pd.Series) -> pd.Series:
    """A text column as a ``string`` Series on large_string Arrow data, no copy when the
    column already is one (nulls stay nulls)."""
    import pyarrow as pa

    arr = _arrow(s)
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(arr), copy=False)


def _expand(value: Any, idx: np.ndarray) -> Any:
    """Per-value results (of :func:`_check_column`) spread to rows by position."""
    if isinstance(value, np.ndarray):
        return value[idx]
    if isinstance(value, pd.Categorical):
        return pd.Categorical.from_codes(value.codes[idx], dtype=value.dtype)
    if isinstance(value, pd.Series):  # strings: arrow take (no Python objects)
        import pyarrow as pa

        arr = pa.array(value.array).take(pa.array(idx))
        return pd.Series(pd.arrays.ArrowStringArray(arr.cast(pa.large_string())), copy=False)
    return value.take(idx)  # BooleanArray


def _check_column(
    c: schema.Column, t: pd.Series, recode: dict, na_values: list[str], ctx: _Context
) -> tuple[Any, list[tuple[np.ndarray, str, Any]]]:
    """Check and convert one text column (every result is a function of each cell alone).

    Returns the contract values (string Series, code Categorical,
    BooleanArray or float array) and the problems as (mask, reason, detail).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(t)
    t = _recode(t, c.name, recode)
    probs = _Problems(n)
    # Arrow arrays trimmed of surrounding whitespace: ids, labels and codes are stored
    # trimmed, numbers and yes/no values are parsed trimmed, and the missing test of a
    # trimmed column is just "empty". Free text is not trimmed.
    if c.dtype == "string" and c.name not in _ID_COLUMNS and c.name not in _LABEL_COLUMNS:
        trimmed, ascii_only = None, False
        m = _missing(t, na_values)
    else:
        trimmed, ascii_only = _trim(_arrow(t))
        m = _missing_trimmed(trimmed, na_values)
    if c.required:
        probs.add(m, c.name, "missing_required", f"{c.name} is empty")
    value: Any
    if c.dtype == "string":
        if trimmed is not None:
            arr = trimmed
            if not ascii_only and pc.any(pc.invert(pc.string_is_ascii(arr))).as_py():
                arr = pc.utf8_normalize(arr, "NFC")
        else:  # free text: kept as typed, blanks become missing
            arr = _arrow(t)
        if m.any():
            arr = pc.if_else(pa.array(m), pa.scalar(None, arr.type), arr)
        value = pd.Series(pd.arrays.ArrowStringArray(arr.cast(pa.large_string())), copy=False)
    elif c.name == "code":
        low = (pc.ascii_lower if ascii_only else pc.utf8_lower)(trimmed)
        idx = pc.index_in(low, value_set=pa.array(schema.CODES, low.type))
        codes = np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), np.int64)
        known = codes >= 0
        unknown = ~m & ~known
        if unknown.any():
            vals = pd.Series(low.to_pandas())[unknown].fillna("").astype(str)
            # Name the code only when it looks like one (a single short token): a
            # sentence typed into the code column is free text and stays out.
            token = vals.str.fullmatch(r"[a-z0-9_\-]{1,24}").to_numpy(dtype=bool)
            shown = np.where(token, "unknown code " + vals.map(repr), "unknown code")
            detail = np.full(n, "", dtype=object)
            detail[unknown] = shown
            probs.add(unknown, "code", "unknown_code", detail)
        value = pd.Categorical.from_codes(codes, dtype=schema.CODE_DTYPE)
    elif c.dtype == "bool":
        is_true, is_false, bad = _to_bool(t, m, trimmed)
        probs.add(bad, c.name, "bad_bool", f"{c.name} is not a yes/no value")
        value = pd.array(np.where(is_true, True, False), dtype="boolean")
        value[~(is_true | is_false)] = pd.NA
    else:
        value = _coerce_float(c, t, m, probs, ctx, trimmed)
    return value, _items(probs)


def _contract_frame(out: dict, table: str, n: int) -> pd.DataFrame:
    """The coerced columns as a table in contract order and dtypes, absent optional columns
    added empty. Same result as ``schema.coerce_dtypes`` without its copy of every column
    and its element-wise construction of all-missing string columns (~45 ms at 10^6 rows).
    """
    import pyarrow as pa

    cols = {}
    for c in schema.columns_of(table):
        dtype = schema.pandas_dtype(c)
        if c.name in out:
            col = out[c.name]
            if str(getattr(col, "dtype", "")) != str(dtype):
                col = pd.Series(col, copy=False).astype(dtype)
        elif c.dtype == "string":
            col = pd.arrays.ArrowStringArray(pa.nulls(n, pa.large_string()))
        else:
            col = pd.Series(pd.NA if c.dtype != "float" else np.nan, index=range(n), dtype=dtype)
        cols[c.name] = col
    frame = pd.DataFrame(cols, copy=False)
    return frame


def _coerce_float(
    c: schema.Column,
    t: pd.Series,
    m: np.ndarray,
    probs: _Problems,
    ctx: _Context,
    trimmed: Any = None,
) -> np.ndarray:
    n = len(t)
    if c.name in schema.BODY_SIGNALS and not pd.api.types.is_numeric_dtype(t):
        is_true, is_false, _ = _to_bool(t, m, trimmed)
        num_text = t.where(~(is_true | is_false))
        vals, bad = _to_float(num_text, m | is_true | is_false)
        vals[is_true], vals[is_false] = 1.0, 0.0
        bools = is_true | is_false
    elif pd.api.types.is_numeric_dtype(t):
        vals = t.to_numpy(dtype="float64", na_value=np.nan).copy()
        bad = ~m & ~np.isfinite(vals)
        vals[bad] = np.nan
        bools = np.zeros(n, bool)
    else:
        vals, bad = _to_float(t, m, trimmed)
        bools = np.zeros(n, bool)
    probs.add(bad, c.name, "bad_number", f"{c.name} is not a number")
    target = _TARGET_SCALE.get(c.name)
    if target is not None:
        lo, hi = ctx.scale_of(c.name)
        outside = np.isfinite(vals) & ~bools & ((vals < lo) | (vals > hi))
        probs.add(outside, c.name, "out_of_range", f"{c.name} outside its scale {lo:g}–{hi:g}")
        if (lo, hi) != target:
            scaled = target[0] + (vals - lo) * (target[1] - target[0]) / (hi - lo)
            vals = np.where(bools, vals, scaled)
        vals[outside] = np.nan
    elif c.lo is not None:
        outside = np.isfinite(vals) & ((vals < c.lo) | (vals > c.hi))
        probs.add(outside, c.name, "out_of_range", f"{c.name} outside {c.lo:g}–{c.hi:g}")
        vals[outside] = np.nan
    return vals


@dataclass
class _Context:
    cfg: dict
    manifest: _Manifest
    fallback_zone: str
    dropped: dict = field(default_factory=dict)

    def scale_of(self, column: str) -> tuple[float, float]:
        scales = self.cfg.get("scales") or {}
        if column in scales:
            return _scale(scales[column], f"mapping scale for {column}")
        if column in self.manifest.scales:
            return self.manifest.scales[column]
        if column in schema.RATINGS and "ratings" in self.manifest.scales:
            return self.manifest.scales["ratings"]
        return _TARGET_SCALE[column]


# --------------------------------------------------------------------------------------
# Entry point


def load_export(
    path: str | Path,
    *,
    mapping: str | Path | Mapping | None = None,
    timezone: str | None = None,
    strict: bool = False,
) -> Export:
    """Load an export (folder, ``.zip``, single ``.json`` or one table file) into an Export.

    Parameters
    ----------
    path : str or Path
        The export.
    mapping : path, shipped mapping name, dict or None
        Column mapping (see the module docstring for the format).
    timezone : str or None
        IANA zone for naive local times of couples the manifest gives no zone for.
    strict : bool
        Raise :class:`~patterns.errors.ExportError` listing every problem (``.problems``)
        when any row would be quarantined.

    Returns
    -------
    Export
        ``.events``, ``.checkins``, ``.quarantine``, ``.notices``, ``.manifest``,
        ``.timezones``, ``.partners``, ``.couples``, ``.sources``, ``.dropped_columns``,
        ``.path``, ``.summary()`` and ``.for_couple()`` (see :class:`Export`).

    Raises
    ------
    ExportError
        The export cannot be read (missing, not a zip/JSON, unsafe archive, undecodable
        file), a table lacks required columns (the message lists every missing column, the
        columns present and close matches), the mapping or manifest is invalid, or — under
        ``strict=True`` — any row would be quarantined.

    Notes
    -----
    Every input row ends in a table or in ``quarantine`` (``rows_in == rows_loaded +
    rows_quarantined``, tested for random messy tables by a hypothesis property test).
    Timestamp rules, the DST rule (zoneinfo ``fold=0``: gap times move forward by the gap,
    overlap times take the first occurrence; tested against ``zoneinfo``), quarantine reasons,
    scales and the mapping format are described in the module docstring.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "checkins.csv").write_text(
    ...     "couple_id;partner;ts;connection\\n"
    ...     "007;a;2026-05-01 21:00;5\\n007;b;2026-05-01 21:05;x\\n")
    >>> exp = load_export(d, mapping={"scales": {"connection": [1, 7]}}, timezone="UTC")
    >>> exp.checkins[["couple_id", "partner", "connection"]]
      couple_id partner  connection
    0       007       a    6.666667
    >>> exp.quarantine[["row", "column", "reason"]]
       row      column      reason
    0    2  connection  bad_number
    """
    if not isinstance(strict, bool):
        raise ExportError(f"{_FUNC}: strict must be True or False; got {strict!r}.")
    try:
        with _system_pool() if _large(path) else contextlib.nullcontext():
            return _load(path, mapping=mapping, timezone=timezone, strict=strict)
    except ExportError:
        raise
    except (OSError, MemoryError, RecursionError) as exc:
        raise ExportError(f"{_FUNC}: cannot read {path} ({type(exc).__name__}: {exc}).") from exc


_POOL_LOCK = threading.Lock()
_POOL_STATE: list[Any] = [0, None]  # loads in progress, the default pool before the first


# Exports this large on disk (compressed formats counted 4x) load with the system
# allocator; see _system_pool.
_SYSTEM_POOL_MIN_BYTES = 128 << 20


def _large(path: Any) -> bool:
    """Whether an export's files add up to ``_SYSTEM_POOL_MIN_BYTES`` (a rough guide to
    the memory a load takes; errors are left to the load itself)."""
    try:
        p = Path(path)
        files = [f for f in p.iterdir() if f.is_file()] if p.is_dir() else [p]
        total = 0
        for f in files:
            packed = f.name.lower().endswith((".parquet", ".pq", ".gz", ".zip", ".xlsx"))
            total += f.stat().st_size * (4 if packed else 1)
        return total >= _SYSTEM_POOL_MIN_BYTES
    except Exception:  # any path problem is reported by the load itself
        return False


@contextlib.contextmanager
def _system_pool():
    """Allocate Arrow memory from the system allocator while loading (then restore the
    default pool; nested and concurrent loads restore it once, when the last one ends).

    Why: pyarrow's default pool (mimalloc) spent 2.1-2.5 s of *system* CPU time in a fresh
    process loading the 1,000-couple export (233 MB of CSV, 3.3 M rows, ~1.3 GB peak) on
    this 2-core VM with transparent huge pages on madvise, against 0.7-0.9 s with the
    system allocator (fresh process: 3.3-3.5 -> 2.3-2.7 CPU s). For small exports it is the
    other way round (100 couples: 0.25 -> 0.30; 1 M-event Parquet: 0.37 -> 0.44), hence
    ``_large``. Which allocator holds a buffer changes no value.
    """
    import pyarrow as pa

    with _POOL_LOCK:
        if _POOL_STATE[0] == 0:
            _POOL_STATE[1] = pa.default_memory_pool()
            pa.set_memory_pool(pa.system_memory_pool())
        _POOL_STATE[0] += 1
    try:
        yield
    finally:
        with _POOL_LOCK:
            _POOL_STATE[0] -= 1
            if _POOL_STATE[0] == 0:
                pa.set_memory_pool(_POOL_STATE[1])
                _POOL_STATE[1] = None


def _open(path: Path, cfg: dict) -> tuple[_Container | None, dict | None, str]:
    """The container of an export path, or the parsed object of a single JSON export and
    the SHA-256 of its bytes (read once here; empty for a container)."""
    if not path.exists():
        raise ExportError(f"{_FUNC}: {path} does not exist.")
    if path.is_dir():
        return _Folder(path), None, ""
    low = path.name.lower()
    if zipfile.is_zipfile(path) and not low.endswith(".xlsx"):
        return _Zip(path), None, ""
    if low.endswith(".json") and _table_of(path.name, cfg) is None:
        size = path.stat().st_size
        if size > MAX_MEMBER_BYTES:
            raise ExportError(f"{_FUNC}: {path.name} is over the {MAX_MEMBER_BYTES:,}-byte limit.")
        data = path.read_bytes()
        text, _ = _decode(data)
        obj = _json_loads(text.lstrip("\ufeff"), path.name)
        if not isinstance(obj, dict) or not any(k in obj for k in (*_TABLES, "manifest")):
            raise ExportError(
                f"{_FUNC}: {path.name} must be a JSON object with `events` and/or `checkins` "
                "(and optionally `manifest`)."
            )
        if "manifest" in obj:  # parsed again with ordinary numbers (scales, versions)
            plain = _json_loads(text.lstrip("\ufeff"), path.name, numbers_as_text=False)
            obj["manifest"] = plain.get("manifest")
        return None, obj, hashlib.sha256(data).hexdigest()
    if _table_of(path.name, cfg) is not None or low.endswith(".xlsx"):
        return _Folder(path.parent, only=[path.name]), None, ""
    raise ExportError(
        f"{_FUNC}: {path.name} is not an export: expected a folder, a .zip, a .json export or "
        f"a table file named like events.csv / checkins.csv."
    )


def _load(path: str | Path, *, mapping: Any, timezone: str | None, strict: bool) -> Export:
    cfg = read_mapping(mapping)
    if timezone is not None:
        timezone = _zone(timezone, "timezone")
    path = Path(path)
    from patterns import _slice  # a couple slice staged by `patterns report` (validated)

    if _slice.is_slice(path):
        return _slice.read_couple_slice(path)
    cont, single, digest = _open(path, cfg)
    raws: list[_Raw] = []
    infos: list[dict] = []
    try:
        manifest_obj = None
        if single is not None:
            manifest_obj = single.get("manifest")
            for table in _TABLES:
                if table in single:
                    skip = _skip_rows(cfg, table)
                    raws.append(_records_raw(single[table], path.name, table, skip))
                    infos.append(
                        {
                            "file": path.name,
                            "table": table,
                            "format": "json",
                            "encoding": "",
                            "delimiter": "",
                            "sha256": digest,
                            "rows": len(raws[-1].df),
                        }
                    )
        else:
            names = cont.names()
            man = [n for n in names if n.lower() == "manifest.json"]
            if man:
                data = cont.read(man[0])
                text, _ = _decode(data)
                manifest_obj = _json_loads(text.lstrip("\ufeff"), man[0], numbers_as_text=False)
                infos.append(
                    {
                        "file": man[0],
                        "table": "manifest",
                        "format": "json",
                        "encoding": "",
                        "delimiter": "",
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "rows": 0,
                    }
                )
            for name in names:
                table = _table_of(name, cfg)
                if table is None and not (
                    name.lower().endswith(".xlsx") and name.lower() not in ("manifest.xlsx",)
                ):
                    continue
                got, info = _read_member(cont, name, table, cfg)
                if not got:
                    _wait_digests([info])
                    continue
                raws.extend(got)
                infos.append(info)
        if not raws and single is None:
            raise ExportError(
                f"{_FUNC}: found no table files in {path.name} (expected names like events.csv or "
                f"checkins.csv, or a mapping's `tables`); files present: {cont.names()[:20]}."
            )
        man = _parse_manifest(manifest_obj)
        fallback = (
            man.default_zone
            or timezone
            or (_zone(cfg["timezone"], "mapping timezone") if cfg.get("timezone") else None)
            or "UTC"
        )
        ctx = _Context(cfg=cfg, manifest=man, fallback_zone=fallback)
        return _assemble(path, raws, infos, man, ctx, strict)
    except BaseException:
        _wait_digests(infos)  # no thread left reading a file of a failed load
        raise


def _coerce_source(raw: _Raw, ctx: _Context) -> tuple[_Raw, tuple]:
    """One source file's rows: field limit, ``keep`` filter, wide layout, then
    :func:`_coerce`; returns the (possibly reshaped) source and ``_coerce``'s result."""
    _limit_fields(raw)
    _apply_keep(raw, ctx.cfg)
    if raw.table == "checkins" and ctx.cfg.get("wide"):
        raw = _apply_wide(raw, ctx.cfg)
    got = _coerce(raw, ctx)
    raw.df = raw.df.iloc[:0]  # the source text is no longer needed: free it early
    return raw, got


def _coerce_sources(raws: list[_Raw], ctx: _Context) -> Iterator[tuple[_Raw, tuple]]:
    """:func:`_coerce_source` of each source, yielded in order (the first error raised is
    the first in that order, as one by one). With 2+ CPUs and a large export the sources
    after the first are checked on one background thread meanwhile (their columns one by
    one there: :func:`_may_thread`), so the check-ins file's checks overlap the events
    file's, whose columns use the column pool."""
    big = sum(len(r.df) for r in raws) >= _COLUMN_THREADS_MIN_ROWS
    if len(raws) < 2 or not big or not _may_thread():
        for raw in raws:
            yield _coerce_source(raw, ctx)
        return
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="patterns-load-src")
    try:
        rest = [pool.submit(_coerce_source, raw, ctx) for raw in raws[1:]]
        yield _coerce_source(raws[0], ctx)
        for f in rest:
            yield f.result()
    finally:  # on an error: sources not started are not started (as _fast.Tasks)
        pool.shutdown(wait=True, cancel_futures=True)


def _assemble(
    path: Path, raws: list[_Raw], infos: list[dict], man: _Manifest, ctx: _Context, strict: bool
) -> Export:
    sources = _coerce_sources([r for t in _TABLES for r in raws if r.table == t], ctx)
    with contextlib.closing(sources) as coerced:  # (ends its thread also on an error)
        frames, problems, meta = _collect(coerced, raws)
    return _finish(path, infos, man, ctx, strict, frames, problems, meta)


def _collect(
    coerced: Iterator, raws: list[_Raw]
) -> tuple[dict[str, pd.DataFrame], dict[str, _Problems], dict[str, dict]]:
    """Per table: the coerced sources concatenated, their problems and row metadata."""
    frames: dict[str, pd.DataFrame] = {}
    problems: dict[str, _Problems] = {}
    meta: dict[str, dict] = {}
    for table in _TABLES:
        parts = [r for r in raws if r.table == table]
        fs, ps, rows, srcs, ne, am, names, encs = [], [], [], [], [], [], [], []
        pre_notes = []
        for _ in parts:
            raw, (frame, probs, notes) = next(coerced)  # in table, then file order
            fs.append(frame)
            ps.append(probs)
            pre_notes.append(notes["pre"])
            rows.append(raw.rows)
            srcs.append(np.full(len(frame), len(names), dtype=np.int32))  # source code
            names.append(raw.source)
            ne.append(notes["dst_nonexistent"])
            am.append(notes["dst_ambiguous"])
            encs.append(notes.get("encodings", {}))
        if fs:
            if len(fs) > 1:  # concat can widen dtypes (e.g. all-NA parts): coerce again
                frame = schema.coerce_dtypes(pd.concat(fs, ignore_index=True), table)
            else:
                frame = fs[0]
        else:
            frame = schema.empty_frame(table)
        frames[table] = frame
        problems[table] = _merge_problems(ps, len(frame))
        meta[table] = {
            "notes": _merge_problems(pre_notes, len(frame)),
            "rows": np.concatenate(rows) if rows else np.zeros(0, np.int64),
            "source": np.concatenate(srcs) if srcs else np.zeros(0, dtype=np.int32),
            "names": np.array(names, dtype=object),
            "nonexist": np.concatenate(ne) if ne else np.zeros(0, bool),
            "ambig": np.concatenate(am) if am else np.zeros(0, bool),
            "encodings": encs,
        }
    return frames, problems, meta


def _merge_problems(ps: list[_Problems], n: int) -> _Problems:
    """The problems of a table's sources (in order) as problems of the whole table."""
    if len(ps) == 1 and ps[0].n == n:  # one source (the usual case): no copies
        return ps[0]
    merged, offset = _Problems(n), 0
    for p in ps:
        for mask, column, reason, detail in p.items:
            full = np.zeros(n, bool)
            full[offset : offset + p.n] = mask
            if isinstance(detail, np.ndarray):
                d = np.full(n, "", dtype=object)
                d[offset : offset + p.n] = detail
                detail = d
            merged.add(full, column, reason, detail)
        offset += p.n
    return merged


def _finish(
    path: Path,
    infos: list[dict],
    man: _Manifest,
    ctx: _Context,
    strict: bool,
    frames: dict,
    problems: dict,
    meta: dict,
) -> Export:
    """Cross-table checks (manifest, third partners, duplicates) and the Export."""
    partner_col = {"events": "actor", "checkins": "partner"}
    # Couple and partner codes (factorized once over both tables, in order of first
    # appearance; -1 where missing) serve the manifest checks, the partner counts, the
    # duplicate pre-filter and the per-couple accounting below: every id test runs on the
    # distinct ids (string concatenation, object copies and isin on 3.3 M rows: 0.7 CPU s).
    couple_codes, couple_ids = _merge_codes(
        [e.get("couple_id") for t in _TABLES for e in meta[t]["encodings"]]
    ) or _factorize([frames[t]["couple_id"] for t in _TABLES])
    pid_codes, pids = _merge_codes(
        [e.get(partner_col[t]) for t in _TABLES for e in meta[t]["encodings"]]
    ) or _factorize([frames[t][partner_col[t]] for t in _TABLES])
    n_ev = len(frames["events"])
    ccode = {"events": couple_codes[:n_ev], "checkins": couple_codes[n_ev:]}
    # The duplicate candidates need no verdict on the rows: found on a second thread while
    # this one runs the manifest and partner checks (0.05-0.09 s off the load's serial end).
    big = len(couple_codes) >= _COLUMN_THREADS_MIN_ROWS
    with _fast.Tasks(min(2, _usable_cpus()), name="patterns-load-dup", enabled=big) as run:
        candidates = {t: run.submit(_duplicate_candidates, frames[t], ccode[t]) for t in _TABLES}
        # (couple, partner) pairs numbered once over both tables: the manifest's partner
        # lists and the third-partner rule below both test pairs, not rows.
        pairs = _Pairs(couple_codes, pid_codes, len(pids))
        # Manifest membership: couples, then partners.
        allowed_pair = None
        if man.partners and len(pairs.first):
            allowed = {f"{c}\x1f{q}" for c, ids in man.partners.items() for q in ids}
            fc, fp = couple_codes[pairs.first], pid_codes[pairs.first]
            allowed_pair = np.array(
                [
                    couple_ids[c] not in man.partners or f"{couple_ids[c]}\x1f{pids[q]}" in allowed
                    for c, q in zip(fc.tolist(), fp.tolist(), strict=True)
                ]
                + [True],  # (rows without a couple or partner: not this check's concern)
                dtype=bool,
            )
        start = 0
        for table in _TABLES:
            p, cc = problems[table], ccode[table]
            if man.couples:
                listed_c = set(man.couples)
                known = np.array([c in listed_c for c in couple_ids] + [True], dtype=bool)
                unknown = ~known[cc]  # code -1 (missing) reads the trailing True
                p.add(unknown, "couple_id", "unknown_couple", "couple not listed in the manifest")
            if man.partners:
                n = len(cc)
                bad = (
                    ~allowed_pair[pairs.of_rows(start, start + n)]
                    if allowed_pair is not None
                    else np.zeros(n, bool)
                )
                p.add(
                    bad,
                    partner_col[table],
                    "unknown_partner",
                    "partner not listed for this couple in the manifest",
                )
            start += len(cc)
        # Third partners: couples without a manifest partner list keep their two busiest ids.
        kept, third_masks = _two_partners(
            frames, man, pairs, couple_codes, couple_ids, pid_codes, pids
        )
        for table in _TABLES:
            f, p = frames[table], problems[table]
            p.add(
                third_masks[table],
                partner_col[table],
                "third_partner",
                "a third partner id in this couple (the two most frequent are kept)",
            )
            # Duplicates among otherwise clean rows, identical in every loaded column.
            clean = ~p.any()
            if clean.any():
                rows = None if clean.all() else np.flatnonzero(clean)
                dup = _confirm_duplicates(len(f), *candidates[table].result(), rows)
                p.add(dup, "", "duplicate", "identical to an earlier row")
    quarantine, notices, out, bads = [], [], {}, {}
    for table in _TABLES:
        f, p, m = frames[table], problems[table], meta[table]
        bad = bads[table] = p.any()
        q = _problem_frame(table, p, m, f["couple_id"])
        quarantine.append(q)
        note = _Problems(len(f))
        note.add(
            m["nonexist"] & ~bad,
            "ts",
            "dst_nonexistent",
            "local time in a DST gap; moved forward by the gap",
        )
        note.add(
            m["ambig"] & ~bad,
            "ts",
            "dst_ambiguous",
            "local time in a DST overlap; first occurrence taken",
        )
        for mask, column, reason, detail in m["notes"].items:
            note.add(mask & ~bad, column, reason, detail)
        notices.append(_problem_frame(table, note, m, f["couple_id"]))
        out[table] = _keep_rows(f, ~bad) if bad.any() else f
    quarantine_df = pd.concat(quarantine, ignore_index=True)
    notices_df = pd.concat(notices, ignore_index=True)
    if strict and len(quarantine_df):
        lines = [
            f"{r.table} {r.source} row {r.row}"
            + (f" column {r.column}" if r.column else "")
            + f": {r.reason} ({r.detail})"
            for r in quarantine_df.itertuples(index=False)
        ]
        shown = "\n  ".join(lines[:50]) + (
            f"\n  … and {len(lines) - 50} more" if len(lines) > 50 else ""
        )
        raise ExportError(
            f"{_FUNC}: strict mode: {len(lines)} problem(s) in "
            f"{quarantine_df['record'].nunique()} row(s):\n  {shown}",
            problems=lines,
        )
    couples = set(man.couples)
    ids = np.asarray(couple_ids, dtype=object)
    for table in _TABLES:
        loaded = ccode[table][~bads[table]]
        seen = np.bincount(loaded[loaded >= 0], minlength=len(ids)) > 0
        couples |= {str(c) for c in ids[seen]}
    timezones = {c: man.zones.get(c, ctx.fallback_zone) for c in sorted(couples)}
    from_data: dict[str, list[str]] = {}
    for key in sorted(kept):
        c, q = key.split("\x1f", 1)
        from_data.setdefault(c, []).append(q)
    partners = {c: list(man.partners.get(c, from_data.get(c, []))) for c in sorted(couples)}
    by_couple = {}
    for t in _TABLES:
        counts = np.bincount(ccode[t][ccode[t] >= 0], minlength=len(ids))
        by_couple[t] = {str(ids[i]): int(counts[i]) for i in np.flatnonzero(counts)}
    shared_zones = TimezoneMap(timezones)  # one object, shared (not deep-copied) by pandas
    for table in _TABLES:
        out[table].attrs["timezones"] = shared_zones
    rows_in = {t: len(frames[t]) for t in _TABLES}
    src_cols = ["file", "table", "format", "encoding", "delimiter", "sha256", "rows"]
    for info in infos:
        if isinstance(info["sha256"], _Digest):
            info["sha256"] = info["sha256"].hexdigest()
    sources = pd.DataFrame(infos, columns=src_cols)
    return Export(
        events=out["events"],
        checkins=out["checkins"],
        quarantine=quarantine_df,
        notices=notices_df,
        manifest=dict(man.raw),
        timezones=timezones,
        partners=partners,
        sources=sources,
        # in table order (the tables' checks may finish in either order)
        dropped_columns={t: sorted(ctx.dropped[t]) for t in _TABLES if ctx.dropped.get(t)},
        path=path,
        rows_in=rows_in,
        rows_in_by_couple=by_couple,
    )


def _keep_rows(f: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """``f[keep].reset_index(drop=True)``, with the Arrow text columns filtered chunk by
    chunk: a chunk with every row kept is reused as it is, not copied.

    Why by hand: a boolean filter copies every chunk of every text column, so one
    quarantined row among 3.1 M events cost 0.2-0.8 s (a fresh copy of ~300 MB of
    strings); the parser's 1 MB chunks make most of them untouched by a few bad rows.
    Other columns (NumPy-backed) are filtered as usual (tested equal to ``f[keep]``).

    Examples
    --------
    >>> f = pd.DataFrame({"a": pd.array(["x", "y", "z"], dtype="string[pyarrow]"), "b": [1, 2, 3]})
    >>> _keep_rows(f, np.array([True, False, True])).to_dict("list")
    {'a': ['x', 'z'], 'b': [1, 3]}
    """
    import pyarrow as pa

    columns = {}
    for i, name in enumerate(f.columns):
        s = f.iloc[:, i]
        arr = s.array
        if isinstance(arr, pd.arrays.ArrowStringArray):
            chunked = arr.__arrow_array__()  # (the array itself, no copy)
            parts, start = [], 0
            for ch in chunked.chunks:
                k = keep[start : start + len(ch)]
                start += len(ch)
                if k.all():
                    parts.append(ch)
                elif k.any():
                    parts.append(ch.filter(pa.array(k)))
            filtered = pa.chunked_array(parts, type=chunked.type)
            columns[i] = pd.Series(type(arr)(filtered, dtype=arr.dtype), name=name)
        else:
            columns[i] = pd.Series(arr[keep], name=name)
    out = pd.concat(columns, axis=1) if columns else f.iloc[keep]
    out.columns = f.columns
    out.attrs = f.attrs
    return out.reset_index(drop=True)


def _factorize(columns: list[pd.Series]) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize`` of the string columns concatenated (codes in order of first
    appearance, -1 where missing; uniques as an object array), by one Arrow
    ``dictionary_encode`` over their chunks: no concatenated copy of the strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    chunks = []
    for s in columns:
        arr = _arrow(s)
        for ch in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
            chunks.append(ch.cast(pa.large_string()))
    enc = pc.dictionary_encode(pa.chunked_array(chunks, type=pa.large_string()))
    if not enc.num_chunks:
        return np.zeros(0, np.int64), np.array([], dtype=object)
    first = enc.chunk(0).dictionary
    if not all(ch.dictionary.equals(first) for ch in enc.chunks):
        enc = enc.unify_dictionaries()
    codes = np.concatenate(
        [
            np.asarray(pc.fill_null(ch.indices, -1).to_numpy(zero_copy_only=False), np.int64)
            for ch in enc.chunks
        ]
    )
    return codes, np.array(enc.chunk(0).dictionary.to_pylist(), dtype=object)


def _merge_codes(
    parts: list[tuple[np.ndarray, pd.Series] | None],
) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_factorize` of a column from its checks by value, source after source: each
    source's row positions into its distinct texts and the checked value of each text.
    None when a source was checked per row. Saves re-encoding 3.3 M ids (0.1-0.2 CPU s).

    Same order as ``pd.factorize``: the distinct texts are in order of first appearance,
    so the first text that checks to a value marks that value's first appearance.
    """
    if not parts or any(p is None for p in parts):
        return None
    index: dict[str, int] = {}
    codes = []
    for idx, values in parts:
        vals = values.to_numpy(dtype=object, na_value=None)
        to_code = np.array(
            [-1 if v is None else index.setdefault(v, len(index)) for v in vals], dtype=np.int64
        )
        codes.append(to_code[idx])
    return np.concatenate(codes), np.array(list(index), dtype=object)


def _duplicate_candidates(f: pd.DataFrame, couple_codes: np.ndarray) -> tuple[np.ndarray, Any]:
    """The rows that share couple and time with another row (every row that can be a copy
    of another, within any subset of the rows too), and those rows taken from ``f``.

    Written by hand because an int64 hash table over 10^6 keys costs ~55 ms (cache misses)
    while exports almost always come in time order (or couple-then-time order), where rows
    with equal times are neighbours and one comparison with the next row (~2 ms) finds the
    candidates. Unordered files use the hash table. The rows are taken by position (a
    boolean filter of the whole table copied every text column: 0.4 s at 3.1 M events).
    It needs no verdict on the rows, so the loader runs it beside its other cross-table
    checks.
    """
    n = len(f)
    if n < 2:
        return np.zeros(0, np.int64), f.iloc[:0]
    ts = f["ts"].to_numpy(dtype="datetime64[ns]").view("i8")
    codes = couple_codes.astype("i8")
    step = np.diff(ts)
    same: np.ndarray | None = None
    if (step >= 0).all():  # time order: equal times form runs
        same = step == 0
    else:
        dc = np.diff(codes)
        if ((dc > 0) | ((dc == 0) & (step >= 0))).all():  # couple, then time
            same = (dc == 0) & (step == 0)
    if same is not None:
        cand = np.zeros(n, bool)
        cand[1:] |= same
        cand[:-1] |= same
    else:
        cand = np.ones(n, bool)
    if cand.any():  # same couple and time: one int64 key (distinct pairs may share a key)
        key = ts[cand] + 1_000_003 * codes[cand]
        cand[cand] = pd.Series(key).duplicated(keep=False).to_numpy()
    at = np.flatnonzero(cand)
    return at, f.take(at)


def _confirm_duplicates(
    n: int, at: np.ndarray, taken: Any, rows: np.ndarray | None = None
) -> np.ndarray:
    """The mask (over ``n`` rows) of later copies among ``rows`` (None: all), from the
    candidates ``at`` and their rows ``taken``: pandas' ``DataFrame.duplicated`` on the
    candidates among ``rows``. Exact: a row identical to an earlier one shares its couple
    and time, so both are candidates."""
    out = np.zeros(n, bool)
    if rows is not None and len(at):
        among = np.zeros(n, bool)
        among[rows] = True
        sel = np.flatnonzero(among[at])
        at, taken = at[sel], taken.iloc[sel]
    if len(at):
        out[at] = taken.duplicated(keep="first").to_numpy()
    return out


class _Pairs:
    """(couple, partner) pairs of the rows of both tables, numbered in order of first
    appearance: ``valid`` rows (both codes present), their pair numbers ``gv``, each pair's
    ``first`` row and ``counts``, and :meth:`of_rows` for any rows. One ``pd.factorize``
    of an int64 key over 3.4 M rows, shared by the manifest's partner check and
    :func:`_two_partners` (each had its own: ~0.04 s)."""

    def __init__(self, couple_codes: np.ndarray, pid_codes: np.ndarray, n_pids: int):
        n = len(couple_codes)
        self.valid = (couple_codes >= 0) & (pid_codes >= 0)
        self.all_valid = bool(self.valid.all())  # the usual case: no gather, no scatter
        self.vpos = np.arange(n) if self.all_valid else np.flatnonzero(self.valid)
        rows = slice(None) if self.all_valid else self.vpos
        key = couple_codes[rows].astype(np.int64) * (n_pids + 1) + pid_codes[rows]
        gv, _ = pd.factorize(key)
        self.gv = np.asarray(gv, dtype=np.int64)
        self.counts = np.bincount(self.gv) if len(self.gv) else np.zeros(0, np.int64)
        # Group numbers are in order of first appearance, so a group's first row is where
        # the number first exceeds all before it (np.minimum.at over 3.3 M rows: ~50 ms).
        new = np.ones(len(self.gv), bool)
        if len(self.gv):
            new[1:] = self.gv[1:] > np.maximum.accumulate(self.gv)[:-1]
        self.first = self.vpos[np.flatnonzero(new)]
        self._n = n
        self._group: np.ndarray | None = None

    def of_rows(self, start: int, stop: int) -> np.ndarray:
        """Pair number of rows ``start:stop`` (of both tables, concatenated); the number of
        pairs (one past the last) where a row has no couple or partner."""
        if self.all_valid:
            return self.gv[start:stop]
        if self._group is None:  # built once, for every table and check that asks
            self._group = np.full(self._n, len(self.first), dtype=np.int64)
            self._group[self.vpos] = self.gv
        return self._group[start:stop]


def _two_partners(
    frames: dict,
    man: _Manifest,
    pairs: _Pairs,
    couple_codes: np.ndarray,
    couple_ids: np.ndarray,
    pid_codes: np.ndarray,
    pids: np.ndarray,
) -> tuple[set, dict]:
    """Kept ``couple\x1fpartner`` keys and per-table masks of rows with a third partner.

    Per couple without a manifest partner list, the two ids with the most rows over both
    tables are kept; ties go to the id seen first (events before check-ins, file order).
    ``couple_codes``/``couple_ids`` and ``pid_codes``/``pids``: :func:`_factorize` of the
    couple and partner ids of both tables concatenated (-1 when missing); ``pairs``: their
    :class:`_Pairs`.
    """
    n_by = [len(frames[t]) for t in _TABLES]
    masks = {t: np.zeros(n, bool) for t, n in zip(_TABLES, n_by, strict=True)}
    if not pairs.valid.any():
        return set(), masks
    first = pairs.first
    n_groups = len(first)
    stats = pd.DataFrame(
        {
            "couple": couple_ids[couple_codes[first]],
            "pid": pids[pid_codes[first]],
            "n": pairs.counts,
            "first": first,
        }
    )
    stats = stats.sort_values(["couple", "n", "first"], ascending=[True, False, True])
    stats["rank"] = stats.groupby("couple", sort=False).cumcount()
    listed = stats["couple"].isin(list(man.partners)).to_numpy()
    keep_group = np.ones(n_groups + 1, bool)  # (the last: rows without both ids)
    order = stats.index.to_numpy()
    keep_group[order] = listed | (stats["rank"].to_numpy() < 2)
    if not keep_group.all():  # some couple has a third id (else no mask to build)
        start = 0
        for t, n in zip(_TABLES, n_by, strict=True):
            masks[t] = ~keep_group[pairs.of_rows(start, start + n)]
            start += n
    top = stats[(stats["rank"] < 2).to_numpy() & ~listed]
    kept = set((top["couple"].astype(str) + "\x1f" + top["pid"].astype(str)).tolist())
    return kept, masks


def _problem_frame(table: str, p: _Problems, meta: dict, couple: pd.Series) -> pd.DataFrame:
    parts = []
    for mask, column, reason, detail in p.items:
        pos = np.flatnonzero(mask)
        det = (
            detail[pos]
            if isinstance(detail, np.ndarray)
            else np.full(len(pos), detail, dtype=object)
        )
        parts.append(
            pd.DataFrame(
                {
                    "table": table,
                    "source": meta["names"][meta["source"][pos]] if len(pos) else [],
                    "row": meta["rows"][pos],
                    "column": column,
                    "reason": reason,
                    "detail": det,
                    "couple_id": couple.iloc[pos].to_numpy(dtype=object, na_value=None),
                    "record": pos,
                }
            )
        )
    if not parts:
        df = pd.DataFrame({c: pd.Series([], dtype=object) for c in _QCOLS})
    else:
        df = pd.concat(parts, ignore_index=True)
        df = df.sort_values(["record", "column", "reason"], kind="stable", ignore_index=True)
    df = df.astype(
        {
            "table": "str",
            "source": "str",
            "column": "str",
            "reason": "str",
            "detail": "str",
            "row": "int64",
            "record": "int64",
        }
    )
    df["couple_id"] = df["couple_id"].astype(schema.STRING)
    return df[_QCOLS]
