"""`--format asff`: a JSON array of AWS Security Finding Format findings, one per table and
control, as Security Hub CSPM's BatchImportFindings takes them (`--security-hub` sends the same,
with the history Security Hub CSPM holds). The file has no history: each finding is a first
sighting."""

from __future__ import annotations

from typing import IO, Any

from remediation import findings
from remediation.cli.findings import of_report
from remediation.cli.formats.writer import write_json
from remediation.cli.report import Report


def render(report: Report, stream: IO[str]) -> None:
    write_json(document(report), stream)


def document(report: Report) -> list[dict[str, Any]]:
    """The findings Security Hub can take: a table whose account and region the run never
    learned (named, found nowhere) has no account to belong to, and stays in the text report."""
    return [findings.asff(f) for f in of_report(report) if f.importable]


__all__ = ["document", "render"]
