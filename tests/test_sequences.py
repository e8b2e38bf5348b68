"""Tests for patterns.sequences: hand-worked tables, statsmodels/scipy oracles, sessions,
structural zeros, permutations, per-couple effects and the pooled summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.stats import chi2_contingency
from statsmodels.stats.contingency_tables import Table
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests

from patterns import schema
from patterns.sequences import code_stream, lag_effects, lag_table, lag_test, pooled_effect
from patterns.testing import check_contract


def stream_from_table(table: np.ndarray, labels=("a", "b", "c", "d", "e")) -> pd.DataFrame:
    """A stream whose lag-1 table is exactly ``table``: every pair is its own session."""
    k = table.shape[0]
    g, t = np.divmod(np.repeat(np.arange(k * k), table.ravel()), k)
    n = len(g)
    codes = np.empty(2 * n, dtype=object)
    codes[0::2] = np.asarray(labels)[g]
    codes[1::2] = np.asarray(labels)[t]
    return pd.DataFrame({"session": np.repeat(np.arange(n), 2), "code": codes})


def make_events(rows, tz="UTC") -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["couple_id", "actor", "ts", "code"])
    df["ts"] = pd.to_datetime(df["ts"]).dt.tz_localize(tz).dt.tz_convert("UTC")
    return schema.coerce_dtypes(df, "events")


# --- hand-worked ---------------------------------------------------------------------------


def test_alternating_sequence_hand_worked():
    tab = check_contract(lag_table, list("ababababa"))
    z = tab.set_index(["given", "target"])["adjusted_residual"]
    q = tab.set_index(["given", "target"])["yules_q"]
    # 8 pairs: a→b 4, b→a 4; e = 2 everywhere; var = 2·0.5·0.5 = 0.5; z = ±2/sqrt(0.5)
    assert z[("a", "b")] == pytest.approx(2.828427, abs=1e-6)
    assert z[("a", "a")] == pytest.approx(-2.828427, abs=1e-6)
    assert q[("a", "b")] == 1.0 and q[("b", "b")] == -1.0
    assert tab["count"].tolist() == [0, 4, 4, 0]
    assert tab["p_target_given"].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert tab["zero_corrected"].all()


def test_two_by_two_hand_worked():
    tab = lag_table(stream_from_table(np.array([[10, 20], [30, 40]])))
    row = tab.iloc[0]
    # e = 30·40/100 = 12; var = 12·0.7·0.6 = 5.04; z = −2/sqrt(5.04)
    assert row["expected"] == pytest.approx(12.0)
    assert row["adjusted_residual"] == pytest.approx(-0.890871, abs=1e-6)
    assert row["yules_q"] == pytest.approx(-0.2)
    assert row["odds_ratio"] == pytest.approx(10 * 40 / (20 * 30))
    assert row["log_odds_se"] == pytest.approx(np.sqrt(1 / 10 + 1 / 20 + 1 / 30 + 1 / 40))
    assert not tab["zero_corrected"].any()
    assert row["n"] == 100
    # R: 2 * pnorm(-0.890871) = 0.3730
    assert row["p_value"] == pytest.approx(0.3730, abs=1e-4)


# --- independent oracles ------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_tables_match_statsmodels_and_scipy(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    table = rng.integers(1, 30, size=(k, k))
    codes = stream_from_table(table)
    tab = lag_table(codes)
    np.testing.assert_array_equal(tab["count"].to_numpy().reshape(k, k), table)
    ref = Table(table.astype(float))
    np.testing.assert_allclose(
        tab["adjusted_residual"].to_numpy().reshape(k, k), ref.standardized_resids, rtol=1e-10
    )
    np.testing.assert_allclose(tab["expected"].to_numpy().reshape(k, k), ref.fittedvalues)
    test = check_contract(lag_test, codes)
    x2, p, df, _ = chi2_contingency(table, correction=False)
    g2, pg, _, _ = chi2_contingency(table, correction=False, lambda_="log-likelihood")
    assert test["pearson_x2"].iloc[0] == pytest.approx(x2)
    assert test["pearson_p_value"].iloc[0] == pytest.approx(p)
    assert test["g2"].iloc[0] == pytest.approx(g2)
    assert test["p_value"].iloc[0] == pytest.approx(pg)
    assert test["df"].iloc[0] == df == (k - 1) ** 2
    expected_low = int((ref.fittedvalues < 5).sum())
    assert test["low_expected_cells"].iloc[0] == expected_low
    assert tab["low_expected"].sum() == expected_low


@pytest.mark.parametrize("lag", [1, 2, 3])
def test_counts_match_pandas_crosstab_with_sessions(lag):
    rng = np.random.default_rng(10 + lag)
    codes = pd.DataFrame(
        {"session": np.repeat([0, 1, 2, 3], 50), "code": rng.choice(list("xyz"), 200)}
    )
    tab = lag_table(codes, lag=lag)
    pairs = []
    for _, grp in codes.groupby("session"):  # independent few-line computation
        c = grp["code"].to_numpy()
        pairs.append(pd.DataFrame({"g": c[:-lag], "t": c[lag:]}))
    ref = pd.concat(pairs).value_counts().rename("ref")
    got = tab.set_index(["given", "target"])["count"]
    merged = pd.concat([got, ref.rename_axis(["given", "target"])], axis=1).fillna(0)
    np.testing.assert_array_equal(merged["count"], merged["ref"])
    assert tab["n"].iloc[0] == 4 * (50 - lag)


def test_pairs_never_cross_sessions_or_couples():
    codes = pd.DataFrame({"couple_id": ["c1", "c1", "c2", "c2"], "code": list("abab")})
    tab = lag_table(codes).set_index(["given", "target"])["count"]
    assert tab[("b", "a")] == 0 and tab[("a", "b")] == 2
    # the same labels as a plain list do pair across
    assert lag_table(list("abab")).set_index(["given", "target"])["count"][("b", "a")] == 1


def test_multiplicity_correction_matches_multipletests():
    rng = np.random.default_rng(5)
    codes = list(rng.choice(list("abc"), 300))
    for method in ("holm", "fdr_bh", "bonferroni"):
        tab = lag_table(codes, correction=method)
        ref = multipletests(tab["p_value"], method=method)[1]
        np.testing.assert_allclose(tab["p_adjusted"], ref)
    tab = lag_table(codes, correction="none")
    np.testing.assert_allclose(tab["p_adjusted"], tab["p_value"])


def test_structural_zeros_match_poisson_quasi_independence_glm():
    rng = np.random.default_rng(7)
    seq = rng.choice(list("abcd"), 400, p=[0.4, 0.3, 0.2, 0.1])
    tab = check_contract(lag_table, list(seq), merge_repeats=True)
    test = lag_test(list(seq), merge_repeats=True)
    assert tab["structural_zero"].sum() == 4
    assert (tab.loc[tab["structural_zero"], "count"] == 0).all()
    assert tab.loc[tab["structural_zero"], "adjusted_residual"].isna().all()
    # oracle: Poisson log-linear model with row and column effects on the off-diagonal cells
    cells = tab[~tab["structural_zero"]]
    design = pd.get_dummies(cells[["given", "target"]], drop_first=True, dtype=float)
    fit = sm.GLM(
        cells["count"].to_numpy(float), sm.add_constant(design), family=sm.families.Poisson()
    ).fit()
    np.testing.assert_allclose(cells["expected"], fit.fittedvalues, rtol=1e-6)
    np.testing.assert_allclose(
        cells["adjusted_residual"], fit.get_influence().resid_studentized, rtol=1e-5
    )
    assert test["g2"].iloc[0] == pytest.approx(fit.deviance, rel=1e-6)
    assert test["df"].iloc[0] == fit.df_resid == (4 - 1) ** 2 - 4
    assert test["structural_zeros"].iloc[0] == 4


def test_merge_repeats_collapses_runs_within_sessions_only():
    codes = pd.DataFrame({"session": [0, 0, 0, 1, 1], "code": ["a", "a", "b", "b", "b"]})
    tab = lag_table(codes, merge_repeats=True).set_index(["given", "target"])
    assert tab["count"].sum() == 1 and tab.loc[("a", "b"), "count"] == 1


def test_lag_two_merge_repeats_has_no_structural_zeros():
    tab = lag_table(list("abcabcacb"), lag=2, merge_repeats=True)
    assert not tab["structural_zero"].any()


# --- permutations ---------------------------------------------------------------------------


def test_permutation_p_values_detect_dependency_and_are_seeded():
    alt = list("ab" * 20)
    t1 = check_contract(lag_table, alt, permutations=199, seed=1)
    assert t1["p_permutation"].max() == pytest.approx(1 / 200)
    rng = np.random.default_rng(3)
    noise = list(rng.choice(list("ab"), 60))
    t2 = lag_table(noise, permutations=199, seed=4)
    assert (t2["p_permutation"] > 0.05).all()
    assert t2["p_permutation"].equals(lag_table(noise, permutations=199, seed=4)["p_permutation"])
    whole = lag_test(alt, permutations=199, seed=2)
    assert whole["p_permutation"].iloc[0] == pytest.approx(1 / 200)
    assert lag_test(noise, permutations=199, seed=2)["p_permutation"].iloc[0] > 0.05


def test_permutations_shuffle_within_sessions():
    # each session holds one label only: any within-session shuffle keeps the table,
    # so every |z| ties with the observed one and p = 1
    codes = pd.DataFrame({"session": np.repeat([0, 1, 2], 4), "code": list("aaaabbbbaaaa")})
    codes.loc[11, "code"] = "b"
    tab = lag_table(codes.iloc[:8], permutations=50, seed=0)
    assert tab["p_permutation"].dropna().eq(1.0).all()


# --- code streams and per-couple effects ---------------------------------------------------


def test_code_stream_sessions_tags_and_families():
    ev = make_events(
        [
            ("c2", "q1", "2026-01-05 10:00", "pursue"),
            ("c1", "p2", "2026-01-05 10:01", "stonewall"),
            ("c1", "p1", "2026-01-05 10:00", "criticize"),
            ("c1", "p1", "2026-01-05 13:00", "bid"),  # gap > 2h → new session
            ("c1", "p1", "2026-01-05 13:05", "conflict"),  # marker dropped
            ("c1", "p2", "2026-01-06 05:00", "toward"),  # new diary day (cutoff 4h)
        ]
    )
    out = check_contract(code_stream, ev, by="family")
    assert out["code"].tolist() == ["A:pursue", "B:withdraw", "A:connect", "B:connect", "A:pursue"]
    assert out["session"].tolist() == [0, 0, 1, 2, 3]
    raw = code_stream(ev, actor_tagged=False, drop_markers=False)
    assert "conflict" in raw["code"].tolist() and "criticize" in raw["code"].tolist()
    # local days: 22:30 and 23:30 in New York are one diary day, but 03:30 and 04:30 UTC
    # fall on two UTC diary days (cutoff 4h)
    ny = make_events(
        [("c1", "p1", "2026-01-05 22:30", "pursue"), ("c1", "p2", "2026-01-05 23:30", "away")],
        tz="America/New_York",
    )
    assert code_stream(ny, timezone={"c1": "America/New_York"})["session"].nunique() == 1
    assert code_stream(ny, timezone="UTC")["session"].nunique() == 2


def _two_couples(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for c, p_follow in (("c1", 0.9), ("c2", 0.2)):
        t = pd.Timestamp("2026-01-05 08:00")
        for _ in range(120):
            if rng.random() < 0.5:
                rows.append((c, "p1", t, "pursue"))
                t += pd.Timedelta("2min")
                nxt = "withdraw" if rng.random() < p_follow else "toward"
                rows.append((c, "p2", t, nxt))
            else:
                rows.append((c, "p2", t, rng.choice(["bid", "pursue", "withdraw"])))
            t += pd.Timedelta("3min")
    return make_events(rows)


def test_lag_effects_match_per_couple_lag_table():
    ev = _two_couples()
    eff = check_contract(lag_effects, ev, given="A:pursue", target="B:withdraw")
    assert eff["couple_id"].tolist() == ["c1", "c2"]
    stream = code_stream(ev, by="family")
    for cid, row in eff.set_index("couple_id").iterrows():
        tab = lag_table(stream[stream["couple_id"] == cid]).set_index(["given", "target"])
        cell = tab.loc[("A:pursue", "B:withdraw")]
        for col in ("count", "expected", "adjusted_residual", "yules_q", "log_odds_se"):
            assert row[col] == pytest.approx(cell[col]), col
        assert row["n"] == cell["n"]
    assert eff["yules_q"].iloc[0] > 0.5 > eff["yules_q"].iloc[1]


def test_lag_effects_list_labels_and_missing_couple_effect():
    ev = _two_couples()
    ev2 = pd.concat([ev, make_events([("c3", "r1", "2026-01-05 10:00", "bid")])], ignore_index=True)
    eff = lag_effects(ev2, given=["A:pursue", "B:pursue"], target=["A:withdraw", "B:withdraw"])
    assert eff["given"].iloc[0] == "A:pursue|B:pursue"
    c3 = eff.set_index("couple_id").loc["c3"]
    assert c3["n"] == 0 and np.isnan(c3["yules_q"]) and np.isnan(c3["log_odds"])


def test_pooled_effect_matches_combine_effects():
    rng = np.random.default_rng(11)
    y = rng.normal(0.8, 0.6, 12)
    se = rng.uniform(0.2, 0.5, 12)
    eff = pd.DataFrame({"log_odds": y, "log_odds_se": se, "yules_q": np.tanh(y / 2)})
    ref = combine_effects(y, se**2, method_re="dl")
    assert ref.tau2 > 0  # this seed has real heterogeneity, where the two must agree
    out = check_contract(pooled_effect, eff)
    assert out["log_odds"].iloc[0] == pytest.approx(ref.mean_effect_re)
    assert out["log_odds_se"].iloc[0] == pytest.approx(ref.sd_eff_w_re)
    assert out["tau2"].iloc[0] == pytest.approx(ref.tau2)
    assert out["q_stat"].iloc[0] == pytest.approx(ref.q)
    assert out["i2"].iloc[0] == pytest.approx(ref.i2)
    fixed = pooled_effect(eff, method="fixed")
    assert fixed["log_odds"].iloc[0] == pytest.approx(ref.mean_effect_fe)
    assert fixed["log_odds_se"].iloc[0] == pytest.approx(ref.sd_eff_w_fe)
    assert out["ci_low"].iloc[0] == pytest.approx(
        ref.mean_effect_re - 1.959964 * ref.sd_eff_w_re, abs=1e-6
    )
    assert out["yules_q"].iloc[0] == pytest.approx(
        (np.exp(ref.mean_effect_re) - 1) / (np.exp(ref.mean_effect_re) + 1)
    )


def test_pooled_effect_truncates_negative_tau2_and_skips_undefined():
    eff = pd.DataFrame({"log_odds": [0.5, 1.0, 0.2, np.nan], "log_odds_se": [0.3, 0.45, 0.4, 1]})
    out = pooled_effect(eff)
    assert out["tau2"].iloc[0] == 0.0
    assert out["log_odds"].iloc[0] == pytest.approx(
        pooled_effect(eff, method="fixed")["log_odds"].iloc[0]
    )
    assert out["couples"].iloc[0] == 3 and out["couples_excluded"].iloc[0] == 1


def test_pooled_effect_recovers_couple_level_signal():
    ev = _two_couples(1)
    eff = lag_effects(ev, given="A:pursue", target="B:withdraw")
    out = pooled_effect(eff)
    assert out["couples"].iloc[0] == 2
    assert out["ci_low"].iloc[0] < out["log_odds"].iloc[0] < out["ci_high"].iloc[0]
    assert out["p_heterogeneity"].iloc[0] < 0.05  # the two couples differ by construction


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lag": 0}, "lag_table: lag must be a positive integer; got 0"),
        ({"lag": 1.5}, "lag must be a positive integer"),
        ({"correction": "magic"}, "correction must be one of"),
        ({"permutations": -1}, "permutations must be a non-negative integer"),
        ({"permutations": 9.0}, "permutations must be a non-negative integer; got 9.0"),
        ({"permutations": 9, "seed": -1}, "lag_table: seed must be a non-negative integer"),
        ({"permutations": 9, "seed": 1.0}, "lag_table: seed must be a non-negative integer"),
        ({"permutations": 10, "merge_repeats": True}, "0 when merge_repeats=True"),
        ({"labels": ["a"]}, "labels must be unique labels covering every code"),
        ({"labels": ["a", "a", "b"]}, "labels must be unique labels"),
    ],
)
def test_lag_table_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lag_table(list("abab"), **kwargs)


def test_input_errors():
    with pytest.raises(ValueError, match="at least two distinct labels"):
        lag_table(list("aaaa"))
    with pytest.raises(ValueError, match="a sequence of labels or a DataFrame"):
        lag_table("abab")
    with pytest.raises(ValueError, match="labels without missing values"):
        lag_table(["a", None, "b"])
    with pytest.raises(schema.SchemaError, match=r"missing columns \['code'\]"):
        lag_table(pd.DataFrame({"label": list("ab")}))
    with pytest.raises(schema.SchemaError, match=r"missing columns \['episode'\]"):
        lag_test(pd.DataFrame({"code": list("ab")}), session="episode")
    with pytest.raises(ValueError, match="lag_test: permutations must be"):
        lag_test(list("abab"), permutations=True)
    ev = _two_couples()
    with pytest.raises(ValueError, match="code_stream: by must be one of"):
        code_stream(ev, by="actor")
    with pytest.raises(ValueError, match="session_gap must be a positive duration"):
        code_stream(ev, session_gap="-1h")
    with pytest.raises(ValueError, match="session_gap must be a duration"):
        code_stream(ev, session_gap="soon")
    with pytest.raises(schema.SchemaError, match="code_stream: input is missing columns"):
        code_stream(ev.drop(columns="actor"))
    with pytest.raises(ValueError, match="lag_effects: lag must be a positive integer"):
        lag_effects(ev, given="A:pursue", target="B:withdraw", lag=0)
    eff = lag_effects(ev, given="A:pursue", target="B:withdraw")
    with pytest.raises(ValueError, match="pooled_effect: method must be one of"):
        pooled_effect(eff, method="bayes")
    with pytest.raises(ValueError, match="confidence must be a number strictly between"):
        pooled_effect(eff, confidence=95)
    with pytest.raises(ValueError, match="lag_test: seed must be a non-negative integer"):
        lag_test(list("abab"), permutations=9, seed="1")
    # NumPy scalars pass the shared checks (errors.check_int / check_fraction)
    pd.testing.assert_frame_equal(
        lag_table(list("abbab"), lag=np.int64(1), permutations=np.int32(9), seed=np.int64(3)),
        lag_table(list("abbab"), lag=1, permutations=9, seed=3),
    )
    pd.testing.assert_frame_equal(
        pooled_effect(eff, confidence=np.float32(0.875)),
        pooled_effect(eff, confidence=0.875),
    )
    with pytest.raises(schema.SchemaError, match="effects is missing columns"):
        pooled_effect(eff.drop(columns="log_odds_se"))


def test_seeded_permutation_p_values_are_pinned():
    # one seed check (sequences._check_seed) serves lag_table and lag_test: the values
    # below were computed before it replaced their two copies of the line
    codes = list("abcabbcacbbacabccabaccbabcab")
    want = [0.01, 0.05, 1.0, 0.69, 0.31, 0.48, 0.06, 0.35, 0.57]
    for seed in (7, np.int64(7)):
        tab = lag_table(codes, permutations=99, seed=seed)
        assert tab["p_permutation"].tolist() == pytest.approx(want)
        assert lag_test(codes, permutations=99, seed=seed)["p_permutation"].tolist() == [
            pytest.approx(0.04)
        ]
    assert lag_test(codes, permutations=99, seed=8)["p_permutation"].iloc[0] == pytest.approx(0.08)
    # seed=None (fresh entropy) is still accepted by both
    assert lag_table(codes, permutations=9)["p_permutation"].notna().all()
    assert lag_test(codes, permutations=9)["p_permutation"].notna().all()
    with pytest.raises(ValueError, match=r"lag_test: seed must be a non-negative integer; got -1"):
        lag_test(codes, permutations=9, seed=-1)


def test_unknown_code_is_refused():
    ev = make_events([("c1", "p1", "2026-01-05 10:00", "pursue")])
    ev["code"] = pd.Series(["hug"], dtype=object)
    with pytest.raises(ValueError, match="code_stream: events must be codes from the vocabulary"):
        code_stream(ev)


def test_fast_local_days_match_timeutil_diary_day():
    # against diary_day's Timestamp route (diary_day itself takes local_day_ns for these)
    from patterns._eventcodes import local_day_ns, period_start_ns
    from patterns.timeutil import _wall_clock_day, diary_day

    ts = pd.Series(pd.date_range("2026-03-20", periods=3000, freq="37min", tz="UTC"))
    couple = np.arange(3000) % 3
    names = np.array(["c1", "c2", "c3"], dtype=object)
    zones = {"c1": "Europe/Berlin", "c2": "America/New_York"}  # c3: UTC
    ns = ts.dt.as_unit("ns").astype("int64").to_numpy()
    for cutoff in (0, 4):
        got = local_day_ns(ns, couple, names, zones, cutoff)
        ref = _wall_clock_day(ts, pd.Series(names[couple]), zones, cutoff)
        np.testing.assert_array_equal(got, ref.to_numpy().astype("datetime64[ns]").astype(np.int64))
    weeks = pd.to_datetime(period_start_ns(got, "W"))
    assert set(weeks.day_of_week) == {0}
    assert set(pd.to_datetime(period_start_ns(got, "M")).day) == {1}
    for bad in (24, -1, 3.5, True):  # (3.5 was cut to 3 by int())
        with pytest.raises(ValueError, match=r"cutoff_hour must be an integer from 0 to 23"):
            local_day_ns(ns, couple, names, zones, bad)
        with pytest.raises(ValueError, match=r"diary_day: cutoff_hour must be an integer"):
            diary_day(ts, pd.Series(names[couple]), zones, cutoff_hour=bad)


def test_cross_partner_effects_match_pair_counting():
    ev = _two_couples(2)
    eff = check_contract(lag_effects, ev, given="pursue", target="withdraw", cross_partner=True)
    stream = code_stream(ev, by="family")
    for cid, row in eff.set_index("couple_id").iterrows():
        s = stream[stream["couple_id"] == cid]
        lab, sess = s["code"].astype(str).to_numpy(), s["session"].to_numpy()
        same = sess[1:] == sess[:-1]
        first, second = lab[:-1][same], lab[1:][same]  # pairs within sessions
        g = np.array([x.endswith(":pursue") for x in first])
        t = np.array(
            [y.endswith(":withdraw") and y[0] != x[0] for x, y in zip(first, second, strict=True)]
        )
        assert (row["n"], row["count"], row["given_count"], row["target_count"]) == (
            same.sum(),
            (g & t).sum(),
            g.sum(),
            t.sum(),
        )
    assert eff["given"].iloc[0] == "pursue"


def test_cross_partner_effect_separates_simulated_archetypes():
    from patterns.simulate import simulate_export

    sim = simulate_export(couples=8, days=90, seed=31)
    eff = lag_effects(sim.events, given="pursue", target="withdraw", cross_partner=True)
    arch = sim.truth["couples"].set_index("couple_id")["archetype"]
    eff["archetype"] = eff["couple_id"].map(arch)
    cyc = eff[eff["archetype"].isin(["pursue_withdraw", "conflict_heavy"])]
    assert (cyc["yules_q"] > 0.5).all()
    assert pooled_effect(cyc)["ci_low"].iloc[0] > 0
    secure = eff[eff["archetype"] == "secure"]
    assert (secure["count"] == 0).all()  # the simulator plants no answered pursuit there
