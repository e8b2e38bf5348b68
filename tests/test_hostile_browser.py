"""A report built from the script-injection export (tests/hostile/build.py), opened in
headless Chromium with no network: the injected script never runs (``document.title`` is
not ``PWNED``, ``window.__pwned`` is undefined), the pages hold no script element, and no
request leaves the machine. Run with ``--show-text`` and free-text consent from both
partners, so every path by which notes or answers could reach a page is open.

Slow (all notebooks run through papermill, ~2 min on two cores); skipped loudly without
Chromium, a failure under ``PATTERNS_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _browser import assert_reports_offline, require_chromium
from _report_fixtures import first_couple, run_cli
from hostile.build import SCRIPT_MARKER, script_injection_export

pytestmark = [pytest.mark.browser, pytest.mark.notebooks, pytest.mark.slow]


@pytest.fixture(scope="module")
def injected_report(tmp_path_factory):
    require_chromium()  # skip (or fail in CI) before the expensive run
    base = tmp_path_factory.mktemp("hostile-report")
    export = script_injection_export(base)
    return run_cli(export, base / "out", first_couple(export), "--show-text", "--jobs", "2")


def test_injected_script_never_runs_and_nothing_leaves(injected_report) -> None:
    assert injected_report.returncode == 0, injected_report.stderr
    pages = assert_reports_offline(injected_report.out)
    assert len(pages) == 2
    # the payload did reach the couple's page (--show-text, both consent to free_text) and
    # is shown as text, so this test exercises the escaping rather than an absence
    assert SCRIPT_MARKER in pages[1].probe["text"]
    for page in pages:
        assert page.probe["title"] != "PWNED"
        assert page.probe["injected"] is False
        assert page.requests and all(
            u.startswith(("file:", "data:", "blob:", "about:")) for u in page.requests
        )


def test_payload_not_in_raw_html(injected_report) -> None:
    out = Path(injected_report.out)
    for html in [out / "index.html", *out.glob("*/report.html")]:
        text = html.read_text(encoding="utf-8")
        assert SCRIPT_MARKER not in text  # only its escaped form
        assert "onerror=" not in text.lower()
        assert "<script" not in text.lower()
