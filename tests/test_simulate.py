"""Tests for patterns.simulate: determinism, contract dtypes, and that every planted truth
is visible in the generated tables (checked with independent pandas/scipy/statsmodels code).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from patterns import schema
from patterns.simulate import (
    ARCHETYPES,
    LONELY_MIN,
    NOTE_NAMES,
    NOTE_PHRASES,
    PROMPTS,
    TIMEZONES,
    TOGETHER_MIN,
    TOPICS,
    load_truth,
    simulate_export,
    update_data_dictionary,
)
from patterns.timeutil import diary_day

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
SAMPLE_ARGS = dict(couples=4, days=120, seed=20261126)  # keep equal to `make sample`

# The topic keywords named in the brief (issue 2); an independent lexicon for the tests.
KEYWORDS = {
    "money": ["money", "bill", "spending", "budget", "rent"],
    "chores": ["dishes", "laundry", "chores", "cleaning"],
    "parenting": ["kids", "bedtime", "school", "homework"],
    "family": ["in-laws", "mother", "sister", "family visit"],
    "work": ["work", "boss", "overtime", "job"],
    "intimacy": ["sex", "intimacy", "touch"],
    "time_together": ["weekend plans", "date night", "time together"],
    "communication": ["listening", "tone", "interrupting"],
    "trust": ["lied", "phone", "secret"],
    "health": ["doctor", "sleep", "drinking"],
    "screens": ["phone", "screen", "gaming", "tv"],
}


def lexicon_topics(text: str) -> set[str]:
    low = text.lower()
    return {
        t
        for t, words in KEYWORDS.items()
        if any(re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", low) for w in words)
    }


def tree_digest(path: Path, skip: tuple[str, ...] = ("README.md",)) -> dict[str, str]:
    return {
        f.relative_to(path).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(path.rglob("*"))
        if f.is_file() and f.name not in skip
    }


@pytest.fixture(scope="module")
def sim():
    """Two couples of each archetype over half a year."""
    return simulate_export(couples=8, days=180, seed=11)


@pytest.fixture(scope="module")
def big():
    """More couples for the statistical checks (pooled)."""
    return simulate_export(couples=24, days=180, seed=5)


def with_family(ev: pd.DataFrame) -> pd.DataFrame:
    out = ev.copy()
    out["family"] = out["code"].astype(str).map(schema.family_of)
    return out


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_bytes(tmp_path):
    a = simulate_export(couples=5, days=30, seed=42, out=tmp_path / "a")
    b = simulate_export(couples=5, days=30, seed=42, out=tmp_path / "b")
    c = simulate_export(couples=5, days=30, seed=43, out=tmp_path / "c")
    da, db, dc = (tree_digest(tmp_path / x) for x in "abc")
    assert set(da) == {
        "events.csv",
        "checkins.csv",
        "manifest.json",
        *(f"truth/{k}.csv" for k in ("couples", "episodes", "topics", "resurfacing", "regulation")),
    }
    assert da == db
    assert da["events.csv"] != dc["events.csv"]
    assert a.path == tmp_path / "a" and b.path == tmp_path / "b" and c.path is not None
    pd.testing.assert_frame_equal(a.events, b.events)


def test_couples_do_not_depend_on_how_many(sim):
    """Couple i uses SeedSequence([seed, i]): a smaller run is a prefix of a larger one."""
    small = simulate_export(couples=3, days=180, seed=11)
    ev = sim.events[sim.events["couple_id"].isin(["c001", "c002", "c003"])]
    pd.testing.assert_frame_equal(small.events, ev.reset_index(drop=True))


def test_sample_is_regenerated_byte_for_byte(tmp_path):
    simulate_export(**SAMPLE_ARGS, out=tmp_path)
    assert tree_digest(tmp_path) == tree_digest(SAMPLE)


def test_sample_size_and_archetypes():
    total = sum(f.stat().st_size for f in SAMPLE.rglob("*") if f.is_file())
    assert total < 2_000_000
    couples = pd.read_csv(SAMPLE / "truth" / "couples.csv")
    assert couples["archetype"].tolist() == list(ARCHETYPES)


def test_makefile_sample_matches_test_args():
    make = (ROOT / "Makefile").read_text()
    line = next(x for x in make.splitlines() if "patterns simulate" in x)
    assert "--couples 4" in line and "--days 120" in line and "--seed 20261126" in line


# --------------------------------------------------------------------------- contract


def test_contract_dtypes(sim):
    for table, df in (("events", sim.events), ("checkins", sim.checkins)):
        expected = schema.empty_frame(table)
        assert list(df.columns) == list(expected.columns)
        assert df.dtypes.astype(str).to_dict() == expected.dtypes.astype(str).to_dict()
        assert isinstance(df.index, pd.RangeIndex)
        for c in schema.columns_of(table):
            if c.required:
                assert df[c.name].notna().all(), c.name
            if c.lo is not None:
                v = df[c.name].dropna()
                assert v.between(c.lo, c.hi).all(), c.name
        assert df.attrs["timezones"] == dict(
            zip(sim.truth["couples"]["couple_id"], sim.truth["couples"]["timezone"], strict=True)
        )
    ev = sim.events
    assert ev.groupby("couple_id")["ts"].apply(lambda s: s.is_monotonic_increasing).all()
    assert set(ev["code"].astype(str)) <= set(schema.CODES)
    actors = ev.groupby("couple_id")["actor"].agg(lambda s: sorted(set(s)))
    for cid, a in actors.items():
        assert a == [f"{cid}-a", f"{cid}-b"]
    assert ev["actor"].str.isascii().all()
    assert ev["bid_id"].dropna().str.match(r"^c\d{3}-b\d{5}$").all()


def test_ids_and_zones(sim):
    c = sim.truth["couples"]
    assert c["couple_id"].tolist() == [f"c{i:03d}" for i in range(1, 9)]
    assert c["archetype"].tolist() == list(ARCHETYPES) * 2
    assert c["timezone"].tolist() == list(TIMEZONES) * 2


def test_dst_transition_inside_period(tmp_path):
    simulate_export(couples=4, days=120, seed=3, out=tmp_path)
    ev = pd.read_csv(tmp_path / "events.csv", dtype=str, keep_default_na=False)
    offsets = ev["ts"].str[-6:].groupby(ev["couple_id"]).agg(lambda s: sorted(set(s)))
    assert offsets.to_dict() == {
        "c001": ["+01:00", "+02:00"],  # Amsterdam
        "c002": ["-04:00", "-05:00"],  # New York
        "c003": ["+10:00", "+11:00"],  # Sydney
        "c004": ["+00:00", "+01:00"],  # London
    }
    # the text round-trips to the in-memory UTC times
    back = pd.to_datetime(ev["ts"], format="ISO8601", utc=True)
    sim = simulate_export(couples=4, days=120, seed=3)
    assert (back.to_numpy() == sim.events["ts"].to_numpy()).all()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", ev["ts"].iloc[0])


def test_manifest(sim, tmp_path):
    m = sim.manifest
    assert m["schema_version"] == schema.SCHEMA_VERSION
    assert m["source_app"] == "connection-patterns simulator"
    assert m["timezone"] in TIMEZONES
    assert m["scales"]["connection"] == [0, 10]
    assert [c["couple_id"] for c in m["couples"]] == sim.truth["couples"]["couple_id"].tolist()
    c = m["couples"][0]
    assert c["partners"] == ["c001-a", "c001-b"]
    p = c["consent"]["partners"]["c001-a"]
    assert (p["status"], p["decision"], p["withdrawn_at"]) == ("active", "permit", None)
    assert p["period"] == {"start": "2026-01-05", "end": "2031-07-03"}
    assert c["consent"]["retention_until"] == "2031-07-03"
    assert set(p["categories"]) == {"ratings", "events", "free_text", "intimacy"}
    assert c["consent"]["recipients"] == ["therapist"]
    simulate_export(couples=2, days=14, seed=1, out=tmp_path)
    text = (tmp_path / "manifest.json").read_text(encoding="utf-8")
    assert json.loads(text)["couples"][1]["couple_id"] == "c002"
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"


def test_load_truth_round_trip(tmp_path):
    s = simulate_export(couples=4, days=60, seed=9, out=tmp_path)
    back = load_truth(tmp_path)
    assert sorted(back) == sorted(s.truth)
    for key in s.truth:
        pd.testing.assert_frame_equal(back[key], s.truth[key], check_exact=False, atol=1e-4)


# --------------------------------------------------------------------------- bids


def measured_toward(events: pd.DataFrame) -> pd.DataFrame:
    """Independent few-line pandas: share of each partner's bids answered `toward`."""
    bids = events[events["code"] == "bid"][["couple_id", "actor", "bid_id", "ts"]]
    resp = events[events["code"].isin(["toward", "away", "against"]) & events["bid_id"].notna()][
        ["bid_id", "code", "actor"]
    ]
    m = bids.merge(resp, on="bid_id", how="left", suffixes=("", "_resp"))
    assert (m["actor_resp"].dropna() != m.loc[m["actor_resp"].notna(), "actor"]).all()
    m["toward"] = m["code"].eq("toward")
    return m


def test_toward_rate_near_planted(big):
    m = measured_toward(big.events)
    truth = big.truth["couples"].set_index("couple_id")
    pvalues = []
    for (cid, bidder), g in m.groupby(["couple_id", "actor"]):
        row = truth.loc[cid]
        responder = "a" if bidder.endswith("-b") else "b"
        if row["intervention_date"]:
            cut = pd.Timestamp(row["intervention_date"], tz="UTC")
            before, after = (
                g[g["ts"] < cut - pd.Timedelta("1D")],
                g[g["ts"] > cut + pd.Timedelta("1D")],
            )
            groups = [
                (before, row[f"toward_prob_{responder}"]),
                (after, row[f"toward_prob_{responder}_after"]),
            ]
        else:
            groups = [(g, row[f"toward_prob_{responder}"])]
        for gg, p in groups:
            k, n = int(gg["toward"].sum()), len(gg)
            assert abs(k / n - p) < 0.08, (cid, bidder, k / n, p)
            pvalues.append(stats.binomtest(k, n, p).pvalue)
    # calibrated: exact binomial tests against the planted p look uniform, none extreme
    assert min(pvalues) > 1e-4
    assert stats.kstest(pvalues, "uniform").pvalue > 0.001


def test_toward_levels_by_archetype(big):
    c = big.truth["couples"]
    mean = c.groupby("archetype")[["toward_prob_a", "toward_prob_b"]].mean().mean(axis=1)
    assert mean["secure"] == pytest.approx(0.85, abs=0.05)
    assert mean["pursue_withdraw"] == pytest.approx(0.55, abs=0.05)
    assert mean["conflict_heavy"] == pytest.approx(0.40, abs=0.05)
    imp = c[c["archetype"] == "improving"]
    assert (imp["toward_prob_a_after"] - imp["toward_prob_a"]).round(6).eq(0.2).all()


def test_responses_follow_bids_within_30_minutes(sim):
    ev = sim.events
    bids = ev[ev["code"] == "bid"].set_index("bid_id")["ts"]
    resp = ev[ev["code"].isin(["toward", "away", "against"]) & ev["bid_id"].notna()]
    lat = (resp["ts"].to_numpy() - bids.loc[resp["bid_id"]].to_numpy()) / np.timedelta64(1, "s")
    assert lat.min() >= 2 and lat.max() <= 1800
    assert 20 < np.median(lat) < 300
    assert ev["bid_id"].dropna().groupby(ev["code"]).apply(lambda s: s.is_unique).all()
    missed = 1 - len(resp) / len(bids)
    assert 0.03 < missed < 0.35


def test_daily_rhythm(sim):
    ev = sim.events
    zones = ev.attrs["timezones"]
    local = pd.Series(index=ev.index, dtype="datetime64[ns]")
    for cid, idx in ev.groupby("couple_id").groups.items():
        local.loc[idx] = ev.loc[idx, "ts"].dt.tz_convert(zones[cid]).dt.tz_localize(None)
    bids = local[ev["code"] == "bid"]
    hours = bids.dt.hour.value_counts(normalize=True)
    assert hours.get(3, 0) == 0
    assert hours.loc[[7, 8]].sum() > hours.loc[[13, 14]].sum()  # morning peak
    assert hours.loc[[19, 20]].sum() > hours.loc[[13, 14]].sum()  # evening peak
    per_day = bids.dt.normalize().value_counts()
    weekend = per_day.index.day_of_week >= 5
    assert per_day[weekend].mean() > per_day[~weekend].mean() * 1.15
    per_couple_day = len(ev) / (8 * 180)
    assert 12 <= per_couple_day <= 20


# --------------------------------------------------------------------------- episodes


def episode_events(ev: pd.DataFrame, row) -> pd.DataFrame:
    e = ev[(ev["couple_id"] == row.couple_id) & (ev["ts"] >= row.start) & (ev["ts"] <= row.end)]
    return e


def test_truth_episodes_exist_in_events(sim):
    ev = with_family(sim.events)
    ep = sim.truth["episodes"]
    assert len(ep) > 50
    assert ep["episode_id"].is_unique
    for row in ep.itertuples():
        e = episode_events(ev, row)
        pw = e[e["family"].isin(["pursue", "withdraw"])]
        assert len(pw) == 2 * row.rounds
        assert (pw["family"].to_numpy() == ["pursue", "withdraw"] * row.rounds).all()
        assert (pw["actor"].to_numpy() == [row.pursuer, row.withdrawer] * row.rounds).all()
        assert e["ts"].iloc[0] == row.start and e["ts"].iloc[-1] == row.end
        gaps = e["ts"].diff().dropna()
        assert gaps.min() >= pd.Timedelta("1min") and gaps.max() <= pd.Timedelta("20min")
        last = e.iloc[-1]
        if row.ended_by == "timeout":
            assert len(e) == 2 * row.rounds and last["family"] == "withdraw"
        elif row.ended_by in ("repair", "toward"):
            assert len(e) == 2 * row.rounds + 1
            assert last["code"] == row.ended_by and last["actor"] == row.withdrawer
        else:
            assert last["family"] == "against"
        # intensities rise over the pursue/withdraw moves
        x = pw["intensity"].to_numpy()
        assert x[-1] > x[0] and stats.spearmanr(np.arange(x.size), x).statistic > 0.5
        assert (e["topic"].fillna("") == row.topic).all()


def test_no_other_events_within_three_hours(sim):
    ev = sim.events
    for row in sim.truth["episodes"].itertuples():
        c = ev[ev["couple_id"] == row.couple_id]
        before = c[(c["ts"] >= row.start - pd.Timedelta("3h")) & (c["ts"] < row.start)]
        after = c[(c["ts"] > row.end) & (c["ts"] <= row.end + pd.Timedelta("3h"))]
        assert after.empty
        if row.topic:
            assert before["code"].tolist() == ["conflict"]
            assert before["ts"].iloc[0] >= row.start - pd.Timedelta("10min")
            assert before["topic"].isna().iloc[0] or before["topic"].iloc[0] == row.topic
        else:
            assert before.empty


def planted_rounds_outside(ev: pd.DataFrame, episodes: pd.DataFrame) -> int:
    """Adjacent pursue(X) -> withdraw(Y != X) pairs outside planted episodes."""
    ev = with_family(ev).reset_index(drop=True)
    ev["row"] = np.arange(len(ev))
    ep = episodes.sort_values("start")[["couple_id", "start", "end"]]
    ep = ep.astype({"couple_id": ev["couple_id"].dtype})
    m = pd.merge_asof(
        ev.sort_values("ts"),
        ep,
        left_on="ts",
        right_on="start",
        by="couple_id",
        direction="backward",
    ).sort_values("row")
    inside = (m["end"].notna() & (m["ts"] <= m["end"])).to_numpy()
    pw = ev[~inside & ev["family"].isin(["pursue", "withdraw"])]
    prev = pw.groupby("couple_id")[["family", "actor"]].shift(1)
    pairs = (
        (prev["family"] == "pursue") & (pw["family"] == "withdraw") & (prev["actor"] != pw["actor"])
    )
    return int(pairs.sum())


def test_episodes_only_where_planted(big):
    ep = big.truth["episodes"]
    arch = big.truth["couples"].set_index("couple_id")["archetype"]
    assert set(arch[ep["couple_id"].unique()]) == {"pursue_withdraw", "conflict_heavy", "improving"}
    assert planted_rounds_outside(big.events, ep) == 0
    # the same count over ALL events finds exactly the planted rounds
    assert planted_rounds_outside(big.events, ep.iloc[:0]) == ep["rounds"].sum()
    # secure couples do have isolated pursue-family and withdraw-family moves
    ev = with_family(big.events)
    secure = ev[ev["couple_id"].map(arch).eq("secure")]
    assert (secure["family"] == "pursue").sum() > 20
    assert secure["code"].isin(["withdraw", "stonewall"]).sum() > 20


def test_episode_rates_and_roles(big):
    ep = big.truth["episodes"].merge(big.truth["couples"], on="couple_id")
    weeks = 180 / 7
    per_week = ep.groupby(["couple_id", "archetype"]).size() / weeks
    by_arch = per_week.groupby(level="archetype").mean()
    assert 2.0 <= by_arch["pursue_withdraw"] <= 4.0
    assert 1.4 <= by_arch["conflict_heavy"] <= 2.6
    assert (ep["rounds"].between(2, 6)).all()
    assert set(ep["ended_by"]) == {"repair", "toward", "against", "timeout"}
    pw = ep[ep["archetype"] == "pursue_withdraw"]
    share = (pw["pursuer_x"] == pw["pursuer_y"]).groupby(pw["couple_id"]).mean()
    assert share.between(0.7, 0.97).all() and share.mean() == pytest.approx(0.85, abs=0.06)
    ch = ep[ep["archetype"] == "conflict_heavy"]
    mixed = ch.groupby("couple_id")["pursuer_x"].apply(lambda s: s.str.endswith("-a").mean())
    assert mixed.between(0.25, 0.75).all()
    imp = ep[ep["archetype"] == "improving"]
    cut = pd.to_datetime(imp["intervention_date"]).dt.tz_localize("UTC")
    days_before = (cut - pd.Timestamp("2026-01-05", tz="UTC")).dt.days
    before = (imp["start"] < cut).groupby(imp["couple_id"]).sum() / (days_before.iloc[0] / 7)
    after = (imp["start"] >= cut).groupby(imp["couple_id"]).sum() / (
        (180 - days_before.iloc[0]) / 7
    )
    assert before.mean() == pytest.approx(2.0, abs=0.6)
    assert after.mean() == pytest.approx(0.5, abs=0.4)
    assert planted_main_pursuer_empty(big)


def planted_main_pursuer_empty(s) -> bool:
    c = s.truth["couples"]
    main = c["pursuer"] != ""
    return set(c.loc[main, "archetype"]) == {"pursue_withdraw", "improving"}


def test_self_reported_cycle_days(big):
    ch = big.checkins
    zones = ch.attrs["timezones"]
    ch = ch.assign(day=diary_day(ch["ts"], ch["couple_id"], zones))
    ep = big.truth["episodes"]
    ep_day = diary_day(ep["start"], ep["couple_id"], zones)
    pursuer_days = set(zip(ep["pursuer"], ep_day, strict=True))
    withdrawer_days = set(zip(ep["withdrawer"], ep_day, strict=True))
    key = list(zip(ch["partner"], ch["day"], strict=True))
    on_p = np.array([k in pursuer_days for k in key])
    on_w = np.array([k in withdrawer_days for k in key])
    assert ch.loc[on_p, "pursued"].mean() > 0.5 > ch.loc[~on_p, "pursued"].mean()
    assert ch.loc[on_w, "withdrew"].mean() > 0.5 > ch.loc[~on_w, "withdrew"].mean()
    arch = ch["couple_id"].map(big.truth["couples"].set_index("couple_id")["archetype"])
    pwc = (arch == "pursue_withdraw").to_numpy()
    assert on_p[pwc & ch["pursued"].to_numpy(bool)].mean() > 0.6  # mostly on episode days


# --------------------------------------------------------------------------- conflicts


def test_note_phrases_match_their_topic_only():
    assert set(NOTE_PHRASES) == set(TOPICS)
    for topic, phrases in NOTE_PHRASES.items():
        assert phrases
        for p in phrases:
            found = lexicon_topics(p)
            assert found == (set() if topic == "other" else {topic}), (topic, p, found)
    for name in NOTE_NAMES:
        assert lexicon_topics(name) == set() and name.isascii()
    assert len(PROMPTS) == 8 and len(set(PROMPTS)) == 8


def test_conflicts_reported_in_checkins(sim):
    ev = sim.events
    zones = ev.attrs["timezones"]
    conf = ev[ev["code"] == "conflict"].copy()
    conf["day"] = diary_day(conf["ts"], conf["couple_id"], zones)
    assert not conf.duplicated(["couple_id", "day"]).any()  # at most one a day
    ch = sim.checkins.copy()
    ch["day"] = diary_day(ch["ts"], ch["couple_id"], zones)
    assert not ch.duplicated(["partner", "day"]).any()  # one check-in per partner-day
    rep = ch[ch["conflict"].astype(bool)]
    per_day = (
        rep.groupby(["couple_id", "day"])
        .agg(
            topic=("conflict_topic", "first"),
            n_topic=("conflict_topic", "nunique"),
            repaired=("repaired", "first"),
            n_rep=("repaired", "nunique"),
            reporters=("partner", "nunique"),
            intensity=("conflict_intensity", "first"),
        )
        .reset_index()
    )
    assert (per_day["n_topic"] == 1).all() and (per_day["n_rep"] == 1).all()
    m = conf.merge(per_day, on=["couple_id", "day"], how="outer", indicator=True)
    assert (m["_merge"] == "both").all()  # every conflict reported, no phantom reports
    tagged = m["topic_x"].notna()
    assert (m.loc[tagged, "topic_x"] == m.loc[tagged, "topic_y"]).all()
    assert m["intensity_x"].to_numpy() == pytest.approx(m["intensity_y"].to_numpy())
    both = (per_day["reporters"] == 2).mean()
    assert 0.3 < both < 0.7  # sometimes both partners report it, sometimes one
    blank = m["topic_x"].isna().mean()
    assert 0.12 < blank < 0.28
    # the note recovers the topic where the tag is empty (and agrees where it is not)
    rec = m["note"].map(lambda n: sorted(lexicon_topics(n)) or ["other"])
    assert (rec.map(lambda t: t[0]) == m["topic_y"]).all()
    assert (rec.map(len) == 1).all()
    assert m["note"].str.contains("|".join(NOTE_NAMES)).mean() > 0.1
    assert conf["intensity"].between(0, 1).all()


def checkin_conflicts(ch: pd.DataFrame) -> pd.DataFrame:
    zones = ch.attrs["timezones"]
    rep = ch[ch["conflict"].astype(bool)].copy()
    rep["day"] = diary_day(rep["ts"], rep["couple_id"], zones)
    return (
        rep.sort_values("ts")
        .groupby(["couple_id", "day"], as_index=False)
        .agg(topic=("conflict_topic", "first"), repaired=("repaired", "first"), ts=("ts", "first"))
    )


def test_resurfacing_truth_follows_the_rule(big):
    """Independent recomputation from the check-ins: previous same-topic conflict repaired."""
    c = checkin_conflicts(big.checkins).sort_values(["couple_id", "topic", "day"])
    prev = c.groupby(["couple_id", "topic"])["repaired"].shift(1)
    mine = c[prev.eq(True).fillna(False).to_numpy(bool)].groupby(["couple_id", "topic"]).size()
    truth = big.truth["resurfacing"].groupby(["couple_id", "topic"]).size()
    assert mine.sort_index().to_dict() == truth.sort_index().to_dict()
    assert len(big.truth["resurfacing"]) > 50
    # the ts are the conflict markers' times
    ev = big.events
    markers = set(
        zip(
            ev.loc[ev["code"] == "conflict", "couple_id"],
            ev.loc[ev["code"] == "conflict", "ts"],
            strict=True,
        )
    )
    assert all((r.couple_id, r.ts) in markers for r in big.truth["resurfacing"].itertuples())


def test_topics_truth(big):
    c = checkin_conflicts(big.checkins)
    iso = c["day"].dt.isocalendar()
    c["week"] = iso["year"] * 100 + iso["week"]
    mine = c.groupby(["couple_id", "topic"]).agg(
        conflicts=("day", "size"), weeks_active=("week", "nunique")
    )
    truth = big.truth["topics"].set_index(["couple_id", "topic"])
    pd.testing.assert_frame_equal(
        mine.sort_index(),
        truth[["conflicts", "weeks_active"]].sort_index(),
        check_names=False,
        check_dtype=False,
        check_index_type=False,
    )
    t = big.truth["topics"].merge(big.truth["couples"], on="couple_id")
    n_weeks = 27  # ISO weeks touched by 180 days from Monday 2026-01-05 (26 weeks, 5 days)
    share = t["weeks_active"] / n_weeks
    perp = t[t["kind"] == "perpetual"]
    assert set(perp["archetype"]) == {"conflict_heavy"}
    assert (share[perp.index] >= 0.7).all()
    ch_couples = t.loc[t["archetype"] == "conflict_heavy", "couple_id"].unique()
    kinds = t[t["couple_id"].isin(ch_couples)].groupby("couple_id")["kind"].agg(set)
    assert all({"perpetual", "resurfacing"} <= k for k in kinds)
    assert (share[t["kind"] == "occasional"] < 0.5).all()  # nothing else looks perpetual
    secure = t[t["archetype"] == "secure"].groupby("couple_id")["conflicts"].sum()
    assert (secure < 25).all()
    res = t[t["kind"] == "resurfacing"]
    r = big.truth["resurfacing"].merge(res[["couple_id", "topic"]])
    assert r.groupby("couple_id").size().reindex(res["couple_id"]).fillna(0).ge(1).all()


# --------------------------------------------------------------------------- check-ins


def daily_couple_connection(ch: pd.DataFrame, cid: str) -> pd.Series:
    c = ch[ch["couple_id"] == cid]
    day = diary_day(c["ts"], c["couple_id"], ch.attrs["timezones"])
    return c.groupby(day)["connection"].mean()


def test_connection_change_points_and_intervention(big):
    """Step sizes recovered by OLS on a step dummy (statsmodels), flat for secure couples."""
    ch = big.checkins
    steps, flats = [], []
    for row in big.truth["couples"].itertuples():
        y = daily_couple_connection(ch, row.couple_id)
        date = row.change_point or row.intervention_date
        if date:
            x = (y.index >= pd.Timestamp(date)).astype(float)
            fit = sm.OLS(y.to_numpy(), sm.add_constant(x)).fit()
            size = row.change_size if row.change_point else row.intervention_effect
            steps.append((fit.params[1], size))
        elif row.archetype == "secure":
            t = np.arange(len(y))
            flats.append(stats.theilslopes(y.to_numpy(), t).slope * len(y))
    est = np.array(steps)
    assert est[:, 0] == pytest.approx(est[:, 1], abs=0.5)
    assert np.abs(est[:, 0] - est[:, 1]).mean() < 0.25
    assert np.abs(flats).max() < 0.6  # drift over the whole period, in points


def test_ar1_noise(big):
    ch = big.checkins
    secure = big.truth["couples"].query("archetype == 'secure'")["partner_a"]
    phis = []
    for p in secure:
        c = ch[ch["partner"] == p]
        day = diary_day(c["ts"], c["couple_id"], ch.attrs["timezones"])
        s = c.set_index(day)["connection"].asfreq("D")
        phis.append(s.autocorr(1))
    assert np.mean(phis) == pytest.approx(0.5, abs=0.15)


def test_lonely_despite_time_together(big):
    ch = big.checkins
    hits = (ch["lonely"] >= LONELY_MIN) & (ch["time_together_min"] >= TOGETHER_MIN)
    mine = hits.groupby(ch["couple_id"]).sum()
    truth = big.truth["couples"].set_index("couple_id")["lonely_together_days"]
    assert (mine.reindex(truth.index).fillna(0).astype(int) == truth).all()
    arch = big.truth["couples"].set_index("couple_id")["archetype"]
    assert (truth[arch == "pursue_withdraw"] > 3).all()
    assert (truth[arch != "pursue_withdraw"] == 0).all()
    assert stats.spearmanr(ch["lonely"], ch["connection"]).statistic < -0.5


def test_checkin_timing_and_missed(sim):
    ch = sim.checkins
    zones = ch.attrs["timezones"]
    local = pd.Series(index=ch.index, dtype="datetime64[ns]")
    for cid, idx in ch.groupby("couple_id").groups.items():
        local.loc[idx] = ch.loc[idx, "ts"].dt.tz_convert(zones[cid]).dt.tz_localize(None)
    hour = local.dt.hour
    assert hour.isin([18, 19, 20, 21, 22, 23, 0, 1, 2]).all()
    assert 0.01 < hour.isin([0, 1, 2]).mean() < 0.1  # some after midnight
    day = diary_day(ch["ts"], ch["couple_id"], zones)
    n_days = 180
    missed = 1 - len(ch) / (8 * 2 * n_days)
    assert 0.05 < missed < 0.11
    weekend = day.dt.day_of_week >= 5
    rate_we = 1 - weekend.sum() / (8 * 2 * (n_days * 2 / 7))
    rate_wd = 1 - (~weekend).sum() / (8 * 2 * (n_days * 5 / 7))
    assert rate_we > rate_wd
    asked = ch["prompt"].notna()
    assert 0.15 < asked.mean() < 0.25
    assert set(ch.loc[asked, "prompt"]) <= set(PROMPTS)
    assert ch.loc[~asked, "answer"].isna().all()
    assert 0.1 < ch.loc[asked, "answer"].isna().mean() < 0.3


def test_body_signals_higher_on_conflict_days_and_for_withdrawer(big):
    ch = big.checkins
    for sig in schema.BODY_SIGNALS:
        v = ch[sig]
        assert v.isin([0, 1, 2, 3, 4]).all()
        conflict_day = ch["conflict"].astype(bool)
        if sig != "overwhelmed":
            assert v[conflict_day].mean() > v[~conflict_day].mean() + 0.4, sig
    pw = big.truth["couples"].query("archetype == 'pursue_withdraw'")
    withdrawer = np.where(pw["pursuer"] == pw["partner_a"], pw["partner_b"], pw["partner_a"])
    is_w = ch["partner"].isin(withdrawer)
    in_pw = ch["couple_id"].isin(pw["couple_id"])
    assert ch.loc[is_w, "urge_withdraw"].mean() > ch.loc[in_pw & ~is_w, "urge_withdraw"].mean()
    assert (
        ch.loc[is_w, "overwhelmed"].ge(2).mean() > ch.loc[in_pw & ~is_w, "overwhelmed"].ge(2).mean()
    )


def test_planted_lagged_regulation_effect():
    """OLS (statsmodels) of withdrew on episode day, flag_t and flag_{t-1}: the planted
    lag-0 and lag-1 effects are recovered for the partners that carry them."""
    s = simulate_export(
        couples=40, days=180, seed=21, archetypes=["pursue_withdraw", "conflict_heavy"]
    )
    ch = s.checkins
    zones = ch.attrs["timezones"]
    ch = ch.assign(day=diary_day(ch["ts"], ch["couple_id"], zones))
    ep = s.truth["episodes"]
    wd_days = set(
        zip(ep["withdrawer"], diary_day(ep["start"], ep["couple_id"], zones), strict=True)
    )
    ch["ep_w"] = [float(k in wd_days) for k in zip(ch["partner"], ch["day"], strict=True)]
    ch["flag"] = (ch["overwhelmed"] >= 2).astype(float)
    full = ch.set_index(["partner", "day"])["flag"]
    prev_key = pd.MultiIndex.from_arrays([ch["partner"], ch["day"] - pd.Timedelta("1D")])
    ch["flag_prev"] = full.reindex(prev_key).to_numpy()
    ch = ch.dropna(subset=["flag_prev"])
    reg = s.truth["regulation"]
    assert set(reg["signal"]) == {"overwhelmed"} and (reg["threshold"] == 2).all()
    for effect, g in ch.merge(reg, on=["couple_id", "partner"], how="left").groupby("effect"):
        X = sm.add_constant(g[["ep_w", "flag", "flag_prev"]].to_numpy())
        fit = sm.OLS(g["withdrew"].astype(float).to_numpy(), X).fit()
        b_lag0, b_lag1 = fit.params[2], fit.params[3]
        se0, se1 = fit.bse[2], fit.bse[3]
        assert abs(b_lag0 - effect) < 4 * se0 + 0.01, (effect, b_lag0)
        assert abs(b_lag1 - effect) < 4 * se1 + 0.01, (effect, b_lag1)
        assert fit.params[1] == pytest.approx(0.6, abs=0.08)


# --------------------------------------------------------------------------- errors, CLI


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(couples=0), r"simulate_export: couples must be a positive integer; got 0"),
        (dict(couples=True), r"couples must be a positive integer; got True"),
        (dict(days=13), r"simulate_export: days must be an integer ≥ 14; got 13"),
        (dict(days=20.0), r"simulate_export: days must be an integer ≥ 14; got 20.0"),
        (dict(seed=-1), r"seed must be a non-negative integer; got -1"),
        (dict(seed="7"), r"seed must be a non-negative integer; got '7'"),
        (dict(start="2026-13-01"), r"start must be an ISO date .*; got '2026-13-01'"),
        (dict(archetypes=[]), r"archetypes must be a non-empty sequence"),
        (dict(archetypes="secure"), r"archetypes must be a non-empty sequence"),
        (
            dict(archetypes=["secure", "avoidant"]),
            r"archetypes must be one of \['secure', .*\]; got 'avoidant'",
        ),
    ],
)
def test_argument_errors(kwargs, match):
    args = dict(couples=2, days=14, seed=1) | kwargs
    with pytest.raises(ValueError, match=match):
        simulate_export(**args)


def test_numpy_integer_sizes_give_the_same_export(tmp_path):
    # check_int accepts NumPy integers; the checked (plain int) values must be the ones
    # used: an np.int64 `days` reached datetime.timedelta and raised a bare TypeError
    a = simulate_export(couples=np.int64(2), days=np.int64(14), seed=np.int64(1))
    b = simulate_export(couples=2, days=14, seed=1)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.checkins, b.checkins)
    simulate_export(couples=np.int32(1), days=np.int16(14), seed=3, out=tmp_path / "x")
    assert (tmp_path / "x" / "manifest.json").exists()


def test_archetypes_and_start_options():
    s = simulate_export(couples=3, days=14, seed=2, start="2026-06-01", archetypes=["improving"])
    assert s.truth["couples"]["archetype"].tolist() == ["improving"] * 3
    ch = s.checkins
    first = diary_day(ch["ts"], ch["couple_id"], ch.attrs["timezones"]).min()
    assert first == pd.Timestamp("2026-06-01")
    assert s.truth["couples"]["intervention_date"].iloc[0] == "2026-06-09"  # day round(.55*14)


def test_update_data_dictionary_errors(tmp_path):
    p = tmp_path / "README.md"
    p.write_text("no markers here\n")
    with pytest.raises(ValueError, match=r"update_data_dictionary: readme must be a file with"):
        update_data_dictionary(p)


def test_cli_simulate(tmp_path):
    from typer.testing import CliRunner

    from patterns.cli import app

    out = tmp_path / "exp"
    res = CliRunner().invoke(
        app, ["simulate", "--out", str(out), "--couples", "2", "--days", "20", "--seed", "4"]
    )
    assert res.exit_code == 0, res.output
    assert "2 couple(s)" in res.output
    direct = simulate_export(couples=2, days=20, seed=4, out=tmp_path / "direct")
    assert tree_digest(out) == tree_digest(direct.path)


def test_loads_with_the_loader_without_quarantine():
    io = pytest.importorskip("patterns.io")
    exp = io.load_export(SAMPLE)
    summary = exp.summary()
    assert (summary["rows_quarantined"] == 0).all()
    sim = simulate_export(**SAMPLE_ARGS)
    pd.testing.assert_frame_equal(exp.events.reset_index(drop=True)[sim.events.columns], sim.events)
    pd.testing.assert_frame_equal(
        exp.checkins.reset_index(drop=True)[sim.checkins.columns], sim.checkins
    )


def test_cli_simulate_options_and_errors(tmp_path):
    from typer.testing import CliRunner

    from patterns.cli import app

    runner = CliRunner()
    out = tmp_path / "imp"
    res = runner.invoke(
        app,
        [
            "simulate",
            "-o",
            str(out),
            "--couples",
            "2",
            "--days",
            "14",
            "--archetype",
            "improving",
            "--archetype",
            "secure",
            "--start",
            "2026-06-01",
        ],
    )
    assert res.exit_code == 0, res.output
    couples = pd.read_csv(out / "truth" / "couples.csv")
    assert couples["archetype"].tolist() == ["improving", "secure"]
    bad = runner.invoke(app, ["simulate", "-o", str(tmp_path / "x"), "--archetype", "nope"])
    assert bad.exit_code == 2
    assert "archetypes must be one of" in bad.output
    assert not (tmp_path / "x").exists()
    bad = runner.invoke(app, ["simulate", "-o", str(tmp_path / "y"), "--start", "soon"])
    assert bad.exit_code == 2 and "start must be an ISO date" in bad.output


def test_truth_tables_are_tidy(sim):
    from patterns.testing import assert_tidy

    for key, df in sim.truth.items():
        assert_tidy(df)
        assert df.columns[0] == "couple_id", key
    assert str(sim.truth["episodes"]["start"].dtype) == "datetime64[ns, UTC]"
    assert (sim.truth["episodes"]["end"] >= sim.truth["episodes"]["start"]).all()


def test_csv_times_match_pandas_isoformat(tmp_path):
    """The hand-written ISO 8601 writer against pandas' own isoformat (local offset)."""
    s = simulate_export(couples=4, days=120, seed=8, out=tmp_path)
    text = pd.read_csv(tmp_path / "events.csv", dtype=str, keep_default_na=False)["ts"]
    rng = np.random.default_rng(0)
    rows = rng.choice(len(text), 400, replace=False)
    zones = s.events.attrs["timezones"]
    for i in rows:
        ts = s.events["ts"].iloc[i].tz_convert(zones[s.events["couple_id"].iloc[i]])
        assert text.iloc[i] == ts.isoformat()
    ch = pd.read_csv(tmp_path / "checkins.csv", dtype=str, keep_default_na=False)
    assert ch["connection"].str.fullmatch(r"\d{1,2}\.\d").all()
    assert ch["time_together_min"].str.fullmatch(r"\d+").all()
    assert set(ch["conflict"]) == {"true", "false"}
    assert set(ch["repaired"]) == {"true", "false", ""}
