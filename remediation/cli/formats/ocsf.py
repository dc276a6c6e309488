"""`--format ocsf`: a JSON array of OCSF 1.5.0 Compliance Findings (class 2003), one per table and
control, built and validated by py-ocsf-models (the `ocsf` extra), loaded only for this format.
For a data lake or SIEM (a Security Lake custom source); the file has no history, so each finding
is a first sighting (activity Create)."""

from __future__ import annotations

from importlib import metadata
from typing import IO, Any

from remediation import findings_ocsf
from remediation.cli.findings import of_report
from remediation.cli.formats.writer import write_json
from remediation.cli.report import Report

DISTRIBUTION = "sentinel-dynamodb-hardening"


def render(report: Report, stream: IO[str]) -> None:
    write_json(document(report), stream)


def document(report: Report) -> list[dict[str, Any]]:
    return findings_ocsf.ocsf_json(of_report(report), _version())


def _version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return ""


__all__ = ["document", "render"]
