"""The `--json` document: one object on stdout, with the same keys on every exit path."""

from __future__ import annotations

from typing import IO, Any

from remediation import core
from remediation.cli.formats.writer import write_json
from remediation.cli.harden_guardrail import Resolved
from remediation.cli.report import HubImport, HubRejection, Report, TableResult, TargetResult
from remediation.controls import DELETION_PROTECTION, GUARDRAIL, PITR
from remediation.core import AwsError


def render(report: Report, stream: IO[str]) -> None:
    write_json(document(report), stream)


def document(report: Report) -> dict[str, Any]:
    tables = [_table(report, t) for t in report.tables]
    tables += [_excluded(*key, guarded=_guarded(report)) for key in report.excluded]
    return {
        "tables": sorted(
            tables,
            key=lambda t: (t["account"] or "", t["region"] or "", str(t["table_name"])),
        ),
        **report.counts(),
        "region": report.region,
        "check": report.check,
        "dry_run": report.dry_run,
        "cancelled": report.cancelled,
        "interrupted": report.interrupted,
        "error": report.error,
        "targets": [_target(report, t) for t in report.targets],
        **({"security_hub": [_hub(h) for h in report.security_hub]} if report.security_hub else {}),
        **({"guardrail": _guardrail(report.guardrail)} if report.guardrail else {}),
    }


def _hub(hub: HubImport) -> dict[str, Any]:
    status = "not_enabled" if hub.not_enabled else "failed" if hub.failed else "imported"
    return {
        "account": hub.account,
        "region": hub.region,
        "status": status,
        "sent": hub.sent,
        "imported": hub.imported,
        "error": str(hub.error) if hub.error else None,
        "rejected": [_refusal(r) for r in hub.rejected],
        "resolved": hub.resolved,
        "resolve_error": str(hub.resolve_error) if hub.resolve_error else None,
        "unresolved": [_refusal(r) for r in hub.unresolved],
        "archived": hub.archived,
    }


def _refusal(r: HubRejection) -> dict[str, Any]:
    return {"table": r.table, "control": r.control, "code": r.code, "message": r.message}


def _target(report: Report, target: TargetResult) -> dict[str, Any]:
    account = target.account
    if account is None:  # today's one-target run does not ask who it is: its tables tell
        account = next((t.account for t in report.tables if t.account), None)
    return {
        "account": account,
        "region": target.region,
        "status": target.status,
        "error": target.reason or None,
    }


def _table(report: Report, table: TableResult) -> dict[str, Any]:
    state = table.before
    errors = [_error(key, err) for key, err in table.errors]
    read_errors = [
        _error(c.id, state.reading(c).error)
        for c in report.requirement.controls
        if state.reading(c).error is not None
    ]
    entry: dict[str, Any] = {
        "table_name": table.name,
        "table_arn": table.arn,
        "account": table.account,
        "region": table.region,
        "replica_of": table.replica_of,
        "replica_regions": list(state.replica_regions),
        "deletion_protection_changed": DELETION_PROTECTION in table.changed,
        "pitr_changed": PITR in table.changed,
        **({"guardrail_changed": GUARDRAIL in table.changed} if _guarded(report) else {}),
        "result": table.result,
        "planned": [c.id for c in table.planned.enable] if table.planned and not table.held else [],
        "before": core.state_json(table.before, report.requirement),
        "after": core.state_json(table.after, report.requirement),
    }
    if table.managed_by is not None:
        entry["managed_by"] = {"stack": table.managed_by.stack, "urn": table.managed_by.urn}
    if table.not_attempted:
        entry["not_attempted"] = [c.id for c in table.not_attempted]
    if read_errors:
        entry["read_errors"] = read_errors
    if errors:
        entry["error"] = errors[0]
        entry["errors"] = errors
    return entry


def _guardrail(resolved: Resolved) -> dict[str, Any]:
    asked = resolved.guardrail
    return {
        "mode": asked.mode.value,
        "allowed_roles": list(asked.principals.arns()),
        "hardener_role_arn": resolved.hardener_role_arn,
        "hardener_role_source": resolved.hardener_role_source,
        "confirm_remove_self_access": asked.confirm_remove_self_access,
    }


def _guarded(report: Report) -> bool:
    """Under --guardrail only: other runs keep the document's shape."""
    return GUARDRAIL in report.requirement.controls


def _excluded(
    account: str | None, region: str | None, name: str, *, guarded: bool
) -> dict[str, Any]:
    """An excluded table: never read, so nothing about it is known."""
    return {
        "table_name": name,
        "table_arn": None,
        "account": account,
        "region": region,
        "replica_of": None,
        "replica_regions": [],
        "deletion_protection_changed": False,
        "pitr_changed": False,
        **({"guardrail_changed": False} if guarded else {}),
        "result": "excluded",
        "planned": [],
        "before": None,
        "after": None,
    }


def _error(control_id: str, error: AwsError | None) -> dict[str, Any]:
    assert error is not None
    return {
        "control": None if control_id == "table" else control_id,
        "action": error.action,
        "code": error.code,
        "message": error.message,
    }


__all__ = ["document", "render"]
