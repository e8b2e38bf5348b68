"""Benchmark: bids, lag-sequential statistics and pursue–withdraw episodes at scale.

Simulates ``--couples`` couples × ``--days`` days with :func:`patterns.simulate_export`
(not timed as analysis), then times each analysis of issue 3 on the whole events/checkins
tables and prints one line per step plus the total, the peak resident memory, and the
episode recovery (precision/recall against the planted truth).

Usage: ``python benchmarks/bench_sequences.py [--couples 1000] [--days 180] [--seed 0]``.
Target (issue 3): all analyses together under 10 s on this machine (2 cores), excluding
the simulation. Wall and process CPU time are both printed: on a shared machine the wall
time includes waiting for a core.
"""

from __future__ import annotations

import argparse
import resource
import time

import pandas as pd

from patterns.bids import turning_rates
from patterns.cycles import (
    daily_cycle_reports,
    episode_summary,
    episode_topics,
    pursue_withdraw_episodes,
    pursuer_share,
)
from patterns.sequences import code_stream, lag_effects, lag_table, lag_test, pooled_effect
from patterns.simulate import simulate_export


def recovery(found: pd.DataFrame, truth: pd.DataFrame) -> tuple[float, float]:
    """Precision and recall by overlap of [start, end] within a couple, same pursuer."""
    m = found.reset_index().merge(truth.reset_index(), on="couple_id", suffixes=("", "_t"))
    hit = m[
        (m["start"] <= m["end_t"])
        & (m["start_t"] <= m["end"])
        & (m["pursuer"].astype(str) == m["pursuer_t"].astype(str))
    ]
    return hit["index"].nunique() / max(len(found), 1), hit["index_t"].nunique() / max(
        len(truth), 1
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--couples", type=int, default=1000)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    sim = simulate_export(couples=args.couples, days=args.days, seed=args.seed)
    ev, ch = sim.events, sim.checkins
    print(
        f"simulate {args.couples} couples × {args.days} days: {len(ev):,} events, "
        f"{len(ch):,} check-ins in {time.perf_counter() - t0:.1f} s (not counted)"
    )

    steps = []

    def timed(name, func, *a, **k):
        t, c = time.perf_counter(), time.process_time()
        out = func(*a, **k)
        steps.append((name, time.perf_counter() - t, time.process_time() - c, len(out)))
        return out

    timed("turning_rates (W)", turning_rates, ev, period="W")
    stream = timed("code_stream (family)", code_stream, ev, by="family")
    timed("lag_table (pooled, lag 1)", lag_table, stream)
    timed("lag_test (pooled, lag 1)", lag_test, stream)
    timed("lag_table (lag 2)", lag_table, stream, lag=2)
    eff = timed("lag_effects (per couple)", lag_effects, ev, given="A:pursue", target="B:withdraw")
    timed("pooled_effect", pooled_effect, eff)
    eps = timed("pursue_withdraw_episodes", pursue_withdraw_episodes, ev)
    timed("pursuer_share (W)", pursuer_share, eps, period="W")
    timed("episode_summary", episode_summary, eps, events=ev)
    timed("episode_topics", episode_topics, eps)
    timed("daily_cycle_reports", daily_cycle_reports, ch)
    total = sum(s for _, s, _, _ in steps)
    cpu = sum(c for _, _, c, _ in steps)
    print(f"  {'step':<28} {'wall':>7}   {'cpu':>7}")
    for name, sec, c, rows in steps:
        print(f"  {name:<28} {sec:7.2f} s {c:7.2f} s  ({rows:,} rows)")
    print(f"analyses total: {total:.2f} s wall, {cpu:.2f} s CPU (target < 10 s)")
    print(
        "(CPU time is shown because the 2 cores may be shared; with the machine to itself "
        "wall ≈ CPU, as the analyses are single-threaded)"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory (incl. simulation): {peak:,.0f} MiB")
    p, r = recovery(eps, sim.truth["episodes"])
    print(
        f"episodes: {len(eps):,} found, {len(sim.truth['episodes']):,} planted; "
        f"precision {p:.4f}, recall {r:.4f}"
    )


if __name__ == "__main__":
    main()
