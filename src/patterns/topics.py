"""Conflict topics: one conflict log from both tables, topic assignment, recurrence.

Which conflicts keep coming back? :func:`conflict_log` merges ``conflict`` marker events and
check-ins that report a conflict into one row per conflict (de-duplicated per couple, diary
day and topic). Topics come from explicit tags first, otherwise from a transparent,
editable lexicon (``patterns/data/topics_lexicon.yaml``) applied to the free-text note;
:func:`explain_topics` shows which lexicon term matched which topic. :func:`topic_recurrence`
summarises each couple's topics: how often and for how long they are active, whether they
**resurface** after being marked repaired, how often they escalate or get repaired, and a
documented **perpetual** flag. :func:`cycle_topics` counts which topics open
pursue–withdraw episodes. :func:`discover_topics` (researchers) proposes lexicon entries
from free text with TF-IDF + NMF.

Free text never appears in a result unless an explicit argument asks for it.

Examples
--------
>>> import pandas as pd
>>> from patterns import schema
>>> ev = schema.coerce_dtypes(pd.DataFrame({
...     "couple_id": ["c1", "c1"], "actor": ["a", "b"], "code": ["conflict", "conflict"],
...     "ts": pd.to_datetime(["2026-01-05 19:00", "2026-01-12 20:00"], utc=True),
...     "topic": ["money", None], "intensity": [0.8, 0.3],
...     "note": [None, "The rent and the bills again"]}), "events")
>>> conflict_log(ev)[["couple_id", "partner", "topic", "topic_source", "source"]]
  couple_id partner  topic topic_source  source
0        c1       a  money          tag  events
1        c1       b  money      lexicon  events
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from patterns import _fast, schema, timeutil
from patterns.errors import check_duration, check_fraction, check_int, option_error

__all__ = [
    "TOPICS",
    "conflict_log",
    "cycle_topics",
    "discover_topics",
    "explain_topics",
    "load_lexicon",
    "topic_recurrence",
    "topic_weeks",
]

#: The conflict-topic vocabulary (display order). ``other`` catches everything unmatched.
TOPICS: tuple[str, ...] = schema.TOPICS

_STR = schema.STRING
# Combining marks left over after NFKD (accents); removing them folds "é" to "e".
_MARKS = r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
_LOG_COLUMNS = [
    "couple_id",
    "ts",
    "day",
    "partner",
    "topic",
    "intensity",
    "repaired",
    "source",
    "reported_by",
    "topic_source",
    "other_topics",
    "n_reports",
]


# --- lexicon ----------------------------------------------------------------------------


def load_lexicon(path: str | Path | None = None) -> dict[str, list[str]]:
    """Read a topic lexicon (YAML) into ``{topic: [term, ...]}``.

    Parameters
    ----------
    path : str or Path, optional
        A YAML file with a top-level ``topics:`` mapping of topic → list of terms. Default:
        the lexicon shipped with the kit (``patterns/data/topics_lexicon.yaml``), which
        documents the matching rules in its header and is meant to be copied and edited.

    Returns
    -------
    dict of str to list of str
        Topics in file order, each with its terms (possibly empty, as for ``other``).

    Notes
    -----
    Term syntax: whole words; each plain term also matches its ``+s``/``+es`` plural
    (simple stemming, so ``money`` never matches "moneyless"); a trailing ``*`` matches
    any continuation of the word on purpose (``spend*`` → "spending"); words inside a term
    may be separated by spaces, hyphens or nothing in the text (``in-law`` → "in-laws",
    "in laws"). Matching is case- and accent-insensitive (NFKD fold).

    Examples
    --------
    >>> lex = load_lexicon()
    >>> "in-law" in lex["family"], lex["other"]
    (True, [])
    """
    if path is None:
        text = (
            resources.files("patterns")
            .joinpath("data/topics_lexicon.yaml")
            .read_text(encoding="utf-8")
        )
    else:
        p = Path(path)
        if not p.is_file():
            raise option_error("path", "load_lexicon", "an existing YAML file", str(path))
        text = p.read_text(encoding="utf-8")
    import yaml  # here, not at import: the couple-week table never reads a lexicon

    data = yaml.safe_load(text)
    topics = data.get("topics") if isinstance(data, Mapping) else None
    if not isinstance(topics, Mapping):
        raise option_error(
            "path", "load_lexicon", "a YAML file with a top-level 'topics:' mapping", str(path)
        )
    return _validate_lexicon(topics, func="load_lexicon")


def _validate_lexicon(topics: Mapping[Any, Any], *, func: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for topic, terms in topics.items():
        terms = [] if terms is None else terms
        if not isinstance(topic, str) or not topic.strip():
            raise option_error("lexicon", func, "a mapping with non-empty topic names", topic)
        if isinstance(terms, str) or not isinstance(terms, Iterable):
            raise option_error("lexicon", func, f"a list of terms for topic {topic!r}", terms)
        clean = []
        for term in terms:
            if not isinstance(term, str) or not term.strip("* \t-"):
                raise option_error(
                    "lexicon", func, f"non-empty string terms for topic {topic!r}", term
                )
            clean.append(term.strip())
        out[topic.strip()] = clean
    if not out:
        raise option_error("lexicon", func, "at least one topic", dict(topics))
    return out


def _fold_text(text: str) -> str:
    """Fold one string the same way notes are folded (NFKD, no accents, casefold)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _fold(values: pd.Series) -> pd.Series:
    """Vectorised NFKD fold: accents removed, case-folded; missing → empty string."""
    s = values.astype(_STR).fillna("")
    # Fold each distinct string once (tags and notes repeat a lot; the mark-stripping regex
    # runs element by element in Python), then broadcast back by code.
    codes, uniq = pd.factorize(s)
    folded = pd.Series(uniq, dtype=_STR).str.normalize("NFKD")
    folded = folded.str.replace(_MARKS, "", regex=True).str.casefold()
    return pd.Series(folded.to_numpy(dtype=object)[codes], index=s.index, dtype=_STR)


def _term_regex(term: str) -> str:
    import re

    folded = _fold_text(term.strip())
    stem = folded.endswith("*")
    words = [w for w in re.split(r"[\s\-]+", folded.rstrip("*")) if w]
    body = r"[\s\-]*".join(re.escape(w) for w in words)
    # Simple stemming written by hand (no stemmer dependency, and the rule must stay
    # explainable to a therapist): a plain term also matches its regular plural.
    return body + (r"\w*" if stem else r"(?:e?s)?")


@lru_cache(maxsize=32)
def _compiled(items: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, str | None]:
    """One regex per topic: the topic's terms, longest first, inside word boundaries."""
    out: dict[str, str | None] = {}
    for topic, terms in items:
        if not terms:
            out[topic] = None
            continue
        alts = sorted({_term_regex(t) for t in terms}, key=lambda r: (-len(r), r))
        out[topic] = r"(?<!\w)(?:" + "|".join(alts) + r")(?!\w)"
    return out


def _resolve_lexicon(lexicon: Any, *, func: str) -> dict[str, list[str]]:
    if lexicon is None:
        return _default_lexicon()
    if isinstance(lexicon, str | Path):
        return load_lexicon(lexicon)
    if isinstance(lexicon, Mapping):
        return _validate_lexicon(lexicon, func=func)
    raise option_error(
        "lexicon", func, "None, a path to a YAML lexicon, or a mapping topic → terms", lexicon
    )


@lru_cache(maxsize=1)
def _default_lexicon_cached() -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((k, tuple(v)) for k, v in load_lexicon().items())


def _default_lexicon() -> dict[str, list[str]]:
    return {k: list(v) for k, v in _default_lexicon_cached()}


def _patterns_for(lex: Mapping[str, Sequence[str]]) -> dict[str, str | None]:
    return _compiled(tuple((k, tuple(v)) for k, v in lex.items()))


def _topic_scores(text: pd.Series, lex: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Score of each topic for each (already folded) text: Σ words of each matched term.

    One regex per topic (:func:`_compiled`), run over each text by ``re.finditer`` (what
    ``str.extractall`` runs per element, without building a frame of matches per topic:
    a dozen topics over a few hundred distinct notes cost 0.03 s that way). Weighting a
    match by its number of words lets a specific phrase ("went through my phone", trust)
    outweigh a single generic word ("phone", screens).
    """
    import re

    texts = text.to_numpy(dtype=object, na_value="")
    gap = re.compile(r"[\s\-]+")
    cols = {}
    for topic, pattern in _patterns_for(lex).items():
        score = np.zeros(len(texts), dtype=np.int64)
        if pattern is not None:
            rx = re.compile(pattern)
            for i, t in enumerate(texts):  # per text, as str.extractall's own loop
                for m in rx.finditer(t):
                    score[i] += len(gap.findall(m.group(0))) + 1
        cols[topic] = score
    return pd.DataFrame(cols, index=text.index, columns=list(lex), dtype="int64")


def _primary_topics(
    text: pd.Series, lex: Mapping[str, Sequence[str]]
) -> tuple[pd.Series, pd.Series]:
    """Primary lexicon topic (NA when nothing matched) and the other matched topics."""
    codes, uniq = pd.factorize(text.astype(_STR).fillna(""))
    if len(uniq) < len(text):  # score each distinct text once, then broadcast by code
        primary, others = _primary_topics(pd.Series(uniq, dtype=_STR), lex)
        return (
            pd.Series(primary.to_numpy(dtype=object)[codes], index=text.index, dtype=_STR),
            pd.Series(others.to_numpy(dtype=object)[codes], index=text.index, dtype=_STR),
        )
    scores = _topic_scores(text, lex)
    matched = scores.gt(0)
    if scores.shape[1] == 0:
        empty = pd.Series(pd.NA, index=text.index, dtype=_STR)
        return empty, pd.Series("", index=text.index, dtype=_STR)
    # idxmax takes the first column among ties: lexicon order breaks ties.
    primary = scores.idxmax(axis=1).astype(_STR).where(matched.any(axis=1))
    names = np.array(list(scores.columns), dtype=object)
    prim = primary.fillna("").to_numpy(dtype=object)[:, None]
    is_other = matched.to_numpy(dtype=bool) & (names[None, :] != prim).astype(bool)
    others = pd.Series(
        [",".join(names[row]) for row in is_other], index=text.index, dtype=_STR
    )  # one join per conflict row over ≤12 topic names
    return primary, others


def explain_topics(
    notes: Sequence[str] | pd.Series,
    *,
    lexicon: Mapping[str, Sequence[str]] | str | Path | None = None,
) -> pd.DataFrame:
    """Which lexicon term matched which topic in each note — never the note text itself.

    Parameters
    ----------
    notes : sequence of str or Series
        Free-text notes (missing and empty values are fine).
    lexicon : mapping, path or None
        Topic lexicon (default: the shipped YAML, see :func:`load_lexicon`).

    Returns
    -------
    DataFrame
        One row per note, topic and matched lexicon term: ``row`` (0-based position of the
        note in ``notes``), ``topic``, ``term`` (the lexicon entry as written in the
        lexicon), ``count`` (how often it matched), ``words`` (words in the term: the
        weight of one match in the topic score), ``primary`` (True for the topic
        :func:`conflict_log` would assign: highest score, ties → lexicon order).

    Notes
    -----
    Same matching as :func:`conflict_log` (see :func:`load_lexicon` for the rules). Tested
    against hand-written cases (word boundaries, plurals, ``in-laws``, accents, several
    topics in one note, empty and huge notes).

    Examples
    --------
    >>> explain_topics(["Fought about the BILLS and my mother-in-law", "moneyless"])
       row   topic    term  count  words  primary
    0    0   money    bill      1      1    False
    1    0  family  in-law      1      2     True
    2    0  family  mother      1      1     True
    """
    lex = _resolve_lexicon(lexicon, func="explain_topics")
    series = pd.Series(list(notes) if not isinstance(notes, pd.Series) else notes.to_list())
    text = _fold(series)
    primary, _ = _primary_topics(text, lex)
    rows = []
    for topic, terms in lex.items():  # loop over the lexicon's topics (a dozen)
        if not terms:
            continue
        # the topic's one regex, with a named group per term so each match is credited to
        # exactly the term the scorer used (longest alternative first, as in _compiled)
        uniq = sorted(dict.fromkeys(terms), key=lambda t: (-len(_term_regex(t)), t))
        groups = "|".join(f"(?P<t{i}>{_term_regex(t)})" for i, t in enumerate(uniq))
        hits = text.str.extractall(r"(?<!\w)(?:" + groups + r")(?!\w)")
        if hits.empty:
            continue
        which = hits.notna().to_numpy().argmax(axis=1)
        found = pd.DataFrame(
            {
                "row": hits.index.get_level_values(0).to_numpy(dtype="int64"),
                "term": np.asarray(uniq, dtype=object)[which],
            }
        )
        found = found.groupby(["row", "term"], sort=False).size().rename("count").reset_index()
        found["topic"] = topic
        found["words"] = found["term"].str.rstrip("*").str.split(r"[\s\-]+", regex=True).str.len()
        rows.append(found)
    cols = ["row", "topic", "term", "count", "words", "primary"]
    if not rows:
        out = pd.DataFrame({c: pd.Series([], dtype="int64") for c in ("row", "count", "words")})
        out["topic"] = pd.Series([], dtype=_STR)
        out["term"] = pd.Series([], dtype=_STR)
        out["primary"] = pd.Series([], dtype="bool")
        return out[cols]
    out = pd.concat(rows, ignore_index=True)
    out["topic"] = out["topic"].astype(_STR)
    out["term"] = out["term"].astype(_STR)
    out["count"] = out["count"].astype("int64")
    out["words"] = out["words"].astype("int64")
    out["primary"] = (out["topic"] == primary.reindex(out["row"]).to_numpy()).fillna(False)
    out["primary"] = out["primary"].astype("bool")
    order = {t: i for i, t in enumerate(lex)}
    out = out.assign(_o=out["topic"].map(order)).sort_values(["row", "_o", "term"], kind="stable")
    return out[cols].reset_index(drop=True)


# --- the conflict log ---------------------------------------------------------------------


def _norm_tag(tag: pd.Series) -> pd.Series:
    # normalise each distinct tag once, then broadcast by code (tags repeat a lot)
    codes, uniq = pd.factorize(tag.astype(_STR))
    u = _fold(pd.Series(uniq, dtype=_STR)).str.strip().str.replace(r"[\s\-]+", "_", regex=True)
    u = u.mask(u == "").to_numpy(dtype=object, na_value=pd.NA)
    out = np.append(u, pd.NA)[np.where(codes >= 0, codes, len(u))]  # missing tag -> NA
    return pd.Series(out, index=tag.index, dtype=_STR)


def _assign_topics(
    tag: pd.Series, note: pd.Series, lex: Mapping[str, Sequence[str]]
) -> pd.DataFrame:
    """Topic, topic_source and other_topics for rows with a tag and/or a note.

    Each row's result depends on its (tag, note) pair only, so it is computed once per
    distinct pair and broadcast by an Arrow take: tags and notes repeat a lot (1,000
    couples: 57k event conflicts, under 400 distinct notes), and the per-row string
    columns built along the way cost more than the lexicon itself.
    """
    tc, _ = _fast.codes(tag)
    nc, nu = _fast.codes(note)
    pair = (tc + 1) * (len(nu) + 1) + (nc + 1)
    uniq, first, inv = np.unique(pair, return_index=True, return_inverse=True)
    if len(uniq) == len(pair):
        return _assign_topics_rows(tag, note, lex)
    small = _assign_topics_rows(
        tag.iloc[first].reset_index(drop=True), note.iloc[first].reset_index(drop=True), lex
    )
    out = small.iloc[inv.reshape(-1)]
    out.index = tag.index
    return out


def _assign_topics_rows(
    tag: pd.Series, note: pd.Series, lex: Mapping[str, Sequence[str]]
) -> pd.DataFrame:
    """:func:`_assign_topics` computed row by row (vectorised over the rows)."""
    known = set(lex) | set(TOPICS)
    t = _norm_tag(tag)
    is_known = t.isin(known).fillna(False).astype(bool)
    has_tag = t.notna()
    # An unknown free label is read through the lexicon together with the note.
    text = _fold(note)
    text = text.where(~(has_tag & ~is_known), _fold(tag) + " " + text)
    primary, others = _primary_topics(text, lex)
    topic = t.where(is_known, primary)
    source = pd.Series("none", index=t.index, dtype=_STR)
    source = source.mask(primary.notna(), "lexicon").mask(is_known, "tag")
    # An unknown tag that the lexicon cannot place stays a tag, filed under "other".
    source = source.mask(has_tag & ~is_known & primary.isna(), "tag")
    topic = topic.fillna("other").astype(_STR)
    return pd.DataFrame({"topic": topic, "topic_source": source, "other_topics": others})


def _zones(frames: Iterable[pd.DataFrame | None], timezone: Any) -> Any:
    if timezone is not None:
        return timezone
    merged: dict[str, str] = {}
    for df in frames:
        if df is not None:
            tz = df.attrs.get("timezones")
            if isinstance(tz, str):
                return tz
            if isinstance(tz, Mapping):
                merged.update(tz)
    return merged or "UTC"


def conflict_log(
    events: pd.DataFrame | None = None,
    checkins: pd.DataFrame | None = None,
    *,
    lexicon: Mapping[str, Sequence[str]] | str | Path | None = None,
    timezone: str | Mapping[str, str] | None = None,
    cutoff_hour: int = timeutil.DEFAULT_CUTOFF_HOUR,
    include_text: bool = False,
) -> pd.DataFrame:
    """One row per conflict, from ``conflict`` events and/or check-ins that report one.

    Parameters
    ----------
    events : DataFrame, optional
        Events table (needs ``couple_id``, ``ts``, ``actor``, ``code``; uses ``topic``,
        ``intensity``, ``note`` when present). Rows with ``code == "conflict"`` are used.
    checkins : DataFrame, optional
        Check-ins (needs ``couple_id``, ``partner``, ``ts`` and ``conflict`` or
        ``conflict_topic``; uses ``conflict_intensity``, ``repaired``). A row reports a
        conflict when ``conflict`` is true or ``conflict_topic`` is filled.
    lexicon : mapping, path or None
        Topic lexicon for notes without a known tag (default: shipped YAML).
    timezone : str or mapping couple_id → IANA zone, optional
        Zone(s) for diary days; default ``attrs["timezones"]`` of the inputs, else UTC.
    cutoff_hour : int
        Local hour at which a diary day starts (default 4).
    include_text : bool
        Add a ``note`` column (the events' notes of the conflict, joined with `` | ``).
        Off by default: notes are private free text.

    Returns
    -------
    DataFrame
        One row per couple, diary day and topic, sorted by couple and time:

        - ``couple_id`` (str), ``ts`` (UTC; the earliest conflict event, else the
          earliest check-in reporting it), ``day`` (local diary day, naive midnight)
        - ``partner``: partner id of the first report (the event's actor if any)
        - ``topic``: tag if it is a known topic, else the lexicon's primary topic of the
          note (or of an unknown free label), else ``"other"``
        - ``intensity`` (float 0–1): the largest reported intensity
        - ``repaired`` (nullable bool): True if any report marks it repaired, False if
          reports say not repaired, missing when nobody said
        - ``source``: ``events``, ``checkins`` or ``both``
        - ``reported_by``: the partner id when one partner reported it, ``both`` when both
          did (ids, not labels: reports map ids to labels with ``schema.partner_labels``)
        - ``topic_source``: ``tag``, ``lexicon`` or ``none`` (nothing to go on → ``other``)
        - ``other_topics``: further lexicon topics found in the note, comma-separated
          (topic names only, never text)
        - ``n_reports`` (int): rows merged into this conflict

    Notes
    -----
    De-duplication: reports on the same couple, diary day and topic are one conflict
    (several partners, both tables, or repeats). A check-in reporting a conflict without a
    topic adopts the topic of that couple-day's other reports when they name exactly one
    topic. The result's ``attrs["observed_period"]`` holds each couple's first and last
    observed diary day over *all* input rows, which :func:`topic_recurrence` uses as the
    observation period. Tested against a hand-built two-table case and the simulator's
    planted conflicts.

    Examples
    --------
    >>> import pandas as pd
    >>> from patterns import schema
    >>> ci = schema.coerce_dtypes(pd.DataFrame({
    ...     "couple_id": ["c1", "c1"], "partner": ["a", "b"],
    ...     "ts": pd.to_datetime(["2026-01-05 21:00", "2026-01-06 01:30"], utc=True),
    ...     "conflict": [True, True], "conflict_topic": ["chores", "Chores"],
    ...     "repaired": [False, True]}), "checkins")
    >>> conflict_log(checkins=ci)[["topic", "repaired", "reported_by", "n_reports"]]
        topic  repaired reported_by  n_reports
    0  chores      True        both          2
    """
    return _conflict_log(
        events,
        checkins,
        lexicon=lexicon,
        timezone=timezone,
        cutoff_hour=cutoff_hour,
        include_text=include_text,
        observed=True,
    )


def _conflict_log(
    events: pd.DataFrame | None,
    checkins: pd.DataFrame | None,
    *,
    lexicon: Mapping[str, Sequence[str]] | str | Path | None,
    timezone: str | Mapping[str, str] | None,
    cutoff_hour: int,
    include_text: bool,
    observed: bool,
) -> pd.DataFrame:
    """:func:`conflict_log`; ``observed=False`` leaves out ``attrs["observed_period"]``
    (``couple_week_metrics`` drops the attrs: computing the spans cost 0.06-0.09 s at
    1,000 couples)."""
    if events is None and checkins is None:
        raise option_error(
            "events/checkins", "conflict_log", "at least one table (events or checkins)", None
        )
    if not isinstance(include_text, bool):
        raise option_error("include_text", "conflict_log", "True or False", include_text)
    lex = _resolve_lexicon(lexicon, func="conflict_log")
    zones = _zones([events, checkins], timezone)
    parts = []
    spans = []
    if events is not None:
        schema.require_columns(
            events, ["couple_id", "ts", "actor", "code"], func="conflict_log", table="events"
        )
        spans.append(events)
        # == on the column itself (categorical in the contract): a cast of millions of codes
        # to strings first took 0.35 s
        # only the columns read below are taken (bid ids, bid types and codes are not)
        used = [
            c for c in ("couple_id", "ts", "actor", "intensity", "topic", "note") if c in events
        ]
        ev = events[used].loc[(events["code"] == "conflict").to_numpy(dtype=bool, na_value=False)]
        ev = ev.reset_index(drop=True)  # any index, even with repeated labels
        tag = ev["topic"] if "topic" in ev else pd.Series(pd.NA, index=ev.index, dtype=_STR)
        note = ev["note"] if "note" in ev else pd.Series(pd.NA, index=ev.index, dtype=_STR)
        assigned = _assign_topics(tag, note, lex)
        parts.append(
            pd.DataFrame(
                {
                    "couple_id": ev["couple_id"].astype(_STR),
                    "ts": pd.to_datetime(ev["ts"], utc=True),
                    "partner": ev["actor"].astype(_STR),
                    "intensity": _float_col(ev, "intensity"),
                    "repaired": pd.Series(pd.NA, index=ev.index, dtype="boolean"),
                    "src": 0,
                    "note": note.astype(_STR),
                }
            ).join(assigned)
        )
    if checkins is not None:
        schema.require_columns(
            checkins, ["couple_id", "ts", "partner"], func="conflict_log", table="checkins"
        )
        if "conflict" not in checkins and "conflict_topic" not in checkins:
            schema.require_columns(checkins, ["conflict"], func="conflict_log", table="checkins")
        spans.append(checkins)
        flag = (
            checkins["conflict"].astype("boolean").fillna(False)
            if "conflict" in checkins
            else pd.Series(False, index=checkins.index, dtype="boolean")
        )
        ctag = (
            checkins["conflict_topic"].astype(_STR)
            if "conflict_topic" in checkins
            else pd.Series(pd.NA, index=checkins.index, dtype=_STR)
        )
        # a topic that is not blank (stripped only where there is one: most rows have none)
        present = ctag.notna().to_numpy(dtype=bool)
        has_topic = np.zeros(len(ctag), dtype=bool)
        has_topic[present] = ctag[present].str.strip().ne("").to_numpy(dtype=bool)
        keep = (flag | has_topic).to_numpy(dtype=bool)
        used = [
            c
            for c in ("couple_id", "ts", "partner", "conflict_intensity", "repaired")
            if c in checkins
        ]
        ci = checkins[used].loc[keep].reset_index(drop=True)  # only the columns read below
        ctag = ctag.loc[keep].reset_index(drop=True)
        assigned = _assign_topics(ctag, pd.Series(pd.NA, index=ci.index, dtype=_STR), lex)
        parts.append(
            pd.DataFrame(
                {
                    "couple_id": ci["couple_id"].astype(_STR),
                    "ts": pd.to_datetime(ci["ts"], utc=True),
                    "partner": ci["partner"].astype(_STR),
                    "intensity": _float_col(ci, "conflict_intensity"),
                    "repaired": (
                        ci["repaired"].astype("boolean")
                        if "repaired" in ci
                        else pd.Series(pd.NA, index=ci.index, dtype="boolean")
                    ),
                    "src": 1,
                    "note": pd.Series(pd.NA, index=ci.index, dtype=_STR),
                }
            ).join(assigned)
        )
    rows = pd.concat(parts, ignore_index=True)
    # the rows' couple ids hashed once (sorted codes, as _dedupe orders by them) for the
    # diary days, the day topics and the dedupe (each hashed the column again)
    couple = _fast.codes(rows["couple_id"], sort=True)
    rows["day"] = _conflict_days(rows, zones, cutoff_hour, couple)
    rows = _adopt_day_topic(rows, couple[0])
    out = _dedupe(rows, couple[0], include_text=include_text)
    # shared, not deep-copied, by frames pandas derives from ``out`` (1,000 couples: ~1 s)
    if observed:
        out.attrs["observed_period"] = timeutil.SharedMapping(
            _observed_period(spans, zones, cutoff_hour)
        )
    if isinstance(zones, Mapping) or isinstance(zones, str):
        out.attrs["timezones"] = (
            timeutil.TimezoneMap(zones) if isinstance(zones, Mapping) else zones
        )
    return out


def _conflict_days(
    rows: pd.DataFrame,
    zones: Any,
    cutoff_hour: int,
    couple: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.Series:
    """:func:`patterns.timeutil.diary_day` of the conflict rows (``couple``: the codes of
    their couple ids, when the caller has them)."""
    return timeutil.diary_day(
        rows["ts"], rows["couple_id"], zones, cutoff_hour=cutoff_hour, codes=couple
    )


def _float_col(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df:
        return pd.Series(np.nan, index=df.index, dtype="float64")
    return pd.to_numeric(df[col], errors="coerce").astype("float64")


def _adopt_day_topic(rows: pd.DataFrame, couple: np.ndarray | None = None) -> pd.DataFrame:
    """A report without any topic takes the couple-day's topic when exactly one is known.

    On integer (couple, day) and topic codes when no key or topic is missing (a string
    groupby and a merge cost 0.05 s at 1,000 couples): per couple-day, the number of
    distinct known topics and the first one in row order, as ``nunique``/``first`` gave.
    ``couple``: integer codes of ``rows["couple_id"]`` (any numbering), when the caller
    has them. The rows keep their order (so such codes stay valid for them).
    """
    day = rows["day"].to_numpy()
    if (
        len(rows) == 0
        or rows["couple_id"].isna().any()
        or rows["topic"].isna().any()
        or day.dtype.kind != "M"
        or np.isnat(day).any()
    ):
        return _adopt_day_topic_frames(rows)
    cc = _fast.codes(rows["couple_id"], uniques=False)[0] if couple is None else couple
    tc, tnames = _fast.codes(rows["topic"])
    dn = day.view(np.int64)
    _, dcode = np.unique(dn, return_inverse=True)
    key = cc * (int(dcode.max()) + 1) + dcode.reshape(-1)  # (couple, day)
    none = (rows["topic_source"] == "none").to_numpy(dtype=bool)
    k_known, t_known = key[~none], tc[~none]
    cells, first = np.unique(k_known, return_index=True)
    pairs = np.unique(k_known * (len(tnames) + 1) + t_known)
    n_topics = np.bincount(np.searchsorted(cells, pairs // (len(tnames) + 1)), minlength=len(cells))
    single = n_topics == 1
    at = np.searchsorted(cells, key)
    at_ok = at < len(cells)
    hit = np.zeros(len(rows), dtype=bool)
    hit[at_ok] = cells[at[at_ok]] == key[at_ok]
    hit[hit] = single[at[hit]]
    adopt = none & hit
    if not adopt.any():
        return rows.copy()
    day_topic = np.where(adopt, t_known[first][np.where(hit, at, 0)], 0)
    return rows.assign(
        topic=rows["topic"].mask(adopt, _fast.strings(tnames, day_topic)),
        topic_source=rows["topic_source"].mask(adopt, "day"),
    )


def _adopt_day_topic_frames(rows: pd.DataFrame) -> pd.DataFrame:
    """:func:`_adopt_day_topic` by a string groupby and a merge (any missing values)."""
    known = rows.loc[rows["topic_source"] != "none", ["couple_id", "day", "topic"]]
    single = known.groupby(["couple_id", "day"], observed=True)["topic"].agg(["nunique", "first"])
    single = single.loc[single["nunique"] == 1, "first"].rename("day_topic").reset_index()
    rows = rows.merge(single, on=["couple_id", "day"], how="left")
    adopt = (rows["topic_source"] == "none") & rows["day_topic"].notna()
    rows["topic"] = rows["topic"].mask(adopt, rows["day_topic"])
    rows["topic_source"] = rows["topic_source"].mask(adopt, "day")
    return rows.drop(columns="day_topic")


_SOURCE_RANK = {"tag": 0, "lexicon": 1, "day": 2, "none": 3}


def _source_rank(source: pd.Series) -> pd.Series:
    """``source.map(_SOURCE_RANK)`` as numpy int64, looked up once per distinct value (a
    string ``map`` over 140k conflicts cost 0.015 s); the ``map`` itself when a value is
    missing or not a source."""
    c, names = _fast.codes(source)
    if (c < 0).any() or not set(names) <= set(_SOURCE_RANK):
        return source.map(_SOURCE_RANK)
    lut = np.array([_SOURCE_RANK[n] for n in names], dtype=np.int64)
    return pd.Series(lut[c], index=source.index)


def _dedupe_runs(
    rows: pd.DataFrame, order: np.ndarray, start: np.ndarray, keys: list[str]
) -> pd.DataFrame:
    """:func:`_dedupe`'s grouped aggregation for rows sorted by ``order`` into groups that
    start at the sorted positions ``start``, by ufunc reductions over those runs instead of
    a pandas groupby (an ``iloc`` of every column and a ten-column ``agg``: 0.04 s at
    1,000 couples). For rows without a missing partner or other_topics (``first`` then is
    the group's first row): the same columns, values and dtypes (tested against the
    groupby). Maxima skip NaN and are NaN only for a group without a value, as pandas'."""
    first = order[start]
    n_groups = len(start)
    sizes = np.diff(np.r_[start, len(order)])
    gid = np.repeat(np.arange(n_groups), sizes)
    out = {k: rows[k].take(first).reset_index(drop=True) for k in keys}
    out["ts"] = rows["ts"].take(first).reset_index(drop=True)
    out["partner"] = rows["partner"].take(first).reset_index(drop=True)
    with np.errstate(invalid="ignore"):
        out["intensity"] = np.fmax.reduceat(rows["intensity"].to_numpy(float)[order], start)
        rep = rows["_rep"].to_numpy(float, na_value=np.nan)[order]
        out["_rep"] = pd.array(np.fmax.reduceat(rep, start), dtype="Float64")  # NaN -> NA
    out["_ev"] = np.logical_or.reduceat(rows["_ev"].to_numpy(bool)[order], start)
    out["_ci"] = np.logical_or.reduceat(rows["_ci"].to_numpy(bool)[order], start)
    pcode = _fast.codes(rows["partner"], uniques=False)[0]
    n_p = int(pcode.max()) + 1 if len(pcode) else 1
    pairs = np.unique(gid * n_p + pcode[order])  # distinct (group, partner)
    out["_n_partners"] = np.bincount(pairs // n_p, minlength=n_groups).astype(np.int64)
    out["_rank"] = np.minimum.reduceat(rows["_rank"].to_numpy(np.int64)[order], start)
    out["other_topics"] = rows["other_topics"].take(first).reset_index(drop=True)
    out["n_reports"] = sizes.astype(np.int64)
    return pd.DataFrame(out)


def _dedupe(
    rows: pd.DataFrame, couple: np.ndarray | None = None, *, include_text: bool
) -> pd.DataFrame:
    """One row per (couple, diary day, topic); ``couple``: the sorted codes of
    ``rows["couple_id"]`` (``_fast.codes(..., sort=True)``), when the caller has them."""
    keys = ["couple_id", "day", "topic"]
    # "day" topic_source (adopted) reads as the source it was adopted from in the output.
    rank = _source_rank(rows["topic_source"])
    rows = rows.assign(
        _rep=rows["repaired"].astype("Float64"),
        _rank=rank,
        _ev=rows["src"].eq(0),
        _ci=rows["src"].eq(1),
    )
    aggs = {
        "ts": ("ts", "first"),
        "partner": ("partner", "first"),
        "intensity": ("intensity", "max"),
        "_rep": ("_rep", "max"),
        "_ev": ("_ev", "any"),
        "_ci": ("_ci", "any"),
        "_n_partners": ("partner", "nunique"),
        "_rank": ("_rank", "min"),
        "other_topics": ("other_topics", "first"),
        "n_reports": ("ts", "size"),
    }
    cc = _fast.codes(rows["couple_id"], sort=True, uniques=False)[0] if couple is None else couple
    tc, _ = _fast.codes(rows["topic"], sort=True)
    final = None  # the output order, when known from integer keys
    day = rows["day"].to_numpy()
    ts = rows["ts"]
    if (
        len(rows)
        and (cc >= 0).all()
        and (tc >= 0).all()
        and not np.isnat(day).any()
        and isinstance(ts.dtype, pd.DatetimeTZDtype)
        and not ts.isna().any()
    ):
        # the same stable order and groups from integer keys: np.lexsort on sorted codes
        # (no missing keys) instead of a five-column sort_values and a three-column string
        # groupby; groups are runs of the sorted rows, numbered in order
        order = np.lexsort((ts.array.asi8, rows["src"].to_numpy(), tc, day.view("int64"), cc))
        cs, ds, tcs = cc[order], day.view("int64")[order], tc[order]
        new = np.r_[True, (cs[1:] != cs[:-1]) | (ds[1:] != ds[:-1]) | (tcs[1:] != tcs[:-1])]
        # output order (couple, first time, topic), stable, from the groups' sorted codes:
        # the order sort_values(["couple_id", "ts", "topic"], kind="stable") gives
        start = np.flatnonzero(new)
        final = np.lexsort((tcs[start], ts.array.asi8[order[start]], cs[start]))
        if (
            not include_text
            and rank.dtype == np.int64
            and not rows["partner"].isna().any()
            and not rows["other_topics"].isna().any()
        ):
            out = _dedupe_runs(rows, order, start, keys)
        else:
            rows = rows.iloc[order]
            pcode, _ = _fast.codes(rows["partner"])
            rows = rows.assign(_pc=np.where(pcode >= 0, pcode, np.nan))  # nunique skips NaN
            aggs["_n_partners"] = ("_pc", "nunique")
            g = rows.groupby(np.cumsum(new) - 1, sort=False)
            out = g.agg(**{k: (k, "first") for k in keys}, **aggs).reset_index(drop=True)
    else:
        rows = rows.sort_values([*keys, "src", "ts"], kind="stable")
        g = rows.groupby(keys, sort=False, observed=True)
        out = g.agg(**aggs).reset_index()
    # the max of 0/1/NA answers: 1.0 -> True, 0.0 -> False, NA stays NA
    rep = out["_rep"].astype("Float64").array
    out["repaired"] = pd.arrays.BooleanArray(rep.to_numpy(float, na_value=0.0) == 1.0, rep.isna())
    out["source"] = np.select(
        [out["_ev"] & out["_ci"], out["_ev"]], ["both", "events"], default="checkins"
    )
    out["source"] = out["source"].astype(_STR)
    out["reported_by"] = out["partner"].where(out["_n_partners"] < 2, "both").astype(_STR)
    out["topic_source"] = (
        out["_rank"].map({0: "tag", 1: "lexicon", 2: "tag", 3: "none"}).astype(_STR)
    )
    out["n_reports"] = out["n_reports"].astype("int64")
    for col in ("couple_id", "topic", "partner", "other_topics"):
        out[col] = out[col].astype(_STR)
    cols = list(_LOG_COLUMNS)
    if include_text:
        notes = g["note"].agg(lambda s: " | ".join(s.dropna().astype(str))).reset_index(drop=True)
        out["note"] = notes.astype(_STR)
        cols.append("note")
    if final is None:
        out = out.sort_values(["couple_id", "ts", "topic"], kind="stable")
    else:
        out = out.take(final)
    return out[cols].reset_index(drop=True)


def _observed_period(
    spans: list[pd.DataFrame], zones: Any, cutoff_hour: int
) -> dict[str, tuple[str, str]]:
    # first/last time per couple code by ufunc.at on int64 ns (a string groupby over all
    # events took 0.2 s at 1,000 couples), then min/max over the few (table, couple) rows
    small = []
    for s in spans:
        if _fast.sharing() and {"actor", "code"} <= set(s.columns):
            # events inside couple_week_metrics/indicators: their shared integer encoding
            from patterns._eventcodes import encode

            enc = encode(s)
            code, names, ts = enc.couple, enc.couple_names, enc.ts
        else:
            code, names = _fast.codes(s["couple_id"])
            ts = pd.to_datetime(s["ts"], utc=True).dt.as_unit("ns").array.asi8
        ok = (code >= 0) & (ts != np.iinfo(np.int64).min)
        k = len(names)
        lo = np.full(k, np.iinfo(np.int64).max)
        hi = np.full(k, np.iinfo(np.int64).min)
        np.minimum.at(lo, code[ok], ts[ok])
        np.maximum.at(hi, code[ok], ts[ok])
        seen = hi >= lo
        small.append(pd.DataFrame({"couple_id": names[seen], "min": lo[seen], "max": hi[seen]}))
    both = pd.concat(small, ignore_index=True)
    if both.empty:
        return {}
    ext = both.groupby(both["couple_id"].astype(str))[["min", "max"]].agg(
        {"min": "min", "max": "max"}
    )
    ext = pd.DataFrame(
        {
            "min": pd.DatetimeIndex(ext["min"].to_numpy().view("datetime64[ns]"), tz="UTC"),
            "max": pd.DatetimeIndex(ext["max"].to_numpy().view("datetime64[ns]"), tz="UTC"),
        },
        index=ext.index,
    )
    cid = pd.Series(ext.index, index=ext.index)
    first = timeutil.diary_day(ext["min"], cid, zones, cutoff_hour=cutoff_hour)
    last = timeutil.diary_day(ext["max"], cid, zones, cutoff_hour=cutoff_hour)
    return {str(c): (first[c].date().isoformat(), last[c].date().isoformat()) for c in ext.index}


# --- recurrence ---------------------------------------------------------------------------


def topic_recurrence(
    conflicts: pd.DataFrame,
    *,
    lexicon: Mapping[str, Sequence[str]] | str | Path | None = None,
    events: pd.DataFrame | None = None,
    perpetual_share: float = 0.5,
    span_share: float = 0.75,
    min_conflicts: int = 3,
    escalation_threshold: float = 0.7,
    session_gap: str | pd.Timedelta = "2h",
    period: Mapping[str, tuple[Any, Any]] | None = None,
    timezone: str | Mapping[str, str] | None = None,
    cutoff_hour: int = timeutil.DEFAULT_CUTOFF_HOUR,
) -> pd.DataFrame:
    """Per couple and topic: how often, how long, resurfacing, escalation, repair, perpetual.

    Parameters
    ----------
    conflicts : DataFrame
        A :func:`conflict_log` result (needs ``couple_id``, ``ts``, ``topic``; uses
        ``day``, ``intensity``, ``repaired``). A raw events table (with ``code``) is
        accepted too and passed through :func:`conflict_log` with ``lexicon`` first.
    lexicon : mapping, path or None
        Only used when ``conflicts`` is a raw events table.
    events : DataFrame, optional
        Events, to count a conflict as escalated when an ``against``-family move
        (against, contempt, defend) follows it within its session.
    perpetual_share : float in (0, 1]
        Perpetual needs the topic active in at least this share of the observed weeks.
    span_share : float in (0, 1]
        … and its first-to-last span covering at least this share of the observed period.
    min_conflicts : int
        … and at least this many conflicts.
    escalation_threshold : float in [0, 1]
        A conflict escalated when its intensity is at least this (default 0.7).
    session_gap : str or Timedelta
        Events of a couple belong to one session while gaps stay within this (default 2h).
    period : mapping couple_id → (first_day, last_day), optional
        The observation period per couple. Default: ``conflicts.attrs["observed_period"]``
        (set by :func:`conflict_log` from every input row), else the span of the
        couple's conflicts.
    timezone, cutoff_hour
        Used only to compute ``day`` when ``conflicts`` has none.

    Returns
    -------
    DataFrame
        One row per couple and topic, ordered by couple and ``rank``:

        - ``couple_id``, ``topic``
        - ``conflicts`` (int): conflicts on the topic
        - ``weeks_active`` (int): distinct local weeks (Monday start) with one
        - ``observed_weeks`` (int): weeks in the couple's observation period
        - ``week_share`` (float): ``weeks_active / observed_weeks``
        - ``first_seen``, ``last_seen``: first and last diary day (naive midnight)
        - ``span_share`` (float): (last − first + 1 day) / period length in days
        - ``median_days_between`` (float): median days between consecutive conflicts
          on the topic (NaN with one conflict)
        - ``resurfaced`` (int): conflicts whose previous conflict on the same topic was
          marked repaired (the topic came back after a repair)
        - ``escalated`` (int), ``escalation_share`` (float): conflicts with intensity ≥
          ``escalation_threshold`` or an against-family move in their session, and their
          share among conflicts where that is known (NaN if never known)
        - ``repair_share`` (float): share marked repaired among conflicts where repair was
          reported (NaN if never reported)
        - ``perpetual`` (bool): ``week_share ≥ perpetual_share`` and
          ``span_share ≥ span_share`` and ``conflicts ≥ min_conflicts``
        - ``rank`` (int): 1 = most recurrent; order by perpetual, weeks active, conflicts,
          resurfaced, then topic name

    Notes
    -----
    The perpetual rule follows Gottman's idea of a perpetual problem (one that keeps
    returning across the relationship, not merely a frequent one): a topic fought about
    ten times in two weeks is frequent but not perpetual, because its weeks cover a small
    share of the period. Resurfacing counts exactly the conflicts whose *previous*
    conflict on the same couple and topic (ordered by time) was marked repaired. Checked
    against a pandas computation on hand-built logs and against the simulator's planted
    perpetual topics and resurfacing events.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"couple_id": "c1", "topic": ["money"] * 3 + ["work"],
    ...     "ts": pd.to_datetime(["2026-01-05", "2026-01-13", "2026-01-20", "2026-01-07"],
    ...                          utc=True),
    ...     "intensity": [0.9, 0.2, 0.5, 0.1], "repaired": [True, False, True, None]})
    >>> r = topic_recurrence(log)
    >>> r[["topic", "conflicts", "weeks_active", "resurfaced", "perpetual", "rank"]]
       topic  conflicts  weeks_active  resurfaced  perpetual  rank
    0  money          3             3           1       True     1
    1   work          1             1           0      False     2
    """
    func = "topic_recurrence"
    if not isinstance(conflicts, pd.DataFrame):
        raise option_error("conflicts", func, "a DataFrame (a conflict_log result)", conflicts)
    if "code" in conflicts.columns and "source" not in conflicts.columns:
        conflicts = conflict_log(
            conflicts, lexicon=lexicon, timezone=timezone, cutoff_hour=cutoff_hour
        )
    schema.require_columns(conflicts, ["couple_id", "ts", "topic"], func=func, table="conflicts")
    perpetual_share = check_fraction(perpetual_share, "perpetual_share", func=func, closed="right")
    span_share = check_fraction(span_share, "span_share", func=func, closed="right")
    escalation_threshold = check_fraction(
        escalation_threshold, "escalation_threshold", func=func, closed=True
    )
    min_conflicts = check_int(min_conflicts, "min_conflicts", func=func, minimum=1)
    gap = check_duration(session_gap, "session_gap", func=func)

    c = _conflict_frame(conflicts, events, escalation_threshold, gap, timezone, cutoff_hour)
    g = c.groupby(["couple_id", "topic"], sort=False, observed=True)
    out = g.agg(
        conflicts=("ts", "size"),
        weeks_active=("week", "nunique"),
        first_seen=("day", "min"),
        last_seen=("day", "max"),
        median_days_between=("_gap", "median"),
        resurfaced=("_res", "sum"),
        escalated=("_esc", "sum"),
        escalation_share=("_esc", "mean"),
        repair_share=("_rep", "mean"),
    ).reset_index()

    per = _period_table(c, period if period is not None else conflicts.attrs.get("observed_period"))
    out = out.merge(per, on="couple_id", how="left")
    out["observed_weeks"] = ((out["_last_week"] - out["_first_week"]).dt.days // 7 + 1).astype(
        "int64"
    )
    out["week_share"] = out["weeks_active"] / out["observed_weeks"]
    span_days = (out["last_seen"] - out["first_seen"]).dt.days + 1
    out["span_share"] = span_days / out["_period_days"]
    out["perpetual"] = (
        out["week_share"].ge(perpetual_share)
        & out["span_share"].ge(span_share)
        & out["conflicts"].ge(min_conflicts)
    ).astype(bool)
    for col in ("conflicts", "weeks_active", "resurfaced"):
        out[col] = out[col].astype("int64")
    out["escalated"] = out["escalated"].astype("float64").fillna(0).astype("int64")
    for col in ("median_days_between", "escalation_share", "repair_share"):
        out[col] = out[col].astype("float64")
    out = out.sort_values(
        ["couple_id", "perpetual", "weeks_active", "conflicts", "resurfaced", "topic"],
        ascending=[True, False, False, False, False, True],
        kind="stable",
    )
    out["rank"] = out.groupby("couple_id", sort=False).cumcount().astype("int64") + 1
    cols = [
        "couple_id",
        "topic",
        "conflicts",
        "weeks_active",
        "observed_weeks",
        "week_share",
        "first_seen",
        "last_seen",
        "span_share",
        "median_days_between",
        "resurfaced",
        "escalated",
        "escalation_share",
        "repair_share",
        "perpetual",
        "rank",
    ]
    return out[cols].reset_index(drop=True)


def topic_weeks(
    conflicts: pd.DataFrame,
    *,
    events: pd.DataFrame | None = None,
    escalation_threshold: float = 0.7,
    session_gap: str | pd.Timedelta = "2h",
    timezone: str | Mapping[str, str] | None = None,
    cutoff_hour: int = timeutil.DEFAULT_CUTOFF_HOUR,
) -> pd.DataFrame:
    """Conflicts per couple, topic and local week: the data of the recurrence heat map.

    Parameters
    ----------
    conflicts : DataFrame
        A :func:`conflict_log` result (``couple_id``, ``ts``, ``topic``; uses ``day``,
        ``intensity``, ``repaired``).
    events, escalation_threshold, session_gap, timezone, cutoff_hour
        As in :func:`topic_recurrence`.

    Returns
    -------
    DataFrame
        One row per couple, topic and week with at least one conflict: ``couple_id``,
        ``topic``, ``week_start`` (local Monday, naive), ``conflicts``, ``resurfaced``
        (conflicts that came back after the previous one on the topic was repaired),
        ``escalated``, ``repaired`` (counts).

    Notes
    -----
    The same per-conflict flags as :func:`topic_recurrence`, summed per week (the tests
    check that the weekly sums add up to its totals).

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"couple_id": "c1", "topic": "money",
    ...     "ts": pd.to_datetime(["2026-01-05 12:00", "2026-01-06 12:00", "2026-01-20 12:00"],
    ...                          utc=True),
    ...     "intensity": [0.9, 0.2, 0.5], "repaired": [True, False, True]})
    >>> topic_weeks(log)[["week_start", "conflicts", "resurfaced", "escalated"]]
      week_start  conflicts  resurfaced  escalated
    0 2026-01-05          2           1          1
    1 2026-01-19          1           0          0
    """
    func = "topic_weeks"
    if not isinstance(conflicts, pd.DataFrame):
        raise option_error("conflicts", func, "a DataFrame (a conflict_log result)", conflicts)
    schema.require_columns(conflicts, ["couple_id", "ts", "topic"], func=func, table="conflicts")
    escalation_threshold = check_fraction(
        escalation_threshold, "escalation_threshold", func=func, closed=True
    )
    gap = check_duration(session_gap, "session_gap", func=func)
    c = _conflict_frame(conflicts, events, escalation_threshold, gap, timezone, cutoff_hour)
    c = c.assign(_e=c["_esc"].fillna(0).astype("float64"), _r=c["_rep"].fillna(0).astype("float64"))
    out = (
        c.groupby(["couple_id", "topic", "week"], observed=True)
        .agg(
            conflicts=("ts", "size"),
            resurfaced=("_res", "sum"),
            escalated=("_e", "sum"),
            repaired=("_r", "sum"),
        )
        .reset_index()
        .rename(columns={"week": "week_start"})
    )
    for col in ("conflicts", "resurfaced", "escalated", "repaired"):
        out[col] = out[col].astype("int64")
    order = {t: i for i, t in enumerate(TOPICS)}
    out = out.assign(_o=out["topic"].map(order).fillna(len(order))).sort_values(
        ["couple_id", "_o", "topic", "week_start"], kind="stable"
    )
    return out[
        ["couple_id", "topic", "week_start", "conflicts", "resurfaced", "escalated", "repaired"]
    ].reset_index(drop=True)


def _conflict_frame(
    conflicts: pd.DataFrame,
    events: pd.DataFrame | None,
    escalation_threshold: float,
    gap: pd.Timedelta,
    timezone: Any,
    cutoff_hour: int,
) -> pd.DataFrame:
    """Conflicts with day, week, escalated (_esc), repaired (_rep), resurfaced (_res) and
    the days since the previous conflict on the topic (_gap), sorted by couple/topic/ts."""
    c = conflicts.reset_index(drop=True)  # a copy; any index
    c["couple_id"] = c["couple_id"].astype(_STR)
    c["topic"] = c["topic"].astype(_STR).fillna("other")
    c["ts"] = pd.to_datetime(c["ts"], utc=True)
    if "day" in c:
        c["day"] = pd.to_datetime(c["day"])
    else:
        zones = _zones([conflicts], timezone)
        c["day"] = timeutil.diary_day(c["ts"], c["couple_id"], zones, cutoff_hour=cutoff_hour)
    c["intensity"] = _float_col(c, "intensity")
    c["repaired"] = (
        c["repaired"].astype("boolean")
        if "repaired" in c
        else pd.Series(pd.NA, index=c.index, dtype="boolean")
    )
    c["week"] = timeutil.week_start(c["day"])
    against = _against_in_session(c, events, gap) if events is not None else None
    # escalation: known when intensity is known or events tell us about the session
    esc = c["intensity"].ge(escalation_threshold)
    known = c["intensity"].notna()
    if against is not None:
        esc = esc | against
        known = known | against.notna()
    c["_esc"] = esc.astype("Float64").where(known)
    c["_rep"] = c["repaired"].astype("Float64")

    c = c.sort_values(["couple_id", "topic", "ts"], kind="stable")
    g = c.groupby(["couple_id", "topic"], sort=False, observed=True)
    c["_prev_rep"] = g["repaired"].shift(1)
    c["_gap"] = g["day"].diff().dt.total_seconds() / 86400.0
    c["_res"] = c["_prev_rep"].fillna(False).astype(bool)
    return c


def _period_table(c: pd.DataFrame, period: Any) -> pd.DataFrame:
    span = c.groupby("couple_id", observed=True)["day"].agg(["min", "max"])
    if isinstance(period, Mapping) and period:
        given = pd.DataFrame(
            {str(k): [pd.Timestamp(v[0]), pd.Timestamp(v[1])] for k, v in period.items()},
            index=["min", "max"],
        ).T
        given = given.reindex(span.index)
        # the period always covers the couple's conflicts
        span = pd.DataFrame(
            {
                "min": given["min"].where(given["min"] < span["min"], span["min"]),
                "max": given["max"].where(given["max"] > span["max"], span["max"]),
            }
        )
    first = span["min"].dt.normalize()
    last = span["max"].dt.normalize()
    return pd.DataFrame(
        {
            "couple_id": span.index.astype(_STR),
            "_first_week": timeutil.week_start(first).to_numpy(),
            "_last_week": timeutil.week_start(last).to_numpy(),
            "_period_days": ((last - first).dt.days + 1).to_numpy(),
        }
    )


def _against_in_session(c: pd.DataFrame, events: pd.DataFrame, gap: pd.Timedelta) -> pd.Series:
    """For each conflict: True/False whether an against-family move follows it in its
    session (events of the couple while gaps stay ≤ ``gap``); NA if no event session.

    The session of a conflict is that of the couple's last event at or before it (a
    backward as-of match, as ``pandas.merge_asof(by="couple_id")``). Done on integer codes
    and nanoseconds, with events sorted only when they are not already by couple and time
    (a loader keeps a file's order, usually so): at 1,000 couples (3.1 M events, 57,000
    conflicts) 2.8 -> 0.3 s; merge_asof on string keys after a sort by string was the cost.
    """
    schema.require_columns(
        events, ["couple_id", "ts", "code"], func="topic_recurrence", table="events"
    )
    code, names = _fast.codes(events["couple_id"].astype(_STR))
    t = pd.to_datetime(events["ts"], utc=True).dt.as_unit("ns").array.asi8
    kinds, labels = pd.factorize(events["code"].astype(_STR))
    # (isin, not a map to families: a code outside the vocabulary maps to NA, which
    # np.isin cannot compare; it is simply not against-family)
    against = np.asarray(labels.isin(schema.FAMILIES["against"]), dtype=bool)
    against = np.append(against, False)[kinds]  # (code −1, missing: not against)
    keep = (code >= 0) & (t != np.iinfo(np.int64).min)  # (NaT)
    if not keep.all():
        code, t, against = code[keep], t[keep], against[keep]
    n = len(t)
    in_order = n < 2 or bool(
        np.all((code[1:] > code[:-1]) | ((code[1:] == code[:-1]) & (t[1:] >= t[:-1])))
    )
    if not in_order:
        order = np.lexsort((t, code))
        code, t, against = code[order], t[order], against[order]
    new = np.ones(n, bool)
    # gaps as unsigned: within a couple t is sorted, so each gap is in [0, 2**64) and exact
    # even where int64 wraps (events over 292 years apart looked like one session)
    step = t[1:].view(np.uint64) - t[:-1].view(np.uint64)
    new[1:] = (code[1:] != code[:-1]) | (step > np.uint64(gap.value))
    starts = np.flatnonzero(new)
    session = np.cumsum(new) - 1
    last = t[np.r_[starts[1:], n] - 1] if n else t  # each session's last event (sorted)
    last_against = (
        np.maximum.reduceat(np.where(against, t, np.iinfo(np.int64).min), starts) if n else t
    )
    # each conflict's couple (by code) and the last event at or before it in that couple
    ck = pd.Index(names).get_indexer(c["couple_id"].astype(_STR).to_numpy(dtype=object))
    ct = pd.to_datetime(c["ts"], utc=True).dt.as_unit("ns").array.asi8
    ck[ct == np.iinfo(np.int64).min] = -1
    lo = np.searchsorted(code, np.arange(len(names)), side="left")
    hi = np.searchsorted(code, np.arange(len(names)), side="right")
    pos = np.full(len(c), -1, dtype=np.int64)
    by = np.argsort(ck, kind="stable")
    cuts = np.flatnonzero(np.r_[True, ck[by][1:] != ck[by][:-1]]) if len(by) else by
    ends = np.r_[cuts[1:], len(by)] if len(by) else by  # (no conflicts: no couples)
    for a, b in zip(cuts, ends, strict=True):  # one search per couple
        rows, k = by[a:b], ck[by[a]]
        if k >= 0:
            p = lo[k] + np.searchsorted(t[lo[k] : hi[k]], ct[rows], side="right") - 1
            pos[rows] = np.where(p >= lo[k], p, -1)
    found = pos >= 0
    s = session[pos[found]]
    inside = np.zeros(len(c), bool)
    inside[found] = ct[found] <= last[s]
    result = np.zeros(len(c), bool)
    result[found] = last_against[s] >= ct[found]
    out = pd.Series(result, index=c.index, dtype="boolean")
    return out.where(inside)


# --- cycles ---------------------------------------------------------------------------


def cycle_topics(
    data: pd.DataFrame,
    *,
    lexicon: Mapping[str, Sequence[str]] | str | Path | None = None,
    min_rounds: int = 2,
    max_gap: str | pd.Timedelta = "2h",
) -> pd.DataFrame:
    """Which topics open pursue–withdraw episodes, per couple.

    Parameters
    ----------
    data : DataFrame
        Either an events table (with ``code``): episodes are found with
        :func:`patterns.cycles.pursue_withdraw_episodes` and an episode without a topic
        tag takes the lexicon topic of the conflict marker that opened it (the latest
        ``conflict`` event of the couple within ``max_gap`` before its start); or an
        episodes table (``couple_id``, ``topic``) used as is.
    lexicon : mapping, path or None
        Topic lexicon for untagged conflict notes (default: shipped YAML).
    min_rounds, max_gap
        Passed to :func:`patterns.cycles.pursue_withdraw_episodes`.

    Returns
    -------
    DataFrame
        One row per couple and topic: ``couple_id``, ``topic`` (``none`` for episodes
        without a conflict marker), ``episodes`` (int), ``share`` (float: of the couple's
        episodes), ``rank`` (1 = the topic opening most episodes; ties by topic name).

    Notes
    -----
    A count. The tests check it against the simulator's planted episode topics (every
    planted conflict marker, tagged or not) and against ``value_counts``.

    Examples
    --------
    >>> import pandas as pd
    >>> cycle_topics(pd.DataFrame({"couple_id": ["c1"] * 3,
    ...                            "topic": ["money", "Money", None]}))
      couple_id  topic  episodes     share  rank
    0        c1  money         2  0.666667     1
    1        c1   none         1  0.333333     2
    """
    func = "cycle_topics"
    if not isinstance(data, pd.DataFrame):
        raise option_error("data", func, "an events or episodes DataFrame", data)
    if "code" in data.columns:
        from patterns.cycles import pursue_withdraw_episodes

        gap = check_duration(max_gap, "max_gap", func=func)
        episodes = pursue_withdraw_episodes(data, min_rounds=min_rounds, max_gap=max_gap)
        topic = _norm_tag(episodes["topic"]) if len(episodes) else pd.Series([], dtype=_STR)
        missing = topic.isna()
        if missing.any():
            log = conflict_log(data, lexicon=lexicon)
            probe = (
                pd.DataFrame(
                    {
                        "couple_id": episodes["couple_id"].astype(_STR),
                        "start": pd.to_datetime(episodes["start"], utc=True),
                    }
                )
                .reset_index()
                .sort_values("start", kind="stable")
            )
            marks = log[["couple_id", "ts", "topic"]].rename(columns={"ts": "start"})
            marks = marks.sort_values("start", kind="stable")
            found = pd.merge_asof(
                probe, marks, on="start", by="couple_id", direction="backward", tolerance=gap
            ).set_index("index")
            topic = topic.fillna(found["topic"].reindex(topic.index))
        episodes = pd.DataFrame({"couple_id": episodes["couple_id"], "topic": topic})
    else:
        episodes = data
    schema.require_columns(episodes, ["couple_id", "topic"], func=func, table="episodes")
    e = pd.DataFrame(
        {
            "couple_id": episodes["couple_id"].astype(_STR),
            "topic": _norm_tag(episodes["topic"]).fillna("none").astype(_STR),
        }
    )
    out = e.groupby(["couple_id", "topic"], observed=True).size().rename("episodes")
    out = out.reset_index()
    out["episodes"] = out["episodes"].astype("int64")
    out["share"] = out["episodes"] / out.groupby("couple_id")["episodes"].transform("sum")
    out = out.sort_values(
        ["couple_id", "episodes", "topic"], ascending=[True, False, True], kind="stable"
    )
    out["rank"] = out.groupby("couple_id").cumcount().astype("int64") + 1
    return out.reset_index(drop=True)


# --- discovery ------------------------------------------------------------------------


def discover_topics(
    notes: Sequence[str] | pd.Series,
    *,
    n_topics: int = 8,
    n_terms: int = 10,
    lexicon: Mapping[str, Sequence[str]] | str | Path | None = None,
    seed: int = 0,
    names: Sequence[str] = (),
    redact_names: bool = True,
) -> pd.DataFrame:
    """Propose lexicon entries from free text: TF-IDF + NMF top terms per component.

    For researchers who want to extend the lexicon; not used by the other analyses.

    Parameters
    ----------
    notes : sequence of str or Series
        Free-text notes (folded like the lexicon: case and accents ignored).
    n_topics : int
        Number of NMF components.
    n_terms : int
        Top terms listed per component.
    lexicon : mapping, path or None
        Lexicon used to say which topic a proposed term already belongs to.
    seed : int
        Seed of the NMF initialisation.
    names : sequence of str
        Known names (partners, children, friends) removed from the notes first.
    redact_names : bool, default True
        Before terms are counted, remove contact details, the listed ``names`` and every
        capitalised word that is not a common English word
        (:func:`patterns.pseudonymize.redact_text`), so a name that recurs across notes
        cannot be proposed as a term. It over-redacts (a capitalised first word of a note is
        dropped too); pass ``False`` for notes already pseudonymized.

    Returns
    -------
    DataFrame
        One row per component and term: ``component`` (int), ``term_rank`` (1 = highest
        weight), ``term`` (a word or two-word phrase from the vocabulary, never a note),
        ``weight`` (NMF loading), ``known_topic`` (lexicon topic the term already matches,
        missing if new — new terms are the proposals).

    Notes
    -----
    scikit-learn ``TfidfVectorizer(stop_words="english", ngram_range=(1, 2),
    min_df=2)`` then ``NMF(init="nndsvda", random_state=seed)``; terms in fewer than two
    notes are never proposed, so a single note's wording cannot surface.

    Examples
    --------
    >>> notes = ["rent is late again", "the rent and the car loan", "car repair bill",
    ...          "car loan stress", "kids bedtime fight", "kids bedtime again"] * 3
    >>> d = discover_topics(notes, n_topics=2, n_terms=3)
    >>> sorted(d["component"].unique().tolist()), len(d)
    ([0, 1], 6)
    """
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfVectorizer

    func = "discover_topics"
    n_topics = check_int(n_topics, "n_topics", func=func, minimum=1)
    n_terms = check_int(n_terms, "n_terms", func=func, minimum=1)
    seed = check_int(seed, "seed", func=func)
    lex = _resolve_lexicon(lexicon, func=func)
    if not isinstance(redact_names, bool):
        raise option_error("redact_names", func, "True or False", redact_names)
    series = pd.Series(list(notes) if not isinstance(notes, pd.Series) else notes.to_list())
    if redact_names:
        from patterns.pseudonymize import redact_text

        redacted, _ = redact_text(series.astype("string"), names=names)
        # the placeholders ([name], [email], …) are not words of the note
        series = redacted.str.replace(r"\[(?:name|email|url|date|phone)\]", " ", regex=True)
    text = _fold(series.fillna(""))
    text = text[text.str.strip() != ""]
    if len(text) < 2:
        raise option_error("notes", func, "at least two non-empty notes", f"{len(text)} note(s)")
    vec = TfidfVectorizer(stop_words="english", ngram_range=(1, 2), min_df=2)
    try:
        x = vec.fit_transform(text.to_list())
    except ValueError:
        raise option_error(
            "notes", func, "notes sharing at least one word (min_df=2)", f"{len(text)} notes"
        ) from None
    k = int(min(n_topics, x.shape[0], x.shape[1]))
    model = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=500)
    model.fit(x)
    vocab = vec.get_feature_names_out()
    comp = model.components_
    top = np.argsort(-comp, axis=1, kind="stable")[:, : min(n_terms, comp.shape[1])]
    out = pd.DataFrame(
        {
            "component": np.repeat(np.arange(k, dtype="int64"), top.shape[1]),
            "term_rank": np.tile(np.arange(1, top.shape[1] + 1, dtype="int64"), k),
            "term": vocab[top.ravel()],
            "weight": comp[np.arange(k)[:, None], top].ravel().astype("float64"),
        }
    )
    terms = out["term"].astype(_STR)
    known, _ = _primary_topics(terms, lex)
    out["term"] = terms
    out["known_topic"] = known.astype(_STR)
    return out
