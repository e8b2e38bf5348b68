"""Write the report notebooks (``NN_name.ipynb``) from one spec, without outputs.

Run ``python notebooks/build.py`` after changing a spec; ``tests/test_notebooks.py`` checks
that the committed notebooks equal what this script writes, have no outputs, and declare the
parameters of :data:`patterns.report.PARAMETERS`.

Every notebook: a title, a ``parameters`` cell (``name: type = default  # help``), ONE cell
that validates the parameters and loads the export (:func:`patterns.report.prepare`), then
sections that only call the package. No function definitions.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from patterns.report import PARAMETERS

HERE = Path(__file__).resolve().parent

PREPARE = """\
import patterns
import patterns.charts
import patterns.quality
from patterns import report

ctx = report.prepare(
    export_path=export_path,
    couple_id=couple_id,
    start=start,
    end=end,
    timezone=timezone,
    intervention_date=intervention_date,
    audience=audience,
    show_text=show_text,
    consent_check=consent_check,
)
ctx.stamp()"""


def parameters_source() -> str:
    """The ``parameters`` cell: one ``name: type = default  # help`` line per parameter."""
    lines = []
    for name, (kind, default, help_text) in PARAMETERS.items():
        lines.append(f"{name}: {kind.__name__} = {default!r}  # {help_text}")
    return "\n".join(lines)


def md(text: str):
    return new_markdown_cell(text.strip())


def code(text: str):
    return new_code_cell(text.strip())


NOTEBOOKS: dict[str, tuple[str, list]] = {
    "01_data_quality": (
        "# What the data holds\n\nWhat was loaded, what was set aside (and why), and how "
        "regularly each partner checked in. Read this first: every later page rests on it.",
        [
            md("## What loaded"),
            code(
                """
ctx.say("Rows read from the export file, and how many of them were set aside.")
ctx.table(
    ctx.loaded.summary(),
    names={"table": "table", "rows_in": "rows read", "rows_loaded": "rows used",
           "rows_quarantined": "rows set aside"},
)
ctx.say(
    f"For this couple: {len(ctx.events)} logged moves and {len(ctx.checkins)} check-ins "
    "in the period."
)"""
            ),
            md("## What was set aside, and why"),
            code(
                """
reasons = ctx.run(
    patterns.quality.quarantine_reasons,
    ctx.loaded.quarantine,
    what="set-aside rows",
    empty="No rows were set aside: everything in the file could be used.",
)
ctx.table(reasons, names={"rows": "rows set aside"})"""
            ),
            md("## How regularly each partner checked in"),
            code(
                """
completion = ctx.run(
    patterns.quality.checkin_completion,
    ctx.checkins,
    start=ctx.params.start,
    end=ctx.params.end,
    partners=ctx.export.partners,
    what="daily check-ins",
    needs=["checkins"],
)
ctx.table(
    completion,
    columns=["partner", "days", "days_with_checkin", "completion", "ci_low", "ci_high"],
    names={"days_with_checkin": "days with a check-in", "completion": "share of days",
           "ci_low": "95% interval from", "ci_high": "95% interval to"},
)
if completion is not None:
    ctx.chart(
        patterns.charts.chart_checkin_completion(ctx.labelled(completion)),
        alt_text="Share of days with a check-in, per partner",
    )
    ctx.say(
        "Fewer check-ins mean less certain numbers on the following pages; the interval "
        "shows how much the share could move by chance."
    )"""
            ),
        ],
    ),
}


def build(name: str) -> nbformat.NotebookNode:
    title, cells = NOTEBOOKS[name]
    params = new_code_cell(parameters_source())
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(
        cells=[md(title), params, code(PREPARE), *cells],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python", "pygments_lexer": "ipython3"},
        },
    )
    # Stable cell ids, so rebuilding gives the same bytes.
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name.replace('_', '-')}-{i:02d}"
    return nb


def main(argv: list[str] | None = None) -> int:
    out = Path(argv[0]) if argv else HERE
    for name in NOTEBOOKS:
        nbformat.write(build(name), str(out / f"{name}.ipynb"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
