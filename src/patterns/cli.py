"""The ``patterns`` command line: validate, simulate, metrics, report, pseudonymize.

Exit codes: 0 only when everything asked for succeeded; 1 when some of the work failed (or,
under ``--strict``, rows were quarantined); 2 when the input cannot be read or the
arguments are wrong. Each command is a thin wrapper over a package function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
    typer.Option("--timezone", help="IANA zone for naive times (overrides the manifest)."),
]


def _err(message: str) -> None:
    typer.secho(message, err=True, fg=typer.colors.RED)


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
        _err(f"Cannot read export {export}: {exc}")
        raise typer.Exit(2) from None
    console = Console()
    summary = exp.summary()
    table = Table(title=f"Export {export.name}: rows in = loaded + quarantined")
    for col in summary.columns:
        table.add_column(str(col), justify="right" if col != "table" else "left")
    for row in summary.itertuples(index=False):
        table.add_row(*[str(v) for v in row])
    console.print(table)
    q = exp.quarantine
    if len(q):
        reasons = (
            q.groupby(["table", "reason"], observed=True).size().reset_index(name="rows")
        )
        rt = Table(title="Quarantine reasons")
        for col in reasons.columns:
            rt.add_column(str(col))
        for row in reasons.itertuples(index=False):
            rt.add_row(*[str(v) for v in row])
        console.print(rt)
        if strict:
            _err(f"--strict: {len(q)} row(s) were quarantined.")
            raise typer.Exit(1)
    else:
        console.print("No rows quarantined.")


@app.command()
def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the export to.")],
    couples: Annotated[int, typer.Option(help="Number of couples.", min=1)] = 3,
    days: Annotated[int, typer.Option(help="Days per couple.", min=14)] = 120,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same bytes.")] = 0,
) -> None:
    """Write a synthetic export with planted truth (episodes, topics, change points)."""
    from patterns.simulate import simulate_export

    simulate_export(couples=couples, days=days, seed=seed, out=out)
    typer.echo(f"Wrote a synthetic export of {couples} couple(s) × {days} days to {out}")


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
