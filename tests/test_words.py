"""Counts read as English wherever the CLI says how many (Summary, headings, the Ctrl-C line)."""

from __future__ import annotations

import pytest

from remediation.cli.words import count, of


@pytest.mark.parametrize(
    ("n", "noun", "said"),
    [(0, "table", "0 tables"), (1, "table", "1 table"), (3, "region", "3 regions")],
)
def test_count_says_one_in_the_singular_and_others_in_the_plural(
    n: int, noun: str, said: str
) -> None:
    assert count(n, noun) == said


@pytest.mark.parametrize(
    ("k", "n", "said"),
    [(0, 1, "0 of 1 table"), (1, 1, "1 table"), (3, 3, "all 3 tables"), (2, 30, "2 of 30 tables")],
)
def test_of_says_all_when_every_one_and_never_1_tables(k: int, n: int, said: str) -> None:
    assert of(k, n) == said
