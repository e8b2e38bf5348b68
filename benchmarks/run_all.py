"""Run every benchmark at stated sizes and print one table per size (``make bench``).

Sizes (simulated with :func:`patterns.simulate_export`, seed 0, cached in ``_data/``):
``small`` = 1 couple × 365 days, ``medium`` = 100 couples × 180 days, ``large`` = 1,000
couples × 180 days. For each size, in a fresh process per step (see ``common.py``):

- the floor: a plain ``pandas.read_csv`` of the same ``events.csv`` and ``checkins.csv``
  (in-process, imports untimed; and again as a whole ``python -c`` command, the floor for
  the steps timed as commands, which include start-up and imports);
- ``load_export`` of the export folder;
- each analysis on the loaded tables (input read from a cached pickle, not timed);
- ``couple_week_metrics`` (pandas engine; and the Dask engine when ``--dask``);
- ``patterns metrics EXPORT -o FILE`` end to end (the headline ratio to the plain read);
- ``patterns report EXPORT --couple <first>`` for one couple (all notebooks).

The tables are printed and written to ``benchmarks/results/latest.md`` (gitignored), with
the raw figures in ``latest.json``. ``--scripts`` also runs the other ``bench_*.py`` scripts
(load, sequences, report, …) with their own defaults and appends their output.

Usage: ``python benchmarks/run_all.py [--sizes small,medium,large] [--only STEP,...]
[--dask] [--scripts all|none|load,sequences]``.
Targets (issue 8, 2 cores): ``patterns metrics`` on the large size within 3× the plain read
and under 4 GB peak; all analyses for one couple-year (small) under 1 s together.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # benchmarks/ is not a package: path set just above
from common import Measurement

#: analysis steps: name -> (extra untimed setup, timed code). Variables available: exp
#: (the loaded Export), ev, ch (its events and check-ins). Assign the output to ``result``.
ANALYSES: dict[str, tuple[str, str]] = {
    "bids.turning_rates": (
        "from patterns.bids import turning_rates",
        "result = turning_rates(ev, period='W')",
    ),
    "sequences.lag_table + lag_test (pooled)": (
        "from patterns.sequences import code_stream, lag_table, lag_test",
        "s = code_stream(ev, by='family'); lag_table(s); result = lag_test(s)",
    ),
    "sequences.lag_effects + pooled_effect": (
        "from patterns.sequences import lag_effects, pooled_effect",
        "result = pooled_effect(lag_effects(ev, given='A:pursue', target='B:withdraw'))",
    ),
    "cycles.pursue_withdraw_episodes": (
        "from patterns.cycles import pursue_withdraw_episodes",
        "result = pursue_withdraw_episodes(ev)",
    ),
    "cycles.pursuer_share + episode_summary": (
        "from patterns.cycles import pursue_withdraw_episodes, pursuer_share, episode_summary\n"
        "eps = pursue_withdraw_episodes(ev)",
        "pursuer_share(eps, period='W'); result = episode_summary(eps, events=ev)",
    ),
    "cycles.daily_cycle_reports": (
        "from patterns.cycles import daily_cycle_reports",
        "result = daily_cycle_reports(ch)",
    ),
    "topics.conflict_log + topic_recurrence": (
        "from patterns.topics import conflict_log, topic_recurrence",
        "c = conflict_log(ev, ch); result = topic_recurrence(c, events=ev)",
    ),
    "regulation.signal_frequency + signal_cooccurrence": (
        "from patterns.topics import conflict_log\n"
        "from patterns.regulation import signal_frequency, signal_cooccurrence\n"
        "c = conflict_log(ev, ch)",
        "signal_frequency(ch); result = signal_cooccurrence(ch, conflicts=c)",
    ),
    "regulation.lagged_association": (
        "from patterns.regulation import lagged_association",
        "result = lagged_association(ch)",
    ),
    "trends.daily/weekly/rolling_connection": (
        "from patterns.trends import daily_connection, weekly_connection, rolling_connection",
        "d = daily_connection(ch); weekly_connection(d); result = rolling_connection(d)",
    ),
    "trends.theil_sen + trend_tests": (
        "from patterns.trends import daily_connection, theil_sen, trend_tests\n"
        "d = daily_connection(ch)",
        "theil_sen(d); result = trend_tests(d)",
    ),
    "trends.change_points": (
        "from patterns.trends import daily_connection, change_points\nd = daily_connection(ch)",
        "result = change_points(d)",
    ),
    "trends.partner_agreement + lonely_together": (
        "from patterns.trends import daily_connection, partner_agreement, lonely_together\n"
        "d = daily_connection(ch)",
        "partner_agreement(d); result = lonely_together(ch)",
    ),
    "indicators": (
        "from patterns.indicators import indicators",
        "result = indicators(exp)",
    ),
}

METRICS = ("from patterns.metrics import couple_week_metrics", "result = couple_week_metrics(exp)")
METRICS_DASK = (
    "from patterns.metrics import couple_week_metrics",
    "result = couple_week_metrics(exp, engine='dask')",
)

PLAIN_COMMAND = "plain read as a command: python -c 'import pandas; read_csv ×2'"

BASE_SETUP = """
import pickle
with open(__PICKLE__, "rb") as f:
    exp = pickle.load(f)
ev, ch = exp.events, exp.checkins
"""


def run_size(size: str, *, only: set[str] | None, dask: bool) -> list[Measurement]:
    """All measurements for one size, in order (the first one is the floor)."""
    export = common.export_dir(size)
    pickle_path = common.loaded_pickle(size)
    setup = BASE_SETUP.replace("__PICKLE__", repr(str(pickle_path)))
    warm = size == "small"  # one couple: first-call import costs would dominate
    want = (lambda name: True) if not only else (lambda name: any(o in name for o in only))
    rows: list[Measurement] = []

    def add(m: Measurement) -> None:
        rows.append(m)
        status = (
            f"{m.seconds:8.2f} s (cpu {m.cpu_seconds:7.2f} s) {m.peak_mb:8,.0f} MB"
            if m.ok
            else f"failed: {m.error}"
        )
        print(f"  [{size}] {m.name:<48} {status}", flush=True)

    add(
        common.measure_code(
            "plain read: pandas.read_csv events + checkins",
            f"result = pd.read_csv({str(export / 'events.csv')!r})\n"
            f"pd.read_csv({str(export / 'checkins.csv')!r})",
            setup="import pandas as pd",
        )
    )
    # The same read as a whole command: ``patterns metrics`` is timed as a command, so its
    # CPU seconds include starting Python and importing pandas (~0.7 s here); the fair
    # floor for it pays the same start-up.
    add(
        common.measure_command(
            PLAIN_COMMAND,
            [
                common.PYTHON,
                "-c",
                "import pandas as pd\n"
                f"pd.read_csv({str(export / 'events.csv')!r})\n"
                f"pd.read_csv({str(export / 'checkins.csv')!r})",
            ],
        )
    )
    add(
        common.measure_code(
            "plain read, pyarrow engine (for reference)",
            f"result = pd.read_csv({str(export / 'events.csv')!r}, engine='pyarrow')\n"
            f"pd.read_csv({str(export / 'checkins.csv')!r}, engine='pyarrow')",
            setup="import pandas as pd\nimport pyarrow.csv",
        )
    )
    if want("load_export"):
        add(
            common.measure_code(
                "load_export",
                f"exp = load_export({str(export)!r}); result = exp.events",
                setup="from patterns.io import load_export",
            )
        )
    analysis_rows = []
    for name, (extra, code) in ANALYSES.items():
        if not want(name):
            continue
        m = common.measure_code(name, code, setup=setup + "\n" + extra, warmup=warm)
        add(m)
        analysis_rows.append(m)
    if analysis_rows and all(m.ok for m in analysis_rows):
        total = Measurement(
            "all analyses above (sum)",
            sum(m.seconds for m in analysis_rows),
            max(m.peak_bytes for m in analysis_rows),
            cpu_seconds=sum(m.cpu_seconds for m in analysis_rows),
        )
        rows.append(total)
        print(f"  [{size}] {total.name:<48} {total.seconds:8.2f} s", flush=True)
    if want("couple_week_metrics"):
        add(
            common.measure_code(
                "couple_week_metrics (pandas)",
                METRICS[1],
                setup=setup + METRICS[0],
                warmup=warm,
            )
        )
    if dask and want("dask"):
        add(
            common.measure_code(
                "couple_week_metrics (dask, LocalCluster 2×1)",
                METRICS_DASK[1],
                setup=setup + METRICS_DASK[0],
            )
        )
    out = common.DATA / f"metrics_{size}.csv"
    if want("patterns metrics"):
        add(
            common.measure_command(
                "patterns metrics EXPORT -o metrics.csv (end to end)",
                [str(common.BIN / "patterns"), "metrics", str(export), "-o", str(out)],
            )
        )
    if dask and want("patterns metrics"):
        add(
            common.measure_command(
                "patterns metrics --engine dask (end to end)",
                [
                    str(common.BIN / "patterns"),
                    "metrics",
                    str(export),
                    "-o",
                    str(out),
                    "--engine",
                    "dask",
                ],
            )
        )
    if want("patterns report"):
        out_dir = common.DATA / f"report_{size}"
        shutil.rmtree(out_dir, ignore_errors=True)
        add(
            common.measure_command(
                "patterns report, one couple (all notebooks)",
                [
                    str(common.BIN / "patterns"),
                    "report",
                    str(export),
                    "--couple",
                    "c001",
                    "--out",
                    str(out_dir),
                    "--quiet",
                    # simulated consent ends with the simulated study period, which may be
                    # past; the benchmark measures the work, not the refusal
                    "--no-consent-check",
                ],
            )
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="small,medium,large")
    ap.add_argument("--only", default="", help="Comma-separated substrings of step names.")
    ap.add_argument("--dask", action="store_true", help="Also time the Dask engine.")
    ap.add_argument("--scripts", default="none", help="all, none, or e.g. load,sequences")
    args = ap.parse_args(argv)
    sizes = [s for s in args.sizes.split(",") if s]
    for s in sizes:
        if s not in common.SIZES:
            ap.error(f"--sizes: unknown size {s!r}; choose from {sorted(common.SIZES)}")
    only = {o for o in args.only.split(",") if o} or None

    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    import os

    header = (
        f"Benchmarks, {stamp}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}. Each step in a fresh "
        "process; seconds = wall time of the step only; peak MB = peak RSS of that process "
        "(includes the input it holds); × plain read = seconds / plain pandas.read_csv."
    )
    print(header)
    md = ["# Benchmark results", "", header, ""]
    raw = {}
    for size in sizes:
        couples, days = common.SIZES[size]
        common.export_dir(size)
        n = common.count_rows(size)
        title = (
            f"{size}: {couples:,} couple(s) × {days} days — {n['events']:,} events, "
            f"{n['checkins']:,} check-ins"
        )
        print(f"\n## {title}", flush=True)
        rows = run_size(size, only=only, dask=args.dask)
        floor = rows[0]
        floor_cmd = next((m for m in rows if m.name == PLAIN_COMMAND), None)
        table = common.markdown_table(rows, floor=floor, floor_command=floor_cmd)
        print(table, flush=True)
        md += [f"## {title}", "", table, ""]
        raw[size] = [m.__dict__ for m in rows]

    scripts = []
    if args.scripts != "none":
        names = sorted(p.stem.removeprefix("bench_") for p in common.HERE.glob("bench_*.py"))
        scripts = names if args.scripts == "all" else args.scripts.split(",")
    for name in scripts:
        path = common.HERE / f"bench_{name}.py"
        print(f"\n## {path.name}", flush=True)
        proc = subprocess.run([common.PYTHON, str(path)], capture_output=True, text=True)
        text = proc.stdout + (
            f"\n(exit {proc.returncode}) {proc.stderr[-500:]}" if proc.returncode else ""
        )
        print(text, flush=True)
        md += [f"## {path.name}", "", "```", text.rstrip(), "```", ""]

    common.RESULTS.mkdir(parents=True, exist_ok=True)
    (common.RESULTS / "latest.md").write_text("\n".join(md))
    common.write_json(common.RESULTS / "latest.json", raw)
    print(f"\nwritten: {common.RESULTS / 'latest.md'}")


if __name__ == "__main__":
    main()
