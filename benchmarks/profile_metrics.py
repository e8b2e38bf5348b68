"""Profile ``patterns metrics`` (load → couple-week table → CSV) with pyinstrument.

Prints wall and CPU time of each stage beside a plain ``pandas.read_csv`` of the same files,
then pyinstrument's call tree (pyinstrument samples wall-clock time: on a busy shared
machine compare proportions, not seconds).
This is how the hot spots of issue 8 were found (per-couple Python loop in metrics,
per-row string folding in topics, pure-Python PELT in change points, attrs deep copies).

Usage: ``python benchmarks/profile_metrics.py [--size large] [--html out.html]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # benchmarks/ is not a package: path set just above


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="large", choices=sorted(common.SIZES))
    ap.add_argument("--html", type=Path, help="Also write pyinstrument's HTML report here.")
    args = ap.parse_args()
    export = common.export_dir(args.size)

    import pandas as pd
    from pyinstrument import Profiler

    from patterns.io import load_export
    from patterns.metrics import couple_week_metrics, write_metrics

    def stage(label, func):
        w, c = time.perf_counter(), time.process_time()
        out = func()
        wall, cpu = time.perf_counter() - w, time.process_time() - c
        print(f"{label:<12} wall {wall:7.2f} s  cpu {cpu:7.2f} s")
        return out

    stage("plain read", lambda: [pd.read_csv(export / f) for f in ("events.csv", "checkins.csv")])
    prof = Profiler()
    prof.start()
    exp = stage("load", lambda: load_export(export))
    table = stage("metrics", lambda: couple_week_metrics(exp))
    stage("write", lambda: write_metrics(table, common.DATA / f"profile_{args.size}.csv"))
    prof.stop()
    print(prof.output_text(unicode=False, color=False, show_all=False))
    if args.html:
        args.html.write_text(prof.output_html())


if __name__ == "__main__":
    main()
