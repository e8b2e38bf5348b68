"""Reflection prompts: which questions each partner was asked and answered, and — only on
explicit request — both partners' answers to the same prompt side by side.

Check-ins may carry a ``prompt`` (a reflection question) and the partner's ``answer``
(free text, private by default). The default bank ships as an editable YAML file
(``patterns/data/prompts.yaml``) with the eight questions couples are commonly given;
:func:`load_prompts` reads it. Asked prompts are matched to the bank by text with case,
accents, punctuation and spacing ignored; anything else is ``custom``.

- :func:`reflection_summary` — per couple and partner: prompts asked, answered, answer
  rate, last reflection and days since it.
- :func:`prompt_summary` — per couple, partner and prompt: asked and answered.
- :func:`paired_answers` — per couple and prompt, each partner's latest answer side by
  side. The answer text is filled in ONLY with ``show_text=True``; the caller is
  responsible for checking that both partners consented to sharing free text.

Examples
--------
>>> load_prompts()["prompt_id"].tolist()[:2]
['most_connected', 'hidden_stress']
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from patterns import schema, timeutil
from patterns.errors import option_error
from patterns.topics import _fold

__all__ = ["load_prompts", "paired_answers", "prompt_summary", "reflection_summary"]

_STR = schema.STRING


def load_prompts(path: str | Path | None = None) -> pd.DataFrame:
    """Read a prompt bank (YAML: ``prompts:`` list of ``{id, text}``).

    Parameters
    ----------
    path : str or Path, optional
        Default: the bank shipped with the kit (``patterns/data/prompts.yaml``).

    Returns
    -------
    DataFrame
        ``prompt_id`` (snake_case id), ``prompt`` (the question), in file order.

    Examples
    --------
    >>> bank = load_prompts()
    >>> len(bank), bank.loc[0, "prompt"]
    (8, 'When did you feel most connected to me this week?')
    """
    func = "load_prompts"
    if path is None:
        text = resources.files("patterns").joinpath("data/prompts.yaml").read_text("utf-8")
    else:
        p = Path(path)
        if not p.is_file():
            raise option_error("path", func, "an existing YAML file", str(path))
        text = p.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    items = data.get("prompts") if isinstance(data, Mapping) else None
    if not isinstance(items, list) or not items:
        raise option_error("path", func, "a YAML file with a non-empty 'prompts:' list", str(path))
    ids, texts = [], []
    for item in items:
        ok = (
            isinstance(item, Mapping)
            and isinstance(item.get("id"), str)
            and isinstance(item.get("text"), str)
            and item["id"].isidentifier()
            and item["text"].strip()
        )
        if not ok:
            raise option_error(
                "path", func, "prompts with a snake_case 'id' and a non-empty 'text'", item
            )
        ids.append(item["id"])
        texts.append(item["text"].strip())
    if len(set(ids)) != len(ids):
        raise option_error("path", func, "unique prompt ids", ids)
    return pd.DataFrame(
        {"prompt_id": pd.array(ids, dtype=_STR), "prompt": pd.array(texts, dtype=_STR)}
    )


def _key(s: pd.Series) -> pd.Series:
    """Matching key: the topic lexicon's fold (NFKD, no accents, casefold), then letters and
    digits only (vectorised)."""
    return _fold(s).str.replace(r"[^\w]+", "", regex=True)


def _bank(prompts: Any, func: str) -> pd.DataFrame:
    if prompts is None:
        return load_prompts()
    if isinstance(prompts, str | Path):
        return load_prompts(prompts)
    if isinstance(prompts, pd.DataFrame) and {"prompt_id", "prompt"} <= set(prompts.columns):
        return prompts[["prompt_id", "prompt"]].astype(_STR).reset_index(drop=True)
    raise option_error(
        "prompts", func, "None, a YAML path, or a DataFrame with prompt_id and prompt", prompts
    )


def _reflections(
    checkins: pd.DataFrame, prompts: Any, timezone: Any, cutoff_hour: int, func: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of check-ins where a prompt was asked, with prompt_id, day and answered; and
    the prompt bank they were matched against (read once per call)."""
    schema.require_columns(
        checkins, ["couple_id", "partner", "ts", "prompt"], func=func, table="checkins"
    )
    bank = _bank(prompts, func)
    zones = timeutil.resolve_timezones(checkins, timezone)
    asked_text = checkins["prompt"].astype(_STR)
    asked = asked_text.str.strip().fillna("").ne("").to_numpy(dtype=bool)
    ci = checkins.loc[asked]
    answer = (
        ci["answer"].astype(_STR)
        if "answer" in ci
        else pd.Series(pd.NA, index=ci.index, dtype=_STR)
    )
    lookup = dict(zip(_key(bank["prompt"]), bank["prompt_id"], strict=True))
    pid = _key(ci["prompt"]).map(lookup).fillna("custom").astype(_STR)
    rows = pd.DataFrame(
        {
            "couple_id": ci["couple_id"].astype(_STR).to_numpy(),
            "partner": ci["partner"].astype(_STR).to_numpy(),
            "ts": pd.to_datetime(ci["ts"], utc=True).reset_index(drop=True),
            "day": timeutil.diary_day(
                ci["ts"], ci["couple_id"], zones, cutoff_hour=cutoff_hour
            ).to_numpy(),
            "prompt_id": pid.to_numpy(),
            "prompt": ci["prompt"].astype(_STR).str.strip().to_numpy(),
            "answered": answer.str.strip().fillna("").ne("").to_numpy(dtype=bool),
            "answer": answer.to_numpy(),
        }
    )
    return rows, bank


def _last_days(checkins: pd.DataFrame, timezone: Any, cutoff_hour: int) -> pd.Series:
    zones = timeutil.resolve_timezones(checkins, timezone)
    day = timeutil.diary_day(checkins["ts"], checkins["couple_id"], zones, cutoff_hour=cutoff_hour)
    return day.groupby(checkins["couple_id"].astype(str).to_numpy()).max()


def reflection_summary(
    checkins: pd.DataFrame,
    *,
    prompts: pd.DataFrame | str | Path | None = None,
    as_of: str | pd.Timestamp | None = None,
    timezone: str | Mapping[str, str] | None = None,
    cutoff_hour: int = timeutil.DEFAULT_CUTOFF_HOUR,
) -> pd.DataFrame:
    """Per couple and partner: reflection prompts asked and answered, and how recently.

    Parameters
    ----------
    checkins : DataFrame
        Check-ins with ``couple_id``, ``partner``, ``ts``, ``prompt`` (and ``answer``).
    prompts : DataFrame, path or None
        Prompt bank (default: :func:`load_prompts`).
    as_of : date-like, optional
        Local date "today" for ``days_since_last``. Default: the couple's last check-in
        diary day (so the result depends on the data only).
    timezone, cutoff_hour
        Diary days (see ``timeutil.diary_day``).

    Returns
    -------
    DataFrame
        One row per couple and partner that was asked at least one prompt:
        ``couple_id``, ``partner``, ``asked`` (check-ins with a prompt), ``answered``
        (of them with a non-blank answer), ``answer_rate`` (``answered / asked``),
        ``prompts_asked`` (distinct prompts asked), ``prompts_answered`` (distinct
        prompts answered), ``bank_coverage`` (share of the bank's prompts answered at
        least once), ``last_reflection`` (diary day of the last answer, missing if
        none), ``days_since_last`` (float days from it to ``as_of``; NaN if none).

    Notes
    -----
    Counts only; no answer text. An answer of only spaces counts as not answered. Checked
    against a hand-built table and a pandas count on simulated check-ins.

    Examples
    --------
    >>> import pandas as pd
    >>> from patterns import schema
    >>> ci = schema.coerce_dtypes(pd.DataFrame({"couple_id": "c1", "partner": "a",
    ...     "ts": pd.to_datetime(["2026-01-05 20:00", "2026-01-09 20:00"], utc=True),
    ...     "prompt": ["What's one thing you miss about us?"] * 2,
    ...     "answer": ["Dancing.", " "]}), "checkins")
    >>> reflection_summary(ci)[["asked", "answered", "answer_rate", "days_since_last"]]
       asked  answered  answer_rate  days_since_last
    0      2         1          0.5              4.0
    """
    func = "reflection_summary"
    r, bank = _reflections(checkins, prompts, timezone, cutoff_hour, func)
    bank_size = len(bank)
    key = ["couple_id", "partner"]
    ans = r.loc[r["answered"]]
    g = r.groupby(key, observed=True)
    out = g.agg(
        asked=("prompt_id", "size"),
        answered=("answered", "sum"),
        prompts_asked=("prompt_id", "nunique"),
    ).reset_index()
    extra = (
        ans.groupby(key, observed=True)
        .agg(last_reflection=("day", "max"), prompts_answered=("prompt_id", "nunique"))
        .reset_index()
    )
    in_bank = ans.loc[ans["prompt_id"] != "custom"]
    cov = (
        in_bank.groupby(key, observed=True)["prompt_id"]
        .nunique()
        .rename("_bank_answered")
        .reset_index()
    )
    out = out.merge(extra, on=key, how="left").merge(cov, on=key, how="left")
    if as_of is None:
        ref = out["couple_id"].astype(str).map(_last_days(checkins, timezone, cutoff_hour))
    else:
        try:
            ts = pd.Timestamp(as_of)
        except (ValueError, TypeError):
            raise option_error("as_of", func, "a date such as '2026-03-01'", as_of) from None
        ref = pd.Series(
            ts.tz_localize(None).normalize() if ts.tzinfo else ts.normalize(), index=out.index
        )
    out["days_since_last"] = (
        (pd.to_datetime(ref) - out["last_reflection"]).dt.total_seconds() / 86400.0
    ).astype("float64")
    for c in ("asked", "answered", "prompts_asked"):
        out[c] = out[c].astype("int64")
    out["prompts_answered"] = out["prompts_answered"].fillna(0).astype("int64")
    out["answer_rate"] = out["answered"] / out["asked"]
    out["bank_coverage"] = out["_bank_answered"].fillna(0).astype("float64") / max(bank_size, 1)
    for c in key:
        out[c] = out[c].astype(_STR)
    cols = [
        "couple_id",
        "partner",
        "asked",
        "answered",
        "answer_rate",
        "prompts_asked",
        "prompts_answered",
        "bank_coverage",
        "last_reflection",
        "days_since_last",
    ]
    return out[cols].reset_index(drop=True)


def prompt_summary(
    checkins: pd.DataFrame,
    *,
    prompts: pd.DataFrame | str | Path | None = None,
    timezone: str | Mapping[str, str] | None = None,
    cutoff_hour: int = timeutil.DEFAULT_CUTOFF_HOUR,
) -> pd.DataFrame:
    """Per couple, partner and prompt: how often it was asked and answered.

    Parameters
    ----------
    checkins : DataFrame
        Check-ins with ``couple_id``, ``partner``, ``ts``, ``prompt`` (and ``answer``).
    prompts : DataFrame, path or None
        Prompt bank (default: :func:`load_prompts`).
    timezone, cutoff_hour
        Diary days (see ``timeutil.diary_day``).

    Returns
    -------
    DataFrame
        ``couple_id``, ``partner``, ``prompt_id`` (bank id or ``custom``), ``prompt``
        (the bank's wording; for custom prompts the asked text — a question, not an
        answer), ``asked``, ``answered`` (int), ``answer_rate``, ``last_asked`` (diary
        day). Bank prompts never asked are listed with ``asked = 0`` for each partner
        seen asking anything, so a report can show what is still unexplored.

    Notes
    -----
    Counts only (checked against ``value_counts`` in the tests).

    Examples
    --------
    >>> import pandas as pd
    >>> from patterns import schema
    >>> ci = schema.coerce_dtypes(pd.DataFrame({"couple_id": "c1", "partner": "a",
    ...     "ts": pd.to_datetime(["2026-01-05 20:00"], utc=True),
    ...     "prompt": ["what's one thing you MISS about us"], "answer": ["x"]}), "checkins")
    >>> s = prompt_summary(ci)
    >>> s.loc[s["asked"] > 0, ["prompt_id", "asked", "answered"]]
           prompt_id  asked  answered
    4  miss_about_us      1         1
    """
    func = "prompt_summary"
    r, bank = _reflections(checkins, prompts, timezone, cutoff_hour, func)
    key = ["couple_id", "partner"]
    custom = r.loc[r["prompt_id"] == "custom"]
    g = r.groupby([*key, "prompt_id"], observed=True)
    counts = g.agg(
        asked=("answered", "size"), answered=("answered", "sum"), last_asked=("day", "max")
    ).reset_index()
    people = r[key].drop_duplicates()
    grid = people.merge(bank[["prompt_id"]].astype(object), how="cross")
    customs = custom[[*key, "prompt_id", "prompt"]].drop_duplicates([*key, "prompt_id"])
    grid = pd.concat([grid, customs[[*key, "prompt_id"]]], ignore_index=True)
    out = grid.merge(counts, on=[*key, "prompt_id"], how="left")
    text = dict(zip(bank["prompt_id"], bank["prompt"], strict=True))
    custom_text = customs.set_index([*key])["prompt"] if len(customs) else None
    out["prompt"] = out["prompt_id"].map(text)
    if custom_text is not None:
        # a custom prompt keeps the question as asked (first seen per partner)
        idx = pd.MultiIndex.from_frame(out[key])
        fill = pd.Series(custom_text.reindex(idx).to_numpy(), index=out.index)
        out["prompt"] = out["prompt"].where(out["prompt_id"] != "custom", fill)
    out["asked"] = out["asked"].fillna(0).astype("int64")
    out["answered"] = out["answered"].fillna(0).astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["answer_rate"] = np.where(
            out["asked"] > 0, out["answered"] / out["asked"].clip(1), np.nan
        )
    for c in ("couple_id", "partner", "prompt_id", "prompt"):
        out[c] = out[c].astype(_STR)
    order = {p: i for i, p in enumerate(bank["prompt_id"])}
    out = out.assign(_o=out["prompt_id"].map(order).fillna(len(order))).sort_values(
        [*key, "_o"], kind="stable"
    )
    cols = [*key, "prompt_id", "prompt", "asked", "answered", "answer_rate", "last_asked"]
    return out[cols].reset_index(drop=True)


def paired_answers(
    checkins: pd.DataFrame,
    *,
    show_text: bool = False,
    prompts: pd.DataFrame | str | Path | None = None,
    timezone: str | Mapping[str, str] | None = None,
    cutoff_hour: int = timeutil.DEFAULT_CUTOFF_HOUR,
) -> pd.DataFrame:
    """Both partners' latest answers to the same prompt, side by side (per couple).

    Parameters
    ----------
    checkins : DataFrame
        Check-ins with ``couple_id``, ``partner``, ``ts``, ``prompt``, ``answer``.
    show_text : bool
        Fill in the answer text. Default False: the columns ``answer_a``/``answer_b``
        stay empty and only who answered when is shown. Pass True ONLY after checking
        that both partners consented to sharing free text with this reader.
    prompts, timezone, cutoff_hour
        As in :func:`reflection_summary`.

    Returns
    -------
    DataFrame
        One row per couple and prompt that at least one partner answered:
        ``couple_id``, ``prompt_id``, ``prompt``, ``partner_a``, ``partner_b`` (the two
        partner ids in sorted order, as ``schema.partner_labels`` labels them A and B),
        ``day_a``, ``day_b`` (diary day of each partner's latest answer, missing if
        none), ``answered_a``, ``answered_b`` (bool), ``answer_a``, ``answer_b``
        (text only with ``show_text=True``; otherwise missing).

    Notes
    -----
    A selection, no statistics: each partner's *latest* non-blank answer to the prompt.
    Partners are taken from all check-ins of the couple, so a partner who never answered
    still appears as ``partner_b``.

    Examples
    --------
    >>> import pandas as pd
    >>> from patterns import schema
    >>> ci = schema.coerce_dtypes(pd.DataFrame({"couple_id": "c1", "partner": ["a", "b"],
    ...     "ts": pd.to_datetime(["2026-01-05 20:00", "2026-01-06 20:00"], utc=True),
    ...     "prompt": ["What's one thing you miss about us?"] * 2,
    ...     "answer": ["Dancing.", "Long walks."]}), "checkins")
    >>> paired_answers(ci)[["prompt_id", "answered_a", "answered_b", "answer_a"]]
           prompt_id  answered_a  answered_b answer_a
    0  miss_about_us        True        True     <NA>
    >>> paired_answers(ci, show_text=True)[["answer_a", "answer_b"]]
       answer_a     answer_b
    0  Dancing.  Long walks.
    """
    func = "paired_answers"
    if not isinstance(show_text, bool):
        raise option_error("show_text", func, "True or False", show_text)
    schema.require_columns(checkins, ["answer"], func=func, table="checkins")
    r, bank = _reflections(checkins, prompts, timezone, cutoff_hour, func)
    ans = r.loc[r["answered"]].sort_values(
        ["couple_id", "prompt_id", "partner", "ts"], kind="stable"
    )
    latest = ans.groupby(["couple_id", "prompt_id", "partner"], observed=True).tail(1)
    ids = (
        pd.DataFrame(
            {
                "couple_id": checkins["couple_id"].astype(str),
                "partner": checkins["partner"].astype(str),
            }
        )
        .drop_duplicates()
        .sort_values(["couple_id", "partner"])
    )
    ids["slot"] = ids.groupby("couple_id").cumcount().map({0: "a", 1: "b"})
    ids = ids.dropna(subset=["slot"])
    pa = ids.pivot(index="couple_id", columns="slot", values="partner")
    latest = latest.merge(ids, on=["couple_id", "partner"], how="inner")
    wide = latest.pivot(
        index=["couple_id", "prompt_id"], columns="slot", values=["day", "answer", "prompt"]
    )
    out = pd.DataFrame(index=wide.index).reset_index()
    for slot in ("a", "b"):
        has = ("day", slot) in wide.columns
        out[f"day_{slot}"] = wide[("day", slot)].to_numpy() if has else pd.NaT
        out[f"answer_{slot}"] = wide[("answer", slot)].to_numpy() if has else pd.NA
    prompt_text = latest.groupby(["couple_id", "prompt_id"])["prompt"].first()
    out["prompt"] = prompt_text.reindex(
        pd.MultiIndex.from_frame(out[["couple_id", "prompt_id"]])
    ).to_numpy()
    bank_text = out["prompt_id"].map(dict(zip(bank["prompt_id"], bank["prompt"], strict=True)))
    out["prompt"] = bank_text.fillna(out["prompt"])
    out["partner_a"] = out["couple_id"].map(pa["a"]) if "a" in pa else pd.NA
    out["partner_b"] = out["couple_id"].map(pa["b"]) if "b" in pa else pd.NA
    out["day_a"] = pd.to_datetime(out["day_a"])
    out["day_b"] = pd.to_datetime(out["day_b"])
    out["answered_a"] = out["day_a"].notna()
    out["answered_b"] = out["day_b"].notna()
    for c in ("answer_a", "answer_b"):
        out[c] = out[c].astype(_STR) if show_text else pd.Series(pd.NA, index=out.index, dtype=_STR)
    for c in ("couple_id", "prompt_id", "prompt", "partner_a", "partner_b"):
        out[c] = out[c].astype(_STR)
    cols = [
        "couple_id",
        "prompt_id",
        "prompt",
        "partner_a",
        "partner_b",
        "day_a",
        "day_b",
        "answered_a",
        "answered_b",
        "answer_a",
        "answer_b",
    ]
    return out[cols].reset_index(drop=True)
