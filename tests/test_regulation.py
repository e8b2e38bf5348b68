"""Tests for patterns.regulation. Oracles: published values (Newcombe 1998, R's
fisher.test), independent pandas/statsmodels computations, and the simulator's planted
lagged effect of feeling overwhelmed on withdrawing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from patterns import schema
from patterns.regulation import (
    daily_signals,
    lagged_association,
    pooled_lagged_association,
    signal_cooccurrence,
    signal_frequency,
)
from patterns.testing import check_contract


def make_checkins(**cols):
    df = pd.DataFrame(cols)
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    return schema.coerce_dtypes(df, "checkins")


@pytest.fixture()
def small():
    return make_checkins(
        couple_id="c1",
        partner=["a", "a", "a", "a", "b", "b"],
        ts=[
            "2026-01-05 20:00",
            "2026-01-06 01:00",
            "2026-01-07 20:00",
            "2026-01-12 20:00",
            "2026-01-05 21:00",
            "2026-01-07 21:00",
        ],
        tension=[0, 3, 1, np.nan, 2, 0],
        overwhelmed=[1, 0, 2, 4, 0, 0],
        shutdown=[False, True, None, False, True, False],
        conflict=[False, False, True, False, True, False],
        withdrew=[False, True, False, True, True, False],
    )


class TestDailySignals:
    def test_same_day_max_cutoff_and_conflict_days(self, small):
        d = check_contract(daily_signals, small)
        a = d[d["partner"] == "a"].set_index("day")
        # 01:00 belongs to Jan 5 (cutoff 4): tension max(0, 3) → present; withdrew any
        assert a.loc["2026-01-05", "tension"] and a.loc["2026-01-05", "withdrew"]
        assert a.loc["2026-01-05", "shutdown"]
        assert pd.isna(a.loc["2026-01-12", "tension"])  # not reported ≠ absent
        assert pd.isna(a.loc["2026-01-07", "shutdown"])
        # conflict days are couple days: b's report makes Jan 5 a conflict day for a
        assert a["conflict_day"].tolist() == [True, True, False]
        assert a["day_number"].diff().dropna().tolist() == [2, 5]

    def test_threshold(self, small):
        d1 = daily_signals(small, signals=["overwhelmed"])
        d2 = daily_signals(small, signals=["overwhelmed"], threshold=2)
        assert d1["overwhelmed"].sum() == 3 and d2["overwhelmed"].sum() == 2

    def test_conflicts_table_overrides(self, small):
        conflicts = pd.DataFrame({"couple_id": ["c1"], "day": [pd.Timestamp("2026-01-12")]})
        d = daily_signals(small, conflicts=conflicts)
        assert d.loc[d["conflict_day"], "day"].unique().tolist() == [pd.Timestamp("2026-01-12")]

    def test_errors(self, small):
        with pytest.raises(
            ValueError, match=r"daily_signals: threshold must be a number in \(0, 4\]"
        ):
            daily_signals(small, threshold=0)
        with pytest.raises(ValueError, match="signals must be one of"):
            daily_signals(small, signals=["sweaty_palms"])
        with pytest.raises(ValueError, match="signals must be a non-empty list"):
            daily_signals(small, signals=[])
        with pytest.raises(schema.SchemaError, match=r"missing columns \['blank'\]"):
            daily_signals(small.drop(columns="blank"), signals=["blank"])
        with pytest.raises(schema.SchemaError, match=r"missing columns \['tension'\]"):
            daily_signals(small[["couple_id", "partner", "ts"]])
        with pytest.raises(schema.SchemaError, match=r"missing columns \['partner'\]"):
            daily_signals(small.drop(columns="partner"))


def test_signal_frequency_matches_pandas(small):
    f = check_contract(signal_frequency, small, period="all")
    d = daily_signals(small)
    for sig in ("tension", "overwhelmed", "shutdown"):
        exp = d.groupby("partner")[sig].agg(["count", "sum"])
        got = f[f["signal"] == sig].set_index("partner")
        assert got["days_observed"].to_dict() == exp["count"].to_dict()
        assert got["days_present"].to_dict() == exp["sum"].astype(int).to_dict()
    w = check_contract(signal_frequency, small, period="W")
    assert sorted(w["period_start"].unique()) == [
        pd.Timestamp("2026-01-05"),
        pd.Timestamp("2026-01-12"),
    ]
    assert set(w["kind"]) == {"body", "protective"}
    m = signal_frequency(small, period="M")
    assert m["period_start"].unique().tolist() == [pd.Timestamp("2026-01-01")]
    with pytest.raises(ValueError, match=r"signal_frequency: period must be one of \['D'"):
        signal_frequency(small, period="Q")


class TestCooccurrence:
    def test_fisher_matches_r(self):
        # R: fisher.test(matrix(c(3, 1, 1, 3), 2))$p.value  # 0.4857143
        ci = make_checkins(
            couple_id="c1",
            partner="a",
            ts=pd.date_range("2026-01-05 20:00", periods=8, freq="D"),
            conflict=[True] * 4 + [False] * 4,
            tension=[1, 1, 1, 0, 1, 0, 0, 0],
        )
        r = check_contract(signal_cooccurrence, ci, signals=["tension"])
        assert r.loc[0, "p_value"] == pytest.approx(0.4857143, abs=1e-7)
        assert r.loc[0, "difference"] == pytest.approx(0.5)

    @pytest.mark.parametrize(
        ("x1", "n1", "x0", "n0", "low", "high"),
        [
            # Newcombe (1998) Stat Med 17:873, Table II, method 10, examples (a) and (b)
            (56, 70, 48, 80, 0.0524, 0.3339),
            (9, 10, 3, 10, 0.1705, 0.8090),
        ],
    )
    def test_newcombe_published(self, x1, n1, x0, n0, low, high):
        ci = make_checkins(
            couple_id="c1",
            partner="a",
            ts=pd.date_range("2026-01-05 20:00", periods=n1 + n0, freq="D"),
            conflict=[True] * n1 + [False] * n0,
            blank=[1] * x1 + [0] * (n1 - x1) + [1] * x0 + [0] * (n0 - x0),
        )
        r = signal_cooccurrence(ci, signals=["blank"])
        assert r.loc[0, "ci_low"] == pytest.approx(low, abs=5e-5)
        assert r.loc[0, "ci_high"] == pytest.approx(high, abs=5e-5)
        # the same interval written out from Wilson limits (independent computation)
        z = stats.norm.ppf(0.975)

        def wilson(x, n):
            p = x / n
            c = (p + z * z / (2 * n)) / (1 + z * z / n)
            h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
            return c - h, c + h

        (l1, u1), (l0, u0) = wilson(x1, n1), wilson(x0, n0)
        p1, p0 = x1 / n1, x0 / n0
        d = p1 - p0
        assert r.loc[0, "ci_low"] == pytest.approx(d - np.hypot(p1 - l1, u0 - p0))
        assert r.loc[0, "ci_high"] == pytest.approx(d + np.hypot(u1 - p1, p0 - l0))

    def test_no_conflict_days_gives_nan_not_error(self, small):
        ci = small.assign(conflict=False)
        r = signal_cooccurrence(ci)
        assert r["difference"].isna().all() and (r["conflict_days"] == 0).all()

    def test_errors(self, small):
        rule = "signal_cooccurrence: confidence must be a number strictly between 0 and 1"
        for bad in (95, 1.0, np.nan, True, "0.9"):
            with pytest.raises(ValueError, match=rule):
                signal_cooccurrence(small, confidence=bad)
        # NumPy floats pass the shared rule (errors.check_fraction); was Python float only
        pd.testing.assert_frame_equal(
            signal_cooccurrence(small, confidence=np.float32(0.875)),
            signal_cooccurrence(small, confidence=0.875),
        )


def lagged_frame(n_days=200, seed=1, effect=0.5, lag=0, missing=()):
    rng = np.random.default_rng(seed)
    s = rng.random(n_days) < 0.3
    base = np.full(n_days, 0.1)
    base[lag:] += effect * s[: n_days - lag]
    w = rng.random(n_days) < base
    keep = np.setdiff1d(np.arange(n_days), missing)
    return make_checkins(
        couple_id="c1",
        partner="a",
        ts=pd.date_range("2026-01-05 20:00", periods=n_days, freq="D")[keep],
        overwhelmed=(s * 3.0)[keep],
        withdrew=w[keep],
    )


class TestLaggedAssociation:
    def test_estimate_matches_pandas_and_lags_use_day_numbers(self):
        ci = lagged_frame(effect=0.5, lag=1, missing=[10, 11, 50])
        r = check_contract(lagged_association, ci, signals=["overwhelmed"], n_perm=199)
        # independent computation: reindex to a full daily calendar, then shift by date
        day = ci["ts"].dt.tz_convert(None).dt.normalize()
        sig = pd.Series((ci["overwhelmed"] >= 1).to_numpy(), index=day)
        wd = pd.Series(ci["withdrew"].astype(bool).to_numpy(), index=day)
        for lag in (0, 1):
            nxt = wd.reindex(sig.index + pd.Timedelta(days=lag)).to_numpy()
            ok = ~pd.isna(nxt)
            x, y = sig.to_numpy()[ok], nxt[ok].astype(float)
            row = r[r["lag"] == lag].iloc[0]
            assert row["n"] == ok.sum()
            assert row["effect"] == pytest.approx(y[x].mean() - y[~x].mean())
        assert r.loc[r["lag"] == 1, "n"].item() == 200 - 3 - 3  # 3 missing days + edges
        assert r.loc[r["lag"] == 1, "p_value"].item() < 0.01
        assert r.loc[r["lag"] == 0, "p_value"].item() > 0.05

    def test_exact_matches_enumeration_and_monte_carlo(self):
        from itertools import combinations

        # tiny case: enumerate every placement of the signal days by brute force
        x = np.array([1, 1, 0, 0, 1, 0, 0, 0], bool)
        y = np.array([1, 1, 0, 1, 0, 0, 0, 0], float)
        ci = make_checkins(
            couple_id="c1",
            partner="a",
            overwhelmed=x * 2.0,
            withdrew=y.astype(bool),
            ts=pd.date_range("2026-01-05 20:00", periods=8, freq="D"),
        )
        r = lagged_association(ci, signals=["overwhelmed"], lags=[0])
        d = y[x].mean() - y[~x].mean()
        ds = [y[list(c)].mean() - np.delete(y, list(c)).mean() for c in combinations(range(8), 3)]
        expected = np.mean(np.abs(ds) >= abs(d) - 1e-12)
        assert r.loc[0, "p_value"] == pytest.approx(expected)
        assert r.loc[0, "n_perm"] == 0
        # larger case: Monte Carlo agrees with the exact value within its error
        ci = lagged_frame(effect=0.15, seed=4)
        ex = lagged_association(ci, signals=["overwhelmed"])
        mc = lagged_association(
            ci, signals=["overwhelmed"], method="monte_carlo", n_perm=20000, seed=2
        )
        se = np.sqrt(ex["p_value"] * (1 - ex["p_value"]) / 20000)
        assert (np.abs(ex["p_value"] - mc["p_value"]) < 4 * se + 1e-4).all()
        pd.testing.assert_series_equal(ex["ci_low"], mc["ci_low"])

    def test_seeded_and_independent_of_other_partners(self):
        ci = lagged_frame()
        other = lagged_frame(seed=9).assign(partner="z", couple_id="c9")
        kw = dict(signals=["overwhelmed"], method="monte_carlo", n_perm=199, seed=3)
        r1 = lagged_association(ci, **kw)
        r2 = lagged_association(pd.concat([ci, other], ignore_index=True), **kw)
        pd.testing.assert_frame_equal(r1, r2[r2["partner"] == "a"].reset_index(drop=True))

    def test_recovers_planted_effect(self):
        simulate = pytest.importorskip("patterns.simulate")
        sim = simulate.simulate_export(couples=12, days=120, seed=7)
        truth = sim.truth["regulation"]
        thr = float(truth["threshold"].iloc[0])
        r = check_contract(
            lagged_association,
            sim.checkins,
            signals=["overwhelmed"],
            threshold=thr,
            n_perm=499,
            seed=0,
        )
        m = r.merge(
            truth[["couple_id", "partner", "effect"]],
            on=["couple_id", "partner"],
            suffixes=("", "_truth"),
        )
        assert len(m) == 2 * len(truth)  # every partner, lags 0 and 1
        covered = (m["ci_low"] <= m["effect_truth"]) & (m["effect_truth"] <= m["ci_high"])
        # 48 intervals at 95%: expect ~2.4 misses; > 7 would happen < 1% of the time
        assert (~covered).sum() <= 7
        # the planted effect shows in the estimates: larger where planted (both lags)
        planted = m["effect_truth"] > 0
        assert m.loc[planted, "effect"].mean() > m.loc[~planted, "effect"].mean() + 0.05
        # null: the same data with overwhelmed shuffled within each person (seeded)
        rng = np.random.default_rng(11)
        shuffled = sim.checkins.copy()
        shuffled["overwhelmed"] = shuffled.groupby("partner")["overwhelmed"].transform(
            lambda v: rng.permutation(v.to_numpy())
        )
        null = lagged_association(shuffled, signals=["overwhelmed"], threshold=thr)
        # 48 tests at 5%: > 7 rejections would happen < 1% of the time under the null
        assert (null["p_value"] < 0.05).sum() <= 7

    def test_null_shuffled_not_significant_at_stated_rate(self):
        rng = np.random.default_rng(123)
        n_p, n_d = 100, 90
        s = rng.random((n_p, n_d)) < 0.2
        w = rng.random((n_p, n_d)) < rng.uniform(0.05, 0.4, (n_p, 1))
        ci = make_checkins(
            couple_id=np.repeat([f"c{i // 2}" for i in range(n_p)], n_d),
            partner=np.repeat([f"p{i}" for i in range(n_p)], n_d),
            ts=np.tile(pd.date_range("2026-01-05 20:00", periods=n_d, freq="D"), n_p),
            overwhelmed=s.ravel() * 2.0,
            withdrew=w.ravel(),
        )
        r = lagged_association(ci, signals=["overwhelmed"], n_perm=299, seed=1)
        rate = (r["p_value"] < 0.05).mean()  # 200 tests under the null
        assert rate <= 0.09
        covered = (r["ci_low"] <= 0) & (0 <= r["ci_high"])
        assert covered.mean() >= 0.91

    def test_errors(self, small):
        with pytest.raises(ValueError, match="lagged_association: n_perm must be an integer ≥ 99"):
            lagged_association(small, n_perm=10)
        with pytest.raises(ValueError, match="method must be one of"):
            lagged_association(small, method="bootstrap")
        with pytest.raises(ValueError, match="seed must be a non-negative integer"):
            lagged_association(small, seed=-1)
        with pytest.raises(
            ValueError, match="lagged_association: lags must be a non-negative integer; got -1"
        ):
            lagged_association(small, lags=[-1])
        for bad in ([True], [0.0], [1, "2"]):  # bools and floats are not lags
            with pytest.raises(ValueError, match="lags must be a non-negative integer"):
                lagged_association(small, lags=bad)
        for bad in ("01", None, True):
            with pytest.raises(ValueError, match="lags must be a non-empty sequence of non-neg"):
                lagged_association(small, lags=bad)
        with pytest.raises(ValueError, match=r"n_perm must be an integer ≥ 99; got 199\.0"):
            lagged_association(small, n_perm=199.0)
        with pytest.raises(ValueError, match="seed must be a non-negative integer; got True"):
            lagged_association(small, seed=True)
        with pytest.raises(ValueError, match="confidence must be a number strictly between 0"):
            lagged_association(small, confidence=0)
        # a NumPy integer lag alone (was a TypeError from list()) equals the list form
        pd.testing.assert_frame_equal(
            lagged_association(small, lags=np.int64(1), n_perm=99, seed=np.int64(2)),
            lagged_association(small, lags=[1], n_perm=99, seed=2),
        )
        with pytest.raises(schema.SchemaError, match=r"missing columns \['withdrew'\]"):
            lagged_association(small.drop(columns="withdrew"))


@pytest.fixture(scope="module")
def many():
    rng = np.random.default_rng(5)
    n_p, n_d = 40, 60
    s = rng.random((n_p, n_d)) < 0.3
    base = rng.uniform(0.05, 0.35, (n_p, 1))  # person-level base rates: clustering
    w = rng.random((n_p, n_d)) < base + 0.25 * s
    return make_checkins(
        couple_id=np.repeat([f"c{i // 2}" for i in range(n_p)], n_d),
        partner=np.repeat([f"p{i}" for i in range(n_p)], n_d),
        ts=np.tile(pd.date_range("2026-01-05 20:00", periods=n_d, freq="D"), n_p),
        tension=s.ravel() * 2.0,
        withdrew=w.ravel(),
    )


class TestPooled:
    def test_covers_planted_common_effect(self, many):
        r = check_contract(pooled_lagged_association, many, signals=["tension"])
        lag0 = r[r["lag"] == 0].iloc[0]
        assert lag0["ci_low"] < 0.25 < lag0["ci_high"] and lag0["p_value"] < 1e-6
        lag1 = r[r["lag"] == 1].iloc[0]
        assert lag1["ci_low"] < 0 < lag1["ci_high"]
        assert lag0["n_persons"] == 40

    def test_independence_equals_pooled_difference_and_cluster_ols(self, many):
        r = pooled_lagged_association(
            many, signals=["tension"], lags=[0], cov_struct="independence"
        )
        x = (many["tension"] >= 1).to_numpy()
        y = many["withdrew"].astype(float).to_numpy()
        assert r.loc[0, "effect"] == pytest.approx(y[x].mean() - y[~x].mean())
        groups = pd.factorize(many["partner"])[0]
        ols = sm.OLS(y, sm.add_constant(x.astype(float))).fit(
            cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False}
        )
        assert r.loc[0, "se"] == pytest.approx(ols.bse[1], rel=1e-6)

    def test_errors(self, many):
        with pytest.raises(ValueError, match="cov_struct must be one of"):
            pooled_lagged_association(many, cov_struct="ar1")
        with pytest.raises(ValueError, match="pooled_lagged_association: lags must be a non-empty"):
            pooled_lagged_association(many, lags=[])
        with pytest.raises(
            ValueError, match="pooled_lagged_association: confidence must be a number strictly"
        ):
            pooled_lagged_association(many, confidence=1)


def test_vectorised_fisher_equals_scipy_table_by_table():
    # the all-tables-at-once Fisher test (issue 8) against scipy.stats.fisher_exact
    from scipy import stats as st

    from patterns.regulation import _fisher_two_sided

    rng = np.random.default_rng(0)
    n1 = rng.integers(0, 120, 1500)
    n0 = rng.integers(0, 120, 1500)
    x1 = (rng.random(1500) * (n1 + 1)).astype(int)
    x0 = (rng.random(1500) * (n0 + 1)).astype(int)
    # zero margins, the mode itself, all-present, a row of zero days
    n1[:6], x1[:6] = [1, 5, 0, 3, 10, 4], [0, 5, 0, 3, 0, 2]
    n0[:6], x0[:6] = [1, 5, 4, 3, 10, 4], [0, 5, 2, 0, 10, 2]
    got = _fisher_two_sided(x1, n1, x0, n0)
    want = [
        st.fisher_exact([[a, b - a], [c, d - c]]).pvalue if b > 0 and d > 0 else np.nan
        for a, b, c, d in zip(x1, n1, x0, n0, strict=True)
    ]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert np.isnan(got[2]) and got[0] == 1.0 and got[5] == 1.0


def test_exact_p_vectorised_equals_one_call_per_row():
    """The one-call-for-all-rows exact p-values equal the per-row function bit for bit."""
    from patterns.regulation import _exact_p, _exact_ps

    rng = np.random.default_rng(11)
    rows = []
    for _ in range(400):
        n = int(rng.integers(2, 120))
        n1 = int(rng.integers(1, n))
        k = int(rng.integers(0, n + 1))
        s1 = int(rng.integers(max(0, k - (n - n1)), min(k, n1) + 1))
        rows.append((n, n1, k, s1 / n1 - (k - s1) / (n - n1)))
    n, n1, k, d = (np.array(c) for c in zip(*rows, strict=True))
    got = _exact_ps(n, n1, k, d)
    want = np.array([_exact_p(*r[:3], r[3]) for r in rows])
    np.testing.assert_array_equal(got, want)
    assert len(_exact_ps(n[:0], n1[:0], k[:0], d[:0])) == 0
