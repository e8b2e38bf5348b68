"""Tests for patterns.quality (data-quality summaries used by the reports)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from patterns.quality import checkin_completion, quarantine_reasons
from patterns.schema import QUARANTINE_REASONS, SchemaError
from patterns.testing import check_contract


def _checkins(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for couple in ("c1", "c2"):
        for partner in ("p1", "p2"):
            days = rng.choice(30, size=rng.integers(5, 30), replace=False)
            for d in days:
                for _ in range(rng.integers(1, 3)):  # sometimes twice a day
                    ts = pd.Timestamp("2026-03-01T10:00Z") + pd.Timedelta(days=int(d))
                    rows.append((couple, partner, ts + pd.Timedelta(hours=int(rng.integers(8)))))
    return pd.DataFrame(rows, columns=["couple_id", "partner", "ts"])


def test_quarantine_reasons_matches_counter():
    q = pd.DataFrame(
        {
            "table": ["events", "checkins", "events", "events", "checkins"],
            "reason": ["duplicate", "bad_timestamp", "duplicate", "made_up", "bad_timestamp"],
            "detail": ["x"] * 5,
        }
    )
    got = check_contract(quarantine_reasons, q)
    expected = Counter(zip(q["table"], q["reason"], strict=True))
    assert {(t, r): n for t, r, n in got[["table", "reason", "rows"]].values} == expected
    assert list(got.columns) == ["table", "reason", "meaning", "rows"]
    assert got.set_index("reason").loc["duplicate", "meaning"] == QUARANTINE_REASONS["duplicate"]
    assert got.set_index("reason").loc["made_up", "meaning"] == ""


def test_quarantine_reasons_empty_and_missing_columns():
    empty = pd.DataFrame({"table": [], "reason": []})
    assert len(quarantine_reasons(empty)) == 0
    with pytest.raises(SchemaError, match=r"missing columns \['reason'\]"):
        quarantine_reasons(pd.DataFrame({"table": ["events"]}))


def test_checkin_completion_against_pandas_and_statsmodels():
    ci = _checkins()
    got = check_contract(checkin_completion, ci)
    # independent: UTC days (no zone attrs, cutoff 4h and check-ins between 10:00 and 17:00)
    day = ci["ts"].dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    per = ci.assign(day=day).drop_duplicates(["couple_id", "partner", "day"])
    n_days = per.groupby("couple_id")["day"].agg(lambda s: (s.max() - s.min()).days + 1)
    for row in got.itertuples():
        k = (per["couple_id"].eq(row.couple_id) & per["partner"].eq(row.partner)).sum()
        assert row.days_with_checkin == k
        assert row.days == n_days[row.couple_id]
        assert row.completion == pytest.approx(k / n_days[row.couple_id])
        lo, hi = proportion_confint(k, n_days[row.couple_id], method="wilson")
        assert (row.ci_low, row.ci_high) == pytest.approx((lo, hi))


def test_checkin_completion_known_truth_every_day_is_one():
    ts = pd.date_range("2026-01-01T12:00Z", periods=10, freq="D")
    ci = pd.DataFrame({"couple_id": "c", "partner": ["a"] * 10, "ts": ts})
    got = checkin_completion(ci, partners={"c": ["a", "b"]})
    assert got["partner"].tolist() == ["a", "b"]
    assert got["completion"].tolist() == [1.0, 0.0]
    assert got["days"].tolist() == [10, 10]
    # an explicit period doubles the denominator
    wider = checkin_completion(ci, start="2026-01-01", end="2026-01-20")
    assert wider["completion"].iloc[0] == pytest.approx(0.5)


def test_checkin_completion_uses_local_diary_days():
    # 23:30 UTC is 00:30 next day in Amsterdam (before the 4 a.m. cutoff → same diary day)
    ts = pd.to_datetime(["2026-01-01T10:00Z", "2026-01-01T23:30Z"])
    ci = pd.DataFrame({"couple_id": ["c", "c"], "partner": ["a", "a"], "ts": ts})
    got = checkin_completion(ci, timezone={"c": "Europe/Amsterdam"})
    assert got["days"].iloc[0] == 1 and got["days_with_checkin"].iloc[0] == 1


def test_checkin_completion_errors():
    ci = _checkins()
    with pytest.raises(
        ValueError, match="checkin_completion: confidence must be a number strictly between 0 and 1"
    ):
        checkin_completion(ci, confidence=95)
    with pytest.raises(ValueError, match="confidence must be a number strictly between 0 and 1"):
        checkin_completion(ci, confidence=math.nan)
    with pytest.raises(ValueError, match="end must be on or after start"):
        checkin_completion(ci, start="2026-03-10", end="2026-03-01")
    with pytest.raises(SchemaError, match="missing columns"):
        checkin_completion(ci.drop(columns="partner"))
