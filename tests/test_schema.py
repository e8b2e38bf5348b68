"""Tests for patterns.schema that concern the committed sample: the data dictionary in
``data/sample/README.md`` is exactly the text the schema generates."""

from __future__ import annotations

from pathlib import Path

from patterns import schema
from patterns.simulate import DICTIONARY_END, DICTIONARY_START

README = Path(__file__).resolve().parents[1] / "data" / "sample" / "README.md"


def readme_section(text: str) -> str:
    lines = text.splitlines(keepends=True)
    start = lines.index(DICTIONARY_START + "\n")
    end = next(i for i, line in enumerate(lines) if line.startswith(DICTIONARY_END))
    return "".join(lines[start + 1 : end])


def test_sample_readme_data_dictionary_is_generated_text():
    text = README.read_text(encoding="utf-8")
    assert text.count(DICTIONARY_START) == 1 and text.count(DICTIONARY_END) == 1
    assert readme_section(text) == schema.data_dictionary_markdown(), (
        "data/sample/README.md is out of date: run `make sample` (or "
        "patterns.simulate.update_data_dictionary('data/sample/README.md'))"
    )


def test_dictionary_lists_every_contract_column():
    text = schema.data_dictionary_markdown()
    for table in ("events", "checkins"):
        for col in schema.columns_of(table):
            assert f"| `{col.name}` |" in text
    for codes in schema.FAMILIES.values():
        for code in codes:
            assert f"`{code}`" in text
