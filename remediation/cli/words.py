"""Counts that read as English, for every place the CLI says how many."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["count", "of", "one_or_many", "place"]


def count(n: int, noun: str = "table") -> str:
    """`1 table`, `3 tables`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def of(k: int, n: int, noun: str = "table") -> str:
    """`all 3 tables`, `2 of 3 tables`, `1 table`, `0 of 1 table`."""
    if k == n:
        return count(n, noun) if n == 1 else f"all {n} {noun}s"
    return f"{k} of {count(n, noun)}"


def one_or_many(noun: str, values: Iterable[str]) -> str:
    """The one value, said once (`account 123456789012`), or how many (`3 accounts`)."""
    distinct = sorted(set(values))
    return f"{noun} {distinct[0]}" if len(distinct) == 1 else count(len(distinct), noun)


def place(accounts: Iterable[str | None], regions: Iterable[str | None]) -> str:
    """Where a run acts, so a wrong profile is seen before anything changes: `account
    123456789012, region us-east-1`, or `3 accounts, 17 regions`; what is not known is left out."""
    known = [
        (noun, [v for v in values if v])
        for noun, values in (("account", accounts), ("region", regions))
    ]
    return ", ".join(one_or_many(noun, values) for noun, values in known if values)
