"""`--format junit`: JUnit XML for CI dashboards, valid against the xUnit plugin's junit-10.xsd; one
testcase per table and control, and a failure for each control that does not hold or could not be
enabled."""

from __future__ import annotations

import contextlib
from typing import IO

from remediation import findings_junit
from remediation.cli.findings import of_report
from remediation.cli.report import Report


def render(report: Report, stream: IO[str]) -> None:
    with contextlib.suppress(BrokenPipeError):
        stream.write(findings_junit.junit_xml(of_report(report), run_errors(report)))


def run_errors(report: Report) -> list[str]:
    """What kept the run from checking tables: its setup error, each account-region that
    failed, an interruption."""
    errors = [f"{t.account or '-'} {t.region}: {t.reason}" for t in report.failed_targets]
    if report.error is not None:
        errors.insert(0, report.error)
    if report.interrupted:
        errors.append("interrupted: tables not attempted are reported as they were read")
    return errors


__all__ = ["render"]
