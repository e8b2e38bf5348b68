"""Run the per-couple work on a Dask cluster when one machine is not enough.

Per-couple work is independent, so the kit does not need a home-made distributed engine:
:func:`dask_couple_week_metrics` writes the loaded tables as Parquet partitioned by couple
(each partition holds whole couples), and a ``distributed`` cluster runs the very function
the pandas engine runs (:func:`patterns.metrics.metrics_partition`) once per partition, each
worker reading its own partition's files. The partial tables come back in partition order;
because partitions are contiguous runs of sorted couple ids and every number is computed per
couple, their concatenation is *identical* to the pandas engine's table (same values, dtypes
and order; ``tests/test_dask_engine.py``).

By default a ``distributed.LocalCluster`` of 2 worker processes with 1 thread each is started
for the call and closed afterwards; pass a scheduler address (``"tcp://host:8786"``) or a
``distributed.Client`` to use an existing cluster. With a remote cluster the staging folder
must be on storage every worker can read (``staging=``).

Examples
--------
>>> couple_partitions(["c003", "c001", "c002", "c004"], 3)
[['c001', 'c002'], ['c003'], ['c004']]
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from patterns.errors import check_int, option_error
from patterns.timeutil import DEFAULT_CUTOFF_HOUR

__all__ = [
    "couple_partitions",
    "dask_client",
    "dask_couple_week_metrics",
    "task_pool",
    "write_partitions",
]

#: workers and threads of the default LocalCluster (processes: pandas holds the GIL)
LOCAL_WORKERS = 2
LOCAL_THREADS = 1


def couple_partitions(couples: Sequence[str], partitions: int) -> list[list[str]]:
    """Split sorted couple ids into ``partitions`` contiguous, near-equal runs.

    Parameters
    ----------
    couples : sequence of str
        Couple ids (sorted here; duplicates dropped).
    partitions : int
        Number of runs wanted (at least 1; capped at the number of couples).

    Returns
    -------
    list of list of str
        Non-empty runs, in sorted order: concatenated they give the sorted ids.

    Raises
    ------
    ValueError
        When ``partitions`` is not a positive integer.
    """
    partitions = check_int(partitions, "partitions", func="couple_partitions", minimum=1)
    ids = sorted(set(map(str, couples)))
    if not ids:
        return []
    return [
        list(run) for run in np.array_split(np.array(ids, dtype=object), min(partitions, len(ids)))
    ]


def write_partitions(
    tables: Mapping[str, pd.DataFrame], runs: Sequence[Sequence[str]], folder: str | Path
) -> list[dict[str, str]]:
    """Write each table as one Parquet file per couple partition.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Table name → frame with a ``couple_id`` column (e.g. ``events``, ``checkins``).
    runs : sequence of sequences of str
        Couple ids of each partition (from :func:`couple_partitions`).
    folder : str or Path
        Where to write ``<table>/part-00000.parquet``, … (created).

    Returns
    -------
    list of dict
        Per partition, table name → file path (every table has a file per partition,
        possibly with zero rows, so each worker reads exactly its couples).
    """
    folder = Path(folder)
    part_of = {c: k for k, run in enumerate(runs) for c in run}
    paths: list[dict[str, str]] = [{} for _ in runs]
    for name, df in tables.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        key = df["couple_id"].astype(str).map(part_of).fillna(-1).to_numpy(dtype=np.int64)
        order = np.argsort(key, kind="stable")  # rows stay in their original order per part
        bounds = np.searchsorted(key[order], np.arange(len(runs) + 1))
        plain = df.copy(deep=False)
        plain.attrs = {}
        for k in range(len(runs)):  # one file per partition (a handful), not per row
            path = folder / name / f"part-{k:05d}.parquet"
            rows = order[bounds[k] : bounds[k + 1]]
            plain.iloc[np.sort(rows)].reset_index(drop=True).to_parquet(path, index=False)
            paths[k][name] = str(path)
    return paths


def _metrics_task(
    paths: Mapping[str, str],
    dtypes: Mapping[str, Mapping[str, Any]],
    *,
    timezone: str | Mapping[str, str],
    partners: Mapping[str, Sequence[str]],
    cutoff_hour: int,
) -> pd.DataFrame:
    """On a worker: read one partition's tables, restore dtypes, compute its rows."""
    from patterns.metrics import metrics_partition

    frames = {}
    for name, path in paths.items():
        df = pd.read_parquet(path)
        # Parquet round trips can widen a dtype (categories, string storage): restore the
        # exact loaded dtypes so the partition sees what the pandas engine sees.
        frames[name] = df.astype(dict(dtypes[name]))
    return metrics_partition(
        frames["events"],
        frames["checkins"],
        timezone=timezone,
        partners=partners,
        cutoff_hour=cutoff_hour,
    )


@contextlib.contextmanager
def dask_client(scheduler: Any = None) -> Iterator[Any]:
    """A ``distributed.Client`` for ``scheduler``; closes only what it opened.

    ``None`` starts a ``LocalCluster`` (2 worker processes × 1 thread, no dashboard); a
    string is a scheduler address; a ``Client`` is used as is.
    """
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler is None:
        with (
            LocalCluster(
                n_workers=LOCAL_WORKERS,
                threads_per_worker=LOCAL_THREADS,
                processes=True,
                dashboard_address=None,  # no dashboard (needs no port, no bokeh)
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    if not isinstance(scheduler, str) or not scheduler:
        raise option_error(
            "scheduler", "dask_client", "None, a scheduler address or a Client", scheduler
        )
    with Client(scheduler) as client:
        yield client


def dask_couple_week_metrics(
    events: pd.DataFrame,
    checkins: pd.DataFrame,
    *,
    timezone: str | Mapping[str, str],
    partners: Mapping[str, Sequence[str]] | None = None,
    cutoff_hour: int = DEFAULT_CUTOFF_HOUR,
    scheduler: Any = None,
    partitions: int | None = None,
    staging: str | Path | None = None,
) -> pd.DataFrame:
    """The couple-week metrics table computed on a Dask cluster.

    Parameters
    ----------
    events, checkins : DataFrame
        Loaded tables (contract dtypes).
    timezone : str or mapping
        IANA zone, or couple id → zone.
    partners : mapping, optional
        Couple id → its two partner ids.
    cutoff_hour : int, default 4
        Local hour at which a diary day starts.
    scheduler : str or distributed.Client, optional
        Scheduler address or client; default a LocalCluster for this call.
    partitions : int, optional
        Couple partitions (tasks); default 4 per worker, at most one per couple.
    staging : str or Path, optional
        Folder for the partitioned Parquet, readable by every worker; default a private
        temporary folder (mode 0700) removed afterwards. The files hold the loaded rows,
        free text included (topics are read from notes), so a given folder is left for the
        caller to remove.

    Returns
    -------
    DataFrame
        Identical to ``couple_week_metrics(export, engine="pandas")``.

    Notes
    -----
    Each task runs :func:`patterns.metrics.metrics_partition` on whole couples, so the
    result does not depend on the partitioning; partitions are sorted runs of couple ids and
    come back in order, so the concatenation is already sorted by couple and week.
    """
    from patterns.metrics import _couple_ids, couple_metrics_empty

    couples = _couple_ids(events, checkins)
    if not couples:
        return couple_metrics_empty()
    own_staging = staging is None
    folder = Path(tempfile.mkdtemp(prefix="patterns-dask-")) if own_staging else Path(staging)
    try:
        with dask_client(scheduler) as client:
            if partitions is None:
                workers = max(len(client.scheduler_info().get("workers", {})), 1)
                partitions = 4 * workers
            runs = couple_partitions(couples, partitions)
            paths = write_partitions({"events": events, "checkins": checkins}, runs, folder)
            dtypes = {
                "events": events.dtypes.to_dict(),
                "checkins": checkins.dtypes.to_dict(),
            }
            zones = dict(timezone) if isinstance(timezone, Mapping) else None
            partners = dict(partners or {})
            futures = [
                client.submit(
                    _metrics_task,
                    p,
                    dtypes,
                    timezone={c: zones.get(c, "UTC") for c in run}
                    if zones is not None
                    else timezone,
                    partners={c: list(partners[c]) for c in run if c in partners},
                    cutoff_hour=cutoff_hour,
                    key=f"couple-week-metrics-{k:05d}-{folder.name}",
                    pure=False,
                )
                for k, (p, run) in enumerate(zip(paths, runs, strict=True))
            ]
            try:
                parts = client.gather(futures)
            except BaseException:
                client.cancel(futures)  # stop the other tasks before their files go
                raise
    finally:
        if own_staging:
            shutil.rmtree(folder, ignore_errors=True)
    parts = [p for p in parts if len(p)]
    if not parts:
        return couple_metrics_empty()
    return pd.concat(parts, ignore_index=True)


@contextlib.contextmanager
def task_pool(jobs: int, scheduler: Any = None) -> Iterator[tuple[Callable, Callable]]:
    """``(submit, as_completed)`` for independent tasks: local threads or a Dask cluster.

    Without ``scheduler``: a ``ThreadPoolExecutor`` of ``jobs`` threads (each task may start
    its own process, as a report notebook does). With a scheduler address or ``Client``: the
    tasks run on that cluster's workers (``pure=False``: every call runs), and ``jobs`` is
    left to the cluster's size. Futures of both kinds have ``.result()``.

    Examples
    --------
    >>> with task_pool(2) as (submit, as_completed):
    ...     sorted(f.result() for f in as_completed([submit(abs, -1), submit(abs, -2)]))
    [1, 2]
    """
    if scheduler is None:
        from concurrent.futures import ThreadPoolExecutor, as_completed

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            yield pool.submit, as_completed
        return
    from distributed import as_completed as dask_as_completed

    with dask_client(scheduler) as client:

        def submit(fn: Callable, /, *args: Any, **kwargs: Any) -> Any:
            return client.submit(fn, *args, pure=False, **kwargs)

        yield submit, dask_as_completed
