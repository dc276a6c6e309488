"""The runtime guard: a Lambda handler that re-protects a Sentinel table after a CloudTrail event.

EventBridge delivers "AWS API Call via CloudTrail" events from `aws.dynamodb`. The event is only a
trigger: one small lookup per event name turns it into (region, table) targets, like Cloud
Custodian's CloudTrail mode; each target is then read, judged by `core.plan` and hardened through
`aws.Hardener`, exactly as the CLI does. Nothing here decides what "protected" means.

Configuration comes from the environment (see README, "Runtime guard"):

    SENTINEL_PREFIX               table-name prefix (default sentinel-)
    SENTINEL_EXCLUDE              comma-separated fnmatch globs never touched (sentinel-scratch-*)
    SENTINEL_MIN_RECOVERY_DAYS    1 to 35: PITR must keep at least this many days
    SENTINEL_ALERT_TOPIC_ARN      SNS topic: one message per table changed
    SENTINEL_RATES                OPERATION=PER_SECOND,... client-side pacing (default: the CLI's)

It imports no Pulumi: a cold start costs boto3 plus the core.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from remediation import aws, controls, core
from remediation.controls import ALL
from remediation.core import AwsError, Outcome, Requirement, Selection

EVENT_SOURCE = "aws.dynamodb"
DETAIL_TYPE = "AWS API Call via CloudTrail"

IAM_ACTIONS = tuple(a for a in controls.iam_actions(ALL) if a != controls.DISCOVERY_ACTION)
"""The DynamoDB actions the handler calls: each control's read and write, never ListTables."""

RESERVE_SECONDS = 5.0
"""Kept back from the Lambda's remaining time for the read-back, the alert and the log line."""

DELETION_BLOCKED_CODE = "ValidationException"
DELETION_BLOCKED_TEXT = "protected against deletion"
"""How DynamoDB refuses DeleteTable on a protected table: ValidationException, "Resource cannot be
deleted as it is currently protected against deletion. Disable deletion protection first." """

GONE_CODES = frozenset({"ResourceNotFoundException", "TableNotFoundException"})


class LambdaContext(Protocol):
    """The part of Lambda's context object the guard uses."""

    def get_remaining_time_in_millis(self) -> int: ...


class ConfigError(ValueError):
    """The environment does not configure a usable guard: every event fails until it is fixed."""


class GuardError(Exception):
    """A Sentinel table is left unprotected: Lambda retries, then the DLQ keeps the event."""


class Malformed(ValueError):
    """The event is not a CloudTrail API call the guard can read; logged and dropped."""


# -- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GuardConfig:
    selection: Selection = field(default_factory=Selection)
    requirement: Requirement = field(default_factory=Requirement)
    alert_topic_arn: str | None = None
    rates: tuple[tuple[str, float], ...] = tuple(aws.DEFAULT_RATES.items())

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GuardConfig:
        prefix = env.get("SENTINEL_PREFIX", core.DEFAULT_PREFIX)
        if not prefix:
            raise ConfigError("SENTINEL_PREFIX must not be empty: never guard all tables")
        exclude = tuple(p.strip() for p in env.get("SENTINEL_EXCLUDE", "").split(",") if p.strip())
        days_text = env.get("SENTINEL_MIN_RECOVERY_DAYS", "").strip()
        try:
            days = int(days_text) if days_text else None
            requirement = Requirement(ALL, days)
        except ValueError as exc:
            raise ConfigError(f"SENTINEL_MIN_RECOVERY_DAYS: {exc}") from None
        topic = env.get("SENTINEL_ALERT_TOPIC_ARN", "").strip() or None
        if topic is not None and not topic.startswith("arn:"):
            raise ConfigError(f"SENTINEL_ALERT_TOPIC_ARN is not an ARN: {topic!r}")
        rates = dict(aws.DEFAULT_RATES)
        rates.update(_parse_rates(env.get("SENTINEL_RATES", "")))
        return cls(Selection(prefix, exclude), requirement, topic, tuple(sorted(rates.items())))


def _parse_rates(text: str) -> dict[str, float]:
    rates: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        operation, _, number = item.partition("=")
        try:
            rate = float(number)
        except ValueError:
            rate = 0.0
        if not operation or not rate > 0:
            raise ConfigError(f"SENTINEL_RATES takes OPERATION=PER_SECOND,..., got {item!r}")
        rates[operation.strip()] = rate
    return rates


# -- event -> targets: one small lookup per event name ----------------------------------------


@dataclass(frozen=True)
class Target:
    """A table the call may have left unprotected, in the region where it lives."""

    region: str
    table: str
    replica: bool = False
    """A replica the call created in another region: it may not be visible there yet."""
    foreign: bool = False
    """Named by an ARN of another account: never this guard's to touch."""


@dataclass(frozen=True)
class Trigger:
    """What the guard takes from one event; everything else in it is ignored."""

    event_name: str
    event_id: str | None
    who: str | None
    region: str
    account: str | None
    error_code: str | None
    error_message: str | None
    request: Mapping[str, Any]


Lookup = Callable[[Trigger], list[tuple[str | None, str, bool]]]
"""(region or None for the event's, table name or ARN, is a new replica) per table to guard."""


def _table_name(key: str) -> Lookup:
    def lookup(trigger: Trigger) -> list[tuple[str | None, str, bool]]:
        return [(None, _required_str(trigger.request, key), False)]

    return lookup


def _update_table(trigger: Trigger) -> list[tuple[str | None, str, bool]]:
    name = _required_str(trigger.request, "tableName")
    found: list[tuple[str | None, str, bool]] = []
    if trigger.request.get("deletionProtectionEnabled") is False:
        found.append((None, name, False))
    updates = trigger.request.get("replicaUpdates") or []
    if not isinstance(updates, list):
        raise Malformed("requestParameters.replicaUpdates is not a list")
    for update in updates:
        create = update.get("create") if isinstance(update, dict) else None
        if isinstance(create, dict):
            found.append((_required_str(create, "regionName"), name, True))
    return found


def _import_table(trigger: Trigger) -> list[tuple[str | None, str, bool]]:
    params = trigger.request.get("tableCreationParameters")
    if not isinstance(params, dict):
        raise Malformed("requestParameters.tableCreationParameters is missing")
    return [(None, _required_str(params, "tableName"), False)]


LOOKUPS: Mapping[str, Lookup] = {
    "CreateTable": _table_name("tableName"),
    "UpdateTable": _update_table,
    "UpdateContinuousBackups": _table_name("tableName"),
    "RestoreTableToPointInTime": _table_name("targetTableName"),
    "RestoreTableFromBackup": _table_name("targetTableName"),
    "ImportTable": _import_table,
}
"""Event name -> the tables it concerns. DeleteTable is read for its error only (never acted on)."""
EVENT_NAMES = (*LOOKUPS, "DeleteTable")


def parse(event: object) -> Trigger:
    """The trigger in an EventBridge CloudTrail event; raises Malformed."""
    if not isinstance(event, dict):
        raise Malformed("the event is not a JSON object")
    if event.get("source") != EVENT_SOURCE or event.get("detail-type") != DETAIL_TYPE:
        raise Malformed(f"not a {DETAIL_TYPE} event from {EVENT_SOURCE}")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise Malformed("the event has no detail object")
    name = detail.get("eventName")
    if not isinstance(name, str) or not name:
        raise Malformed("detail.eventName is missing")
    region = detail.get("awsRegion") or event.get("region")
    if not isinstance(region, str) or not region:
        raise Malformed("neither detail.awsRegion nor region names a region")
    request = detail.get("requestParameters")
    identity = detail.get("userIdentity")
    who = identity.get("arn") or identity.get("invokedBy") if isinstance(identity, dict) else None
    account = detail.get("recipientAccountId") or event.get("account")
    return Trigger(
        event_name=name,
        event_id=_optional_str(detail.get("eventID")),
        who=_optional_str(who),
        region=region,
        account=_optional_str(account),
        error_code=_optional_str(detail.get("errorCode")),
        error_message=_optional_str(detail.get("errorMessage")),
        request=request if isinstance(request, dict) else {},
    )


def targets(trigger: Trigger) -> list[Target]:
    """The (region, table) pairs to guard; raises Malformed when a name is missing or invalid.

    A table named by ARN is guarded in the ARN's region; another account's ARN is marked foreign.
    """
    lookup = LOOKUPS.get(trigger.event_name)
    if lookup is None:
        return []
    found: list[Target] = []
    for region, text, replica in lookup(trigger):
        try:
            ref = core.parse_table_ref(text)
        except core.InvalidTableRef as exc:
            raise Malformed(str(exc)) from None
        foreign = (
            ref.account is not None and bool(trigger.account) and ref.account != trigger.account
        )
        target = Target(region or ref.region or trigger.region, ref.name, replica, foreign)
        if target not in found:
            found.append(target)
    return found


def _required_str(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise Malformed(f"requestParameters.{key} is missing")
    return value


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# -- the guard ----------------------------------------------------------------------------------


@dataclass
class Guard:
    """One configuration, with its clients and pacers kept for as long as the Lambda stays warm."""

    config: GuardConfig
    write: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    _hardeners: dict[str, aws.Hardener] = field(default_factory=dict)
    _sns: Any = None

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
        try:
            trigger = parse(event)
            found = targets(trigger)
        except Malformed as exc:
            return [self._log({"decision": "malformed", "reason": str(exc)}, _event_id(event))]
        base = {"who": trigger.who, "event": trigger.event_name}
        if trigger.event_name == "DeleteTable" or trigger.error_code is not None:
            return [self._log({**base, **_without_call(trigger)}, trigger.event_id)]
        if not found:
            nothing = "the call changed nothing the guard protects"
            return [self._log({**base, "decision": "ignored", "reason": nothing}, trigger.event_id)]
        records: list[dict[str, Any]] = []
        failed: list[str] = []
        for target in found:
            record = {**base, "region": target.region, "table": target.table}
            left_alone = self._left_alone(target)
            if left_alone is not None:
                ignored = {"decision": "ignored", "reason": left_alone}
                records.append(self._log(record | ignored, trigger.event_id))
                continue
            logged = self._log(record | self._guard(target, context), trigger.event_id)
            records.append(logged)
            if logged["decision"] == "failed" and logged.get("retry"):
                failed.append(f"{target.table} ({target.region})")
            if logged.get("changed") and self.config.alert_topic_arn:
                self._alert(logged)
        if failed:
            raise GuardError(f"left unprotected, to be retried: {', '.join(failed)}")
        return records

    def _left_alone(self, target: Target) -> str | None:
        """Why the guard makes no call for this target, or None when it is the guard's."""
        if target.foreign:
            return "a table of another account"
        if not target.table.startswith(self.config.selection.prefix):
            return "outside the prefix"
        if self.config.selection.excludes(target.table):
            return "excluded"
        return None

    def _guard(self, target: Target, context: LambdaContext) -> dict[str, Any]:
        # Two waits at most per table (deletion protection, then PITR): each gets half the budget.
        budget = context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS
        hardener = self._hardener(target.region).bounded(max(0.0, budget / 2))
        requirement = self.config.requirement
        state = hardener.read(target.table, requirement.controls)
        plan = core.plan([state], requirement)
        if plan.unreadable:
            error = state.error
            assert error is not None  # plan() puts only unreadable states there
            gone = error.code in GONE_CODES and not target.replica
            return {
                "decision": "gone" if gone else "failed",
                "found": None,
                "changed": [],
                "errors": [_error_json(error)],
                "retry": not gone,
            }
        if not plan.changes:
            return {"decision": "protected", "found": core.state_json(state), "changed": []}
        outcome = hardener.apply(state, plan.changes[0])
        record: dict[str, Any] = {
            "decision": "hardened" if outcome.succeeded(requirement) else "failed",
            "found": core.state_json(state),
            "changed": [c.id for c in outcome.changed],
            "after": core.state_json(outcome.after),
        }
        if record["decision"] == "failed":
            record["errors"] = [_error_json(e) for e in outcome.errors.values()]
            record["retry"] = not (outcome.errors and _gone(outcome))
        return record

    def _hardener(self, region: str) -> aws.Hardener:
        hardener = self._hardeners.get(region)
        if hardener is None:
            settings = aws.Settings(region=region, workers=1, rates=dict(self.config.rates))
            client, _ = aws.make_client(settings)
            hardener = self._hardeners[region] = aws.Hardener(client, settings)
        return hardener

    def _alert(self, record: Mapping[str, Any]) -> None:
        topic = self.config.alert_topic_arn
        assert topic is not None
        if self._sns is None:
            self._sns = aws.make_sns_client(topic.split(":")[3])
        changed = ", ".join(record["changed"])
        subject = f"Sentinel guard re-protected {record['table']} ({changed})"
        try:
            aws.publish(self._sns, topic, subject[:100], json.dumps(record, sort_keys=True))
        except aws.PublishFailed as exc:
            failure = {"decision": "alert_failed", "table": record["table"]}
            self._log(failure | _error_json(exc.error), record.get("event_id"))
            raise GuardError(f"the table is protected but the alert failed: {exc.error}") from None

    def _log(self, record: dict[str, Any], event_id: str | None) -> dict[str, Any]:
        line = {"guard": "sentinel-dynamodb", "event_id": event_id, **record}
        self.write(json.dumps(line, sort_keys=False))
        return line


def _without_call(trigger: Trigger) -> dict[str, Any]:
    """The decision for an event that calls nothing: a failed call, or a DeleteTable attempt."""
    table = _named_table(trigger)
    message = trigger.error_message or ""
    record: dict[str, Any] = {"region": trigger.region, "table": table}
    if (
        trigger.event_name == "DeleteTable"
        and trigger.error_code == DELETION_BLOCKED_CODE
        and DELETION_BLOCKED_TEXT in message
    ):
        return record | {"decision": "deletion_blocked", "error_code": trigger.error_code}
    if trigger.error_code is not None:
        reason = f"the call failed ({trigger.error_code}): it changed nothing"
        return record | {"decision": "ignored", "reason": reason, "error_code": trigger.error_code}
    return record | {"decision": "ignored", "reason": "a DeleteTable that was not refused"}


def _named_table(trigger: Trigger) -> str | None:
    for key in ("tableName", "targetTableName"):
        value = trigger.request.get(key)
        if isinstance(value, str):
            return value
    return None


def _gone(outcome: Outcome) -> bool:
    return all(e.code in GONE_CODES for e in outcome.errors.values())


def _error_json(error: AwsError) -> dict[str, str]:
    return {"action": error.action, "code": error.code, "message": error.message}


def _event_id(event: object) -> str | None:
    detail = event.get("detail") if isinstance(event, dict) else None
    return _optional_str(detail.get("eventID")) if isinstance(detail, dict) else None


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
    "DETAIL_TYPE",
    "EVENT_NAMES",
    "EVENT_SOURCE",
    "IAM_ACTIONS",
    "LOOKUPS",
    "ConfigError",
    "Guard",
    "GuardConfig",
    "GuardError",
    "LambdaContext",
    "Malformed",
    "Target",
    "Trigger",
    "handler",
    "parse",
    "targets",
]
