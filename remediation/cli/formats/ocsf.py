"""`--format ocsf`: a JSON array of OCSF Detection Findings (class 2004), one per table and
control, built and validated by py-ocsf-models (the `ocsf` extra), loaded only for this format."""

from __future__ import annotations

import contextlib
import json
from importlib import metadata
from typing import IO, Any

from remediation import findings
from remediation.cli.findings import of_report
from remediation.cli.report import Report

DISTRIBUTION = "sentinel-dynamodb-hardening"


def render(report: Report, stream: IO[str]) -> None:
    with contextlib.suppress(BrokenPipeError):
        json.dump(document(report), stream, indent=2)
        stream.write("\n")


def document(report: Report) -> list[dict[str, Any]]:
    return findings.ocsf_json(of_report(report), _version())


def _version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return ""


__all__ = ["document", "render"]
