"""The ``patterns`` command line: validate, simulate, metrics, report, pseudonymize.

Exit codes: 0 only when everything asked for succeeded; 1 when some of the work failed (or,
under ``--strict``, rows were quarantined); 2 when the input cannot be read or the
arguments are wrong. Each command is a thin wrapper over a package function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

app = typer.Typer(
    name="patterns",
    help="Analyse couples' check-in and bid exports: cycles, topics, trends, reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ExportArg = Annotated[
    Path, typer.Argument(help="Export: a folder, a .zip, or a single .json file.")
]
MappingOpt = Annotated[
    Path | None, typer.Option("--mapping", help="YAML column mapping for this export.")
]
TimezoneOpt = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        help="IANA zone for naive times of couples the manifest gives no zone for.",
    ),
]


def _err(message: str) -> None:
    typer.secho(message, err=True, fg=typer.colors.RED)


def _cannot_read(export: Path, exc: Exception) -> NoReturn:
    """Exit 2 with one line naming the export and the loader's reason."""
    _err(f"Cannot read export {export}: {exc}")
    raise typer.Exit(2) from None


@app.command()
def validate(
    export: ExportArg,
    mapping: MappingOpt = None,
    timezone: TimezoneOpt = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when any row was quarantined.")
    ] = False,
) -> None:
    """Load an export and print what loaded and what was quarantined (and why)."""
    from rich.console import Console
    from rich.table import Table

    from patterns.errors import ExportError
    from patterns.io import load_export

    try:
        exp = load_export(export, mapping=mapping, timezone=timezone)
    except ExportError as exc:
        _cannot_read(export, exc)
    console = Console()
    summary = exp.summary()
    table = Table(title=f"Export {export.name}: rows in = loaded + quarantined")
    for col in summary.columns:
        table.add_column(str(col), justify="right" if col != "table" else "left")
    for row in summary.itertuples(index=False):
        table.add_row(*[str(v) for v in row])
    console.print(table)
    from patterns.schema import QUARANTINE_REASONS

    for frame, title in (
        (exp.quarantine, "Quarantine reasons"),
        (exp.notices, "Loaded with a notice"),
    ):
        if not len(frame):
            continue
        counts = frame.groupby(["table", "reason"], observed=True).agg(rows=("record", "nunique"))
        rt = Table(title=title)
        for col in ("table", "reason", "rows", "meaning"):
            rt.add_column(col, justify="right" if col == "rows" else "left")
        for (tbl, reason), row in counts.iterrows():
            rt.add_row(tbl, reason, str(row["rows"]), QUARANTINE_REASONS.get(reason, ""))
        console.print(rt)
    n_bad = int(summary["rows_quarantined"].sum())
    if n_bad and strict:
        _err(f"--strict: {n_bad} row(s) were quarantined.")
        raise typer.Exit(1)
    if not n_bad:
        console.print("No rows quarantined.")


@app.command()
def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the export to.")],
    couples: Annotated[int, typer.Option(help="Number of couples.", min=1)] = 4,
    days: Annotated[int, typer.Option(help="Days per couple.", min=14)] = 120,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same bytes.", min=0)] = 0,
    start: Annotated[str, typer.Option(help="First local day (ISO date).")] = "2026-01-05",
    archetype: Annotated[
        list[str] | None,
        typer.Option(
            "--archetype",
            help="Archetype(s) to cycle through (repeat the option): secure, "
            "pursue_withdraw, conflict_heavy, improving. Default: all four in turn.",
        ),
    ] = None,
) -> None:
    """Write a synthetic export with planted truth (episodes, topics, change points)."""
    from patterns.simulate import simulate_export

    try:
        simulate_export(
            couples=couples,
            days=days,
            seed=seed,
            out=out,
            start=start,
            archetypes=archetype or None,
        )
    except ValueError as exc:
        _err(str(exc))
        raise typer.Exit(2) from None
    typer.echo(f"Wrote a synthetic export of {couples} couple(s) × {days} days to {out}")


@app.command()
def report(
    export: ExportArg,
    couple: Annotated[
        list[str] | None,
        typer.Option("--couple", help="Couple id to report on (repeatable); default all."),
    ] = None,
    notebook: Annotated[
        list[str] | None,
        typer.Option(
            "--notebook", help="Notebook by number, name or file (repeatable); default all."
        ),
    ] = None,
    audience: Annotated[
        str, typer.Option(help="therapist (no code, plain language) or researcher.")
    ] = "therapist",
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Notebook processes at once (default: the CPU cores, at most 4).",
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Output folder (index.html, run.json, one folder per couple)."
        ),
    ] = Path("reports/run"),
    timeout: Annotated[float, typer.Option(min=1, help="Seconds allowed per notebook cell.")] = 600,
    start: Annotated[str, typer.Option(help="First diary day, YYYY-MM-DD.")] = "",
    end: Annotated[str, typer.Option(help="Last diary day, YYYY-MM-DD.")] = "",
    timezone: Annotated[
        str, typer.Option("--timezone", help="IANA zone for naive times (overrides the manifest).")
    ] = "",
    intervention_date: Annotated[
        str, typer.Option(help="Date of an intervention, YYYY-MM-DD (before/after comparison).")
    ] = "",
    show_text: Annotated[
        bool,
        typer.Option(
            "--show-text", help="Show free text where both partners consent to free_text."
        ),
    ] = False,
    no_consent_check: Annotated[
        bool,
        typer.Option(
            "--no-consent-check",
            help="Do not refuse couples without valid consent; stamped on every page.",
        ),
    ] = False,
    notebook_dir: Annotated[
        Path | None,
        typer.Option(
            "--notebook-dir", help="Folder of NN_name.ipynb notebooks (default: the kit's)."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler address: run the notebooks on that cluster instead of "
            "--jobs local processes (the output folder must be shared with its workers)."
        ),
    ] = None,
) -> None:
    """Run the report notebooks per couple: executed notebooks, one offline HTML per couple,
    index.html and run.json. Exit 1 if any couple failed or was refused, 2 for bad input."""
    from patterns.errors import ExportError
    from patterns.report import ParameterError, run_report

    try:
        result = run_report(
            export,
            couples=couple or None,
            notebooks=notebook or None,
            audience=audience,
            jobs=default_jobs() if jobs is None else jobs,
            out=out,
            timeout=timeout,
            show_text=show_text,
            consent_check=not no_consent_check,
            start=start,
            end=end,
            timezone=timezone,
            intervention_date=intervention_date,
            notebook_dir=notebook_dir,
            progress=not quiet,
            scheduler=scheduler,
        )
    except ExportError as exc:
        _cannot_read(export, exc)
    except ParameterError as exc:
        _err(f"Bad arguments: {exc}")
        raise typer.Exit(2) from None
    ok = sum(c["status"] == "ok" for c in result.couples)
    typer.echo(
        f"{ok} of {len(result.couples)} couple report(s) written in {result.seconds:.1f} s; "
        f"open {result.out / 'index.html'}"
    )
    if result.failures:
        _err(f"{len(result.failures)} failure(s):")
        for failure in result.failures:
            _err(f"  - {failure}")
        raise typer.Exit(1)


@app.command()
def pseudonymize(
    export: ExportArg,
    out: Annotated[Path, typer.Argument(help="New export folder (must not exist or be empty).")],
    key_file: Annotated[
        Path,
        typer.Option("--key-file", help="Secret key file (>= 32 bytes), kept OUTSIDE the export."),
    ],
    shift_time: Annotated[
        bool,
        typer.Option(
            "--shift-time",
            help="Shift each couple's times by a secret whole number of weeks (local time).",
        ),
    ] = False,
    names: Annotated[
        Path | None,
        typer.Option("--names", help="Text file of names to redact from free text, one a line."),
    ] = None,
    drop_text: Annotated[
        bool, typer.Option("--drop-text", help="Empty notes and answers instead of redacting.")
    ] = False,
    mapping: MappingOpt = None,
    timezone: TimezoneOpt = None,
) -> None:
    """Write a keyed pseudonymised copy of an export (HMAC ids, names redacted, optional
    time shift) plus pseudonymization.json. Pseudonymised is not anonymised."""
    from patterns.errors import ExportError
    from patterns.pseudonymize import write_pseudonymized

    try:
        record = write_pseudonymized(
            export,
            out,
            key_file=key_file,
            shift_time=shift_time,
            names_file=names,
            text="drop" if drop_text else "redact",
            mapping=mapping,
            timezone=timezone,
        )
    except ExportError as exc:
        _err(f"Cannot pseudonymize {export}: {exc}")
        raise typer.Exit(2) from None
    except (OSError, ValueError) as exc:
        _err(f"Bad arguments: {exc}")
        raise typer.Exit(2) from None
    rows = record["rows"]
    typer.echo(
        f"Wrote {rows['events']} events and {rows['checkins']} check-ins for "
        f"{record['ids']['couples']} couple(s) to {out} (see pseudonymization.json). "
        "Keep the key apart from this folder: pseudonymised data is still personal data."
    )


@app.command()
def metrics(
    export: ExportArg,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output file: .csv or .parquet (codebook beside).")
    ],
    mapping: MappingOpt = None,
    timezone: TimezoneOpt = None,
    cutoff_hour: Annotated[
        int, typer.Option(help="Local hour at which a diary day starts.", min=0, max=23)
    ] = 4,
    engine: Annotated[
        str,
        typer.Option(help="pandas (this process) or dask (a Dask cluster; same table)."),
    ] = "pandas",
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="--engine dask: scheduler address (tcp://host:8786); default a local "
            "cluster of 2 worker processes."
        ),
    ] = None,
    staging: Annotated[
        Path | None,
        typer.Option(
            help="--engine dask: folder for the partitioned Parquet, readable by every "
            "worker (default a private temporary folder, removed afterwards)."
        ),
    ] = None,
) -> None:
    """Write the couple-week metrics table (one row per couple and ISO week) and its codebook."""
    if _CONSOLE:  # before NumPy is imported and before the load starts any thread
        _numpy_without_hugepages()
        if _tune_malloc():
            _arrow_on_glibc_heap()
    from patterns.errors import ExportError
    from patterns.io import load_export
    from patterns.metrics import couple_week_metrics, write_metrics

    if out.suffix.lower() not in {".csv", ".parquet"}:
        _err(f"--out must end in .csv or .parquet; got {out.name!r}.")
        raise typer.Exit(2)
    if engine not in ("pandas", "dask"):
        _err(f"--engine must be pandas or dask; got {engine!r}.")
        raise typer.Exit(2)
    if engine == "pandas" and (scheduler or staging):
        _err("--scheduler and --staging need --engine dask.")
        raise typer.Exit(2)
    try:
        exp = load_export(export, mapping=mapping, timezone=timezone)
    except ExportError as exc:
        _cannot_read(export, exc)
    extra = {"scheduler": scheduler, "staging": staging} if engine == "dask" else {}
    table = couple_week_metrics(exp, cutoff_hour=cutoff_hour, engine=engine, **extra)
    path = write_metrics(table, out)
    typer.echo(
        f"Wrote {len(table)} couple-week rows for {table['couple_id'].nunique()} couple(s) "
        f"to {path} (codebook: {path.stem}_codebook.csv)"
    )
    if _CONSOLE and engine == "pandas":
        _hard_exit(0)


def default_jobs() -> int:
    """Notebook processes ``patterns report`` runs at once by default: one per CPU core,
    at most 4 (each notebook process holds its couple's data and a kernel, ~0.4 GB).

    Examples
    --------
    >>> 1 <= default_jobs() <= 4
    True
    """
    from patterns._fast import usable_cpus

    return max(1, min(4, usable_cpus()))


#: glibc ``mallopt`` settings of the console command (malloc.h parameter numbers).
_MALLOPT = {
    -8: 1,  # M_ARENA_MAX: one arena shared by the threads
    -3: 32 << 20,  # M_MMAP_THRESHOLD: blocks under 32 MB (the maximum) come from the heap
    -1: 1 << 30,  # M_TRIM_THRESHOLD: keep up to 1 GB of freed heap for reuse
    -2: 64 << 20,  # M_TOP_PAD: grow the heap 64 MB at a time
}


def _tune_malloc() -> bool:
    """Tune glibc's allocator for this process (unless the user tuned it: any
    ``MALLOC_*`` variable or ``GLIBC_TUNABLES=glibc.malloc.*``); True when it took effect.
    Linux/glibc only; elsewhere nothing happens.

    Why: the loader and the couple-week table allocate and free arrays of tens of MB,
    some on a few threads. By default glibc gives each thread its own arena, and serves
    every block over a (dynamic) threshold with a fresh ``mmap`` that it unmaps on free,
    so the memory is never reused and every new page costs a fault (system time is
    expensive on small VMs). One arena, blocks up to 32 MB from the heap and freed heap
    kept: ``patterns metrics`` on 1,000 couples, 5 interleaved runs each on 2 cores, median
    3.16 -> 2.94 s wall and 4.91 -> 4.49 s CPU (one arena alone had cut page faults by
    25-30% before); same peak memory (~1.5 GB); values unchanged. Only the console command
    ``patterns metrics`` does this (a library must not retune its host process), and not
    ``patterns report``, whose parent process would keep freed heap while its notebooks
    run.
    """
    import os
    import sys

    tunables = os.environ.get("GLIBC_TUNABLES", "")
    chosen = any(k.startswith("MALLOC_") for k in os.environ) or "glibc.malloc." in tunables
    if not sys.platform.startswith("linux") or chosen:
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        # a list, not a generator: every setting is tried even when an earlier one fails
        return all([bool(libc.mallopt(param, value)) for param, value in _MALLOPT.items()])
    except (OSError, AttributeError):  # not glibc (e.g. musl): keep its defaults
        return False


def _arrow_on_glibc_heap() -> bool:
    """Make pyarrow allocate from glibc's heap (tuned by :func:`_tune_malloc`) instead of
    its bundled mimalloc, unless the user chose a pool (``ARROW_DEFAULT_MEMORY_POOL``);
    True when it took effect.

    Why: ``load_export`` already loads a large export on the system pool
    (:func:`patterns.io._system_pool`) but restores the default when it returns, so the
    couple-week table's Arrow allocations (takes, casts, the CSV's text) went to mimalloc,
    on fresh pages (each new page costs a fault), while the glibc heap kept the memory the
    load had freed. Kept on the system pool, they reuse it. ``patterns metrics`` on
    1,000 couples, 8 interleaved runs each on 2 cores: median 3.40 -> 2.82 s wall, 5.06 ->
    4.26 s CPU, peak 1.68 -> 1.50 GB; values unchanged. Console command only, for the same
    reason as :func:`_tune_malloc` (and set in-process, not through the environment, so
    that Dask worker processes started by ``--engine dask`` keep their defaults).
    """
    import os

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return False
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    return True


def _numpy_without_hugepages() -> bool:
    """Import NumPy with its transparent-huge-page advice off (``NUMPY_MADVISE_HUGEPAGE=0``,
    read once at import), unless NumPy is already imported or the user set the variable;
    True when it took effect. The variable is removed again, so child processes (Dask
    workers of ``--engine dask``) keep NumPy's default.

    Why: NumPy advises huge pages for every array of 4 MB or more. Where the kernel's
    ``transparent_hugepage/defrag`` is ``madvise`` (a common default), a fault on such an
    array may compact memory on the spot. ``load_export``'s cross-table checks on 1,000
    couples spent 0.4 s of system time on ~10,000 such faults (0.71 -> 0.30 s wall without
    the advice, 3 runs each); the whole command, 6 interleaved runs: median 4.24 -> 3.74 s
    wall, 5.66 -> 5.07 s CPU; values unchanged.
    """
    import os
    import sys

    if "numpy" in sys.modules or "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return False
    os.environ["NUMPY_MADVISE_HUGEPAGE"] = "0"
    try:
        import numpy  # noqa: F401  (reads the variable now)
    finally:
        del os.environ["NUMPY_MADVISE_HUGEPAGE"]
    return True


def _hard_exit(code: int) -> NoReturn:
    """End the console command at once: run the ``atexit`` handlers, flush the standard
    streams (a normal exit's order), and skip the interpreter's teardown, which frees the
    loaded export and the table object by object (1,000 couples: ~0.2 s wall, 6
    interleaved runs, median
    3.01 -> 2.82 s). mypy ends its command the same way (``mypy.util.hard_exit``). Only
    after every output file is written and closed, and only in ``patterns metrics`` with
    the pandas engine (no cluster, no temporary folder to remove).
    """
    import atexit
    import os
    import sys

    # in a normal exit's order: the atexit handlers, then the streams' last flush (output
    # a handler writes to a piped, block-buffered stdout would otherwise be lost)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # closed or replaced stream
            pass
    os._exit(code)


#: True when running as the ``patterns`` console command (set by :func:`main`), so that
#: process-wide tuning never happens inside a host process (tests, notebooks) that
#: calls the commands.
_CONSOLE = False


def main() -> None:  # console-script entry point
    global _CONSOLE
    _CONSOLE = True
    try:
        app()
    finally:  # (a host process that calls main() and goes on is not the command)
        _CONSOLE = False


if __name__ == "__main__":  # pragma: no cover
    main()
