"""The report's findings: one per selected table and required control, for every findings format
and for the Security Hub import. Excluded tables were never read, so they have none."""

from __future__ import annotations

from datetime import UTC, datetime

from remediation import findings
from remediation.cli.report import Report, TableResult


def of_report(report: Report) -> list[findings.Finding]:
    """Every table's verdict on every control the run required, in the report's table order."""
    return [verdict for _, verdict in by_table(report)]


def by_table(report: Report) -> list[tuple[TableResult, findings.Finding]]:
    """Each finding with the table it is about."""
    at = report.at or datetime.now(UTC)
    account = _known_account(report)
    result: list[tuple[TableResult, findings.Finding]] = []
    for table in report.tables:
        errors = table.error_map
        for control in report.requirement.controls:
            verdict = findings.finding(
                account=table.account or account.get(table.region),
                region=table.region,
                before=table.before,
                after=table.after,
                control=control,
                changed=control in table.changed,
                error=errors.get(control.id) or errors.get("table"),
                observed_at=at,
                requirement=report.requirement,
            )
            result.append((table, verdict))
    return result


def _known_account(report: Report) -> dict[str | None, str]:
    """Today's one-target run does not ask who it is: a table's ARN tells, for its region."""
    known: dict[str | None, str] = {}
    for table in report.tables:
        if table.account:
            known.setdefault(table.region, table.account)
    return known


__all__ = ["by_table", "of_report"]
