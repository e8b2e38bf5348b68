"""Tests for patterns.bids: response matching, windows, local periods, Wilson intervals
(closed form and R), recovery of the simulator's planted toward probabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from patterns import schema
from patterns.bids import (
    REFERENCE_SOURCE,
    TURNING_TOWARD_REFERENCE,
    match_responses,
    turning_rates,
)
from patterns.simulate import simulate_export
from patterns.testing import check_contract


def events(rows, couple="c1"):
    """Events from ``[(actor, code, "YYYY-mm-dd HH:MM[:SS]" UTC, bid_id or None), ...]``."""
    df = pd.DataFrame(rows, columns=["actor", "code", "ts", "bid_id"])
    df["couple_id"] = couple
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    return schema.coerce_dtypes(df, "events")


def wilson(k, n, confidence=0.95):
    """Closed-form Wilson score interval (independent of statsmodels)."""
    z = norm.ppf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def test_match_by_bid_id_then_recency():
    ev = events(
        [
            ("p1", "bid", "2026-03-02 18:00", "b1"),
            ("p1", "bid", "2026-03-02 18:01", "b2"),
            ("p2", "away", "2026-03-02 18:02", "b1"),  # answers b1 by id, not the latest bid
            ("p2", "toward", "2026-03-02 18:03", None),  # the latest unanswered bid: b2
            ("p1", "bid", "2026-03-02 19:00", "b3"),
            ("p1", "bid", "2026-03-02 19:01", "b4"),
            ("p2", "toward", "2026-03-02 19:02", None),  # → b4
            ("p2", "against", "2026-03-02 19:03", None),  # b4 is taken → b3 (second pass)
            ("p1", "toward", "2026-03-02 19:04", "b3"),  # own bid: never an answer
        ]
    )
    m = check_contract(match_responses, ev)
    assert m["response"].tolist() == ["away", "toward", "against", "toward"]
    assert m["matched_by"].tolist() == ["bid_id", "recency", "recency", "recency"]
    assert m["latency_s"].tolist() == [120.0, 120.0, 180.0, 60.0]
    assert m["receiver"].eq("p2").all()


def test_unanswered_late_and_window():
    ev = events(
        [
            ("p1", "bid", "2026-03-02 18:00", None),
            ("p2", "toward", "2026-03-02 18:30", None),
            ("p1", "bid", "2026-03-02 20:00", None),
            ("p2", "toward", "2026-03-02 21:30", None),  # 90 min: late for a 1 h window
            ("p1", "bid", "2026-03-02 22:00", None),  # never answered
        ]
    )
    out = check_contract(turning_rates, ev, period="D")
    a = out.iloc[0]
    assert (a["bids"], a["toward"], a["missed"], a["late"]) == (3, 1, 2, 1)
    assert a["median_latency_s"] == 1800.0
    wide = turning_rates(ev, period="D", window="2h").iloc[0]
    assert (wide["toward"], wide["missed"], wide["late"]) == (2, 1, 0)
    assert wide["median_latency_s"] == pytest.approx((1800 + 5400) / 2)
    b = out.iloc[1]
    assert (b["partner_label"], b["bids"], b["bids_received"], b["toward_given"]) == (
        "Partner B",
        0,
        3,
        1,
    )
    assert np.isnan(b["share_toward"]) and np.isnan(b["toward_ci_low"])


def test_shares_and_wilson_intervals():
    rows = []
    t = pd.Timestamp("2026-03-03 08:00", tz="UTC")
    for i, kind in enumerate(["toward"] * 7 + ["away", "against", None]):
        rows.append(("p1", "bid", t + pd.Timedelta(hours=i), None))
        if kind:
            rows.append(("p2", kind, t + pd.Timedelta(hours=i, minutes=5), None))
    out = turning_rates(events([(a, c, str(ts), b) for a, c, ts, b in rows])).iloc[0]
    assert out["share_toward"] == 0.7 and out["share_missed"] == 0.1
    # R: prop.test(7, 10, correct = FALSE)$conf.int -> 0.3967781 0.8922087
    assert out["toward_ci_low"] == pytest.approx(0.3967781, abs=1e-6)
    assert out["toward_ci_high"] == pytest.approx(0.8922087, abs=1e-6)
    for k, n in (("away", 1), ("against", 1), ("missed", 1)):
        lo, hi = wilson(n, 10)
        assert (out[f"{k}_ci_low"], out[f"{k}_ci_high"]) == pytest.approx((lo, hi))
    lo90, hi90 = wilson(7, 10, 0.9)
    out90 = turning_rates(
        events([(a, c, str(ts), b) for a, c, ts, b in rows]), confidence=0.9
    ).iloc[0]
    assert (out90["toward_ci_low"], out90["toward_ci_high"]) == pytest.approx((lo90, hi90))


def test_local_periods():
    # Sunday 23:30 UTC = Monday 08:30 in Tokyo: a different ISO week there
    ev = events([("p1", "bid", "2026-03-08 23:30", None), ("p1", "bid", "2026-03-09 09:00", None)])
    utc = turning_rates(ev, period="W")
    assert utc["period_start"].drop_duplicates().tolist() == [
        pd.Timestamp("2026-03-02"),
        pd.Timestamp("2026-03-09"),
    ]
    tokyo = turning_rates(ev, period="W", timezone={"c1": "Asia/Tokyo"})
    assert tokyo["period_start"].unique().tolist() == [pd.Timestamp("2026-03-09")]
    ev.attrs["timezones"] = {"c1": "Asia/Tokyo"}
    assert turning_rates(ev, period="W")["bids"].tolist() == [2]  # only p1 is known
    month = turning_rates(ev, period="M")
    assert month["period_start"].unique().tolist() == [pd.Timestamp("2026-03-01")]


def test_reference_lines():
    assert TURNING_TOWARD_REFERENCE == {
        "still together after six years": 0.86,
        "divorced within six years": 0.33,
    }
    assert "Gottman" in REFERENCE_SOURCE and "popular-press" in REFERENCE_SOURCE


def test_recovers_planted_toward_probabilities():
    sim = simulate_export(couples=8, days=120, seed=21)
    out = check_contract(turning_rates, sim.events, period="M")
    truth = sim.truth["couples"].query("archetype != 'improving'")
    tot = out.groupby(["couple_id", "partner"])[["bids", "toward"]].sum()
    checked = 0
    for _, c in truth.iterrows():
        for bidder, answerer in (("partner_a", "b"), ("partner_b", "a")):
            row = tot.loc[(c["couple_id"], c[bidder])]
            lo, hi = wilson(row["toward"], row["bids"], 0.999)
            # planted: the probability that the OTHER partner turns toward
            assert lo <= c[f"toward_prob_{answerer}"] <= hi
            checked += 1
    assert checked >= 12
    secure = truth.query("archetype == 'secure'")["couple_id"]
    share = tot["toward"] / tot["bids"]
    assert share.loc[secure.tolist()].min() > 0.75


def test_errors():
    ev = events([("p1", "bid", "2026-03-02 18:00", None)])
    with pytest.raises(ValueError, match=r"turning_rates: period must be one of \['D', 'W', "):
        turning_rates(ev, period="Q")
    with pytest.raises(ValueError, match="window must be a positive duration"):
        turning_rates(ev, window="0s")
    with pytest.raises(ValueError, match="window must be a duration such as"):
        turning_rates(ev, window="a while")
    with pytest.raises(ValueError, match="confidence must be a number strictly between"):
        turning_rates(ev, confidence=0)
    with pytest.raises(schema.SchemaError, match=r"missing columns \['code'\]"):
        turning_rates(ev.drop(columns="code"))
    with pytest.raises(ValueError, match="match_responses: passes must be a positive"):
        match_responses(ev, passes=0)
    # the shared rule (errors.check_int): a float or bool count is refused, NumPy ints pass
    for bad in (2.0, True):
        with pytest.raises(ValueError, match="match_responses: passes must be a positive integer"):
            match_responses(ev, passes=bad)
    pd.testing.assert_frame_equal(match_responses(ev, passes=np.int64(3)), match_responses(ev))
    with pytest.raises(ValueError, match="confidence must be a number strictly between 0 and 1"):
        turning_rates(ev, confidence=True)
    pd.testing.assert_frame_equal(
        turning_rates(ev, confidence=np.float32(0.875)),
        turning_rates(ev, confidence=0.875),
    )


def test_missing_time_is_a_clear_error():
    from patterns.bids import turning_rates
    from patterns.cycles import pursue_withdraw_episodes
    from patterns.schema import SchemaError
    from patterns.simulate import simulate_export

    ev = simulate_export(couples=1, days=14, seed=1).events.copy()
    ev.loc[3, "ts"] = pd.NaT
    for func in (turning_rates, pursue_withdraw_episodes):
        with pytest.raises(SchemaError, match=r"events has 1 row\(s\) with a missing ts"):
            func(ev)
    for column in ("couple_id", "actor"):
        ev = simulate_export(couples=1, days=14, seed=1).events.copy()
        ev.loc[[2, 5], column] = None
        for func in (turning_rates, pursue_withdraw_episodes):
            with pytest.raises(SchemaError, match=rf"2 row\(s\) with a missing {column}"):
                func(ev)


@pytest.mark.parametrize("block", [1 << 16, 50])
def test_id_matching_same_for_unique_and_repeated_ids(block, monkeypatch):
    # ids unique everywhere take the direct id table; the same ids renamed per couple
    # ("b0", "b1", ... in every couple: equal within a couple exactly as before) and a
    # duplicated id within a couple take the sorted search; all pair the same responses,
    # with large and tiny hashing blocks, couples in runs and shuffled (ids taken per couple)
    import patterns.bids as bids_module

    monkeypatch.setattr(bids_module, "_ID_BLOCK", block)
    ev = simulate_export(couples=6, days=40, seed=4).events
    bids = ev[ev["code"] == "bid"]
    assert bids["bid_id"].notna().all() and bids["bid_id"].is_unique
    # "c001-b00007" -> "b00007": the same ids in every couple
    renamed = ev.assign(bid_id=ev["bid_id"].str.split("-").str[-1].astype("string"))
    assert renamed["bid_id"].nunique() < ev["bid_id"].nunique()  # repeated across couples
    want = match_responses(ev)
    assert (want["matched_by"] == "bid_id").sum() > 100
    pd.testing.assert_frame_equal(match_responses(renamed), want, check_exact=True)
    shuffled = renamed.sample(frac=1, random_state=0)
    pd.testing.assert_frame_equal(match_responses(shuffled), want, check_exact=True)
    # a repeated id within a couple: the earliest such bid of the other partner is taken
    dup = events(
        [
            ("p1", "bid", "2026-03-02 18:00", "x"),
            ("p1", "bid", "2026-03-02 18:01", "x"),
            ("p2", "toward", "2026-03-02 18:05", "x"),
        ]
    )
    m = match_responses(dup)
    assert m["response"].tolist()[0] == "toward" and pd.isna(m["response"].iloc[1])


def _loop_matches(ev: pd.DataFrame, passes: int = 3) -> list:
    """The matching rule of ``match_responses``' Notes written as a plain loop over events
    (the independent oracle): bid_id first (the other partner's earliest bid with that id;
    the earliest such response per bid), then by recency in passes."""
    couple, actor, code = (ev[c].astype(object).tolist() for c in ("couple_id", "actor", "code"))
    ts = ev["ts"].tolist()
    ids = (
        [None if pd.isna(v) else v for v in ev["bid_id"].astype(object)]
        if "bid_id" in ev.columns
        else [None] * len(ev)
    )
    order = sorted(range(len(ev)), key=lambda i: (couple[i], ts[i], i))
    pos = {row: p for p, row in enumerate(order)}
    actors = {
        c: sorted({a for a, cc in zip(actor, couple, strict=True) if cc == c}) for c in couple
    }

    def other(i):
        a = actors[couple[i]]
        return a[-1] if actor[i] == a[0] else a[0]

    bids = [i for i in order if code[i] == "bid"]
    resps = [i for i in order if code[i] in ("toward", "away", "against")]
    answer, by = {}, {}
    for r in resps:  # responses in (couple, time, row) order: the earliest wins a bid
        if ids[r] is None:
            continue
        same = [
            b for b in bids if couple[b] == couple[r] and actor[b] == other(r) and ids[b] == ids[r]
        ]
        if same and same[0] not in answer:
            answer[same[0]], by[same[0]] = r, "bid_id"
    pending = [r for r in resps if ids[r] is None]
    for _ in range(passes):
        claims = {}
        for r in pending:
            free = [
                b
                for b in bids
                if b not in answer
                and couple[b] == couple[r]
                and actor[b] == other(r)
                and pos[b] < pos[r]
            ]
            if free:
                claims.setdefault(free[-1], r)  # pending is in order: the earliest claims
        for b, r in claims.items():
            answer[b], by[b] = r, "recency"
        pending = [r for r in pending if r not in claims.values()]
    return [
        (code[answer[b]], ts[answer[b]], by[b]) if b in answer else (None, None, None) for b in bids
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("layout", ["runs", "shuffled", "by_time"])
def test_matching_equals_a_plain_loop(seed, layout):
    # small random logs with every hard case: ids repeated within and across couples,
    # ids naming the responder's own bid or no bid, missing ids, tied times, one-actor
    # couples; couples in runs (row positions rank), shuffled and in global time order
    # (ranks from the couple-time order, ids taken per couple)
    rng = np.random.default_rng(seed)
    n = 300
    couple = rng.choice(["c1", "c2", "c3", "c4"], size=n)
    actor = np.where(rng.random(n) < 0.5, couple + "a", couple + "b")
    actor[couple == "c4"] = "c4a"  # a couple with one partner only
    code = rng.choice(
        ["bid", "toward", "away", "against", "pursue"], size=n, p=[0.4, 0.3, 0.1, 0.1, 0.1]
    )
    ids = np.array([f"b{k}" for k in rng.integers(0, 40, size=n)], dtype=object)
    ids[rng.random(n) < 0.4] = None
    ts = pd.Timestamp("2026-03-02", tz="UTC") + pd.to_timedelta(rng.integers(0, 200, n), "min")
    ev = schema.coerce_dtypes(
        pd.DataFrame({"couple_id": couple, "actor": actor, "code": code, "ts": ts, "bid_id": ids}),
        "events",
    )
    ev = ev.sort_values(["couple_id", "ts"], kind="stable").reset_index(drop=True)
    if layout == "shuffled":
        ev = ev.sample(frac=1, random_state=seed).reset_index(drop=True)
    if layout == "by_time":  # couples interleaved, rows in time order
        ev = ev.sort_values("ts", kind="stable").reset_index(drop=True)
    # bid_id as Arrow strings (hashed per block) and as objects (_fast.codes_within)
    for frame in (ev, ev.astype({"bid_id": object}), ev.drop(columns="bid_id")):
        for passes in (1, 3):
            got = match_responses(frame, passes=passes)
            want = _loop_matches(frame, passes)
            assert len(got) == len(want) == int((frame["code"] == "bid").sum())
            assert [
                (r, t, m)
                for r, t, m in zip(
                    got["response"].astype(object).where(got["response"].notna(), None),
                    got["response_ts"].astype(object).where(got["response_ts"].notna(), None),
                    got["matched_by"].astype(object).where(got["matched_by"].notna(), None),
                    strict=True,
                )
            ] == want
            assert got["response"].notna().sum() > 20  # the rule is exercised
