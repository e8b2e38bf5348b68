"""Write the report notebooks (``NN_name.ipynb``) from one spec, without outputs.

Run ``python notebooks/build.py`` after changing a spec; ``tests/test_notebooks.py`` checks
that the committed notebooks equal what this script writes, have no outputs, and declare the
parameters of :data:`patterns.report.PARAMETERS`.

Every notebook: a title, a ``parameters`` cell (``name: type = default  # help``), ONE cell
that validates the parameters and loads the export (:func:`patterns.report.prepare`), then
sections that only call the package. No function definitions.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from patterns.report import PARAMETERS

HERE = Path(__file__).resolve().parent

PREPARE = """\
from patterns import report
import patterns
import patterns.charts
{imports}
ctx = report.prepare(
{arguments}
)
ctx.stamp()"""


def parameters_source() -> str:
    """The ``parameters`` cell: one ``name: type = default  # help`` line per parameter."""
    lines = []
    for name, (kind, default, help_text) in PARAMETERS.items():
        lines.append(f"{name}: {kind.__name__} = {default!r}  # {help_text}")
    return "\n".join(lines)


def prepare_arguments() -> str:
    """The ``report.prepare`` call's arguments: each parameter passed on by its name."""
    return "\n".join(f"    {name}={name}," for name in PARAMETERS)


def md(text: str):
    return new_markdown_cell(text.strip())


def code(text: str):
    return new_code_cell(text.strip())


NOTEBOOKS: dict[str, tuple[str, list]] = {
    "00_summary": (
        "# Summary for the therapist\n\nSigns that couples therapists look for, each with how "
        "sure the number is and a plain-language line. They are prompts for a conversation, "
        "**never a diagnosis**; the later pages show the detail behind each one.",
        [
            md("## The signs at a glance"),
            code(
                """
signs = ctx.run(
    patterns.indicators,
    ctx.export,
    couple_id=ctx.couple_id,
    what="the summary signs",
)
if signs is not None:
    ctx.say(
        f"{int((signs['level'] == 'discuss').sum())} sign(s) past the discuss line, "
        f"{int((signs['level'] == 'watch').sum())} past the watch line, "
        f"{int((signs['level'] == 'no_data').sum())} without enough data."
    )
if signs is not None:
    ctx.chart(
        patterns.charts.chart_indicators(ctx.for_chart(signs)),
        alt_text="Each sign and its level: none, watch or discuss",
    )
ctx.sentences(signs, "{label}: {sentence}")"""
            ),
            md("## The numbers behind them"),
            code(
                """
ctx.table(
    signs,
    columns=["label", "value", "ci_low", "ci_high", "threshold", "threshold_discuss",
             "unit", "level", "n"],
    names={"label": "sign", "ci_low": "95% interval from", "ci_high": "95% interval to",
           "threshold": "watch line", "threshold_discuss": "discuss line",
           "n": "observations"},
    values={"level": {"none": "calm", "watch": "watch", "discuss": "discuss",
                      "no_data": "not enough data"}},
)
ctx.sentences(signs, "{label}: {caveat}")"""
            ),
            md("## Reflection questions"),
            code(
                """
reflections = ctx.run(
    patterns.reflection_summary,
    ctx.checkins,
    what="reflection questions",
    needs=["checkins.prompt"],
)
ctx.sentences(
    reflections,
    "{partner} answered {answered} of {asked} reflection questions ({answer_rate:.0%}).",
)
answers = None
if ctx.show_text:
    answers = ctx.run(
        patterns.paired_answers, ctx.checkins, show_text=True, what="answers",
        needs=["checkins.answer"],
    )
else:
    ctx.say(
        "Written answers are not shown: that needs both partners' consent to sharing free "
        "text and the --show-text option."
    )
ctx.table(
    answers,
    columns=["prompt", "answer_a", "answer_b"],
    names={"answer_a": "Partner A", "answer_b": "Partner B"},
)"""
            ),
        ],
    ),
    "01_data_quality": (
        "# What the data holds\n\nWhat was loaded, what was set aside (and why), and how "
        "regularly each partner checked in. Read this first: every later page rests on it.",
        [
            md("## What loaded"),
            code(
                """
ctx.say("Rows read for this couple from the export file, and how many were set aside.")
ctx.table(
    ctx.loaded.for_couple(ctx.couple_id).summary(),
    names={"table": "table", "rows_in": "rows read", "rows_loaded": "rows used",
           "rows_quarantined": "rows set aside",
           "rows_dst_adjusted": "times adjusted for daylight saving",
           "rows_not_utf8": "rows where a few letters may look odd (pasted text)"},
    values={"table": {"events": "logged moves", "checkins": "check-ins"}},
)
ctx.say(
    f"For this couple: {len(ctx.events)} logged moves and {len(ctx.checkins)} check-ins "
    "in the period."
)"""
            ),
            md("## What was set aside, and why"),
            code(
                """
ctx.say(f"In the whole file (all couples), {ctx.rows_set_aside_in_file} rows were set aside.")
reasons = ctx.run(
    patterns.quality.quarantine_reasons,
    ctx.loaded.for_couple(ctx.couple_id).quarantine,
    what="set-aside rows",
    empty="No rows of this couple were set aside: everything could be used.",
)
ctx.table(reasons, names={"rows": "rows set aside"})"""
            ),
            md("## How regularly each partner checked in"),
            code(
                """
completion = ctx.run(
    patterns.quality.checkin_completion,
    ctx.checkins,
    start=ctx.params.start,
    end=ctx.params.end,
    partners=ctx.export.partners,
    what="daily check-ins",
    needs=["checkins"],
)
ctx.table(
    completion,
    columns=["partner", "days", "days_with_checkin", "completion", "ci_low", "ci_high"],
    names={"days_with_checkin": "days with a check-in", "completion": "share of days",
           "ci_low": "95% interval from", "ci_high": "95% interval to"},
)
if completion is not None:
    ctx.chart(
        patterns.charts.chart_checkin_completion(ctx.labelled(completion)),
        alt_text="Share of days with a check-in, per partner",
    )
    ctx.say(
        "Fewer check-ins mean less certain numbers on the following pages; the interval "
        "shows how much the share could move by chance."
    )"""
            ),
        ],
    ),
    "02_bids": (
        "# Reaching for each other\n\nA *bid* is any small attempt to connect: a question, "
        "a joke, a touch. What matters is how the other partner answers: turning toward, "
        "turning away, turning against, or missing it.",
        [
            md("## How each partner's bids were answered, month by month"),
            code(
                """
rates = ctx.run(
    patterns.turning_rates,
    ctx.events,
    period="M",
    what="bids for connection",
    needs=["events"],
    empty="No bids were logged in this period.",
)
ctx.sentences(
    rates,
    "{period_start:%B %Y}: {partner_label} made {bids} bids; {share_toward:.0%} were "
    "turned toward (95% interval {toward_ci_low:.0%} to {toward_ci_high:.0%}) and "
    "{share_missed:.0%} went unanswered.",
)
ctx.table(
    rates,
    columns=["period_start", "partner", "bids", "share_toward", "share_away",
             "share_against", "share_missed", "median_latency_s"],
    names={"period_start": "month", "share_toward": "turned toward",
           "share_away": "turned away", "share_against": "turned against",
           "share_missed": "unanswered", "median_latency_s": "typical reply (s)"},
)"""
            ),
            md("## Week by week"),
            code(
                """
weekly = ctx.run(
    patterns.turning_rates, ctx.events, period="W", what="weekly bids", needs=["events"]
)
if weekly is not None:
    ctx.chart(
        patterns.charts.chart_turning_rates(ctx.for_chart(weekly)),
        alt_text="Share of bids turned toward per week, per partner",
    )
    ctx.say(
        "The dashed lines are figures reported by Gottman and colleagues in popular "
        "books (about 86% turned toward in couples still together six years later, about "
        "33% in those who divorced). They are a rough orientation, not a norm."
    )"""
            ),
        ],
    ),
    "03_pursue_withdraw": (
        "# The pursue–withdraw cycle\n\nOne partner presses for contact or change while the "
        "other pulls back; each move tends to bring on the other. This page shows how often "
        "that loop showed up, who took which role, and how the episodes ended.",
        [
            md("## Episodes in the logged moves"),
            code(
                """
episodes = ctx.run(
    patterns.pursue_withdraw_episodes,
    ctx.events,
    what="logged moves",
    needs=["events"],
    empty="No pursue–withdraw episodes were found in the logged moves for this period.",
)
summary = None if episodes is None else ctx.run(
    patterns.cycles.episode_summary, episodes, events=ctx.events, what="episode summary"
)
ctx.sentences(
    summary,
    "{episodes} episodes, about {episodes_per_week:.1f} a week; typically {median_rounds:.0f} "
    "rounds of pursuing and withdrawing. {repair_share:.0%} ended with a repair or a turn "
    "toward each other (95% interval {repair_ci_low:.0%} to {repair_ci_high:.0%}).",
)
if episodes is not None:
    ctx.chart(
        patterns.charts.chart_episode_timeline(ctx.for_chart(episodes)),
        alt_text="Pursue-withdraw episodes over time, by who pursued and how they ended",
    )
    ctx.table(
        episodes,
        columns=["start", "pursuer", "withdrawer", "rounds", "ended_by", "topic",
                 "peak_intensity"],
        names={"start": "started (local time)", "ended_by": "how it ended",
               "peak_intensity": "peak intensity (0-1)"},
        max_rows=20,
    )"""
            ),
            md("## Who pursues, who withdraws"),
            code(
                """
shares = None if episodes is None else ctx.run(
    patterns.cycles.pursuer_share, episodes, period="M", what="roles over time"
)
if shares is not None:
    ctx.chart(
        patterns.charts.chart_pursuer_share(ctx.for_chart(shares)),
        alt_text="Each partner's share of the pursuer role per month",
    )
    ctx.say(
        "A share near one half means both partners take the pursuing role about equally "
        "often; far from it, the roles are fixed."
    )"""
            ),
            md("## What the partners said in their check-ins"),
            code(
                """
daily = ctx.run(
    patterns.cycles.daily_cycle_reports,
    ctx.checkins,
    what="daily reports of pursuing and withdrawing",
    needs=["checkins.pursued", "checkins.withdrew"],
)
if daily is not None:
    ctx.say(
        f"On {int(daily['cycle'].fillna(False).sum())} of {len(daily)} days with check-ins, "
        "one partner said they pursued while the other said they withdrew "
        f"(Partner A pursuing: {int(daily['a_pursued_b_withdrew'].fillna(False).sum())} days; "
        f"Partner B pursuing: {int(daily['b_pursued_a_withdrew'].fillna(False).sum())} days)."
    )"""
            ),
        ],
    ),
    "04_topics": (
        "# Conflicts that come back\n\nWhich topics the conflicts were about, how often each "
        "returned, whether it came back after being repaired, and which topics set off the "
        "pursue–withdraw cycle.",
        [
            md("## Conflict topics"),
            code(
                """
conflicts = ctx.run(
    patterns.conflict_log,
    ctx.events,
    ctx.checkins,
    what="conflicts",
    empty="No conflicts were recorded in this period.",
)
recurrence = None if conflicts is None else ctx.run(
    patterns.topic_recurrence, conflicts, events=ctx.events, what="conflict topics"
)
ctx.sentences(
    recurrence,
    "{topic}: {conflicts} conflict(s), in {weeks_active} of {observed_weeks} weeks; came "
    "back after a repair {resurfaced} time(s); {repair_share:.0%} repaired.",
)
if recurrence is not None:
    ctx.chart(
        patterns.charts.chart_escalation_repair(ctx.for_chart(recurrence)),
        alt_text="Per topic, the share of conflicts that escalated and that were repaired",
    )
weeks = None if conflicts is None else ctx.run(
    patterns.topics.topic_weeks, conflicts, events=ctx.events, what="conflicts per week"
)
if weeks is not None:
    ctx.chart(
        patterns.charts.chart_topic_weeks(ctx.for_chart(weeks)),
        alt_text="Conflicts per topic and week; diamonds where a repaired topic came back",
    )
ctx.table(
    recurrence,
    columns=["topic", "conflicts", "weeks_active", "median_days_between", "resurfaced",
             "escalation_share", "repair_share", "perpetual"],
    names={"weeks_active": "weeks with one", "median_days_between": "typical days between",
           "resurfaced": "came back after repair", "escalation_share": "escalated",
           "repair_share": "repaired", "perpetual": "keeps returning"},
)"""
            ),
            md("## Topics that start the cycle"),
            code(
                """
episodes = ctx.run(
    patterns.pursue_withdraw_episodes,
    ctx.events,
    what="pursue-withdraw episodes",
    needs=["events"],
    empty="No pursue–withdraw episodes were found, so no topic started one.",
)
starters = None if episodes is None else ctx.run(
    patterns.topics.cycle_topics, episodes, what="topics of episodes"
)
ctx.table(
    starters,
    columns=["topic", "episodes", "share"],
    names={"share": "share of episodes"},
)
ctx.say(
    "Some conflicts never resolve because they rest on lasting differences; Gottman and "
    "colleagues describe most couples' conflicts this way. A topic that keeps returning "
    "is a subject for a conversation, not a verdict."
)"""
            ),
        ],
    ),
    "05_trends": (
        "# Feeling connected over time\n\nHow connected each partner said they felt, day by "
        "day and week by week, whether that is changing, and whether the two agree.",
        [
            md("## Week by week"),
            code(
                """
daily = ctx.run(
    patterns.trends.daily_connection,
    ctx.checkins,
    what="connection ratings",
    needs=["checkins.connection"],
)
weekly = None if daily is None else ctx.run(
    patterns.trends.weekly_connection,
    daily,
    autocorrelation="ar1",  # the interval allows for days that carry over
    what="weekly connection",
)
ctx.table(
    weekly,
    columns=["week_start", "partner", "connection", "ci_low", "ci_high", "n_days"],
    names={"week_start": "week of", "connection": "mean connection (0-10)",
           "ci_low": "95% interval from", "ci_high": "95% interval to",
           "n_days": "days rated"},
    max_rows=40,
)"""
            ),
            md("## Is it changing?"),
            code(
                """
slopes = None if daily is None else ctx.run(
    patterns.trends.theil_sen,
    daily,
    autocorrelation="hamed_rao_ar1",  # the interval allows for days that carry over
    what="the trend of connection",
)
ctx.sentences(
    slopes,
    "{partner}: connection changed by {slope:+.2f} points a week (95% interval "
    "{ci_low:+.2f} to {ci_high:+.2f}) from {first_day} to {last_day}.",
)
if not ctx.therapist:
    tests = None if daily is None else ctx.run(
        patterns.trends.trend_tests, daily, what="trend tests"
    )
    ctx.table(
        tests,
        columns=["partner", "n", "s", "var_s", "z", "tau", "p_value", "slope", "trend",
                 "autocorrelation"],
        names={"n": "days", "p_value": "p-value (Mann-Kendall)"},
    )
changes = None if daily is None else ctx.run(
    patterns.trends.change_points,
    daily,
    what="change points",
    empty="No sudden change in connection was found.",
)
ctx.sentences(
    changes,
    "{partner}: from {date} connection moved from about {mean_before:.1f} to "
    "{mean_after:.1f}.",
)
rolling = None if daily is None else ctx.run(
    patterns.trends.rolling_connection,
    daily,
    autocorrelation="ar1",  # the band allows for days that carry over
    what="rolling connection",
)
if rolling is not None:
    ctx.chart(
        patterns.charts.chart_connection(
            ctx.for_chart(rolling),
            change_points=ctx.for_chart(changes),
            intervention_date=ctx.params.intervention_date,
        ),
        alt_text="Daily connection with a 7-day rolling mean and its interval",
    )"""
            ),
            md("## Before and after the intervention date"),
            code(
                """
if ctx.params.intervention_date is None or daily is None:
    ctx.say("No intervention date was given, so there is no before/after comparison.")
else:
    effect = ctx.run(
        patterns.trends.intervention_effect,
        daily,
        intervention_date=ctx.params.intervention_date,
        seed=0,
        what="connection before and after the intervention",
    )
    ctx.sentences(
        effect,
        "{partner}: mean connection {mean_before:.1f} before and {mean_after:.1f} after "
        "(difference {difference:+.2f}, 95% interval {ci_low:+.2f} to {ci_high:+.2f}).",
    )
    if effect is not None:
        ctx.chart(
            patterns.charts.chart_before_after(ctx.for_chart(effect)),
            alt_text="Mean connection before and after the intervention date",
        )
    if not ctx.therapist and effect is not None:
        ctx.say(
            "The interval of the difference above allows for one day's rating carrying over "
            "into the next (AR(1) errors fitted by REML; the block bootstrap it replaced was "
            "too narrow then). The level change below comes from a segmented regression "
            "with the same AR(1) errors: it also allows for a trend within each period."
        )
        ctx.table(
            effect,
            columns=["partner", "n_before", "n_after", "level_change", "level_ci_low",
                     "level_ci_high", "level_p_value", "slope_change", "slope_p_value"],
            names={"n_before": "days before", "n_after": "days after",
                   "level_change": "level change at the date (AR(1) errors, REML)",
                   "level_ci_low": "95% interval from", "level_ci_high": "95% interval to",
                   "level_p_value": "p-value (level)",
                   "slope_change": "slope change (points a day)",
                   "slope_p_value": "p-value (slope)"},
        )"""
            ),
            md("## Do the partners agree, and lonely despite time together"),
            code(
                """
agreement = None if daily is None else ctx.run(
    patterns.trends.partner_agreement, daily, what="partner agreement"
)
ctx.sentences(
    agreement,
    "On {n} days both rated: their ratings moved together with a correlation of {r:.2f} "
    "(95% interval {ci_low:.2f} to {ci_high:.2f}); they typically differed by "
    "{mean_abs_gap:.1f} points.",
)
lonely = ctx.run(
    patterns.trends.lonely_together,
    ctx.checkins,
    what="loneliness and time together",
    needs=["checkins.lonely", "checkins.time_together_min"],
)
ctx.sentences(
    lonely,
    "{partner}: felt lonely on {lonely_together_days:.0f} of {together_days:.0f} days with "
    "more time together than usual ({share:.0%}, 95% interval {ci_low:.0%} to "
    "{ci_high:.0%}).",
)"""
            ),
        ],
    ),
    "06_regulation": (
        "# Body signals and protective responses\n\nWhat each partner noticed in their body "
        "under stress (tension, an urge to withdraw, feeling flooded, going blank) and the "
        "protective responses they noticed (becoming self-reliant, critical, shutting down).",
        [
            md("## How often"),
            code(
                """
frequency = ctx.run(
    patterns.regulation.signal_frequency,
    ctx.checkins,
    period="all",
    what="body signals and protective responses",
    needs=["checkins"],
)
days = None if frequency is None else ctx.run(
    patterns.regulation.signal_frequency, ctx.checkins, period="D", what="signals per day"
)
if days is not None:
    ctx.chart(
        patterns.charts.chart_signal_calendar(ctx.for_chart(days)),
        alt_text="Calendar of days each signal was noticed, per partner",
    )
ctx.table(
    frequency,
    columns=["partner", "signal", "kind", "days_observed", "days_present", "share"],
    names={"days_observed": "days answered", "days_present": "days noticed",
           "share": "share of days"},
)"""
            ),
            md("## On conflict days"),
            code(
                """
together = ctx.run(
    patterns.regulation.signal_cooccurrence,
    ctx.checkins,
    what="signals on conflict days",
    needs=["checkins.conflict"],
)
ctx.table(
    together,
    columns=["partner", "signal", "share_conflict", "share_other", "difference",
             "ci_low", "ci_high"],
    names={"share_conflict": "on conflict days", "share_other": "on other days",
           "ci_low": "95% interval from", "ci_high": "95% interval to"},
)"""
            ),
            md("## Does a signal come before withdrawing?"),
            code(
                """
lagged = ctx.run(
    patterns.regulation.lagged_association,
    ctx.checkins,
    seed=0,
    what="signals and withdrawing",
    needs=["checkins.withdrew"],
)
ctx.table(
    lagged,
    columns=["partner", "signal", "lag", "p_withdrew_signal", "p_withdrew_no_signal",
             "effect", "ci_low", "ci_high"]
    + ([] if ctx.therapist else ["n", "n_signal", "p_value", "n_perm"]),
    names={"lag": "days later", "p_withdrew_signal": "withdrew after the signal",
           "p_withdrew_no_signal": "withdrew otherwise", "effect": "difference",
           "ci_low": "95% interval from", "ci_high": "95% interval to",
           "p_value": "p-value (permutation)"},
    max_rows=30,
)
ctx.say(
    "These are associations within this couple's days, not causes. Flooding guidance "
    "often quoted in couples work (a break of at least 20 minutes) is clinical advice, "
    "not a finding of this report."
)"""
            ),
        ],
    ),
}


def build(name: str) -> nbformat.NotebookNode:
    title, cells = NOTEBOOKS[name]
    params = new_code_cell(parameters_source())
    params.metadata["tags"] = ["parameters"]
    # import only the modules this notebook calls (each import costs start-up time)
    body = "\n".join(c.source for c in cells)
    modules = sorted(
        set(re.findall(r"patterns\.(cycles|quality|regulation|topics|trends)\.", body))
    )
    imports = "".join(f"import patterns.{m}\n" for m in modules)
    prepare = PREPARE.format(imports=imports, arguments=prepare_arguments())
    nb = new_notebook(
        cells=[md(title), params, code(prepare), *cells],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python", "pygments_lexer": "ipython3"},
        },
    )
    # Stable cell ids, so rebuilding gives the same bytes.
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name.replace('_', '-')}-{i:02d}"
    return nb


def main(argv: list[str] | None = None) -> int:
    out = Path(argv[0]) if argv else HERE
    for name in NOTEBOOKS:
        nbformat.write(build(name), str(out / f"{name}.ipynb"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
