"""The report notebooks: stored clean, documented parameters, and every one runs through
papermill on the sample export and on an export whose check-ins table is missing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from click.testing import CliRunner
from papermill.cli import papermill as papermill_cli

from patterns.report import PARAMETERS, list_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = list_notebooks()
EXPECTED = [
    "00_summary",
    "01_data_quality",
    "02_bids",
    "03_pursue_withdraw",
    "04_topics",
    "05_trends",
    "06_regulation",
]


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


# --- the committed notebooks (fast) -------------------------------------------------------


def test_notebook_set_is_numbered_in_reading_order():
    names = [p.stem for p in NOTEBOOKS]
    assert names == sorted(names)
    assert set(names) <= set(EXPECTED), names
    assert "01_data_quality" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs_and_valid_metadata(path):
    nb = _read(path)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["language_info"]["name"] == "python"
    assert "papermill" not in nb.metadata
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a code cell has stored outputs"
            assert cell.execution_count is None
            assert not re.search(r"^\s*(def|class|lambda)\b", cell.source, re.M), cell.source
        assert "papermill" not in cell.metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_then_one_validation_cell(path):
    nb = _read(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"]
    lines = code[0].source.splitlines()
    assert [ln.split(":")[0] for ln in lines] == list(PARAMETERS)
    for line in lines:
        assert re.match(r"^\w+: (str|bool) = .+  # \S", line), line
    assert "report.prepare(" in code[1].source
    assert all("prepare(" not in c.source for c in code[2:])


def test_committed_notebooks_equal_the_builder_output(tmp_path):
    builder = ROOT / "notebooks" / "build.py"
    subprocess.run([sys.executable, str(builder), str(tmp_path)], check=True)
    built = sorted(p.name for p in tmp_path.glob("*.ipynb"))
    assert built == sorted(p.name for p in NOTEBOOKS)
    for name in built:
        assert (tmp_path / name).read_text() == (ROOT / "notebooks" / name).read_text(), name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_help_notebook_lists_every_parameter_with_help(path):
    result = CliRunner().invoke(papermill_cli, ["--help-notebook", str(path)])
    assert result.exit_code == 0, result.output
    for name, (kind, _default, help_text) in PARAMETERS.items():
        line = re.search(rf"^\s+{name}: {kind.__name__} \(default .*$", result.output, re.M)
        assert line, f"{name} missing from --help-notebook:\n{result.output}"
        assert help_text in result.output, f"help of {name} missing"


# --- executed on the sample (slow; one shared run) ---------------------------------------


def _outputs(nb) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def _output_text(nb) -> str:
    parts = []
    for o in _outputs(nb):
        data = o.get("data", {})
        parts.append(str(data.get("text/html", "")) + str(data.get("text/plain", "")))
        parts.append(str(o.get("text", "")))
    return "\n".join(parts)


@pytest.mark.notebooks
@pytest.mark.slow
def test_every_notebook_runs_on_the_sample(sample_report):
    r = sample_report
    assert r.returncode == 0, r.stderr
    folder = r.out / r.run_record["couples"][0]["folder"]
    for nb_path in NOTEBOOKS:
        executed = _read(folder / nb_path.name)
        errors = [o for o in _outputs(executed) if o.get("output_type") == "error"]
        assert not errors, f"{nb_path.name}: {errors}"
        assert executed.metadata["papermill"]["parameters"]["couple_id"] == r.couple
        # the kept notebook names the export the user gave, not the deleted slice
        shown = executed.metadata["papermill"]["parameters"]["export_path"]
        assert shown == str(r.export.resolve())
        injected = [
            c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])
        ]
        assert f"export_path = {shown!r}  # read through its validated" in injected[0].source
        assert ".staging" not in injected[0].source
        assert "Traceback" not in _output_text(executed)
    assert (folder / "report.html").exists()
    record = r.run_record
    assert record["outcome"] == "ok"
    runs = record["couples"][0]["notebooks"]
    assert [n["notebook"] for n in runs] == [p.stem for p in NOTEBOOKS]
    assert all(n["status"] == "ok" and n["attempts"] == 1 for n in runs)


@pytest.mark.notebooks
@pytest.mark.slow
def test_every_notebook_says_when_checkins_are_missing(missing_table_report):
    r = missing_table_report
    assert r.returncode == 0, r.stderr
    folder = r.out / r.run_record["couples"][0]["folder"]
    quality = _read(folder / "01_data_quality.ipynb")
    text = _output_text(quality)
    assert "Not shown: daily check-ins — the export has no data for it in this period." in text
    for nb_path in NOTEBOOKS:
        executed = _read(folder / nb_path.name)
        assert not [o for o in _outputs(executed) if o.get("output_type") == "error"]
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert 'class="missing"' in html


@pytest.mark.notebooks
@pytest.mark.slow
def test_report_html_is_offline_codeless_and_private(sample_report):
    r = sample_report
    folder = r.out / r.run_record["couples"][0]["folder"]
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"<script\b", html, re.I)
    assert not re.search(r"<link\b", html, re.I)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert "require.js" not in html and "MathJax" not in html
    # therapist audience: no code cells, no prompts, no parameter values
    assert 'class="input_area"' not in html and "highlight" not in html
    assert "report.prepare" not in html and "In&nbsp;[" not in html
    # no free text and no partner ids; the title identifies nothing
    events = pd.read_csv(r.export / "events.csv", dtype=str, keep_default_na=False)
    checkins = pd.read_csv(r.export / "checkins.csv", dtype=str, keep_default_na=False)
    texts = {t for t in [*events["note"], *checkins["answer"]] if len(t) >= 12}
    assert texts, "the sample should carry notes/answers for this check to mean anything"
    leaked = [t for t in texts if t in html]
    assert not leaked, leaked[:3]
    manifest = json.loads((r.export / "manifest.json").read_text())
    partner_ids = [p for c in manifest["couples"] for p in c["partners"]]
    assert not [p for p in partner_ids if p in html]
    title = re.search(r"<title>(.*?)</title>", html).group(1)
    assert re.fullmatch(r"Couple report \d+ of \d+", title)
    assert re.search(r'<figure [^>]*class="chart"', html) and "<svg" in html  # charts drawn


@pytest.mark.notebooks
@pytest.mark.slow
def test_report_page_does_not_depend_on_papermill_random_cell_ids(sample_report, tmp_path):
    from patterns.report import couple_report_html

    r = sample_report
    entry = r.run_record["couples"][0]
    folder = r.out / entry["folder"]
    copies = []
    for nb_path in NOTEBOOKS:
        nb = _read(folder / nb_path.name)
        for cell in nb.cells:  # papermill's injected cell gets a fresh uuid on every run
            if "injected-parameters" in cell.metadata.get("tags", []):
                cell["id"] = "0123abcd"
        nbformat.write(nb, str(tmp_path / nb_path.name))
        copies.append(tmp_path / nb_path.name)
    html = (folder / "report.html").read_text(encoding="utf-8")
    title = unescape(re.search(r"<title>(.*?)</title>", html).group(1))
    meta = [unescape(m) for m in re.findall(r'<p class="meta">(.*?)</p>', html)[:3]]
    assert couple_report_html(copies, title=title, meta=meta) == html
