"""The report's formats: a name, and the module that renders it.

Each format is one module with `render(report, stream)`, imported only when asked, so that a
format's dependencies load only for the runs that want it. Adding a format is one module here
and one line in `FORMATS`. A format that shows the plan before the prompt (text) also has
`render_plan(report, stream)`, called once the plan is known, and `render_outcome(report,
stream)` for the rest at the end; any other is rendered once, at the end.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from remediation.cli.report import Report

Renderer = Callable[["Report", IO[str]], None]
"""Writes one report on one stream; reads the report and nothing else."""

FORMATS: dict[str, str] = {
    "text": "remediation.cli.formats.text",
    "json": "remediation.cli.formats.json",
}
"""Format name -> the module that renders it."""

DEFAULT = "text"


class Format:
    """One format, loaded: how to render the whole report, and, for a format that streams,
    the plan before the prompt and the rest after."""

    def __init__(self, name: str) -> None:
        module = importlib.import_module(FORMATS[name])
        self.name = name
        self.render: Renderer = module.render
        self.render_plan: Renderer | None = getattr(module, "render_plan", None)
        self.render_outcome: Renderer | None = getattr(module, "render_outcome", None)

    @property
    def streams(self) -> bool:
        return self.render_plan is not None and self.render_outcome is not None


def load(name: str) -> Format:
    """The format registered as `name`; KeyError when there is none."""
    return Format(name)


__all__ = ["DEFAULT", "FORMATS", "Format", "Renderer", "load"]
