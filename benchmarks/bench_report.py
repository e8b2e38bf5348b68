"""Wall time of `patterns report`: one couple's full report set, and the whole sample.

Usage::

    .venv/bin/python benchmarks/bench_report.py [--export data/sample] [--jobs 2]

Copies the export to ``benchmarks/_data/`` (gitignored) with open-ended consent (the
sample's consent periods end with its data, so today's consent check would refuse it),
then runs the command line exactly as a user would, once for one couple and once for every
couple, and prints wall times, per-notebook times from ``run.json`` and the load average
(the machine is shared: report the figures with it). Results also go to
``benchmarks/results/report.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # benchmarks/ is not a package; its path is set just above

ROOT, DATA, RESULTS = common.ROOT, common.DATA, common.RESULTS
PATTERNS = common.BIN / "patterns"
TARGET_ONE_COUPLE_S = 30.0


def prepare_export(src: Path) -> Path:
    dest = DATA / "report_export"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("truth", "README.md"))
    manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    for couple in manifest.get("couples", []):
        for record in couple.get("consent", {}).get("partners", {}).values():
            record.setdefault("period", {})["end"] = None
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return dest


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(export: Path, out: Path, jobs: int, couples: list[str]) -> dict:
    if out.exists():
        shutil.rmtree(out)
    cmd = [str(PATTERNS), "report", str(export), "--out", str(out), "--jobs", str(jobs), "--quiet"]
    for c in couples:
        cmd += ["--couple", c]
    load_before = os.getloadavg()[0]
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    per_nb = [n["seconds"] for c in record["couples"] for n in c["notebooks"]]
    return {
        "couples": len(record["couples"]),
        "notebook_runs": len(per_nb),
        "jobs": jobs,
        "wall_s": round(wall, 1),
        # CPU seconds of the command and every process it waited for (papermill, kernels):
        # a figure that does not depend on how busy the shared machine is.
        "cpu_s": round(cpu, 1),
        "median_notebook_s": round(statistics.median(per_nb), 1) if per_nb else None,
        "max_notebook_s": round(max(per_nb), 1) if per_nb else None,
        "exit_code": proc.returncode,
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--export", type=Path, default=ROOT / "data" / "sample")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--skip-all", action="store_true", help="only the one-couple run")
    args = ap.parse_args()
    export = prepare_export(args.export)
    manifest = json.loads((export / "manifest.json").read_text(encoding="utf-8"))
    couples = sorted(c["couple_id"] for c in manifest["couples"])
    one = couples[1] if len(couples) > 1 else couples[0]
    results = {"cpus": os.cpu_count()}
    results["one_couple"] = run(export, DATA / "report_one", args.jobs, [one])
    if not args.skip_all:
        results["all_couples"] = run(export, DATA / "report_all", args.jobs, couples)
    common.write_json(RESULTS / "report.json", results)
    for name, r in results.items():
        if isinstance(r, dict):
            print(
                f"{name:12s} couples={r['couples']} notebooks={r['notebook_runs']} "
                f"jobs={r['jobs']} wall={r['wall_s']} s cpu={r['cpu_s']} s "
                f"(median notebook {r['median_notebook_s']}"
                f" s, max {r['max_notebook_s']} s) exit={r['exit_code']} "
                f"load {r['load_before']}→{r['load_after']} on {results['cpus']} CPUs"
            )
    wall = results["one_couple"]["wall_s"]
    verdict = "meets" if wall < TARGET_ONE_COUPLE_S else "MISSES"
    print(f"one couple: {wall} s — {verdict} the {TARGET_ONE_COUPLE_S:.0f} s target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
