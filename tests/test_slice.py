"""patterns._slice and the report runner's per-couple staging: the export is loaded and
validated once per run; each couple's notebooks read a slice that ``load_export`` returns
exactly as ``export.for_couple(id)``; the slice (client data) never outlives the run."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from _report_fixtures import consent_open_ended
from patterns import _slice, report
from patterns.errors import ExportError
from patterns.io import load_export
from patterns.report import prepare, run_report
from patterns.simulate import simulate_export

_FRAMES = ("events", "checkins", "quarantine", "notices", "sources")
_FIELDS = ("manifest", "timezones", "partners", "dropped_columns", "path", "rows_in")


@pytest.fixture(scope="module")
def messy_export(tmp_path_factory) -> Path:
    """Two simulated couples × 21 days plus planted problems: quarantined rows of both
    couples (unknown code, bad time) and a DST-gap time of c001 (a notice)."""
    path = tmp_path_factory.mktemp("messy")
    simulate_export(couples=2, days=21, seed=7, out=path)
    consent_open_ended(path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["couples"][0]["timezone"] = "Europe/Amsterdam"
    (path / "manifest.json").write_text(json.dumps(manifest))
    with (path / "events.csv").open("a", encoding="utf-8") as fh:
        fh.write("c001,2026-01-06T10:00:00+01:00,c001-a,hug,,,,,\n")  # unknown code
        fh.write("c002,not a time,c002-a,bid,,,,,\n")  # bad timestamp
        fh.write("c001,2026-03-29 02:30,c001-a,bid,,,,,\n")  # DST gap (moved, a notice)
    return path


@pytest.fixture(scope="module")
def whole(messy_export):
    return load_export(messy_export)


def test_planted_problems_are_there(whole):
    # known truth: the fixture plants quarantined rows for both couples and one DST notice
    assert set(whole.quarantine["couple_id"].dropna()) == {"c001", "c002"}
    assert whole.notices["couple_id"].tolist() == ["c001"]


@pytest.mark.parametrize("couple", ["c001", "c002"])
def test_load_export_reads_slice_as_for_couple(whole, tmp_path, couple):
    folder = _slice.write_couple_slice(whole, couple, tmp_path / "slice")
    assert _slice.is_slice(folder)
    got = load_export(folder)  # the loader recognises the marker
    want = whole.for_couple(couple)
    for name in _FRAMES:
        assert_frame_equal(getattr(got, name), getattr(want, name), check_exact=True)
        assert getattr(got, name).attrs == getattr(want, name).attrs, name
    for name in _FIELDS:
        assert getattr(got, name) == getattr(want, name), name
    assert got.rows_in_by_couple == want.rows_in_by_couple
    assert_frame_equal(got.summary(), want.summary())
    assert got.couples == [couple]
    # the whole export's accounting travels with the slice (pandas oracle: Export.summary)
    assert_frame_equal(_slice.slice_summary(folder), whole.summary())
    # the original export's file hashes, not the slice's
    assert set(got.sources["sha256"]) == set(whole.sources["sha256"])
    assert oct(folder.stat().st_mode & 0o777) == "0o700"


def test_slice_of_a_couple_with_an_empty_table(messy_export, tmp_path):
    export = tmp_path / "no-checkins"
    export.mkdir()
    for f in ("events.csv", "manifest.json"):
        (export / f).write_bytes((messy_export / f).read_bytes())
    loaded = load_export(export)
    folder = _slice.write_couple_slice(loaded, "c002", tmp_path / "slice")
    got = load_export(folder)
    assert len(got.checkins) == 0
    assert_frame_equal(got.checkins, loaded.for_couple("c002").checkins)
    assert_frame_equal(got.events, loaded.for_couple("c002").events)


def test_prepare_on_slice_equals_prepare_on_export(messy_export, whole, tmp_path):
    folder = _slice.write_couple_slice(whole, "c001", tmp_path / "slice")
    direct = prepare(export_path=str(messy_export), couple_id="c001", start="2026-01-06")
    staged = prepare(export_path=str(folder), couple_id="c001", start="2026-01-06")
    assert_frame_equal(staged.events, direct.events)
    assert_frame_equal(staged.checkins, direct.checkins)
    assert staged.labels == direct.labels and staged.consent == direct.consent
    assert staged.timezones["c001"] == direct.timezones["c001"] == "Europe/Amsterdam"
    assert_frame_equal(staged.file_summary, direct.file_summary)
    # independent count: distinct quarantined input rows of the whole file, both couples
    n = whole.quarantine.drop_duplicates(["table", "record"]).shape[0]
    assert staged.rows_set_aside_in_file == direct.rows_set_aside_in_file == n >= 2
    assert_frame_equal(
        staged.loaded.for_couple("c001").quarantine, whole.for_couple("c001").quarantine
    )


def _corrupt(folder: Path, **changes) -> None:
    meta = json.loads((folder / _slice.MARKER).read_text())
    meta.update(changes)
    (folder / _slice.MARKER).write_text(json.dumps(meta))


def test_slice_errors(whole, tmp_path):
    folder = _slice.write_couple_slice(whole, "c001", tmp_path / "a")
    _corrupt(folder, version=99)
    with pytest.raises(ExportError, match=r"is not a version-1 couple slice"):
        load_export(folder)
    folder = _slice.write_couple_slice(whole, "c001", tmp_path / "b")
    (folder / _slice.MARKER).write_text("{not json")
    with pytest.raises(ExportError, match=r"unreadable couple slice"):
        load_export(folder)
    folder = _slice.write_couple_slice(whole, "c001", tmp_path / "c")
    (folder / "events.parquet").unlink()
    with pytest.raises(ExportError, match=r"unreadable couple slice"):
        load_export(folder)
    folder = _slice.write_couple_slice(whole, "c001", tmp_path / "d")
    pd.DataFrame({"couple_id": ["c001"]}).to_parquet(folder / "events.parquet")
    with pytest.raises(ExportError, match=r"table events has columns \['couple_id'\]; expected"):
        load_export(folder)


# --- the runner ----------------------------------------------------------------------------


def _fake_notebooks(monkeypatch, whole, fail_for=()):
    """Replace the papermill process by a check run against the staged slice."""
    seen: list[tuple[str, str, bool]] = []
    on_disk: list[list[str]] = []
    lock = threading.Lock()

    def fake(job, source, params, *, timeout, kernel_name):
        path = Path(params["export_path"])
        staged = load_export(path)
        for name in ("events", "checkins", "quarantine"):
            assert_frame_equal(
                getattr(staged, name), getattr(whole.for_couple(job.couple_id), name)
            )
        with lock:
            seen.append((job.couple_id, str(path), _slice.is_slice(path)))
            on_disk.append(sorted(p.name for p in path.parent.iterdir()))
        if job.couple_id in fail_for:
            raise RuntimeError("planted crash in the runner")
        job.status = "ok"
        return job

    monkeypatch.setattr(report, "_run_notebook", fake)
    monkeypatch.setattr(report, "couple_report_html", lambda *a, **k: "<p>page</p>")
    return seen, on_disk


def test_runner_stages_each_couple_once_and_removes_it(monkeypatch, messy_export, whole, tmp_path):
    calls = []
    real = _slice.write_couple_slice
    monkeypatch.setattr(
        _slice, "write_couple_slice", lambda *a, **k: calls.append(a[1]) or real(*a, **k)
    )
    seen, _ = _fake_notebooks(monkeypatch, whole)
    out = tmp_path / "out"
    result = run_report(messy_export, out=out, jobs=2, progress=False, notebooks=["01", "02"])
    assert result.exit_code == 0, result.failures
    assert sorted(calls) == ["c001", "c002"]  # one slice per couple, not per notebook
    assert len(seen) == 4 and all(is_slice for _, _, is_slice in seen)
    for couple, path, _ in seen:
        assert Path(path).parent == (out / report._STAGING).resolve()
        assert Path(path).name == couple  # the sanitised folder name of the couple
    assert not (out / report._STAGING).exists()  # client data never left behind
    record = json.loads((out / "run.json").read_text())
    assert record["parameters"]["export_path"] == str(messy_export.resolve())
    assert {s["sha256"] for s in record["sources"]} == set(whole.sources["sha256"])


def test_runner_stages_a_couple_only_when_its_notebooks_start(
    monkeypatch, messy_export, whole, tmp_path
):
    seen, on_disk = _fake_notebooks(monkeypatch, whole)
    out = tmp_path / "out"
    result = run_report(messy_export, out=out, jobs=1, progress=False, notebooks=["01", "02"])
    assert result.exit_code == 0, result.failures
    # one notebook at a time, in order: while c001 runs, c002 is not on disk yet
    assert [c for c, _, _ in seen] == ["c001", "c001", "c002", "c002"]
    assert on_disk[0] == on_disk[1] == ["c001"]
    assert "c002" in on_disk[2] and "c002" in on_disk[3]
    assert not (out / report._STAGING).exists()


def test_runner_removes_staging_when_a_run_crashes(monkeypatch, messy_export, whole, tmp_path):
    _fake_notebooks(monkeypatch, whole, fail_for=("c002",))
    out = tmp_path / "out"
    (out / report._STAGING / "old").mkdir(parents=True)  # left behind by a killed run
    with pytest.raises(RuntimeError, match="planted crash in the runner"):
        run_report(messy_export, out=out, jobs=1, progress=False, notebooks=["01"])
    assert not (out / report._STAGING).exists()


def test_cli_run_leaves_no_staging_and_records_the_original_export(sample_report):
    # the real command (papermill, kernels) on the sample: shared run of the report tests
    assert sample_report.returncode == 0, sample_report.stderr
    assert not (sample_report.out / report._STAGING).exists()
    record = sample_report.run_record
    assert record["parameters"]["export_path"] == str(sample_report.export.resolve())
    original = load_export(sample_report.export)
    assert [s["sha256"] for s in record["sources"]] == original.sources["sha256"].tolist()
