"""The list of every public analysis, with a call on a loaded export.

Shared by the contract test (tidy, input not mutated, deterministic) and the redaction test
(no free text). A new public name in ``patterns._LAZY`` must be added here or to
``NOT_ANALYSES``; ``test_every_public_analysis_is_covered`` enforces that.
"""

from __future__ import annotations


def _analysis_calls():
    """Every public analysis (patterns._LAZY) with a call on an export. A new public name
    must be added here or to NOT_ANALYSES, so the test keeps covering everything."""
    import patterns as P

    def conflicts(e):
        return P.conflict_log(e.events, e.checkins)

    def daily(e):
        return P.daily_connection(e.checkins)

    def episodes(e):
        return P.pursue_withdraw_episodes(e.events)

    return {
        "turning_rates": lambda e: P.turning_rates(e.events),
        "match_responses": lambda e: P.match_responses(e.events),
        "lag_table": lambda e: P.lag_table(P.code_stream(e.events)),
        "lag_test": lambda e: P.lag_test(P.code_stream(e.events)),
        "code_stream": lambda e: P.code_stream(e.events),
        "lag_effects": lambda e: P.lag_effects(e.events, given="pursue", target="withdraw"),
        "pooled_effect": lambda e: P.pooled_effect(
            P.lag_effects(e.events, given="pursue", target="withdraw")
        ),
        "pursue_withdraw_episodes": episodes,
        "pursuer_share": lambda e: P.pursuer_share(episodes(e)),
        "episode_summary": lambda e: P.episode_summary(episodes(e), events=e.events),
        "episode_topics": lambda e: P.episode_topics(episodes(e)),
        "daily_cycle_reports": lambda e: P.daily_cycle_reports(e.checkins),
        "conflict_log": conflicts,
        "topic_recurrence": lambda e: P.topic_recurrence(conflicts(e), events=e.events),
        "topic_weeks": lambda e: P.topic_weeks(conflicts(e), events=e.events),
        "cycle_topics": lambda e: P.cycle_topics(e.events),
        "signal_frequency": lambda e: P.signal_frequency(e.checkins),
        "signal_cooccurrence": lambda e: P.signal_cooccurrence(e.checkins),
        "lagged_association": lambda e: P.lagged_association(e.checkins),
        "pooled_lagged_association": lambda e: P.pooled_lagged_association(e.checkins),
        "reflection_summary": lambda e: P.reflection_summary(e.checkins),
        "paired_answers": lambda e: P.paired_answers(e.checkins),
        "mann_kendall": lambda e: P.mann_kendall(daily(e)["connection"].dropna().to_numpy()),
        "daily_connection": daily,
        "weekly_connection": lambda e: P.weekly_connection(daily(e)),
        "rolling_connection": lambda e: P.rolling_connection(daily(e)),
        "theil_sen": lambda e: P.theil_sen(daily(e)),
        "trend_tests": lambda e: P.trend_tests(daily(e)),
        "change_points": lambda e: P.change_points(daily(e)),
        "partner_agreement": lambda e: P.partner_agreement(daily(e)),
        "intervention_effect": lambda e: P.intervention_effect(
            daily(e), intervention_date="2026-01-26", n_boot=200
        ),
        "lonely_together": lambda e: P.lonely_together(e.checkins),
        "couple_week_metrics": lambda e: P.couple_week_metrics(e),
        "couple_metrics": lambda e: P.couple_metrics(
            e.for_couple(e.couples[0]).events, e.for_couple(e.couples[0]).checkins
        ),
        "dyadic_daily": lambda e: P.dyadic_daily(e.checkins),
        "indicators": lambda e: P.indicators(e),
        "metrics_codebook": lambda e: P.metrics_codebook(),
        "consent_table": lambda e: P.consent_table(e.manifest),
    }


#: Public names that are not analyses returning result tables.
NOT_ANALYSES = {
    "Export",
    "load_export",
    "simulate_export",
    "load_lexicon",
    "load_thresholds",
    "write_metrics",  # writes a table (checked for formula injection elsewhere)
    "explain_topics",  # takes notes explicitly; returns matched lexicon terms (checked below)
    "check_consent",  # returns a ConsentDecision, not a table (consent_table is covered)
}
