"""Parameterized report notebooks and the ``patterns report`` runner.

Two halves, one contract (the notebook parameters in :data:`PARAMETERS`):

* **inside a notebook** — :func:`validate_parameters` checks the values papermill injected
  (papermill itself checks nothing) and :func:`prepare` loads the export for one couple and
  returns a :class:`ReportContext` whose ``say`` / ``missing`` / ``table`` / ``chart`` /
  ``run`` methods display plain-language, escaped, offline output. Notebooks call only
  these and the analyses; they define no functions.
* **outside** — :func:`run_report` validates everything *before* papermill, checks consent,
  runs each notebook in its own ``python -m papermill`` process (explicit ``python3`` kernel,
  execution timeout, at most ``jobs`` at once, one retry for a kernel that failed to start),
  and writes ``OUT/<couple>/<nn_name>.ipynb``, one self-contained ``OUT/<couple>/report.html``
  per couple, ``OUT/index.html`` and ``OUT/run.json``.

Big exports
-----------
:func:`run_report` loads and validates the export ONCE. Each couple's notebooks then read
that couple's *slice* (:mod:`patterns._slice`): its validated tables as Parquet, its
quarantine and DST notices, zones, partners, manifest entry, the original export's file
hashes and the whole export's row accounting, in the private folder ``OUT/.staging/<couple>``
(mode 0700), written when the couple's first notebook starts (with ``scheduler``: all before
the run). :func:`patterns.io.load_export` reads a slice as exactly
``export.for_couple(couple)``. The slice holds client data: it is deleted as soon as the
couple's last notebook finishes, and ``OUT/.staging`` is removed when the run ends, also on
failure. ``run.json`` describes the original export (path, file hashes); in the executed notebooks
that are kept (and the researcher page), ``export_path`` is rewritten to the original export
with a comment, so no page shows the deleted slice path.

Offline guarantee
-----------------
Report pages contain no ``<script>`` at all: charts are rendered to static SVG with
``vl-convert`` inside the notebook (no vega runtime, no actions menu, no chart data in the
page beyond the drawn marks), notebook bodies come from nbconvert's ``basic`` template (no
require.js, no MathJax) wrapped in the kit's own page, and every page carries a
``Content-Security-Policy`` that forbids any request (``default-src 'none'``). Before a page
is written, :func:`offline_problems` scans it for scripts, external links and ``url()``
references; a page that fails the scan is never written (the couple becomes a failure).

Privacy
-------
Page ``<title>`` and headings say "Couple report *k* of *n*"; the pseudonymous couple id
appears once in the body (the therapist needs it to match the file), never in a title.
Partners are "Partner A"/"Partner B" (:func:`patterns.schema.partner_labels`). Free text is
shown only when ``show_text`` is asked for AND both partners' consent lists ``free_text``.
A run with ``consent_check=False`` is stamped visibly on every page.

A failed notebook never becomes a client-facing page: the couple gets a failure entry in the
index (and in ``run.json``) instead, and any older ``report.html`` in its folder is removed.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from patterns.errors import check_int, check_option, check_positive, option_error

if os.environ.get("PATTERNS_REPORT_RUN") == "1":
    # Inside a kernel started by `patterns report` only: skip jsonschema's optional IRI
    # grammar (~1.5 CPU-s per notebook; see patterns/_papermill.py). Notebooks import this
    # module before Altair so the line runs before jsonschema is imported.
    sys.modules.setdefault("rfc3987_syntax", None)

__all__ = [
    "AUDIENCES",
    "PARAMETERS",
    "ConsentRefused",
    "NotebookRun",
    "ParameterError",
    "ReportContext",
    "ReportParameters",
    "ReportRun",
    "consent_summary",
    "couple_report_html",
    "default_notebook_dir",
    "list_notebooks",
    "offline_problems",
    "prepare",
    "run_report",
    "validate_parameters",
]

#: Who reads the report. ``therapist``: no code, plain language, partner labels only.
AUDIENCES: tuple[str, ...] = ("therapist", "researcher")

#: The notebook parameters: name -> (type, default, help). Every notebook's ``parameters``
#: cell declares exactly these (``name: type = default  # help``), and the runner passes
#: only these names, with plain ``str``/``bool`` values. A help text must not contain "=":
#: papermill's ``--help-notebook`` silently skips any line with two "=".
PARAMETERS: dict[str, tuple[type, Any, str]] = {
    "export_path": (str, "data/sample", "export folder, .zip or .json file"),
    "couple_id": (str, "", "pseudonymous couple id; empty means the export's first couple"),
    "start": (str, "", "first diary day to include, YYYY-MM-DD; empty means from the start"),
    "end": (str, "", "last diary day to include, YYYY-MM-DD; empty means to the end"),
    "timezone": (
        str,
        "",
        "IANA zone for naive times, e.g. Europe/Amsterdam; empty means the manifest's",
    ),
    "intervention_date": (str, "", "YYYY-MM-DD of an intervention to compare before/after"),
    "audience": (str, "therapist", "therapist (no code, plain language) or researcher"),
    "show_text": (bool, False, "show free text; only if both partners consent to free_text"),
    "consent_check": (bool, True, "refuse without both partners' consent; False stamps pages"),
}

_FUNC = "validate_parameters"
_NB_RE = re.compile(r"^(\d\d)_([a-z0-9_]+)\.ipynb$")
_CHART_FONTS = {
    "axis": {"labelFontSize": 13, "titleFontSize": 13},
    "legend": {"labelFontSize": 13, "titleFontSize": 13},
    "header": {"labelFontSize": 13, "titleFontSize": 13},
    "title": {"fontSize": 16},
    "text": {"fontSize": 13},
}
_PARTNER_COLUMNS = (
    "partner",
    "actor",
    "pursuer",
    "withdrawer",
    "partner_a",
    "partner_b",
    "reported_by",
)
_ID_COLUMNS = ("couple_id",)
#: The banner on every page (and in every notebook) of a run without the consent check.
_NO_CONSENT_STAMP = "CONSENT NOT CHECKED: this report was produced with --no-consent-check."


class ParameterError(ValueError):
    """A report argument or notebook parameter is invalid (raised before any notebook runs).
    The message names the parameter, what is allowed, what was given and the fix."""


@contextlib.contextmanager
def _as_parameter_error():
    try:
        yield
    except ParameterError:
        raise
    except ValueError as exc:
        raise ParameterError(str(exc)) from exc


class ConsentRefused(ValueError):
    """A couple lacks valid two-partner consent; the message names partner, rule and fix."""


# --- parameters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportParameters:
    """Validated notebook parameters (dates parsed; empty strings become ``None``)."""

    export_path: str
    couple_id: str
    start: dt.date | None
    end: dt.date | None
    timezone: str | None
    intervention_date: dt.date | None
    audience: str
    show_text: bool
    consent_check: bool

    def as_papermill(self) -> dict[str, str | bool]:
        """Plain ``str``/``bool`` values for papermill, keyed by the fixed parameter names."""
        out: dict[str, str | bool] = {}
        for name in PARAMETERS:
            value = getattr(self, name)
            if isinstance(value, dt.date):
                value = value.isoformat()
            out[name] = "" if value is None else value
        return out


def _param_error(param: str, allowed: str, got: Any, fix: str) -> ParameterError:
    base = str(option_error(param, _FUNC, allowed, got))
    return ParameterError(f"{base} Fix: {fix}")


def _parse_date(name: str, value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return dt.date.fromisoformat(value.strip())
    raise _param_error(
        name, "an ISO date 'YYYY-MM-DD' or ''", value, f"write {name} like '2026-03-01'."
    )


def validate_parameters(
    *,
    export_path: Any = "data/sample",
    couple_id: Any = "",
    start: Any = "",
    end: Any = "",
    timezone: Any = "",
    intervention_date: Any = "",
    audience: Any = "therapist",
    show_text: Any = False,
    consent_check: Any = True,
    couples: Sequence[str] | None = None,
) -> ReportParameters:
    """Check report parameters and return them parsed; raise one clear error otherwise.

    Parameters
    ----------
    export_path, couple_id, start, end, timezone, intervention_date, audience, show_text, \
consent_check
        The notebook parameters (:data:`PARAMETERS`), as papermill injected them.
    couples : sequence of str, optional
        The export's couple ids. When given, ``couple_id`` must be one of them (an empty
        ``couple_id`` then means the first).

    Returns
    -------
    ReportParameters
        Dates as :class:`datetime.date` (or ``None``), empty strings as ``None``.

    Raises
    ------
    ValueError
        Naming the parameter, what is allowed, what was given and the fix: unknown couple
        (lists the known couples), unknown audience, a date that is not ``YYYY-MM-DD``,
        ``end`` before ``start``, an unknown time zone, a non-bool flag, a non-string value.

    Examples
    --------
    >>> p = validate_parameters(couple_id="c1", start="2026-01-05", couples=["c1", "c2"])
    >>> p.couple_id, p.start.isoformat(), p.end, p.audience
    ('c1', '2026-01-05', None, 'therapist')
    >>> validate_parameters(start="2026-02-01", end="2026-01-01")
    Traceback (most recent call last):
    ...
    patterns.report.ParameterError: validate_parameters: end must be on or after start ...
    """
    for name, value in (
        ("export_path", export_path),
        ("couple_id", couple_id),
        ("timezone", timezone),
        ("audience", audience),
    ):
        if not isinstance(value, str):
            raise _param_error(
                name, "a string", value, f"pass {name} as text (papermill -p/-y quote it)."
            )
    for name, value in (("show_text", show_text), ("consent_check", consent_check)):
        if not isinstance(value, bool):
            raise _param_error(name, "True or False", value, f"pass {name} as a bool.")
    if audience not in AUDIENCES:
        raise _param_error(
            "audience", f"one of {list(AUDIENCES)}", audience, "use --audience therapist."
        )
    if not export_path.strip():
        raise _param_error("export_path", "a path to an export", export_path, "pass a path.")
    couple = couple_id.strip()
    if couples is not None:
        known = [str(c) for c in couples]
        if not known:
            raise _param_error(
                "couple_id", "a couple of the export", couple_id, "the export has no couples."
            )
        if couple == "":
            couple = known[0]
        elif couple not in known:
            raise _param_error(
                "couple_id",
                f"one of the export's couples {known}",
                couple_id,
                "pick one of the known couples (see `patterns validate EXPORT`).",
            )
    d_start = _parse_date("start", start)
    d_end = _parse_date("end", end)
    if d_start is not None and d_end is not None and d_end < d_start:
        raise _param_error(
            "end",
            f"on or after start ({d_start.isoformat()})",
            d_end.isoformat(),
            "swap start and end, or widen the range.",
        )
    d_int = _parse_date("intervention_date", intervention_date)
    tz = timezone.strip() or None
    if tz is not None:
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise _param_error(
                "timezone",
                "an IANA zone such as 'Europe/Amsterdam', or ''",
                timezone,
                "use a name from the tz database, or leave it empty to use the manifest.",
            ) from None
    return ReportParameters(
        export_path=export_path,
        couple_id=couple,
        start=d_start,
        end=d_end,
        timezone=tz,
        intervention_date=d_int,
        audience=audience,
        show_text=show_text,
        consent_check=consent_check,
    )


# --- consent ------------------------------------------------------------------------------


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _consent(manifest: Mapping[str, Any], couple_id: str) -> Any:
    from patterns.consent import check_consent

    return check_consent(manifest, couple_id, purpose="treatment")


def consent_summary(decision: Any) -> dict[str, Any]:
    """A JSON-able summary of a consent decision: ok, categories, problems, warnings."""
    problems = [
        {
            "partner": str(_get(p, "partner", None) or ""),
            "rule": str(_get(p, "rule", "")),
            "message": str(_get(p, "message", p)),
            "fix": str(_get(p, "fix", "")),
        }
        for p in (_get(decision, "problems", []) or [])
    ]
    return {
        "ok": bool(_get(decision, "ok", False)),
        "categories": sorted(str(c) for c in (_get(decision, "categories", []) or [])),
        "problems": problems,
        "warnings": [str(w) for w in (_get(decision, "warnings", []) or [])],
    }


def _refusal_message(couple_id: str, summary: Mapping[str, Any], labels: Mapping) -> str:
    parts = []
    for p in summary["problems"]:
        who = labels.get(p["partner"], "a partner") if p["partner"] else "the couple"
        text = f"{who}: rule {p['rule'] or 'consent'}: {p['message']}"
        if p["fix"]:
            text += f" Fix: {p['fix']}"
        parts.append(text)
    detail = "; ".join(parts) or "no valid consent recorded for both partners."
    return (
        f"couple {couple_id!r} refused, no valid two-partner consent — {detail} "
        "(or rerun with --no-consent-check, which is stamped on every page)."
    )


# --- inside a notebook --------------------------------------------------------------------


class _Value:
    """A value for sentence templates: formats like the value, or "unknown" when missing."""

    def __init__(self, value: Any):
        self.value = value

    def __format__(self, spec: str) -> str:
        v = self.value
        if v is None or (not isinstance(v, str) and pd.api.types.is_scalar(v) and pd.isna(v)):
            return "unknown"
        if isinstance(v, pd.Timestamp) and not spec:
            return v.strftime("%Y-%m-%d") if v == v.normalize() else v.strftime("%Y-%m-%d %H:%M")
        return format(_words(v), spec)

    def __str__(self) -> str:
        return format(self, "")


def _display_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Dates as text (no midnight times), missing values as a dash, for display only."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            midnight = s.dropna().eq(s.dropna().dt.normalize()).all()
            out[col] = s.dt.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M")
            s = out[col]
        if not pd.api.types.is_float_dtype(s) and s.isna().any():
            out[col] = s.astype(object).where(s.notna(), "–")
    return out


#: A snake_case code (``urge_withdraw``, ``time_together``): shown with spaces.
_SNAKE_CODE = re.compile(r"^[a-z]+(?:_[a-z]+)+$")


def _words(value: Any) -> Any:
    """``"urge_withdraw"`` -> ``"urge withdraw"`` for display; anything else unchanged."""
    return value.replace("_", " ") if isinstance(value, str) and _SNAKE_CODE.match(value) else value


_DATE_CELL = re.compile(r"<td>(\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2})?)</td>")
#: Float columns that hold counts (``n`` is float when a row has no count): shown as whole
#: numbers when every value is whole, like any float column whose whole values reach 2.
_COUNT_NAME = re.compile(r"^(n|n_\w+|\w+_n|rows\w*|days\w*|count\w*|\w+_count|weeks\w*)$")


def _readable_values(df: pd.DataFrame) -> pd.DataFrame:
    """Float columns whose values are all whole numbers (counts stored as float because a
    row lacks one) as text without decimals, for display only: "120", not "120.00".
    A column of shares that happen to be 0 or 1 keeps its decimals unless named as a count.
    Boolean columns read "yes"/"no"; snake_case codes read as words.
    """
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_bool_dtype(s):  # True/False is Python's word, not the reader's
            out[col] = s.astype(object).map(lambda x: "–" if pd.isna(x) else "yes" if x else "no")
            continue
        if pd.api.types.is_string_dtype(s) or s.dtype == object:
            out[col] = s.astype(object).map(_words)
            continue
        if not pd.api.types.is_float_dtype(s):
            continue
        v = s.dropna().to_numpy(dtype="float64")
        if len(v) == 0 or not (v == v.round()).all() or not np.isfinite(v).all():
            continue
        if np.abs(v).max() >= 2 or _COUNT_NAME.match(str(col)):
            out[col] = s.map(lambda x: "–" if pd.isna(x) else f"{int(x)}").astype(object)
    return out


def _display_html(html: str) -> None:
    from IPython.display import display

    display({"text/html": html}, raw=True)


@dataclass
class ReportContext:
    """One couple's data and the display helpers a report notebook uses.

    Built by :func:`prepare`; notebooks call its methods only. Every text it shows is
    escaped; tables show partner labels, never ids; charts are inline SVG.
    """

    params: ReportParameters
    export: Any
    events: pd.DataFrame
    checkins: pd.DataFrame
    labels: dict[str, str]
    consent: dict[str, Any]
    show_text: bool
    timezones: dict[str, str] = field(default_factory=dict)
    loaded: Any = None  # the export as loaded: the whole file, or the couple's slice
    file_summary: pd.DataFrame | None = None  # the WHOLE export's Export.summary()

    # -- facts -----------------------------------------------------------------------
    @property
    def couple_id(self) -> str:
        return self.params.couple_id

    @property
    def therapist(self) -> bool:
        return self.params.audience == "therapist"

    @property
    def rows_set_aside_in_file(self) -> int:
        """Input rows of the whole export file (all couples) that were set aside."""
        if self.file_summary is None or len(self.file_summary) == 0:
            return 0
        return int(self.file_summary["rows_quarantined"].sum())

    def has(self, table: str, *columns: str) -> bool:
        """Whether ``table`` (``events``/``checkins``) has rows and non-empty ``columns``."""
        df = getattr(self, table)
        if df is None or len(df) == 0:
            return False
        return all(c in df.columns and df[c].notna().any() for c in columns)

    # -- display ---------------------------------------------------------------------
    def say(self, text: str) -> None:
        """Show one plain-language paragraph (escaped)."""
        from patterns.privacy import escape_html

        _display_html(f'<p class="say">{escape_html(text)}</p>')

    def missing(self, what: str) -> None:
        """Say in one sentence that a section's data is missing."""
        from patterns.privacy import escape_html

        _display_html(
            f'<p class="missing">Not shown: {escape_html(what)} — the export has no data '
            "for it in this period.</p>"
        )

    def stamp(self) -> None:
        """Show the consent banner when the run skipped the consent check."""
        if not self.params.consent_check:
            _display_html(f'<p class="stamp">{_NO_CONSENT_STAMP}</p>')

    def labelled(self, df: pd.DataFrame, *, keep_ids: bool = False) -> pd.DataFrame:
        """A copy for display: partner ids replaced by "Partner A/B", free text dropped
        unless allowed, UTC times shown as the couple's local wall-clock time (to the
        minute), and (for therapists, unless ``keep_ids``) the couple id column removed."""
        from patterns.privacy import redact_frame

        out = redact_frame(df, allow_text=self.show_text)
        for col in _PARTNER_COLUMNS:
            if col in out.columns:
                out[col] = (
                    out[col]
                    .astype("string")
                    .map(lambda v: self.labels.get(v, v) if isinstance(v, str) else v)
                )
        if not self.show_text:
            # A topic may be a free label typed by a partner ("her mother's visit"): show
            # only the kit's topic vocabulary; anything else reads "other".
            from patterns.topics import TOPICS

            known = {*TOPICS, "none"}
            for col in ("topic", "conflict_topic"):
                if col in out.columns:
                    topic = out[col].astype("string")
                    out[col] = topic.where(topic.isna() | topic.isin(known), "other")
        zone = self.timezones.get(self.couple_id, "UTC")
        for col in out.columns:
            if isinstance(out[col].dtype, pd.DatetimeTZDtype):
                out[col] = out[col].dt.tz_convert(zone).dt.tz_localize(None).dt.floor("min")
        if self.therapist and not keep_ids:
            out = out.drop(columns=[c for c in _ID_COLUMNS if c in out.columns])
        return out.reset_index(drop=True)

    def for_chart(self, df: pd.DataFrame | None) -> pd.DataFrame | None:
        """:meth:`labelled` keeping the couple id column (chart functions may need it)."""
        return None if df is None else self.labelled(df, keep_ids=True)

    def sentences(self, df: pd.DataFrame | None, template: str, *, max_rows: int = 12) -> None:
        """Say ``template.format(**row)`` for each (labelled) row; missing numbers read
        "unknown" whatever their format spec."""
        if df is None:
            return
        for row in self.labelled(df, keep_ids=True).head(max_rows).to_dict("records"):
            self.say(template.format(**{k: _Value(v) for k, v in row.items()}))

    def table(
        self,
        df: pd.DataFrame | None,
        *,
        columns: Sequence[str] | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Mapping[Any, str]] | None = None,
        digits: int = 2,
        max_rows: int = 60,
    ) -> None:
        """Show a result table (labelled, escaped, numbers rounded for display only).

        ``names`` renames columns and ``values`` words a column's codes for the reader
        (``{"level": {"none": "calm"}}``); whole-number float columns (counts) show
        without decimals.
        """
        if df is None:
            return
        shown = self.labelled(df)
        if columns is not None:
            shown = shown[[c for c in columns if c in shown.columns]]
        if len(shown) > max_rows:
            self.say(f"Showing the first {max_rows} of {len(shown)} rows.")
            shown = shown.head(max_rows)
        for col, words in (values or {}).items():
            if col in shown.columns:
                shown[col] = shown[col].astype(object).map(lambda v, w=words: w.get(v, v))
        shown = _display_frame(_readable_values(shown))
        if names:
            shown = shown.rename(columns=dict(names))
        from patterns.privacy import strip_bidi

        # shown text keeps no bidi controls (see escape_html); tables are ≤ max_rows rows
        for i in range(shown.shape[1]):
            col = shown.iloc[:, i]
            if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
                shown.isetitem(i, col.map(strip_bidi))
        shown.columns = [strip_bidi(c) for c in shown.columns]
        html = shown.to_html(
            index=False,
            escape=True,
            na_rep="–",
            float_format=lambda x: f"{x:.{digits}f}",
            border=0,
            classes="result",
        )
        # dates never break across lines (a cell holding only digits, so the rewrite is safe)
        html = _DATE_CELL.sub(r'<td class="date">\1</td>', html)
        _display_html(html)

    def chart(self, chart: Any, *, alt_text: str = "") -> None:
        """Render an Altair chart to static SVG (vl-convert) and show it; no script."""
        if chart is None:
            return
        import vl_convert

        from patterns.privacy import escape_html

        spec = chart.to_dict()
        spec.setdefault("usermeta", {})["embedOptions"] = {"actions": False}
        # Vega's default 10-11 px text is small beside the page's 16 px: readable sizes
        # unless the chart sets its own.
        config = spec.setdefault("config", {})
        for part, sizes in _CHART_FONTS.items():
            for key, value in sizes.items():
                config.setdefault(part, {}).setdefault(key, value)
        svg = vl_convert.vegalite_to_svg(spec)
        _display_html(
            f'<figure class="chart" role="img" aria-label="{escape_html(alt_text)}">{svg}</figure>'
        )

    def run(
        self,
        func: Callable[..., pd.DataFrame],
        *args: Any,
        what: str,
        needs: Iterable[str] = (),
        empty: str = "",
        **kwargs: Any,
    ) -> pd.DataFrame | None:
        """Call an analysis; when its data is missing say so in one sentence and return
        ``None`` (``needs``: ``"events"``/``"checkins"`` or ``"checkins.connection"``).
        ``empty``: the sentence to say instead when the result has no rows."""
        from patterns.schema import SchemaError

        for need in needs:
            table, _, column = need.partition(".")
            if not self.has(table, *([column] if column else [])):
                self.missing(what)
                return None
        try:
            result = func(*args, **kwargs)
        except SchemaError:
            self.missing(what)
            return None
        if result is None or len(result) == 0:
            if empty:
                self.say(empty)
            else:
                self.missing(what)
            return None
        return result


def _filter_days(
    df: pd.DataFrame, p: ReportParameters, timezones: Mapping[str, str]
) -> pd.DataFrame:
    if len(df) == 0 or (p.start is None and p.end is None):
        return df.reset_index(drop=True)
    from patterns.timeutil import diary_day

    day = diary_day(df["ts"], df["couple_id"], dict(timezones) or "UTC")
    keep = pd.Series(True, index=df.index)
    if p.start is not None:
        keep &= day >= pd.Timestamp(p.start)
    if p.end is not None:
        keep &= day <= pd.Timestamp(p.end)
    out = df.loc[keep].reset_index(drop=True)
    out.attrs = dict(df.attrs)
    return out


def prepare(
    *,
    export_path: Any = "data/sample",
    couple_id: Any = "",
    start: Any = "",
    end: Any = "",
    timezone: Any = "",
    intervention_date: Any = "",
    audience: Any = "therapist",
    show_text: Any = False,
    consent_check: Any = True,
) -> ReportContext:
    """Validate the notebook parameters, load the export and select one couple.

    The one call in every report notebook's validation cell. Raises ``ValueError`` with a
    clear message for a bad parameter (see :func:`validate_parameters`), for an unreadable
    export (the loader's message plus the path), and :class:`ConsentRefused` for a couple
    without valid two-partner consent unless ``consent_check`` is False.

    Returns
    -------
    ReportContext
        ``events``/``checkins`` of the couple within [start, end] (local diary days).
    """
    p = validate_parameters(
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
    from patterns import _slice
    from patterns.errors import ExportError
    from patterns.io import load_export
    from patterns.schema import partner_labels

    try:
        if _slice.is_slice(p.export_path):
            # `patterns report` passes a couple slice (the export validated once, by it)
            export = _slice.read_couple_slice(p.export_path)
            file_summary = _slice.slice_summary(p.export_path)
        else:
            export = load_export(p.export_path, timezone=p.timezone)
            file_summary = export.summary()
    except ExportError as exc:
        raise _param_error(
            "export_path", "a readable export", p.export_path, f"check the path. {exc}"
        ) from None
    p = validate_parameters(**{**p.as_papermill(), "couples": list(export.couples)})
    couple = export.for_couple(p.couple_id)
    partners = list(export.partners.get(p.couple_id, []))
    labels = dict(partner_labels(partners))
    consent = consent_summary(_consent(export.manifest, p.couple_id))
    if p.consent_check and not consent["ok"]:
        raise ConsentRefused(_refusal_message(p.couple_id, consent, labels))
    allow_text = bool(p.show_text and "free_text" in consent["categories"])
    zones = dict(export.timezones)
    events = _filter_days(couple.events, p, zones)
    checkins = _filter_days(couple.checkins, p, zones)
    if dataclasses.is_dataclass(couple) and (p.start is not None or p.end is not None):
        # the couple's export restricted to the period, for analyses that take an Export
        couple = dataclasses.replace(couple, events=events, checkins=checkins)
    return ReportContext(
        params=p,
        export=couple,
        events=events,
        checkins=checkins,
        labels=labels,
        consent=consent,
        show_text=allow_text,
        timezones=zones,
        loaded=export,
        file_summary=file_summary,
    )


# --- notebooks ----------------------------------------------------------------------------


def default_notebook_dir() -> Path:
    """The kit's ``notebooks/`` folder (next to ``src/`` in a checkout)."""
    return Path(__file__).resolve().parents[2] / "notebooks"


def list_notebooks(
    selection: Sequence[str] | None = None, *, notebook_dir: str | Path | None = None
) -> list[Path]:
    """The report notebooks (``NN_name.ipynb``) in reading order, optionally a selection.

    ``selection`` items may be the file name, the stem (``02_bids``), the number (``02``)
    or the name (``bids``). An unknown item raises ``ValueError`` listing what exists.
    """
    folder = Path(notebook_dir) if notebook_dir is not None else default_notebook_dir()
    found = sorted(p for p in folder.glob("*.ipynb") if _NB_RE.match(p.name))
    if not found:
        raise ValueError(f"list_notebooks: no NN_name.ipynb notebooks in {folder}.")
    if not selection:
        return found
    chosen: list[Path] = []
    for item in selection:
        key = str(item).removesuffix(".ipynb")
        hits = [
            p
            for p in found
            if key in (p.stem, _NB_RE.match(p.name).group(1), _NB_RE.match(p.name).group(2))
        ]
        if len(hits) != 1:
            raise option_error("notebook", "run_report", f"one of {[p.stem for p in found]}", item)
        if hits[0] not in chosen:
            chosen.append(hits[0])
    return sorted(chosen)


# --- HTML ---------------------------------------------------------------------------------

_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "base-uri 'none'; form-action 'none'"
)

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:980px;
margin:2rem auto;padding:0 1rem;color:#222;line-height:1.5}
h1{font-size:1.6rem}h2{font-size:1.3rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table.result,table.index{border-collapse:collapse;margin:.5rem 0 1rem}
table.result td,table.result th,table.index td,table.index th{padding:.25rem .6rem;
border-bottom:1px solid #e3e3e3;text-align:left}td.date{white-space:nowrap}
figure.chart{margin:1rem 0}figure.chart svg{max-width:100%;height:auto}
.stamp{background:#fff3cd;border:2px solid #d39e00;padding:.5rem 1rem;font-weight:bold}
.missing{color:#666;font-style:italic}.failed{color:#b00020}.ok{color:#00703c}
.meta{color:#555;font-size:.9rem}section.notebook{margin-bottom:3rem}
.jp-InputPrompt,.prompt,.input_prompt,.output_prompt{display:none}
pre{white-space:pre-wrap;background:#f7f7f7;padding:.5rem}
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>{{ css | safe }}</style>
</head>
<body>
{% if stamp %}<p class="stamp">{{ stamp }}</p>{% endif %}
<h1>{{ title }}</h1>
{% for line in meta %}<p class="meta">{{ line }}</p>
{% endfor %}
{{ body | safe }}
<p class="meta">Made by connection-patterns {{ version }}. Nothing on this page is a
diagnosis. This file makes no network requests.</p>
</body>
</html>
"""

_INDEX_BODY = """<table class="index">
<thead><tr><th>#</th><th>Couple</th><th>Status</th><th>Report</th><th>Details</th></tr></thead>
<tbody>
{% for c in couples %}<tr>
<td>{{ c.number }}</td><td>{{ c.couple_id }}</td>
<td class="{{ 'ok' if c.status == 'ok' else 'failed' }}">{{ c.status }}</td>
<td>{% if c.report %}<a href="{{ c.report }}">report</a>{% else %}none{% endif %}</td>
<td>{{ c.detail }}</td>
</tr>
{% endfor %}</tbody>
</table>
{% if failures %}<h2>Failures</h2>
<ul>{% for f in failures %}<li class="failed">{{ f }}</li>{% endfor %}</ul>{% endif %}
"""

#: Patterns that would make a page load something: any script, any link element, any
#: src/href/url() pointing at a scheme other than a fragment or data:.
_OFFLINE_CHECKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("script element", re.compile(r"<script\b", re.I)),
    ("link element", re.compile(r"<link\b", re.I)),
    ("iframe/object/embed", re.compile(r"<(iframe|object|embed|frame)\b", re.I)),
    (
        "external src/href",
        re.compile(r"""\b(?:src|href|xlink:href|action)\s*=\s*["']?\s*(?:https?:|//|ftp:)""", re.I),
    ),
    ("css url()", re.compile(r"url\(\s*['\"]?\s*(?:https?:|//)", re.I)),
    ("css @import", re.compile(r"@import", re.I)),
)


def offline_problems(html: str) -> list[str]:
    """What in ``html`` could make a browser load something (empty list = offline-safe).

    Examples
    --------
    >>> offline_problems('<p>hi</p><svg><rect/></svg>')
    []
    >>> offline_problems('<script src="https://cdn.example/require.js"></script>')
    ['script element', 'external src/href']
    """
    return [name for name, rx in _OFFLINE_CHECKS if rx.search(html)]


def _jinja(template: str) -> Any:
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(template)


def _render_page(*, title: str, css: str, stamp: str, meta: Sequence[str], body: str) -> str:
    """A whole page from :data:`_PAGE` (CSP, styles, stamp, meta lines, body, version)."""
    from patterns import __version__

    return _jinja(_PAGE).render(
        csp=_CSP,
        title=title,
        css=css,
        stamp=stamp,
        meta=list(meta),
        body=body,
        version=__version__,
    )


def _notebook_body(nb: Any, *, audience: str) -> str:
    """One executed notebook as an HTML fragment (nbconvert ``basic``: no head, no script)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="basic", anchor_link_text="")
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.exclude_input = audience == "therapist"
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        # papermill gives the injected cell a random id; a stable one keeps pages identical
        # from run to run. Therapists do not see parameter cells at all.
        if "injected-parameters" in tags or "parameters" in tags:
            cell["id"] = f"parameters-{i}"
    if audience == "therapist":
        nb.cells = [
            c
            for c in nb.cells
            if not {"parameters", "injected-parameters"}
            & set(c.get("metadata", {}).get("tags", []))
        ]
    body, _ = exporter.from_notebook_node(nb)
    return body


def _pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".highlight")


def couple_report_html(
    notebooks: Sequence[str | Path],
    *,
    audience: str = "therapist",
    title: str = "Couple report",
    meta: Sequence[str] = (),
    stamp: str = "",
) -> str:
    """One self-contained HTML page combining executed notebooks (in the given order).

    Therapists get no code cells and no prompts; no page loads anything (see the module
    docstring). Raises ``ValueError`` if a notebook holds an error output or the page would
    not be offline-safe.
    """
    import nbformat

    check_option("audience", audience, AUDIENCES, func="couple_report_html")
    sections = []
    for path in notebooks:
        nb = nbformat.read(str(path), as_version=4)
        errors = _error_outputs(nb)
        if errors:
            raise ValueError(
                f"couple_report_html: {Path(path).name} has error outputs: {errors[0]}"
            )
        slug = re.sub(r"[^a-z0-9_]", "", Path(path).stem.lower())
        sections.append(
            f'<section class="notebook" id="nb-{slug}">{_notebook_body(nb, audience=audience)}'
            "</section>"
        )
    css = _CSS + ("" if audience == "therapist" else _pygments_css())
    page = _render_page(title=title, css=css, stamp=stamp, meta=meta, body="\n".join(sections))
    problems = offline_problems(page)
    if problems:
        raise ValueError(f"couple_report_html: the page would not be offline-safe: {problems}")
    return page


def _error_outputs(nb: Any) -> list[str]:
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                found.append(f"{out.get('ename', 'Error')}: {out.get('evalue', '')}")
    return found


# --- the runner ---------------------------------------------------------------------------

_KERNEL_START_FAILURE = re.compile(
    r"Kernel didn't respond|Kernel died before replying|kernel_info|"
    r"Address already in use|DeadKernelError|Timeout waiting for kernel",
    re.I,
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: Private staging folder inside a run's output folder (couple slices; deleted by the run).
_STAGING = ".staging"
_VERSIONS = (
    "connection-patterns",
    "pandas",
    "numpy",
    "scipy",
    "statsmodels",
    "altair",
    "vl-convert-python",
    "papermill",
    "nbconvert",
    "nbformat",
    "nbclient",
    "ipykernel",
    "jupyter_client",
)


@dataclass
class NotebookRun:
    """The outcome of one notebook run for one couple."""

    couple_id: str
    notebook: str
    output: str
    status: str = "pending"  # ok | failed | timeout
    seconds: float = 0.0
    attempts: int = 0
    error: str = ""


@dataclass
class ReportRun:
    """What :func:`run_report` did: per-couple entries, per-notebook runs, failures."""

    out: Path
    couples: list[dict[str, Any]]
    runs: list[NotebookRun]
    failures: list[str]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSIONS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _first_error(output: Path, stderr: str) -> str:
    if output.exists():
        with contextlib.suppress(Exception):
            import nbformat

            errors = _error_outputs(nbformat.read(str(output), as_version=4))
            if errors:
                return _ANSI.sub("", errors[0]).strip()[:500]
    lines = [ln for ln in _ANSI.sub("", stderr).strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else "papermill failed without a message")[:500]


def _run_notebook(
    job: NotebookRun,
    source: Path,
    params: Mapping[str, str | bool],
    *,
    timeout: float,
    kernel_name: str,
) -> NotebookRun:
    """Execute one notebook in its own ``python -m papermill`` process (one retry only
    when the kernel failed to start)."""
    output = Path(job.output)
    cmd = [
        sys.executable,
        "-m",
        "patterns._papermill",  # = python -m papermill, minus a slow optional import
        str(source),
        str(output),
        "-k",
        kernel_name,
        "--execution-timeout",
        str(math.ceil(timeout)),  # whole seconds, at least 1 (int() made 0.5 s a 0)
        "--start-timeout",
        "60",
        # JSON is YAML: strings stay strings ("007" is not 7), bools stay bools.
        "-y",
        json.dumps(dict(params)),
        "--no-progress-bar",
        "--log-level",
        "ERROR",
    ]
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0", "PATTERNS_REPORT_RUN": "1"}
    t0 = time.perf_counter()
    for attempt in (1, 2):
        job.attempts = attempt
        try:
            proc = _run_process_group(cmd, timeout=3 * timeout + 60, env=env)
        except subprocess.TimeoutExpired:
            job.status, job.error = "timeout", f"no result after {3 * timeout + 60:.0f} s"
            break
        if proc.returncode == 0:
            job.status, job.error = "ok", ""
            break
        job.status, job.error = "failed", _first_error(output, proc.stderr)
        started = output.exists() and _cells_executed(output)
        if attempt == 1 and not started and _KERNEL_START_FAILURE.search(proc.stderr or ""):
            continue  # the kernel never started: retry once
        break
    if job.status == "ok" and output.exists():
        import nbformat

        errors = _error_outputs(nbformat.read(str(output), as_version=4))
        if errors:
            job.status, job.error = "failed", errors[0][:500]
    job.seconds = time.perf_counter() - t0
    return job


def _run_staged(
    stage: Callable[[str], None], job: NotebookRun, source: Path, params: Mapping, **kw: Any
) -> NotebookRun:
    """Stage the couple's slice (once per couple), then run the notebook (local threads)."""
    stage(job.couple_id)
    return _run_notebook(job, source, params, **kw)


def _run_process_group(
    cmd: list[str], *, timeout: float, env: Mapping[str, str]
) -> subprocess.CompletedProcess:
    """Run ``cmd`` (fixed argv, no shell) in its own process group; on timeout kill the
    whole group, so papermill's kernel does not outlive it."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env),
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _cells_executed(output: Path) -> bool:
    with contextlib.suppress(Exception):
        import nbformat

        nb = nbformat.read(str(output), as_version=4)
        return any(c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    return False


def _progress(enabled: bool, total: int) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


_SLICE_NOTE = "  # read through its validated per-couple slice (deleted after the run)"


def _show_original_export(output: Path, slice_path: str, original: str) -> None:
    """In an executed notebook, show the export the user gave instead of the slice path.

    The notebooks of ``patterns report`` read the couple's slice, a private folder deleted
    when the run ends; the notebook that is kept (and the researcher page built from it)
    would otherwise show that deleted path as ``export_path``. The injected parameter line
    and papermill's metadata are rewritten to the original export, with a comment saying how
    it was read. Missing or unreadable notebooks are left alone (their run already failed).
    """
    import nbformat

    try:
        nb = nbformat.read(str(output), as_version=4)
    except (OSError, ValueError):
        return
    changed = False
    for cell in nb.cells:
        if "injected-parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        lines = cell.source.split("\n")
        for i, line in enumerate(lines):
            if line.startswith("export_path = ") and slice_path in line:
                lines[i] = f"export_path = {original!r}{_SLICE_NOTE}"
                changed = True
        cell.source = "\n".join(lines)
    params = nb.metadata.get("papermill", {}).get("parameters", {})
    if params.get("export_path") == slice_path:
        params["export_path"] = original
        changed = True
    if changed:
        nbformat.write(nb, str(output))


def _couple_folders(couples: list[str]) -> dict[str, str]:
    """One folder name per couple id, distinct even on case-insensitive file systems.

    Each id gets :func:`patterns.privacy.safe_path_component`. macOS and Windows file
    systems ignore case by default, so ``C1`` and ``c1`` would share one folder there and
    one couple's report would overwrite the other's; ids whose names are equal ignoring
    case get ``-`` and the first 8 hex digits of the SHA-256 of the id appended.

    Examples
    --------
    >>> _couple_folders(["c1", "c2"])
    {'c1': 'c1', 'c2': 'c2'}
    >>> _couple_folders(["C1", "c1"])
    {'C1': 'C1-...', 'c1': 'c1-...'}
    """
    import hashlib

    from patterns.privacy import safe_path_component

    names = {c: safe_path_component(c) for c in couples}
    folded = pd.Series(list(names.values()), dtype=object).str.casefold()
    clash = set(folded[folded.duplicated(keep=False)])
    for c, name in names.items():
        if name.casefold() in clash:
            names[c] = f"{name}-{hashlib.sha256(str(c).encode()).hexdigest()[:8]}"
    if len({n.casefold() for n in names.values()}) != len(names):  # not reachable by chance
        raise ValueError("run_report: two couple ids map to the same folder name; rename them.")
    return names


def run_report(
    export_path: str | Path,
    *,
    couples: Sequence[str] | None = None,
    notebooks: Sequence[str] | None = None,
    audience: str = "therapist",
    jobs: int = 1,
    out: str | Path = "reports/run",
    timeout: float = 600,
    show_text: bool = False,
    consent_check: bool = True,
    start: str = "",
    end: str = "",
    timezone: str = "",
    intervention_date: str = "",
    notebook_dir: str | Path | None = None,
    kernel_name: str = "python3",
    progress: bool = True,
    scheduler: str | None = None,
) -> ReportRun:
    """Run the report notebooks for each couple and write HTML, index and run record.

    Parameters
    ----------
    export_path : path
        The export (folder, ``.zip`` or ``.json``).
    couples : sequence of str, optional
        Couple ids; default every couple in the export.
    notebooks : sequence of str, optional
        Notebook selection (see :func:`list_notebooks`); default all, in reading order.
    audience : {"therapist", "researcher"}
        Therapists get no code cells.
    jobs : int
        Notebook processes at once (≥ 1).
    out : path
        Output folder: ``OUT/<couple>/<nn_name>.ipynb``, ``OUT/<couple>/report.html``,
        ``OUT/index.html``, ``OUT/run.json``.
    timeout : float
        Seconds allowed per cell (papermill ``--execution-timeout``); a notebook process
        is killed after ``3 × timeout + 60`` seconds.
    show_text : bool
        Ask for free text; shown only where both partners consent to ``free_text``.
    consent_check : bool
        Refuse couples without valid two-partner consent. ``False`` stamps every page.
    start, end, timezone, intervention_date : str
        Passed to every notebook (validated here first).
    scheduler : str, optional
        A Dask scheduler address: run each notebook process as a task on that cluster's
        workers instead of ``jobs`` local threads (outputs must be on storage the workers
        share). See :func:`patterns.engine.task_pool`.

    Returns
    -------
    ReportRun
        ``exit_code`` 0 when every couple's report was written, else 1.

    Raises
    ------
    ParameterError
        Bad arguments or parameters (a ``ValueError``), before any notebook runs.
    patterns.ExportError
        The export cannot be read, before any notebook runs.
    """
    from patterns._slice import write_couple_slice
    from patterns.io import load_export
    from patterns.schema import partner_labels

    t_run = time.perf_counter()
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with _as_parameter_error():
        jobs = check_int(jobs, "jobs", func="run_report", minimum=1)
        timeout = check_positive(timeout, "timeout", func="run_report", unit="seconds")
        chosen = list_notebooks(notebooks, notebook_dir=notebook_dir)
        export_path = Path(export_path).resolve()
        base = validate_parameters(
            export_path=str(export_path),
            start=start,
            end=end,
            timezone=timezone,
            intervention_date=intervention_date,
            audience=audience,
            show_text=show_text,
            consent_check=consent_check,
        )
    # ExportError (unreadable export) passes through; any other error here is a bug.
    export = load_export(export_path, timezone=base.timezone)
    with _as_parameter_error():
        known = [str(c) for c in export.couples]
        selected = list(dict.fromkeys(couples)) if couples else known
        if not selected:
            raise option_error("couples", "run_report", "at least one couple", selected)
        params_by_couple = {
            c: validate_parameters(**{**base.as_papermill(), "couple_id": c, "couples": known})
            for c in selected
        }
        folders = _couple_folders(selected)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = "" if consent_check else _NO_CONSENT_STAMP
    entries: dict[str, dict[str, Any]] = {}
    jobs_todo: list[tuple[NotebookRun, Path, dict]] = []
    for c in selected:
        folder = out / folders[c]
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            (folder / "report.html").unlink()  # never leave an older page behind
        labels = dict(partner_labels(export.partners.get(c, [])))
        consent = consent_summary(_consent(export.manifest, c))
        entry: dict[str, Any] = {
            "couple_id": c,
            "number": known.index(c) + 1,
            "folder": folders[c],
            "consent": consent,
            "status": "pending",
            "report": None,
            "detail": "",
            "notebooks": [],
        }
        entries[c] = entry
        if consent_check and not consent["ok"]:
            entry["status"] = "refused"
            entry["detail"] = _refusal_message(c, consent, labels)
            continue
        for nb in chosen:
            target = folder / nb.name
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            job = NotebookRun(couple_id=c, notebook=nb.stem, output=str(target))
            jobs_todo.append((job, nb, params_by_couple[c].as_papermill()))

    runs: list[NotebookRun] = []
    lock = threading.Lock()
    # Threads only wait on child processes (one papermill process per run); nothing here
    # changes the working directory, so the papermill --cwd race (#473) cannot happen.
    from patterns.engine import task_pool

    # The export was loaded and validated ONCE, above. Each couple's notebooks read that
    # couple's slice (patterns._slice: Parquet + a marker) from a private staging folder
    # instead of loading the whole export again (one couple of 1,000 otherwise reloads it
    # in each of 7 notebooks). A slice holds client data: it is deleted as soon as the
    # couple's notebooks are done, and the whole staging folder in `finally`, also when
    # something fails or the run is interrupted.
    staging = out / _STAGING
    stage_lock = threading.Lock()
    staged: set[str] = set()

    def stage(couple: str) -> None:
        # Written when the couple's first notebook starts (local threads), so only the
        # couples in flight sit on disk; a Dask cluster gets every slice up front.
        with stage_lock:
            if couple not in staged:
                staging.mkdir(mode=0o700, exist_ok=True)
                write_couple_slice(export, couple, staging / folders[couple])
                staged.add(couple)

    try:
        shutil.rmtree(staging, ignore_errors=True)  # left over from a killed run
        pending: dict[str, int] = {}
        for job, _, params in jobs_todo:
            c = job.couple_id
            pending[c] = pending.get(c, 0) + 1
            params["export_path"] = str((staging / folders[c]).resolve())
            if scheduler is not None:
                stage(c)
        with (
            _progress(progress, len(jobs_todo)) as bar,
            task_pool(jobs, scheduler) as (submit, completed),
        ):
            task = bar.add_task("notebooks", total=len(jobs_todo))
            run_kw = {"timeout": timeout, "kernel_name": kernel_name}
            futures = [
                submit(_run_notebook, job, nb, params, **run_kw)
                if scheduler is not None
                else submit(_run_staged, stage, job, nb, params, **run_kw)
                for job, nb, params in jobs_todo
            ]
            for fut in completed(futures):
                done = fut.result()
                with lock:
                    runs.append(done)
                    pending[done.couple_id] -= 1
                    if pending[done.couple_id] == 0:  # the couple's last notebook
                        shutil.rmtree(staging / folders[done.couple_id], ignore_errors=True)
                bar.advance(task)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    order = {(j.couple_id, j.notebook): i for i, (j, _, _) in enumerate(jobs_todo)}
    runs.sort(key=lambda r: order[(r.couple_id, r.notebook)])

    failures: list[str] = []
    n_total = len(known)
    for c in selected:
        entry = entries[c]
        mine = [r for r in runs if r.couple_id == c]
        entry["notebooks"] = [r.__dict__ | {"output": Path(r.output).name} for r in mine]
        if entry["status"] == "refused":
            failures.append(entry["detail"])
            continue
        bad = [r for r in mine if r.status != "ok"]
        if bad:
            entry["status"] = "failed"
            entry["detail"] = "; ".join(f"{r.notebook}: {r.status}: {r.error}" for r in bad)
            failures.append(f"couple {c!r} failed — {entry['detail']}")
            continue
        title = f"Couple report {entry['number']} of {n_total}"
        p = params_by_couple[c]
        slice_path = str((staging / folders[c]).resolve())
        for r in mine:
            _show_original_export(Path(r.output), slice_path, p.export_path)
        period = f"{p.start or 'first day'} to {p.end or 'last day'}"
        meta = [f"Pseudonymous couple id: {c}", f"Period: {period}", f"Audience: {audience}"]
        try:
            page = couple_report_html(
                [Path(r.output) for r in mine],
                audience=audience,
                title=title,
                meta=meta,
                stamp=stamp,
            )
        except ValueError as exc:
            entry["status"] = "failed"
            entry["detail"] = str(exc)
            failures.append(f"couple {c!r} failed — {exc}")
            continue
        (out / folders[c] / "report.html").write_text(page, encoding="utf-8")
        entry["status"] = "ok"
        entry["report"] = f"{folders[c]}/report.html"

    index_rows = [
        {
            "number": e["number"],
            "couple_id": e["couple_id"],
            "status": e["status"],
            "report": e["report"],
            "detail": e["detail"],
        }
        for e in entries.values()
    ]
    body = _jinja(_INDEX_BODY).render(couples=index_rows, failures=failures)
    index = _render_page(
        title=f"Reports: {len(selected)} couple(s)",
        css=_CSS,
        stamp=stamp,
        meta=[f"Audience: {audience}", f"{len(failures)} failure(s)"],
        body=body,
    )
    problems = offline_problems(index)
    if problems:  # pragma: no cover - the template holds no such thing
        raise RuntimeError(f"run_report: index.html would not be offline-safe: {problems}")
    (out / "index.html").write_text(index, encoding="utf-8")

    seconds = time.perf_counter() - t_run
    sources = getattr(export, "sources", None)
    if isinstance(sources, pd.DataFrame):
        sources = sources.astype(object).where(sources.notna(), None).to_dict("records")
    record = {
        "tool": "patterns report",
        "started": started,
        "seconds": round(seconds, 3),
        "outcome": "ok" if not failures else "failed",
        "parameters": {
            "export_path": str(export_path),
            "couples": selected,
            "notebooks": [nb.stem for nb in chosen],
            "audience": audience,
            "jobs": jobs,
            "out": str(out),
            "timeout": timeout,
            "show_text": show_text,
            "consent_check": consent_check,
            "start": start,
            "end": end,
            "timezone": timezone,
            "intervention_date": intervention_date,
            "kernel_name": kernel_name,
        },
        "sources": sources,
        "versions": _versions(),
        "couples": list(entries.values()),
        "failures": failures,
    }
    (out / "run.json").write_text(
        json.dumps(record, indent=2, default=str, ensure_ascii=False), encoding="utf-8"
    )
    return ReportRun(
        out=out, couples=list(entries.values()), runs=runs, failures=failures, seconds=seconds
    )
