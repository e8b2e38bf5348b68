"""Output safety: names that stay inside their folder, spreadsheet-safe CSV, HTML-safe JSON
and text, and redaction of free text.

Every file the kit writes goes through these helpers:

* file and folder names built from ids: :func:`safe_path_component` / :func:`safe_join`;
* CSV: :func:`safe_csv` (formula-injection neutralised, OWASP / CWE-1236);
* JSON placed inside an HTML ``<script>`` block (Altair/Vega specs): :func:`json_for_html`;
* any user text placed in HTML: :func:`escape_html`;
* result tables: :func:`redact_frame` drops free-text columns unless explicitly allowed.

Examples
--------
>>> safe_path_component("../../etc")
'etc-...'
>>> safe_cell("=HYPERLINK(1)")
"'=HYPERLINK(1)"
>>> json_for_html({"t": "</script>"})
'{"t": "\\\\u003c/script\\\\u003e"}'
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from patterns import schema
from patterns.errors import check_int, option_error

__all__ = [
    "BIDI_CONTROLS",
    "FORMULA_PREFIXES",
    "FREE_TEXT_COLUMNS",
    "escape_html",
    "json_for_html",
    "redact_frame",
    "safe_cell",
    "safe_csv",
    "safe_frame",
    "safe_join",
    "safe_path_component",
    "strip_bidi",
]

# --- identifiers ------------------------------------------------------------------------


def _nfc(value: Any) -> str:
    """``str(value)`` in Unicode NFC, so an id typed two ways ("Zoë" precomposed, or "Zoe"
    plus a combining diaeresis) is one id: consent lookups (:mod:`patterns.consent`) and
    pseudonyms (:mod:`patterns.pseudonymize`) compare and hash ids through it.

    >>> _nfc("Zoe\u0308") == "Zo\u00eb", _nfc(7)
    (True, '7')
    """
    return unicodedata.normalize("NFC", str(value))


# --- file and folder names --------------------------------------------------------------

#: Windows device names, reserved with or without an extension and in any case.
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{p}{i}" for p in ("COM", "LPT") for i in [*range(10), "¹", "²", "³"]]
)
_HASH_LEN = 8
_ALLOWED = re.compile(r"[^A-Za-z0-9._-]+")
_LOOKS_HASHED = re.compile(r"-[0-9a-f]{8}$")


def _digest(text: str, n: int = _HASH_LEN) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def safe_path_component(value: Any, *, max_len: int = 64) -> str:
    """A file or folder name built from ``value`` (an id) that cannot leave its folder.

    Parameters
    ----------
    value : Any
        The id (converted with ``str``).
    max_len : int, default 64
        Longest name returned (at least 16).

    Returns
    -------
    str
        ``value`` itself when it is already a plain, portable name (ASCII letters, digits,
        ``.``, ``_``, ``-``; not starting with ``.`` or ``-``; not a Windows device name; at
        most ``max_len`` characters). Otherwise a readable slug of it plus ``-`` and the
        first 8 hex digits of the SHA-256 of the original text, so two different ids never
        share a name by accident and the same id always gets the same name. Never empty,
        never ``.`` or ``..``, never containing a separator.

    Notes
    -----
    Steps: Unicode NFKD and combining marks dropped (``Zoë`` → ``Zoe``), control, format
    (zero-width, bidi overrides) and every character outside ``[A-Za-z0-9._-]`` replaced by
    ``_`` (so ``/``, ``\\``, ``:`` and drive letters cannot survive), runs of ``_`` merged,
    leading ``.``/``-``/``_`` and trailing ``.``/``_``/spaces stripped (hidden files, Windows
    trailing-dot rule), Windows reserved device names (``CON``, ``NUL.txt``, ``COM1`` …,
    any case) treated as changed. A value that already ends like ``-<8 hex>`` is also
    suffixed, so a crafted id cannot collide with the slug of a different one. Names are
    case-sensitive: on case-insensitive file systems ``C1`` and ``c1`` would share a folder,
    so callers that name several folders (``patterns report``) suffix names equal ignoring
    case.
    Tested against ``pathlib`` resolution under a temporary folder (tests/test_privacy.py).

    Examples
    --------
    >>> safe_path_component("couple_01")
    'couple_01'
    >>> safe_path_component("CON")
    'CON-...'
    >>> safe_path_component("/etc/passwd")
    'etc_passwd-...'
    >>> safe_path_component("")
    'id-e3b0c442'
    """
    max_len = check_int(max_len, "max_len", func="safe_path_component", minimum=16)
    raw = str(value)
    norm = unicodedata.normalize("NFKD", raw)
    # Drop combining marks (Zoë → Zoe); control/format/bidi characters become separators.
    kept = "".join(
        ch if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") else "_"
        for ch in norm
        if not unicodedata.combining(ch)
    )
    slug = _ALLOWED.sub("_", kept)
    slug = re.sub(r"_+", "_", slug).lstrip("._-").rstrip("._ ")
    stem = slug.split(".", 1)[0].upper()
    reserved = stem in _WINDOWS_RESERVED
    if reserved:
        slug = slug.split(".", 1)[0] + "_" + (("." + slug.split(".", 1)[1]) if "." in slug else "")
    changed = not slug or slug != raw or len(raw) > max_len or bool(_LOOKS_HASHED.search(raw))
    if not changed:
        return raw
    slug = slug or "id"
    suffix = "-" + _digest(raw)
    slug = slug[: max_len - len(suffix)].rstrip("._ ") or "id"
    return slug + suffix


def safe_join(base: str | Path, *parts: Any, max_len: int = 64) -> Path:
    """``base / safe_path_component(p) / …``, verified to resolve inside ``base``.

    Examples
    --------
    >>> safe_join("reports", "../../etc", "index.html").as_posix()
    'reports/etc-.../index.html'
    """
    base = Path(base)
    out = base.joinpath(*(safe_path_component(p, max_len=max_len) for p in parts))
    root = base.resolve()
    target = out.resolve()
    if target != root and root not in target.parents:  # defence in depth (symlinks)
        raise ValueError(f"safe_join: {out} resolves outside {base}.")
    return out


# --- spreadsheets -----------------------------------------------------------------------

#: Leading characters that make a spreadsheet treat a cell as a formula (OWASP CSV
#: injection; CWE-1236), plus NUL.
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")
_FORMULA_RE = r"^[=+\-@\t\r\n\x00]"


def safe_cell(value: Any) -> Any:
    """Neutralise one spreadsheet cell: a string starting with a formula character gets a
    leading ``'``; everything else (numbers included) is returned unchanged.

    Notes
    -----
    The prefix is an apostrophe, never a tab: Symfony's tab prefix (CVE-2021-41270) was
    itself a bypass. Numbers stored as numbers (``-3.5``) are data, not formulas, and stay
    numbers; the *string* ``"-3.5"`` is prefixed like any other string.

    Examples
    --------
    >>> safe_cell("+1 call me"), safe_cell("@SUM(A1)"), safe_cell("fine"), safe_cell(-2.5)
    ("'+1 call me", "'@SUM(A1)", 'fine', -2.5)
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _safe_series(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        if cats.dtype == object or pd.api.types.is_string_dtype(cats.dtype):
            return s.cat.rename_categories([safe_cell(c) for c in cats])
        return s
    if pd.api.types.is_string_dtype(s.dtype) and not pd.api.types.is_object_dtype(s.dtype):
        mask = s.str.match(_FORMULA_RE).fillna(False).astype(bool)
        return s.mask(mask, "'" + s.astype("string")).astype(s.dtype) if mask.any() else s
    if pd.api.types.is_object_dtype(s.dtype):
        # Object columns can mix numbers and strings; an element-wise map is the only way to
        # touch strings only (output writing, not an analysis, so the loop is acceptable).
        return s.map(safe_cell)
    return s


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` safe to open in a spreadsheet: every string cell, column name and
    string index label passed through :func:`safe_cell`; numeric columns untouched.

    Examples
    --------
    >>> df = pd.DataFrame({"topic": ["=1+1", "money"], "n": [-1, 2]})
    >>> safe_frame(df).to_dict("list")
    {'topic': ["'=1+1", 'money'], 'n': [-1, 2]}
    """
    out = df.copy()
    for i in range(out.shape[1]):
        out.isetitem(i, _safe_series(out.iloc[:, i]))
    out.columns = pd.Index([safe_cell(c) for c in out.columns])
    if not isinstance(out.index, pd.RangeIndex):
        if isinstance(out.index, pd.MultiIndex):
            out.index = out.index.set_levels([lvl.map(safe_cell) for lvl in out.index.levels])
        else:
            out.index = out.index.map(safe_cell)
    out.index.names = [safe_cell(n) for n in out.index.names]
    return out


def safe_csv(df: pd.DataFrame, path: str | Path, **kwargs: Any) -> Path:
    """Write ``df`` as CSV that is safe to open in a spreadsheet; returns the path.

    ``index`` defaults to ``False`` (tidy results have a plain RangeIndex) and
    ``lineterminator`` to ``"\\r\\n"`` (RFC 4180): with pandas' ``"\\n"`` a cell holding a
    bare CR is written unquoted and splits the row in every reader. Other keyword arguments
    go to :meth:`pandas.DataFrame.to_csv`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = safe_csv(pd.DataFrame({"note": ["=cmd|' /C calc'!A0"], "x": [-1.5]}), p)
    >>> print(p.read_text().strip())  # read_text turns CRLF into newlines
    note,x
    '=cmd|' /C calc'!A0,-1.5
    """
    path = Path(path)
    kwargs.setdefault("index", False)
    kwargs.setdefault("lineterminator", "\r\n")
    safe = safe_frame(df)
    if not _arrow_csv(safe, path, kwargs):
        safe.to_csv(path, **kwargs)
    return path


#: ``encoding`` values that mean what the Arrow writer writes anyway (pandas' default).
_UTF8 = ("utf-8", "utf8", "UTF-8")
#: A header or text cell that pandas writes unquoted (no delimiter, quote or line break).
_PLAIN_CELL = re.compile(r'^[^,"\r\n]*$')


def _arrow_csv(df: pd.DataFrame, path: Path, kwargs: dict) -> bool:
    """Write ``df`` exactly as ``df.to_csv(path, index=False, lineterminator=...)`` would,
    with pyarrow's CSV writer; return False (nothing written) when that is not certain.

    Why by hand: pandas formats each float through Python (0.6 of the 5.8 CPU s of
    ``patterns metrics`` at 1,000 couples); pyarrow formats in C (~0.1 s). Taken only for
    integer, float and string columns with plain names; floats are cast to text by Arrow
    (shortest round-trip digits, like ``repr``) and then given ``repr``'s layout: ``1.0``
    for whole numbers, and Python's own ``repr`` wherever Python writes an exponent
    (|x| < 1e-4 or ≥ 1e16) or Arrow did. Missing values are empty cells, as in pandas. A
    text cell needing quotes makes pyarrow refuse (quoting style "none"): pandas writes it.
    Tested byte for byte against ``DataFrame.to_csv`` (tests/test_privacy.py).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    options = {k: v for k, v in kwargs.items() if not (k == "encoding" and v in _UTF8)}
    if set(options) != {"index", "lineterminator"} or options["index"] is not False:
        return False
    eol = kwargs["lineterminator"]
    if eol not in ("\r\n", "\n") or not len(df.columns):
        return False
    names = list(df.columns)
    if not all(isinstance(n, str) and _PLAIN_CELL.match(n) for n in names):
        return False
    if len(names) == 1 and not len(df):
        return False  # pandas' one-column quirks (a lone empty cell is quoted)
    cols = []
    for name in names:
        s = df[name]
        kind = s.dtype.kind if isinstance(s.dtype, np.dtype) else ""
        if kind in ("i", "u") or isinstance(s.dtype, pd.core.arrays.integer.IntegerDtype):
            # numpy or nullable integers (<NA> → empty cell)
            cols.append(pc.cast(pa.array(s.array, from_pandas=True), pa.string()))
        elif kind == "M":  # datetime64 without a zone, any unit
            # pandas writes dates alone when every value is a midnight; other layouts
            # (times, fractions of a second) are left to pandas
            vals = s.to_numpy()
            unit = np.datetime_data(vals.dtype)[0]
            per_day = int(np.timedelta64(1, "D") // np.timedelta64(1, unit))
            valid = ~np.isnat(vals)
            if (vals.view(np.int64)[valid] % per_day).any():
                return False
            cols.append(pc.strftime(pa.array(vals, mask=~valid), "%Y-%m-%d"))
        elif kind == "f":
            cols.append(_float_text(s.to_numpy(dtype="float64")))
        elif isinstance(s.dtype, pd.StringDtype):
            cols.append(pa.array(s.to_numpy(dtype=object, na_value=None), pa.string()))
        else:
            return False
    table = pa.table(cols, names=[f"c{i}" for i in range(len(cols))])
    opts = pacsv.WriteOptions(include_header=False, quoting_style="none", eol=eol)
    body = io.BytesIO()
    try:
        pacsv.write_csv(table, body, opts)
    except pa.ArrowInvalid:  # a cell needs quotes
        return False
    with open(path, "wb") as fh:
        fh.write((",".join(names) + eol).encode("utf-8"))
        fh.write(body.getbuffer())
    return True


def _float_text(values: Any) -> Any:
    """Float64 values as the text ``repr`` gives (missing → null), computed by Arrow."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.cast(pa.array(values, from_pandas=True), pa.string())
    finite = np.isfinite(values)
    mag = np.abs(np.where(finite, values, 1.0))
    exponent = finite & (values != 0) & ((mag < 1e-4) | (mag >= 1e16))
    has_e = np.asarray(pc.match_substring(text, "e").fill_null(False), dtype=bool)
    plain = finite & ~exponent & ~has_e
    whole = plain & ~np.asarray(pc.match_substring(text, ".").fill_null(False), dtype=bool)
    # "1" -> "1.0" in Arrow (no Python string per cell: 0.08 of 0.17 CPU s per table)
    text = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, ".0", ""), text)
    redo = np.flatnonzero(exponent | has_e)
    if not len(redo):
        return text
    txt = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
    for i in redo:  # rare in tables of rates, means and counts
        txt[i] = repr(float(values[i]))
    return pa.array(txt, pa.string())


# --- HTML -------------------------------------------------------------------------------

_JSON_HTML_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_JSON_HTML_RE = re.compile("[<>&\u2028\u2029]")


def json_for_html(obj: Any, **kwargs: Any) -> str:
    """JSON text that is safe inside an HTML ``<script>`` block.

    ``<``, ``>``, ``&``, U+2028 and U+2029 are written as ``\\uXXXX`` escapes, so a value
    containing ``</script>`` or ``<!--`` cannot end or confuse the block, and the result is
    still valid JSON decoding to the same object. Keyword arguments go to :func:`json.dumps`.

    Notes
    -----
    The same escapes as Django's ``json_script`` and Rails' ``json_escape``. Checked by
    decoding with :func:`json.loads` (round trip) and by searching for ``</``.

    Examples
    --------
    >>> s = json_for_html(["</script><script>alert(1)</script>"])
    >>> "<" in s, json.loads(s)[0][:9]
    (False, '</script>')
    """
    text = json.dumps(obj, **kwargs)
    return _JSON_HTML_RE.sub(lambda m: _JSON_HTML_ESCAPES[m.group(0)], text)


#: Unicode bidirectional controls (embeddings, overrides, isolates and the implicit marks):
#: in shown text they reorder what the reader sees without changing the characters
#: ("Trojan Source", CVE-2021-42574), e.g. ``"paid \u202eDLO"`` displays as "paid OLD".
BIDI_CONTROLS: str = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BIDI_TABLE = {ord(ch): None for ch in BIDI_CONTROLS}


def strip_bidi(value: Any) -> Any:
    """``value`` without :data:`BIDI_CONTROLS` when it is a string; anything else unchanged.

    Examples
    --------
    >>> strip_bidi("paid \u202eDLO"), strip_bidi(3)
    ('paid DLO', 3)
    """
    return value.translate(_BIDI_TABLE) if isinstance(value, str) else value


def escape_html(text: Any) -> str:
    """Escape user text for HTML element content and quoted attributes (``& < > " '``).

    ``None`` and missing values become an empty string. Unicode bidirectional controls
    (:data:`BIDI_CONTROLS`) are removed, so text is shown in the order it was typed and one
    value cannot reorder the words around it on the page.

    Examples
    --------
    >>> escape_html('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    >>> escape_html("paid \u202eDLO")  # would display as "paid OLD"
    'paid DLO'
    """
    if text is None or (not isinstance(text, str) and pd.isna(text) is True):
        return ""
    return html.escape(strip_bidi(str(text)), quote=True)


# --- redaction --------------------------------------------------------------------------

#: Columns holding free text or names: the schema's private columns plus common names for
#: the same thing in other tables.
FREE_TEXT_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [c.name for cols in schema.TABLES.values() for c in cols if c.private]
        + ["note", "answer", "notes", "comment", "comments", "free_text", "text"]
        + ["name", "names", "first_name", "last_name", "partner_name", "full_name"]
    )
)


def redact_frame(
    df: pd.DataFrame, *, allow_text: bool = False, extra: Iterable[str] = ()
) -> pd.DataFrame:
    """A copy of ``df`` without free-text and name columns (unless ``allow_text``).

    Parameters
    ----------
    df : DataFrame
        Any table.
    allow_text : bool, default False
        Keep the free-text columns. Pass ``True`` only when consent (``free_text`` in both
        partners' categories) *and* an explicit user flag allow it.
    extra : iterable of str
        More column names to drop.

    Returns
    -------
    DataFrame
        ``df`` minus the columns in :data:`FREE_TEXT_COLUMNS` and ``extra``; index, order
        of the remaining columns and ``attrs`` kept. The input is never modified.

    Examples
    --------
    >>> df = pd.DataFrame({"couple_id": ["c1"], "note": ["Sam said…"], "n": [1]})
    >>> list(redact_frame(df).columns), list(redact_frame(df, allow_text=True).columns)
    (['couple_id', 'n'], ['couple_id', 'note', 'n'])
    """
    if not isinstance(allow_text, bool):
        raise option_error("allow_text", "redact_frame", "True or False", allow_text)
    if not isinstance(df, pd.DataFrame):
        raise option_error("df", "redact_frame", "a pandas DataFrame", type(df).__name__)
    drop = set(extra) | (set() if allow_text else set(FREE_TEXT_COLUMNS))
    keep = [c for c in df.columns if c not in drop]
    out = df.loc[:, keep].copy()
    out.attrs = dict(df.attrs)
    return out
