"""Two-partner consent. Known-truth oracle: hand-built manifests, one per rule, each with the
exact (partner, rule) pairs expected; consent_table checked against check_consent."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from patterns.consent import (
    CATEGORIES,
    RULES,
    ConsentDecision,
    ConsentError,
    check_consent,
    consent_table,
)
from patterns.testing import check_contract

ON = "2026-06-01"


def _partner(**over) -> dict:
    rec = {
        "status": "active",
        "decision": "permit",
        "period": {"start": "2026-01-01", "end": "2026-12-31"},
        "withdrawn_at": None,
        "purposes": ["treatment", "research"],
        "categories": ["ratings", "events", "free_text", "intimacy"],
    }
    rec.update(over)
    return rec


def _manifest(a: dict | None = None, b: dict | None = None, **couple_over) -> dict:
    couple = {
        "couple_id": "c001",
        "partners": ["c001-a", "c001-b"],
        "consent": {
            "partners": {"c001-a": a or _partner(), "c001-b": b or _partner()},
            "recipients": ["therapist"],
            "retention_until": "2027-12-31",
        },
    }
    couple.update(couple_over)
    return {"schema_version": "1", "couples": [couple]}


def _rules(d: ConsentDecision) -> list[tuple[str | None, str]]:
    return [(p.partner, p.rule) for p in d.problems]


def test_valid_consent() -> None:
    d = check_consent(_manifest(), "c001", on=ON)
    assert d.ok and d.problems == () and d.warnings == ()
    assert d.categories == ("events", "free_text", "intimacy", "ratings")
    assert d.purposes == ("research", "treatment")
    assert d.recipients == ("therapist",)
    assert d.retention_until == pd.Timestamp("2027-12-31")
    assert d.on == pd.Timestamp(ON)
    assert d.allows("free_text")
    assert d.raise_if_refused() is d
    assert "consent valid for treatment on 2026-06-01" in d.explain()


def test_intersection_of_categories_and_purposes() -> None:
    m = _manifest(
        b=_partner(categories=["ratings", "events"], purposes=["treatment", "DUO:0000042"])
    )
    d = check_consent(m, "c001", on=ON)
    assert d.ok
    assert d.categories == ("events", "ratings")  # free_text not shared
    assert not d.allows("free_text") and d.allows("ratings")
    assert d.purposes == ("research", "treatment")  # DUO id mapped to the word
    d2 = check_consent(m, "c001", on=ON, require=["free_text"])
    assert not d2.ok and _rules(d2) == [("c001-b", "category")]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ({}, {"status": "inactive"}, [("c001-b", "status")]),
        ({}, {"status": "draft"}, [("c001-b", "status")]),
        ({"decision": "deny"}, {}, [("c001-a", "decision")]),
        ({}, {"withdrawn_at": "2026-05-31"}, [("c001-b", "withdrawn")]),
        ({}, {"withdrawn_at": ON}, [("c001-b", "withdrawn")]),  # on the day counts
        ({}, {"withdrawn_at": "not a date"}, [("c001-b", "withdrawn")]),
        ({"period": {"start": "2026-07-01"}}, {}, [("c001-a", "period")]),
        ({"period": {"start": "2025-01-01", "end": "2026-05-31"}}, {}, [("c001-a", "period")]),
        ({"period": {}}, {}, [("c001-a", "period")]),
        ({"period": {"start": "01/02/2026"}}, {}, [("c001-a", "date_format")]),
        ({"purposes": ["research"]}, {}, [("c001-a", "purpose")]),
        (
            {"status": "rejected", "decision": "deny"},
            {"withdrawn_at": "2026-01-02"},
            [("c001-a", "status"), ("c001-a", "decision"), ("c001-b", "withdrawn")],
        ),
    ],
)
def test_each_rule_refuses(a: dict, b: dict, expected: list) -> None:
    d = check_consent(_manifest(_partner(**a), _partner(**b)), "c001", on=ON)
    assert not d.ok
    assert _rules(d) == expected
    assert d.categories == () and d.purposes == ()
    assert all(p.rule in RULES and p.message and p.fix for p in d.problems)
    with pytest.raises(ConsentError, match="no valid two-partner consent"):
        d.raise_if_refused()


def test_withdrawal_in_the_future_does_not_refuse_yet() -> None:
    d = check_consent(_manifest(b=_partner(withdrawn_at="2026-06-02")), "c001", on=ON)
    assert d.ok


def test_open_ended_period_and_datetime_inputs() -> None:
    m = _manifest(_partner(period={"start": "2026-01-01T09:00:00+02:00"}))
    assert check_consent(m, "c001", on=date(2026, 6, 1)).ok
    assert check_consent(m, "c001", on=datetime(2026, 6, 1, 23, tzinfo=UTC)).ok
    assert check_consent(m, "c001", on=pd.Timestamp("2026-06-01")).ok
    assert not check_consent(m, "c001", on="2025-12-31").ok


def test_missing_manifest_couple_consent() -> None:
    assert _rules(check_consent(None, "c001", on=ON)) == [(None, "manifest")]
    assert _rules(check_consent({"couples": "x"}, "c001", on=ON)) == [(None, "manifest")]
    assert _rules(check_consent(_manifest(), "c999", on=ON)) == [(None, "couple_listed")]
    m = _manifest()
    del m["couples"][0]["consent"]
    assert _rules(check_consent(m, "c001", on=ON)) == [(None, "consent_present")]
    m = _manifest()
    del m["couples"][0]["consent"]["partners"]["c001-b"]
    assert _rules(check_consent(m, "c001", on=ON)) == [("c001-b", "consent_present")]


def test_third_partner_and_single_partner() -> None:
    m = _manifest()
    m["couples"][0]["partners"].append("c001-c")
    m["couples"][0]["consent"]["partners"]["c001-c"] = _partner()
    d = check_consent(m, "c001", on=ON)
    assert not d.ok and _rules(d) == [(None, "two_partners")]
    m = _manifest()
    m["couples"][0]["consent"]["partners"]["intruder"] = _partner()
    assert _rules(check_consent(m, "c001", on=ON)) == [("intruder", "two_partners")]
    m = _manifest(partners=["c001-a"])
    assert (None, "two_partners") in _rules(check_consent(m, "c001", on=ON))


def test_retention_warns_then_refuses_under_strict() -> None:
    m = _manifest()
    m["couples"][0]["consent"]["retention_until"] = "2026-05-01"
    d = check_consent(m, "c001", on=ON)
    assert d.ok and len(d.warnings) == 1 and "2026-05-01 has passed" in d.warnings[0]
    s = check_consent(m, "c001", on=ON, strict=True)
    assert not s.ok and _rules(s) == [(None, "retention")]
    m["couples"][0]["consent"]["retention_until"] = "soon"
    assert _rules(check_consent(m, "c001", on=ON)) == [(None, "date_format")]


def test_unicode_ids_are_nfc_normalised() -> None:
    m = _manifest(couple_id="Zo\u00eb")
    assert check_consent(m, "Zoe\u0308", on=ON).ok  # decomposed form finds the couple


def test_input_not_mutated() -> None:
    m = _manifest()
    before = copy.deepcopy(m)
    check_consent(m, "c001", on=ON)
    consent_table(m, on=ON)
    assert m == before


def test_default_on_is_today() -> None:
    d = check_consent(_manifest(_partner(period={"start": "2000-01-01"})), "c001")
    assert d.on == pd.Timestamp.now("UTC").tz_localize(None).normalize()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"purpose": "marketing"}, "check_consent: purpose must be one of"),
        ({"strict": "yes"}, "check_consent: strict must be True or False"),
        ({"require": ["photos"]}, "check_consent: require must be one of"),
        ({"on": "yesterday-ish"}, "check_consent: on must be a date"),
        ({"on": 20260601}, "check_consent: on must be a date"),
    ],
)
def test_argument_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_consent(_manifest(), "c001", **kwargs)


def test_allows_checks_category() -> None:
    with pytest.raises(ValueError, match=r"ConsentDecision\.allows: category must be one of"):
        check_consent(_manifest(), "c001", on=ON).allows("photos")


def test_consent_table_matches_check_consent() -> None:
    m = _manifest()
    ok_couple = copy.deepcopy(m["couples"][0])
    ok_couple["couple_id"] = "c002"
    ok_couple["consent"]["partners"]["c001-b"]["categories"] = ["ratings"]
    bad = copy.deepcopy(m["couples"][0])
    bad["couple_id"] = "c003"
    bad["consent"]["partners"]["c001-a"]["withdrawn_at"] = "2026-02-01"
    m["couples"] += [ok_couple, bad, {"couple_id": "c004"}]
    t = check_contract(consent_table, m, on=ON)
    assert t["couple_id"].tolist() == ["c001", "c002", "c003", "c004"]
    for row in t.itertuples(index=False):
        d = check_consent(m, row.couple_id, on=ON)
        assert row.ok == d.ok and row.n_problems == len(d.problems)
        got = {c: getattr(row, f"allows_{c}") for c in CATEGORIES}
        assert got == {c: d.allows(c) for c in CATEGORIES}
    assert t["rules"].tolist() == ["", "", "c001-a:withdrawn", "couple:consent_present"]
    assert t["allows_free_text"].tolist() == [True, False, False, False]
    assert t["ok"].dtype == bool and t["n_problems"].dtype == "int64"
    empty = consent_table(None, on=ON)
    assert len(empty) == 0 and list(empty.columns) == list(t.columns)
