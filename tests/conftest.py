"""Shared fixtures. Randomness only through seeds; paths through tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"

#: Report runs shared by the notebook, browser and hostile-input tests (loaded here, once,
#: so that test modules importing its helpers do not trigger assertion-rewrite warnings).
pytest_plugins = ["_report_fixtures"]


@pytest.fixture(scope="session")
def sample_path() -> Path:
    """The committed synthetic sample export."""
    return SAMPLE


@pytest.fixture(scope="session")
def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(autouse=True)
def _no_hard_exit(monkeypatch):
    """``patterns metrics`` run as the console command ends with ``os._exit``: inside the
    test process that would end pytest itself with exit code 0 and no report, so it fails
    loudly here instead (tests that mean to reach it stub it, or run a subprocess)."""
    from patterns import cli

    def refuse(code: int) -> None:
        raise AssertionError(f"cli._hard_exit({code}) called inside the test process")

    monkeypatch.setattr(cli, "_hard_exit", refuse)
