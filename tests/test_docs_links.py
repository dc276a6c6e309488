"""Every relative link in README.md and docs/*.md leads to a file, its #fragment to a heading."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(```|~~~)")
_INLINE_CODE = re.compile(r"`[^`]*`")
_LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _prose(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor: lowercase, punctuation but hyphens and spaces dropped, spaces to -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor GitHub makes for the page's headings (a repeated slug gets -1, -2, ...)."""
    seen: Counter[str] = Counter()
    found = set()
    for line in _prose(page.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match[2])
        found.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
        seen[base] += 1
    return found


def links(page: Path) -> list[str]:
    """The relative link targets of a page's prose (code spans and fenced blocks are not links)."""
    targets = []
    for line in _prose(page.read_text(encoding="utf-8")):
        for match in _LINK.finditer(_INLINE_CODE.sub("", line)):
            target = match[1]
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                continue  # https:, mailto: ...: not ours to check
            targets.append(target)
    return targets


def broken(page: Path) -> list[str]:
    """What is wrong with each of the page's relative links; empty when every one resolves."""
    problems = []
    for target in links(page):
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            problems.append(f"{page.name}: {target}: no such file")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            problems.append(f"{page.name}: {target}: no heading #{fragment} in {dest.name}")
        elif fragment and dest.suffix != ".md":
            problems.append(f"{page.name}: {target}: a #fragment into a file that has no headings")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_relative_link_resolves_to_a_file_and_a_heading(page: Path) -> None:
    assert links(page), f"{page.name} links to nothing: the pages must link to each other"
    assert broken(page) == []


def test_a_broken_link_or_heading_is_caught(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## The `--json` flag: what it does\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Here\n\n"
        "[ok](other.md#the---json-flag-what-it-does) [ok](#here) [ok](other.md)\n"
        "[no file](missing.md) [no heading](other.md#nowhere) [no heading here](#there)\n"
        "`[in code](missing.md)`\n\n```\n[in a fence](missing.md)\n```\n"
    )
    assert [p.split(": ")[1] for p in broken(page)] == [
        "missing.md",
        "other.md#nowhere",
        "#there",
    ]


def test_the_slug_follows_githubs_rules() -> None:
    assert slug("1. The policy pack: `pulumi preview` and `pulumi up`") == (
        "1-the-policy-pack-pulumi-preview-and-pulumi-up"
    )
    assert slug("What `TableGuard` deploys") == "what-tableguard-deploys"
    assert slug("tests/analyzer_engine.py stays") == "testsanalyzer_enginepy-stays"
    assert slug("The runtime guard's findings") == "the-runtime-guards-findings"
