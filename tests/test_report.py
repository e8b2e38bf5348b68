"""patterns.report and `patterns report`: parameters validated before papermill, consent
refusals, offline HTML assembly, the runner's failure handling and retry rule."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from typer.testing import CliRunner

from _report_fixtures import consent_open_ended
from patterns import report
from patterns.cli import app
from patterns.errors import ExportError
from patterns.report import (
    ConsentRefused,
    couple_report_html,
    list_notebooks,
    offline_problems,
    prepare,
    run_report,
    validate_parameters,
)
from patterns.simulate import simulate_export


@pytest.fixture(scope="module")
def small_export(tmp_path_factory) -> Path:
    """Two simulated couples × 21 days, consent valid today."""
    path = tmp_path_factory.mktemp("export")
    simulate_export(couples=2, days=21, seed=7, out=path)
    consent_open_ended(path)
    return path


def _withdrawn(src: Path, dest: Path) -> Path:
    """A copy of ``src`` in which the second partner of the first couple withdrew."""
    dest.mkdir()
    for f in src.glob("*.csv"):
        (dest / f.name).write_bytes(f.read_bytes())
    manifest = json.loads((src / "manifest.json").read_text())
    couple = manifest["couples"][0]
    b = couple["partners"][1]
    couple["consent"]["partners"][b]["withdrawn_at"] = "2026-01-10"
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


# --- validate_parameters -------------------------------------------------------------------


def test_validate_parameters_parses_and_defaults_to_first_couple():
    p = validate_parameters(
        couple_id="",
        start="2026-01-05",
        end="2026-02-01",
        intervention_date="2026-01-20",
        timezone="Europe/Amsterdam",
        couples=["c1", "c2"],
    )
    assert p.couple_id == "c1"
    assert (p.start.isoformat(), p.end.isoformat()) == ("2026-01-05", "2026-02-01")
    assert p.timezone == "Europe/Amsterdam" and p.audience == "therapist"
    plain = p.as_papermill()
    assert list(plain) == list(report.PARAMETERS)
    assert all(type(v) in (str, bool) for v in plain.values())
    assert plain["start"] == "2026-01-05" and plain["end"] == "2026-02-01"
    # a string id like "007" stays a string through the JSON/YAML handed to papermill
    assert json.loads(json.dumps({"couple_id": "007"})) == {"couple_id": "007"}


@pytest.mark.parametrize("func", [report.validate_parameters, report.prepare])
def test_signature_defaults_are_the_notebook_parameters(func):
    # PARAMETERS, validate_parameters and prepare each spell the parameter list out:
    # names, order and defaults must stay the same in all three.
    params = inspect.signature(func).parameters
    got = {n: params[n].default for n in params if n in report.PARAMETERS}
    assert list(got) == list(report.PARAMETERS)
    assert got == {n: default for n, (_, default, _) in report.PARAMETERS.items()}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"couple_id": "c9", "couples": ["c1", "c2"]},
            r"couple_id must be one of the export's couples \['c1', 'c2'\]; got 'c9'\. Fix: ",
        ),
        (
            {"start": "2026-02-01", "end": "2026-01-01"},
            r"end must be on or after start \(2026-02-01\); got '2026-01-01'\. Fix: swap",
        ),
        (
            {"audience": "client"},
            r"audience must be one of \['therapist', 'researcher'\]; got 'client'\. Fix:",
        ),
        ({"start": "01/02/2026"}, r"start must be an ISO date 'YYYY-MM-DD' or ''"),
        ({"intervention_date": "soon"}, r"intervention_date must be an ISO date"),
        ({"timezone": "Mars/Olympus"}, r"timezone must be an IANA zone such as"),
        ({"show_text": "yes"}, r"show_text must be True or False; got 'yes'"),
        ({"consent_check": 0}, r"consent_check must be True or False; got 0"),
        ({"couple_id": 7}, r"couple_id must be a string; got 7"),
        ({"export_path": " "}, r"export_path must be a path to an export"),
        ({"couples": []}, r"couple_id must be a couple of the export"),
    ],
)
def test_validate_parameters_errors_name_parameter_allowed_and_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        validate_parameters(**kwargs)


# --- notebook selection and offline HTML -------------------------------------------------


def test_list_notebooks_selection():
    every = list_notebooks()
    assert [p.stem for p in every] == sorted(p.stem for p in every)
    assert list_notebooks(["01"]) == list_notebooks(["data_quality"])
    assert list_notebooks(["01_data_quality.ipynb"])[0].name == "01_data_quality.ipynb"
    with pytest.raises(ValueError, match=r"run_report: notebook must be one of \["):
        list_notebooks(["99_nothing"])


@pytest.mark.parametrize(
    "snippet",
    [
        '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>',
        "<script>require(['x'])</script>",
        '<link rel="stylesheet" href="https://fonts.example/x.css">',
        '<img src="http://example.org/x.png">',
        '<img src="//example.org/x.png">',
        "<style>@import 'https://x/y.css';</style>",
        "<div style=\"background:url('https://x/y.png')\"></div>",
        '<iframe src="about:blank"></iframe>',
        '<svg><image xlink:href="https://x/y.png"/></svg>',
    ],
)
def test_offline_problems_flags_anything_that_loads(snippet):
    assert offline_problems(f"<p>ok</p>{snippet}")


def test_offline_problems_accepts_inline_svg_and_local_links():
    page = '<a href="c1/report.html">r</a><svg><rect width="1"/></svg><img src="data:x">'
    assert offline_problems(page) == []


def _executed(tmp_path: Path, name: str, *, error: bool = False, html: str = "") -> Path:
    code = new_code_cell("ctx.say('hello')", execution_count=1)
    code.outputs = [new_output("display_data", data={"text/html": html or "<p>hello</p>"})]
    if error:
        code.outputs.append(
            new_output("error", ename="ValueError", evalue="boom", traceback=["boom"])
        )
    nb = new_notebook(cells=[new_markdown_cell("# Title"), code])
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_couple_report_html_hides_code_for_therapists_only(tmp_path):
    nb = _executed(tmp_path, "01_x")
    therapist = couple_report_html([nb], title="Couple report 1 of 1")
    researcher = couple_report_html([nb], audience="researcher", title="Couple report 1 of 1")
    assert "ctx.say" not in therapist and "<p>hello</p>" in therapist
    assert "say" in researcher and "highlight" in researcher
    for page in (therapist, researcher):
        assert offline_problems(page) == []
        assert "Content-Security-Policy" in page and "default-src &#39;none&#39;" in page
        assert "<title>Couple report 1 of 1</title>" in page


def test_couple_report_html_escapes_title_meta_and_stamp(tmp_path):
    nb = _executed(tmp_path, "01_x")
    page = couple_report_html(
        [nb], title="<b>t</b>", meta=["id: <i>c1</i>"], stamp="<script>x</script>"
    )
    assert "<b>t</b>" not in page and "&lt;b&gt;t&lt;/b&gt;" in page
    assert "<i>c1</i>" not in page and "&lt;script&gt;x" in page


def test_couple_report_html_refuses_failed_or_unsafe_notebooks(tmp_path):
    with pytest.raises(ValueError, match=r"01_bad\.ipynb has error outputs: ValueError: boom"):
        couple_report_html([_executed(tmp_path, "01_bad", error=True)])
    unsafe = _executed(tmp_path, "02_cdn", html='<script src="https://cdn.x/vega.js"></script>')
    with pytest.raises(ValueError, match=r"would not be offline-safe: \['script element'"):
        couple_report_html([unsafe])
    with pytest.raises(ValueError, match=r"audience must be one of"):
        couple_report_html([], audience="public")


# --- prepare and the notebook helpers ----------------------------------------------------


def test_prepare_selects_couple_period_and_labels(small_export, capsys):
    ctx = prepare(export_path=str(small_export), couple_id="", start="2026-01-08", end="2026-01-14")
    assert ctx.couple_id == "c001"
    assert set(ctx.events["couple_id"]) == {"c001"}
    from patterns.timeutil import diary_day

    days = diary_day(ctx.checkins["ts"], ctx.checkins["couple_id"], ctx.timezones)
    assert days.min() >= pd.Timestamp("2026-01-08") and days.max() <= pd.Timestamp("2026-01-14")
    assert days.nunique() == 7
    assert ctx.labels == {"c001-a": "Partner A", "c001-b": "Partner B"}
    shown = ctx.labelled(ctx.events.head(5))
    assert "note" not in shown.columns and "couple_id" not in shown.columns
    assert set(shown["actor"]) <= {"Partner A", "Partner B"}
    assert str(shown["ts"].dtype) == "datetime64[ns]"  # local wall-clock time
    assert ctx.show_text is False  # not asked for


def test_prepare_show_text_needs_flag_and_consent(small_export):
    assert prepare(export_path=str(small_export), show_text=True).show_text is True
    manifest = json.loads((small_export / "manifest.json").read_text())
    assert "free_text" in manifest["couples"][0]["consent"]["partners"]["c001-a"]["categories"]


def test_prepare_refuses_without_consent_unless_unchecked(small_export, tmp_path, capsys):
    export = _withdrawn(small_export, tmp_path / "withdrawn")
    with pytest.raises(ConsentRefused, match=r"Partner B: rule withdrawn: .* Fix: "):
        prepare(export_path=str(export), couple_id="c001")
    ctx = prepare(export_path=str(export), couple_id="c001", consent_check=False)
    ctx.stamp()
    assert "CONSENT NOT CHECKED" in capsys.readouterr().out
    assert ctx.show_text is False


def test_prepare_bad_export_and_unknown_couple(small_export, tmp_path):
    with pytest.raises(ValueError, match=r"export_path must be a readable export"):
        prepare(export_path=str(tmp_path / "nothing-here"))
    with pytest.raises(ValueError, match=r"known couples|one of the export's couples"):
        prepare(export_path=str(small_export), couple_id="c999")


def test_context_display_is_escaped_and_says_missing(small_export, capsys):
    ctx = prepare(export_path=str(small_export))
    ctx.say("<script>alert(1)</script>")
    ctx.table(pd.DataFrame({"partner": ["c001-a"], "label": ["<img src=x>"], "n": [1.23456]}))
    got = ctx.run(lambda df: df, ctx.events.iloc[0:0], what="logged moves", needs=["events"])
    assert got is None
    empty = ctx.run(lambda df: df.iloc[0:0], ctx.events, what="x", empty="Nothing at all.")
    assert empty is None
    out = capsys.readouterr().out
    assert "<script>alert" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "&lt;img src=x&gt;" in out and "Partner A" in out and "c001-a" not in out
    assert "1.23" in out and "1.23456" not in out
    assert "Not shown: logged moves — the export has no data for it in this period." in out
    assert "Nothing at all." in out


def test_table_shows_counts_as_whole_numbers_and_words_codes(small_export, capsys):
    ctx = prepare(export_path=str(small_export))
    df = pd.DataFrame(
        {
            "level": ["none", "no_data", "watch"],
            "n": [120.0, float("nan"), 3.0],  # counts, float because one is missing
            "share": [1.0, 0.0, 1.0],  # whole by chance: keeps its decimals
            "value": [29.0, 5.0, 2.0],  # whole numbers reaching 2
            "ci_low": [0.5, 0.25, 1.0],
            "perpetual": pd.array([True, False, None], dtype="boolean"),
            "signal": pd.array(["urge_withdraw", "Sam_s", None], dtype="string"),
        }
    )
    ctx.table(df, values={"level": {"none": "calm", "no_data": "not enough data"}})
    html = capsys.readouterr().out
    rows = [re.findall(r"<td>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", html, re.S)]
    cells = pd.DataFrame([r for r in rows if r], columns=list(df.columns))
    assert cells["n"].tolist() == ["120", "–", "3"]
    assert cells["share"].tolist() == ["1.00", "0.00", "1.00"]
    assert cells["value"].tolist() == ["29", "5", "2"]
    assert cells["ci_low"].tolist() == ["0.50", "0.25", "1.00"]
    assert cells["level"].tolist() == ["calm", "not enough data", "watch"]
    assert cells["perpetual"].tolist() == ["yes", "no", "–"]
    assert cells["signal"].tolist() == ["urge withdraw", "Sam_s", "–"]  # codes only
    assert df["n"].dtype == "float64" and df["level"][0] == "none"  # input not mutated


def test_table_drops_bidi_controls(small_export, capsys):
    ctx = prepare(export_path=str(small_export))
    ctx.table(pd.DataFrame({"topic \u202e": ["rent \u202etxt.exe", None], "n": [1.0, 2.0]}))
    html = capsys.readouterr().out
    assert "\u202e" not in html
    assert "rent txt.exe" in html and "<th>topic</th>" in html


def test_charts_get_readable_font_sizes_unless_set(small_export, capsys, monkeypatch):
    import altair as alt
    import vl_convert

    specs = []
    monkeypatch.setattr(vl_convert, "vegalite_to_svg", lambda spec: specs.append(spec) or "<svg/>")
    ctx = prepare(export_path=str(small_export))
    data = pd.DataFrame({"x": [1, 2], "y": [3, 4]})
    ctx.chart(alt.Chart(data).mark_point().encode(x="x", y="y"))
    ctx.chart(alt.Chart(data).mark_point().encode(x="x", y="y").configure_axis(labelFontSize=9))
    assert specs[0]["config"]["axis"]["labelFontSize"] == 13
    assert specs[0]["config"]["title"]["fontSize"] == 16
    assert specs[1]["config"]["axis"]["labelFontSize"] == 9  # the chart's own choice wins
    assert specs[0]["usermeta"]["embedOptions"] == {"actions": False}
    assert capsys.readouterr().out.count('<figure class="chart"') == 2


def test_sentences_format_missing_values_as_unknown(small_export, capsys):
    ctx = prepare(export_path=str(small_export))
    df = pd.DataFrame({"partner": ["c001-b"], "share": [float("nan")], "n": [3]})
    ctx.sentences(df, "{partner}: {share:.0%} of {n} days")
    assert "Partner B: unknown of 3 days" in capsys.readouterr().out
    ctx.sentences(pd.DataFrame({"topic": ["time_together"], "n": [2]}), "{topic}: {n}")
    assert "time together: 2" in capsys.readouterr().out


# --- run_report: validation before any notebook, consent, retry --------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"couples": ["nope"]}, ValueError, r"couple_id must be one of the export's couples"),
        ({"jobs": 0}, ValueError, r"run_report: jobs must be a positive integer; got 0"),
        ({"timeout": -1}, ValueError, r"timeout must be a number of seconds > 0"),
        ({"notebooks": ["zz"]}, ValueError, r"notebook must be one of"),
        ({"start": "2026-03-01", "end": "2026-02-01"}, ValueError, r"end must be on or after"),
        ({"audience": "everyone"}, ValueError, r"audience must be one of"),
    ],
)
def test_run_report_rejects_bad_arguments_before_running(
    small_export, tmp_path, kwargs, error, message
):
    out = tmp_path / "out"
    with pytest.raises(error, match=message):
        run_report(small_export, out=out, progress=False, **kwargs)
    assert not out.exists()


def test_run_report_unreadable_export_is_export_error(tmp_path):
    with pytest.raises(ExportError):
        run_report(tmp_path / "missing.zip", out=tmp_path / "out", progress=False)


def test_run_report_refuses_couple_without_consent(small_export, tmp_path):
    export = _withdrawn(small_export, tmp_path / "withdrawn")
    out = tmp_path / "out"
    (out / "c001").mkdir(parents=True)
    (out / "c001" / "report.html").write_text("stale page from an earlier run")
    result = run_report(export, couples=["c001"], out=out, progress=False)
    assert result.exit_code == 1 and result.runs == []
    entry = result.couples[0]
    assert entry["status"] == "refused"
    assert "Partner B: rule withdrawn" in entry["detail"] and "Fix:" in entry["detail"]
    assert not (out / "c001" / "report.html").exists()  # never leave an older page
    index = (out / "index.html").read_text()
    assert "refused" in index and "Partner B: rule withdrawn" in index
    record = json.loads((out / "run.json").read_text())
    assert record["outcome"] == "failed" and record["failures"] == result.failures
    assert {s["file"] for s in record["sources"]} >= {"events.csv", "checkins.csv"}
    assert all(len(s["sha256"]) == 64 for s in record["sources"] if s["file"].endswith("csv"))
    assert record["versions"]["papermill"] and record["parameters"]["consent_check"] is True


def _fake_papermill(monkeypatch, outcomes):
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        code, stderr = outcomes[min(len(calls), len(outcomes)) - 1]
        return subprocess.CompletedProcess(cmd, code, "", stderr)

    monkeypatch.setattr(report, "_run_process_group", fake_run)
    return calls


@pytest.mark.parametrize(
    ("outcomes", "status", "attempts"),
    [
        ([(0, "")], "ok", 1),
        ([(1, "RuntimeError: Kernel died before replying to kernel_info"), (0, "")], "ok", 2),
        ([(1, "RuntimeError: Kernel didn't respond in 60 seconds")] * 3, "failed", 2),
        ([(1, "PapermillExecutionError: ValueError: boom")], "failed", 1),
        (
            [(1, "jupyter_client.kernelspec.NoSuchKernel: No such kernel named python9")],
            "failed",
            1,
        ),
    ],
)
def test_one_retry_only_for_kernel_start_failures(
    tmp_path, monkeypatch, outcomes, status, attempts
):
    calls = _fake_papermill(monkeypatch, outcomes)
    job = report.NotebookRun(couple_id="c1", notebook="01_x", output=str(tmp_path / "o.ipynb"))
    done = report._run_notebook(
        job, Path("in.ipynb"), {"couple_id": "007"}, timeout=30, kernel_name="python3"
    )
    assert (done.status, done.attempts, len(calls)) == (status, attempts, attempts)
    cmd = calls[0]
    assert cmd[1:3] == ["-m", "patterns._papermill"]
    assert cmd[cmd.index("-k") + 1] == "python3"
    assert cmd[cmd.index("--execution-timeout") + 1] == "30"
    assert json.loads(cmd[cmd.index("-y") + 1]) == {"couple_id": "007"}
    calls.clear()
    report._run_notebook(job, Path("in.ipynb"), {}, timeout=0.5, kernel_name="python3")
    assert calls[0][calls[0].index("--execution-timeout") + 1] == "1"  # rounded up, not 0


# --- the command line ----------------------------------------------------------------------


def test_cli_exit_2_for_bad_arguments_and_unreadable_export(small_export, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["report", str(small_export), "--couple", "c9", "-o", str(tmp_path)])
    assert res.exit_code == 2
    assert "couple_id must be one of the export's couples ['c001', 'c002']" in res.output
    res = runner.invoke(
        app, ["report", str(small_export), "--start", "2026-02-01", "--end", "2026-01-01"]
    )
    assert res.exit_code == 2 and "end must be on or after start" in res.output
    res = runner.invoke(app, ["report", str(small_export), "--audience", "client"])
    assert res.exit_code == 2 and "audience must be one of" in res.output
    res = runner.invoke(app, ["report", str(tmp_path / "nope.zip")])
    assert res.exit_code == 2 and "Cannot read export" in res.output


def test_cli_jobs_default_is_the_cores_at_most_4(small_export, tmp_path, monkeypatch):
    import os

    from patterns import cli

    seen = []
    monkeypatch.setattr(report, "run_report", lambda *a, **k: seen.append(k["jobs"]) or 1 / 0)
    runner = CliRunner()
    runner.invoke(app, ["report", str(small_export), "-o", str(tmp_path)])
    runner.invoke(app, ["report", str(small_export), "-o", str(tmp_path), "--jobs", "3"])
    cores = len(os.sched_getaffinity(0))
    assert seen == [max(1, min(4, cores)), 3]
    assert cli.default_jobs() == seen[0]
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    assert cli.default_jobs() == 4


def test_console_command_tunes_glibc_malloc_unless_the_user_did(monkeypatch, tmp_path, sample_path):
    """``patterns`` (the console command, not the library) sets glibc's arena count and
    mmap/trim thresholds before running, unless the user tuned malloc; elsewhere it does
    nothing. (The C library is stubbed: the test process itself is not retuned.)"""
    import ctypes

    from patterns import cli

    asked = []

    class Libc:
        def mallopt(self, param, value):
            asked.append((param, value))
            return 1

    monkeypatch.setattr(ctypes, "CDLL", lambda name: Libc())
    monkeypatch.setattr(sys, "platform", "linux")
    for var in [k for k in os.environ if k.startswith("MALLOC_")] + ["GLIBC_TUNABLES"]:
        monkeypatch.delenv(var, raising=False)
    assert cli._tune_malloc() is True
    # M_ARENA_MAX 1, M_MMAP_THRESHOLD 32 MB, M_TRIM_THRESHOLD 1 GB, M_TOP_PAD 64 MB
    assert asked == [(-8, 1), (-3, 32 << 20), (-1, 1 << 30), (-2, 64 << 20)]
    for var, value in (
        ("MALLOC_ARENA_MAX", "4"),
        ("MALLOC_TRIM_THRESHOLD_", "0"),
        ("GLIBC_TUNABLES", "glibc.malloc.check=0:glibc.malloc.arena_max=4"),
    ):
        with monkeypatch.context() as m:
            m.setenv(var, value)
            assert cli._tune_malloc() is False  # the user's setting wins
    monkeypatch.setattr(sys, "platform", "darwin")
    assert cli._tune_malloc() is False
    assert len(asked) == 4

    def no_glibc(name):
        raise OSError("libc.so.6: cannot open shared object file")

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(ctypes, "CDLL", no_glibc)  # e.g. musl
    assert cli._tune_malloc() is False
    # only `patterns metrics` run as the console command tunes (not the report parent,
    # which keeps running while its notebooks do; not a host process calling commands)
    calls = []
    monkeypatch.setattr(cli, "_tune_malloc", lambda: calls.append("malloc"))
    out = str(tmp_path / "m.csv")
    runner = CliRunner()
    assert runner.invoke(app, ["metrics", str(sample_path), "-o", out]).exit_code == 0
    assert calls == []  # in-process (this test): never
    marked = []
    monkeypatch.setattr(cli, "app", lambda: calls.append("app") or marked.append(cli._CONSOLE))
    monkeypatch.setattr(cli, "_CONSOLE", False)  # (restored after the test)
    # the console command ends with os._exit: stubbed, or it would end pytest itself
    monkeypatch.setattr(cli, "_hard_exit", lambda code: calls.append(f"exit {code}"))
    cli.main()
    # main marks the console command while it runs (no tuning yet), and unmarks it after:
    # a host process that calls main() and goes on is not the command
    assert calls == ["app"] and marked == [True] and not cli._CONSOLE
    monkeypatch.setattr(cli, "_CONSOLE", True)  # as inside the console command
    assert runner.invoke(app, ["metrics", str(sample_path), "-o", out]).exit_code == 0
    assert calls == ["app", "malloc", "exit 0"]
    assert runner.invoke(app, ["report", "--help"]).exit_code == 0
    assert calls == ["app", "malloc", "exit 0"]
    # when the tuning took effect, pyarrow moves onto the same heap; pandas engine only:
    # the command ends with a hard exit once its files are written
    monkeypatch.setattr(cli, "_tune_malloc", lambda: calls.append("malloc") or True)
    monkeypatch.setattr(cli, "_arrow_on_glibc_heap", lambda: calls.append("arrow"))
    monkeypatch.setattr(cli, "_numpy_without_hugepages", lambda: calls.append("numpy"))
    assert runner.invoke(app, ["metrics", str(sample_path), "-o", out]).exit_code == 0
    assert calls[3:] == ["numpy", "malloc", "arrow", "exit 0"]
    assert pd.read_csv(out).shape[0] > 0  # written before the exit


def test_arrow_moves_onto_the_glibc_heap_unless_the_user_chose_a_pool(monkeypatch):
    """The console command's Arrow pool switch (stubbed: the test process keeps its pool)."""
    import pyarrow as pa

    from patterns import cli

    chosen = []
    monkeypatch.setattr(pa, "set_memory_pool", chosen.append)
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    assert cli._arrow_on_glibc_heap() is True
    assert [p.backend_name for p in chosen] == ["system"]
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
    assert cli._arrow_on_glibc_heap() is False  # the user's choice wins
    assert len(chosen) == 1


def test_numpy_is_imported_without_hugepage_advice_only_by_the_command(monkeypatch):
    """A fresh process (the console command) imports NumPy with huge-page advice off and
    leaves the environment as it was; with NumPy imported or the variable set by the user,
    nothing happens."""
    code = (
        "import os, sys\n"
        "from patterns import cli\n"
        "assert 'numpy' not in sys.modules\n"
        "took = cli._numpy_without_hugepages()\n"
        "import numpy._core.multiarray as mu\n"
        "print(took, mu._get_madvise_hugepage(), 'NUMPY_MADVISE_HUGEPAGE' in os.environ,"
        " cli._numpy_without_hugepages())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert run.stdout.split() == ["True", "False", "False", "False"], run.stderr
    env["NUMPY_MADVISE_HUGEPAGE"] = "1"  # the user's choice wins
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert run.stdout.split() == ["False", "True", "True", "False"], run.stderr
    from patterns import cli

    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    assert cli._numpy_without_hugepages() is False  # NumPy is imported here already


def test_hard_exit_flushes_output_and_runs_atexit_handlers(tmp_path):
    """``_hard_exit`` skips only the interpreter's teardown: buffered output (a pipe is
    block-buffered) and ``atexit`` handlers still happen, and the exit code is kept."""
    code = (
        "import atexit, sys\n"
        "from patterns import cli\n"
        "atexit.register(lambda: open(sys.argv[1], 'w').write('ran'))\n"
        "print('written', end='')\n"
        "sys.stderr.write('warned')\n"
        "cli._hard_exit(3)\n"
        "print('never')\n"
    )
    flag = tmp_path / "atexit.txt"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # (buffered)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(flag)], capture_output=True, text=True, timeout=60, env=env
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "written", "warned")
    assert flag.read_text() == "ran"


def test_hard_exit_keeps_what_atexit_handlers_print():
    """A normal exit flushes the standard streams after the atexit handlers ran; so does
    ``_hard_exit``: a handler's output to a piped (block-buffered) stdout is not lost."""
    code = (
        "import atexit\n"
        "from patterns import cli\n"
        "atexit.register(lambda: print('from atexit', end=''))\n"
        "print('written ', end='')\n"
        "cli._hard_exit(0)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # (buffered)
    run = {"capture_output": True, "text": True, "timeout": 60, "env": env}
    proc = subprocess.run([sys.executable, "-c", code], **run)
    normal = subprocess.run(
        [sys.executable, "-c", code.replace("cli._hard_exit(0)", "raise SystemExit(0)")], **run
    )
    assert (normal.returncode, normal.stdout) == (0, "written from atexit")  # the reference
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "written from atexit", "")


def test_console_metrics_command_writes_the_same_table(tmp_path, sample_path):
    """``patterns metrics`` run as the real console command (malloc tuning, Arrow on the
    glibc heap, hard exit) writes the same files as the command run in-process."""
    out_console, out_inproc = tmp_path / "console.csv", tmp_path / "inproc.csv"
    patterns = Path(sys.executable).with_name("patterns")
    proc = subprocess.run(
        [str(patterns), "metrics", str(sample_path), "-o", str(out_console)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "couple-week rows" in proc.stdout  # flushed before the hard exit
    result = CliRunner().invoke(app, ["metrics", str(sample_path), "-o", str(out_inproc)])
    assert result.exit_code == 0
    assert out_console.read_bytes() == out_inproc.read_bytes()
    codebooks = [p.with_name(f"{p.stem}_codebook.csv") for p in (out_console, out_inproc)]
    assert codebooks[0].read_bytes() == codebooks[1].read_bytes()


@pytest.mark.notebooks
@pytest.mark.slow
def test_failed_notebook_makes_no_client_page_and_exit_1(small_export, tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    good = nbformat.read(str(list_notebooks(["01"])[0]), as_version=4)
    nbformat.write(good, str(notebooks / "01_data_quality.ipynb"))
    bad = nbformat.read(str(list_notebooks(["01"])[0]), as_version=4)
    bad.cells.append(new_code_cell("raise RuntimeError('planted failure')"))
    nbformat.write(bad, str(notebooks / "02_broken.ipynb"))
    out = tmp_path / "out"
    (out / "c001").mkdir(parents=True)
    (out / "c001" / "report.html").write_text("stale page from an earlier run")
    res = CliRunner().invoke(
        app,
        [
            "report", str(small_export), "--couple", "c001", "--out", str(out),
            "--notebook-dir", str(notebooks), "--jobs", "2", "--quiet", "--no-consent-check",
        ],
    )  # fmt: skip
    assert res.exit_code == 1, res.output
    assert "1 failure(s)" in res.output and "planted failure" in res.output
    assert not (out / "c001" / "report.html").exists()
    assert (out / "c001" / "02_broken.ipynb").exists()  # kept for diagnosis, not for clients
    index = (out / "index.html").read_text()
    assert "failed" in index and "02_broken" in index and "CONSENT NOT CHECKED" in index
    record = json.loads((out / "run.json").read_text())
    runs = {n["notebook"]: n for n in record["couples"][0]["notebooks"]}
    assert runs["01_data_quality"]["status"] == "ok"
    assert runs["02_broken"]["status"] == "failed" and runs["02_broken"]["attempts"] == 1
    assert "RuntimeError: planted failure" in runs["02_broken"]["error"]


def test_free_topic_labels_read_other_unless_text_is_allowed(small_export):
    df = pd.DataFrame({"topic": ["money", "Sam's mother", None, "none"], "n": [1, 2, 3, 4]})
    ctx = prepare(export_path=str(small_export))
    assert ctx.labelled(df)["topic"].tolist() == ["money", "other", pd.NA, "none"]
    ctx_text = prepare(export_path=str(small_export), show_text=True)
    assert ctx_text.labelled(df)["topic"].tolist()[1] == "Sam's mother"


@pytest.mark.notebooks
@pytest.mark.slow
def test_notebook_run_directly_with_bad_parameter_fails_clearly(small_export, tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError) as info:
        papermill.execute_notebook(
            str(list_notebooks(["01"])[0]),
            str(tmp_path / "out.ipynb"),
            parameters={"export_path": str(small_export), "couple_id": "c404"},
            kernel_name="python3",
            progress_bar=False,
        )
    assert info.value.ename == "ParameterError"
    assert "couple_id must be one of the export's couples ['c001', 'c002']" in info.value.evalue


def test_couple_folders_are_sanitised_and_stay_inside_out(small_export, tmp_path):
    export = _withdrawn(small_export, tmp_path / "evil")  # refused: no notebook needs to run
    for f in export.iterdir():
        f.write_text(f.read_text().replace("c001", "../../evil"))
    out = tmp_path / "deep" / "out"
    result = run_report(export, couples=["../../evil"], out=out, progress=False)
    assert result.runs == []  # refused before any notebook
    folders = {c["couple_id"]: c["folder"] for c in result.couples}
    assert folders["../../evil"] != "../../evil" and "/" not in folders["../../evil"]
    assert (out / folders["../../evil"]).resolve().parent == out.resolve()
    assert not (tmp_path / "evil-a").exists() and not (tmp_path / "deep" / "evil").exists()
    again = run_report(export, couples=["../../evil"], out=out, progress=False)  # stable
    assert {c["couple_id"]: c["folder"] for c in again.couples} == folders


def test_timeout_kills_the_whole_process_group(tmp_path):
    # known truth: a child that would outlive its parent is killed with the group
    marker = tmp_path / "grandchild-ran"
    script = (
        "import subprocess, sys, time; "
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3); "
        f'open(r"{marker}", "w").write("x")\']); time.sleep(30)'
    )
    with pytest.raises(subprocess.TimeoutExpired):
        report._run_process_group([sys.executable, "-c", script], timeout=1, env=os.environ)
    time.sleep(4)
    assert not marker.exists()


def test_couple_folders_distinct_ignoring_case():
    from patterns.privacy import safe_path_component
    from patterns.report import _couple_folders

    ids = ["C1", "c1", "c2", "Zoë", "Zoe", "../x"]
    got = _couple_folders(ids)
    assert len({n.casefold() for n in got.values()}) == len(ids)
    assert got["c2"] == "c2"  # no clash: the plain safe name
    assert got["C1"].startswith("C1-") and got["c1"].startswith("c1-")
    for c, name in got.items():
        assert name.startswith(safe_path_component(c))
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name)  # still a portable name
    assert _couple_folders(ids) == got  # the same ids always get the same folders


def test_show_original_export_rewrites_injected_line_and_metadata(tmp_path):
    import nbformat

    from patterns.report import _show_original_export

    nb = nbformat.v4.new_notebook()
    injected = nbformat.v4.new_code_cell('export_path = "/out/.staging/c001"\ncouple_id = "c001"\n')
    injected.metadata["tags"] = ["injected-parameters"]
    other = nbformat.v4.new_code_cell('print("/out/.staging/c001")')
    nb.cells = [injected, other]
    nb.metadata["papermill"] = {"parameters": {"export_path": "/out/.staging/c001"}}
    path = tmp_path / "01.ipynb"
    nbformat.write(nb, str(path))
    _show_original_export(path, "/out/.staging/c001", "/data/it's export")
    got = nbformat.read(str(path), as_version=4)
    line = got.cells[0].source.splitlines()[0]
    assert line.startswith('export_path = "/data/it\'s export"  # read through')
    assert got.cells[0].source.splitlines()[1] == 'couple_id = "c001"'
    assert got.cells[1].source == 'print("/out/.staging/c001")'  # only the parameter cell
    assert got.metadata["papermill"]["parameters"]["export_path"] == "/data/it's export"
    _show_original_export(tmp_path / "missing.ipynb", "x", "y")  # a failed run: no file


def test_table_dates_do_not_wrap(small_export, capsys):
    ctx = prepare(export_path=str(small_export))
    ctx.table(
        pd.DataFrame(
            {
                "day": pd.to_datetime(["2026-01-05", "2026-01-06"]),
                "at": pd.to_datetime(["2026-01-05 08:30", "2026-01-06 09:00"]),
                "label": ["2026-01-05 is in text", "<td>2026-01-05</td>"],
            }
        )
    )
    html = capsys.readouterr().out
    assert html.count('<td class="date">') == 4
    assert '<td class="date">2026-01-05 08:30</td>' in html
    assert "&lt;td&gt;2026-01-05&lt;/td&gt;" in html  # escaped text is not a date cell
    assert "td.date{white-space:nowrap}" in report._CSS
