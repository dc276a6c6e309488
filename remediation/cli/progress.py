"""The progress bar on stderr, and the line it leaves there when a run is cut short."""

from __future__ import annotations

from typing import IO

from remediation.cli.report import Report
from remediation.cli.words import of


def isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except ValueError:  # closed
        return False


class Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal and output is text."""

    def __init__(self, stream: IO[str], label: str, enabled: bool = True) -> None:
        self.stream = stream
        self.label = label
        self.enabled = enabled and isatty(stream)
        self.shown = False

    def __enter__(self) -> Progress:
        return self

    def update(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        filled = 30 * done // total
        bar = "#" * filled + "-" * (30 - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total}")
        self.stream.flush()
        self.shown = True

    def __exit__(self, *_: object) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


def final_line(report: Report) -> str | None:
    """What stderr says last about an interrupted run: the report's own counts, the same the
    Summary line and the JSON document give."""
    if not report.interrupted:
        return None
    if not any(t.attempted for t in report.tables):
        return "Interrupted before any change: nothing was changed."
    stopped = [report.label(t) for t in report.not_attempted if t.attempted]
    not_started = [report.label(t) for t in report.not_attempted if not t.attempted]
    return (
        f"Interrupted: {of(report.succeeded, report.total)} protected, "
        f"{report.failed} failed, {report.pending} pending"
        + (f"; stopped part-way: {', '.join(stopped)}" if stopped else "")
        + f"; not started: {', '.join(not_started) or 'none'}."
    )


__all__ = ["Progress", "final_line", "isatty"]
