"""Shared, expensive report runs for tests/test_notebooks.py and tests/test_browser.py.

Each run happens once per test session even under ``pytest -n 2 --dist loadfile``: workers
share ``tmp_path_factory.getbasetemp().parent`` and take an exclusive file lock, so the
second worker reuses the first one's output. ``tests/conftest.py`` registers this module
as a plugin, so any test can ask for ``sample_report`` / ``missing_table_report``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The export the report tests run on (override to run them on another export).
SAMPLE = Path(os.environ.get("PATTERNS_TEST_SAMPLE", ROOT / "data" / "sample"))
PATTERNS = Path(sys.executable).with_name("patterns")


@dataclass
class ReportRunResult:
    export: Path
    out: Path
    couple: str
    returncode: int
    stdout: str
    stderr: str

    @property
    def run_record(self) -> dict:
        return json.loads((self.out / "run.json").read_text(encoding="utf-8"))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def consent_open_ended(export: Path) -> None:
    """Make every partner's consent period open-ended, so consent is valid on the day the
    test runs (the sample's consent periods end with its data, which is in the past)."""
    manifest_path = export / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for couple in manifest.get("couples", []):
        for record in couple.get("consent", {}).get("partners", {}).values():
            record.setdefault("period", {})["end"] = None
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def sample_copy(dest: Path) -> Path:
    """A copy of data/sample (without its truth folder) with open-ended consent."""
    # The sample is committed: its absence is a failure, not a reason to skip.
    assert (SAMPLE / "manifest.json").exists(), f"no sample export in {SAMPLE} (run `make sample`)"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns("truth", "README.md"))
    consent_open_ended(dest)
    return dest


def couple_ids(export: Path) -> list[str]:
    manifest = json.loads((export / "manifest.json").read_text(encoding="utf-8"))
    return sorted(c["couple_id"] for c in manifest["couples"])


def first_couple(export: Path) -> str:
    return couple_ids(export)[0]


def run_cli(
    export: Path, out: Path, couple: str, *args: str, timeout: float = 900
) -> ReportRunResult:
    """``patterns report EXPORT --out OUT --couple C ARGS`` in a subprocess, as a user
    would run it."""
    proc = subprocess.run(
        [
            str(PATTERNS),
            "report",
            str(export),
            "--out",
            str(out),
            "--couple",
            couple,
            "--quiet",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    return ReportRunResult(export, out, couple, proc.returncode, proc.stdout, proc.stderr)


def _shared_run(tmp_path_factory, name: str, build) -> ReportRunResult:
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's basetemp is a child of the session's; without xdist the
    # parent is shared by every session, so use the session's own basetemp.
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "report-runs"
    done = root / f"{name}.json"
    with _locked(root / f"{name}.lock"):
        if done.exists():
            data = json.loads(done.read_text())
            data["export"], data["out"] = Path(data["export"]), Path(data["out"])
            return ReportRunResult(**data)
        result = build(root / name)
        done.write_text(
            json.dumps({**result.__dict__, "export": str(result.export), "out": str(result.out)})
        )
        return result


@pytest.fixture(scope="session")
def sample_report(tmp_path_factory) -> ReportRunResult:
    """Every notebook, one couple of the sample export, ``--jobs 2``, consent checked."""

    def build(base: Path) -> ReportRunResult:
        export = sample_copy(base / "export")
        couples = couple_ids(export)
        # the second sample couple has pursue-withdraw episodes (the first has none)
        couple = couples[1] if len(couples) > 1 else couples[0]
        return run_cli(export, base / "out", couple, "--jobs", "2")

    return _shared_run(tmp_path_factory, "sample", build)


@pytest.fixture(scope="session")
def missing_table_report(tmp_path_factory) -> ReportRunResult:
    """Every notebook on a copy of the sample whose check-ins table is missing."""

    def build(base: Path) -> ReportRunResult:
        export = sample_copy(base / "export")
        for f in export.glob("checkins.*"):
            f.unlink()
        return run_cli(export, base / "out", first_couple(export), "--jobs", "2")

    return _shared_run(tmp_path_factory, "missing_checkins", build)
