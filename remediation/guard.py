"""The runtime guard: a Lambda handler that re-protects a Sentinel table after a CloudTrail event.

EventBridge delivers "AWS API Call via CloudTrail" events from `aws.dynamodb`. The event is only a
trigger: one small lookup per event name turns it into (region, table) targets, like Cloud
Custodian's CloudTrail mode; each target is then read, judged by `core.plan` and hardened through
`aws.Hardener`, exactly as the CLI does. Nothing here decides what "protected" means.

Configuration comes from the environment (see README, "Runtime guard"):

    SENTINEL_PREFIX               table-name prefix (default sentinel-)
    SENTINEL_EXCLUDE              comma-separated fnmatch globs never touched (sentinel-scratch-*)
    SENTINEL_MIN_RECOVERY_DAYS    1 to 35: PITR must keep at least this many days
    SENTINEL_ALERT_TOPIC_ARN      SNS topic: one message per table changed or deleted
    SENTINEL_RATES                OPERATION=PER_SECOND,... client-side pacing (default: the CLI's)
    SENTINEL_RECHECK_QUEUE_URL    SQS queue feeding this function: a table not ready yet (CREATING,
                                  not visible yet) is re-checked later through it
    SENTINEL_GUARD_ROLE_ARN       the function's own role: events it caused are ignored (no loop)
    SENTINEL_SECURITY_HUB         true: each re-protection is also an ASFF finding in Security Hub
    SENTINEL_GUARDRAIL_BREAK_GLASS_ROLES, SENTINEL_GUARDRAIL_ALLOW_ROLES (comma-separated role
    ARNs), SENTINEL_GUARDRAIL_HARDENER_ROLE, SENTINEL_GUARDRAIL_MODE (strict or lenient): the
                                  table guardrail kept on PutResourcePolicy/DeleteResourcePolicy

EventBridge events and the re-check queue's messages (SQS records, batch size 1) both arrive here.

It imports no Pulumi: a cold start costs boto3 plus the core.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from remediation import aws, controls, core, findings
from remediation.controls import ALL, GUARDRAIL
from remediation.core import AwsError, Outcome, parse_arn
from remediation.guard_config import ConfigError, GuardConfig
from remediation.guard_events import (
    DELETION_BLOCKED_CODE,
    DELETION_BLOCKED_TEXT,
    DETAIL_TYPE,
    EVENT_NAMES,
    EVENT_SOURCE,
    LOOKUPS,
    NEW_TABLE_EVENTS,
    Malformed,
    Target,
    Trigger,
    event_id,
    named_table,
    parse,
    targets,
)
from remediation.guard_guardrail import POLICY_EVENTS, REMOVED_BY_ALLOWED, judge_policy
from remediation.guard_recheck import (
    NOT_FOUND_HORIZON_SECONDS,
    RECHECK_ACTION,
    RECHECK_HORIZON_SECONDS,
    Recheck,
    sqs_bodies,
)

IAM_ACTIONS = tuple(a for a in controls.iam_actions(ALL) if a != controls.DISCOVERY_ACTION)
"""The DynamoDB actions the handler calls: each control's read and write, never ListTables."""

RESERVE_SECONDS = 5.0
"""Kept back from the Lambda's remaining time for the read-back, the alert and the log line."""

CALL_SHARES = 10
"""The time left (less the reserve) is cut in this many shares: one attempt of any call fits in
one share, and a call retries fast failures until the time left is spent, never into the reserve
(`aws.ClientLimits.until`); a table takes at most six calls (two reads, two writes, the alert, the
re-check) and two bounded waits of one share each."""

INLINE_WAIT_SECONDS = 30.0
"""The longest a busy table (UPDATING, ResourceInUse) is waited for in the function; past it, the
table is re-checked later through the queue. A table CREATING is never waited for inline."""

BUSY_CODES = frozenset({"ResourceInUseException", "ContinuousBackupsUnavailableException"})
"""A write refused because the table is busy: worth another try later."""

GONE_CODES = frozenset({"ResourceNotFoundException", "TableNotFoundException"})


class LambdaContext(Protocol):
    """The part of Lambda's context object the guard uses."""

    def get_remaining_time_in_millis(self) -> int: ...


class GuardError(Exception):
    """A Sentinel table is left unprotected: Lambda retries, then the DLQ keeps the event."""


# -- the guard ----------------------------------------------------------------------------------


@dataclass
class Guard:
    """One configuration, with its clients and pacers kept for as long as the Lambda stays warm."""

    config: GuardConfig
    write: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    clock: Callable[[], float] = time.time
    """Wall-clock epoch seconds: a re-check's horizon spans invocations."""
    # Kept per region and limits: the limits take a few sizes only (`aws.TIMEOUT_HALVINGS`) and one
    # deadline, moved per invocation, so a warm guard keeps a bounded number of clients.
    _hardeners: dict[tuple[str, aws.ClientLimits], aws.Hardener] = field(default_factory=dict)
    _clients: dict[tuple[str, str | None, aws.ClientLimits], Any] = field(default_factory=dict)
    _hubs: dict[tuple[str, aws.ClientLimits], aws.SecurityHub] = field(default_factory=dict)
    _deadline: aws.Deadline = field(default_factory=aws.Deadline)

    def __post_init__(self) -> None:
        # The Lambda runtime's boto3 varies: one whose model cannot carry a period fails at start.
        if self.config.requirement.min_recovery_days is not None:
            try:
                aws.require_recovery_period_model("SENTINEL_MIN_RECOVERY_DAYS")
            except aws.SetupError as exc:
                self._log({"decision": "config_error", "reason": str(exc)}, None)
                raise ConfigError(str(exc)) from None

    def handle(self, event: object, context: LambdaContext) -> list[dict[str, Any]]:
        """Every decision this event leads to, each also written as one JSON log line."""
        # Fast failures are retried until the time left, less the reserve, is spent; each attempt
        # fits in one share of it.
        self._deadline.set_in(_budget(context))
        limits = aws.ClientLimits.until(self._deadline, _budget(context) / CALL_SHARES)
        bodies = sqs_bodies(event)
        if bodies is not None:
            return self._rechecks(bodies, context, limits)
        try:
            trigger = parse(event)
            found = targets(trigger)
        except Malformed as exc:
            return [self._log({"decision": "malformed", "reason": str(exc)}, event_id(event))]
        base = {"who": trigger.who, "event": trigger.event_name}
        if self.config.own_role_arn is not None and trigger.role == self.config.own_role_arn:
            # Whatever the rule matches, the guard's own writes never feed it back: no loop.
            own = {"region": trigger.region, "table": named_table(trigger)}
            ignored = {"decision": "ignored", "reason": "the guard's own call"}
            return [self._log(base | own | ignored, trigger.event_id)]
        if trigger.error_code is not None:
            return [self._log({**base, **_without_call(trigger)}, trigger.event_id)]
        if not found:
            nothing = "the call changed nothing the guard protects"
            return [self._log({**base, "decision": "ignored", "reason": nothing}, trigger.event_id)]
        if trigger.event_name in POLICY_EVENTS:
            return [self._policy_event(trigger, target, limits) for target in found]
        now = self.clock()
        looks = [
            Recheck(
                t,
                trigger.event_name,
                trigger.event_id,
                trigger.who,
                now,
                0,
                trigger.event_time,
                trigger.source,
            )
            for t in found
        ]
        return self._look_all(looks, context, limits)

    def _rechecks(
        self, bodies: list[object], context: LambdaContext, limits: aws.ClientLimits
    ) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        looks: list[Recheck] = []
        for body in bodies:
            try:
                looks.append(Recheck.from_body(body))
            except Malformed as exc:
                records.append(self._log({"decision": "malformed", "reason": str(exc)}, None))
        return records + self._look_all(looks, context, limits)

    def _look_all(
        self, looks: list[Recheck], context: LambdaContext, limits: aws.ClientLimits
    ) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        failed: list[str] = []
        for look in looks:
            logged = self._look(look, context, limits)
            records.append(logged)
            if logged["decision"] == "failed" and logged.get("retry"):
                failed.append(f"{look.target.table} ({look.target.region})")
        if failed:
            raise GuardError(f"left unprotected, to be retried: {', '.join(failed)}")
        return records

    def _look(
        self, look: Recheck, context: LambdaContext, limits: aws.ClientLimits
    ) -> dict[str, Any]:
        target = look.target
        record: dict[str, Any] = {
            "who": look.who,
            "event": look.event,
            "region": target.region,
            "table": target.table,
        }
        if look.attempt:
            record["attempt"] = look.attempt
        left_alone = self._left_alone(target)
        if left_alone is not None:
            return self._log(record | {"decision": "ignored", "reason": left_alone}, look.event_id)
        if look.event == "DeleteTable":
            # Nothing to protect any more, and the worst event of all: said, and alerted.
            logged = self._log(record | {"decision": "deleted"}, look.event_id)
            if self.config.alert_topic_arn:
                self._alert(logged, limits)
            return logged
        budget = _budget(context)
        if budget < 6 * limits.attempt():
            reason = "no time left in this invocation"
            verdict: dict[str, Any] = {"decision": "pending", "reason": reason, "found": None}
            verdict["changed"] = []
        else:
            verdict = self._guard(target, budget, limits)
        if verdict["decision"] == "pending":
            verdict = self._later(verdict, look, limits)
        if verdict.get("changed") and self.config.security_hub:
            verdict = verdict | {"security_hub": self._report(look, verdict, limits)}
        logged = self._log(record | verdict, look.event_id)
        if logged.get("changed") and self.config.alert_topic_arn:
            self._alert(logged, limits)
        return logged

    def _policy_event(
        self, trigger: Trigger, target: Target, limits: aws.ClientLimits
    ) -> dict[str, Any]:
        """A table's resource policy was put or deleted: is the guardrail still there?"""
        record: dict[str, Any] = {
            "who": trigger.who,
            "event": trigger.event_name,
            "region": target.region,
            "table": target.table,
        }
        left_alone = self._left_alone(target)
        if left_alone is not None:
            return self._log(
                record | {"decision": "ignored", "reason": left_alone}, trigger.event_id
            )
        # DynamoDB blocks the table's policy for 15 s after the update that fired this event.
        hardener = self._hardener(target.region, limits).bounded(INLINE_WAIT_SECONDS)
        verdict = judge_policy(hardener, self.config.guardrail, target.table, trigger)
        alerted = verdict.get("changed") or verdict["decision"] == REMOVED_BY_ALLOWED
        if alerted and self.config.security_hub:
            look = Recheck(
                target,
                trigger.event_name,
                trigger.event_id,
                trigger.who,
                self.clock(),
                0,
                trigger.event_time,
            )
            verdict = verdict | {"security_hub": self._report(look, verdict, limits)}
        logged = self._log(record | verdict, trigger.event_id)
        if alerted and self.config.alert_topic_arn:
            self._alert(logged, limits)
        return logged

    def _left_alone(self, target: Target) -> str | None:
        """Why the guard makes no call for this target, or None when it is the guard's."""
        if target.foreign:
            return "a table of another account"
        reason = self.config.selection.left_alone(target.table)
        return None if reason is None else reason.value

    def _guard(self, target: Target, budget: float, limits: aws.ClientLimits) -> dict[str, Any]:
        # Two inline waits at most per table (deletion protection, then PITR), each one share.
        wait = max(0.0, min(INLINE_WAIT_SECONDS, budget / CALL_SHARES))
        hardener = self._hardener(target.region, limits).bounded(wait)
        requirement = self.config.requirement
        state = hardener.read(target.table, requirement.controls)
        plan = core.plan([state], requirement)
        if plan.unreadable:
            error = state.error
            assert error is not None  # plan() puts only unreadable states there
            verdict: dict[str, Any] = {"found": None, "changed": [], "errors": [_error_json(error)]}
            if error.code not in GONE_CODES:
                return verdict | {"decision": "failed", "retry": True}
            if target.replica:
                reason = "the new replica is not there yet"
                return verdict | {"decision": "pending", "reason": reason}
            if target.new:
                reason = "not found yet: DescribeTable is eventually consistent"
                return verdict | {"decision": "pending", "reason": reason}
            return verdict | {"decision": "gone"}
        found = core.state_json(state)
        if not plan.changes:
            return {"decision": "protected", "found": found, "changed": []}
        if state.status == "CREATING":
            # A restore or import of a large table stays CREATING for hours: never waited for here.
            reason = "the table is still CREATING"
            return {"decision": "pending", "reason": reason, "found": found, "changed": []}
        outcome = hardener.apply(state, plan.changes[0])
        record: dict[str, Any] = {
            "decision": "hardened",
            "table_arn": state.arn,
            "found": found,
            "changed": [c.id for c in outcome.changed],
            "after": core.state_json(outcome.after),
        }
        if outcome.succeeded(requirement):
            return record
        record["errors"] = [_error_json(e) for e in outcome.errors.values()]
        # A table just made may also be missing from the write's view (eventual consistency).
        later = BUSY_CODES | GONE_CODES if target.new or target.replica else BUSY_CODES
        codes = {e.code for e in outcome.errors.values()}
        if codes and codes <= later:
            reason = "the table is busy" if codes <= BUSY_CODES else "not found by the write yet"
            return record | {"decision": "pending", "reason": reason}
        return record | {"decision": "failed", "retry": not (outcome.errors and _gone(outcome))}

    def _later(
        self, verdict: dict[str, Any], look: Recheck, limits: aws.ClientLimits
    ) -> dict[str, Any]:
        """Queue the next look at a table not ready yet, within its horizon."""
        errors = verdict.get("errors", [])
        missing = verdict["found"] is None and any(e["code"] in GONE_CODES for e in errors)
        short = missing and not look.target.replica
        horizon = NOT_FOUND_HORIZON_SECONDS if short else RECHECK_HORIZON_SECONDS
        age = max(0.0, self.clock() - look.since)
        if age >= horizon:
            past = f"{verdict['reason']}, {round(age)} s after the event (horizon {horizon} s)"
            if short:
                return verdict | {"decision": "gone", "reason": past}
            return verdict | {"decision": "failed", "reason": past, "retry": True}
        queue = self.config.recheck_queue_url
        if queue is None:  # no queue configured: Lambda's own retries are all there is
            return verdict | {"decision": "failed", "retry": True}
        later = look.next()
        try:
            aws.send_message(self._client("sqs", None, limits), queue, later.body(), later.delay())
        except aws.CallFailed as exc:
            failure = {"errors": [*errors, _error_json(exc.error)], "retry": True}
            return verdict | {"decision": "failed"} | failure
        return verdict | {"recheck": {"attempt": later.attempt, "in_seconds": later.delay()}}

    def warm_clients(self) -> int:
        """How many clients this guard keeps for its next invocations."""
        return len(self._hardeners) + len(self._clients) + len(self._hubs)

    def _hardener(self, region: str, limits: aws.ClientLimits) -> aws.Hardener:
        hardener = self._hardeners.get((region, limits))
        if hardener is None:
            rates = dict(self.config.rates)
            settings = aws.Settings(
                region=region,
                workers=1,
                rates=rates,
                limits=limits,
                guardrail=self.config.guardrail,
            )
            client, _ = aws.make_client(settings)
            hardener = self._hardeners[(region, limits)] = aws.Hardener(client, settings)
        return hardener

    def _client(self, service: str, region: str | None, limits: aws.ClientLimits) -> Any:
        key = (service, region, limits)
        client = self._clients.get(key)
        if client is None:
            if service == "sns":
                assert region is not None
                client = aws.make_sns_client(region, limits=limits)
            else:
                client = aws.make_sqs_client(limits)
            self._clients[key] = client
        return client

    def _report(self, look: Recheck, verdict: Mapping[str, Any], limits: aws.ClientLimits) -> str:
        """Import this re-protection into the region's Security Hub: who weakened the table and
        when, what was turned back on and when. Returns what became of it, for the log line; a
        Security Hub that is not enabled or refuses never fails the guard (the table is
        protected, and a retry would find nothing to re-protect)."""
        arn = verdict.get("table_arn")
        account = parsed.account if (parsed := parse_arn(arn)) else None
        if account is None:
            return "skipped: the table's ARN is not known"
        region = look.target.region
        hub = self._hubs.get((region, limits))
        if hub is None:
            hub = self._hubs[(region, limits)] = aws.make_security_hub(region, limits)
        weakened = _when(look.event_time) or datetime.fromtimestamp(look.since, UTC)
        reprotection = findings.Reprotection(
            account=account,
            region=region,
            table=look.target.table,
            arn=arn,
            who=look.who,
            event_name=look.event,
            event_id=look.event_id,
            weakened_at=weakened,
            reprotected_at=datetime.fromtimestamp(self.clock(), UTC),
            controls=_guarded(verdict),
            protected=verdict["decision"] == "hardened",
            source=look.source,
        )
        answer = hub.import_findings([findings.guard_asff(reprotection)])
        if answer.not_enabled:
            return "not_enabled"
        if answer.error is not None:
            return f"failed: {answer.error}"
        if answer.rejected:
            return f"refused: {answer.rejected[0].code}: {answer.rejected[0].message}"
        return "imported"

    def _alert(self, record: Mapping[str, Any], limits: aws.ClientLimits) -> None:
        topic = self.config.alert_topic_arn
        assert topic is not None
        if record["decision"] == "deleted":
            subject = f"Sentinel guard: {record['table']} was DELETED by {record.get('who')}"
        elif record["decision"] == REMOVED_BY_ALLOWED:
            subject = (
                f"Sentinel guard: the guardrail was removed from {record['table']} by "
                f"{record.get('who')} (an allowed principal)"
            )
        else:
            labels = {control.id: control.label for control in (*ALL, GUARDRAIL)}
            changed = ", ".join(labels.get(c, c) for c in record["changed"])
            subject = f"Sentinel guard re-protected {record['table']} ({changed})"
        try:
            parsed = parse_arn(topic)
            sns = self._client("sns", parsed.region if parsed else None, limits)
            aws.publish(sns, topic, subject, json.dumps(record, sort_keys=True))
        except aws.PublishFailed as exc:
            failure = {"decision": "alert_failed", "table": record["table"]}
            self._log(failure | _error_json(exc.error), record.get("event_id"))
            raise GuardError(f"the alert failed: {exc.error}") from None

    def _log(self, record: dict[str, Any], event_id: str | None) -> dict[str, Any]:
        line = {"guard": "sentinel-dynamodb", "event_id": event_id, **record}
        self.write(json.dumps(line, sort_keys=False))
        return line


def _budget(context: LambdaContext) -> float:
    """Seconds the handler may still spend, the reserve kept back."""
    return context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS


def _without_call(trigger: Trigger) -> dict[str, Any]:
    """The decision for a failed call: a refused DeleteTable, or a call that changed nothing."""
    table = named_table(trigger)
    message = trigger.error_message or ""
    record: dict[str, Any] = {"region": trigger.region, "table": table}
    if (
        trigger.event_name == "DeleteTable"
        and trigger.error_code == DELETION_BLOCKED_CODE
        and DELETION_BLOCKED_TEXT in message
    ):
        return record | {"decision": "deletion_blocked", "error_code": trigger.error_code}
    reason = f"the call failed ({trigger.error_code}): it changed nothing"
    return record | {"decision": "ignored", "reason": reason, "error_code": trigger.error_code}


def _when(text: str | None) -> datetime | None:
    """CloudTrail's eventTime ("2026-11-29T14:59:58Z"), or None when absent or unreadable."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _guarded(verdict: Mapping[str, Any]) -> tuple[controls.Control, ...]:
    """What the guard turned back on; the guardrail itself when it is what was removed."""
    if verdict["decision"] == REMOVED_BY_ALLOWED:
        return (GUARDRAIL,)
    return tuple(c for c in (*ALL, GUARDRAIL) if c.id in verdict["changed"])


def _gone(outcome: Outcome) -> bool:
    return all(e.code in GONE_CODES for e in outcome.errors.values())


def _error_json(error: AwsError) -> dict[str, str]:
    return {"action": error.action, "code": error.code, "message": error.message}


_guards: dict[tuple[GuardConfig, str | None], Guard] = {}
"""Warm-start cache: one Guard per configuration and endpoint, so clients and pacers live on."""


def handler(event: object, context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry point: `remediation.guard.handler`."""
    started = time.monotonic()
    config = GuardConfig.from_env(os.environ)
    key = (config, os.environ.get("AWS_ENDPOINT_URL"))
    guard = _guards.get(key)
    if guard is None:
        guard = _guards[key] = Guard(config)
    decisions = guard.handle(event, context)
    return {
        "decisions": [d["decision"] for d in decisions],
        "seconds": round(time.monotonic() - started, 3),
    }


__all__ = [
    "DELETION_BLOCKED_CODE",
    "DELETION_BLOCKED_TEXT",
    "DETAIL_TYPE",
    "EVENT_NAMES",
    "EVENT_SOURCE",
    "IAM_ACTIONS",
    "LOOKUPS",
    "NEW_TABLE_EVENTS",
    "NOT_FOUND_HORIZON_SECONDS",
    "RECHECK_ACTION",
    "RECHECK_HORIZON_SECONDS",
    "ConfigError",
    "Guard",
    "GuardConfig",
    "GuardError",
    "LambdaContext",
    "Malformed",
    "Recheck",
    "Target",
    "Trigger",
    "handler",
    "parse",
    "targets",
]
