"""`--format asff`: a JSON array of AWS Security Finding Format findings, one per table and
control, as Security Hub's BatchImportFindings takes them (`--security-hub` sends the same)."""

from __future__ import annotations

import contextlib
import json
from typing import IO, Any

from remediation import findings
from remediation.cli.findings import of_report
from remediation.cli.report import Report


def render(report: Report, stream: IO[str]) -> None:
    with contextlib.suppress(BrokenPipeError):
        json.dump(document(report), stream, indent=2)
        stream.write("\n")


def document(report: Report) -> list[dict[str, Any]]:
    """The findings Security Hub can take: a table whose account and region the run never
    learned (named, found nowhere) has no account to belong to, and stays in the text report."""
    return [findings.asff(f) for f in of_report(report) if f.importable]


__all__ = ["document", "render"]
