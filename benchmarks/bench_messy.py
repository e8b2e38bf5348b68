"""``patterns metrics`` on a messy copy of a simulated export, against the clean one.

The simulated exports are clean: every row loads. Real exports are not, and a loader's
fast path can fall off a cliff on the first bad row (one ragged row used to send the whole
file to Python's csv module: 31 s and 4 GB at 1,000 couples; one bad time sent every time
to the general parser: +3.7 s). This script writes, once, a copy of the export with a few
problems of each kind a real export has, spread over the file (``--per-kind`` of each,
seeded), and then runs ``patterns metrics`` on the clean and the messy copy in turn
(``--repeat`` times, interleaved). It prints the medians, the peak memory, and the
quarantine by reason, and checks that every input row is loaded or quarantined.

Kinds, in ``events.csv``: a time that is no time, a time of month 13, a naive time among
aware ones, a ragged row (too many fields), a ragged row (too few), an unknown code, a bad
intensity, a missing actor, an unknown couple, a third partner id, an exact duplicate of
the row before, a note with an accented letter (UTF-8: a clean row), a note with a byte
that is not UTF-8 (a line pasted from a cp1252 tool: loaded with a notice); in
``checkins.csv``: a bad rating and a bad time.

Usage: ``python benchmarks/bench_messy.py [--size large] [--repeat 5] [--per-kind 5]``.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # benchmarks/ is not a package: path set just above

#: event-row edits: kind -> function(fields, header index) -> new line (text)
_EVENT_KINDS = (
    "not a time",
    "month 13",
    "naive time",
    "ragged, too many",
    "ragged, too few",
    "unknown code",
    "bad intensity",
    "missing actor",
    "unknown couple",
    "third partner",
    "duplicate",
    "UTF-8 accent",
    "cp1252 byte",
)
_CHECKIN_KINDS = ("bad rating", "bad time")


def _edit(kind: str, fields: list[str], col: dict[str, int], previous: str) -> str:
    f = list(fields)
    if kind == "not a time":
        f[col["ts"]] = "not a time"
    elif kind == "month 13":
        f[col["ts"]] = "2026-13" + f[col["ts"]][7:]
    elif kind == "naive time":
        f[col["ts"]] = f[col["ts"]][:19]
    elif kind == "ragged, too many":
        f.append("surplus")
    elif kind == "ragged, too few":
        f = f[:3]
    elif kind == "unknown code":
        f[col["code"]] = "hug"
    elif kind == "bad intensity":
        f[col["intensity"]] = "abc"
    elif kind == "missing actor":
        f[col["actor"]] = ""
    elif kind == "unknown couple":
        f[col["couple_id"]] = "c-unknown"
    elif kind == "third partner":
        f[col["actor"]] = f[col["couple_id"]] + "-z"
    elif kind == "duplicate":
        return previous
    elif kind == "UTF-8 accent":
        f[col["note"]] = "très bien"
    elif kind == "cp1252 byte":
        f[col["note"]] = "caf\udce9"  # the byte 0xE9 (cp1252 "é"), written as it is
    elif kind == "bad rating":
        f[col["connection"]] = "seven"
    elif kind == "bad time":
        f[col["ts"]] = "yesterday"
    return ",".join(f)


def _messy_copy(src: Path, dst: Path, kinds: dict[str, tuple[str, ...]], per_kind: int) -> None:
    """Copy the export, editing ``per_kind`` rows per kind at seeded, spread-out places."""
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "manifest.json").write_bytes((src / "manifest.json").read_bytes())
    rng = np.random.default_rng(common.SEED)
    for name, file_kinds in kinds.items():
        lines = (src / name).read_text(encoding="utf-8").split("\n")
        col = {c: i for i, c in enumerate(lines[0].split(","))}
        body = len(lines) - 2  # (the file ends with a newline)
        rows = rng.choice(np.arange(2, body + 1), size=per_kind * len(file_kinds), replace=False)
        for i, row in enumerate(rows):
            kind = file_kinds[i % len(file_kinds)]
            lines[row] = _edit(kind, lines[row].split(","), col, lines[row - 1])
        (dst / name).write_text("\n".join(lines), encoding="utf-8", errors="surrogateescape")


def _accounting(messy: Path) -> str:
    """The messy export's quarantine by reason, and each table's rows: in the file,
    loaded, quarantined (``ok`` when they add up)."""
    from patterns.io import load_export

    exp = load_export(messy)
    q = exp.quarantine
    lines = ["", "quarantined rows by table and reason (a row may have several reasons):"]
    for (table, reason), n in q.groupby(["table", "reason"])["record"].nunique().items():
        lines.append(f"  {table:8s} {reason:18s} {n}")
    lines.append("rows loaded with a notice, by table and reason:")
    for (table, reason), n in exp.notices.groupby(["table", "reason"])["record"].nunique().items():
        lines.append(f"  {table:8s} {reason:18s} {n}")
    loaded = {"events": len(exp.events), "checkins": len(exp.checkins)}
    held = q.groupby("table")["record"].nunique().to_dict()
    for table, n_in in exp.rows_in.items():
        # the file's own count, not only the loader's ``rows_in`` (the rows it parsed: a
        # row the parser lost would be missing from both sides): one record per line here
        # (no quoted newline in the simulated files, none added above), no blank line
        with open(messy / f"{table}.csv", "rb") as f:
            in_file = sum(1 for _ in f) - 1  # (the header)
        total = loaded[table] + held.get(table, 0)
        ok = total == n_in == in_file
        lines.append(
            f"{table}: {in_file:,} rows in the file, {n_in:,} rows in = {loaded[table]:,} "
            f"loaded + {held.get(table, 0)} quarantined: {'ok' if ok else 'MISMATCH'}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="large", choices=sorted(common.SIZES))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--per-kind", type=int, default=5)
    args = ap.parse_args(argv)
    if args.repeat < 1 or args.per_kind < 1:
        ap.error("--repeat and --per-kind must be at least 1")
    clean = common.export_dir(args.size)
    # cached under a name that changes with the kinds and counts (and this file's edits)
    recipe = inspect.getsource(_edit) + repr((_EVENT_KINDS, _CHECKIN_KINDS, args.per_kind))
    tag = hashlib.sha256(recipe.encode()).hexdigest()[:10]
    messy = common.DATA / f"messy_{tag}_{clean.name}"
    if not (messy / "manifest.json").exists():
        kinds = {"events.csv": _EVENT_KINDS, "checkins.csv": _CHECKIN_KINDS}
        _messy_copy(clean, messy, kinds, args.per_kind)
    out = common.DATA / f"messy_{args.size}.csv"
    runs: dict[str, list[common.Measurement]] = {"clean": [], "messy": []}
    for i in range(args.repeat):
        for label, export in (("clean", clean), ("messy", messy)):
            argv_ = [str(common.BIN / "patterns"), "metrics", str(export), "-o", str(out)]
            runs[label].append(common.measure_command(label, argv_))
        common.report_run(i, runs)
    if not all(m.ok for v in runs.values() for m in v):
        sys.exit("a run failed (see above)")
    print(f"\n| {args.size}, median of {args.repeat} | wall s | CPU s | peak MB |")
    print("|---|---:|---:|---:|")
    for k, v in runs.items():
        wall = statistics.median(m.seconds for m in v)
        cpu = statistics.median(m.cpu_seconds for m in v)
        print(f"| {k} | {wall:.2f} | {cpu:.2f} | {max(m.peak_mb for m in v):,.0f} |")
    print(_accounting(messy))


if __name__ == "__main__":
    main()
