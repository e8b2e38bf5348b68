"""Benchmark: the simulator at scale, in memory and writing the export folder.

Runs :func:`patterns.simulate_export` for ``--couples`` × ``--days`` in a fresh process per
measurement (``common.measure_code``), once without ``out`` (tables and truth in memory) and
once writing the folder (CSV + manifest + truth), and prints wall time, peak resident
memory, rows, and the size on disk.

Usage: ``python benchmarks/bench_simulate.py [--couples 1000] [--days 180] [--seed 0]``.
Target (issue 2 brief): 1,000 couples × 180 days (≈3 million events) under 60 s with
modest memory on this machine (2 shared cores).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # benchmarks/ is not a package; its path is set just above


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--couples", type=int, default=1000)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = common.DATA / f"bench_simulate_{args.couples}x{args.days}"
    setup = "from patterns.simulate import simulate_export"
    call = f"simulate_export(couples={args.couples}, days={args.days}, seed={args.seed}"
    rows = [
        common.measure_code(
            "simulate_export (in memory)", f"sim = {call})\nresult = sim.events", setup=setup
        ),
        common.measure_code(
            "simulate_export (writes the folder)",
            f"sim = {call}, out={str(out)!r})\nresult = sim.events",
            setup=setup,
        ),
    ]
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) if out.exists() else 0
    print(f"simulator, {args.couples} couples × {args.days} days, seed {args.seed}")
    print(f"{'step':40s} {'seconds':>9s} {'peak MB':>9s} {'events':>10s}")
    for m in rows:
        state = "" if m.ok else f"  FAILED: {m.error}"
        print(f"{m.name:40s} {m.seconds:9.1f} {m.peak_mb:9.0f} {m.rows or 0:10d}{state}")
    print(f"on disk: {size / 2**20:.0f} MB in {out}")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
