"""Keyed pseudonymisation of an export (``patterns pseudonymize EXPORT OUT --key-file K``).

What it does, and records in ``OUT/pseudonymization.json`` (never the key, never a mapping):

* **Ids.** ``couple_id``, partner ids (``actor``/``partner``) and ``bid_id`` become
  ``HMAC-SHA256(key, kind ‖ NFC(id))`` truncated to 16 hex digits with a readable prefix
  (``c_``, ``p_``, ``b_``). The same key gives the same pseudonyms in every export, so a
  researcher can link waves; without the key they cannot be reversed or recomputed. Ids are
  Unicode-normalised (NFC) first, so ``Zoë`` typed two ways gets one pseudonym.
* **Free text** (``note``, ``answer``). Default ``text="redact"``: e-mail addresses, URLs,
  dates and phone numbers are replaced by ``[email]``, ``[url]``, ``[date]``, ``[phone]``;
  then *names* are replaced by ``[name]``: every word on the optional names list (any case,
  whole word), and every capitalised word that is not on a short built-in list of common
  English words (pronouns, function words, days, months, family words like ``Mom``). The
  heuristic deliberately over-redacts (``Netflix`` → ``[name]``): a lost word is cheaper than
  a partner's, child's or relative's name left in a note (HIPAA Safe Harbor counts relatives'
  names as identifiers). It cannot see a name typed in lower case that is not on the names
  list: pass one (``--names``), or use ``text="drop"``, which empties every free-text cell
  and is the safe choice when you cannot review the output. ``topic``,
  ``conflict_topic`` and ``prompt`` are short labels used by the analyses: only names-list
  words are replaced there.
* **Time** (optional, ``shift_time=True``). Each couple's timestamps move by a secret whole
  number of *weeks* (1–104 weeks back, derived from the key and the couple id) in *local
  wall-clock* time: the hour of day, the weekday and the diary day of every entry stay the
  same, so daily and weekly analyses give the same numbers on relabelled dates. A shifted
  local time that falls into a DST gap moves forward, one in a DST overlap takes the first
  occurrence (the loader's rule); how many did is recorded. Consent dates in the manifest
  are *not* shifted (they govern processing today), nor is ``intervention_date``-like
  metadata other than the keys listed in :data:`SHIFTED_MANIFEST_KEYS`.
* **Rows.** The output holds the rows the loader accepted (contract columns only; extra
  source columns are dropped because they may carry identifiers). Quarantined source rows
  are not copied: their number is recorded.
* **Files.** ``events.csv`` and ``checkins.csv`` are written spreadsheet-safe
  (:func:`patterns.privacy.safe_csv`): a text cell starting with ``=``, ``+``, ``-``, ``@``,
  tab, CR, LF or NUL gains a leading ``'``, which the loader then reads as part of the text.
* **Manifest.** Only known keys are copied (a whitelist); anything else (e.g. names, e-mail
  addresses of a clinic) is dropped and the dropped key *names* are listed.

Pseudonymised data is still personal data (GDPR Art. 4(5); special-category health data
under Art. 9): keep the key apart from the data. This is **not** HIPAA de-identification.

Examples
--------
>>> key = b"k" * 32
>>> pseudonym("c001", key, kind="couple")
'c_...'
>>> pseudonym("Zo\\u00eb", key, kind="partner") == pseudonym("Zoe\\u0308", key, kind="partner")
True
>>> redact_text(pd.Series(["Sam said the bill was late, mail sam@x.org"]), names=["sam"])[0][0]
'[name] said the bill was late, mail [email]'
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from patterns import schema
from patterns.errors import ExportError, check_int, check_option, option_error
from patterns.privacy import _nfc, safe_csv

__all__ = [
    "COMMON_WORDS",
    "SHIFTED_MANIFEST_KEYS",
    "Pseudonymized",
    "pseudonym",
    "pseudonymize_export",
    "read_key",
    "redact_text",
    "time_shift_days",
    "write_pseudonymized",
]

MIN_KEY_BYTES = 32
_PREFIX = {"couple": "c_", "partner": "p_", "bid": "b_"}
_HEX = 16
#: Couple-level manifest keys holding dates of the *data*, shifted with the timestamps.
SHIFTED_MANIFEST_KEYS: tuple[str, ...] = ("intervention_date", "start_date", "end_date")

# Common capitalised words that are not names. Kept short on purpose: anything not here
# that starts with a capital letter is treated as a possible name (see module docstring).
COMMON_WORDS: frozenset[str] = frozenset(
    """
    i i'm i've i'd i'll im ive id me my mine we us our ours you your yours he him his she her
    hers they them their theirs it its this that these those there here who whom whose what
    which when where why how a an the and but or nor so yet for of on in at to from by with
    about after before again against all also am any are as be because been being both can
    could did do does doing done each even ever every few had has have having if into is
    just last later less like more most much must never next no not now off often once only
    other out over same should since some still such than then through too under until up
    very was were will would yes yesterday today tonight tomorrow morning evening night
    afternoon week weekend weekday month year monday tuesday wednesday thursday friday
    saturday sunday january february march april may june july august september october
    november december christmas easter mom mum dad mother father sister brother son daughter
    kids kid baby grandma grandpa aunt uncle partner wife husband boyfriend girlfriend boss
    doctor teacher ok okay tv sorry thanks thank please hi hey well oh ah wow hmm maybe
    really felt feel feeling feels fine good bad great better worse happy sad angry upset
    tired stressed lonely close connected distant again dinner lunch breakfast work home
    school money bills rent chores dishes laundry phone screen sex intimacy talk talked
    talking said told asked went came got get made make took take left let lets let's went
    wanted want need needed think thought know knew see saw tried try trying went going
    one two three first second new old long short little big many several everything
    something nothing anything everyone someone nobody anyone always sometimes usually
    we're we've we'd you're they're he's she's it's that's there's don't didn't doesn't
    can't couldn't won't wouldn't isn't wasn't weren't haven't hasn't hadn't shouldn't
    call called calling argued argue argument fight fought fighting yelled shouted cried
    ignored ignore forgot forget remember remembered promised apologized apologised
    listen listened listening stop stopped start started come go goes gone came back
    big small another anyway also finally instead almost already yet though although
    while during between without within around because since whatever whenever
    """.split()
)

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_DATE = re.compile(r"\b(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4})\b")
_PHONE = re.compile(r"(?<![\w])\+?\d[\d ().-]{6,}\d(?![\w])")
# A word (any script) that does not start with an ASCII lower-case letter, with inner
# apostrophes ("Don't", "Sam's"); hyphens split words ("Anne-Marie" → "[name]-[name]").
# The callable replacement then keeps only words whose first letter is upper case.
_CAPITALISED = re.compile(r"\b[^\W\d_a-z][^\W_]*(?:['’][^\W_]+)*", re.UNICODE)


def read_key(
    key_file: str | Path,
    *,
    export: str | Path | None = None,
    out: str | Path | None = None,
) -> bytes:
    """Read the pseudonymisation key (at least 32 bytes after stripping whitespace).

    The key file must not lie inside the export or the output folder: a key stored with
    the data turns pseudonyms back into identifiers.

    Examples
    --------
    >>> import tempfile, pathlib, secrets
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "k").write_text(secrets.token_hex(32))
    >>> len(read_key(d / "k"))
    64
    """
    func = "read_key"
    path = Path(key_file)
    if not path.is_file():
        raise ExportError(
            f"{func}: key file {str(path)!r} does not exist or is not a file. Create one "
            'outside the export, e.g. `python -c "import secrets; '
            'print(secrets.token_hex(32))" > ~/patterns.key`, and keep it apart from the data.'
        )
    resolved = path.resolve()
    for where, name in ((export, "export"), (out, "output folder")):
        if where is None:
            continue
        root = Path(where).resolve()
        if resolved == root or root in resolved.parents:
            raise ExportError(
                f"{func}: the key file {str(path)!r} is inside the {name} {str(where)!r}; "
                "keep the key outside the data (a key stored with the data makes the "
                "pseudonyms reversible)."
            )
    key = path.read_bytes().strip()
    if len(key) < MIN_KEY_BYTES:
        raise ExportError(
            f"{func}: the key in {str(path)!r} has {len(key)} bytes; at least "
            f"{MIN_KEY_BYTES} are needed (e.g. 64 hex characters from secrets.token_hex(32))."
        )
    return key


def pseudonym(value: Any, key: bytes, *, kind: str = "couple") -> str:
    """Keyed pseudonym of one id: prefix + first 16 hex digits of HMAC-SHA256.

    ``HMAC(key, kind + "\\x1f" + NFC(str(value)))``; ``kind`` separates the domains so a
    partner id equal to a couple id gets a different pseudonym.

    Examples
    --------
    >>> import hmac, hashlib
    >>> k = b"0" * 32
    >>> pseudonym("a", k, kind="partner")[2:] == hmac.new(k, b"partner\\x1fa",
    ...     hashlib.sha256).hexdigest()[:16]
    True
    """
    check_option("kind", kind, list(_PREFIX), func="pseudonym")
    msg = (kind + "\x1f" + _nfc(value)).encode("utf-8", "surrogatepass")
    return _PREFIX[kind] + hmac.new(key, msg, hashlib.sha256).hexdigest()[:_HEX]


def time_shift_days(couple_id: Any, key: bytes, *, max_weeks: int = 104) -> int:
    """The secret shift for a couple: ``-7·w`` days with ``w`` in ``1..max_weeks`` from
    HMAC-SHA256(key, "time-shift" ‖ NFC(couple_id)).

    Examples
    --------
    >>> d = time_shift_days("c001", b"k" * 32)
    >>> d % 7 == 0 and -728 <= d <= -7
    True
    """
    max_weeks = check_int(max_weeks, "max_weeks", func="time_shift_days", minimum=1)
    msg = ("time-shift\x1f" + _nfc(couple_id)).encode("utf-8", "surrogatepass")
    digest = hmac.new(key, msg, hashlib.sha256).digest()
    weeks = 1 + int.from_bytes(digest[:8], "big") % max_weeks
    return -7 * weeks


def _names_pattern(names: Iterable[str]) -> re.Pattern | None:
    words = sorted({_nfc(n).strip() for n in names if str(n).strip()}, key=len, reverse=True)
    if not words:
        return None
    return re.compile(
        r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE
    )


def redact_text(
    text: pd.Series, *, names: Iterable[str] = (), heuristic: bool = True
) -> tuple[pd.Series, dict[str, int]]:
    """Replace contact details and names in free text.

    Parameters
    ----------
    text : Series of str
    names : iterable of str
        Known names (matched whole-word, any case, after NFC normalisation).
    heuristic : bool, default True
        Also replace every capitalised word not in :data:`COMMON_WORDS`.

    Returns
    -------
    (Series, dict)
        The redacted text (same index and dtype; missing stays missing) and counts of
        replacements: ``email``, ``url``, ``date``, ``phone``, ``name_listed``,
        ``name_heuristic``.

    Notes
    -----
    Order: e-mail, URL, date, phone, listed names, then capitalised words (the
    placeholders themselves are lower case, so they are never replaced again). Each pass is
    a vectorised ``Series.str.replace``; the heuristic needs a callable replacement (to
    consult the common-word list), which runs per match.

    Examples
    --------
    >>> s, n = redact_text(pd.Series(["On Monday Alex and I argued. Rang +31 6 1234 5678"]))
    >>> s[0], n["name_heuristic"], n["phone"]
    ('On Monday [name] and I argued. [name] [phone]', 2, 1)

    ``Rang`` is an ordinary word that began a sentence: the heuristic over-redacts it.
    """
    out = text.astype("string").map(_nfc, na_action="ignore").astype("string")
    counts: dict[str, int] = {}
    for label, pattern in (("email", _EMAIL), ("url", _URL), ("date", _DATE), ("phone", _PHONE)):
        counts[label] = int(out.str.count(pattern).sum())
        out = out.str.replace(pattern, f"[{label}]", regex=True)
    listed = _names_pattern(names)
    if listed is not None:
        counts["name_listed"] = int(out.str.count(listed).sum())
        out = out.str.replace(listed, "[name]", regex=True)
    else:
        counts["name_listed"] = 0
    hits = [0]
    if heuristic:

        def _sub(m: re.Match) -> str:
            word = m.group(0)
            if not word[0].isupper():
                return word
            base, suffix = word, ""
            if base.casefold().endswith(("'s", "’s")):
                base, suffix = base[:-2], base[-2:]
            if (
                base.casefold().replace("’", "'") in COMMON_WORDS
                or word.casefold().replace("’", "'") in COMMON_WORDS
            ):
                return word
            hits[0] += 1
            return "[name]" + suffix

        out = out.str.replace(_CAPITALISED, _sub, regex=True)
    counts["name_heuristic"] = hits[0]
    return out.astype(text.dtype if text.dtype != object else "string"), counts


@dataclass(frozen=True)
class Pseudonymized:
    """The result of :func:`pseudonymize_export`: the new tables, manifest and the record
    of what was done (written as ``pseudonymization.json``)."""

    events: pd.DataFrame
    checkins: pd.DataFrame
    manifest: dict[str, Any]
    record: dict[str, Any] = field(default_factory=dict)


def _zones(manifest: Mapping, export: Any) -> dict[str, str]:
    zones = dict(getattr(export, "timezones", None) or {})
    default = manifest.get("timezone") if isinstance(manifest, Mapping) else None
    for c in manifest.get("couples", []) if isinstance(manifest, Mapping) else []:
        if isinstance(c, Mapping) and "couple_id" in c:
            zones.setdefault(_nfc(c["couple_id"]), c.get("timezone") or default or "UTC")
    return zones


def _shift_ts(
    ts: pd.Series, couples: pd.Series, offsets: Mapping[str, int], zones: Mapping[str, str]
) -> tuple[pd.Series, int]:
    """Shift UTC ``ts`` by whole days of local wall-clock time, per couple zone.

    The shifted wall times are read back with the loader's own DST rule (a time in a
    spring-forward gap moves forward by the gap, an ambiguous one takes the first
    occurrence); the count is of times that rule had to adjust.
    """
    from patterns.io import _localize  # the loader's rule; io is imported lazily here
    from patterns.timeutil import local_time

    key = couples.astype(str)
    days = pd.to_timedelta(key.map(offsets).astype("float64"), unit="D")
    moved = local_time(ts, key, zones) + days
    zone = key.map(lambda c: zones.get(c, "UTC")).astype(object)
    utc, gap, overlap = _localize(moved.reset_index(drop=True), zone.reset_index(drop=True))
    out = pd.Series(utc.array, index=ts.index)
    return out, int(gap.sum() + overlap.sum())


def _shift_date(value: Any, days: int) -> Any:
    try:
        return (pd.Timestamp(str(value)) + pd.Timedelta(days=days)).strftime("%Y-%m-%d")
    except (ValueError, TypeError):
        return None


def _manifest_out(
    manifest: Mapping, ids: Mapping[str, str], pids: Mapping[str, str], offsets: Mapping
) -> tuple[dict, list[str]]:
    """Whitelist copy of the manifest with ids replaced; returns (manifest, dropped keys)."""
    dropped: list[str] = []
    top_keys = ("schema_version", "source_app", "timezone", "scales")
    out: dict[str, Any] = {}
    if not isinstance(manifest, Mapping):
        return out, dropped
    for k, v in manifest.items():
        if k in top_keys:
            out[k] = v
        elif k != "couples":
            dropped.append(str(k))
    couples = []
    consent_keys = ("status", "decision", "period", "withdrawn_at", "purposes", "categories")
    for c in manifest.get("couples", []) or []:
        if not isinstance(c, Mapping) or _nfc(c.get("couple_id")) not in ids:
            continue
        cid = _nfc(c["couple_id"])
        new: dict[str, Any] = {"couple_id": ids[cid]}
        for k, v in c.items():
            if k == "couple_id":
                continue
            if k == "timezone":
                new[k] = v
            elif k == "partners" and isinstance(v, list):
                new[k] = [pids[_nfc(p)] for p in v]
            elif k == "consent" and isinstance(v, Mapping):
                cons: dict[str, Any] = {}
                for ck, cv in v.items():
                    if ck == "partners" and isinstance(cv, Mapping):
                        cons[ck] = {
                            pids[_nfc(p)]: {kk: rec[kk] for kk in consent_keys if kk in rec}
                            for p, rec in cv.items()
                            if _nfc(p) in pids and isinstance(rec, Mapping)
                        }
                    elif ck in ("recipients", "retention_until"):
                        cons[ck] = cv
                    else:
                        dropped.append(f"couples[].consent.{ck}")
                new[k] = cons
            elif k in SHIFTED_MANIFEST_KEYS:
                new[k] = _shift_date(v, offsets.get(cid, 0)) if v is not None else None
            else:
                dropped.append(f"couples[].{k}")
        couples.append(new)
    out["couples"] = sorted(couples, key=lambda c: c["couple_id"])
    return out, sorted(set(dropped))


def pseudonymize_export(
    export: Any,
    *,
    key: bytes,
    shift_time: bool = False,
    names: Iterable[str] = (),
    text: str = "redact",
) -> Pseudonymized:
    """Pseudonymise a loaded export (pure: nothing is read or written).

    Parameters
    ----------
    export : Export
        From :func:`patterns.load_export` (uses ``.events``, ``.checkins``, ``.manifest``,
        ``.quarantine``, ``.timezones``).
    key : bytes
        The secret key (:func:`read_key`), at least 32 bytes.
    shift_time : bool, default False
        Shift each couple's times by a secret whole number of weeks (local wall clock).
    names : iterable of str
        Known names to replace in free text.
    text : {"redact", "drop"}
        Redact names/contact details in ``note``/``answer``, or empty those columns.

    Returns
    -------
    Pseudonymized
        ``events``, ``checkins`` (contract columns only, rows sorted by couple, time),
        ``manifest`` (whitelisted, ids replaced) and ``record`` (what was done, as written
        to ``pseudonymization.json``).

    Notes
    -----
    See the module docstring for the method. Tested by re-loading the written export with
    :func:`patterns.load_export` and comparing analysis results with the original
    (tests/test_pseudonymize.py), and by scanning every output byte for ids and the key.
    """
    func = "pseudonymize_export"
    check_option("text", text, ["redact", "drop"], func=func)
    if not isinstance(shift_time, bool):
        raise option_error("shift_time", func, "True or False", shift_time)
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise option_error("key", func, f"bytes of length >= {MIN_KEY_BYTES}", "<hidden>")
    names = [str(n) for n in names]
    manifest = export.manifest if isinstance(export.manifest, Mapping) else {}
    tables = {"events": export.events, "checkins": export.checkins}
    who = {"events": "actor", "checkins": "partner"}

    couples = sorted(
        {_nfc(c) for t in tables.values() for c in t["couple_id"].dropna().unique()}
        | {
            _nfc(c["couple_id"])
            for c in manifest.get("couples", [])
            if isinstance(c, Mapping) and c.get("couple_id") is not None
        }
    )
    partners = sorted(
        {_nfc(p) for name, t in tables.items() for p in t[who[name]].dropna().unique()}
        | {
            _nfc(p)
            for c in manifest.get("couples", [])
            if isinstance(c, Mapping)
            for p in (c.get("partners") or [])
        }
    )
    ids = {c: pseudonym(c, key, kind="couple") for c in couples}
    pids = {p: pseudonym(p, key, kind="partner") for p in partners}
    if len(set(ids.values())) != len(ids) or len(set(pids.values())) != len(pids):
        raise ExportError(f"{func}: two ids share a pseudonym (HMAC truncation collision).")
    offsets = {c: time_shift_days(c, key) for c in couples} if shift_time else {}
    zones = _zones(manifest, export)

    counts: dict[str, int] = {}
    dst_adjusted = 0
    out_tables: dict[str, pd.DataFrame] = {}
    for name, table in tables.items():
        cols = [c.name for c in schema.columns_of(name)]
        df = schema.coerce_dtypes(table, name)[cols].copy()
        original = df["couple_id"].astype("string").map(_nfc, na_action="ignore")
        if shift_time and len(df):
            df["ts"], n_adj = _shift_ts(df["ts"], original, offsets, zones)
            dst_adjusted += n_adj
        df["couple_id"] = original.map(ids).astype("string")
        col = who[name]
        df[col] = df[col].astype("string").map(_nfc, na_action="ignore").map(pids)
        df[col] = df[col].astype("string")
        if name == "events":
            bid = df["bid_id"].astype("string")
            # hashlib has no vectorised HMAC: one call per distinct bid id, then a map.
            table = {b: pseudonym(b, key, kind="bid") for b in bid.dropna().unique()}
            df["bid_id"] = bid.map(table).astype("string")
        free = [c.name for c in schema.columns_of(name) if c.private]
        for c in free:
            if text == "drop":
                counts[f"{c}_dropped"] = counts.get(f"{c}_dropped", 0) + int(df[c].notna().sum())
                df[c] = pd.Series(pd.NA, index=df.index, dtype="string")
            else:
                df[c], n = redact_text(df[c], names=names)
                for k, v in n.items():
                    counts[k] = counts.get(k, 0) + v
        labels = [c for c in ("topic", "conflict_topic", "prompt") if c in df.columns]
        for c in labels:
            df[c], n = redact_text(df[c], names=names, heuristic=False)
            counts["name_listed"] = counts.get("name_listed", 0) + n["name_listed"]
        df = df.sort_values(["couple_id", "ts"], kind="mergesort").reset_index(drop=True)
        df.attrs = {}
        out_tables[name] = df

    new_manifest, dropped = _manifest_out(manifest, ids, pids, offsets)
    quarantine = getattr(export, "quarantine", None)
    n_quarantined = len(quarantine) if isinstance(quarantine, pd.DataFrame) else 0
    check = hmac.new(key, b"key-check", hashlib.sha256).hexdigest()[:8]
    record = {
        "tool": "connection-patterns pseudonymize",
        "status": "pseudonymised, NOT anonymised: still personal data (GDPR Art. 4(5), "
        "special-category under Art. 9); not HIPAA de-identified",
        "ids": {
            "method": "HMAC-SHA256(key, kind || 0x1F || NFC(id)), first 16 hex digits, "
            "prefixes c_/p_/b_",
            "fields": ["couple_id", "actor", "partner", "bid_id", "manifest couples/partners"],
            "couples": len(ids),
            "partners": len(pids),
            "key_check": check,
            "key_check_note": "first 8 hex of HMAC(key, 'key-check'): equal values mean the "
            "same key was used; it does not reveal the key",
        },
        "free_text": {
            "mode": text,
            "columns": ["note", "answer"],
            "method": (
                "emptied"
                if text == "drop"
                else "e-mail/URL/date/phone patterns replaced; names-list words and "
                "capitalised words not in the built-in common-word list replaced by [name]"
            ),
            "labels": "topic, conflict_topic, prompt: names-list words only",
            "names_list_size": len(set(names)),
            "replacements": dict(sorted(counts.items())),
        },
        "time_shift": {
            "applied": shift_time,
            "method": "per-couple secret whole number of weeks (1-104) back, in local "
            "wall-clock time; hour, weekday and diary day preserved"
            if shift_time
            else "none",
            "dst_adjusted": dst_adjusted,
            "manifest_dates_shifted": list(SHIFTED_MANIFEST_KEYS) if shift_time else [],
            "consent_dates_shifted": False,
        },
        "rows": {
            "events": len(out_tables["events"]),
            "checkins": len(out_tables["checkins"]),
            "quarantined_in_source_not_copied": n_quarantined,
            "columns": "contract columns only; other source columns dropped",
        },
        "manifest_keys_dropped": dropped,
        "not_written": ["the key", "any table mapping ids to pseudonyms"],
    }
    return Pseudonymized(out_tables["events"], out_tables["checkins"], new_manifest, record)


def _write_table(df: pd.DataFrame, path: Path) -> None:
    out = df.copy()
    out["ts"] = out["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    # Researchers open these files in spreadsheets: text cells starting with = + - @ tab CR
    # LF NUL get a leading ' (a hostile note cannot run as a formula). The loader reads the
    # ' back as text, so such a cell differs from the source by that one character.
    safe_csv(out, path, index=False, encoding="utf-8")


def write_pseudonymized(
    export_path: str | Path,
    out: str | Path,
    *,
    key_file: str | Path,
    shift_time: bool = False,
    names_file: str | Path | None = None,
    text: str = "redact",
    mapping: Any = None,
    timezone: str | None = None,
) -> dict[str, Any]:
    """Load ``export_path``, pseudonymise it and write a new export folder ``out``.

    ``out`` must not exist or be empty, and must not lie inside the export. Writes
    ``events.csv``, ``checkins.csv``, ``manifest.json`` and ``pseudonymization.json``;
    returns the record.
    """
    from patterns.io import load_export

    export_path, out = Path(export_path), Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"write_pseudonymized: output {str(out)!r} exists and is not empty.")
    root = export_path.resolve()
    if out.resolve() == root or root in out.resolve().parents:
        raise ExportError("write_pseudonymized: the output folder must not be inside the export.")
    key = read_key(key_file, export=export_path, out=out)
    names: list[str] = []
    if names_file is not None:
        names = [
            line.strip()
            for line in Path(names_file).read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    export = load_export(export_path, mapping=mapping, timezone=timezone)
    result = pseudonymize_export(export, key=key, shift_time=shift_time, names=names, text=text)
    out.mkdir(parents=True, exist_ok=True)
    _write_table(result.events, out / "events.csv")
    _write_table(result.checkins, out / "checkins.csv")
    (out / "manifest.json").write_text(
        json.dumps(result.manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    (out / "pseudonymization.json").write_text(
        json.dumps(result.record, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return result.record
