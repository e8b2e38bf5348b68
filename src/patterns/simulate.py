"""Synthetic couples with planted truth: ``simulate_export``.

The simulator writes exports that look like real app exports (both tables, a consent
manifest) and, beside them, the *truth* that was planted, so every analysis can be tested
for recovering it. Couples cycle through four archetypes (or take ``archetypes=``):

``secure``
    Bids turned toward ~85% of the time, rare conflicts on scattered topics, flat
    connection (no trend), NO pursue–withdraw episodes; a few isolated single
    pursue-family or withdraw-family moves so false positives can be measured.
``pursue_withdraw``
    ~3 planted episodes a week, one partner the pursuer in ~85% of them, toward ~55%,
    planted "lonely despite time together" days for the main pursuer.
``conflict_heavy``
    ~2 episodes a week with mixed roles, toward ~40%, 1–2 *perpetual* topics (a conflict
    in most weeks) and one *resurfacing* topic, and a downward change point in connection
    (−1.5 points) at a planted date.
``improving``
    ~2 episodes a week before ``intervention_date`` (day ≈ 55% of the period), ~0.5 after;
    toward ~55% → ~75% and a +1.5 level shift in connection at that date.

Timing
------
Times are generated as *seconds after local midnight* of a local day and converted to UTC
through the couple's IANA zone (one of :data:`TIMEZONES`; every zone has a DST transition
between January and May). Bids (~8 a weekday, ~11 a weekend day) fall between 06:30 and
23:45 local with a morning and an evening peak and more midday bids at weekends; the other
partner answers ``toward``/``away``/``against`` with the same ``bid_id`` after a lognormal
latency (median 1 min, at most 30 min) or not at all (missed). Conflicts (at most one per
couple and local day) fall between 08:00 and 22:00; episodes start between 09:00 and 21:00
and may run past midnight. Check-ins come in the evening (a few after midnight, before
02:00, so the diary-day cutoff matters); ~8% are missed, more at weekends, but never the
check-in that reports a conflict. On the one transition day the wall clock after the
switch is off by the DST hour (times are ``local midnight + seconds``), which keeps every
time valid (no non-existent or ambiguous local times).

Check-ins: ``connection`` = partner baseline + AR(1) noise (phi 0.5) + the planted steps;
``stress``, ``supported``, ``lonely`` (against connection) and ``intimacy_comfort`` follow
from it with noise; body signals (0–4) are higher on conflict days and for the withdrawer;
``pursued``/``withdrew`` are mostly true on the partner's episode days; ~1 check-in in 5
carries a prompt from :data:`PROMPTS` (the answer is sometimes blank). Ratings have one
decimal, intensities three; the CSV writes exactly these (fixed-point text).

Manifest: both partners of every couple have ``status: active``, ``decision: permit``,
purposes ``treatment`` and ``research``, all four data categories, recipient
``therapist``; the consent ``period`` runs from the first day to ``retention_until``
(the last day + 5 years), so analyses run after the diary period are covered.

Planted truth (``Simulation.truth`` keys, and ``truth/<key>.csv`` on disk)
------------------------------------------------------------------------
``couples``
    couple_id, archetype, timezone, partner_a, partner_b, pursuer (main pursuer's id, or
    empty for secure and conflict_heavy couples), toward_prob_a, toward_prob_b (the
    probability that *partner_a* (resp. b) turns toward a bid made by the *other* partner —
    so it is the toward share of the bids MADE BY THE OTHER partner; for improving couples
    the value before the intervention), toward_prob_a_after, toward_prob_b_after (after the
    intervention; equal to the before values for other archetypes), change_point (ISO local
    date of the first day at the new level, or empty), change_size (0 when none),
    intervention_date (ISO local date, or empty), intervention_effect (0 when none),
    lonely_together_days (number of check-in rows with ``lonely >= LONELY_MIN`` and
    ``time_together_min >= TOGETHER_MIN``; exactly the planted ones, only pursue_withdraw
    couples have any).
``episodes``
    couple_id, episode_id, start, end (UTC; start = first pursue move, end = ending move or,
    for ``timeout``, the last withdraw move), pursuer, withdrawer, rounds (pursue → withdraw
    pairs, 2–6), ended_by (``repair``, ``toward``, ``against``, ``timeout``), topic (empty
    when the episode had no conflict marker). Moves are 1–20 min apart; intensities rise.
    No other event of the couple lies within 3 h before ``start`` or after ``end``, EXCEPT
    the episode's own ``conflict`` marker, which (in ~80% of episodes) comes 1–10 min before
    the first move and carries the same topic. Outside planted episodes the sequence of
    pursue-/withdraw-family events never has a pursue-family move of one partner directly
    followed by a withdraw-family move of the other.
``topics``
    couple_id, topic, kind (``perpetual``, ``resurfacing``, ``occasional``), conflicts
    (number of conflicts; there is at most one conflict per couple and local day, so this
    counts couple-day-topics), weeks_active (distinct ISO weeks of the local conflict days).
``resurfacing``
    couple_id, topic, ts (UTC time of the conflict marker) — one row per conflict whose
    previous conflict on the same topic in the same couple was marked ``repaired``.
``regulation``
    couple_id, partner, signal (``overwhelmed``), effect, threshold. On each partner-day a
    flag ``overwhelmed >= threshold`` (= 2) is drawn independently of everything else; the
    self-reported ``withdrew`` probability is
    ``0.04 + 0.6·[withdrawer in an episode that day] + effect·flag_t + effect·flag_{t−1}``,
    so ``effect`` is the planted lag-0 and the lag-1 increase in withdrawal probability.

Every conflict is one ``conflict`` event (topic, intensity, note; the topic tag is empty in
~20% of them and must be recovered from the note, built from :data:`NOTE_PHRASES`, some
with a first name from :data:`NOTE_NAMES`) and at least one partner's check-in that day
reports it (``conflict``, ``conflict_topic``, ``conflict_intensity``, ``repaired``).

Examples
--------
>>> sim = simulate_export(couples=2, days=28, seed=1)
>>> sorted(sim.truth)
['couples', 'episodes', 'regulation', 'resurfacing', 'topics']
>>> sim.truth["couples"][["couple_id", "archetype"]].values.tolist()
[['c001', 'secure'], ['c002', 'pursue_withdraw']]
>>> str(sim.events["ts"].dtype), str(sim.events["code"].dtype)
('datetime64[ns, UTC]', 'category')
>>> int((sim.truth["episodes"]["couple_id"] == "c001").sum())
0
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.signal import lfilter

from patterns import schema
from patterns.errors import check_int, check_option, option_error
from patterns.timeutil import TimezoneMap, local_time

__all__ = [
    "ARCHETYPES",
    "DICTIONARY_END",
    "DICTIONARY_START",
    "ENDINGS",
    "LONELY_MIN",
    "NOTE_NAMES",
    "NOTE_PHRASES",
    "PROMPTS",
    "TIMEZONES",
    "TOGETHER_MIN",
    "TOPICS",
    "Simulation",
    "load_truth",
    "simulate_export",
    "update_data_dictionary",
]

ARCHETYPES: tuple[str, ...] = ("secure", "pursue_withdraw", "conflict_heavy", "improving")
#: Couples get these zones in turn; each has a DST transition between January and May.
TIMEZONES: tuple[str, ...] = (
    "Europe/Amsterdam",
    "America/New_York",
    "Australia/Sydney",
    "Europe/London",
)
TOPICS: tuple[str, ...] = schema.TOPICS
ENDINGS: tuple[str, ...] = ("repair", "toward", "against", "timeout")

#: Conflict-note phrase bank: each phrase contains keywords of its own topic only
#: (word-boundary match), ``other`` phrases contain none. ``phone`` is deliberately never
#: used (it would belong to both trust and screens).
NOTE_PHRASES: dict[str, tuple[str, ...]] = {
    "money": (
        "we argued about money again",
        "the credit card bill came and it got tense",
        "disagreed on spending for the holidays",
        "a fight over the budget for next month",
        "the rent is late and we blamed each other",
    ),
    "chores": (
        "the dishes were left in the sink again",
        "who does the laundry turned into a fight",
        "felt I do all the chores",
        "cleaning the flat before guests got heated",
    ),
    "parenting": (
        "disagreed about the kids and bedtime",
        "argued over school choices",
        "the homework battle spilled over to us",
        "different rules for the kids",
    ),
    "family": (
        "tension about the in-laws staying over",
        "my mother called and we fought after",
        "my sister made comments and it started",
        "planning the family visit went badly",
    ),
    "work": (
        "came home late from work again",
        "the boss kept calling during dinner",
        "overtime again this week",
        "worried about the job and snapped",
    ),
    "intimacy": (
        "felt rejected about sex",
        "we talked about intimacy and it got tense",
        "missing touch and closeness",
    ),
    "time_together": (
        "could not agree on weekend plans",
        "date night got cancelled again",
        "I want more time together",
    ),
    "communication": (
        "felt nobody was listening",
        "the tone of the conversation hurt",
        "we kept interrupting each other",
    ),
    "trust": (
        "felt lied to about where they were",
        "a secret came out",
        "kept a secret about the trip",
    ),
    "health": (
        "argued about going to the doctor",
        "not enough sleep and short tempers",
        "the drinking came up again",
    ),
    "screens": (
        "always on a screen instead of talking",
        "gaming until late again",
        "the tv was on during every meal",
    ),
    "other": (
        "a small thing blew up",
        "not sure what started it",
        "bad mood all evening",
    ),
}
#: First names that appear in some notes (for testing name redaction). None is a keyword.
NOTE_NAMES: tuple[str, ...] = ("Sam", "Alex", "Maria", "Jonas", "Priya", "Noah", "Lena", "Omar")
#: The default reflection-prompt bank (issue 4): eight questions couples are commonly given.
PROMPTS: tuple[str, ...] = (
    "When did you feel most connected to me this week?",
    "Is there a stress you're carrying that I may not fully see?",
    "What helps you feel supported right now?",
    "Is there something you've hesitated to ask for?",
    "What's one thing you miss about us?",
    "What's a moment recently where you felt proud of me?",
    "How can we make mornings/evenings feel more connected?",
    "What does support look like for you when you're overwhelmed?",
)
_ANSWERS: tuple[str, ...] = (
    "Sunday morning coffee together.",
    "Work has been heavier than I let on.",
    "A hug when I get home.",
    "More help in the evenings.",
    "Our long walks.",
    "How you handled the call yesterday.",
    "Phones away at breakfast.",
    "Give me some quiet time, then check in.",
)

#: "Lonely despite time together" thresholds used to plant and count those days.
LONELY_MIN: float = 7.0
TOGETHER_MIN: float = 240.0

_HOUR = 3600
_EXCLUSION_S = 3 * _HOUR  # no other event within 3 h around a planted episode

_C = {c: i for i, c in enumerate(schema.CODES)}
_PURSUE = np.array([_C[c] for c in schema.FAMILIES["pursue"]])
_WITHDRAW_ISO = np.array([_C["withdraw"], _C["stonewall"]])
_WITHDRAW = np.array([_C[c] for c in schema.FAMILIES["withdraw"]])
_AGAINST = np.array([_C[c] for c in schema.FAMILIES["against"]])
_BID_TYPES = schema.BID_TYPES
_REAL_TOPICS = np.arange(len(TOPICS) - 1)  # all but "other"

# Per-archetype parameters. Rates are per week unless named otherwise.
_PARAMS: dict[str, dict[str, Any]] = {
    "secure": dict(
        toward=0.85,
        toward_after=None,
        episodes=0.0,
        episodes_after=None,
        main_share=None,
        conflicts=0.4,
        repair_p=0.85,
        iso_moves=0.25,
        against_share=0.15,
        level=7.5,
        end_before=None,
        end_after=None,
        effect=(0.0, 0.0),
        wd_role=(0.0, 0.0),
        pu_role=(0.0, 0.0),
        conflict_beta=(2.0, 4.0),
    ),
    "pursue_withdraw": dict(
        toward=0.55,
        toward_after=None,
        episodes=3.0,
        episodes_after=None,
        main_share=0.85,
        conflicts=1.0,
        repair_p=0.5,
        iso_moves=0.15,
        against_share=0.2,
        level=5.5,
        end_before=(0.3, 0.2, 0.2, 0.3),
        end_after=None,
        effect=(0.0, 0.15),
        wd_role=(0.0, 1.0),
        pu_role=(1.0, 0.0),
        conflict_beta=(2.0, 3.0),
    ),
    "conflict_heavy": dict(
        toward=0.40,
        toward_after=None,
        episodes=2.0,
        episodes_after=None,
        main_share=0.5,
        conflicts=1.5,
        repair_p=0.35,
        iso_moves=0.15,
        against_share=0.35,
        level=5.0,
        end_before=(0.2, 0.1, 0.45, 0.25),
        end_after=None,
        effect=(0.10, 0.10),
        wd_role=(0.5, 0.5),
        pu_role=(0.5, 0.5),
        conflict_beta=(3.0, 2.0),
    ),
    "improving": dict(
        toward=0.55,
        toward_after=0.75,
        episodes=2.0,
        episodes_after=0.5,
        main_share=0.8,
        conflicts=1.0,
        repair_p=0.45,
        iso_moves=0.15,
        against_share=0.2,
        level=5.0,
        end_before=(0.3, 0.2, 0.2, 0.3),
        end_after=(0.5, 0.3, 0.1, 0.1),
        effect=(0.0, 0.12),
        wd_role=(0.0, 1.0),
        pu_role=(1.0, 0.0),
        conflict_beta=(2.0, 3.0),
    ),
}
#: Small integer dtypes for the per-couple event arrays (memory at 1,000 couples).
_COMPACT = {"actor": np.int8, "code": np.int8, "btype": np.int8, "topic": np.int8, "bid": np.int32}
_CHANGE_SIZE = -1.5
_INTERVENTION_EFFECT = 1.5
_REG_THRESHOLD = 2.0


@dataclass(frozen=True)
class Simulation:
    """What :func:`simulate_export` made.

    Attributes
    ----------
    events, checkins : DataFrame
        The two tables in the contract dtypes of :mod:`patterns.schema` (UTC ``ts``);
        ``attrs["timezones"]`` maps couple id → IANA zone, as the loader does.
    manifest : dict
        The manifest (``manifest.json``): schema version, zones, scales, consent.
    truth : dict of DataFrame
        Planted truth: ``couples``, ``episodes``, ``topics``, ``resurfacing``,
        ``regulation`` (see the module docstring for every column).
    path : Path or None
        The folder written, or ``None`` when ``out`` was not given.
    """

    events: pd.DataFrame
    checkins: pd.DataFrame
    manifest: dict
    truth: dict[str, pd.DataFrame] = field(repr=False)
    path: Path | None = None


# --------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------


def simulate_export(
    *,
    couples: int,
    days: int,
    seed: int,
    out: str | Path | None = None,
    start: str = "2026-01-05",
    archetypes: Sequence[str] | None = None,
) -> Simulation:
    """Simulate an export of ``couples`` couples over ``days`` days with planted truth.

    Parameters
    ----------
    couples : int
        Number of couples (ids ``c001``, ``c002``, …; partners ``c001-a``, ``c001-b``).
    days : int
        Days per couple (at least 14).
    seed : int
        Random seed. Couple ``i`` uses ``SeedSequence([seed, i])``, so the same seed gives
        the same couples (and byte-identical files) whatever else runs.
    out : str or Path, optional
        Folder to write ``events.csv``, ``checkins.csv``, ``manifest.json`` and
        ``truth/*.csv`` to (created if missing; existing files are overwritten).
    start : str
        First local day (ISO date).
    archetypes : sequence of str, optional
        Archetype per couple, cycled; default cycles through :data:`ARCHETYPES`.

    Returns
    -------
    Simulation
        ``events`` (couple_id, ts, actor, code, bid_id, bid_type, intensity, topic, note),
        ``checkins`` (every :data:`patterns.schema.CHECKINS` column), ``manifest``,
        ``truth`` (``couples``, ``episodes``, ``topics``, ``resurfacing``, ``regulation``;
        columns in the module docstring) and ``path``.

    Notes
    -----
    Vectorised per couple with numpy (no loop over events); connection is
    ``baseline + AR(1) noise (phi = 0.5) + planted steps``. The planted truth is checked
    against the generated tables in ``tests/test_simulate.py`` (measured toward rates,
    episode events, 3-hour exclusion windows, resurfacing rule, lagged withdrawal effect).

    Examples
    --------
    >>> sim = simulate_export(couples=4, days=21, seed=7)
    >>> sim.truth["couples"]["archetype"].tolist()
    ['secure', 'pursue_withdraw', 'conflict_heavy', 'improving']
    >>> sim.events["actor"].iloc[0].startswith(sim.events["couple_id"].iloc[0] + "-")
    True
    """
    func = "simulate_export"
    couples = check_int(couples, "couples", func=func, minimum=1)
    days = check_int(days, "days", func=func, minimum=14)
    seed = check_int(seed, "seed", func=func)
    try:
        start_date = date.fromisoformat(str(start))
    except ValueError:
        raise option_error("start", func, "an ISO date such as '2026-01-05'", start) from None
    if archetypes is None:
        archetypes = ARCHETYPES
    if isinstance(archetypes, str) or len(archetypes) == 0:
        raise option_error("archetypes", func, f"a non-empty sequence of {ARCHETYPES}", archetypes)
    for a in archetypes:
        check_option("archetypes", a, ARCHETYPES, func=func)

    ids = [f"c{i + 1:03d}" for i in range(couples)]
    arch = [archetypes[i % len(archetypes)] for i in range(couples)]
    zones = [TIMEZONES[i % len(TIMEZONES)] for i in range(couples)]
    midnights = {z: _local_midnights(start_date, days, z) for z in set(zones)}
    dates = pd.date_range(start_date.isoformat(), periods=days, freq="D")

    parts = []
    for i in range(couples):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), i]))
        parts.append(_simulate_couple(i, ids[i], arch[i], midnights[zones[i]], dates, rng))

    events = _events_frame(parts, ids)
    for p in parts:  # free the per-couple event arrays early (millions of rows at scale)
        del p["events"]
    checkins = _checkins_frame(parts, ids)
    tz_map = dict(zip(ids, zones, strict=True))
    shared_zones = TimezoneMap(tz_map)  # shared by derived frames, as the loader's
    events.attrs["timezones"] = shared_zones
    checkins.attrs["timezones"] = shared_zones
    truth = _truth_tables(parts, ids, arch, zones, dates)
    manifest = _manifest(ids, zones, start_date, days)
    path = None
    if out is not None:
        path = Path(out)
        _write(path, events, checkins, manifest, truth, tz_map)
    return Simulation(events=events, checkins=checkins, manifest=manifest, truth=truth, path=path)


def load_truth(path: str | Path) -> dict[str, pd.DataFrame]:
    """Read ``truth/*.csv`` of a simulated export back into the in-memory truth dtypes.

    Parameters
    ----------
    path : str or Path
        The export folder (the one holding ``truth/``) or the ``truth`` folder itself.

    Returns
    -------
    dict of DataFrame
        The same tables as ``Simulation.truth`` (timestamps as UTC datetimes).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     sim = simulate_export(couples=2, days=14, seed=3, out=d)
    ...     back = load_truth(d)
    >>> back["episodes"].equals(sim.truth["episodes"])
    True
    """
    folder = Path(path)
    if (folder / "truth").is_dir():
        folder = folder / "truth"
    out = {}
    for key, spec in _TRUTH_DTYPES.items():
        df = pd.read_csv(folder / f"{key}.csv", dtype=str, keep_default_na=False, encoding="utf-8")
        out[key] = _truth_dtypes(df, spec)
    return out


DICTIONARY_START = "<!-- data-dictionary:start -->"
DICTIONARY_END = "<!-- data-dictionary:end -->"


def update_data_dictionary(readme: str | Path) -> bool:
    """Rewrite the data-dictionary section of ``readme`` from the schema; return whether the
    file changed. The section lies between :data:`DICTIONARY_START` and
    :data:`DICTIONARY_END` (each on its own line); ``make sample`` calls this.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d) / "README.md"
    ...     _ = p.write_text(f"# x\\n{DICTIONARY_START}\\nold\\n{DICTIONARY_END}\\n")
    ...     first, second = update_data_dictionary(p), update_data_dictionary(p)
    >>> first, second
    (True, False)
    """
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    try:
        head, rest = text.split(DICTIONARY_START + "\n", 1)
        _, tail = rest.split(DICTIONARY_END, 1)
    except ValueError:
        raise option_error(
            "readme",
            "update_data_dictionary",
            f"a file with the lines {DICTIONARY_START} and {DICTIONARY_END}",
            str(path),
        ) from None
    new = f"{head}{DICTIONARY_START}\n{schema.data_dictionary_markdown()}{DICTIONARY_END}{tail}"
    if new == text:
        return False
    path.write_text(new, encoding="utf-8", newline="\n")
    return True


# --------------------------------------------------------------------------------------
# one couple
# --------------------------------------------------------------------------------------


def _local_midnights(start: date, days: int, zone: str) -> np.ndarray:
    """UTC epoch seconds of local midnight for each day (plus one extra day)."""
    idx = pd.date_range(start.isoformat(), periods=days + 1, freq="D").tz_localize(zone)
    return np.asarray(idx.tz_convert("UTC").as_unit("s").asi8, dtype=np.int64)


def _bid_times(rng: np.random.Generator, n: np.ndarray, weekend: np.ndarray) -> np.ndarray:
    """Seconds after local midnight: morning and evening peaks, more midday at weekends."""
    total = int(n.sum())
    we = np.repeat(weekend, n)
    u = rng.random(total)
    morning = u < np.where(we, 0.15, 0.25)
    midday = ~morning & (u < np.where(we, 0.60, 0.50))
    sec = rng.normal(19.5 * _HOUR, 1.5 * _HOUR, total)  # evening
    sec = np.where(morning, rng.normal(7.5 * _HOUR, 0.75 * _HOUR, total), sec)
    sec = np.where(midday, rng.uniform(9 * _HOUR, 18 * _HOUR, total), sec)
    return np.clip(sec, 6.5 * _HOUR, 23.75 * _HOUR).astype(np.int64)


def _simulate_couple(
    ci: int,
    cid: str,
    arch: str,
    mid: np.ndarray,
    dates: pd.DatetimeIndex,
    rng: np.random.Generator,
) -> dict[str, Any]:
    P = _PARAMS[arch]
    days = len(dates)
    weekend = np.asarray(dates.day_of_week >= 5)
    main = (
        int(rng.integers(0, 2))
        if P["main_share"] is not None and arch != "conflict_heavy"
        else None
    )
    iv_day = round(0.55 * days) if arch == "improving" else None
    cp_day = (
        int(rng.integers(round(0.35 * days), round(0.65 * days) + 1))
        if arch == "conflict_heavy"
        else None
    )

    # per-partner toward probability (the responder's), before and after the intervention
    tp = np.clip(P["toward"] + rng.uniform(-0.05, 0.05, 2), 0.05, 0.95)
    tp_after = tp.copy()
    if P["toward_after"] is not None:
        tp_after = np.clip(P["toward_after"] + (tp - P["toward"]), 0.05, 0.95)

    # roles: main pursuer first; flip so partner index 0 is always "a"
    pu_role = np.asarray(P["pu_role"])
    wd_role = np.asarray(P["wd_role"])
    effect = np.asarray(P["effect"], dtype=float)
    if main == 1:
        pu_role, wd_role, effect = pu_role[::-1], wd_role[::-1], effect[::-1]

    ep = _episodes(rng, P, days, iv_day, main)
    conf = _conflicts(rng, P, arch, days, ep)
    conf["ts"] = mid[conf["day"]] + conf["sec"]
    # conflict markers of episodes: just before the first move
    ev = _episode_events(rng, ep, mid)

    # ------------------------------------------------------------------ bids and responses
    lam = np.where(weekend, 11.0, 8.0)
    nb = rng.poisson(lam)
    bday = np.repeat(np.arange(days), nb)
    bsec = _bid_times(rng, nb, weekend)
    o = np.lexsort((bsec, bday))  # number bids in time order
    bday, bsec = bday[o], bsec[o]
    nbid = bday.size
    bactor = rng.integers(0, 2, nbid)
    resp = 1 - bactor
    after = (bday >= iv_day) if iv_day is not None else np.zeros(nbid, bool)
    ptoward = np.where(after, tp_after[resp], tp[resp])
    u = rng.random(nbid)
    rest = (u - ptoward) / np.maximum(1 - ptoward, 1e-9)  # uniform on the non-toward part
    a_sh = P["against_share"]
    # 0 toward, 1 away, 2 against, 3 missed
    outcome = np.where(u < ptoward, 0, np.where(rest < 0.45, 1, np.where(rest < 0.45 + a_sh, 2, 3)))
    lat = np.clip(rng.lognormal(np.log(60.0), 1.1, nbid), 2, 1800).astype(np.int64)
    bts = mid[bday] + bsec
    btype = rng.integers(0, len(_BID_TYPES), nbid)
    has_r = outcome < 3
    rcode = np.array([_C["toward"], _C["away"], _C["against"]])[outcome[has_r]]

    # ------------------------------------------------------------------ isolated moves
    niso = rng.poisson(P["iso_moves"], days)
    iday = np.repeat(np.arange(days), niso)
    ni = iday.size
    iso_p = rng.random(ni) < 0.5
    icode = np.where(iso_p, rng.choice(_PURSUE, ni), rng.choice(_WITHDRAW_ISO, ni))
    its = mid[iday] + rng.integers(8 * _HOUR, 22 * _HOUR, ni)
    iactor = rng.integers(0, 2, ni)

    # background table: kind 0 bid, 1 response, 2 isolated
    bg_ts = np.concatenate([bts, bts[has_r] + lat[has_r], its])
    bg_actor = np.concatenate([bactor, resp[has_r], iactor])
    bg_code = np.concatenate([np.full(nbid, _C["bid"]), rcode, icode])
    bg_bid = np.concatenate([np.arange(nbid), np.flatnonzero(has_r), np.full(ni, -1)])
    bg_btype = np.concatenate([btype, np.full(has_r.sum(), -1), np.full(ni, -1)])

    # drop background events inside the 3-hour windows around episodes (a bid and its
    # response go together)
    keep = np.ones(bg_ts.size, bool)
    if ep["n"]:
        ws = ep["start_ts"] - _EXCLUSION_S
        we_ = ep["end_ts"] + _EXCLUSION_S
        j = np.searchsorted(ws, bg_ts, side="right") - 1
        inside = (j >= 0) & (bg_ts <= we_[np.maximum(j, 0)])
        bad_bids = np.unique(bg_bid[inside & (bg_bid >= 0)])
        keep &= ~inside & ~np.isin(bg_bid, bad_bids)
    bg = {
        k: v[keep]
        for k, v in dict(ts=bg_ts, actor=bg_actor, code=bg_code, bid=bg_bid, btype=bg_btype).items()
    }
    bg = _drop_answered_pursuits(bg)

    # ------------------------------------------------------------------ all events
    n_bg = bg["ts"].size
    n_c = conf["n"]
    ts = np.concatenate([bg["ts"], conf["ts"], ev["ts"]])
    out = dict(
        ts=ts,
        actor=np.concatenate([bg["actor"], conf["actor"], ev["actor"]]),
        code=np.concatenate([bg["code"], np.full(n_c, _C["conflict"]), ev["code"]]),
        bid=np.concatenate([bg["bid"], np.full(n_c + ev["ts"].size, -1)]),
        btype=np.concatenate([bg["btype"], np.full(n_c + ev["ts"].size, -1)]),
        intensity=np.concatenate([np.full(n_bg, np.nan), conf["intensity"], ev["intensity"]]),
        topic=np.concatenate([np.full(n_bg, -1), conf["tag"], ev["topic"]]),
        note=np.concatenate(
            [
                np.full(n_bg, None, dtype=object),
                conf["note"],
                np.full(ev["ts"].size, None, dtype=object),
            ]
        ),
    )
    order = np.argsort(ts, kind="stable")
    out = {k: v[order].astype(_COMPACT.get(k, v.dtype)) for k, v in out.items()}

    check = _checkins(
        rng, P, arch, days, weekend, mid, ep, conf, iv_day, cp_day, main, pu_role, wd_role, effect
    )
    return dict(
        ci=ci,
        cid=cid,
        arch=arch,
        events=out,
        checkins=check,
        ep=ep,
        conf=conf,
        main=main,
        tp=tp,
        tp_after=tp_after,
        iv_day=iv_day,
        cp_day=cp_day,
        effect=effect,
    )


def _episodes(rng, P, days, iv_day, main) -> dict[str, Any]:
    rate = np.full(days, P["episodes"] / 7.0)
    if iv_day is not None and P["episodes_after"] is not None:
        rate[iv_day:] = P["episodes_after"] / 7.0
    day = np.flatnonzero(rng.random(days) < rate)
    n = day.size
    start = rng.integers(9 * _HOUR, 21 * _HOUR, n)
    rounds = rng.integers(2, 7, n)
    if main is None:
        pursuer = rng.integers(0, 2, n)
    else:
        pursuer = np.where(rng.random(n) < P["main_share"], main, 1 - main)
    after = (day >= iv_day) if iv_day is not None else np.zeros(n, bool)
    probs = np.array(P["end_before"] or (0.25,) * 4)
    probs = np.where(after[:, None], np.array(P["end_after"] or probs), probs[None, :])
    ended = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    ended = np.minimum(ended, 3)
    return dict(
        n=n,
        day=day,
        start=start,
        rounds=rounds,
        pursuer=pursuer,
        ended=ended,
        has_marker=rng.random(n) < 0.8,
        topic=np.full(n, -1),
    )


def _episode_events(rng, ep, mid) -> dict[str, np.ndarray]:
    n = ep["n"]
    rounds, ended, pursuer = ep["rounds"], ep["ended"], ep["pursuer"]
    nm = 2 * rounds + (ended != 3)
    total = int(nm.sum())
    first = np.cumsum(nm) - nm
    e = np.repeat(np.arange(n), nm)
    k = np.arange(total) - first[e]
    gap = rng.integers(60, 1201, total)
    gap[first] = 0
    cs = np.cumsum(gap)
    ts = mid[ep["day"]][e] + ep["start"][e] + cs - cs[first][e]
    is_pw = k < 2 * rounds[e]
    is_p = is_pw & (k % 2 == 0)
    is_end = ~is_pw
    withdrawer = 1 - pursuer
    actor = np.where(is_p, pursuer[e], withdrawer[e])
    against_actor = rng.integers(0, 2, total)
    actor = np.where(is_end & (ended[e] == 2), against_actor, actor)
    code = np.where(is_p, rng.choice(_PURSUE, total), rng.choice(_WITHDRAW, total))
    end_code = np.select(
        [ended[e] == 0, ended[e] == 1], [_C["repair"], _C["toward"]], rng.choice(_AGAINST, total)
    )
    code = np.where(is_end, end_code, code)
    # rising intensity over the pursue/withdraw moves
    lo = rng.uniform(0.15, 0.35, n)
    hi = rng.uniform(0.7, 0.95, n)
    frac = k / np.maximum(2 * rounds[e] - 1, 1)
    inten = lo[e] + (hi[e] - lo[e]) * frac + rng.normal(0, 0.03, total)
    end_int = np.where(ended[e] == 2, rng.uniform(0.8, 1.0, total), rng.uniform(0.1, 0.3, total))
    inten = np.where(is_end, end_int, inten)
    inten = np.round(np.clip(inten, 0, 1), 3)
    # start and end (last withdraw move for timeout) per episode
    last = first + nm - 1
    ep["start_ts"] = ts[first] if n else np.zeros(0, np.int64)
    ep["end_ts"] = ts[last] if n else np.zeros(0, np.int64)
    return dict(ts=ts, actor=actor, code=code, intensity=inten, topic=ep["topic"][e])


def _conflicts(rng, P, arch, days, ep) -> dict[str, Any]:
    """Schedule conflicts (at most one per local day): planted topics, episodes, others."""
    planned = np.full(days, -1)
    repaired_plan = np.zeros(days, bool)
    kinds: dict[int, str] = {}
    ep_day = np.zeros(days, bool)
    ep_day[ep["day"]] = True
    excluded: set[int] = set()
    if arch == "conflict_heavy":
        k = 1 + int(rng.random() < 0.5)
        picks = rng.choice(_REAL_TOPICS, size=k + 1, replace=False)
        perp, res = picks[:k], int(picks[k])
        for t in perp:
            kinds[int(t)] = "perpetual"
        kinds[res] = "resurfacing"
        excluded = set(kinds)
        # Hand-written weekly loop (a few dozen weeks): each perpetual topic gets a
        # conflict in ~85% of weeks, on distinct days of that week.
        for w0 in range(0, days, 7):
            wdays = rng.permutation(np.arange(w0, min(w0 + 7, days)))
            for j, t in enumerate(perp):
                if j < wdays.size and rng.random() < 0.85:
                    planned[wdays[j]] = t
        # resurfacing: repaired conflicts, then the same topic again 3–5 weeks later
        d = int(rng.integers(3, max(4, days // 5)))
        slots = []
        while d < days and len(slots) < 3:
            while d < days and (planned[d] != -1 or ep_day[d]):
                d += 1
            if d >= days:
                break
            slots.append(d)
            d += int(rng.integers(21, 36))
        for j, d in enumerate(slots):
            planned[d] = res
            repaired_plan[d] = j < len(slots) - 1 or rng.random() < 0.5
    allowed = np.array([t for t in range(len(TOPICS)) if t not in excluded])

    def occasional(m: int) -> np.ndarray:
        return rng.choice(allowed, m)

    # episodes: adopt a planned conflict of that day, else a marker w.p. 0.8
    topic_ep = np.full(ep["n"], -1)
    for_planned = planned[ep["day"]] != -1
    ep["has_marker"] = ep["has_marker"] | for_planned
    if arch == "conflict_heavy":
        perp_arr = np.array([t for t, kd in kinds.items() if kd == "perpetual"])
        draw = np.where(
            rng.random(ep["n"]) < 0.6, rng.choice(perp_arr, ep["n"]), occasional(ep["n"])
        )
    else:
        draw = occasional(ep["n"])
    topic_ep = np.where(for_planned, planned[ep["day"]], draw)
    topic_ep = np.where(ep["has_marker"], topic_ep, -1)
    ep["topic"] = topic_ep
    # other conflicts on free, non-episode days
    free = (planned == -1) & ~ep_day
    extra = free & (rng.random(days) < P["conflicts"] / 7.0)
    planned[extra] = occasional(int(extra.sum()))
    is_ep_marker = np.zeros(days, bool)
    is_ep_marker[ep["day"][ep["has_marker"]]] = True
    planned[ep["day"][ep["has_marker"]]] = topic_ep[ep["has_marker"]]

    cday = np.flatnonzero(planned != -1)
    n = cday.size
    topic = planned[cday]
    # time: episode markers 1–10 min before the first move, others 08:00–22:00
    ep_index = np.full(days, -1)
    ep_index[ep["day"]] = np.arange(ep["n"])
    ei = ep_index[cday]
    on_ep = is_ep_marker[cday]
    sec = np.where(
        on_ep,
        _take(ep["start"], ei) - rng.integers(60, 601, n),
        rng.integers(8 * _HOUR, 22 * _HOUR, n),
    )
    actor = np.where(on_ep, _take(ep["pursuer"], ei), rng.integers(0, 2, n))
    a, b = P["conflict_beta"]
    intensity = np.round(rng.beta(a, b, n), 3)
    rep_random = rng.random(n) < P["repair_p"]
    ep_rep = np.isin(_take(ep["ended"], ei), [0, 1])
    repaired = np.where(on_ep, ep_rep, rep_random)
    in_plan = np.isin(topic, [t for t, kd in kinds.items() if kd == "resurfacing"])
    repaired = np.where(in_plan & ~on_ep, repaired_plan[cday], repaired)
    # notes: a phrase of the topic, sometimes with a first name; tag empty in ~20%
    tag = np.where(rng.random(n) < 0.2, -1, topic)
    phrase_idx = rng.integers(0, 1000, n)
    name_idx = np.where(rng.random(n) < 0.3, rng.integers(0, len(NOTE_NAMES), n), -1)
    notes = np.empty(n, dtype=object)
    for j in range(n):  # a few conflicts per week: string formatting, not event data
        phrases = NOTE_PHRASES[TOPICS[topic[j]]]
        p = phrases[phrase_idx[j] % len(phrases)]
        notes[j] = (
            f"{NOTE_NAMES[name_idx[j]]} said {p}."
            if name_idx[j] >= 0
            else f"{p[0].upper()}{p[1:]}."
        )
    reporters = np.where(rng.random(n) < 0.5, 2, rng.integers(0, 2, n))  # 2 = both
    return dict(
        n=n,
        day=cday,
        sec=sec,
        actor=actor,
        topic=topic,
        tag=tag,
        intensity=intensity,
        repaired=repaired,
        note=notes,
        reporters=reporters,
        on_episode=on_ep,
        kinds=kinds,
        ts=None,
    )


def _take(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``arr[idx]`` where ``idx >= 0``, 0 elsewhere (safe on empty ``arr``)."""
    padded = np.concatenate([np.asarray(arr), np.zeros(1, dtype=np.asarray(arr).dtype)])
    return padded[np.where(idx >= 0, idx, padded.size - 1)]


def _drop_answered_pursuits(bg: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outside planted episodes, no pursue-family move may be directly followed (in the
    sequence of pursue/withdraw-family events) by a withdraw-family move of the other
    partner: drop such withdraw moves (an ``away`` response dropped leaves its bid missed).
    Vectorised with a running "last barrier" index per responding partner."""
    order = np.argsort(bg["ts"], kind="stable")
    bg = {k: v[order] for k, v in bg.items()}
    code = bg["code"]
    fam_p = np.isin(code, _PURSUE)
    fam_w = np.isin(code, _WITHDRAW)
    pw = np.flatnonzero(fam_p | fam_w)
    drop = np.zeros(code.size, bool)
    if pw.size:
        is_p = fam_p[pw]
        act = bg["actor"][pw]
        pos = np.arange(pw.size)
        for y in (0, 1):
            is_wy = ~is_p & (act == y)
            barrier = np.where(~is_wy, pos, -1)
            last = np.maximum.accumulate(barrier)
            prev = np.where(pos > 0, np.concatenate([[-1], last[:-1]]), -1)
            hit = is_wy & (prev >= 0)
            hit &= is_p[np.maximum(prev, 0)] & (act[np.maximum(prev, 0)] != y)
            drop[pw[hit]] = True
    return {k: v[~drop] for k, v in bg.items()}


def _checkins(
    rng, P, arch, days, weekend, mid, ep, conf, iv_day, cp_day, main, pu_role, wd_role, effect
) -> dict[str, np.ndarray]:
    shape = (days, 2)
    cday = np.zeros(days)
    cday[conf["day"]] = 1.0
    # connection: partner baseline + AR(1) (phi 0.5) + planted steps
    base = P["level"] + rng.normal(0, 0.5, 2)
    burn = 30
    noise = lfilter([1.0], [1.0, -0.5], rng.normal(0, 0.9, (days + burn, 2)), axis=0)[burn:]
    step = np.zeros(days)
    if iv_day is not None:
        step[iv_day:] += _INTERVENTION_EFFECT
    if cp_day is not None:
        step[cp_day:] += _CHANGE_SIZE
    conn = np.clip(base[None, :] + step[:, None] + noise, 0, 10)
    stress = np.clip(4 + 1.5 * cday[:, None] - 0.2 * (conn - 5) + rng.normal(0, 1.2, shape), 0, 10)
    supported = np.clip(0.7 * conn + 1.2 + rng.normal(0, 1.0, shape), 0, 10)
    lonely = np.clip(9 - conn + rng.normal(0, 1.0, shape), 0, 10)
    intimacy = np.clip(0.6 * conn + 2 - cday[:, None] + rng.normal(0, 1.0, shape), 0, 10)
    together = np.where(weekend[:, None], rng.normal(300, 90, shape), rng.normal(150, 60, shape))
    together = np.clip(np.round(together / 5) * 5, 0, 1440)
    # lonely despite time together: planted for the main pursuer of pursue_withdraw couples
    planted_lt = np.zeros(shape, bool)
    if arch == "pursue_withdraw":
        planted_lt[:, main] = rng.random(days) < 0.07
    together = np.where(planted_lt, np.round(rng.uniform(300, 480, shape) / 5) * 5, together)
    lonely = np.where(planted_lt, rng.uniform(7.5, 9.5, shape), lonely)
    lonely = np.round(lonely, 1)
    lonely = np.where(
        ~planted_lt & (together >= TOGETHER_MIN), np.minimum(lonely, LONELY_MIN - 0.5), lonely
    )

    # body signals: higher on conflict days and for the withdrawer
    c2 = cday[:, None]

    def signal(b: float, c: float, w: float, sd: float) -> np.ndarray:
        x = rng.normal(b + c * c2 + w * wd_role[None, :], sd, shape)
        return np.clip(np.round(x), 0, 4) + 0.0  # + 0.0: no negative zeros

    tension = signal(0.6, 1.5, 0.4, 0.8)
    urge = signal(0.4, 1.2, 0.8, 0.8)
    blank = signal(0.2, 0.8, 0.5, 0.7)
    q = 0.1 + 0.1 * wd_role  # flag rate, independent of conflict and episodes
    flag = rng.random(shape) < q[None, :]
    low = (rng.random(shape) < 0.15 + 0.35 * c2).astype(float)
    overwhelmed = np.where(flag, rng.integers(2, 5, shape), low).astype(float)
    self_rel = rng.random(shape) < 0.1 + 0.15 * wd_role[None, :] + 0.1 * c2
    critical = rng.random(shape) < 0.05 + 0.25 * c2 * pu_role[None, :]
    shutdown = rng.random(shape) < 0.03 + 0.3 * c2 * wd_role[None, :]
    # self-reports of the cycle
    ep_p = np.zeros(shape)
    ep_w = np.zeros(shape)
    ep_p[ep["day"], ep["pursuer"]] = 1
    ep_w[ep["day"], 1 - ep["pursuer"]] = 1
    pursued = rng.random(shape) < 0.04 + 0.6 * ep_p
    flag_prev = np.vstack([np.zeros((1, 2), bool), flag[:-1]])
    p_w = 0.04 + 0.6 * ep_w + effect[None, :] * (flag + flag_prev)
    withdrew = rng.random(shape) < p_w

    # conflict reports (at least one reporter, who never misses that day's check-in)
    report = np.zeros(shape, bool)
    rep_both = conf["reporters"] == 2
    report[conf["day"][rep_both], 0] = True
    report[conf["day"][rep_both], 1] = True
    one = ~rep_both
    report[conf["day"][one], conf["reporters"][one]] = True
    ctopic = np.full(days, -1)
    ctopic[conf["day"]] = conf["topic"]
    cint = np.full(days, np.nan)
    cint[conf["day"]] = conf["intensity"]
    crep = np.zeros(days, bool)
    crep[conf["day"]] = conf["repaired"]

    missed = rng.random(shape) < np.where(weekend, 0.13, 0.075)[:, None]
    missed &= ~report
    sec = np.clip(rng.normal(21.75 * _HOUR, 1.25 * _HOUR, shape), 18 * _HOUR, 25.5 * _HOUR)
    ts = mid[:days, None] + sec.astype(np.int64)
    has_prompt = rng.random(shape) < 0.2
    prompt = np.where(has_prompt, rng.integers(0, len(PROMPTS), shape), -1)
    answer = np.where(
        has_prompt & (rng.random(shape) < 0.8), rng.integers(0, len(_ANSWERS), shape), -1
    )

    present = ~missed
    d_idx, p_idx = np.nonzero(present)  # row-major: day, then partner
    lt_rows = planted_lt & present
    return dict(
        day=d_idx,
        partner=p_idx,
        ts=ts[present],
        connection=np.round(conn[present], 1),
        stress=np.round(stress[present], 1),
        supported=np.round(supported[present], 1),
        lonely=lonely[present],
        time_together_min=together[present],
        conflict=report[present],
        conflict_topic=np.where(report, ctopic[:, None], -1)[present],
        conflict_intensity=np.where(report, cint[:, None], np.nan)[present],
        repaired=np.where(report, crep[:, None], False)[present],
        tension=tension[present],
        urge_withdraw=urge[present],
        overwhelmed=overwhelmed[present],
        blank=blank[present],
        self_reliant=self_rel[present],
        critical=critical[present],
        shutdown=shutdown[present],
        intimacy_comfort=np.round(intimacy[present], 1),
        pursued=pursued[present],
        withdrew=withdrew[present],
        prompt=prompt[present],
        answer=answer[present],
        lonely_together=int(lt_rows.sum()),
    )


# --------------------------------------------------------------------------------------
# assembling frames and truth
# --------------------------------------------------------------------------------------


def _utc(sec: np.ndarray) -> pd.Series:
    return pd.Series(
        pd.DatetimeIndex(np.asarray(sec, dtype="datetime64[s]")).as_unit("ns").tz_localize("UTC")
    )


def _lookup(codes: np.ndarray, labels: Sequence[str]) -> pd.Series:
    """Integer codes (−1 = missing) → nullable Arrow-backed strings (no Python loop)."""
    codes = np.asarray(codes, dtype=np.int64)
    arr = pc.take(
        pa.array(list(labels), pa.string()), pa.array(np.where(codes < 0, 0, codes), mask=codes < 0)
    )
    return _string_series(arr)


def _string_series(arr: pa.Array) -> pd.Series:
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([arr])))


def _events_frame(parts: list[dict], ids: list[str]) -> pd.DataFrame:
    ev = [p["events"] for p in parts]
    n = np.array([e["ts"].size for e in ev])
    cidx = np.repeat(np.arange(len(parts)), n)
    cat = {k: np.concatenate([e[k] for e in ev]) for k in ev[0]}
    partners = [f"{c}-{s}" for c in ids for s in "ab"]
    bid = cat["bid"]
    cid = pc.take(pa.array(ids, pa.string()), pa.array(cidx))
    bid_txt = pc.utf8_lpad(pc.cast(pa.array(np.maximum(bid, 0)), pa.string()), width=5, padding="0")
    bid_str = pc.if_else(
        pa.array(bid < 0),
        pa.scalar(None, pa.string()),
        pc.binary_join_element_wise(cid, bid_txt, "-b"),
    )
    df = pd.DataFrame(
        {
            "couple_id": _string_series(cid),
            "ts": _utc(cat["ts"]),
            "actor": _lookup(cidx * 2 + cat["actor"].astype(np.int64), partners),
            "code": pd.Categorical.from_codes(cat["code"], dtype=schema.CODE_DTYPE),
            "bid_id": _string_series(bid_str),
            "bid_type": _lookup(cat["btype"], _BID_TYPES),
            "intensity": cat["intensity"].astype(float),
            "topic": _lookup(cat["topic"], TOPICS),
            "note": pd.Series(cat["note"], dtype=schema.STRING),
        }
    )
    return schema.coerce_dtypes(df, "events")


def _checkins_frame(parts: list[dict], ids: list[str]) -> pd.DataFrame:
    ch = [p["checkins"] for p in parts]
    keys = [k for k in ch[0] if k not in ("day", "lonely_together")]
    n = np.array([c["ts"].size for c in ch])
    cidx = np.repeat(np.arange(len(parts)), n)
    cat = {k: np.concatenate([c[k] for c in ch]) for k in keys}
    partners = [f"{c}-{s}" for c in ids for s in "ab"]
    cols: dict[str, Any] = {
        "couple_id": _lookup(cidx, ids),
        "partner": _lookup(cidx * 2 + cat["partner"], partners),
        "ts": _utc(cat["ts"]),
    }
    conflict = cat["conflict"]
    for c in schema.CHECKINS[3:]:
        name = c.name
        if name == "conflict_topic":
            cols[name] = _lookup(cat[name], TOPICS)
        elif name == "repaired":
            cols[name] = pd.array(np.where(conflict, cat[name], False), dtype="boolean")
            cols[name][~conflict] = pd.NA
        elif name == "prompt":
            cols[name] = _lookup(cat[name], PROMPTS)
        elif name == "answer":
            cols[name] = _lookup(cat[name], _ANSWERS)
        elif c.dtype == "bool":
            cols[name] = pd.array(cat[name].astype(bool), dtype="boolean")
        else:
            cols[name] = cat[name].astype(float)
    return schema.coerce_dtypes(pd.DataFrame(cols), "checkins")


_TRUTH_DTYPES: dict[str, dict[str, str]] = {
    "couples": dict(
        couple_id="str",
        archetype="str",
        timezone="str",
        partner_a="str",
        partner_b="str",
        pursuer="str",
        toward_prob_a="float",
        toward_prob_b="float",
        toward_prob_a_after="float",
        toward_prob_b_after="float",
        change_point="str",
        change_size="float",
        intervention_date="str",
        intervention_effect="float",
        lonely_together_days="int",
    ),
    "episodes": dict(
        couple_id="str",
        episode_id="str",
        start="ts",
        end="ts",
        pursuer="str",
        withdrawer="str",
        rounds="int",
        ended_by="str",
        topic="str",
    ),
    "topics": dict(couple_id="str", topic="str", kind="str", conflicts="int", weeks_active="int"),
    "resurfacing": dict(couple_id="str", topic="str", ts="ts"),
    "regulation": dict(
        couple_id="str", partner="str", signal="str", effect="float", threshold="float"
    ),
}


def _truth_dtypes(df: pd.DataFrame, spec: dict[str, str]) -> pd.DataFrame:
    """A truth table in its fixed dtypes (as built, and as read back from its CSV)."""
    out = {}
    for col, kind in spec.items():
        s = df[col] if col in df else pd.Series([], dtype=object)
        if kind == "ts":
            out[col] = (
                pd.to_datetime(s, utc=True, format="ISO8601").dt.as_unit("ns")
                if len(s)
                else pd.Series([], dtype="datetime64[ns, UTC]")
            )
        elif kind == "int":
            out[col] = pd.Series(s, dtype=object).astype("int64")
        elif kind == "float":
            out[col] = pd.Series(s, dtype=object).astype("float64")
        else:
            out[col] = pd.Series(s, dtype=object).fillna("").astype(str).astype(object)
    return pd.DataFrame(out).reset_index(drop=True)


def _truth_tables(parts, ids, arch, zones, dates) -> dict[str, pd.DataFrame]:
    iso = np.asarray(dates.strftime("%Y-%m-%d"), dtype=object)
    isoweek = dates.isocalendar()
    week_key = np.asarray(isoweek["year"] * 100 + isoweek["week"], dtype=np.int64)
    ids_arr = np.asarray(ids, dtype=object)
    partners = np.array([f"{c}-{s}" for c in ids for s in "ab"], dtype=object)
    topics_arr = np.asarray([*TOPICS, ""], dtype=object)

    couples = pd.DataFrame(
        [
            dict(
                couple_id=p["cid"],
                archetype=p["arch"],
                timezone=zones[p["ci"]],
                partner_a=partners[2 * p["ci"]],
                partner_b=partners[2 * p["ci"] + 1],
                pursuer="" if p["main"] is None else partners[2 * p["ci"] + p["main"]],
                toward_prob_a=round(float(p["tp"][0]), 4),
                toward_prob_b=round(float(p["tp"][1]), 4),
                toward_prob_a_after=round(float(p["tp_after"][0]), 4),
                toward_prob_b_after=round(float(p["tp_after"][1]), 4),
                change_point="" if p["cp_day"] is None else iso[p["cp_day"]],
                change_size=_CHANGE_SIZE if p["cp_day"] is not None else 0.0,
                intervention_date="" if p["iv_day"] is None else iso[p["iv_day"]],
                intervention_effect=_INTERVENTION_EFFECT if p["iv_day"] is not None else 0.0,
                lonely_together_days=p["checkins"]["lonely_together"],
            )
            for p in parts
        ],
        columns=list(_TRUTH_DTYPES["couples"]),
    )

    # episodes: one concatenation over couples
    n_ep = np.array([p["ep"]["n"] for p in parts])
    ecid = np.repeat(np.arange(len(parts)), n_ep)
    cat = {
        k: np.concatenate([p["ep"][k] for p in parts]).astype(np.int64)
        for k in ("start_ts", "end_ts", "pursuer", "rounds", "ended", "topic")
    }
    seq = np.arange(ecid.size) - np.repeat(np.cumsum(n_ep) - n_ep, n_ep) + 1
    episodes = pd.DataFrame(
        dict(
            couple_id=ids_arr[ecid],
            episode_id=[f"{ids[c]}-e{j:03d}" for c, j in zip(ecid, seq, strict=True)],
            start=_utc(cat["start_ts"]),
            end=_utc(cat["end_ts"]),
            pursuer=partners[2 * ecid + cat["pursuer"]],
            withdrawer=partners[2 * ecid + 1 - cat["pursuer"]],
            rounds=cat["rounds"],
            ended_by=np.asarray(ENDINGS, dtype=object)[cat["ended"]],
            topic=topics_arr[np.where(cat["topic"] < 0, len(TOPICS), cat["topic"])],
        )
    )

    # conflicts -> topics and resurfacing
    n_c = np.array([p["conf"]["n"] for p in parts])
    ccid = np.repeat(np.arange(len(parts)), n_c)
    ctopic = np.concatenate([p["conf"]["topic"] for p in parts]).astype(np.int64)
    cts = np.concatenate([p["conf"]["ts"] for p in parts]).astype(np.int64)
    cweek = week_key[np.concatenate([p["conf"]["day"] for p in parts]).astype(np.int64)]
    crep = np.concatenate([p["conf"]["repaired"] for p in parts]).astype(bool)
    kind_of = {(p["ci"], t): kd for p in parts for t, kd in p["conf"]["kinds"].items()}
    cdf = pd.DataFrame(dict(c=ccid, t=ctopic, ts=cts, week=cweek, rep=crep))
    g = cdf.groupby(["c", "t"], sort=True)
    agg = g.agg(conflicts=("ts", "size"), weeks_active=("week", "nunique")).reset_index()
    topics = pd.DataFrame(
        dict(
            couple_id=ids_arr[agg["c"].to_numpy()],
            topic=topics_arr[agg["t"].to_numpy()],
            kind=[
                kind_of.get((c, t), "occasional") for c, t in zip(agg["c"], agg["t"], strict=True)
            ],
            conflicts=agg["conflicts"].to_numpy(np.int64),
            weeks_active=agg["weeks_active"].to_numpy(np.int64),
        )
    )
    o = np.lexsort((cts, ctopic, ccid))
    same = np.zeros(o.size, bool)
    same[1:] = (ccid[o][1:] == ccid[o][:-1]) & (ctopic[o][1:] == ctopic[o][:-1])
    prev_rep = np.zeros(o.size, bool)
    prev_rep[1:] = crep[o][:-1]
    hit = o[same & prev_rep]
    hit = hit[np.lexsort((ctopic[hit], cts[hit], ccid[hit]))]
    resurfacing = pd.DataFrame(
        dict(couple_id=ids_arr[ccid[hit]], topic=topics_arr[ctopic[hit]], ts=_utc(cts[hit]))
    )

    eff = np.concatenate([p["effect"] for p in parts]).astype(float)
    regulation = pd.DataFrame(
        dict(
            couple_id=np.repeat(ids_arr, 2),
            partner=partners,
            signal="overwhelmed",
            effect=eff,
            threshold=_REG_THRESHOLD,
        )
    )
    frames = dict(
        couples=couples,
        episodes=episodes,
        topics=topics,
        resurfacing=resurfacing,
        regulation=regulation,
    )
    return {k: _truth_dtypes(v, _TRUTH_DTYPES[k]) for k, v in frames.items()}


def _manifest(ids, zones, start: date, days: int) -> dict:
    end = start + timedelta(days=days - 1)
    retention = date(end.year + 5, end.month, min(end.day, 28))
    couples = []
    for cid, zone in zip(ids, zones, strict=True):
        partners = [f"{cid}-a", f"{cid}-b"]
        consent = {
            p: {
                "status": "active",
                "decision": "permit",
                # consent to *process* runs until the retention date, so analyses made
                # after the diary period are covered (FHIR Consent.provision.period)
                "period": {"start": start.isoformat(), "end": retention.isoformat()},
                "withdrawn_at": None,
                "purposes": ["treatment", "research"],
                "categories": ["ratings", "events", "free_text", "intimacy"],
            }
            for p in partners
        }
        couples.append(
            {
                "couple_id": cid,
                "timezone": zone,
                "partners": partners,
                "consent": {
                    "partners": consent,
                    "recipients": ["therapist"],
                    "retention_until": retention.isoformat(),
                },
            }
        )
    return {
        "schema_version": schema.SCHEMA_VERSION,
        "source_app": "connection-patterns simulator",
        "timezone": TIMEZONES[0],
        "scales": {r: [0, 10] for r in schema.RATINGS},
        "couples": couples,
    }


# --------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------

_FLOAT_DECIMALS = {
    "intensity": 3,
    "conflict_intensity": 3,
    "time_together_min": 0,
    **{r: 1 for r in schema.RATINGS},
    **{b: 0 for b in schema.BODY_SIGNALS},
}
_FREE_TEXT = ("note", "prompt", "answer")
_NEEDS_QUOTE = r'[",\r\n]'


def _iso_local(ts: pd.Series, couple_id: pd.Series, tz_map: dict[str, str]) -> pa.Array:
    """ISO 8601 with the couple's local offset, e.g. ``2026-03-29T21:14:05+02:00``.

    Hand-written digit arithmetic into a fixed-width byte matrix: ``strftime`` (pandas or
    Arrow) is ~20× slower on millions of rows and this is the writer's hot spot.
    """
    utc_s = ts.dt.as_unit("s").astype("int64").to_numpy()
    local_s = local_time(ts, couple_id, tz_map).dt.as_unit("s").astype("int64").to_numpy()
    offset = local_s - utc_s
    sec = local_s
    day = (sec // 86400).astype("datetime64[D]")
    year = day.astype("datetime64[Y]").astype(np.int64) + 1970
    month = day.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (day - day.astype("datetime64[M]")).astype(np.int64) + 1
    sod = sec % 86400
    off_abs = np.abs(offset)
    n = sec.size
    buf = np.empty((n, 25), dtype=np.uint8)
    fields = [
        (0, 4, year),
        (5, 2, month),
        (8, 2, dom),
        (11, 2, sod // 3600),
        (14, 2, sod % 3600 // 60),
        (17, 2, sod % 60),
        (20, 2, off_abs // 3600),
        (23, 2, off_abs % 3600 // 60),
    ]
    for pos, width, val in fields:
        for k in range(width):
            buf[:, pos + k] = 48 + (val // 10 ** (width - 1 - k)) % 10
    for pos, ch in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (22, ":")):
        buf[:, pos] = ord(ch)
    buf[:, 19] = np.where(offset < 0, ord("-"), ord("+"))
    offsets = np.arange(n + 1, dtype=np.int32) * 25
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf.tobytes()))


def _fixed(values: np.ndarray, decimals: int) -> pa.Array:
    """Fixed-point text for non-negative floats (NaN → null), vectorised in Arrow."""
    ok = ~np.isnan(values)
    scaled = np.round(np.where(ok, values, 0) * 10**decimals).astype(np.int64)
    if (scaled < 0).any():
        raise ValueError("negative values are not expected in simulated data")
    mask = pa.array(~ok)
    ip = pc.cast(pa.array(scaled // 10**decimals), pa.string())
    if decimals:
        fp = pc.utf8_lpad(
            pc.cast(pa.array(scaled % 10**decimals), pa.string()), width=decimals, padding="0"
        )
        ip = pc.binary_join_element_wise(ip, fp, ".")
    return pc.if_else(mask, pa.scalar(None, pa.string()), ip)


def _quote(arr: pa.Array) -> pa.Array:
    """RFC 4180 quoting only where a field needs it."""
    need = pc.fill_null(pc.match_substring_regex(arr, _NEEDS_QUOTE), False)
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(arr, '"', '""'), '"', "")
    return pc.if_else(need, quoted, arr)


def _csv_chunk(df: pd.DataFrame, tz_map: dict[str, str]) -> bytes:
    cols = []
    for col in df.columns:
        s = df[col]
        if col == "ts":
            arr = _iso_local(s, df["couple_id"], tz_map)
        elif str(s.dtype) == "float64":
            arr = _fixed(s.to_numpy(dtype=float), _FLOAT_DECIMALS.get(col, 4))
        elif str(s.dtype) == "boolean":
            arr = pc.if_else(pa.array(s), "true", "false")
        elif isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy()
            arr = pc.take(
                pa.array([str(c) for c in s.cat.categories], pa.string()),
                pa.array(codes, mask=codes < 0),
            )
        else:
            arr = pc.cast(pa.array(s.astype(schema.STRING)), pa.string())
            # ids and vocabulary words are generated here and never need quoting
            arr = _quote(arr) if col in _FREE_TEXT else arr
        cols.append(arr)
    line = pc.binary_join_element_wise(*cols, ",", null_handling="replace", null_replacement="")
    line = pc.binary_join_element_wise(line, "", "\n").cast(pa.large_string())
    if len(line) == 0:
        return b""
    offsets = np.frombuffer(line.buffers()[1], dtype=np.int64)[
        line.offset : line.offset + len(line) + 1
    ]
    return line.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]


def _write_csv(path: Path, df: pd.DataFrame, tz_map: dict[str, str], chunk: int = 500_000):
    df = df.copy(deep=False)
    df.attrs = {}  # pandas deep-copies attrs on every slice; not needed here
    with open(path, "wb") as fh:
        fh.write((",".join(df.columns) + "\n").encode("utf-8"))
        for i in range(0, len(df), chunk):
            fh.write(_csv_chunk(df.iloc[i : i + chunk], tz_map))


def _truth_csv(df: pd.DataFrame) -> str:
    out = {}
    for col in df.columns:
        s = df[col]
        if str(s.dtype).startswith("datetime64"):
            out[col] = s.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif s.dtype == np.float64:
            out[col] = s.map(lambda v: f"{v:.4f}")
        else:
            out[col] = s.astype(str)
    return pd.DataFrame(out, columns=df.columns).to_csv(index=False, lineterminator="\n")


def _write(path: Path, events, checkins, manifest, truth, tz_map) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "truth").mkdir(exist_ok=True)
    _write_csv(path / "events.csv", events, tz_map)
    _write_csv(path / "checkins.csv", checkins, tz_map)
    (path / "manifest.json").write_text(
        json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
        newline="\n",
    )
    for key in sorted(truth):
        (path / "truth" / f"{key}.csv").write_text(
            _truth_csv(truth[key]), encoding="utf-8", newline="\n"
        )
