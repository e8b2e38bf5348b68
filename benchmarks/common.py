"""Shared benchmark machinery: cached simulated exports and isolated measurements.

Every measurement runs in a fresh Python subprocess, so imports, caches and memory of one
measurement never leak into the next. Two kinds:

- :func:`measure_code` runs a snippet in a child: an untimed ``setup`` (imports, reading the
  cached tables), then the timed ``code``. The child reports the wall time of ``code`` alone
  and its own peak resident set size (``ru_maxrss`` of the whole child, so it includes the
  input tables it holds: the peak a user would see doing the same thing in a fresh session).
- :func:`measure_command` runs a command line (e.g. ``patterns metrics ...``) and reports its
  wall time and the peak RSS of the largest process in its tree, read from the child's own
  resource usage with ``os.wait4`` (per child, so one command's peak cannot bleed into the
  next, which ``getrusage(RUSAGE_CHILDREN)`` in a long-lived parent would do: that value is
  a running maximum over all children ever waited for).

Simulated exports (:func:`patterns.simulate_export`, seed 0) are written once under
``benchmarks/_data/`` (gitignored) and reused. A loaded copy of each (``load_export`` output
pickled, with its time zones) is cached beside it so that analysis measurements do not pay
for parsing in every child; the load itself is measured separately.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "_data"
RESULTS = HERE / "results"
PYTHON = sys.executable
BIN = Path(PYTHON).parent

#: size name -> (couples, days)
SIZES: dict[str, tuple[int, int]] = {
    "small": (1, 365),
    "medium": (100, 180),
    "large": (1000, 180),
}
SEED = 0


@dataclass
class Measurement:
    """Wall time (seconds) and peak resident memory (bytes) of one measured step."""

    name: str
    seconds: float
    peak_bytes: int
    rows: int | None = None
    cpu_seconds: float = float("nan")
    ok: bool = True
    error: str = ""
    #: "code" (timed in-process, imports untimed) or "command" (a whole process, start-up
    #: and imports included)
    kind: str = "code"

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20


def export_dir(size: str) -> Path:
    """Folder of the simulated export for ``size`` (written on first use)."""
    couples, days = SIZES[size]
    path = DATA / f"sim_{couples}x{days}_seed{SEED}"
    if not (path / "manifest.json").exists():
        # in a child so the simulator's memory is not held by the benchmark driver
        code = (
            "from patterns.simulate import simulate_export\n"
            f"simulate_export(couples={couples}, days={days}, seed={SEED}, out={str(path)!r})\n"
        )
        subprocess.run([PYTHON, "-c", code], check=True)
    return path


def loaded_pickle(size: str) -> Path:
    """A pickle of ``load_export(export_dir(size))`` (the Export object), made on first use."""
    src = export_dir(size)
    path = src.with_name(src.name + "_loaded.pkl")
    if not path.exists():
        code = (
            "import pickle\nfrom patterns.io import load_export\n"
            f"exp = load_export({str(src)!r})\n"
            f"with open({str(path)!r}, 'wb') as f: pickle.dump(exp, f, protocol=5)\n"
        )
        subprocess.run([PYTHON, "-c", code], check=True)
    return path


_CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
__setup__
__warmup__
_t0, _c0 = time.perf_counter(), time.process_time()
__code__
_dt, _cpu = time.perf_counter() - _t0, time.process_time() - _c0
_rows = None
try:
    _rows = int(len(result))
except Exception:
    pass
_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
print("\n@@MEASURE@@" + json.dumps(
    {"seconds": _dt, "cpu_seconds": _cpu, "peak_bytes": _peak, "rows": _rows}))
"""


def measure_code(
    name: str, code: str, *, setup: str = "", warmup: bool = False, timeout: float = 3600
) -> Measurement:
    """Time ``code`` (after an untimed ``setup``) in a fresh Python process.

    ``code`` may assign ``result``; its ``len`` is reported as ``rows``. With ``warmup``,
    ``code`` runs once untimed first (lazy imports and first-call caches paid, as in a
    notebook session after the first cell), and the second run is timed.
    """
    code = textwrap.dedent(code)
    src = (
        _CHILD.replace("__setup__", textwrap.dedent(setup))
        .replace("__warmup__", code if warmup else "")
        .replace("__code__", code)
    )
    proc = subprocess.run(
        [PYTHON, "-c", src], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    marker = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@MEASURE@@")]
    if proc.returncode != 0 or not marker:
        err = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return Measurement(name, float("nan"), 0, ok=False, error=err)
    data = json.loads(marker[-1][len("@@MEASURE@@") :])
    return Measurement(
        name,
        data["seconds"],
        data["peak_bytes"],
        rows=data["rows"],
        cpu_seconds=data["cpu_seconds"],
    )


def measure_command(name: str, argv: list[str], *, timeout: float = 3600) -> Measurement:
    """Wall time and peak RSS (largest process in the tree) of a command line."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=False
    )
    # wait4 returns this child's own rusage (including its waited-for descendants)
    deadline = t0 + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    dt = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.stderr.close()
    ok = proc.returncode == 0
    err = "" if ok else (stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    cpu = usage.ru_utime + usage.ru_stime  # the whole process tree, including start-up
    return Measurement(
        name, dt, usage.ru_maxrss * 1024, ok=ok, error=err, cpu_seconds=cpu, kind="command"
    )


def count_rows(size: str) -> dict[str, int]:
    """Data rows in the export's events.csv and checkins.csv (for the table header)."""
    out = {}
    for table in ("events", "checkins"):
        with open(export_dir(size) / f"{table}.csv", "rb") as f:
            out[table] = sum(1 for _ in f) - 1
    return out


def markdown_table(
    rows: list[Measurement], *, floor: Measurement, floor_command: Measurement | None = None
) -> str:
    """The measurements as a Markdown table with ratios to the plain read (``floor``).

    Wall time is what a user waits; CPU time (user + system of the measured process) is
    also shown because the benchmark machine is shared and wall time swells with its load.
    ``floor_command`` is the plain read run as a whole command (interpreter start-up and
    ``import pandas`` included); whole-command steps (``patterns metrics``) are also given
    as a ratio to it, so that both sides of that ratio pay the same start-up.
    """
    lines = [
        "| step | wall s | × plain read | CPU s | CPU × plain read | CPU × read command "
        "| peak MB | rows |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in rows:
        if not m.ok:
            lines.append(f"| {m.name} | failed: {m.error[:80]} | | | | | | |")
            continue
        rows_txt = "" if m.rows is None else f"{m.rows:,}"
        vs_cmd = (
            f"{m.cpu_seconds / floor_command.cpu_seconds:.2f}"
            if floor_command is not None and floor_command.ok and m.kind == "command"
            else ""
        )
        lines.append(
            f"| {m.name} | {m.seconds:.2f} | {m.seconds / floor.seconds:.2f} "
            f"| {m.cpu_seconds:.2f} | {m.cpu_seconds / floor.cpu_seconds:.2f} | {vs_cmd} "
            f"| {m.peak_mb:,.0f} | {rows_txt} |"
        )
    return "\n".join(lines)


def write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, default=str))


def report_run(i: int, runs: dict[str, list[Measurement]]) -> None:
    """Print one line for interleaved run ``i`` (0-based): each kind's latest wall and CPU
    time, or its error."""
    print(
        f"run {i + 1}: "
        + " | ".join(
            f"{k} wall {v[-1].seconds:.2f} s cpu {v[-1].cpu_seconds:.2f} s"
            if v[-1].ok
            else f"{k} failed: {v[-1].error}"
            for k, v in runs.items()
        ),
        flush=True,
    )
