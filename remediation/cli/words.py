"""Counts that read as English, for every place the CLI says how many."""

from __future__ import annotations

__all__ = ["count", "of"]


def count(n: int, noun: str = "table") -> str:
    """`1 table`, `3 tables`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def of(k: int, n: int, noun: str = "table") -> str:
    """`all 3 tables`, `2 of 3 tables`, `1 table`, `0 of 1 table`."""
    if k == n:
        return count(n, noun) if n == 1 else f"all {n} {noun}s"
    return f"{k} of {count(n, noun)}"
