"""One contract test over every public analysis (STYLE §6): on a loaded export, each result
is tidy (RangeIndex, snake_case identifier columns, no free text), the export's tables are
not mutated, and a second call returns an equal frame."""

from __future__ import annotations

import pandas as pd
import pytest

from _analyses import NOT_ANALYSES, _analysis_calls
from patterns.testing import assert_tidy


@pytest.fixture(scope="module")
def sample_export(sample_path):
    from patterns.io import load_export

    return load_export(sample_path)


def test_every_public_name_is_classified() -> None:
    import patterns

    missing = set(patterns._LAZY) - set(_analysis_calls()) - NOT_ANALYSES
    assert not missing, f"add these public names to tests/_analyses.py: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(_analysis_calls()))
def test_public_analysis_contract(sample_export, name: str) -> None:
    call = _analysis_calls()[name]
    events, checkins = sample_export.events.copy(), sample_export.checkins.copy()
    first = call(sample_export)
    assert_tidy(first)
    assert len(first.columns) > 0, f"{name} returned a frame without columns"
    pd.testing.assert_frame_equal(sample_export.events, events, obj=f"{name}: events")
    pd.testing.assert_frame_equal(sample_export.checkins, checkins, obj=f"{name}: checkins")
    second = call(sample_export)
    pd.testing.assert_frame_equal(first, second, obj=f"{name}: second call")


def test_public_function_not_shadowed_by_its_submodule() -> None:
    """Importing the submodule ``patterns.indicators`` must not replace the public function
    ``patterns.indicators`` (the import system binds submodules on their package)."""
    import importlib

    import patterns

    importlib.import_module("patterns.indicators")
    from patterns.indicators import indicators as from_module

    assert callable(patterns.indicators)
    assert patterns.indicators is from_module
