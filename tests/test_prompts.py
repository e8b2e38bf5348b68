"""Tests for patterns.prompts: the prompt bank, summaries (vs pandas counts), and that
answer text appears only with an explicit show_text=True."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from patterns import schema
from patterns.prompts import load_prompts, paired_answers, prompt_summary, reflection_summary
from patterns.testing import check_contract

ISSUE_PROMPTS = [
    "When did you feel most connected to me this week?",
    "Is there a stress you're carrying that I may not fully see?",
    "What helps you feel supported right now?",
    "Is there something you've hesitated to ask for?",
    "What's one thing you miss about us?",
    "What's a moment recently where you felt proud of me?",
    "How can we make mornings/evenings feel more connected?",
    "What does support look like for you when you're overwhelmed?",
]
MISS = ISSUE_PROMPTS[4]
PROUD = ISSUE_PROMPTS[5]


@pytest.fixture()
def ci():
    df = pd.DataFrame(
        {
            "couple_id": ["c1"] * 6 + ["c2"],
            "partner": ["a", "a", "b", "b", "a", "b", "x"],
            "ts": pd.to_datetime(
                [
                    "2026-01-05 20:00",
                    "2026-01-08 20:00",
                    "2026-01-06 02:00",
                    "2026-01-09 20:00",
                    "2026-01-10 20:00",
                    "2026-01-12 20:00",
                    "2026-01-05 20:00",
                ],
                utc=True,
            ),
            "prompt": [
                MISS,
                "WHAT'S one thing you miss about us",
                MISS,
                PROUD,
                None,
                "Anything else on your mind?",
                PROUD,
            ],
            "answer": [
                "Our Sunday walks with Sam",
                "Dancing",
                "   ",
                "The talk",
                None,
                "Not really",
                "",
            ],
        }
    )
    return schema.coerce_dtypes(df, "checkins")


def test_bank_is_the_issue_list():
    bank = check_contract(load_prompts)
    assert bank["prompt"].tolist() == ISSUE_PROMPTS
    assert bank["prompt_id"].is_unique


def test_bank_from_yaml_and_errors(tmp_path):
    p = tmp_path / "bank.yaml"
    p.write_text("prompts:\n  - id: q1\n    text: How was today?\n", encoding="utf-8")
    assert load_prompts(p)["prompt_id"].tolist() == ["q1"]
    with pytest.raises(ValueError, match="load_prompts: path must be an existing YAML"):
        load_prompts(tmp_path / "nope.yaml")
    p.write_text("prompts:\n  - id: q 1\n    text: x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="snake_case 'id'"):
        load_prompts(p)
    p.write_text("prompts:\n  - {id: q, text: a}\n  - {id: q, text: b}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unique prompt ids"):
        load_prompts(p)
    p.write_text("prompts: []\n", encoding="utf-8")
    with pytest.raises(ValueError, match="non-empty 'prompts:' list"):
        load_prompts(p)


def test_reflection_summary_hand_worked(ci):
    r = check_contract(reflection_summary, ci).set_index(["couple_id", "partner"])
    a = r.loc[("c1", "a")]
    assert (a["asked"], a["answered"], a["prompts_asked"]) == (2, 2, 1)
    assert a["answer_rate"] == 1.0 and a["bank_coverage"] == pytest.approx(1 / 8)
    # last check-in of c1 is diary day Jan 12; a's last answer Jan 8 → 4 days
    assert a["days_since_last"] == 4.0
    b = r.loc[("c1", "b")]
    # blank answer does not count; custom prompt counts as asked/answered, not in the bank
    assert (b["asked"], b["answered"], b["prompts_asked"], b["prompts_answered"]) == (3, 2, 3, 2)
    assert b["bank_coverage"] == pytest.approx(1 / 8)
    assert b["last_reflection"] == pd.Timestamp("2026-01-12")
    x = r.loc[("c2", "x")]
    assert x["answered"] == 0 and np.isnan(x["days_since_last"])
    assert pd.isna(x["last_reflection"])
    r2 = reflection_summary(ci, as_of="2026-01-20")
    assert r2.loc[(r2["partner"] == "a"), "days_since_last"].item() == 12.0
    with pytest.raises(ValueError, match="reflection_summary: as_of must be a date"):
        reflection_summary(ci, as_of="someday")


def test_prompt_summary_matches_value_counts(ci):
    s = check_contract(prompt_summary, ci)
    asked = s[s["asked"] > 0].set_index(["couple_id", "partner", "prompt_id"])["asked"]
    bank = load_prompts()
    ids = dict(zip(bank["prompt"].str.casefold(), bank["prompt_id"], strict=True))
    raw = ci.dropna(subset=["prompt"])
    key = raw["prompt"].str.casefold().str.rstrip("?") + "?"
    exp = raw.assign(prompt_id=key.map(ids).fillna("custom")).value_counts(
        ["couple_id", "partner", "prompt_id"]
    )
    assert asked.to_dict() == exp.to_dict()
    # every bank prompt is listed for every partner who was asked anything
    assert (s[s["prompt_id"] != "custom"].groupby(["couple_id", "partner"]).size() == 8).all()
    custom = s[s["prompt_id"] == "custom"]
    assert custom["prompt"].tolist() == ["Anything else on your mind?"]


def test_paired_answers_hidden_by_default(ci):
    p = check_contract(paired_answers, ci)
    assert p["answer_a"].isna().all() and p["answer_b"].isna().all()
    texts = set(ci["answer"].dropna())
    assert not texts & {str(v) for v in p.to_numpy().ravel()}
    for func in (reflection_summary, prompt_summary):
        out = func(ci)
        assert not texts & {str(v) for v in out.to_numpy().ravel()}
    miss = p[(p["couple_id"] == "c1") & (p["prompt_id"] == "miss_about_us")].iloc[0]
    # b's answer was blank: a answered, b did not
    assert miss["answered_a"] and not miss["answered_b"]
    assert (miss["partner_a"], miss["partner_b"]) == ("a", "b")


def test_paired_answers_with_show_text(ci):
    p = paired_answers(ci, show_text=True).set_index(["couple_id", "prompt_id"])
    # the LATEST answer of each partner
    assert p.loc[("c1", "miss_about_us"), "answer_a"] == "Dancing"
    assert pd.isna(p.loc[("c1", "miss_about_us"), "answer_b"])
    assert p.loc[("c1", "proud_moment"), "answer_b"] == "The talk"
    assert ("c2", "proud_moment") not in p.index  # nobody answered
    with pytest.raises(ValueError, match="paired_answers: show_text must be True or False"):
        paired_answers(ci, show_text="yes")
    with pytest.raises(schema.SchemaError, match=r"missing columns \['answer'\]"):
        paired_answers(ci.drop(columns="answer"))


def test_on_simulated_checkins():
    simulate = pytest.importorskip("patterns.simulate")
    sim = simulate.simulate_export(couples=2, days=60, seed=4)
    assert list(simulate.PROMPTS) == ISSUE_PROMPTS
    r = check_contract(reflection_summary, sim.checkins)
    c = sim.checkins
    asked = c["prompt"].notna()
    answered = asked & c["answer"].str.strip().fillna("").ne("")
    exp = pd.DataFrame({"asked": asked, "answered": answered, "partner": c["partner"]})
    exp = exp.groupby("partner")[["asked", "answered"]].sum()
    got = r.set_index("partner")[["asked", "answered"]]
    assert got.to_dict() == exp.astype("int64").to_dict()
    s = check_contract(prompt_summary, sim.checkins)
    assert set(s["prompt_id"]) <= set(load_prompts()["prompt_id"])  # no custom prompts
    check_contract(paired_answers, sim.checkins)


def test_missing_columns():
    df = schema.coerce_dtypes(
        pd.DataFrame(
            {"couple_id": ["c1"], "partner": ["a"], "ts": pd.to_datetime(["2026-01-05"], utc=True)}
        ),
        "checkins",
    ).drop(columns=["prompt"])
    with pytest.raises(schema.SchemaError, match=r"reflection_summary: checkins is missing"):
        reflection_summary(df)
    with pytest.raises(ValueError, match="prompts must be None, a YAML path"):
        prompt_summary(df.assign(prompt="x"), prompts=["q"])
