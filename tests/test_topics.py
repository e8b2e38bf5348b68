"""Tests for patterns.topics: lexicon, conflict_log, topic_recurrence, cycle_topics,
discover_topics. Oracles: hand-worked cases, independent pandas computations, and the
simulator's planted truth (topics, resurfacing)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from patterns import schema
from patterns.testing import assert_tidy, check_contract
from patterns.topics import (
    TOPICS,
    conflict_log,
    cycle_topics,
    discover_topics,
    explain_topics,
    load_lexicon,
    topic_recurrence,
    topic_weeks,
)


def primary(notes):
    """Primary topic per note through conflict_log (the public path)."""
    n = len(notes)
    ev = schema.coerce_dtypes(
        pd.DataFrame(
            {
                "couple_id": [f"c{i}" for i in range(n)],
                "actor": "a",
                "code": "conflict",
                "ts": pd.Timestamp("2026-01-05 12:00", tz="UTC"),
                "note": notes,
            }
        ),
        "events",
    )
    log = conflict_log(ev).set_index("couple_id")
    return [log.loc[f"c{i}", "topic"] for i in range(n)]


def events(rows):
    df = pd.DataFrame(
        rows, columns=["couple_id", "actor", "code", "ts", "topic", "intensity", "note"]
    )
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    return schema.coerce_dtypes(df, "events")


def checkins(rows):
    df = pd.DataFrame(
        rows,
        columns=[
            "couple_id",
            "partner",
            "ts",
            "conflict",
            "conflict_topic",
            "conflict_intensity",
            "repaired",
        ],
    )
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    return schema.coerce_dtypes(df, "checkins")


# --- lexicon ------------------------------------------------------------------------------


class TestLexicon:
    def test_shipped_lexicon_has_every_topic(self):
        lex = load_lexicon()
        assert list(lex) == list(TOPICS)
        assert all(lex[t] for t in TOPICS if t != "other")

    def test_word_boundaries_money_not_moneyless(self):
        assert primary(["we are moneyless", "money money", "homework", "networking"]) == [
            "other",
            "money",
            "parenting",
            "other",
        ]

    def test_plural_stemming_and_deliberate_stem(self):
        # bill → bills (simple plural), spend* → spending (stemmed on purpose)
        assert primary(["the BILLS", "all that spending", "dishes piled up"]) == [
            "money",
            "money",
            "chores",
        ]

    def test_stem_only_on_purpose(self):
        lex = {"money": ["money*"], "other": []}
        ex = explain_topics(["moneyless"], lexicon=lex)
        assert ex["term"].tolist() == ["money*"]
        assert explain_topics(["moneyless"], lexicon={"money": ["money"]}).empty

    @pytest.mark.parametrize(
        "note", ["the in-laws again", "her In Laws", "inlaws visit", "my mother-in-law"]
    )
    def test_in_laws_is_family(self, note):
        assert primary([note]) == ["family"]

    def test_case_and_accents(self):
        # NFKD fold: "Dépenses" is not in the lexicon, but "MÖNEY" folds to "money",
        # and a lexicon term with accents matches unaccented text and vice versa
        assert primary(["MÖNEY talk", "Mónéy"]) == ["money", "money"]
        lex = {"family": ["belle-mère"], "other": []}
        ex = explain_topics(["ma BELLE MERE", "belle-mère"], lexicon=lex)
        assert ex["row"].tolist() == [0, 1]

    def test_multiple_topics_in_one_note(self):
        ex = explain_topics(["the kids' homework and the rent"])
        assert set(ex["topic"]) == {"parenting", "money"}
        # parenting: kid + homework (2) beats money: rent (1)
        assert ex.loc[ex["primary"], "topic"].unique().tolist() == ["parenting"]
        log = conflict_log(
            events(
                [
                    [
                        "c1",
                        "a",
                        "conflict",
                        "2026-01-05 10:00",
                        None,
                        0.5,
                        "the kids' homework and the rent",
                    ]
                ]
            )
        )
        assert log.loc[0, "topic"] == "parenting"
        assert log.loc[0, "other_topics"] == "money"

    def test_phrase_outweighs_single_word(self):
        # trust phrase (4 words) beats the generic screens word "phone"
        assert primary(["he went through my phone", "always on the phone"]) == ["trust", "screens"]

    def test_empty_missing_and_huge_notes(self):
        huge = "blah " * 100_000 + "the rent"  # 500 kB
        assert primary(["", None, huge]) == ["other", "other", "money"]
        ex = explain_topics(["", None, huge])
        assert ex["row"].tolist() == [2]

    def test_explain_never_returns_text(self):
        note = "Sam lied about the money on Tuesday"
        ex = check_contract(explain_topics, pd.Series([note, None]))
        assert_tidy(ex)
        assert set(ex.columns) == {"row", "topic", "term", "count", "words", "primary"}
        cells = {str(v) for v in ex.to_numpy().ravel()}
        assert note not in cells and "Sam" not in " ".join(cells)
        # counts checked against an independent count with Python's re
        import re

        assert ex.set_index("term")["count"].to_dict() == {
            "money": len(re.findall(r"\bmoney\b", note)),
            "lied": 1,
        }

    def test_custom_lexicon_from_yaml(self, tmp_path):
        p = tmp_path / "lex.yaml"
        p.write_text(
            "topics:\n  pets:\n    - dog\n    - cat litter\n  other: []\n", encoding="utf-8"
        )
        lex = load_lexicon(p)
        assert lex == {"pets": ["dog", "cat litter"], "other": []}
        ex = explain_topics(["walking the dogs", "cat-litter"], lexicon=p)
        assert ex["topic"].tolist() == ["pets", "pets"]

    def test_lexicon_errors(self, tmp_path):
        with pytest.raises(ValueError, match="load_lexicon: path must be an existing YAML"):
            load_lexicon(tmp_path / "missing.yaml")
        bad = tmp_path / "bad.yaml"
        bad.write_text("- just a list\n", encoding="utf-8")
        with pytest.raises(ValueError, match="top-level 'topics:' mapping"):
            load_lexicon(bad)
        with pytest.raises(ValueError, match="explain_topics: lexicon must be non-empty"):
            explain_topics(["x"], lexicon={"money": [""]})
        with pytest.raises(ValueError, match="a list of terms for topic 'money'"):
            explain_topics(["x"], lexicon={"money": "cash"})
        with pytest.raises(ValueError, match="at least one topic"):
            explain_topics(["x"], lexicon={})
        with pytest.raises(ValueError, match="explain_topics: lexicon must be None, a path"):
            explain_topics(["x"], lexicon=42)


# --- conflict_log -----------------------------------------------------------------------


@pytest.fixture()
def two_tables():
    ev = events(
        [
            ["c1", "a", "conflict", "2026-01-05 18:00", "money", 0.9, "the rent"],
            ["c1", "a", "toward", "2026-01-05 18:10", None, None, None],
            ["c1", "b", "conflict", "2026-01-07 18:00", None, 0.4, "Dishes, always dishes"],
            ["c1", "a", "conflict", "2026-01-12 18:00", "Time together", 0.2, None],
            ["c2", "x", "conflict", "2026-01-05 18:00", "", 0.5, "nothing to go on"],
        ]
    )
    ci = checkins(
        [
            # both partners report the Jan 5 money conflict; one after midnight (same day)
            ["c1", "a", "2026-01-05 21:00", True, "money", 0.7, True],
            ["c1", "b", "2026-01-06 02:00", True, "Money", 0.95, False],
            # chores conflict reported without topic: adopts the day's single topic
            ["c1", "b", "2026-01-07 21:00", True, None, 0.5, True],
            # a conflict only in check-ins
            ["c1", "a", "2026-01-09 21:00", True, "work", 0.3, None],
            ["c1", "a", "2026-01-10 21:00", False, None, None, None],
        ]
    )
    return ev, ci


class TestConflictLog:
    def test_merge_and_dedupe(self, two_tables):
        ev, ci = two_tables
        log = check_contract(conflict_log, ev, ci)
        c1 = log[log["couple_id"] == "c1"].reset_index(drop=True)
        assert c1["topic"].tolist() == ["money", "chores", "work", "time_together"]
        assert c1["source"].tolist() == ["both", "both", "checkins", "events"]
        assert c1["reported_by"].tolist() == ["both", "b", "a", "a"]
        assert c1["n_reports"].tolist() == [3, 2, 1, 1]
        assert c1["topic_source"].tolist() == ["tag", "lexicon", "tag", "tag"]
        # largest intensity; repaired True if any report says so; missing when nobody said
        assert c1["intensity"].tolist() == pytest.approx([0.95, 0.5, 0.3, 0.2])
        assert c1["repaired"].tolist() == [True, True, pd.NA, pd.NA]
        # ts: the event's time, not the check-in's
        assert c1.loc[0, "ts"] == pd.Timestamp("2026-01-05 18:00", tz="UTC")
        assert c1.loc[0, "partner"] == "a"
        c2 = log[log["couple_id"] == "c2"]
        assert c2["topic"].tolist() == ["other"] and c2["topic_source"].tolist() == ["none"]

    def test_independent_count(self, two_tables):
        # oracle: distinct (couple, diary day, topic) computed with a few lines of pandas
        ev, ci = two_tables
        log = conflict_log(ev, ci)
        assert len(log) == len(log.drop_duplicates(["couple_id", "day", "topic"]))
        assert len(log) == 5

    def test_diary_day_cutoff_and_timezone(self):
        ci = checkins(
            [
                ["c1", "a", "2026-01-05 22:30", True, "money", 0.5, None],  # 23:30 CET
                ["c1", "b", "2026-01-06 01:30", True, "money", 0.5, None],  # 02:30 CET
            ]
        )
        log = conflict_log(checkins=ci, timezone={"c1": "Europe/Amsterdam"})
        assert len(log) == 1 and log.loc[0, "day"] == pd.Timestamp("2026-01-05")
        log0 = conflict_log(checkins=ci, timezone={"c1": "Europe/Amsterdam"}, cutoff_hour=0)
        assert log0["day"].tolist() == [pd.Timestamp("2026-01-05"), pd.Timestamp("2026-01-06")]
        ci.attrs["timezones"] = {"c1": "Pacific/Auckland"}  # from the loader
        log_nz = conflict_log(checkins=ci)
        assert log_nz["day"].tolist() == [pd.Timestamp("2026-01-06")]

    def test_no_free_text_by_default(self, two_tables):
        ev, ci = two_tables
        log = conflict_log(ev, ci)
        assert "note" not in log.columns
        notes = set(ev["note"].dropna())
        assert not notes & {str(v) for v in log.to_numpy().ravel()}
        with_text = conflict_log(ev, ci, include_text=True)
        assert with_text.loc[0, "note"] == "the rent"

    def test_observed_period(self, two_tables):
        ev, ci = two_tables
        log = conflict_log(ev, ci)
        assert log.attrs["observed_period"]["c1"] == ("2026-01-05", "2026-01-12")

    def test_any_index(self, two_tables):
        ev, ci = two_tables
        ev2 = ev.set_index(pd.Index([7, 7, 3, 3, 1]))
        ci2 = ci.set_index(pd.Index(["x"] * len(ci)))
        pd.testing.assert_frame_equal(conflict_log(ev2, ci2), conflict_log(ev, ci))

    def test_one_table_each(self, two_tables):
        ev, ci = two_tables
        assert set(check_contract(conflict_log, ev)["source"]) == {"events"}
        assert set(check_contract(conflict_log, checkins=ci)["source"]) == {"checkins"}

    def test_empty_inputs(self):
        log = conflict_log(schema.empty_frame("events"), schema.empty_frame("checkins"))
        assert_tidy(log)
        assert len(log) == 0

    def test_errors(self, two_tables):
        ev, ci = two_tables
        with pytest.raises(ValueError, match="conflict_log: events/checkins must be at least"):
            conflict_log()
        with pytest.raises(schema.SchemaError, match=r"events is missing columns \['code'\]"):
            conflict_log(ev.drop(columns="code"))
        with pytest.raises(schema.SchemaError, match=r"checkins is missing columns \['conflict"):
            conflict_log(checkins=ci.drop(columns=["conflict", "conflict_topic"]))
        with pytest.raises(ValueError, match="include_text must be True or False"):
            conflict_log(ev, include_text="yes")


# --- topic_recurrence ---------------------------------------------------------------------


def hand_log():
    """c1: money every week for 8 weeks (perpetual); chores 6 times in 2 weeks (frequent,
    not perpetual); c2: one-off topics."""
    days = pd.date_range("2026-01-05", periods=8, freq="7D")
    chores = pd.to_datetime(
        ["2026-01-12", "2026-01-13", "2026-01-14", "2026-01-19", "2026-01-20", "2026-01-21"]
    )
    rows = pd.DataFrame(
        {
            "couple_id": ["c1"] * 14 + ["c2"] * 2,
            "topic": ["money"] * 8 + ["chores"] * 6 + ["work", "trust"],
            "day": list(days) + list(chores) + list(pd.to_datetime(["2026-01-05", "2026-02-23"])),
            "intensity": [0.9, 0.1, 0.8, 0.2, 0.75, 0.3, 0.2, 0.1] + [0.5] * 6 + [0.9, 0.1],
            "repaired": [True, False, True, True, None, True, False, True]
            + [True] * 6
            + [None, None],
        }
    )
    rows["ts"] = (rows["day"] + pd.Timedelta(hours=18)).dt.tz_localize("UTC")
    rows["repaired"] = rows["repaired"].astype("boolean")
    return rows


class TestTopicRecurrence:
    def test_hand_worked(self):
        r = check_contract(topic_recurrence, hand_log())
        c1 = r[r["couple_id"] == "c1"].set_index("topic")
        assert c1.loc["money", "perpetual"] and not c1.loc["chores", "perpetual"]
        assert c1.loc["money", "rank"] == 1 and c1.loc["chores", "rank"] == 2
        assert c1.loc["money", "conflicts"] == 8 and c1.loc["money", "weeks_active"] == 8
        assert c1.loc["chores", "weeks_active"] == 2
        assert c1.loc["money", "observed_weeks"] == 8
        # resurfaced: previous conflict marked repaired → rows 2,4,5(prev True),7
        # repaired seq T F T T NA T F T → next-after-True at idx 1,3,4,6 → 4
        assert c1.loc["money", "resurfaced"] == 4
        assert c1.loc["chores", "resurfaced"] == 5
        assert c1.loc["money", "median_days_between"] == 7.0
        assert c1.loc["chores", "median_days_between"] == 1.0
        # escalation: intensity ≥ 0.7 → 0.9, 0.8, 0.75 → 3/8
        assert c1.loc["money", "escalation_share"] == pytest.approx(3 / 8)
        assert c1.loc["money", "repair_share"] == pytest.approx(5 / 7)
        c2 = r[r["couple_id"] == "c2"]
        assert not c2["perpetual"].any()

    def test_against_independent_pandas(self):
        log = hand_log()
        r = topic_recurrence(log).set_index(["couple_id", "topic"]).sort_index()
        # independent oracle, written the obvious way with groupby/apply
        s = log.sort_values("ts")
        rows = {}
        for key, g in s.groupby(["couple_id", "topic"]):
            rep = g["repaired"].tolist()
            rows[key] = {
                "conflicts": len(g),
                "resurfaced": sum(1 for i in range(1, len(rep)) if rep[i - 1] is True),
                "median_days_between": float(np.median(np.diff(g["day"]) / np.timedelta64(1, "D")))
                if len(g) > 1
                else np.nan,
                "weeks_active": g["day"].dt.isocalendar().week.nunique(),
            }
        exp = pd.DataFrame(rows).T.sort_index()
        exp.index.names = ["couple_id", "topic"]
        for col in exp.columns:
            np.testing.assert_allclose(r[col].astype(float), exp[col].astype(float))

    def test_perpetual_needs_span_not_frequency(self):
        log = hand_log()
        r = topic_recurrence(log, perpetual_share=0.2, span_share=0.75)
        c1 = r[r["couple_id"] == "c1"].set_index("topic")
        # chores: 2 of 8 weeks (0.25 ≥ 0.2) but spans 10 of 50 days → not perpetual
        assert not c1.loc["chores", "perpetual"]
        r2 = topic_recurrence(log, perpetual_share=0.2, span_share=0.1)
        assert r2.set_index(["couple_id", "topic"]).loc[("c1", "chores"), "perpetual"]

    def test_period_from_conflict_log(self, two_tables):
        ev, ci = two_tables
        log = conflict_log(ev, ci)
        r = topic_recurrence(log)
        assert r.loc[r["couple_id"] == "c1", "observed_weeks"].unique().tolist() == [2]
        longer = topic_recurrence(log, period={"c1": ("2026-01-05", "2026-03-01")})
        assert longer.loc[longer["couple_id"] == "c1", "observed_weeks"].unique().tolist() == [8]

    def test_raw_events_accepted(self, two_tables):
        ev, _ = two_tables
        pd.testing.assert_frame_equal(topic_recurrence(ev), topic_recurrence(conflict_log(ev)))

    def test_against_in_session_escalates(self):
        ev = events(
            [
                ["c1", "a", "conflict", "2026-01-05 18:00", "money", 0.1, None],
                ["c1", "b", "criticize", "2026-01-05 18:30", None, 0.2, None],
                ["c1", "a", "contempt", "2026-01-05 19:45", None, 0.3, None],
                ["c1", "a", "conflict", "2026-01-12 18:00", "money", 0.1, None],
                ["c1", "b", "toward", "2026-01-12 18:05", None, None, None],
                ["c1", "b", "against", "2026-01-12 22:00", None, None, None],  # > 2h later
            ]
        )
        log = conflict_log(ev)
        plain = topic_recurrence(log)
        assert plain.loc[0, "escalation_share"] == 0.0
        with_ev = check_contract(topic_recurrence, log, events=ev)
        assert with_ev.loc[0, "escalated"] == 1
        assert with_ev.loc[0, "escalation_share"] == pytest.approx(0.5)

    @pytest.mark.parametrize("seed", range(6))
    def test_against_in_session_equals_merge_asof(self, seed):
        # the vectorised session match against the pandas formulation it replaced
        # (merge_asof by couple, backward), on shuffled events with tied times, couples
        # without events, conflicts before a couple's first event and after a long gap
        from patterns.topics import _against_in_session

        rng = np.random.default_rng(seed)
        n = 400
        t0 = pd.Timestamp("2026-01-05", tz="UTC")
        minutes = np.sort(rng.integers(0, 3 * 24 * 60, n)) * (rng.random(n) < 0.9)
        ev = pd.DataFrame(
            {
                "couple_id": rng.choice(["c1", "c2", "c10", "x"], n),
                "ts": t0 + pd.to_timedelta(minutes, unit="min"),
                "code": rng.choice(["bid", "toward", "criticize", "contempt", "conflict"], n),
            }
        ).sample(frac=1, random_state=seed)
        ev = schema.coerce_dtypes(ev, "events") if seed % 2 else ev
        c = pd.DataFrame(
            {
                "couple_id": rng.choice(["c1", "c2", "c10", "none"], 60),
                "ts": t0 + pd.to_timedelta(rng.integers(-60, 3 * 24 * 60 + 60, 60), unit="min"),
            },
            index=rng.permutation(60) + 100,
        )
        c.loc[c.index[:10], "ts"] = ev["ts"].iloc[:10].to_numpy()  # at an event's time
        gap = pd.Timedelta("2h")
        got = _against_in_session(c, ev, gap)
        # reference: the earlier pandas formulation
        e = ev.assign(
            couple_id=ev["couple_id"].astype("string"),
            code=ev["code"].astype(str),
            ts=ev["ts"].dt.as_unit("ns"),  # (merge_asof needs one unit on both sides)
        )
        e = e.sort_values(["couple_id", "ts"], kind="stable").reset_index(drop=True)
        cid, ts = e["couple_id"].to_numpy(object), e["ts"].to_numpy("datetime64[ns]")
        gaps = np.r_[True, (ts[1:] - ts[:-1]) > gap.to_timedelta64()]
        e["session"] = np.cumsum(np.r_[True, cid[1:] != cid[:-1]] | gaps)
        e["_against"] = e["code"].map(schema._FAMILY_OF).eq("against")
        last = e[e["_against"]].groupby("session")["ts"].max().rename("_last")
        ends = e.groupby("session")["ts"].agg(["min", "max"])
        probe = c.assign(couple_id=c["couple_id"].astype("string"), ts=c["ts"].dt.as_unit("ns"))
        probe = probe.reset_index()
        m = pd.merge_asof(
            probe.sort_values("ts"),
            e[["couple_id", "ts", "session"]].sort_values("ts"),
            on="ts",
            by="couple_id",
            direction="backward",
        ).set_index("index")
        m = m.join(ends, on="session").join(last, on="session")
        inside = m["session"].notna() & m["ts"].le(m["max"])
        want = m["_last"].ge(m["ts"]).fillna(False).astype("boolean").where(inside)
        pd.testing.assert_series_equal(got, want.reindex(c.index), check_names=False)
        assert got.notna().any() and got.isna().any() and got.fillna(False).any()

    def test_against_in_session_no_conflicts_with_events(self):
        # an export without conflicts: the per-couple search loop got no couples (zip of
        # an empty and a one-element array raised ValueError); same table as without events
        ev = events(
            [
                ["c1", "a", "bid", "2026-01-05 18:00", None, None, None],
                ["c1", "b", "contempt", "2026-01-05 18:30", None, None, None],
            ]
        )
        none = conflict_log(ev)
        assert len(none) == 0
        pd.testing.assert_frame_equal(
            topic_recurrence(none, events=ev), topic_recurrence(none), check_dtype=False
        )
        pd.testing.assert_frame_equal(
            topic_weeks(none, events=ev), topic_weeks(none), check_dtype=False
        )

    def test_against_in_session_code_outside_vocabulary(self):
        # a code outside the vocabulary is simply not against-family (as a "bid" in its
        # place); it raised "boolean value of NA is ambiguous" from the family lookup
        rows = [
            ["c1", "a", "conflict", "2026-01-05 18:00", "money", 0.1, None],
            ["c1", "b", "sigh", "2026-01-05 18:10", None, None, None],
            ["c1", "a", "contempt", "2026-01-05 18:30", None, None, None],
            ["c1", "a", "conflict", "2026-01-12 18:00", "money", 0.1, None],
            ["c1", "b", "sigh", "2026-01-12 18:05", None, None, None],
        ]
        odd = pd.DataFrame(
            rows, columns=["couple_id", "actor", "code", "ts", "topic", "intensity", "note"]
        ).assign(ts=lambda d: pd.to_datetime(d["ts"], utc=True))
        log = conflict_log(events([r for r in rows if r[2] == "conflict"]))
        got = topic_recurrence(log, events=odd)
        want = topic_recurrence(log, events=odd.assign(code=odd["code"].replace("sigh", "bid")))
        pd.testing.assert_frame_equal(got, want)
        assert got.loc[0, "escalated"] == 1 and got.loc[0, "escalation_share"] == 0.5

    def test_against_in_session_spans_beyond_int64_nanoseconds(self):
        # events 560 years apart: t[1:] - t[:-1] wrapped around int64 to a negative gap,
        # so one session ran from 1690 to 2250 and a conflict after the 1690 event's
        # session (NA: no events follow it) was matched to the 2250 contempt (True)
        from patterns.topics import _against_in_session

        ts = ["1690-01-01 00:00", "2250-01-01 00:00", "2250-01-01 00:10"]
        ev = pd.DataFrame(
            {
                "couple_id": "c1",
                "ts": pd.to_datetime(ts, utc=True),
                "code": ["bid", "bid", "contempt"],
            }
        )
        at = pd.to_datetime(["1690-01-01 05:00", "2250-01-01 00:05"], utc=True)
        c = pd.DataFrame({"couple_id": pd.array(["c1", "c1"], dtype="string"), "ts": at})
        got = _against_in_session(c, ev, pd.Timedelta("2h"))
        assert got.isna().tolist() == [True, False] and bool(got.iloc[1])

    def test_errors(self):
        log = hand_log()
        gt0 = "must be a number greater than 0 and at most 1"
        with pytest.raises(ValueError, match=f"topic_recurrence: perpetual_share {gt0}; got 0"):
            topic_recurrence(log, perpetual_share=0)
        with pytest.raises(ValueError, match=f"span_share {gt0}; got 1.5"):
            topic_recurrence(log, span_share=1.5)
        inclusive = "escalation_threshold must be a number between 0 and 1 inclusive"
        with pytest.raises(ValueError, match=inclusive):
            topic_recurrence(log, escalation_threshold=2)
        # bools were accepted as 0/1 shares before the shared rule (errors.check_fraction)
        for bad in (True, False, np.nan):
            with pytest.raises(ValueError, match=inclusive):
                topic_recurrence(log, escalation_threshold=bad)
            with pytest.raises(ValueError, match=f"topic_weeks: {inclusive}"):
                topic_weeks(log, escalation_threshold=bad)
        with pytest.raises(ValueError, match=f"perpetual_share {gt0}; got True"):
            topic_recurrence(log, perpetual_share=True)
        with pytest.raises(ValueError, match="min_conflicts must be a positive integer; got 0"):
            topic_recurrence(log, min_conflicts=0)
        for bad in (True, 2.0):  # True counted as 1 before errors.check_int
            with pytest.raises(ValueError, match="min_conflicts must be a positive integer"):
                topic_recurrence(log, min_conflicts=bad)
        # the closed ends and NumPy scalars are accepted
        pd.testing.assert_frame_equal(
            topic_recurrence(log, perpetual_share=np.float32(1), escalation_threshold=np.int64(0)),
            topic_recurrence(log, perpetual_share=1.0, escalation_threshold=0.0),
        )
        with pytest.raises(ValueError, match="session_gap must be a positive duration"):
            topic_recurrence(log, session_gap="0h")
        with pytest.raises(ValueError, match="session_gap must be a duration such as"):
            topic_recurrence(log, session_gap="soon")
        with pytest.raises(ValueError, match="conflicts must be a DataFrame"):
            topic_recurrence([1, 2])
        with pytest.raises(schema.SchemaError, match=r"missing columns \['topic'\]"):
            topic_recurrence(log.drop(columns="topic"))


def test_cycle_topics_matches_value_counts():
    ep = pd.DataFrame(
        {"couple_id": ["c1"] * 4 + ["c2"], "topic": ["money", "chores", "money", None, "work"]}
    )
    r = check_contract(cycle_topics, ep)
    vc = ep.fillna({"topic": "none"}).value_counts(["couple_id", "topic"])
    got = r.set_index(["couple_id", "topic"])["episodes"]
    assert got.to_dict() == vc.to_dict()
    assert r.loc[r["couple_id"] == "c1", "share"].sum() == pytest.approx(1.0)
    with pytest.raises(schema.SchemaError, match="cycle_topics: episodes is missing"):
        cycle_topics(ep.drop(columns="topic"))


def test_discover_topics_recovers_two_themes():
    notes = [
        "late rent and the credit card",
        "rent due, credit card maxed",
        "credit card bill and rent",
    ] * 4 + ["kids bedtime chaos", "bedtime with the kids again", "kids refuse bedtime"] * 4
    d = check_contract(discover_topics, notes, n_topics=2, n_terms=6, seed=1)
    tops = d[d["term_rank"] == 1]["term"].tolist()
    assert len(set(tops)) == 2
    assert set(d["known_topic"].dropna()) <= {"money", "parenting"}
    joined = " ".join(d["term"])
    assert "rent" in joined and ("bedtime" in joined or "kids" in joined)
    with pytest.raises(ValueError, match="discover_topics: n_topics must be a positive integer"):
        discover_topics(notes, n_topics=0)
    for kw in ({"n_topics": True}, {"n_terms": 3.0}, {"n_terms": 0}):
        with pytest.raises(ValueError, match=f"{next(iter(kw))} must be a positive integer"):
            discover_topics(notes, **kw)
    with pytest.raises(ValueError, match="discover_topics: seed must be a non-negative integer"):
        discover_topics(notes, seed=None)
    with pytest.raises(ValueError, match="at least two non-empty notes"):
        discover_topics(["", "only one"])
    with pytest.raises(ValueError, match="discover_topics: redact_names must be True or False"):
        discover_topics(notes, redact_names="no")


def test_discover_topics_does_not_propose_names():
    notes = [
        "argued with Robin about rent",
        "rent again, Robin upset",
        "money talk with Robin, rent late",
        "Robin and I fought about the credit card",
        "kids bedtime, jamie cried",
        "jamie refused bedtime",
        "kids bedtime with jamie",
    ] * 3
    plain = " ".join(discover_topics(notes, n_topics=2, redact_names=False)["term"])
    assert "robin" in plain and "jamie" in plain  # the names would surface
    safe = discover_topics(notes, n_topics=2, names=["Jamie"])
    joined = " ".join(safe["term"])
    assert "robin" not in joined  # capitalised: removed by the heuristic
    assert "jamie" not in joined  # lower case here: removed because it is listed
    assert "rent" in joined and "bedtime" in joined


# --- against the simulator's planted truth -----------------------------------------------

simulate = pytest.importorskip("patterns.simulate")


def test_lexicon_covers_simulator_phrase_bank():
    # every phrase of a topic is placed on that topic by the lexicon alone (no tag), and
    # "other" phrases match nothing; the lexicon itself is generic (no phrase is a term)
    phrases = [(t, p) for t, ps in simulate.NOTE_PHRASES.items() for p in ps]
    got = primary([p for _, p in phrases])
    assert got == [t for t, _ in phrases]
    lex_terms = {term for terms in load_lexicon().values() for term in terms}
    assert not lex_terms & {p for _, p in phrases}
    # names in notes never decide a topic
    assert primary([f"{n} said nothing much" for n in simulate.NOTE_NAMES]) == ["other"] * len(
        simulate.NOTE_NAMES
    )


@pytest.fixture(scope="module", params=[0, 5, 11])
def sim(request):
    return simulate.simulate_export(couples=4, days=120, seed=request.param)


def test_conflicts_and_weeks_match_truth(sim):
    log = check_contract(conflict_log, sim.events, sim.checkins)
    rec = check_contract(topic_recurrence, log, events=sim.events)
    truth = sim.truth["topics"]
    m = truth.merge(
        rec, on=["couple_id", "topic"], how="outer", suffixes=("_truth", ""), indicator=True
    )
    assert (m["_merge"] == "both").all(), m[m["_merge"] != "both"]
    assert (m["conflicts"] == m["conflicts_truth"]).all()
    assert (m["weeks_active"] == m["weeks_active_truth"]).all()
    # no note text in any result
    notes = set(sim.events["note"].dropna())
    for frame in (log, rec):
        assert not notes & {str(v) for v in frame.to_numpy().ravel()}


def test_resurfacing_counted_exactly(sim):
    rec = topic_recurrence(conflict_log(sim.events, sim.checkins))
    expected = sim.truth["resurfacing"].groupby(["couple_id", "topic"]).size()
    got = rec.set_index(["couple_id", "topic"])["resurfaced"]
    got = got[got > 0]
    assert got.to_dict() == expected.to_dict()
    assert got.sum() == len(sim.truth["resurfacing"])


def test_planted_perpetual_topics_rank_first_and_only_they_are_flagged(sim):
    rec = topic_recurrence(conflict_log(sim.events, sim.checkins))
    truth = sim.truth["topics"]
    arche = sim.truth["couples"].set_index("couple_id")["archetype"]
    for cid, r in rec.groupby("couple_id"):
        planted = set(
            truth.loc[(truth["couple_id"] == cid) & (truth["kind"] == "perpetual"), "topic"]
        )
        flagged = set(r.loc[r["perpetual"], "topic"])
        assert flagged == planted, (cid, arche[cid])
        top = set(r.nsmallest(len(planted), "rank")["topic"])
        assert top == planted
        if arche[cid] != "conflict_heavy":  # no recurring topics planted → no flag
            assert not r["perpetual"].any()
        res_topic = truth.loc[
            (truth["couple_id"] == cid) & (truth["kind"] == "resurfacing"), "topic"
        ]
        for t in res_topic:  # comes back after a repair, but is not perpetual
            row = r.set_index("topic").loc[t]
            assert row["resurfaced"] >= 1 and not row["perpetual"]


def test_topic_weeks_add_up_to_recurrence(sim):
    log = conflict_log(sim.events, sim.checkins)
    weeks = check_contract(topic_weeks, log, events=sim.events)
    rec = topic_recurrence(log, events=sim.events).set_index(["couple_id", "topic"])
    tot = weeks.groupby(["couple_id", "topic"])[["conflicts", "resurfaced", "escalated"]].sum()
    joined = tot.join(rec.add_suffix("_rec"))
    assert (joined["conflicts"] == joined["conflicts_rec"]).all()
    assert (joined["resurfaced"] == joined["resurfaced_rec"]).all()
    assert (joined["escalated"] == joined["escalated_rec"]).all()
    n_weeks = weeks.groupby(["couple_id", "topic"]).size()
    assert (n_weeks == rec["weeks_active"].reindex(n_weeks.index)).all()
    assert (weeks["week_start"].dt.day_of_week == 0).all()
    with pytest.raises(ValueError, match="topic_weeks: conflicts must be a DataFrame"):
        topic_weeks(None)


def test_cycle_topics_recovers_planted_episode_topics(sim):
    pytest.importorskip("patterns.cycles")
    got = check_contract(cycle_topics, sim.events)
    # planted: every episode's marker topic (tagged or only in the note), "" = no marker
    truth = sim.truth["episodes"]
    exp = truth.assign(topic=truth["topic"].fillna("").replace("", "none")).value_counts(
        ["couple_id", "topic"]
    )
    assert got.set_index(["couple_id", "topic"])["episodes"].to_dict() == exp.to_dict()
    with pytest.raises(ValueError, match="cycle_topics: data must be an events or episodes"):
        cycle_topics("events.csv")


def test_assign_topics_per_distinct_pair_equals_row_by_row():
    # topics are computed once per distinct (tag, note) and broadcast: same frame as
    # computing every row (repeats, missing and empty values, unknown tags, odd index)
    from patterns.topics import _assign_topics, _assign_topics_rows, _default_lexicon

    tags = ["money", None, "Kids", "", "weird label", None, "money", "chores", None, "Kids"]
    notes = [None, "fought about the bills", None, "mother-in-law", None, None, None,
             "dishes again", "fought about the bills", "", ]  # fmt: skip
    tag = pd.Series(tags * 3, dtype="string", index=np.arange(30)[::-1] * 7)
    note = pd.Series(notes * 3, dtype="string", index=tag.index)
    lex = _default_lexicon()
    got = _assign_topics(tag, note, lex)
    want = _assign_topics_rows(tag, note, lex)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got.loc[tag.index[1], "topic"] == "money" and got["topic"].nunique() > 3


def test_adopt_day_topic_integer_path_equals_groupby_merge():
    # integer (couple, day) codes == the string groupby + merge, on random rows with
    # untopiced reports, days with one / several known topics, and a missing-day fallback
    from patterns.topics import _adopt_day_topic, _adopt_day_topic_frames

    rng = np.random.default_rng(3)
    n = 300
    src = rng.choice(["tag", "lexicon", "none", "none"], n)
    rows = pd.DataFrame(
        {
            "couple_id": pd.array(rng.choice(["c1", "c2", "c10"], n), dtype="string"),
            "day": pd.Timestamp("2026-02-02") + pd.to_timedelta(rng.integers(0, 9, n), "D"),
            "topic": pd.array(
                np.where(src == "none", "other", rng.choice(["money", "chores", "kids"], n)),
                dtype="string",
            ),
            "topic_source": pd.array(src, dtype="string"),
            "ts": np.arange(n),
        }
    )
    got, want = _adopt_day_topic(rows), _adopt_day_topic_frames(rows)
    assert (got["topic_source"] == "day").sum() >= 5
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    nat = rows.assign(day=rows["day"].where(rows["ts"] % 7 > 0))
    pd.testing.assert_frame_equal(
        _adopt_day_topic(nat), _adopt_day_topic_frames(nat), check_exact=True
    )


def test_source_rank_equals_the_map_it_replaces():
    from patterns.topics import _SOURCE_RANK, _source_rank

    known = pd.Series(["day", "tag", "none", "lexicon", "tag"], dtype="string[pyarrow]")
    # the same ranks (as numpy int64; the map gives Arrow int64 on Arrow strings: _dedupe
    # only takes their minimum per conflict and maps it back to a name)
    pd.testing.assert_series_equal(_source_rank(known), known.map(_SOURCE_RANK), check_dtype=False)
    assert _source_rank(known).tolist() == [2, 0, 3, 1, 0]
    # an unknown value or a missing one: the map's own NaN (float), as before
    for odd in (["tag", "other"], ["tag", None]):
        s = pd.Series(odd, dtype="string[pyarrow]")
        pd.testing.assert_series_equal(_source_rank(s), s.map(_SOURCE_RANK))
        assert _source_rank(s).isna().sum() == 1


def test_dedupe_runs_equal_the_grouped_agg(sim):
    # include_text takes the pandas groupby (it joins the notes); without it the runs of
    # the sorted rows are reduced by ufuncs: every other column must be the same, also on
    # shuffled rows with tied times and two partners reporting the same conflict
    import patterns.topics as topics

    ev, ci = sim.events, sim.checkins
    rng = np.random.default_rng(3)
    shuffled = ci.iloc[rng.permutation(len(ci))].reset_index(drop=True)
    for e, c in ((ev, ci), (None, shuffled), (ev, None)):
        runs = conflict_log(e, c)
        grouped = conflict_log(e, c, include_text=True).drop(columns="note")
        pd.testing.assert_frame_equal(runs, grouped, check_exact=True)
    both = conflict_log(ev, ci)
    assert (both["reported_by"] == "both").any() and (both["source"] == "both").any()
    assert both["repaired"].notna().any() and (both["n_reports"] > 1).any()
    # the integer path really ran without include_text
    calls = []
    real = topics._dedupe_runs
    try:
        topics._dedupe_runs = lambda *a: calls.append(1) or real(*a)
        conflict_log(ev, ci)
    finally:
        topics._dedupe_runs = real
    assert calls == [1]


def test_conflict_rows_couple_ids_are_hashed_once(sim, monkeypatch):
    # one set of (sorted) couple codes serves the diary days, the day topics and the
    # dedupe: each used to hash the conflict rows' couple ids again
    from patterns import _fast

    real, seen = _fast.codes, []

    def spy(values, **kwargs):
        seen.append((getattr(values, "name", None), len(values)))
        return real(values, **kwargs)

    monkeypatch.setattr(_fast, "codes", spy)
    got = conflict_log(sim.events, sim.checkins)
    n_rows = int(got["n_reports"].sum())  # the conflict rows before the dedupe
    assert n_rows > len(got) and seen.count(("couple_id", n_rows)) == 1
    # the same log as when each step hashes the ids itself (the shared codes dropped)
    import patterns.topics as topics

    days, adopt, dedupe = topics._conflict_days, topics._adopt_day_topic, topics._dedupe
    monkeypatch.setattr(topics, "_conflict_days", lambda r, z, h, c: days(r, z, h))
    monkeypatch.setattr(topics, "_adopt_day_topic", lambda r, c: adopt(r))
    monkeypatch.setattr(topics, "_dedupe", lambda r, c, **kw: dedupe(r, **kw))
    seen.clear()
    pd.testing.assert_frame_equal(conflict_log(sim.events, sim.checkins), got, check_exact=True)
    assert seen.count(("couple_id", n_rows)) == 1 + 3  # the shared codes, then each step


def test_topic_scores_equal_the_extractall_version():
    # the former implementation, kept here as the oracle
    from patterns.topics import _default_lexicon, _fold, _patterns_for, _topic_scores

    def extractall_scores(text, lex):
        scores = pd.DataFrame(0, index=text.index, columns=list(lex), dtype="int64")
        nonempty = text[text.str.strip().ne("").to_numpy(dtype=bool)]
        for topic, pattern in _patterns_for(lex).items():
            if pattern is None or nonempty.empty:
                continue
            hits = nonempty.str.extractall("(" + pattern + ")")
            if hits.empty:
                continue
            words = hits[0].str.count(r"[\s\-]+") + 1
            scores[topic] = (
                words.groupby(level=0).sum().reindex(text.index, fill_value=0).astype("int64")
            )
        return scores

    lex = _default_lexicon()
    phrases = [t for terms in lex.values() for t in terms]
    rng = np.random.default_rng(4)
    texts = [
        " ".join(rng.choice(phrases, int(rng.integers(1, 4)))) + " and more" for _ in range(200)
    ]
    texts += [
        "",
        "   ",
        "money money MONEY",
        "went\x0bthrough my\u2028phone",
        "in-laws - in laws",
        "ch\u00f4res",
        "nothing here",
    ]
    text = _fold(pd.Series(texts, dtype="string")).set_axis(range(5, 5 + len(texts)))
    got = _topic_scores(text, lex)
    pd.testing.assert_frame_equal(got, extractall_scores(text, lex), check_exact=True)
    assert (got.sum(axis=1) > 0).sum() > 150
    custom = {"a": ["alpha beta"], "b": [], "c": ["gamma"]}
    t2 = pd.Series(["alpha  beta gamma", "alpha-beta", "", "gammas"], dtype="string")
    pd.testing.assert_frame_equal(_topic_scores(t2, custom), extractall_scores(t2, custom))


def test_conflict_days_and_blank_topics_equal_the_general_path():
    import patterns.timeutil as tu
    from patterns.topics import _conflict_days

    ts = pd.Series(pd.to_datetime(["2026-03-29T00:30Z", "2026-03-29T02:30Z", "2026-06-01T03:59Z"]))
    rows = pd.DataFrame(
        {"couple_id": pd.array(["c1", "c2", "c1"], dtype="string"), "ts": ts.dt.as_unit("ns")}
    )
    assert rows["ts"].dtype == "datetime64[ns, UTC]"  # the integer path's input
    zones = {"c1": "Europe/Amsterdam", "c2": "America/New_York"}
    for z in (zones, "UTC"):
        want = tu._wall_clock_day(rows["ts"], rows["couple_id"], z, 4)
        real, tu.local_time = tu.local_time, None  # diary_day's integer route only
        try:
            got = _conflict_days(rows, z, 4)
        finally:
            tu.local_time = real
        pd.testing.assert_series_equal(got, want, check_exact=True)
    odd = rows.assign(couple_id=pd.array(["c1", None, "c1"], dtype="string"))
    pd.testing.assert_series_equal(
        _conflict_days(odd, zones, 4), tu._wall_clock_day(odd["ts"], odd["couple_id"], zones, 4)
    )
    # a blank topic without the conflict flag is no conflict; a real one is
    ci = pd.DataFrame(
        {
            "couple_id": ["c1"] * 4,
            "partner": ["a"] * 4,
            "ts": pd.to_datetime(
                ["2026-03-02T20:00Z", "2026-03-03T20:00Z", "2026-03-04T20:00Z", "2026-03-05T20:00Z"]
            ),
            "conflict": pd.array([False, False, True, None], dtype="boolean"),
            "conflict_topic": pd.array(["  ", "money", None, "\t"], dtype="string"),
        }
    )
    log = conflict_log(None, ci)
    assert log["day"].dt.day.tolist() == [3, 4]
    assert log["topic"].tolist() == ["money", "other"]
