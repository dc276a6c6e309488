"""The guard and the guardrail: a PutResourcePolicy or DeleteResourcePolicy on a guarded table that
leaves it without the guardrail is alerted, and put back when the remover was not an allowed
principal (in practice the account root, which DynamoDB always lets delete a table's policy).

The event only names the table; the table is then read (`Hardener.read` with the guardrail),
judged (`guardrail.holds`, through the read) and, when needed, the guardrail merged back and put by
`Hardener.apply`, as `harden --guardrail` does. No event field is trusted for the policy itself.
"""

from __future__ import annotations

from typing import Any

from remediation import aws, guardrail
from remediation.controls import GUARDRAIL
from remediation.core import AwsError, Change
from remediation.guard_events import RESOURCE_POLICY_EVENTS, Trigger

POLICY_EVENTS = RESOURCE_POLICY_EVENTS

REMOVED_BY_ALLOWED = "guardrail_removed"
"""The decision for a guardrail removed by an allowed principal: alerted, never put back (that is
break-glass at work, or a deployer's own change)."""


def judge_policy(
    hardener: aws.Hardener,
    asked: guardrail.TableGuardrail | None,
    table: str,
    trigger: Trigger,
) -> dict[str, Any]:
    """Read the table's policy, and put the guardrail back when someone not allowed removed it."""
    if asked is None:
        return {"decision": "ignored", "reason": "no guardrail is configured for this guard"}
    state = hardener.read(table, (GUARDRAIL,))
    if state.error is not None:
        gone = state.error.code in ("ResourceNotFoundException", "TableNotFoundException")
        verdict = {"found": None, "changed": [], "errors": [_error(state.error)]}
        return verdict | ({"decision": "gone"} if gone else {"decision": "failed", "retry": True})
    reading = state.guardrail
    found = {"guardrail": reading.enabled}
    if reading.error is not None:
        errors = [_error(reading.error)]
        return {
            "decision": "failed",
            "found": found,
            "changed": [],
            "errors": errors,
            "retry": True,
        }
    if reading.enabled:
        return {"decision": "protected", "found": found, "changed": []}
    remover = trigger.role or trigger.who
    if remover is not None and guardrail.allows(asked.principals, remover):
        reason = f"removed by an allowed principal ({remover}): alerted, not put back"
        return {"decision": REMOVED_BY_ALLOWED, "reason": reason, "found": found, "changed": []}
    outcome = hardener.apply(state, Change(table, (GUARDRAIL,)))
    record: dict[str, Any] = {
        "decision": "hardened",
        "table_arn": state.arn,
        "found": found,
        "changed": [c.id for c in outcome.changed],
        "after": {"guardrail": outcome.after.guardrail.enabled},
    }
    if outcome.errors or outcome.after.guardrail.enabled is not True:
        errors = [_error(e) for e in outcome.errors.values()]
        return record | {"decision": "failed", "errors": errors, "retry": True}
    return record


def _error(error: AwsError) -> dict[str, str]:
    return {"action": error.action, "code": error.code, "message": error.message}
