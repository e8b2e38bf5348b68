"""One couple's already-validated export, staged for the report notebooks (private).

``patterns report`` loads and validates the whole export once; each couple's notebooks
then read a *slice*: a folder holding that couple's tables as Parquet plus a marker file
(:data:`MARKER`) with the couple's manifest, zones, partners, row accounting, the original
export's ``sources`` (file hashes) and the whole-export summary the data-quality page
quotes. :func:`patterns.io.load_export` recognises the marker and returns exactly
``export.for_couple(couple_id)`` (same frames, dtypes, zones, quarantine and notices rows
of the couple, same ``path`` of the original export) without parsing or validating again.

Only :func:`patterns.report.run_report` writes slices, inside its own output folder, and it
deletes each slice when the couple's notebooks are done (a slice holds client data).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from patterns import schema
from patterns.errors import ExportError

__all__ = ["MARKER", "is_slice", "read_couple_slice", "slice_summary", "write_couple_slice"]

#: The marker file that makes a folder a couple slice.
MARKER = "patterns-couple-slice.json"
_FORMAT = "patterns-couple-slice"
_VERSION = 1
_FRAMES = ("events", "checkins", "quarantine", "notices", "sources")


def is_slice(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a couple slice (its marker file)."""
    p = Path(path)
    return p.is_dir() and (p / MARKER).is_file()


def _jsonable(obj: Any) -> Any:
    # the manifest came from JSON; a round trip through json keeps it exactly
    return json.loads(json.dumps(obj, default=str))


def write_couple_slice(export: Any, couple_id: str, folder: str | Path) -> Path:
    """Write ``export.for_couple(couple_id)`` to ``folder`` (created private, 0700).

    Also records the whole export's :meth:`~patterns.io.Export.summary` (rows read, used
    and set aside per table), which a one-couple slice cannot recompute.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    one = export.for_couple(couple_id)
    for name in _FRAMES:
        frame = getattr(one, name)
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    meta = {
        "format": _FORMAT,
        "version": _VERSION,
        "couple_id": couple_id,
        "manifest": _jsonable(one.manifest),
        "timezones": dict(one.timezones),
        "partners": {c: list(v) for c, v in one.partners.items()},
        "dropped_columns": _jsonable(one.dropped_columns),
        "path": None if export.path is None else str(export.path),
        "rows_in_by_couple": _jsonable(one.rows_in_by_couple),
        "export_summary": export.summary().to_dict("records"),
    }
    (folder / MARKER).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return folder


def _meta(path: Path) -> dict:
    try:
        meta = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"load_export: unreadable couple slice {path}: {exc}") from exc
    if not isinstance(meta, dict) or (meta.get("format"), meta.get("version")) != (
        _FORMAT,
        _VERSION,
    ):
        raise ExportError(f"load_export: {path / MARKER} is not a version-{_VERSION} couple slice.")
    return meta


def slice_summary(path: str | Path) -> pd.DataFrame:
    """The whole export's row accounting recorded in a slice (``Export.summary`` columns)."""
    return pd.DataFrame(_meta(Path(path))["export_summary"])


def read_couple_slice(path: str | Path) -> Any:
    """Read a slice written by :func:`write_couple_slice` back into an ``Export``.

    Tables get their contract columns and dtypes enforced (a missing or extra contract
    column is an :class:`~patterns.errors.ExportError`); values are not validated again:
    they were validated when the original export was loaded.
    """
    from patterns.io import Export

    path = Path(path)
    meta = _meta(path)
    couple_id = str(meta["couple_id"])
    try:
        frames = {n: pd.read_parquet(path / f"{n}.parquet") for n in _FRAMES}
    except (OSError, ValueError) as exc:
        raise ExportError(f"load_export: unreadable couple slice {path}: {exc}") from exc
    for table in ("events", "checkins"):
        want = [c.name for c in schema.columns_of(table)]
        if list(frames[table].columns) != want:
            raise ExportError(
                f"load_export: couple slice {path} table {table} has columns "
                f"{list(frames[table].columns)}; expected {want}."
            )
        frames[table] = schema.coerce_dtypes(frames[table], table)
    by_couple = {
        t: {str(k): int(v) for k, v in d.items()} for t, d in meta["rows_in_by_couple"].items()
    }
    whole = Export(
        events=frames["events"],
        checkins=frames["checkins"],
        quarantine=frames["quarantine"],
        notices=frames["notices"],
        manifest=meta["manifest"],
        timezones={str(k): str(v) for k, v in meta["timezones"].items()},
        partners={str(k): list(v) for k, v in meta["partners"].items()},
        sources=frames["sources"],
        dropped_columns=meta["dropped_columns"],
        path=None if meta["path"] is None else Path(meta["path"]),
        rows_in={t: sum(d.values()) for t, d in by_couple.items()},
        rows_in_by_couple=by_couple,
    )
    # for_couple sets the per-frame attrs exactly as it does on a whole export
    return whole.for_couple(couple_id)
