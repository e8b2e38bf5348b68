"""Issue 8's headline ratio, measured several times: ``patterns metrics`` against a plain read.

One timing of each is at the mercy of a shared machine's load, so this script runs, in
turn and ``--repeat`` times (interleaved, so a busy spell hits both sides alike):

- the plain read in Python: ``pandas.read_csv`` of ``events.csv`` and ``checkins.csv``,
  imports untimed (the floor the issue names);
- the same read as a whole command (``python -c "import pandas; read_csv ×2"``): start-up
  and ``import pandas`` included, as they are in ``patterns metrics``;
- ``patterns metrics EXPORT -o FILE`` end to end (start-up, load with every check, the
  couple-week table, CSV and codebook written).

It prints every run, then the medians and their ratios in wall time (what a user waits;
both sides may use several cores) and in CPU time (user + system, all threads), the peak
memory, the load average before and after (other work on the machine inflates wall time),
and whether the table written is byte-identical to the previous reference.

Usage: ``python benchmarks/bench_headline.py [--size large] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # benchmarks/ is not a package: path set just above


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="large", choices=sorted(common.SIZES))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error(f"--repeat must be at least 1; got {args.repeat}")
    export = common.export_dir(args.size)
    out = common.DATA / f"headline_{args.size}.csv"
    reference = common.DATA / f"metrics_{args.size}.csv"
    files = [str(export / "events.csv"), str(export / "checkins.csv")]
    read_code = "\n".join(f"pd.read_csv({f!r})" for f in files)
    load_before = os.getloadavg()
    print(
        f"{args.size}: {', '.join(f'{k} {v:,}' for k, v in common.count_rows(args.size).items())}"
        f" rows; {os.cpu_count()} CPUs; load average {load_before[0]:.2f}"
    )
    runs: dict[str, list[common.Measurement]] = {"read": [], "read command": [], "metrics": []}
    for i in range(args.repeat):
        runs["read"].append(common.measure_code("read", read_code, setup="import pandas as pd"))
        runs["read command"].append(
            common.measure_command(
                "read command", [common.PYTHON, "-c", f"import pandas as pd\n{read_code}"]
            )
        )
        runs["metrics"].append(
            common.measure_command(
                "metrics",
                [str(common.BIN / "patterns"), "metrics", str(export), "-o", str(out)],
            )
        )
        common.report_run(i, runs)
    if not all(m.ok for v in runs.values() for m in v):
        sys.exit("a run failed (see above)")
    med = {
        k: (statistics.median(m.seconds for m in v), statistics.median(m.cpu_seconds for m in v))
        for k, v in runs.items()
    }
    wall, cpu = med["metrics"]
    print(
        "\n| median of "
        f"{args.repeat} | wall s | CPU s | metrics ÷ it, wall | metrics ÷ it, CPU |\n"
        "|---|---:|---:|---:|---:|"
    )
    for k in ("read", "read command", "metrics"):
        w, c = med[k]
        print(f"| {k} | {w:.2f} | {c:.2f} | {wall / w:.2f} | {cpu / c:.2f} |")
    peak = max(m.peak_mb for m in runs["metrics"])
    load_after = os.getloadavg()
    print(
        f"\npeak memory of patterns metrics: {peak:,.0f} MB; "
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}"
    )
    if reference.exists():
        same = filecmp.cmp(out, reference, shallow=False)
        print(f"table byte-identical to {reference.name}: {same}")


if __name__ == "__main__":
    main()
