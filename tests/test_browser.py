"""The reports in a real browser: headless Chromium (Debian ``chromium``), no network for
the page, opens index.html and a couple's report from file:// and checks that every chart
drew, the console stayed clean and no request left the machine.

Without Chromium the tests skip with a loud reason; with ``PATTERNS_REQUIRE_BROWSER=1``
(set by ``.ci/run``) the skip becomes a failure. To check another export's reports, call
``_browser.assert_reports_offline(out_dir)`` (see tests/_browser.py).
"""

from __future__ import annotations

import re

import pytest

from _browser import assert_reports_offline, open_pages

pytestmark = pytest.mark.browser


def test_harness_catches_outside_requests_scripts_and_console_errors(tmp_path):
    # Known truth: a page that breaks every rule must be caught, or the real test is blind.
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><title>bad</title>"
        '<figure class="chart"><svg width="10" height="10"><rect width="10" height="10"/>'
        '</svg></figure><figure class="chart"><div>vega failed</div></figure>'
        '<img src="https://cdn.example.org/pixel.png">'
        "<script>window.__pwned = 1; console.error('boom')</script>",
        encoding="utf-8",
    )
    page = open_pages([bad.as_uri()])[0]
    assert page.outside_requests == ["https://cdn.example.org/pixel.png"]
    assert "boom" in page.console_errors
    assert any("ERR_NAME_NOT_RESOLVED" in e for e in page.log_errors)
    assert page.probe["scripts"] == 1 and page.probe["injected"] is True
    assert (page.probe["charts"], page.probe["rendered"]) == (2, 1)


@pytest.mark.notebooks
@pytest.mark.slow
def test_index_and_couple_report_render_offline(sample_report):
    assert sample_report.returncode == 0, sample_report.stderr
    pages = assert_reports_offline(sample_report.out)
    index, report = pages[0], pages[1]
    assert len(pages) == 2  # one couple in this run: index + its report
    assert re.fullmatch(r"Reports: \d+ couple\(s\)", index.probe["title"])
    assert re.fullmatch(r"Couple report \d+ of \d+", report.probe["title"])
    assert report.probe["code_cells"] == 0  # therapist audience: no code
    assert report.probe["charts"] >= 1
    assert "Partner A" in report.probe["text"]
    assert "Traceback" not in report.probe["text"]
