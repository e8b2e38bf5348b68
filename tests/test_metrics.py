"""Tests for patterns.metrics: codebook coverage, few-line pandas oracles, planted truth,
per-couple independence (the Dask contract), safe writing, dyadic layouts and the CLI."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from patterns.metrics import (
    couple_metrics,
    couple_week_metrics,
    dyadic_daily,
    metrics_codebook,
    write_metrics,
)
from patterns.testing import check_contract


@pytest.fixture(scope="module")
def sim():
    from patterns.simulate import simulate_export

    return simulate_export(couples=4, days=70, seed=7)


@pytest.fixture(scope="module")
def table(sim):
    return couple_week_metrics(sim)


def _local_week(ts, couple, tz):
    local = pd.Series(
        [t.tz_convert(tz[c]).tz_localize(None) for t, c in zip(ts, couple, strict=True)],
        index=ts.index,
    )
    day = (local - pd.Timedelta(hours=4)).dt.normalize()
    return day, day - pd.to_timedelta(day.dt.day_of_week, unit="D")


def test_codebook_covers_every_column(table):
    book = check_contract(metrics_codebook)
    assert book["column"].tolist() == table.columns.tolist()
    assert book[["meaning", "unit", "method"]].map(lambda s: bool(str(s).strip())).all().all()


def test_contract_and_one_row_per_couple_week(sim, table):
    check_contract(couple_week_metrics, sim)
    assert not table.duplicated(["couple_id", "week_start"]).any()
    assert (table["week_start"].dt.day_of_week == 0).all()
    for _, g in table.groupby("couple_id"):
        assert (g["week_start"].diff().dropna() == pd.Timedelta(days=7)).all()
    assert ((table["toward_share"] >= 0) & (table["toward_share"] <= 1)).all()


def test_checkins_and_connection_equal_few_line_pandas(sim, table):
    ci = sim.checkins
    tz = ci.attrs["timezones"]
    day, week = _local_week(ci["ts"], ci["couple_id"], tz)
    ref = ci.assign(day=day, week_start=week)
    n = ref.groupby(["couple_id", "week_start"]).size()
    got = table.set_index(["couple_id", "week_start"])["checkins"]
    pd.testing.assert_series_equal(got.loc[n.index], n, check_names=False, check_dtype=False)
    daily = ref.groupby(["couple_id", "partner", "week_start", "day"])["connection"].mean()
    weekly = daily.groupby(["couple_id", "partner", "week_start"]).mean()
    first = table.iloc[0]
    want = weekly.loc[(first["couple_id"], first["partner_a"], first["week_start"])]
    assert first["connection_a"] == pytest.approx(want)


def test_bids_and_episodes_match_hand_counts_and_truth(sim, table):
    from patterns.cycles import pursue_withdraw_episodes
    from patterns.topics import conflict_log, topic_recurrence

    ev = sim.events
    bids = ev[ev["code"] == "bid"]
    _, week = _local_week(bids["ts"], bids["couple_id"], ev.attrs["timezones"])
    per_week = bids.assign(week_start=week).groupby(["couple_id", "week_start"]).size()
    got = table.set_index(["couple_id", "week_start"])[["bids_a", "bids_b"]].sum(axis=1)
    pd.testing.assert_series_equal(
        got.loc[per_week.index], per_week, check_names=False, check_dtype=False
    )
    ep = pursue_withdraw_episodes(ev).groupby("couple_id").size()
    tab = table.groupby("couple_id")["episodes"].sum()
    assert tab.loc[ep.index].tolist() == ep.tolist()
    truth = sim.truth["episodes"].groupby("couple_id").size()
    assert (tab.reindex(truth.index, fill_value=0) >= 0.8 * truth).all()
    rec = topic_recurrence(conflict_log(ev, sim.checkins)).groupby("couple_id")["resurfaced"]
    assert (
        table.groupby("couple_id")["resurfaced"].sum().loc[rec.sum().index].tolist()
        == rec.sum().tolist()
    )


def test_per_couple_function_gives_identical_rows(sim, table):
    # The contract an engine relies on: mapping couple_metrics over couples gives the table.
    for couple in table["couple_id"].unique():
        ev = sim.events[sim.events["couple_id"] == couple].reset_index(drop=True)
        ci = sim.checkins[sim.checkins["couple_id"] == couple].reset_index(drop=True)
        one = check_contract(
            couple_metrics, ev, ci, timezone=sim.checkins.attrs["timezones"][couple]
        )
        want = table[table["couple_id"] == couple].reset_index(drop=True)
        pd.testing.assert_frame_equal(one, want)


def test_couple_metrics_errors(sim):
    with pytest.raises(ValueError, match="the rows of exactly one couple"):
        couple_metrics(sim.events, sim.checkins)
    with pytest.raises(ValueError, match="export must be an Export"):
        couple_week_metrics(object())


def test_write_metrics_csv_is_formula_safe_and_parquet_round_trips(tmp_path, table):
    evil = table.head(3).assign(couple_id=['=HYPERLINK("x")', "+1", "c"])
    p = write_metrics(evil, tmp_path / "weeks.csv")
    text = p.read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and "\n'+1," in text
    assert (tmp_path / "weeks_codebook.csv").exists()
    back = pd.read_csv(tmp_path / "weeks_codebook.csv")
    assert back["column"].tolist() == metrics_codebook()["column"].tolist()
    q = write_metrics(table, tmp_path / "sub" / "weeks.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(q), table, check_dtype=False)
    with pytest.raises(ValueError, match=r"path suffix must be one of \['.csv', '.parquet'\]"):
        write_metrics(table, tmp_path / "weeks.xlsx")


# --- dyadic layouts ------------------------------------------------------------------------


def test_dyadic_layouts_agree_with_pandas(sim):
    ci = sim.checkins[sim.checkins["couple_id"].isin(["c001", "c002"])]
    ind = check_contract(dyadic_daily, ci)
    dy = check_contract(dyadic_daily, ci, layout="dyad")
    pw = check_contract(dyadic_daily, ci, layout="pairwise")
    # individual: person-mean centring by hand
    pm = ind.groupby("partner")["connection"].transform("mean")
    np.testing.assert_allclose(ind["connection_pm"], pm)
    np.testing.assert_allclose(ind["connection_cw"], ind["connection"] - pm)
    assert (ind.groupby("partner")["connection_cw"].mean().abs() < 1e-9).all()
    # dyad: one row per couple-day, a/b = sorted partner ids
    assert not dy.duplicated(["couple_id", "day"]).any()
    assert (dy["partner_a"] < dy["partner_b"]).all()
    a = ind[ind["role"] == "a"].set_index(["couple_id", "day"])["stress"]
    got = dy.set_index(["couple_id", "day"])["stress_a"]
    pd.testing.assert_series_equal(got.loc[a.index], a, check_names=False)
    # pairwise: two rows per couple-day, actor/partner swapped
    assert len(pw) == 2 * len(dy)
    b_rows = pw[pw["role"] == "b"].reset_index(drop=True)
    np.testing.assert_allclose(b_rows["lonely_actor"], dy["lonely_b"])
    np.testing.assert_allclose(b_rows["lonely_partner"], dy["lonely_a"])
    assert (b_rows["actor"] == dy["partner_b"]).all()
    assert ind["day_number"].min() == 0


def test_dyadic_no_centring_and_errors(sim):
    out = dyadic_daily(sim.checkins, center=False, measures=["connection"])
    assert [c for c in out.columns if c.endswith(("_pm", "_cw"))] == []
    with pytest.raises(ValueError, match="layout must be one of"):
        dyadic_daily(sim.checkins, layout="wide")
    with pytest.raises(ValueError, match="center must be True or False"):
        dyadic_daily(sim.checkins, center="yes")
    with pytest.raises(ValueError, match="measures must be"):
        dyadic_daily(sim.checkins, measures=[])


# --- command line ----------------------------------------------------------------------------


def test_cli_metrics_writes_csv_and_fails_cleanly(tmp_path):
    from patterns.cli import app
    from patterns.simulate import simulate_export

    simulate_export(couples=2, days=21, seed=3, out=tmp_path / "exp")
    runner = CliRunner()
    res = runner.invoke(app, ["metrics", str(tmp_path / "exp"), "-o", str(tmp_path / "m.csv")])
    assert res.exit_code == 0, res.output
    out = pd.read_csv(tmp_path / "m.csv")
    assert out["couple_id"].nunique() == 2 and (tmp_path / "m_codebook.csv").exists()
    res = runner.invoke(app, ["metrics", str(tmp_path / "nope"), "-o", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "Cannot read export" in res.output
    assert "does not exist" in res.output and not (tmp_path / "x.csv").exists()
    res = runner.invoke(app, ["metrics", str(tmp_path / "exp"), "-o", str(tmp_path / "x.txt")])
    assert res.exit_code == 2


def _bid_columns_from_turning_rates(ev, tz, partners):
    """The bid columns as the table defined them: turning_rates(period="W") rows summed per
    couple, week and role (a/b = the couple's sorted listed ids), shares as ratios."""
    from patterns.bids import turning_rates

    tr = turning_rates(ev, period="W", timezone=tz)
    pa = tr["couple_id"].map(lambda c: partners[c][0])
    pb = tr["couple_id"].map(lambda c: partners[c][1])
    tr = tr.assign(
        role=np.where(tr["partner"] == pa, "a", np.where(tr["partner"] == pb, "b", "x")),
        week_start=tr["period_start"],
    )
    g = tr.groupby(["couple_id", "week_start", "role"])[["bids", "toward"]].sum().unstack()
    g = g.reindex(columns=pd.MultiIndex.from_product([["bids", "toward"], ["a", "b"]]))
    g = g.fillna(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame(
            {
                "bids_a": g[("bids", "a")].astype("int64"),
                "bids_b": g[("bids", "b")].astype("int64"),
                "toward_share_a": g[("toward", "a")] / g[("bids", "a")],
                "toward_share_b": g[("toward", "b")] / g[("bids", "b")],
                "toward_share": (g[("toward", "a")] + g[("toward", "b")])
                / (g[("bids", "a")] + g[("bids", "b")]),
            }
        )


@pytest.mark.parametrize("dense", [True, False])
def test_bid_columns_equal_turning_rates_per_role(sim, monkeypatch, dense):
    # integer (couple, week, role) counts == the public turning_rates summed per role, on
    # shuffled events, with one couple's listed ids naming a stranger (role "x": dropped)
    import patterns.metrics as m

    if not dense:  # the sparse (np.unique) cell path
        monkeypatch.setattr(m, "_DENSE_CELLS", 0)
    ev = sim.events.sample(frac=1.0, random_state=3).reset_index(drop=True)
    ev.attrs = sim.events.attrs
    tz = sim.events.attrs["timezones"]
    ids = ev.groupby("couple_id")["actor"].unique().map(sorted).to_dict()
    c0 = sorted(ids)[0]
    listed = {**{c: list(v) for c, v in ids.items()}, c0: [ids[c0][0], "zz-stranger"]}
    got = m.metrics_partition(ev, sim.checkins, timezone=tz, partners=listed)
    want = _bid_columns_from_turning_rates(ev, tz, listed)
    got = got.set_index(["couple_id", "week_start"])[list(want.columns)]
    got = got.loc[want.index]
    pd.testing.assert_frame_equal(
        got, want, check_names=False, check_exact=True, check_index_type=False
    )
    assert (got.loc[c0, "bids_b"] == 0).all() and got.loc[c0, "toward_share_b"].isna().all()


def test_episode_columns_equal_public_episodes_per_week(sim):
    # episodes and pursuer_share_a from the episode core == the public episodes table
    # counted per couple and local start week (few-line pandas), on shuffled events
    from patterns.cycles import pursue_withdraw_episodes
    from patterns.metrics import metrics_partition
    from patterns.timeutil import diary_day, week_start

    ev = sim.events.sample(frac=1.0, random_state=5).reset_index(drop=True)
    tz = sim.events.attrs["timezones"]
    ep = pursue_withdraw_episodes(ev)
    assert len(ep) > 10
    first = ev.groupby("couple_id")["actor"].min()
    ep = ep.assign(
        week_start=week_start(diary_day(ep["start"], ep["couple_id"], tz)),
        a=(ep["pursuer"] == ep["couple_id"].map(first)).astype(float),
    )
    g = ep.groupby(["couple_id", "week_start"])["a"]
    want = pd.DataFrame({"episodes": g.size(), "pursuer_share_a": g.mean()})
    got = metrics_partition(ev, sim.checkins, timezone=tz).set_index(["couple_id", "week_start"])
    got = got.loc[want.index, ["episodes", "pursuer_share_a"]]
    pd.testing.assert_frame_equal(
        got, want, check_names=False, check_exact=True, check_index_type=False
    )
    rest = metrics_partition(ev, sim.checkins, timezone=tz)
    assert rest["episodes"].sum() == len(ep)
    assert rest.loc[rest["episodes"] == 0, "pursuer_share_a"].isna().all()


def test_checkin_columns_equal_public_daily_tables_per_role(sim):
    # the integer (couple, week, role) check-in columns == few-line pandas over the public
    # daily tables (daily_partner_table, daily_connection, lonely_together_days), with one
    # couple's listed ids naming a stranger: its partner-b columns empty, its weeks and
    # totals kept
    from patterns.metrics import metrics_partition
    from patterns.timeutil import week_start
    from patterns.trends import daily_connection, daily_partner_table, lonely_together_days

    ci = sim.checkins.sample(frac=1.0, random_state=11).reset_index(drop=True)
    tz = sim.checkins.attrs["timezones"]
    ids = ci.groupby("couple_id")["partner"].unique().map(sorted).to_dict()
    c0 = sorted(ids)[0]
    listed = {**{c: list(v) for c, v in ids.items()}, c0: [ids[c0][0], "zz-stranger"]}
    got = metrics_partition(sim.events, ci, timezone=tz, partners=listed)
    got = got.set_index(["couple_id", "week_start"])
    pa = {c: v[0] for c, v in listed.items()}
    pb = {c: v[1] for c, v in listed.items()}

    def per_role(frame, column, how):
        f = frame.assign(week_start=week_start(frame["day"]))
        f = f[f["partner"] == f["couple_id"].map(pa)], f[f["partner"] == f["couple_id"].map(pb)]
        return [g.groupby(["couple_id", "week_start"])[column].agg(how) for g in f]

    daily = daily_partner_table(ci, ["connection", "stress", "lonely"], timezone=tz)
    for col in ("connection", "stress", "lonely"):
        want_a, want_b = per_role(daily, col, "mean")
        a = got.loc[want_a.index, f"{col}_a"]
        assert a.to_numpy() == pytest.approx(want_a.to_numpy(), nan_ok=True)
        assert want_b.loc[c0:c0].empty and got.loc[c0, f"{col}_b"].isna().all()
    n_a, _ = per_role(daily.assign(n=daily["n"]), "n", "sum")
    assert (got.loc[n_a.index, "checkins_a"] == n_a).all()
    days = daily.assign(week_start=week_start(daily["day"])).groupby(["couple_id", "week_start"])[
        "day"
    ]
    assert (got.loc[days.nunique().index, "days_observed"] == days.nunique()).all()
    assert got["checkins"].sum() == len(ci) and (got.loc[c0, "checkins_b"] == 0).all()
    dc = daily_connection(ci, timezone=tz)
    dc = dc[dc["partner"] == "couple"].assign(week_start=lambda d: week_start(d["day"]))
    cc = dc.groupby(["couple_id", "week_start"])["connection"].mean()
    assert got.loc[cc.index, "connection_couple"].to_numpy() == pytest.approx(cc.to_numpy())
    lt = lonely_together_days(ci, timezone=tz)
    lt_a, _ = per_role(lt.assign(k=lt["lonely_together"].astype(int)), "k", "sum")
    assert (got.loc[lt_a.index, "lonely_together_days_a"] == lt_a).all()
    assert lt_a.sum() > 0


def _conflict_weeks_pandas(cl):
    """The former pandas computation: stable time sort, grouped shift, grouped sums."""
    from patterns.timeutil import week_start

    cl = cl.sort_values("ts", kind="stable")
    cl = cl.assign(couple_id=cl["couple_id"].astype(str), week_start=week_start(cl["day"]))
    prev = cl.groupby(["couple_id", "topic"], dropna=False)["repaired"].shift(1)
    cl = cl.assign(
        escalated=(cl["intensity"] >= 0.6).astype(float),
        resurfaced=prev.astype("boolean").fillna(False).astype(float),
        rep=cl["repaired"].astype("Float64"),
    )
    g = cl.groupby(["couple_id", "week_start"])
    return pd.DataFrame(
        {
            "conflicts": g.size(),
            "escalated": g["escalated"].sum(),
            "repair_share": g["rep"].mean().astype(float),
            "resurfaced": g["resurfaced"].sum(),
        }
    )


def test_conflict_weeks_equal_grouped_pandas_on_ties_and_missing_values():
    from patterns.metrics import _conflict_weeks

    rng = np.random.default_rng(8)
    n = 400
    ts = pd.Timestamp("2026-01-05", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 60, n) * 12, unit="h"
    )  # many exact ties
    cl = pd.DataFrame(
        {
            "couple_id": pd.array(rng.choice(["c2", "c1", "c10"], n), dtype="string"),
            "ts": ts,
            "day": ts.tz_localize(None).normalize(),
            "topic": pd.array(rng.choice(["money", "chores", None], n), dtype="string"),
            "intensity": np.where(rng.random(n) < 0.2, np.nan, rng.random(n)),
            "repaired": pd.array(rng.choice([True, False, None], n).tolist(), dtype="boolean"),
        }
    )
    got = _conflict_weeks(cl).frame()
    want = _conflict_weeks_pandas(cl)
    assert want["resurfaced"].sum() > 10 and want["repair_share"].notna().all()
    pd.testing.assert_frame_equal(
        got.astype(float), want.astype(float), check_exact=True, check_index_type=False
    )
    none = cl.assign(repaired=pd.array([None] * n, dtype="boolean"))
    assert np.isnan(_conflict_weeks(none).columns["repair_share"]).all()
    assert (_conflict_weeks(none).columns["resurfaced"] == 0).all()


def test_conflict_fallback_path_gives_the_same_table(sim, table, monkeypatch):
    # the general pandas path (kept for conflicts missing a couple, time or day) and the
    # integer-cell path agree on complete data, column for column
    from patterns import metrics

    monkeypatch.setattr(metrics, "_conflict_keys_complete", lambda cl: False)
    slow = couple_week_metrics(sim)
    assert table["conflicts"].sum() > 0 and table["resurfaced"].sum() > 0
    pd.testing.assert_frame_equal(slow, table, check_exact=True)


# --- the four parts run concurrently (issue 8): same table, per-call threads only ---------


@pytest.mark.parametrize("cpus", [2, 4])
def test_parts_in_threads_give_the_identical_table(sim, table, monkeypatch, cpus):

    from patterns import _fast, metrics

    monkeypatch.setattr(metrics, "_THREAD_MIN_ROWS", 0)
    monkeypatch.setattr(metrics, "_usable_cpus", lambda: cpus)
    seen = {}  # part -> (thread, the memo dict that part saw)
    for name in ("_checkin_part", "_bid_part", "_episode_weeks", "_conflict_part"):
        part = getattr(metrics, name)

        def spy(*args, _part=part, _name=name, **kwargs):
            seen[_name] = (threading.get_ident(), _fast._SCOPE.get())
            return _part(*args, **kwargs)

        monkeypatch.setattr(metrics, name, spy)
    before = threading.active_count()
    threaded = couple_week_metrics(sim)
    pd.testing.assert_frame_equal(threaded, table, check_exact=True)
    assert threading.active_count() == before  # no thread outlives the call
    assert len(seen) == 4
    assert {t for t, _ in seen.values()} - {threading.get_ident()}  # ran in pool threads
    scopes = [s for _, s in seen.values()]
    assert scopes[0] is not None and all(s is scopes[0] for s in scopes)  # one memo dict


def test_parts_inline_for_small_input_one_cpu_or_off_the_main_thread(sim, table, monkeypatch):

    from patterns import metrics

    where = set()
    part = metrics._episode_weeks

    def spy(*args, **kwargs):
        where.add(threading.get_ident())
        return part(*args, **kwargs)

    monkeypatch.setattr(metrics, "_episode_weeks", spy)
    assert len(sim.events) + len(sim.checkins) < metrics._THREAD_MIN_ROWS
    pd.testing.assert_frame_equal(couple_week_metrics(sim), table, check_exact=True)
    monkeypatch.setattr(metrics, "_THREAD_MIN_ROWS", 0)
    monkeypatch.setattr(metrics, "_usable_cpus", lambda: 1)
    pd.testing.assert_frame_equal(couple_week_metrics(sim), table, check_exact=True)
    assert where == {threading.get_ident()}
    # called from another thread (a Dask task, a caller's pool): inline on that thread
    monkeypatch.setattr(metrics, "_usable_cpus", lambda: 2)
    where.clear()
    out = {}
    caller = threading.Thread(target=lambda: out.update(t=couple_week_metrics(sim)))
    caller.start()
    caller.join()
    pd.testing.assert_frame_equal(out["t"], table, check_exact=True)
    assert where == {caller.ident}


def test_parts_failure_raises_the_first_in_table_order(sim, monkeypatch):

    from patterns import metrics

    monkeypatch.setattr(metrics, "_THREAD_MIN_ROWS", 0)
    monkeypatch.setattr(metrics, "_usable_cpus", lambda: 4)

    def fail(message):
        def part(*args, **kwargs):
            raise ValueError(message)

        return part

    # the conflict part starts first, the check-in part is first in the table's order
    monkeypatch.setattr(metrics, "_conflict_part", fail("conflicts failed"))
    monkeypatch.setattr(metrics, "_checkin_part", fail("check-ins failed"))
    before = threading.active_count()
    with pytest.raises(ValueError, match="check-ins failed"):
        couple_week_metrics(sim)
    assert threading.active_count() == before
    monkeypatch.setattr(metrics, "_THREAD_MIN_ROWS", 10**9)  # inline: the same error
    with pytest.raises(ValueError, match="check-ins failed"):
        couple_week_metrics(sim)


def test_yes_flags_and_shared_checkin_pairs_equal_the_general_path(sim):
    from patterns import _fast, metrics

    for col in (
        pd.Series([True, None, False], dtype="boolean"),
        pd.Series([1.0, np.nan, 0.0]),
        pd.Series([True, False, True], dtype=bool),
    ):
        want = col.astype("boolean").fillna(False).to_numpy(bool)
        assert metrics._true(col).tolist() == want.tolist()
    ci = sim.checkins
    general = metrics._distinct_pairs(ci["couple_id"], ci["partner"])
    assert metrics._shared_checkin_codes(ci) is None  # outside couple_week_metrics
    with _fast.shared_keys():
        assert metrics._shared_checkin_codes(ci) is not None
        shared = metrics._checkin_pairs(ci)
    pd.testing.assert_frame_equal(shared, general)
    assert len(general) == 2 * ci["couple_id"].nunique()


def test_assembly_on_integer_cells_equals_the_frame_concat(sim, monkeypatch):
    from types import SimpleNamespace

    from patterns import metrics

    checked = []
    real, frames = metrics._assemble, metrics._assemble_frames

    def refuse(*args):
        raise AssertionError("fell back to the frame assembly")

    def both(parts, roles, couples):
        got = real(parts, roles, couples)  # the integer assembly (its fallback refused)
        want = frames([p.frame() for p in parts], roles)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        checked.append(len(got))
        return got

    monkeypatch.setattr(metrics, "_assemble", both)
    monkeypatch.setattr(metrics, "_assemble_frames", refuse)
    pd.testing.assert_frame_equal(couple_week_metrics(sim), couple_week_metrics(sim))
    # gaps and partial couples: one couple without events, two middle weeks without rows
    ev, ci = sim.events, sim.checkins
    first, second = sorted(ci["couple_id"].unique())[:2]
    mid = ci["ts"].min() + pd.Timedelta(days=20)
    gap = (ci["ts"] > mid) & (ci["ts"] < mid + pd.Timedelta(days=14))
    ev_gap = (ev["ts"] > mid) & (ev["ts"] < mid + pd.Timedelta(days=14))
    gappy = SimpleNamespace(events=ev[(ev["couple_id"] != first) & ~ev_gap], checkins=ci[~gap])
    table = couple_week_metrics(gappy)
    assert len(checked) == 3
    rows = table[table["couple_id"] == second]
    assert (rows["checkins"] == 0).any()  # a week inside the span without data
    assert (table.loc[table["couple_id"] == first, "bids_a"] == 0).all()


def test_assembly_falls_back_to_frames_for_an_unlisted_couple():
    from patterns import metrics

    week = pd.Timestamp("2026-01-05").value
    parts = [
        metrics._Cells(
            np.array(["c1"], dtype=object),
            np.array([0, 0]),
            np.array([week, week + 14 * 86_400 * 10**9]),
            {"episodes": np.array([2, 1]), "pursuer_share_a": np.array([0.5, 1.0])},
        ),
        metrics._Cells(
            np.array(["c1", "nan"], dtype=object),
            np.array([0, 1]),
            np.array([week, week]),
            {"conflicts": np.array([1, 3])},
        ),
    ]
    roles = pd.DataFrame({"couple_id": ["c1"], "partner_a": ["a"], "partner_b": ["b"]})
    got = metrics._assemble(parts, roles, ["c1"])
    want = metrics._assemble_frames([p.frame() for p in parts], roles)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got["couple_id"].tolist() == ["c1", "c1", "c1", "nan"]
    assert got["episodes"].tolist() == [2, 0, 1, 0]
    # listed couples only: the integer assembly, the same rows as the frames
    listed = metrics._assemble(parts[:1], roles, ["c1"])
    pd.testing.assert_frame_equal(listed, metrics._assemble_frames([parts[0].frame()], roles))
