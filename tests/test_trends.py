"""Tests for patterns.trends: pymannkendall/scipy/statsmodels oracles, hand-built DST cases,
and the simulator's planted change points, intervention effects and flat couples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymannkendall as pmk
import pytest
import statsmodels.api as sm
from scipy import stats

from patterns import schema
from patterns.testing import check_contract
from patterns.trends import (
    change_points,
    daily_connection,
    daily_partner_table,
    default_penalty,
    intervention_effect,
    lonely_together,
    lonely_together_days,
    mann_kendall,
    partner_agreement,
    rolling_connection,
    theil_sen,
    trend_tests,
    weekly_connection,
)

SEEDS = (1, 2, 3, 4, 5)


@pytest.fixture(scope="module")
def planted():
    from patterns.simulate import simulate_export

    return {
        s: simulate_export(couples=2, days=120, seed=s, archetypes=["improving", "conflict_heavy"])
        for s in range(1, 13)
    }


@pytest.fixture(scope="module")
def sims():
    from patterns.simulate import simulate_export

    return {s: simulate_export(couples=4, days=120, seed=s) for s in SEEDS}


def _checkins(rows):
    df = pd.DataFrame(rows, columns=["couple_id", "partner", "ts", "connection"])
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    return schema.coerce_dtypes(df, "checkins")


def _series(values, start="2026-01-05", couple="c1", partner="a"):
    return pd.DataFrame(
        {
            "couple_id": couple,
            "partner": partner,
            "day": pd.date_range(start, periods=len(values)),
            "connection": np.asarray(values, dtype=float),
        }
    )


def _ar1(rng, n, phi=0.5, sd=1.0):
    e = np.zeros(n)
    eps = rng.normal(0, sd * np.sqrt(1 - phi**2), n)
    for i in range(1, n):  # test helper: a plain AR(1) recursion
        e[i] = phi * e[i - 1] + eps[i]
    return e


def _gappy_ar1(rng, n_series, *, days, phi, missing, burn=40):
    """``n_series`` daily series of mean 5 with AR(1) noise (``phi``, sd 1; ``burn``
    burn-in days dropped), each day missing with probability ``missing``."""
    parts = []
    for i in range(n_series):
        s = _series(5 + _ar1(rng, days + burn, phi=phi)[burn:], couple=f"c{i:03d}")
        parts.append(s[rng.random(days) >= missing])
    return pd.concat(parts, ignore_index=True)


def _reml_rho(profiled):
    """The ρ in (−0.99, 0.99) minimising ``profiled(ρ)[0]`` (a dense REML objective),
    by scipy's bounded scalar search (test oracle)."""
    from scipy import optimize

    return optimize.minimize_scalar(
        lambda r: profiled(r)[0], bounds=(-0.99, 0.99), method="bounded", options={"xatol": 1e-10}
    ).x


def _satterthwaite_by_differences(nll, var, theta, h):
    """Satterthwaite df 2·var(θ)² / (∇var' I⁻¹ ∇var), with the REML information I (the
    Hessian of ``nll``) and the gradient of ``var`` by central differences of steps ``h``
    (test oracle: dense matrices, no code shared with trends.py)."""
    e = np.eye(len(theta))
    k = range(len(theta))
    info = np.array(
        [
            [
                (
                    nll(theta + e[a] * h[a] + e[b] * h[b])
                    - nll(theta + e[a] * h[a] - e[b] * h[b])
                    - nll(theta - e[a] * h[a] + e[b] * h[b])
                    + nll(theta - e[a] * h[a] - e[b] * h[b])
                )
                / (4 * h[a] * h[b])
                for b in k
            ]
            for a in k
        ]
    )
    grad = np.array([(var(theta + e[a] * h[a]) - var(theta - e[a] * h[a])) / (2 * h[a]) for a in k])
    return 2 * var(theta) ** 2 / (grad @ np.linalg.inv(info) @ grad)


def _planted_steps(rng, phi, n_series=300):
    """``n_series`` daily tables of 120 days with +1.5 from day 66 on and AR(1) noise
    (``phi``, sd 1; 30 burn-in days dropped), and the days."""
    days = pd.date_range("2026-01-01", periods=120)
    step = 5 + 1.5 * (np.arange(120) >= 66)
    frames = [
        pd.DataFrame(
            {
                "couple_id": f"c{i:03d}",
                "partner": "a",
                "day": days,
                "connection": step + _ar1(rng, 150, phi=phi)[30:],
            }
        )
        for i in range(n_series)
    ]
    return pd.concat(frames, ignore_index=True), days


# --- Mann–Kendall against pymannkendall ---------------------------------------------------

_RNG = np.random.default_rng(11)
_MK_SERIES = {
    "noise": _RNG.normal(5, 1, 40),
    "trend": np.arange(30) * 0.1 + _RNG.normal(0, 1, 30),
    "ties": np.round(_RNG.normal(5, 1.5, 50)),  # integer ratings: many ties
    "short_ties": np.array([3.0, 3.0, 4.0, 2.0, 5.0, 5.0, 6.0]),
    "ar1_trend": 0.03 * np.arange(120) + _ar1(np.random.default_rng(3), 120, phi=0.7),
    "decreasing": 10 - 0.2 * np.arange(25) + np.round(_RNG.normal(0, 0.5, 25)),
}


def _compare(ours: pd.DataFrame, ref) -> None:
    row = ours.iloc[0]
    assert row["trend"] == ref.trend
    assert row["s"] == pytest.approx(ref.s)
    assert row["var_s"] == pytest.approx(ref.var_s, rel=1e-10)
    assert row["z"] == pytest.approx(ref.z, rel=1e-10, abs=1e-12)
    assert row["p_value"] == pytest.approx(ref.p, rel=1e-9, abs=1e-12)
    assert row["tau"] == pytest.approx(ref.Tau)
    assert row["slope"] == pytest.approx(ref.slope)
    assert row["intercept"] == pytest.approx(ref.intercept)


@pytest.mark.parametrize("name", sorted(_MK_SERIES))
def test_mann_kendall_matches_pymannkendall_original(name):
    x = _MK_SERIES[name]
    _compare(mann_kendall(x), pmk.original_test(x, alpha=0.05))


@pytest.mark.parametrize("name", sorted(_MK_SERIES))
def test_mann_kendall_matches_pymannkendall_hamed_rao(name):
    x = _MK_SERIES[name]
    ours = mann_kendall(x, autocorrelation="hamed_rao")
    ref = pmk.hamed_rao_modification_test(x, alpha=0.05)
    assert np.isfinite(ref.p)  # these series are outside issue #29
    _compare(ours, ref)


def test_mann_kendall_alpha_changes_label_like_pymannkendall():
    x = _MK_SERIES["trend"]
    for alpha in (0.001, 0.01, 0.1):
        assert mann_kendall(x, alpha=alpha)["trend"].iloc[0] == pmk.original_test(x, alpha).trend


def test_hamed_rao_never_nan_where_pymannkendall_is():
    # pymannkendall 1.4.3 issue #29: a negative corrected variance gives a NaN p-value.
    # Search seeded short alternating series for such a case, then check we stay finite and
    # report the absolute value of the same corrected variance (the upstream fix).
    rng = np.random.default_rng(0)
    found = None
    for _ in range(2000):
        x = np.tile([0.0, 3.0], 6) + rng.normal(0, 0.5, 12) + 0.05 * np.arange(12)
        with np.errstate(invalid="ignore"):
            ref = pmk.hamed_rao_modification_test(x)
        if np.isnan(ref.p):
            found = (x, ref)
            break
    assert found is not None, "no issue-#29 case found; widen the search"
    x, ref = found
    ours = mann_kendall(x, autocorrelation="hamed_rao").iloc[0]
    assert ref.var_s < 0
    assert ours["var_s"] == pytest.approx(abs(ref.var_s))
    assert np.isfinite(ours["p_value"]) and np.isfinite(ours["z"])
    assert 0 <= ours["p_value"] <= 1


def test_mann_kendall_drops_nan_with_their_times_like_pymannkendall():
    x = _MK_SERIES["trend"].copy()
    x[[3, 10, 11]] = np.nan
    _compare(mann_kendall(x), pmk.original_test(x))
    assert mann_kendall(x)["n"].iloc[0] == len(x) - 3


def test_mann_kendall_slope_and_interval_equal_theilslopes_with_times():
    rng = np.random.default_rng(4)
    t = np.sort(rng.choice(200, size=60, replace=False)).astype(float)
    y = 0.02 * t + rng.normal(0, 1, 60)
    ours = mann_kendall(y, times=t, alpha=0.1).iloc[0]
    ref = stats.theilslopes(y, t, alpha=0.9)
    assert ours["slope"] == ref.slope
    assert ours["slope_ci_low"] == ref.low_slope
    assert ours["slope_ci_high"] == ref.high_slope
    assert ours["intercept"] == ref.intercept
    # S over unsorted input with times equals S of the time-sorted series
    perm = rng.permutation(60)
    assert mann_kendall(y[perm], times=t[perm])["s"].iloc[0] == ours["s"]


def test_mann_kendall_datetime_times_give_slope_per_day():
    days = pd.Series(pd.date_range("2026-01-01", periods=10, freq="2D"))
    r = mann_kendall(np.arange(10.0), times=days).iloc[0]
    assert r["slope"] == pytest.approx(0.5)
    assert r["intercept"] == pytest.approx(0.0)


def test_mann_kendall_known_hand_case():
    # x = 1..5: S = 10 pairs all increasing, Var = 5·4·15/18, z = 9/√(50/3)
    r = mann_kendall([1.0, 2, 3, 4, 5]).iloc[0]
    assert r["s"] == 10 and r["var_s"] == pytest.approx(50 / 3)
    assert r["z"] == pytest.approx(9 / np.sqrt(50 / 3))
    assert r["tau"] == 1.0
    # constant series: S = 0, Var = 0, never NaN
    c = mann_kendall([4.0] * 6, autocorrelation="hamed_rao").iloc[0]
    assert c["s"] == 0 and c["z"] == 0 and c["p_value"] == 1.0 and c["trend"] == "no trend"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"values": [1.0, 2.0]}, "at least 3 non-missing"),
        ({"values": [1.0, np.nan, 2.0, np.nan]}, "at least 3 non-missing"),
        ({"values": [[1.0, 2.0], [3.0, 4.0]]}, "1-D sequence"),
        ({"values": ["a", "b", "c"]}, "1-D sequence of numbers"),
        ({"values": [1.0, 2.0, 3.0], "autocorrelation": "yue_wang"}, "autocorrelation must be"),
        (
            {"values": [1.0, 2.0, 3.0], "alpha": 1.5},
            "alpha must be a number strictly between 0 and 1",
        ),
        (
            {"values": [1.0, 2.0, 3.0], "alpha": True},
            "mann_kendall: alpha must be a number strictly",
        ),
        ({"values": [1.0, 2.0, 3.0], "times": [1, 2]}, "times must be"),
        ({"values": [1.0, 2.0, 3.0], "times": ["x", "y", "z"]}, "numbers or datetimes"),
    ],
)
def test_mann_kendall_errors(kwargs, match):
    values = kwargs.pop("values")
    with pytest.raises(ValueError, match=match):
        mann_kendall(values, **kwargs)


@pytest.mark.parametrize("name", sorted(_MK_SERIES))
def test_mann_kendall_matches_pymannkendall_pre_whitening(name):
    x = _MK_SERIES[name]
    ours = mann_kendall(x, autocorrelation="pre_whitening")
    _compare(ours, pmk.pre_whitening_modification_test(x, alpha=0.05))
    assert ours["n"].iloc[0] == len(x)


def _hamed_2009_rho(x):
    # independent: statsmodels OLS of x_i on (x_{i-1}, 1, i), then Hamed (2009) eq. 24
    n = len(x)
    design = np.column_stack([x[:-1], np.ones(n - 1), np.arange(2.0, n + 1)])
    rho = sm.OLS(x[1:], design).fit().params[0]
    return (n * rho + 2) / (n - 4)


def test_bias_corrected_pre_whitening_equals_r_modifiedmk_on_nile():
    # R 4.x, modifiedmk 1.6 (its published example output):
    #   modifiedmk::bcpw(c(Nile))
    #   Z-Value -2.932441336  Sen's Slope -2.6  P-value 0.003363085  S -971
    #   Var(S) 109417  Tau -0.200164914
    nile = sm.datasets.nile.load_pandas().data["volume"].to_numpy(dtype=float)
    assert len(nile) == 100 and nile.sum() == 91935  # R's Nile: mean 919.35
    r = mann_kendall(nile, autocorrelation="bias_corrected_pre_whitening").iloc[0]
    assert r["z"] == pytest.approx(-2.932441336, abs=1e-9)
    assert r["p_value"] == pytest.approx(0.003363085, abs=1e-9)
    assert (r["s"], r["var_s"]) == (-971.0, 109417.0)
    assert r["tau"] == pytest.approx(-0.200164914, abs=1e-9)
    assert r["slope"] == -2.6
    assert r["trend"] == "decreasing" and r["autocorrelation"] == "bias_corrected_pre_whitening"


@pytest.mark.parametrize("name", sorted(_MK_SERIES))
def test_bias_corrected_pre_whitening_equals_pymannkendall_on_whitened_series(name):
    x = _MK_SERIES[name]
    ours = mann_kendall(x, autocorrelation="bias_corrected_pre_whitening").iloc[0]
    rho = _hamed_2009_rho(x) if len(x) >= 5 else 0.0
    ref = pmk.original_test(x[1:] - rho * x[:-1], alpha=0.05)
    assert ours["s"] == ref.s
    assert ours["var_s"] == pytest.approx(ref.var_s, rel=1e-12)
    assert ours["z"] == pytest.approx(ref.z, rel=1e-10, abs=1e-12)
    assert ours["p_value"] == pytest.approx(ref.p, rel=1e-9, abs=1e-12)
    assert ours["tau"] == pytest.approx(ref.Tau)
    assert ours["trend"] == ref.trend
    assert ours["slope"] == pytest.approx(pmk.sens_slope(x).slope)  # of the original series


@pytest.mark.parametrize("name", sorted(_MK_SERIES))
def test_hamed_rao_ar1_equals_independent_computation(name):
    import math

    x = _MK_SERIES[name]
    n = len(x)
    ours = mann_kendall(x, autocorrelation="hamed_rao_ar1").iloc[0]
    ref = pmk.original_test(x)  # S and the tie-corrected Var(S) of the data
    rho = min(max(_hamed_2009_rho(x), -1.0), 1.0)
    total = 0.0
    for k in range(1, n):  # Hamed & Rao (1998) eq. with the AR(1) rank correlations
        total += (n - k) * (n - k - 1) * (n - k - 2) * 6 / math.pi * math.asin(rho**k / 2)
    var_s = ref.var_s * (1 + 2 * total / (n * (n - 1) * (n - 2)))
    z = (ref.s - math.copysign(1, ref.s)) / math.sqrt(var_s) if ref.s else 0.0
    assert ours["s"] == ref.s and ours["tau"] == pytest.approx(ref.Tau)
    assert ours["var_s"] == pytest.approx(var_s, rel=1e-10)
    assert ours["z"] == pytest.approx(z, rel=1e-10, abs=1e-12)
    assert ours["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9, abs=1e-12)
    assert ours["slope"] == pytest.approx(ref.slope)


@pytest.mark.parametrize(("n", "rho"), [(40, 0.3), (40, 0.6), (80, 0.8)])
def test_hamed_rao_ar1_variance_matches_monte_carlo_var_s(n, rho):
    # Known truth, independent of the formula: the variance of S over 8,000 Gaussian AR(1)
    # series with a known rho (scipy lfilter, S from all pairs by numpy). The Hamed–Rao
    # ratio with rank correlations (6/pi)·asin(rho^k/2) is an approximation; measured
    # (seed 5) 0.5–2.3% above the simulated Var(S)/Var_0(S) (a wrong scale, e.g. the sum
    # without its factor 2, is 19–43% off). The Monte Carlo ratio has a relative standard
    # error of about sqrt(2/8000) = 1.6%; stated band 6%.
    from scipy.signal import lfilter

    from patterns.trends import _hamed_rao_ratio

    rng = np.random.default_rng(5)
    x = lfilter([1.0], [1.0, -rho], rng.normal(size=(8000, n + 100)), axis=1)[:, 100:]
    i, j = np.triu_indices(n, 1)
    s = np.sign(x[:, j] - x[:, i]).sum(axis=1)
    var0 = n * (n - 1) * (2 * n + 5) / 18
    k = np.arange(1, n)
    ratio = _hamed_rao_ratio(6 / np.pi * np.arcsin(rho**k / 2), n)
    assert ratio == pytest.approx(s.var() / var0, rel=0.06)
    assert ratio > 1.5  # the correction is not a no-op at these rho


def test_ar1_methods_without_an_identified_fit_make_no_correction():
    # n < 5, a constant series and an exact line: rho is taken as 0 (documented)
    for x in ([1.0, 3.0, 2.0, 4.0], [4.0] * 8, np.arange(8.0)):
        plain = mann_kendall(x).iloc[0]
        ar1 = mann_kendall(x, autocorrelation="hamed_rao_ar1").iloc[0]
        assert ar1["var_s"] == plain["var_s"] and ar1["p_value"] == plain["p_value"]
        bc = mann_kendall(x, autocorrelation="bias_corrected_pre_whitening").iloc[0]
        assert bc["s"] == mann_kendall(np.asarray(x)[1:]).iloc[0]["s"]


def _flat_daily(rng, count, n, phi, integer=False):
    parts = []
    for i in range(count):
        x = 6 + _ar1(rng, n + 30, phi=phi)[30:]
        if integer:  # 0–10 ratings: many ties
            x = np.clip(np.round(6 + 1.5 * (x - 6)), 0, 10)
        parts.append(_series(x, couple=f"c{i:04d}"))
    return pd.concat(parts, ignore_index=True)


def test_trend_tests_default_holds_its_size_on_flat_ar1_days():
    # Known truth: 400 flat AR(1) series (phi 0.5, n 120), tested at alpha = 0.05. If the
    # true rate were 0.05, more than 0.08 (32 of 400) would happen with probability < 0.01
    # (binomial). Measured (seed 2026): default 0.045; the old default Hamed–Rao 0.145,
    # no correction 0.215.
    daily = _flat_daily(np.random.default_rng(2026), 400, 120, 0.5)
    new = trend_tests(daily)
    assert (new["autocorrelation"] == "hamed_rao_ar1").all() and len(new) == 400
    rate = (new["p_value"] < 0.05).mean()
    rate_hr = (trend_tests(daily, autocorrelation="hamed_rao")["p_value"] < 0.05).mean()
    rate_plain = (trend_tests(daily, autocorrelation=None)["p_value"] < 0.05).mean()
    assert rate <= 0.08, rate
    assert rate >= 0.02, rate  # not bought by never rejecting (P(≤ 8 of 400) < 0.01)
    assert rate_hr > 0.1 and rate_plain > 0.15, (rate_hr, rate_plain)


@pytest.mark.parametrize(("n", "phi", "integer"), [(60, 0.7, False), (60, 0.3, True)])
def test_trend_tests_default_size_short_strong_and_tied(n, phi, integer):
    # Known truth: flat series, 400 per case. Measured (seed 7): 0.078 (n 60, phi 0.7) and
    # 0.068 (integer 0–10 ratings, phi 0.3); the 1,000-series table in trend_tests' Notes
    # has 0.064 and 0.056. Stated band ≤ 0.10: at a true 0.065, P(> 40 of 400) < 0.01.
    daily = _flat_daily(np.random.default_rng(7), 400, n, phi, integer=integer)
    rate = (trend_tests(daily)["p_value"] < 0.05).mean()
    assert rate <= 0.10, rate


def test_trend_tests_default_power_on_planted_linear_trend():
    # Known truth: +2 points over 120 days on AR(1) noise (phi 0.5, sd 1); 200 series.
    # Measured power 0.915 (Hamed–Rao 0.975 and none 0.985 buy theirs with false-trend
    # rates of 0.15–0.25); stated floor 0.85.
    rng = np.random.default_rng(31)
    trend = 2.0 * np.arange(120) / 119
    daily = pd.concat(
        [_series(6 + trend + _ar1(rng, 150)[30:], couple=f"c{i:03d}") for i in range(200)],
        ignore_index=True,
    )
    r = trend_tests(daily)
    assert (r["trend"] == "increasing").mean() >= 0.85
    # the slope is per week: 2/119 points a day
    assert r["slope"].median() == pytest.approx(7 * 2 / 119, rel=0.15)


# --- daily / diary days / DST ---------------------------------------------------------------


def test_checkin_at_0030_local_belongs_to_previous_diary_day():
    # 2026-06-02 22:30 UTC = 2026-06-03 00:30 in Amsterdam (CEST, UTC+2)
    ci = _checkins([("c1", "a", "2026-06-02T22:30:00Z", 5.0)])
    d = daily_connection(ci, timezone={"c1": "Europe/Amsterdam"})
    assert d["day"].iloc[0] == pd.Timestamp("2026-06-02")
    # with cutoff_hour=0 it is the calendar day
    d0 = daily_connection(ci, timezone={"c1": "Europe/Amsterdam"}, cutoff_hour=0)
    assert d0["day"].iloc[0] == pd.Timestamp("2026-06-03")


def test_spring_forward_day_has_23_hours_and_is_one_diary_day():
    # Europe/Amsterdam springs forward on 2026-03-29 at 02:00 → 03:00.
    # Diary day 28 March runs 04:00 local on the 28th to 04:00 local on the 29th: 23 h.
    start = pd.Timestamp("2026-03-28 04:00", tz="Europe/Amsterdam")
    end = pd.Timestamp("2026-03-29 04:00", tz="Europe/Amsterdam")
    assert (end - start) == pd.Timedelta(hours=23)
    ci = _checkins(
        [
            ("c1", "a", start.tz_convert("UTC"), 4.0),
            ("c1", "a", (end - pd.Timedelta(minutes=1)).tz_convert("UTC"), 6.0),
            ("c1", "a", end.tz_convert("UTC"), 9.0),
        ]
    )
    d = daily_connection(ci, timezone="Europe/Amsterdam")
    assert d["day"].tolist() == [pd.Timestamp("2026-03-28"), pd.Timestamp("2026-03-29")]
    assert d["connection"].tolist() == [5.0, 9.0]
    assert d["n"].tolist() == [2, 1]


def test_timezones_come_from_attrs_per_couple():
    ci = _checkins(
        [("c1", "a", "2026-01-10T03:30:00Z", 5.0), ("c2", "a", "2026-01-10T03:30:00Z", 5.0)]
    )
    # c1 in New York (22:30 on the 9th), c2 in Sydney (14:30 on the 10th)
    ci.attrs["timezones"] = {"c1": "America/New_York", "c2": "Australia/Sydney"}
    d = daily_connection(ci)
    assert d["day"].dt.day.tolist() == [9, 10]


def test_daily_connection_equals_few_line_pandas(sims):
    ci = sims[1].checkins
    d = check_contract(daily_connection, ci)
    tz = ci.attrs["timezones"]
    # independent: localise each row with its zone by hand
    local = [
        ts.tz_convert(tz[c]).tz_localize(None) - pd.Timedelta(hours=4)
        for ts, c in zip(ci["ts"], ci["couple_id"], strict=True)
    ]
    ref = ci.assign(day=pd.DatetimeIndex(local).normalize()).dropna(subset=["connection"])
    ref = ref.groupby(["couple_id", "partner", "day"])["connection"].mean()
    got = d[d["partner"] != "couple"].set_index(["couple_id", "partner", "day"])["connection"]
    pd.testing.assert_series_equal(
        got, ref.astype(float), check_names=False, check_index_type=False
    )
    couple = d[d["partner"] == "couple"]
    assert len(couple) == int(ref.groupby(["couple_id", "day"]).size().eq(2).sum())
    one = couple.iloc[5]
    pair = ref.xs((one["couple_id"], one["day"]), level=("couple_id", "day"))
    assert one["connection"] == pytest.approx(pair.mean())
    assert len(pair) == 2
    # every couple row: the mean of the two partners' daily means on days both rated
    per_day = ref.groupby(["couple_id", "day"])
    want = per_day.mean()[per_day.size().eq(2)]
    pd.testing.assert_series_equal(
        couple.set_index(["couple_id", "day"])["connection"],
        want,
        check_names=False,
        check_index_type=False,
    )


def test_weekly_connection_interval_equals_scipy():
    d = _series([4.0, 6, 5, 7, 3, 5, 6, 8, 7])  # starts on Monday 2026-01-05
    w = check_contract(weekly_connection, d, confidence=0.9, autocorrelation=None)
    first = w.iloc[0]
    vals = np.array([4.0, 6, 5, 7, 3, 5, 6])
    lo, hi = stats.t.interval(0.9, len(vals) - 1, loc=vals.mean(), scale=stats.sem(vals))
    assert (first["iso_year"], first["iso_week"], first["n_days"]) == (2026, 2, 7)
    assert first["week_start"] == pd.Timestamp("2026-01-05")
    assert first["ci_low"] == pytest.approx(lo) and first["ci_high"] == pytest.approx(hi)


def test_rolling_connection_equals_pandas_rolling_and_t():
    vals = [4.0, 6, 5, 7, 3, 5, 6, 8, 7, 6]
    d = _series(vals).drop(index=[4, 5]).reset_index(drop=True)  # a gap of two days
    r = check_contract(rolling_connection, d, window=3, autocorrelation=None)
    s = d.set_index("day")["connection"].rolling("3D")
    np.testing.assert_allclose(r["rolling_mean"], s.mean().to_numpy())
    np.testing.assert_allclose(r["n"], s.count().to_numpy())
    row = r.iloc[-1]
    lo, hi = stats.t.interval(0.95, 2, loc=np.mean([8.0, 7, 6]), scale=stats.sem([8.0, 7, 6]))
    assert row["ci_low"] == pytest.approx(lo) and row["ci_high"] == pytest.approx(hi)
    assert np.isnan(r.loc[r["n"] == 1, "ci_low"]).all()


# --- Theil–Sen --------------------------------------------------------------------------------


def test_theil_sen_exactly_equals_scipy(sims):
    daily = daily_connection(sims[2].checkins)
    ts = check_contract(theil_sen, daily, confidence=0.9)
    assert len(ts) == daily.groupby(["couple_id", "partner"]).ngroups
    for row in ts.itertuples():
        s = daily[(daily["couple_id"] == row.couple_id) & (daily["partner"] == row.partner)]
        weeks = (s["day"] - s["day"].iloc[0]).dt.days.to_numpy() / 7
        ref = stats.theilslopes(s["connection"].to_numpy(), weeks, alpha=0.9)
        assert (row.slope, row.ci_low, row.ci_high, row.intercept) == (
            ref.slope,
            ref.low_slope,
            ref.high_slope,
            ref.intercept,
        )


def test_trend_tests_on_flat_secure_couples_rarely_significant(sims):
    # Known truth: secure couples are flat. Stated rate: alpha = 0.05 per test; 5 seeds ×
    # 3 series = 15 tests, so more than 3 rejections would be very unlikely (p < 0.01).
    rejections = 0
    for sim in sims.values():
        secure = sim.truth["couples"].query("archetype == 'secure'")["couple_id"]
        ci = sim.checkins[sim.checkins["couple_id"].isin(secure)]
        tt = check_contract(trend_tests, daily_connection(ci))
        assert len(tt) == 3 * len(secure)
        rejections += int((tt["p_value"] < 0.05).sum())
    assert rejections <= 3


# --- change points --------------------------------------------------------------------------


def test_planted_change_point_found_within_7_days(planted):
    # Known truth: conflict_heavy couples have a −1.5 step at `change_point`. With AR(1)
    # noise (phi 0.5) the best split sometimes sits more than a week off the planted day
    # (measured: 35/40 seeds 200–239, 19/20 seeds 100–119 within 7 days), so the stated
    # rate is ≥ 75% of 12 seeds (a seed with no change found counts as a miss).
    within = 0
    for seed, sim in planted.items():
        truth = sim.truth["couples"].query("archetype == 'conflict_heavy'").iloc[0]
        ci = sim.checkins[sim.checkins["couple_id"] == truth["couple_id"]]
        cp = check_contract(change_points, daily_connection(ci))
        couple = cp[cp["partner"] == "couple"]
        if couple.empty:  # a miss (penalty too high for this seed's noise)
            continue
        dist = (couple["date"] - pd.Timestamp(truth["change_point"])).abs().dt.days
        near = couple.loc[dist.idxmin()]
        assert near["delta"] < 0, f"seed {seed}: the planted change is downward"
        within += int(dist.min() <= 7)
    assert within >= 9, within


def test_flat_couples_rarely_get_change_points(sims):
    false = 0
    for sim in sims.values():
        secure = sim.truth["couples"].query("archetype == 'secure'")["couple_id"]
        d = daily_connection(sim.checkins[sim.checkins["couple_id"].isin(secure)])
        false += int((change_points(d)["partner"] == "couple").sum())
    assert false <= 1


def test_change_points_means_and_jump_1():
    y = np.r_[np.full(13, 2.0), np.full(11, 8.0)]  # a change at position 13: not a multiple of 5
    cp = change_points(_series(y), penalty=1.0, min_size_days=5)
    assert cp["date"].tolist() == [pd.Timestamp("2026-01-05") + pd.Timedelta(days=13)]
    assert cp[["mean_before", "mean_after", "delta", "n_before", "n_after"]].iloc[0].tolist() == [
        2.0,
        8.0,
        6.0,
        13,
        11,
    ]
    # constant series: no change points (zero-variance guard)
    assert change_points(_series(np.full(30, 5.0))).empty
    # too short for two segments
    assert change_points(_series(np.arange(10.0)), min_size_days=7).empty


def test_default_penalty_is_bic_on_iid_and_larger_on_ar1():
    rng = np.random.default_rng(9)
    iid = rng.normal(0, 1, 2000)
    assert default_penalty(iid) == pytest.approx(2 * np.log(2000), rel=0.2)
    # AR(1) with marginal variance 1 and phi 0.5 has long-run variance 3; the estimate
    # (through the lag-1 correlation of differences) is noisy, so check the order only.
    ratios = [default_penalty(_ar1(rng, 2000)) / (2 * np.log(2000)) for _ in range(5)]
    assert 2.0 < np.median(ratios) < 6.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "ar"}, "model must be one of"),
        ({"model": "rbf"}, "penalty must be given explicitly"),
        ({"min_size_days": 1}, "change_points: min_size_days must be an integer ≥ 2; got 1"),
        ({"min_size_days": 7.0}, r"min_size_days must be an integer ≥ 2; got 7\.0"),
        ({"penalty": -1.0}, "penalty must be"),
    ],
)
def test_change_points_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        change_points(_series(np.arange(30.0)), **kwargs)


# --- partner agreement ---------------------------------------------------------------------


def test_partner_agreement_equals_pearson_and_fisher_by_hand():
    rng = np.random.default_rng(5)
    a = rng.normal(6, 1, 40)
    b = 0.6 * a + rng.normal(1, 0.8, 40)
    d = pd.concat(
        [
            _series(a, partner="p1"),
            _series(b, partner="p2"),
            _series((a + b) / 2, partner="couple"),
        ],
        ignore_index=True,
    )
    d = d.drop(index=[3, 50]).reset_index(drop=True)  # a missing day for each partner
    r = check_contract(partner_agreement, d, confidence=0.9).iloc[0]
    keep = np.ones(40, bool)
    keep[[3, 10]] = False
    ref_r, ref_p = stats.pearsonr(a[keep], b[keep])
    n = keep.sum()
    z = np.arctanh(ref_r)
    half = stats.norm.ppf(0.95) / np.sqrt(n - 3)
    assert (r["partner_a"], r["partner_b"], r["n"]) == ("p1", "p2", n)
    assert r["r"] == pytest.approx(ref_r) and r["p_value"] == pytest.approx(ref_p)
    assert r["ci_low"] == pytest.approx(np.tanh(z - half))
    assert r["ci_high"] == pytest.approx(np.tanh(z + half))
    assert r["mean_gap"] == pytest.approx(np.mean(a[keep] - b[keep]))
    assert r["mean_abs_gap"] == pytest.approx(np.mean(np.abs(a[keep] - b[keep])))


# --- intervention ---------------------------------------------------------------------------


def test_intervention_effect_segmented_regression_equals_statsmodels():
    rng = np.random.default_rng(8)
    y = 5 + 0.01 * np.arange(80) + np.r_[np.zeros(45), np.full(35, 1.2)] + _ar1(rng, 80)
    d = _series(y)
    day0 = pd.Timestamp("2026-01-05") + pd.Timedelta(days=45)
    r = check_contract(
        intervention_effect,
        d,
        intervention_date=day0,
        n_boot=500,
        method="newey_west",
        maxlags=3,
    ).iloc[0]
    t = np.arange(80.0)
    post = (t >= 45).astype(float)
    X = np.column_stack([np.ones(80), t, post, (t - 45) * post])
    fit = sm.OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": 3})
    assert r["level_change"] == pytest.approx(fit.params[2])
    assert r["level_se"] == pytest.approx(fit.bse[2])
    assert r["slope_change"] == pytest.approx(fit.params[3])
    assert r["slope_p_value"] == pytest.approx(fit.pvalues[3])
    assert r["level_ci_low"] == pytest.approx(fit.conf_int(0.05)[2, 0])
    # difference and Hedges' g by hand
    a, b = y[:45], y[45:]
    sp = np.sqrt((44 * a.var(ddof=1) + 34 * b.var(ddof=1)) / 78)
    assert r["difference"] == pytest.approx(b.mean() - a.mean())
    assert r["hedges_g"] == pytest.approx((b.mean() - a.mean()) / sp * (1 - 3 / (4 * 80 - 9)))
    assert r["ci_low"] < r["difference"] < r["ci_high"]
    assert (r["n_before"], r["n_after"], r["maxlags"]) == (45, 35, 3)


def _dense_reml(y, X, t):
    # independent: the textbook REML for GLS with corr rho^|t_i - t_j| on dense matrices
    # (Harville 1977), maximised with scipy; then statsmodels GLS at that rho
    from scipy import linalg

    def nll(theta):
        s2, rho = theta
        V = s2 * rho ** np.abs(t[:, None] - t[None, :])
        Vi = linalg.inv(V)
        beta = linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
        r = y - X @ beta
        return 0.5 * (np.linalg.slogdet(V)[1] + np.linalg.slogdet(X.T @ Vi @ X)[1] + r @ Vi @ r)

    def profiled(rho):
        R = rho ** np.abs(t[:, None] - t[None, :])
        fit = sm.GLS(y, X, sigma=R).fit()
        return nll((fit.scale, rho)), fit

    rho = _reml_rho(profiled)
    fit = profiled(rho)[1]
    # Satterthwaite df for the level change from the dense information (steps 1e-3)
    theta = np.array([fit.scale, rho])
    h = theta * 1e-3

    def var2(th):
        R = th[1] ** np.abs(t[:, None] - t[None, :])
        return th[0] * linalg.inv(X.T @ linalg.inv(R) @ X)[2, 2]

    df = _satterthwaite_by_differences(nll, var2, theta, h)
    return rho, fit, df


@pytest.mark.parametrize("gaps", [False, True])
def test_intervention_reml_equals_dense_gls_and_satterthwaite(gaps):
    rng = np.random.default_rng(21)
    n = 90
    y = 5 + 0.01 * np.arange(n) + np.r_[np.zeros(50), np.full(n - 50, 1.2)] + _ar1(rng, n, phi=0.6)
    d = _series(y)
    if gaps:  # missing days: the correlation is rho^(days apart)
        d = d.drop(index=[3, 4, 17, 40, 41, 42, 66]).reset_index(drop=True)
    day0 = pd.Timestamp("2026-01-05") + pd.Timedelta(days=50)
    r = check_contract(intervention_effect, d, intervention_date=day0, n_boot=200).iloc[0]
    t = ((d["day"] - d["day"].iloc[0]) / pd.Timedelta(days=1)).to_numpy()
    post = (t >= 50).astype(float)
    X = np.column_stack([np.ones_like(t), t, post, (t - 50) * post])
    rho, fit, df = _dense_reml(d["connection"].to_numpy(), X, t)
    assert 0.3 < rho < 0.9
    assert r["level_change"] == pytest.approx(fit.params[2], rel=1e-6)
    assert r["level_se"] == pytest.approx(fit.bse[2], rel=1e-6)
    assert r["slope_change"] == pytest.approx(fit.params[3], rel=1e-6, abs=1e-9)
    assert r["slope_se"] == pytest.approx(fit.bse[3], rel=1e-6)
    q = stats.t.ppf(0.975, df)
    assert r["level_ci_low"] == pytest.approx(fit.params[2] - q * fit.bse[2], rel=1e-4)
    assert r["level_ci_high"] == pytest.approx(fit.params[2] + q * fit.bse[2], rel=1e-4)
    t_stat = fit.params[2] / fit.bse[2]
    assert r["level_p_value"] == pytest.approx(2 * stats.t.sf(abs(t_stat), df), rel=1e-3)
    assert np.isnan(r["maxlags"])


def test_intervention_reml_level_interval_covers_planted_change():
    # Known truth: +1.5 at day 66 of 120, AR(1) days (phi 0.5, sd 1), 300 series, nominal
    # 95%. Measured (seed 77): REML 0.950, Newey–West 0.837 (the 500-series table in the
    # Notes: 0.93–0.96 vs 0.69–0.92). Stated band ≥ 0.91: at a true 0.945,
    # P(< 273 of 300) < 0.01 (binomial).
    d, days = _planted_steps(np.random.default_rng(77), phi=0.5)
    kw = {"intervention_date": days[66], "n_boot": 100}
    reml = intervention_effect(d, **kw)
    nw = intervention_effect(d, method="newey_west", **kw)
    cover = ((reml["level_ci_low"] <= 1.5) & (1.5 <= reml["level_ci_high"])).mean()
    cover_nw = ((nw["level_ci_low"] <= 1.5) & (1.5 <= nw["level_ci_high"])).mean()
    assert cover >= 0.91, cover
    assert cover_nw < cover, (cover_nw, cover)
    # the estimates are unbiased; the REML interval is wider where it must be
    assert reml["level_change"].mean() == pytest.approx(1.5, abs=0.05)


def test_intervention_reml_exact_fit_has_no_test():
    d = _series(np.arange(20.0))
    r = intervention_effect(d, intervention_date="2026-01-15", n_boot=100).iloc[0]
    assert r["level_change"] == pytest.approx(0.0, abs=1e-9)
    assert r["level_se"] == 0.0 and np.isnan(r["level_p_value"])


def test_intervention_reml_refuses_two_rows_on_one_day():
    # A hand-made daily table with a repeated day: the AR(1) model has correlation
    # rho^0 = 1 between two different values (a singular covariance). Before the check
    # this raised numpy's "SVD did not converge in Linear Least Squares"; newey_west
    # (plain OLS) with the bootstrap interval still accepts it, with the default REML
    # interval of the difference it does not.
    d = _series(5 + _ar1(np.random.default_rng(3), 30))
    d.loc[10, "day"] = d.loc[9, "day"]
    with pytest.raises(
        ValueError,
        match=r"intervention_effect: daily must be a table with one row per couple, partner "
        r"and day with method='reml'; got 'c1 / a: 2 rows on 2026-01-14'",
    ):
        intervention_effect(d, intervention_date="2026-01-20", n_boot=100)
    with pytest.raises(
        ValueError,
        match=r"one row per couple, partner and day with ci_method='reml'; got 'c1 / a: 2 rows",
    ):
        intervention_effect(d, intervention_date="2026-01-20", method="newey_west")
    nw = intervention_effect(
        d,
        intervention_date="2026-01-20",
        n_boot=100,
        method="newey_west",
        ci_method="bootstrap",
    )
    assert np.isfinite(nw["level_change"].iloc[0]) and np.isfinite(nw["ci_low"].iloc[0])


def test_intervention_bootstrap_is_seeded():
    y = 5 + _ar1(np.random.default_rng(1), 60)
    d = _series(y)
    kw = {"intervention_date": "2026-02-04", "n_boot": 300, "ci_method": "bootstrap"}
    a = intervention_effect(d, seed=1, **kw)
    pd.testing.assert_frame_equal(a, intervention_effect(d, seed=1, **kw))
    assert a["ci_low"].iloc[0] != intervention_effect(d, seed=2, **kw)["ci_low"].iloc[0]


def test_planted_intervention_effect_inside_interval(planted):
    # Known truth: improving couples get +1.5 at `intervention_date`. Nominal 95% intervals;
    # measured coverage on seeds 200–239 (couple rows): REML level change 0.975 (0.933 over
    # all 120 series), Newey–West 0.90 (0.85); interval of the difference: REML (default)
    # 0.975 (0.967), moving-block bootstrap 0.90 (0.875). Here (seeds 1–12): 12 of 12 for
    # both REML intervals. Stated rate: at least 10 of 12 seeds for each (P < 0.02 at a
    # true 0.95).
    diff_inside = level_inside = 0
    for sim in planted.values():
        truth = sim.truth["couples"].query("archetype == 'improving'").iloc[0]
        ci = sim.checkins[sim.checkins["couple_id"] == truth["couple_id"]]
        r = intervention_effect(
            daily_connection(ci),
            intervention_date={truth["couple_id"]: truth["intervention_date"]},
        )
        couple = r[r["partner"] == "couple"].iloc[0]
        effect = truth["intervention_effect"]
        diff_inside += int(couple["ci_low"] <= effect <= couple["ci_high"])
        level_inside += int(couple["level_ci_low"] <= effect <= couple["level_ci_high"])
        assert couple["difference"] > 0.5 and couple["hedges_g"] > 0.5
    assert diff_inside >= 10 and level_inside >= 10, (diff_inside, level_inside)


def test_intervention_mapping_skips_other_couples_and_errors():
    d = pd.concat([_series(np.arange(20.0), couple="c1"), _series(np.arange(20.0), couple="c2")])
    r = intervention_effect(d, intervention_date={"c2": "2026-01-15"}, n_boot=100)
    assert r["couple_id"].tolist() == ["c2"]
    short = intervention_effect(d, intervention_date="2026-01-06", n_boot=100)
    assert short["n_before"].tolist() == [1, 1] and short["difference"].isna().all()
    with pytest.raises(ValueError, match="intervention_date must be"):
        intervention_effect(d, intervention_date="not a date")
    with pytest.raises(ValueError, match="intervention_effect: n_boot must be an integer ≥ 100"):
        intervention_effect(d, intervention_date="2026-01-15", n_boot=10)
    with pytest.raises(ValueError, match=r"n_boot must be an integer ≥ 100; got 200\.0"):
        intervention_effect(d, intervention_date="2026-01-15", n_boot=200.0)
    with pytest.raises(ValueError, match="seed must be a non-negative integer; got -1"):
        intervention_effect(d, intervention_date="2026-01-15", seed=-1)
    with pytest.raises(ValueError, match="seed must be a non-negative integer; got False"):
        intervention_effect(d, intervention_date="2026-01-15", seed=False)
    with pytest.raises(ValueError, match="block_length must be a positive integer; got 0"):
        intervention_effect(d, intervention_date="2026-01-15", block_length=0)
    with pytest.raises(ValueError, match="confidence must be a number strictly between 0 and 1"):
        intervention_effect(d, intervention_date="2026-01-15", confidence=np.nan)


# --- lonely together -----------------------------------------------------------------------


def test_lonely_together_recovers_planted_days(sims):
    from patterns.simulate import LONELY_MIN, TOGETHER_MIN

    for sim in sims.values():
        truth = sim.truth["couples"].set_index("couple_id")
        # lonely-only rule at the simulator's level: every planted day is flagged, and the
        # flagged days with at least TOGETHER_MIN minutes are exactly the planted ones.
        days = check_contract(
            lonely_together_days, sim.checkins, lonely_min=LONELY_MIN, connection_max=0.0
        )
        long = days[days["lonely_together"] & (days["time_together_min"] >= TOGETHER_MIN)]
        got = long.groupby("couple_id").size().reindex(truth.index, fill_value=0)
        pd.testing.assert_series_equal(
            got, truth["lonely_together_days"], check_names=False, check_dtype=False
        )
        pw = truth.query("archetype == 'pursue_withdraw'")
        lt = lonely_together(sim.checkins)
        main = lt[lt["partner"].isin(pw["pursuer"])]
        other = lt[lt["couple_id"].isin(pw.index) & ~lt["partner"].isin(pw["pursuer"])]
        assert (main["share"].to_numpy() > other["share"].to_numpy()).all()


def test_lonely_together_equals_few_line_pandas():
    rng = np.random.default_rng(3)
    n = 30
    ci = pd.DataFrame(
        {
            "couple_id": "c1",
            "partner": "a",
            "ts": pd.date_range("2026-01-05T19:00Z", periods=n),
            "time_together_min": rng.integers(0, 60, n) * 5.0,
            "lonely": rng.integers(0, 11, n) * 1.0,
            "connection": rng.integers(0, 11, n) * 1.0,
        }
    )
    days = lonely_together_days(ci)
    together = ci["time_together_min"] > ci["time_together_min"].median()
    flag = together & ((ci["lonely"] >= 6) | (ci["connection"] <= 4))
    assert days["lonely_together"].tolist() == flag.tolist()
    r = lonely_together(ci, confidence=0.9).iloc[0]
    lo, hi = sm.stats.proportion_confint(flag.sum(), together.sum(), alpha=0.1, method="wilson")
    assert (r["together_days"], r["lonely_together_days"]) == (together.sum(), flag.sum())
    assert r["ci_low"] == pytest.approx(lo) and r["ci_high"] == pytest.approx(hi)
    with pytest.raises(ValueError, match="lonely_min must be"):
        lonely_together(ci, lonely_min=12)
    with pytest.raises(schema.SchemaError, match="missing columns"):
        lonely_together(ci.drop(columns="time_together_min"))


# --- contract and argument errors -------------------------------------------------------------


def test_every_daily_function_checks_its_input_columns():
    bad = pd.DataFrame({"couple_id": ["c1"], "partner": ["a"], "date": ["2026-01-01"]})
    for f in (
        weekly_connection,
        rolling_connection,
        theil_sen,
        trend_tests,
        change_points,
        partner_agreement,
    ):
        with pytest.raises(schema.SchemaError, match=r"missing columns \['day', 'connection'\]"):
            f(bad)
    with pytest.raises(schema.SchemaError, match="missing columns"):
        daily_connection(bad)


@pytest.mark.parametrize(
    ("func", "kwargs", "match"),
    [
        (daily_connection, {"cutoff_hour": 24}, "cutoff_hour must be an integer from 0 to 23"),
        (daily_connection, {"cutoff_hour": 4.0}, "cutoff_hour must be an integer from 0 to 23"),
        (weekly_connection, {"confidence": 95}, "confidence must be a number strictly between 0"),
        (rolling_connection, {"window": 0}, "window must be a positive integer; got 0"),
        (rolling_connection, {"window": 7.0}, r"window must be a positive integer; got 7\.0"),
        (partner_agreement, {"confidence": 0}, "confidence must be a number strictly between 0"),
        (theil_sen, {"confidence": 1.0}, "confidence must be a number strictly between 0"),
        (trend_tests, {"alpha": 0.0}, "trend_tests: alpha must be a number strictly between 0"),
        (trend_tests, {"autocorrelation": "ar1"}, "trend_tests: autocorrelation must be one of"),
    ],
)
def test_option_errors(func, kwargs, match):
    arg = (
        _checkins([("c1", "a", "2026-01-05T20:00Z", 5.0)])
        if func is daily_connection
        else _series([1.0, 2, 3])
    )
    with pytest.raises(ValueError, match=match):
        func(arg, **kwargs)


def test_contract_on_simulated_data(sims):
    sim = sims[3]
    daily = daily_connection(sim.checkins)
    check_contract(weekly_connection, daily)
    check_contract(rolling_connection, daily)
    check_contract(partner_agreement, daily)
    check_contract(trend_tests, daily, autocorrelation=None)
    check_contract(mann_kendall, daily["connection"].to_numpy()[:50])
    check_contract(lonely_together, sim.checkins)
    check_contract(lonely_together_days, sim.checkins)
    check_contract(daily_partner_table, sim.checkins, ["stress", "lonely"])
    check_contract(change_points, daily, penalty=20.0)
    check_contract(intervention_effect, daily, intervention_date="2026-02-15", n_boot=200)


def test_rolling_connection_keeps_series_apart(sims):
    d = daily_connection(sims[4].checkins)
    r = rolling_connection(d, window=5)
    parts = []
    for (c, p), g in d.groupby(["couple_id", "partner"]):
        s = g.set_index("day")["connection"].rolling("5D")
        parts.append(
            pd.DataFrame(
                {
                    "couple_id": c,
                    "partner": p,
                    "day": g["day"].to_numpy(),
                    "ref_mean": s.mean().to_numpy(),
                    "ref_n": s.count().to_numpy(),
                }
            )
        )
    m = r.merge(pd.concat(parts), on=["couple_id", "partner", "day"], validate="1:1")
    assert len(m) == len(r) == len(d)
    np.testing.assert_allclose(m["rolling_mean"], m["ref_mean"])
    np.testing.assert_allclose(m["n"], m["ref_n"])


def test_more_option_errors():
    d = _series(np.arange(20.0))
    with pytest.raises(ValueError, match="maxlags must be a non-negative integer; got -1"):
        intervention_effect(d, intervention_date="2026-01-15", method="newey_west", maxlags=-1)
    with pytest.raises(ValueError, match="maxlags must be None unless method='newey_west'; got 3"):
        intervention_effect(d, intervention_date="2026-01-15", maxlags=3)
    with pytest.raises(ValueError, match=r"method must be one of \['reml', 'newey_west'\]"):
        intervention_effect(d, intervention_date="2026-01-15", method="ols")
    with pytest.raises(ValueError, match="penalty must be a non-negative number"):
        change_points(d, penalty="high")
    with pytest.raises(ValueError, match="connection_max must be"):
        lonely_together_days(
            pd.DataFrame(
                {
                    "couple_id": ["c1"],
                    "partner": ["a"],
                    "ts": pd.to_datetime(["2026-01-05T20:00Z"]),
                    "time_together_min": [60.0],
                    "lonely": [3.0],
                }
            ),
            connection_max=-1,
        )


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.3])
def test_private_theilslopes_equals_scipy_with_ties(confidence):
    # the hand-written fast path (issue 8) against scipy.stats.theilslopes, ties in x and y
    from patterns.trends import _theilslopes

    rng = np.random.default_rng(5)
    for n in (3, 4, 7, 40, 181):
        y = rng.integers(0, 5, n).astype(float)
        x = np.sort(rng.integers(0, n // 2 + 2, n)).astype(float)
        ref = stats.theilslopes(y, x, alpha=confidence)
        got = _theilslopes(y, x, confidence)
        want = (ref.slope, ref.intercept, ref.low_slope, ref.high_slope)
        np.testing.assert_array_equal(np.array(got), np.array(want, dtype=float))
    assert all(np.isnan(_theilslopes(np.array([1.0, 2, 3]), np.zeros(3), 0.95)))


def test_measure_equals_the_float64_round_trip():
    from patterns.trends import _measure

    cols = [
        pd.Series([1.5, np.nan, -0.0, 7.0]),
        pd.Series([1.5, None, 2.0, 7.0], dtype="Float64"),
        pd.Series([1, 2, 3, 4], dtype="int64"),
        pd.Series([1.5, None, 2.0, 4], dtype="object"),
    ]
    for col in cols:
        want = pd.to_numeric(col.astype("Float64"), errors="coerce").astype(float)
        got = _measure(col)
        pd.testing.assert_series_equal(got, want, check_exact=True)
    assert _measure(cols[0]) is cols[0]  # float64 as is, no copy
    assert np.signbit(_measure(cols[0]).iloc[2])  # -0.0 kept, as the round trip keeps it


@pytest.mark.parametrize("cutoff", [0, 4, 23])
def test_checkin_days_integer_path_equals_diary_day(cutoff, monkeypatch):
    import patterns.timeutil as tu
    from patterns.trends import _diary_days

    rng = np.random.default_rng(cutoff)
    n = 3000
    ts = pd.Timestamp("2026-03-20", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 60 * 24 * 3600, n), unit="s"
    )  # across the March and (southern) April DST changes
    ts = ts.as_unit("ns")  # the loader's unit (another takes diary_day's Timestamp route)
    ci = pd.DataFrame(
        {
            "couple_id": pd.array(rng.choice(["c1", "c2", "c3", "c4"], n), dtype="string"),
            "partner": pd.array(rng.choice(["a", "b"], n), dtype="string"),
            "ts": ts,
        }
    )
    zones = {"c1": "Europe/Amsterdam", "c2": "America/New_York", "c3": "Australia/Sydney"}
    wants = {}
    for tz in (zones, "Asia/Kolkata", "UTC"):  # c4 has no zone: UTC
        wants[str(tz)] = tu._wall_clock_day(ci["ts"], ci["couple_id"], tz, cutoff)

    def refuse(*args, **kwargs):
        raise AssertionError("the integer path was not taken")

    monkeypatch.setattr(tu, "local_time", refuse)  # the Timestamp route's only way in
    for tz in (zones, "Asia/Kolkata", "UTC"):
        got = _diary_days(ci, tz, cutoff)
        pd.testing.assert_series_equal(got, wants[str(tz)], check_exact=True)
    monkeypatch.undo()
    # a row without a couple: the Timestamp route (its zone rule for a missing id)
    odd = ci.assign(couple_id=ci["couple_id"].mask(ci.index == 5))
    want = tu._wall_clock_day(odd["ts"], odd["couple_id"], zones, cutoff)
    pd.testing.assert_series_equal(_diary_days(odd, zones, cutoff), want, check_exact=True)


# --- Sen's interval with the test's (autocorrelation-corrected) Var(S) -----------------------


def _gilbert_interval(x, t, var_s, alpha=0.05):
    # independent: Gilbert (1987) §16.5.1 on fully sorted pairwise slopes; M1-th and
    # (M2+1)-th smallest with M = (N ∓ C)/2, C = z·sqrt(Var(S)) (rounded as scipy rounds)
    i, j = np.triu_indices(len(x), 1)
    slopes = np.sort((x[j] - x[i]) / (t[j] - t[i]))
    c = stats.norm.ppf(1 - alpha / 2) * np.sqrt(var_s)
    m1 = int(np.round((len(slopes) - c) / 2))
    m2 = int(np.round((len(slopes) + c) / 2))
    return slopes[m1 - 1], slopes[m2]


def test_theilslopes_with_a_variance_ratio_hand_worked():
    # y = 0, 1, 3, 2, 6 at t = 0..4: the 10 pairwise slopes sorted are
    # -1, 0.5, 2/3, 1, 1.5, 1.5, 1.5, 5/3, 2, 4; Var(S) = 5·4·15/18 = 16.67.
    # ratio 1 (scipy): C = 1.96·4.08 = 8.0, M1 = round(1.0) = 1, M2 = round(9.0) = 9:
    # the 1st and 10th slopes, -1 and 4. ratio 1/4: C = 4.0, M1 = 3, M2 = 7: 2/3 and 5/3.
    # Sen's slope 1.5 (5th and 6th), intercept median(y) - 1.5·median(t) = 2 - 3 = -1.
    from patterns.trends import _theilslopes

    y, x = np.array([0.0, 1, 3, 2, 6]), np.arange(5.0)
    assert _theilslopes(y, x, 0.95) == pytest.approx((1.5, -1.0, -1.0, 4.0))
    ref = stats.theilslopes(y, x, alpha=0.95)
    assert (ref.low_slope, ref.high_slope) == (-1.0, 4.0)
    assert _theilslopes(y, x, 0.95, 0.25) == pytest.approx((1.5, -1.0, 2 / 3, 5 / 3))
    # a callable ratio gets Sen's slope (the Hamed–Rao ratio needs the detrended series)
    seen = []
    got = _theilslopes(y, x, 0.95, lambda slope: seen.append(slope) or 0.25)
    assert seen == [1.5] and got == pytest.approx((1.5, -1.0, 2 / 3, 5 / 3))


@pytest.mark.parametrize("name", sorted(_MK_SERIES))
def test_slope_interval_uses_the_tests_variance(name):
    # Oracle for "hamed_rao": pymannkendall's corrected Var(S) (independent code), put
    # into Gilbert's rule by hand; for "hamed_rao_ar1" the var_s already checked against
    # the independent computation above. None stays scipy's theilslopes interval.
    x = _MK_SERIES[name]
    t = np.arange(len(x), dtype=float)
    ref = pmk.hamed_rao_modification_test(x)
    hr = mann_kendall(x, autocorrelation="hamed_rao").iloc[0]
    lo, hi = _gilbert_interval(x, t, ref.var_s)
    assert (hr["slope_ci_low"], hr["slope_ci_high"]) == pytest.approx((lo, hi))
    ar1 = mann_kendall(x, autocorrelation="hamed_rao_ar1").iloc[0]
    lo, hi = _gilbert_interval(x, t, ar1["var_s"])
    assert (ar1["slope_ci_low"], ar1["slope_ci_high"]) == pytest.approx((lo, hi))
    plain = mann_kendall(x).iloc[0]
    scipy_ref = stats.theilslopes(x, t, alpha=0.95)
    assert (plain["slope_ci_low"], plain["slope_ci_high"]) == (
        scipy_ref.low_slope,
        scipy_ref.high_slope,
    )
    # bias-corrected pre-whitening whitens with the same rho as hamed_rao_ar1
    bc = mann_kendall(x, autocorrelation="bias_corrected_pre_whitening").iloc[0]
    assert (bc["slope_ci_low"], bc["slope_ci_high"]) == (
        ar1["slope_ci_low"],
        ar1["slope_ci_high"],
    )


def test_slope_interval_covers_the_true_slope_and_agrees_with_the_test():
    # Known truth: 300 AR(1) series (phi 0.5, n 120, sd 1), half flat and half rising
    # 2 points over the 120 days; nominal 95%. Measured (seed 404): hamed_rao_ar1 0.930,
    # scipy's (None) 0.723; the 500-series table in theil_sen's Notes has 0.94-0.96 vs
    # 0.76-0.80 at phi 0.5. Band >= 0.91: at a true 0.945, P(< 273 of 300) < 0.01.
    rng = np.random.default_rng(404)
    rise = 2.0 * np.arange(120) / 119
    daily = pd.concat(
        [_series(6 + (i % 2) * rise + _ar1(rng, 150)[30:], couple=f"c{i:03d}") for i in range(300)],
        ignore_index=True,
    )
    truth = np.where(np.arange(300) % 2, 7 * 2.0 / 119, 0.0)  # points per week
    tt = trend_tests(daily)
    ts = check_contract(theil_sen, daily, autocorrelation="hamed_rao_ar1")
    plain = theil_sen(daily)
    for col in ("low", "high"):  # theil_sen's option is trend_tests' interval
        np.testing.assert_array_equal(ts[f"ci_{col}"], tt[f"slope_ci_{col}"])
    np.testing.assert_array_equal(ts["slope"], plain["slope"])
    cover = ((ts["ci_low"] <= truth) & (truth <= ts["ci_high"])).mean()
    cover_plain = ((plain["ci_low"] <= truth) & (truth <= plain["ci_high"])).mean()
    assert cover >= 0.91, cover
    assert cover_plain < 0.85, cover_plain
    # "interval excludes 0" and "the test finds a trend" agree (continuous ratings)
    excludes = (tt["slope_ci_low"] > 0) | (tt["slope_ci_high"] < 0)
    np.testing.assert_array_equal(excludes, tt["trend"] != "no trend")


def test_theil_sen_autocorrelation_error():
    with pytest.raises(ValueError, match=r"theil_sen: autocorrelation must be one of"):
        theil_sen(_series(np.arange(10.0)), autocorrelation="ar1")


# --- the interval of the before/after difference (ci_method) ------------------------------


def test_car1_quad_equals_the_dense_quadratic_form():
    from patterns.trends import _car1_quad

    rng = np.random.default_rng(4)
    t = np.sort(rng.choice(90, 60, replace=False)).astype(float) + 3.0  # gaps, offset
    c = rng.normal(size=60)
    for rho in (0.0, 0.45, -0.6, 0.97):
        dense = c @ (rho ** np.abs(t[:, None] - t[None, :])) @ c
        assert _car1_quad(rho, t, c) == pytest.approx(dense, rel=1e-10)


def _dense_difference_interval(y, t, post, confidence=0.95):
    # independent: dense-matrix REML of y = mu_b(1 - post) + mu_a·post + e, corr
    # rho^|t_i - t_j| (statsmodels GLS at each rho, scipy's bounded search), then
    # Var(mean_a - mean_b) = s2·c'Rc on the dense R, Satterthwaite df from the dense
    # REML information by central differences (steps 1e-3)
    from scipy import linalg

    X = np.column_stack([1 - post, post])
    lag = np.abs(t[:, None] - t[None, :])

    def nll(s2, rho):
        V = s2 * rho**lag
        Vi = linalg.inv(V)
        beta = linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
        r = y - X @ beta
        return 0.5 * (np.linalg.slogdet(V)[1] + np.linalg.slogdet(X.T @ Vi @ X)[1] + r @ Vi @ r)

    def profiled(rho):
        fit = sm.GLS(y, X, sigma=rho**lag).fit()
        return nll(fit.scale, rho), fit.scale

    rho = _reml_rho(profiled)
    s2 = profiled(rho)[1]
    c = np.where(post > 0, 1 / post.sum(), -1 / (len(y) - post.sum()))

    def var(th):
        return th[0] * c @ (th[1] ** lag) @ c

    theta = np.array([s2, rho])
    h = theta * 1e-3
    df = _satterthwaite_by_differences(lambda th: nll(*th), var, theta, h)
    diff = y[post > 0].mean() - y[post == 0].mean()
    half = stats.t.ppf(0.5 + confidence / 2, df) * np.sqrt(var(theta))
    return diff - half, diff + half, rho, df


@pytest.mark.parametrize("gaps", [False, True])
def test_difference_interval_equals_dense_reml_and_satterthwaite(gaps):
    rng = np.random.default_rng(12)
    n = 80
    y = 5 + np.r_[np.zeros(44), np.full(n - 44, 1.2)] + _ar1(rng, n, phi=0.6)
    d = _series(y)
    if gaps:
        d = d.drop(index=[2, 9, 10, 30, 50, 51, 52, 70]).reset_index(drop=True)
    day0 = pd.Timestamp("2026-01-05") + pd.Timedelta(days=44)
    r = check_contract(intervention_effect, d, intervention_date=day0, confidence=0.9).iloc[0]
    t = ((d["day"] - d["day"].iloc[0]) / pd.Timedelta(days=1)).to_numpy()
    post = (t >= 44).astype(float)
    lo, hi, rho, df = _dense_difference_interval(d["connection"].to_numpy(), t, post, 0.9)
    assert 0.3 < rho < 0.9 and 2 < df < n - 2  # few effective days: df well below n
    # rho and the standard error agree to ~1e-8; the df (~5 here, by finite differences
    # with other steps) to ~2e-4, which moves the t quantile at 5 df by ~1e-4
    assert r["ci_high"] - r["ci_low"] == pytest.approx(hi - lo, rel=1e-3)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi), abs=1e-3)
    assert r["ci_low"] < r["difference"] < r["ci_high"]
    assert r["difference"] == pytest.approx((r["ci_low"] + r["ci_high"]) / 2)
    assert np.isnan(r["block_length"])


def test_difference_interval_covers_the_planted_difference():
    # Known truth: +1.5 at day 66 of 120, strongly carried-over days (phi 0.7, sd 1),
    # 300 series, nominal 95%. Measured (seed 78): REML 0.953, moving-block bootstrap
    # 0.817 (Notes' 500-series table at phi 0.7: 0.94-0.96 against 0.73-0.81). Band
    # >= 0.91: at a true 0.945, P(< 273 of 300) < 0.01 (binomial).
    d, days = _planted_steps(np.random.default_rng(78), phi=0.7)
    reml = intervention_effect(d, intervention_date=days[66], method="newey_west")
    boot = intervention_effect(
        d, intervention_date=days[66], method="newey_west", ci_method="bootstrap", n_boot=500
    )
    pd.testing.assert_series_equal(reml["difference"], boot["difference"])
    cover = ((reml["ci_low"] <= 1.5) & (1.5 <= reml["ci_high"])).mean()
    cover_boot = ((boot["ci_low"] <= 1.5) & (1.5 <= boot["ci_high"])).mean()
    assert cover >= 0.91, cover
    assert cover_boot < 0.87, cover_boot


def test_difference_interval_errors():
    d = _series(5 + _ar1(np.random.default_rng(3), 30))
    with pytest.raises(ValueError, match=r"intervention_effect: ci_method must be one of"):
        intervention_effect(d, intervention_date="2026-01-20", ci_method="percentile")
    with pytest.raises(
        ValueError, match=r"block_length must be None unless ci_method='bootstrap'; got 5"
    ):
        intervention_effect(d, intervention_date="2026-01-20", block_length=5)
    r = intervention_effect(
        d, intervention_date="2026-01-20", block_length=5, ci_method="bootstrap", n_boot=100
    )
    assert r["block_length"].iloc[0] == 5


# --- the weekly / rolling interval under AR(1) days (autocorrelation="ar1") ---------------


def test_ar1_mean_terms_hand_worked():
    # Three consecutive days, rho 0.5: R = [[1, .5, .25], [.5, 1, .5], [.25, .5, 1]],
    # D = 5.5, k^2 = (n-1)D/(n^2-D) = 11/3.5; tr(AR) = 3 - 5.5/3 = 7/6,
    # tr(RR) = 4.125, row sums 1.75, 2, 1.75 (sum of squares 10.125),
    # tr(ARAR) = 4.125 - 2(10.125)/3 + (5.5/3)^2 = 0.736111, df = (7/6)^2/0.736111.
    # Two days with one missing between them (rho^2 = .25 apart): D = 2.5,
    # k^2 = 2.5/1.5 = 5/3, df = 1 (two values: one contrast). rho 0: k = 1, df n - 1.
    from patterns.trends import _ar1_mean_terms

    obs = np.array([0.0, 1, 1, 1, 0, 1, 0, 1, 0, 0])
    cells = np.array([[1, 2, 3], [5, 6, 7], [1, 2, 3]])
    factor, df = _ar1_mean_terms(cells, obs, np.array([0.5, 0.5, 0.0]))
    assert factor[:2] ** 2 == pytest.approx([11 / 3.5, 5 / 3], rel=1e-12)
    assert df[:2] == pytest.approx([(7 / 6) ** 2 / 0.7361111111111112, 1.0], rel=1e-12)
    assert (factor[2], df[2]) == (1.0, 2.0)


def _dense_ar1_interval(values, t, rho, confidence=0.95):
    # independent: the dense R over the window's days, k and the Satterthwaite df by
    # matrix algebra, then scipy's t interval
    n = len(values)
    R = rho ** np.abs(t[:, None] - t[None, :])
    A = np.eye(n) - np.ones((n, n)) / n
    D = R.sum()
    se = np.std(values, ddof=1) * np.sqrt((n - 1) * D / (n * n - D)) / np.sqrt(n)
    df = max(np.trace(A @ R) ** 2 / np.trace(A @ R @ A @ R), 1.0)
    return stats.t.interval(confidence, df, loc=np.mean(values), scale=se)


def _hamed_rho(x, t):
    # independent: OLS of x_i on (x_{i-1}, 1, t_i) with statsmodels, then Hamed's
    # (2009) eq. 24 bias correction; across missing days the per-day rho whose powers
    # average to it over the rated pairs' gaps (the real root in (0, 1) of the
    # polynomial sum_g count_g * rho^g - m * r, by np.roots); clipped to [0, 0.95]
    n = len(x)
    fit = sm.OLS(x[1:], np.column_stack([x[:-1], np.ones(n - 1), t[1:]])).fit()
    r = (n * fit.params[0] + 2) / (n - 4)
    gaps = np.diff(t).astype(int)
    if r > 0 and (gaps > 1).any():
        coef = np.bincount(gaps).astype(float)  # coef[g] = pairs g days apart
        coef[0] -= len(gaps) * r
        roots = np.roots(coef[::-1])
        real = roots[(abs(roots.imag) < 1e-9) & (roots.real > 0) & (roots.real < 1)].real
        r = real[0] if len(real) else 1.0
    return float(np.clip(r, 0, 0.95))


def test_weekly_and_rolling_ar1_equal_a_dense_computation():
    rng = np.random.default_rng(21)
    d = _series(5 + _ar1(rng, 100, phi=0.6)[30:])  # 70 days from Monday 2026-01-05
    d = d.drop(index=[3, 4, 17, 30, 31, 32, 50]).reset_index(drop=True)  # gaps
    t = ((d["day"] - d["day"].iloc[0]) / pd.Timedelta(days=1)).to_numpy()
    x = d["connection"].to_numpy()
    rho = _hamed_rho(x, t)
    assert 0.3 < rho < 0.9
    w = check_contract(weekly_connection, d, confidence=0.9)
    assert len(w) == 10
    for k, row in w.iterrows():
        sel = (t >= 7 * k) & (t < 7 * k + 7)
        lo, hi = _dense_ar1_interval(x[sel], t[sel], rho, 0.9)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi), rel=1e-9)
    r = check_contract(rolling_connection, d, window=14)
    for i in (0, 1, 5, 20, len(d) - 1):
        sel = (t > t[i] - 14) & (t <= t[i])
        lo, hi = _dense_ar1_interval(x[sel], t[sel], rho) if sel.sum() > 1 else (np.nan,) * 2
        got = r.loc[i, ["ci_low", "ci_high"]].to_numpy(dtype=float)
        np.testing.assert_allclose(got, [lo, hi], rtol=1e-9)
    # wider than the plain interval where days carry over; same means and counts
    plain = rolling_connection(d, window=14, autocorrelation=None)
    pd.testing.assert_frame_equal(
        r.drop(columns=["ci_low", "ci_high"]), plain.drop(columns=["ci_low", "ci_high"])
    )
    ok = r["n"] > 1
    assert ((r["ci_high"] - r["ci_low"])[ok] > (plain["ci_high"] - plain["ci_low"])[ok]).all()


def test_ar1_mean_rho_is_per_day_across_missing_days():
    # Known truth: one AR(1) series (phi 0.7) of 6,000 days with 40% of days missing.
    # The lag-1 fit over consecutive *rated* days estimates mean(phi^gap), about 0.58
    # here; the per-day rho behind it recovers 0.7. Measured: 0.578 -> 0.701.
    from patterns.trends import _day_grid, _per_day_rho

    rng = np.random.default_rng(8)
    d = _series(5 + _ar1(rng, 6000, phi=0.7))
    d = d[rng.random(6000) >= 0.4].reset_index(drop=True)
    _, _, rho = _day_grid(d, 7, "f")
    assert rho[0] == pytest.approx(0.7, abs=0.02)
    # every day rated: unchanged; every gap 2 days: the square root; past the clip: 0.95
    assert _per_day_rho(0.5, np.ones(9)) == 0.5
    assert _per_day_rho(0.25, np.full(9, 2.0)) == pytest.approx(0.5, rel=1e-9)
    assert _per_day_rho(0.93, np.array([1.0, 3.0])) == 0.95
    assert _per_day_rho(-0.2, np.array([1.0, 3.0])) == -0.2  # (clipped to 0 by the caller)


def test_rolling_ar1_covers_with_many_missing_days():
    # Known truth: 300 AR(1) series (phi 0.7, mean 5), 126 days, 40% of days missing;
    # 28-day trailing windows. With rho from consecutive rated rows (too small across
    # gaps) coverage was 0.913; with the per-day rho 0.954 (the true phi gives 0.957).
    d = _gappy_ar1(np.random.default_rng(74), 300, days=126, phi=0.7, missing=0.4)
    out = rolling_connection(d, window=28)
    out = out.dropna(subset=["ci_low"])
    cover = ((out["ci_low"] <= 5) & (5 <= out["ci_high"])).mean()
    assert cover >= 0.94, cover


def test_weekly_and_rolling_ar1_series_computed_together_equal_each_alone():
    # the window terms are computed once per distinct (rho, rated-day pattern): series
    # with the same patterns but different rho must not share them
    rng = np.random.default_rng(12)
    a = _series(5 + _ar1(rng, 90, phi=0.8)[20:], couple="c1")
    b = _series(5 + _ar1(rng, 90, phi=0.2)[20:], couple="c2")
    both = pd.concat([a, b], ignore_index=True)
    for func, kw in ((weekly_connection, {}), (rolling_connection, {"window": 10})):
        together = func(both, **kw)
        alone = pd.concat([func(a, **kw), func(b, **kw)], ignore_index=True)
        pd.testing.assert_frame_equal(together, alone)
        # (different rho: different intervals on the same complete windows)
        width = together["ci_high"] - together["ci_low"]
        assert width[together["couple_id"] == "c1"].iloc[-1] != width.iloc[-1]


def test_weekly_and_rolling_ar1_on_a_table_without_ratings():
    # no rated day (empty, or every rating NaN): the same empty table as the plain
    # interval gives (the 'ar1' default raised "zip() argument 2 is longer" before)
    nan = _series([np.nan, np.nan])
    for d in (nan, nan.iloc[:0]):
        for func in (weekly_connection, rolling_connection):
            got = func(d)
            assert got.empty
            pd.testing.assert_frame_equal(got, func(d, autocorrelation=None))


def test_weekly_and_rolling_ar1_are_the_plain_interval_when_rho_is_zero():
    # rho-hat 0: fewer than 5 days (not identified), or a negative estimate clipped to 0
    alternating = _series(np.tile([3.0, 7.0, 4.0, 8.0], 6))
    assert _hamed_rho(*(alternating["connection"].to_numpy(), np.arange(24.0))) == 0
    for d in (_series([4.0, 6, 5, 7]), alternating):
        pd.testing.assert_frame_equal(
            weekly_connection(d), weekly_connection(d, autocorrelation=None)
        )
        pd.testing.assert_frame_equal(
            rolling_connection(d, window=5), rolling_connection(d, window=5, autocorrelation=None)
        )


def test_weekly_and_rolling_ar1_cover_the_true_mean():
    # Known truth: 200 AR(1) series (phi 0.6, sd 1, mean 5), 84 days, every 5th day
    # missing at random. Measured (seed 31): weekly 0.947 with "ar1" vs 0.754 plain
    # (2,399 weeks); rolling 14 days 0.946 vs 0.724 (Notes' table at phi 0.5-0.7:
    # 0.94-0.97 vs 0.58-0.82). Band >= 0.92: windows of one series are dependent, but
    # 200 independent series keep the standard error of the share near 0.006-0.01.
    d = _gappy_ar1(np.random.default_rng(31), 200, days=84, phi=0.6, missing=0.2)
    cover = {}
    for name, func, kw in (
        ("week", weekly_connection, {}),
        ("rolling", rolling_connection, {"window": 14}),
    ):
        for ac in ("ar1", None):
            out = func(d, autocorrelation=ac, **kw).dropna(subset=["ci_low"])
            cover[name, ac] = ((out["ci_low"] <= 5) & (5 <= out["ci_high"])).mean()
    assert cover["week", "ar1"] >= 0.92 and cover["rolling", "ar1"] >= 0.92, cover
    assert cover["week", None] < 0.85 and cover["rolling", None] < 0.85, cover


def test_weekly_and_rolling_ar1_errors():
    d = _series(np.arange(10.0))
    for func in (weekly_connection, rolling_connection):
        with pytest.raises(ValueError, match=rf"{func.__name__}: autocorrelation must be one of"):
            func(d, autocorrelation="hamed_rao")
        twice = pd.concat([d, d.iloc[[4]]], ignore_index=True)
        with pytest.raises(
            ValueError,
            match=r"daily must be one row per couple, partner and day with "
            r"autocorrelation='ar1'; got 'c1 / a: 2 rows on 2026-01-09'",
        ):
            func(twice)
        assert len(func(twice, autocorrelation=None)) > 0  # the plain interval still works


def test_weekly_and_rolling_ar1_take_tz_aware_days_as_local_dates():
    # a daily table whose days carry a zone (spanning the spring-forward change) gives the
    # same intervals as the same wall-clock dates without one (it raised TypeError before)
    rng = np.random.default_rng(5)
    naive = _series(5 + _ar1(rng, 110, phi=0.6)[30:], start="2026-03-02")
    aware = naive.assign(day=naive["day"].dt.tz_localize("Europe/Amsterdam"))
    for func in (weekly_connection, rolling_connection):
        got, want = func(aware), func(naive)
        np.testing.assert_array_equal(got["ci_low"], want["ci_low"])
        np.testing.assert_array_equal(got["ci_high"], want["ci_high"])
        assert np.isfinite(got["ci_low"]).sum() > 10
