"""Redaction by default, end to end: reports built from the script-injection export show
the planted notes/answers only when ``--show-text`` is given AND both partners consent to
``free_text`` (the positive case is in tests/test_hostile_browser.py, all notebooks). Runs
the summary notebook, the one that can show answers (slow: papermill)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from _report_fixtures import first_couple, run_cli
from hostile.build import script_injection_export

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

MARK = "PWNED"  # part of the payload, escaped or not


def _html(out: Path) -> str:
    pages = [out / "index.html", *out.glob("*/report.html")]
    assert len(pages) == 2
    return "".join(p.read_text(encoding="utf-8") for p in pages)


@pytest.mark.parametrize(
    ("free_text", "flags", "shown"),
    [
        (True, ["--show-text"], True),  # positive control: both allow it and it is asked for
        (True, [], False),  # consent allows, flag not given
        (False, ["--show-text"], False),  # flag given, one partner does not allow free text
    ],
    ids=["flag+consent", "no-flag", "no-consent"],
)
def test_free_text_needs_flag_and_consent(tmp_path: Path, free_text, flags, shown) -> None:
    export = script_injection_export(tmp_path, free_text=free_text)
    run = run_cli(
        export, tmp_path / "out", first_couple(export), "--notebook", "00_summary", *flags
    )
    assert run.returncode == 0, run.stderr
    html = _html(tmp_path / "out")
    assert (MARK in html) is shown
    assert "<script" not in html.lower()


def test_path_traversal_id_stays_inside_output(tmp_path: Path) -> None:
    from hostile.build import path_traversal_ids

    export = path_traversal_ids(tmp_path / "export")
    out = tmp_path / "reports" / "out"
    run = run_cli(export, out, "../../etc", "--notebook", "00_summary")
    assert run.returncode == 0, run.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file() and export not in p.parents]
    assert written and all(out in p.parents for p in written)
    folders = [p.name for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1 and folders[0].startswith("etc-")
    index = (out / "index.html").read_text(encoding="utf-8")
    hrefs = re.findall(r'href="([^"]*)"', index)
    assert hrefs and not [h for h in hrefs if ".." in h or h.startswith("/")]
