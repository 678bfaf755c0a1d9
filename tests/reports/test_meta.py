"""Report metadata agrees with the suites it describes."""

from __future__ import annotations

import pytest

from ebmbench.registries import SUITES
from ebmbench.reports.meta import DIRECTIONS, HEADLINES, headline


@pytest.mark.parametrize("suite", sorted(HEADLINES))
def test_builtin_headline_table_matches_each_suite(suite: str) -> None:
    cls = SUITES.get(suite)
    assert HEADLINES[suite] == cls.headline == headline(suite)
    assert DIRECTIONS.get(cls.headline) is not None


def test_every_registered_suite_has_a_headline() -> None:
    assert set(SUITES.names()) >= set(HEADLINES)
    assert all(headline(name) for name in SUITES.names())
