"""Two-partner consent, read from an export's manifest (DESIGN §2).

Dyadic data needs **both** partners' valid consent. The manifest keeps one consent record
per partner in HL7 FHIR Consent words (``status``, ``decision``, ``period``) plus the date a
partner withdrew, the purposes (research purposes map to GA4GH DUO terms) and the data
categories that partner allows. What the kit may do with a couple is the *intersection* of
what both allowed, and one partner's withdrawal stops all joint analysis.

Manifest shape (as written by :func:`patterns.simulate_export`)::

    {"couples": [{"couple_id": "c001", "partners": ["c001-a", "c001-b"],
                  "consent": {"partners": {"c001-a": {"status": "active",
                                                     "decision": "permit",
                                                     "period": {"start": "2026-01-01",
                                                                "end": "2026-12-31"},
                                                     "withdrawn_at": null,
                                                     "purposes": ["treatment", "research"],
                                                     "categories": ["ratings", "events"]},
                                           "c001-b": {...}},
                              "recipients": ["therapist"],
                              "retention_until": "2027-12-31"}}]}

Examples
--------
>>> p = {"status": "active", "decision": "permit", "period": {"start": "2026-01-01"},
...      "purposes": ["treatment"], "categories": ["ratings", "events", "free_text"]}
>>> m = {"couples": [{"couple_id": "c1", "partners": ["a", "b"],
...       "consent": {"partners": {"a": p, "b": {**p, "categories": ["ratings"]}}}}]}
>>> d = check_consent(m, "c1", on="2026-06-01")
>>> d.ok, d.categories
(True, ('ratings',))
>>> d.allows("free_text")
False
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from patterns.errors import check_option, option_error
from patterns.privacy import _nfc

__all__ = [
    "CATEGORIES",
    "DUO_PURPOSES",
    "ConsentDecision",
    "ConsentError",
    "ConsentProblem",
    "check_consent",
    "consent_table",
]

#: Data categories a partner can allow (DESIGN §2).
CATEGORIES: tuple[str, ...] = ("ratings", "events", "free_text", "intimacy")

#: Purposes the kit knows, with the GA4GH Data Use Ontology term each corresponds to.
#: A manifest may list either the word or the DUO id.
DUO_PURPOSES: dict[str, str] = {
    "treatment": "DUO:0000043",  # clinical care use
    "research": "DUO:0000042",  # general research use
    "health_research": "DUO:0000006",  # health or medical or biomedical research
}
_DUO_TO_WORD = {v: k for k, v in DUO_PURPOSES.items()}

#: HL7 FHIR Consent.status codes; only ``active`` allows processing.
FHIR_STATUS: tuple[str, ...] = (
    "draft",
    "proposed",
    "active",
    "rejected",
    "inactive",
    "entered-in-error",
    "not-done",
)

#: Rule codes a problem can carry, with what each checks.
RULES: dict[str, str] = {
    "manifest": "the manifest is a mapping with a `couples` list",
    "couple_listed": "the couple is listed in the manifest",
    "consent_present": "the couple has a consent block with a record per partner",
    "two_partners": "the couple lists exactly two partners, each with a consent record",
    "status": "FHIR Consent status is `active`",
    "decision": "FHIR Consent decision is `permit`",
    "period": "the date checked lies inside the partner's consent period",
    "withdrawn": "the partner has not withdrawn on or before the date checked",
    "purpose": "both partners allow the purpose asked for",
    "category": "both partners allow each data category required",
    "retention": "the retention date has not passed (enforced under strict)",
    "date_format": "dates in the consent record are ISO 8601",
}


class ConsentError(ValueError):
    """A couple's data cannot be processed: consent is missing, invalid or withdrawn."""


@dataclass(frozen=True)
class ConsentProblem:
    """Why consent fails: which partner (``None`` for the couple), which rule, what was
    found, and how to fix it."""

    partner: str | None
    rule: str
    message: str
    fix: str

    def __str__(self) -> str:
        who = f"partner {self.partner}" if self.partner is not None else "couple"
        return f"{who} [{self.rule}]: {self.message} Fix: {self.fix}"


@dataclass(frozen=True)
class ConsentDecision:
    """The outcome of :func:`check_consent` for one couple and one purpose.

    Attributes
    ----------
    ok : bool
        Both partners validly consent to ``purpose`` on the date checked.
    couple_id : str
    purpose : str
    on : pandas.Timestamp
        The date checked.
    problems : tuple of ConsentProblem
        Why ``ok`` is False (empty when ok).
    categories : tuple of str
        Data categories *both* partners allow (sorted); empty when not ok.
    purposes : tuple of str
        Purposes both partners allow (sorted words); empty when not ok.
    recipients : tuple of str
    retention_until : pandas.Timestamp or None
    warnings : tuple of str
    """

    ok: bool
    couple_id: str
    purpose: str
    on: pd.Timestamp
    problems: tuple[ConsentProblem, ...] = ()
    categories: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    retention_until: pd.Timestamp | None = None
    warnings: tuple[str, ...] = field(default=())

    def allows(self, category: str) -> bool:
        """Whether consent is valid and both partners allow data ``category``."""
        check_option("category", category, CATEGORIES, func="ConsentDecision.allows")
        return self.ok and category in self.categories

    def explain(self) -> str:
        """Plain-language account: the verdict, then one line per problem and warning."""
        head = (
            f"Couple {self.couple_id}: consent valid for {self.purpose} on {self.on:%Y-%m-%d}."
            if self.ok
            else f"Couple {self.couple_id}: no valid two-partner consent for {self.purpose} "
            f"on {self.on:%Y-%m-%d}."
        )
        lines = [head, *(f"  - {p}" for p in self.problems)]
        lines += [f"  ! {w}" for w in self.warnings]
        return "\n".join(lines)

    def raise_if_refused(self) -> ConsentDecision:
        """Return ``self`` when ok, else raise :class:`ConsentError` with :meth:`explain`."""
        if not self.ok:
            raise ConsentError(self.explain())
        return self


def _as_day(value: Any) -> pd.Timestamp:
    """A naive midnight Timestamp for a date, datetime, ISO string or Timestamp (UTC day
    for tz-aware values). Raises ValueError when it cannot be parsed."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a date: {value!r}")
    if isinstance(value, (datetime, date, pd.Timestamp)):
        ts = pd.Timestamp(value)
    elif isinstance(value, str):
        # ISO 8601 only: pandas would also read "01/02/2026", which is ambiguous (US/EU).
        ts = pd.Timestamp(datetime.fromisoformat(value.strip()))
    else:
        raise ValueError(f"not a date: {value!r}")
    if pd.isna(ts):
        raise ValueError(f"not a date: {value!r}")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize()


def _words(values: Any) -> set[str]:
    if values is None:
        return set()
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, Iterable):
        return set()
    return {_DUO_TO_WORD.get(str(v).strip(), str(v).strip()) for v in values}


def _find_couple(manifest: Any, couple_id: str) -> tuple[Mapping | None, ConsentProblem | None]:
    if not isinstance(manifest, Mapping) or not isinstance(manifest.get("couples"), list):
        return None, ConsentProblem(
            None,
            "manifest",
            "the export has no readable manifest with a `couples` list, so no consent is recorded.",
            "add manifest.json with each couple's two-partner consent (see the data "
            "dictionary), or pass --no-consent-check if consent is recorded elsewhere.",
        )
    key = _nfc(couple_id)
    for couple in manifest["couples"]:
        if isinstance(couple, Mapping) and _nfc(couple.get("couple_id")) == key:
            return couple, None
    return None, ConsentProblem(
        None,
        "couple_listed",
        f"couple {couple_id!r} is not listed in the manifest.",
        "add the couple and both partners' consent to manifest.json.",
    )


def check_consent(
    manifest: Mapping[str, Any] | None,
    couple_id: str,
    *,
    on: Any = None,
    purpose: str = "treatment",
    strict: bool = False,
    require: Iterable[str] = (),
) -> ConsentDecision:
    """Decide whether a couple's data may be processed for ``purpose`` on date ``on``.

    Parameters
    ----------
    manifest : mapping or None
        The export manifest (``Export.manifest``).
    couple_id : str
        The couple (compared after Unicode NFC normalisation).
    on : date-like, optional
        The date of processing; default today (UTC).
    purpose : {"treatment", "research", "health_research"}
        What the data is used for (GA4GH DUO: clinical care use, general research use,
        health/medical/biomedical research). Manifests may list the word or the DUO id.
    strict : bool, default False
        Refuse, rather than warn, when ``retention_until`` has passed.
    require : iterable of str
        Data categories (:data:`CATEGORIES`) the caller needs; each must be allowed by both.

    Returns
    -------
    ConsentDecision
        ``ok``, ``problems`` (each with ``partner``, ``rule``, ``message``, ``fix``),
        ``categories`` and ``purposes`` both partners allow, ``warnings``.

    Notes
    -----
    Rules, each a code in ``RULES``: the couple is listed with exactly two partners and a
    consent record for each (``two_partners``); per partner ``status == "active"``,
    ``decision == "permit"``, ``period.start <= on <= period.end`` (days, inclusive; an open
    end is allowed) and no ``withdrawn_at`` on or before ``on``; ``purpose`` in both
    partners' purposes; every ``require`` category in both partners' categories. Any failing
    partner refuses the couple (one partner's withdrawal stops all joint analysis). A past
    ``retention_until`` is a warning, or a ``retention`` problem under ``strict``. Tested
    against hand-built manifests, one per rule (tests/test_consent.py).

    Examples
    --------
    >>> p = {"status": "active", "decision": "permit", "purposes": ["treatment"],
    ...      "categories": ["ratings"], "period": {"start": "2026-01-01"}}
    >>> m = {"couples": [{"couple_id": "c1", "partners": ["a", "b"], "consent":
    ...       {"partners": {"a": p, "b": {**p, "withdrawn_at": "2026-03-01"}}}}]}
    >>> d = check_consent(m, "c1", on="2026-06-01")
    >>> d.ok, [(x.partner, x.rule) for x in d.problems]
    (False, [('b', 'withdrawn')])
    """
    func = "check_consent"
    check_option("purpose", purpose, list(DUO_PURPOSES), func=func)
    if not isinstance(strict, bool):
        raise option_error("strict", func, "True or False", strict)
    require = [require] if isinstance(require, str) else list(require)
    for cat in require:
        check_option("require", cat, CATEGORIES, func=func)
    try:
        day = pd.Timestamp.now("UTC").tz_localize(None).normalize() if on is None else _as_day(on)
    except ValueError:
        raise option_error("on", func, "a date (ISO 8601 string, date or Timestamp)", on) from None
    cid = _nfc(couple_id)

    def refused(*problems: ConsentProblem, warnings: tuple[str, ...] = ()) -> ConsentDecision:
        return ConsentDecision(False, cid, purpose, day, tuple(problems), warnings=warnings)

    couple, problem = _find_couple(manifest, cid)
    if problem is not None:
        return refused(problem)
    consent = couple.get("consent")
    records = consent.get("partners") if isinstance(consent, Mapping) else None
    if not isinstance(records, Mapping) or not records:
        return refused(
            ConsentProblem(
                None,
                "consent_present",
                f"couple {cid!r} has no consent recorded in the manifest.",
                "record both partners' consent (status, decision, period, purposes, "
                "categories) under couples[].consent.partners.",
            )
        )
    records = {_nfc(k): v for k, v in records.items()}
    listed = couple.get("partners")
    partners = [_nfc(p) for p in listed] if isinstance(listed, list) else sorted(records)
    problems: list[ConsentProblem] = []
    warnings: list[str] = []
    if len(set(partners)) != 2:
        problems.append(
            ConsentProblem(
                None,
                "two_partners",
                f"couple {cid!r} lists {len(set(partners))} partner(s) {sorted(set(partners))}; "
                "dyadic analysis needs exactly two.",
                "list exactly the couple's two partner ids under couples[].partners.",
            )
        )
    for extra in sorted(set(records) - set(partners)):
        problems.append(
            ConsentProblem(
                extra,
                "two_partners",
                f"a consent record belongs to {extra!r}, who is not one of the couple's partners.",
                "remove the record or correct the partner id.",
            )
        )
    allowed_purposes: list[set[str]] = []
    allowed_categories: list[set[str]] = []
    for partner in partners:
        rec = records.get(partner)
        if not isinstance(rec, Mapping):
            problems.append(
                ConsentProblem(
                    partner,
                    "consent_present",
                    f"no consent record for partner {partner!r}.",
                    "record this partner's own consent; one partner cannot consent for both.",
                )
            )
            continue
        problems.extend(_partner_problems(partner, rec, day))
        purposes = _words(rec.get("purposes"))
        allowed_purposes.append(purposes)
        allowed_categories.append(_words(rec.get("categories")) & set(CATEGORIES))
        if purpose not in purposes:
            problems.append(
                ConsentProblem(
                    partner,
                    "purpose",
                    f"partner {partner!r} did not allow the purpose {purpose!r} "
                    f"({DUO_PURPOSES[purpose]}); allowed: {sorted(purposes)}.",
                    f"ask this partner to consent to {purpose!r}, or use the data only for a "
                    "purpose both allowed.",
                )
            )
        for cat in require:
            if cat not in allowed_categories[-1]:
                problems.append(
                    ConsentProblem(
                        partner,
                        "category",
                        f"partner {partner!r} did not allow the data category {cat!r}.",
                        f"leave {cat!r} out, or ask this partner to allow it.",
                    )
                )
    retention = None
    if isinstance(consent, Mapping) and consent.get("retention_until") not in (None, ""):
        try:
            retention = _as_day(consent["retention_until"])
        except ValueError:
            problems.append(
                ConsentProblem(
                    None,
                    "date_format",
                    f"retention_until {consent['retention_until']!r} is not an ISO 8601 date.",
                    "write it as YYYY-MM-DD.",
                )
            )
        else:
            if retention < day:
                msg = (
                    f"the retention date {retention:%Y-%m-%d} has passed; the data should "
                    "have been deleted or consent renewed."
                )
                if strict:
                    problems.append(
                        ConsentProblem(
                            None,
                            "retention",
                            msg,
                            "delete the data, or renew consent and extend retention_until.",
                        )
                    )
                else:
                    warnings.append(msg)
    if problems:
        return refused(*problems, warnings=tuple(warnings))
    recipients = consent.get("recipients") if isinstance(consent, Mapping) else None
    return ConsentDecision(
        True,
        cid,
        purpose,
        day,
        (),
        categories=tuple(sorted(set.intersection(*allowed_categories))),
        purposes=tuple(sorted(set.intersection(*allowed_purposes))),
        recipients=tuple(sorted(_words(recipients))),
        retention_until=retention,
        warnings=tuple(warnings),
    )


def _partner_problems(partner: str, rec: Mapping, day: pd.Timestamp) -> list[ConsentProblem]:
    out: list[ConsentProblem] = []
    status = rec.get("status")
    if status != "active":
        out.append(
            ConsentProblem(
                partner,
                "status",
                f"consent status is {status!r}, not 'active' (FHIR Consent status).",
                "record an active consent from this partner.",
            )
        )
    decision = rec.get("decision")
    if decision != "permit":
        out.append(
            ConsentProblem(
                partner,
                "decision",
                f"consent decision is {decision!r}, not 'permit'.",
                "only a 'permit' decision allows processing; ask this partner again.",
            )
        )
    period = rec.get("period") or {}
    bounds = {}
    for end in ("start", "end"):
        raw = period.get(end) if isinstance(period, Mapping) else None
        if raw in (None, ""):
            continue
        try:
            bounds[end] = _as_day(raw)
        except ValueError:
            out.append(
                ConsentProblem(
                    partner,
                    "date_format",
                    f"period.{end} {raw!r} is not an ISO 8601 date.",
                    "write it as YYYY-MM-DD.",
                )
            )
    if "start" not in bounds and not any(p.rule == "date_format" for p in out):
        out.append(
            ConsentProblem(
                partner,
                "period",
                "the consent period has no start date.",
                "record when this partner consented (period.start).",
            )
        )
    if "start" in bounds and day < bounds["start"]:
        out.append(
            ConsentProblem(
                partner,
                "period",
                f"consent starts {bounds['start']:%Y-%m-%d}, after {day:%Y-%m-%d}.",
                "process the data only inside the consent period.",
            )
        )
    if "end" in bounds and day > bounds["end"]:
        out.append(
            ConsentProblem(
                partner,
                "period",
                f"consent ended {bounds['end']:%Y-%m-%d}, before {day:%Y-%m-%d}.",
                "ask this partner to renew consent, or stop processing.",
            )
        )
    withdrawn = rec.get("withdrawn_at")
    if withdrawn not in (None, ""):
        try:
            wday = _as_day(withdrawn)
        except ValueError:
            out.append(
                ConsentProblem(
                    partner,
                    "withdrawn",
                    f"withdrawn_at {withdrawn!r} is not a date; treated as withdrawn.",
                    "correct withdrawn_at (YYYY-MM-DD); until then the couple is refused.",
                )
            )
        else:
            if wday <= day:
                out.append(
                    ConsentProblem(
                        partner,
                        "withdrawn",
                        f"this partner withdrew consent on {wday:%Y-%m-%d}; one partner's "
                        "withdrawal stops all joint analysis.",
                        "do not process this couple's data; delete it as agreed.",
                    )
                )
    return out


def consent_table(
    manifest: Mapping[str, Any] | None,
    *,
    on: Any = None,
    purpose: str = "treatment",
    strict: bool = False,
) -> pd.DataFrame:
    """One row per couple in the manifest: is two-partner consent valid, and for what.

    Parameters
    ----------
    manifest : mapping or None
    on, purpose, strict
        As in :func:`check_consent`.

    Returns
    -------
    DataFrame
        ``couple_id`` (str), ``purpose`` (str), ``ok`` (bool), ``n_problems`` (int),
        ``rules`` (str: ``partner:rule`` pairs joined by ``; ``, ``couple`` when the rule is
        about the couple), ``purposes`` (str, comma-joined, empty when not ok),
        ``allows_ratings``, ``allows_events``, ``allows_free_text``, ``allows_intimacy``
        (bool: consent is ok and both partners allow the category), ``retention_until``
        (naive Timestamp or NaT), ``n_warnings`` (int). No partner names and no free text.

    Notes
    -----
    A thin tabulation of :func:`check_consent` per couple; tested against it.

    Examples
    --------
    >>> p = {"status": "active", "decision": "permit", "purposes": ["treatment"],
    ...      "categories": ["ratings"], "period": {"start": "2026-01-01"}}
    >>> m = {"couples": [{"couple_id": "c1", "partners": ["a", "b"], "consent":
    ...       {"partners": {"a": p, "b": p}}}, {"couple_id": "c2", "partners": ["x", "y"]}]}
    >>> consent_table(m, on="2026-02-01")[["couple_id", "ok", "rules", "allows_ratings"]]
      couple_id     ok                     rules  allows_ratings
    0        c1   True                                      True
    1        c2  False  couple:consent_present           False
    """
    rows = []
    couples = manifest.get("couples") if isinstance(manifest, Mapping) else None
    ids = [
        _nfc(c.get("couple_id"))
        for c in (couples if isinstance(couples, list) else [])
        if isinstance(c, Mapping)
    ]
    for cid in dict.fromkeys(ids):
        d = check_consent(manifest, cid, on=on, purpose=purpose, strict=strict)
        rows.append(
            {
                "couple_id": cid,
                "purpose": purpose,
                "ok": d.ok,
                "n_problems": len(d.problems),
                "rules": "; ".join(
                    f"{p.partner if p.partner is not None else 'couple'}:{p.rule}"
                    for p in d.problems
                ),
                "purposes": ",".join(d.purposes),
                **{f"allows_{cat}": d.allows(cat) for cat in CATEGORIES},
                "retention_until": d.retention_until if d.retention_until is not None else pd.NaT,
                "n_warnings": len(d.warnings),
            }
        )
    cols = [
        "couple_id",
        "purpose",
        "ok",
        "n_problems",
        "rules",
        "purposes",
        *(f"allows_{cat}" for cat in CATEGORIES),
        "retention_until",
        "n_warnings",
    ]
    out = pd.DataFrame(rows, columns=cols)
    out = out.astype(
        {
            "couple_id": "string",
            "purpose": "string",
            "ok": bool,
            "n_problems": "int64",
            "rules": "string",
            "purposes": "string",
            **dict.fromkeys((f"allows_{cat}" for cat in CATEGORIES), bool),
            "retention_until": "datetime64[ns]",
            "n_warnings": "int64",
        }
    )
    return out.reset_index(drop=True)
