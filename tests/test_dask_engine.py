"""The Dask engine gives exactly the pandas engine's couple-week table.

One ``distributed.LocalCluster`` (2 worker processes × 1 thread, as the default engine
starts) serves the module; the CLI test starts its own default cluster. The simulated
export is 50 couples × 60 days (180 days would triple the runtime on 2 shared cores and
adds no new code path: partitions hold whole couples whatever their length).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from patterns.cli import app
from patterns.engine import couple_partitions, dask_client, write_partitions
from patterns.io import load_export
from patterns.metrics import couple_metrics, couple_week_metrics
from patterns.simulate import simulate_export
from patterns.testing import assert_tidy, check_contract

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cl:
        yield cl


@pytest.fixture(scope="module")
def client(cluster):
    from distributed import Client

    with Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def sample():
    return load_export(SAMPLE)


@pytest.fixture(scope="module")
def fifty(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim50")
    simulate_export(couples=50, days=60, seed=11, out=out)
    return load_export(out)


def test_dask_equals_pandas_on_the_sample(sample, cluster):
    expected = couple_week_metrics(sample)
    # contract (tidy, input untouched, same result twice) through a scheduler ADDRESS
    got = check_contract(
        couple_week_metrics, sample, engine="dask", scheduler=cluster.scheduler_address
    )
    assert len(cluster.scheduler_info["workers"]) == 2
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert_tidy(got)
    assert got["couple_id"].unique().tolist() == sample.couples


def test_dask_equals_pandas_on_fifty_couples(fifty, client):
    expected = couple_week_metrics(fifty)
    got = couple_week_metrics(fifty, engine="dask", scheduler=client, partitions=7)  # uneven
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got["couple_id"].nunique() == 50
    assert (got.groupby("couple_id").size() >= 8).all()  # 60 days span 9–10 ISO weeks


def test_partitioning_never_changes_the_table(fifty, client):
    # Independent oracle: the one-couple function mapped couple by couple (the loop the
    # pandas engine replaced) gives the same rows as any partitioning on the cluster.
    ev, ci = fifty.events, fifty.checkins
    looped = pd.concat(
        [
            couple_metrics(
                ev[ev["couple_id"] == c].reset_index(drop=True),
                ci[ci["couple_id"] == c].reset_index(drop=True),
                timezone=fifty.timezones[c],
                partners=fifty.partners[c],
            )
            for c in fifty.couples[:6]
        ],
        ignore_index=True,
    )
    sub = fifty.for_couple(fifty.couples[0])  # an Export with one couple
    one = couple_week_metrics(sub, engine="dask", scheduler=client, partitions=3)
    pd.testing.assert_frame_equal(one, looped[looped["couple_id"] == fifty.couples[0]])

    class Six:  # the first six couples, as an export-like object
        events = ev[ev["couple_id"].isin(fifty.couples[:6])].reset_index(drop=True)
        checkins = ci[ci["couple_id"].isin(fifty.couples[:6])].reset_index(drop=True)
        timezones = fifty.timezones
        partners = fifty.partners

    for k in (1, 6):  # one partition for all, one per couple
        got = couple_week_metrics(Six(), engine="dask", scheduler=client, partitions=k)
        pd.testing.assert_frame_equal(got, looped, check_exact=True)


def test_staging_folder_holds_one_file_per_partition_and_table(sample, client, tmp_path):
    got = couple_week_metrics(
        sample, engine="dask", scheduler=client, partitions=3, staging=tmp_path
    )
    pd.testing.assert_frame_equal(got, couple_week_metrics(sample), check_exact=True)
    for table in ("events", "checkins"):
        files = sorted((tmp_path / table).glob("part-*.parquet"))
        assert [f.name for f in files] == [f"part-{k:05d}.parquet" for k in range(3)]
        back = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        assert len(back) == len(getattr(sample, table))
        # each couple's rows live in exactly one partition
        owners = [set(pd.read_parquet(f)["couple_id"]) for f in files]
        assert sum(len(o) for o in owners) == len(set().union(*owners)) == 4


def test_couple_partitions_are_sorted_contiguous_runs():
    runs = couple_partitions([f"c{i:03d}" for i in (5, 1, 3, 2, 4, 2)], 2)
    assert runs == [["c001", "c002", "c003"], ["c004", "c005"]]
    assert couple_partitions(["b", "a"], 10) == [["a"], ["b"]]
    assert couple_partitions([], 3) == []
    ids = [f"c{i:04d}" for i in range(1000)]
    runs = couple_partitions(ids, 8)
    assert [c for run in runs for c in run] == ids
    assert {len(r) for r in runs} == {125}


def test_write_partitions_keeps_rows_and_order(sample, tmp_path):
    runs = couple_partitions(sample.couples, 2)
    paths = write_partitions({"events": sample.events}, runs, tmp_path)
    assert len(paths) == 2
    for run, p in zip(runs, paths, strict=True):
        back = pd.read_parquet(p["events"]).astype(sample.events.dtypes.to_dict())
        want = sample.events[sample.events["couple_id"].isin(run)].reset_index(drop=True)
        pd.testing.assert_frame_equal(back, want, check_exact=True)


def test_engine_errors(sample):
    with pytest.raises(ValueError, match=r"engine must be one of \['pandas', 'dask'\]"):
        couple_week_metrics(sample, engine="spark")
    with pytest.raises(ValueError, match="scheduler must be None with engine='pandas'"):
        couple_week_metrics(sample, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="partitions must be None with engine='pandas'"):
        couple_week_metrics(sample, partitions=4)
    with pytest.raises(ValueError, match="partitions must be a positive integer"):
        couple_partitions(["a"], 0)
    with pytest.raises(ValueError, match="partitions must be a positive integer"):
        couple_partitions(["a"], 2.5)
    with pytest.raises(ValueError, match="scheduler must be None, a scheduler address or a"):
        with dask_client(8786):
            pass


def test_cli_dask_engine_writes_the_same_bytes(tmp_path):
    runner = CliRunner()
    a, b = tmp_path / "pandas.csv", tmp_path / "dask.csv"
    res = runner.invoke(app, ["metrics", str(SAMPLE), "-o", str(a)])
    assert res.exit_code == 0, res.output
    # default engine options: a LocalCluster of 2 workers started (and closed) by the call
    res = runner.invoke(app, ["metrics", str(SAMPLE), "-o", str(b), "--engine", "dask"])
    assert res.exit_code == 0, res.output
    assert a.read_bytes() == b.read_bytes()
    res = runner.invoke(app, ["metrics", str(SAMPLE), "-o", str(b), "--engine", "spark"])
    assert res.exit_code == 2
    assert "--engine must be pandas or dask" in res.output
    res = runner.invoke(app, ["metrics", str(SAMPLE), "-o", str(b), "--scheduler", "tcp://x:1"])
    assert res.exit_code == 2
    assert "need --engine dask" in res.output


def test_empty_tables_give_the_empty_table(sample, client):
    class Empty:
        events = sample.events.iloc[:0]
        checkins = sample.checkins.iloc[:0]

    got = couple_week_metrics(Empty(), engine="dask", scheduler=client)
    pd.testing.assert_frame_equal(got, couple_week_metrics(Empty()))
    assert len(got) == 0 and np.array_equal(got.columns, couple_week_metrics(sample).columns)


def test_report_notebooks_run_on_the_cluster(cluster, client, tmp_path):
    from distributed import get_task_stream

    from patterns.report import run_report

    with get_task_stream(client=client) as stream:
        run = run_report(
            SAMPLE,
            couples=["c001"],
            notebooks=["01"],
            out=tmp_path,
            progress=False,
            scheduler=cluster.scheduler_address,
        )
    assert run.exit_code == 0, run.failures
    assert (tmp_path / "index.html").exists()
    assert len(list(tmp_path.glob("*/report.html"))) == 1
    ran = [t["key"] for t in stream.data]
    assert len(ran) == 1 and "_run_notebook" in str(ran[0])
