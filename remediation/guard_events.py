"""What a CloudTrail event means to the runtime guard: one small lookup per event name turns it
into the (region, table) targets it may have left unprotected, like Cloud Custodian's CloudTrail
mode; and the EventBridge pattern that matches exactly those events. No boto3, no Pulumi.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from remediation import core

EVENT_SOURCE = "aws.dynamodb"
DETAIL_TYPE = "AWS API Call via CloudTrail"

NEW_TABLE_EVENTS = frozenset(
    {"CreateTable", "RestoreTableToPointInTime", "RestoreTableFromBackup", "ImportTable"}
)
"""Calls after which DescribeTable may not find the table yet (eventual consistency)."""

DELETION_BLOCKED_CODE = "ValidationException"
DELETION_BLOCKED_TEXT = "protected against deletion"
"""How DynamoDB refuses DeleteTable on a protected table: ValidationException, "Resource cannot be
deleted as it is currently protected against deletion. Disable deletion protection first." """


class Malformed(ValueError):
    """The event is not a CloudTrail API call the guard can read; logged and dropped."""


# -- event -> targets: one small lookup per event name -----------------------------------------


@dataclass(frozen=True)
class Target:
    """A table the call may have left unprotected, in the region where it lives."""

    region: str
    table: str
    replica: bool = False
    """A replica the call created in another region: it may not be visible there yet."""
    foreign: bool = False
    """Named by an ARN of another account: never this guard's to touch."""
    new: bool = False
    """Just made by the call (create, restore, import): DescribeTable may not see it yet."""


@dataclass(frozen=True)
class Trigger:
    """What the guard takes from one event; everything else in it is ignored."""

    event_name: str
    event_id: str | None
    who: str | None
    role: str | None
    """The role whose session made the call (`sessionContext.sessionIssuer.arn`), if any."""
    region: str
    account: str | None
    error_code: str | None
    error_message: str | None
    request: Mapping[str, Any]
    event_time: str | None = None
    """When the call was made (CloudTrail's eventTime): when the table was weakened."""
    source: str | None = None
    """CloudTrail's sourceIPAddress: the caller's address, or an AWS service's name."""


Lookup = Callable[[Trigger], list[tuple[str | None, str, bool]]]
"""(region or None for the event's, table name or ARN, is a new replica) per table to guard."""


def _table_name(key: str) -> Lookup:
    def lookup(trigger: Trigger) -> list[tuple[str | None, str, bool]]:
        return [(None, required_str(trigger.request, key), False)]

    return lookup


def _update_table(trigger: Trigger) -> list[tuple[str | None, str, bool]]:
    name = required_str(trigger.request, "tableName")
    found: list[tuple[str | None, str, bool]] = []
    if trigger.request.get("deletionProtectionEnabled") is False:
        found.append((None, name, False))
    updates = trigger.request.get("replicaUpdates") or []
    if not isinstance(updates, list):
        raise Malformed("requestParameters.replicaUpdates is not a list")
    for update in updates:
        create = update.get("create") if isinstance(update, dict) else None
        if isinstance(create, dict):
            found.append((required_str(create, "regionName"), name, True))
    return found


def _import_table(trigger: Trigger) -> list[tuple[str | None, str, bool]]:
    params = trigger.request.get("tableCreationParameters")
    if not isinstance(params, dict):
        raise Malformed("requestParameters.tableCreationParameters is missing")
    return [(None, required_str(params, "tableName"), False)]


def _policy_resource(trigger: Trigger) -> list[tuple[str | None, str, bool]]:
    """A resource-policy call names its table by ARN; a stream's policy is not the guardrail."""
    arn = required_str(trigger.request, "resourceArn")
    return [] if "/stream/" in arn else [(None, arn, False)]


LOOKUPS: Mapping[str, Lookup] = {
    "CreateTable": _table_name("tableName"),
    "UpdateTable": _update_table,
    "UpdateContinuousBackups": _table_name("tableName"),
    "RestoreTableToPointInTime": _table_name("targetTableName"),
    "RestoreTableFromBackup": _table_name("targetTableName"),
    "ImportTable": _import_table,
    "PutResourcePolicy": _policy_resource,
    "DeleteResourcePolicy": _policy_resource,
}
"""Event name -> the tables it concerns. DeleteTable is only reported: `deleted` or
`deletion_blocked`."""
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
        event_id=optional_str(detail.get("eventID")),
        who=optional_str(who),
        role=_session_issuer(identity),
        region=region,
        account=optional_str(account),
        error_code=optional_str(detail.get("errorCode")),
        error_message=optional_str(detail.get("errorMessage")),
        request=request if isinstance(request, dict) else {},
        event_time=optional_str(detail.get("eventTime") or event.get("time")),
        source=optional_str(detail.get("sourceIPAddress")),
    )


def targets(trigger: Trigger) -> list[Target]:
    """The (region, table) pairs to guard; raises Malformed when a name is missing or invalid.

    A table named by ARN is guarded in the ARN's region; another account's ARN is marked foreign.
    A DeleteTable names the table deleted (or refused).
    """
    lookup = _table_name("tableName") if trigger.event_name == "DeleteTable" else None
    lookup = lookup or LOOKUPS.get(trigger.event_name)
    if lookup is None:
        return []
    new = trigger.event_name in NEW_TABLE_EVENTS
    found: list[Target] = []
    for region, text, replica in lookup(trigger):
        try:
            ref = core.parse_table_ref(text)
        except core.InvalidTableRef as exc:
            raise Malformed(str(exc)) from None
        foreign = (
            ref.account is not None and bool(trigger.account) and ref.account != trigger.account
        )
        target = Target(region or ref.region or trigger.region, ref.name, replica, foreign, new)
        if target not in found:
            found.append(target)
    return found


def required_str(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise Malformed(f"requestParameters.{key} is missing")
    return value


def optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _session_issuer(identity: object) -> str | None:
    context = identity.get("sessionContext") if isinstance(identity, dict) else None
    issuer = context.get("sessionIssuer") if isinstance(context, dict) else None
    return optional_str(issuer.get("arn")) if isinstance(issuer, dict) else None


def named_table(trigger: Trigger) -> str | None:
    for key in ("tableName", "targetTableName", "resourceArn"):
        value = trigger.request.get(key)
        if isinstance(value, str):
            return value
    return None


def event_id(event: object) -> str | None:
    detail = event.get("detail") if isinstance(event, dict) else None
    return optional_str(detail.get("eventID")) if isinstance(detail, dict) else None


# -- the EventBridge pattern: exactly the events above -----------------------------------------

RESOURCE_POLICY_EVENTS = frozenset({"PutResourcePolicy", "DeleteResourcePolicy"})
"""Calls that may take the guardrail (a table resource policy) off a table; the table is named by
ARN in requestParameters.resourceArn. Matched by the pattern; `LOOKUPS` maps them to their table and
`guard_guardrail` judges them."""

DEFAULT_PATTERN_QUOTA = 2048
"""EventBridge's default "Event pattern size" quota, in characters (Service Quotas, EventBridge,
"Event pattern size"; an account may raise it to 4,096)."""

_WEAKENED_BY_NAME = (
    "CreateTable",
    "RestoreTableToPointInTime",
    "RestoreTableFromBackup",
    "ImportTable",
    "DeleteTable",
    *sorted(RESOURCE_POLICY_EVENTS),
)
"""Matched whatever they ask, when they succeed: their own lookup decides what is left to do."""


def event_pattern(prefix: str, min_recovery_days: int | None = None) -> dict[str, Any]:
    """Exactly the CloudTrail events that may leave a `prefix` table unprotected, deletions refused
    or not, and the guardrail's resource-policy calls; a call that failed is matched only when it
    is a DeleteTable refused by protection. The guard's own calls are left out by the handler, not
    here: `anything-but` on the session issuer would also drop every caller without one (an IAM
    user, root).

    The table's name is judged once for every event (EventBridge ANDs the two `$or`s), so the
    pattern grows by four copies of the prefix, not one per event: see `pattern_json`."""
    arn = {"wildcard": f"arn:aws*:dynamodb:*:*:table/{prefix}*"}
    named = [{"prefix": prefix}, arn]
    pitr_off: dict[str, Any] = {"pointInTimeRecoveryEnabled": [False]}
    if min_recovery_days is not None:
        shorter = {"recoveryPeriodInDays": [{"numeric": ["<", min_recovery_days]}]}
        pitr_off = {"$or": [pitr_off, shorter]}
    weakening = [
        {"eventName": list(_WEAKENED_BY_NAME)},
        {
            "eventName": ["UpdateTable"],
            "requestParameters": {
                "$or": [
                    {"deletionProtectionEnabled": [False]},
                    {"replicaUpdates": {"create": {"regionName": [{"exists": True}]}}},
                ]
            },
        },
        {
            "eventName": ["UpdateContinuousBackups"],
            "requestParameters": {"pointInTimeRecoverySpecification": pitr_off},
        },
    ]
    refused_delete = {
        "eventName": ["DeleteTable"],
        "errorCode": [DELETION_BLOCKED_CODE],
        "errorMessage": [{"wildcard": f"*{DELETION_BLOCKED_TEXT}*"}],
    }
    return {
        "source": [EVENT_SOURCE],
        "detail-type": [DETAIL_TYPE],
        "detail": {
            "eventSource": ["dynamodb.amazonaws.com"],
            "requestParameters": {
                "$or": [
                    {"tableName": named},
                    {"targetTableName": named},
                    {"tableCreationParameters": {"tableName": named}},
                    {"resourceArn": [arn]},
                ]
            },
            "$or": [{"errorCode": [{"exists": False}], "$or": weakening}, refused_delete],
        },
    }


def pattern_json(prefix: str, min_recovery_days: int | None = None) -> str:
    """The pattern exactly as TableGuard submits it: JSON without whitespace, whose length is what
    EventBridge's "Event pattern size" quota counts."""
    return json.dumps(event_pattern(prefix, min_recovery_days), separators=(",", ":"))


def pattern_over_quota(prefix: str, min_recovery_days: int | None, quota: int) -> str | None:
    """One line saying why the pattern cannot be submitted under `quota`, or None when it fits."""
    size = len(pattern_json(prefix, min_recovery_days))
    if size <= quota:
        return None
    return (
        f"the guard's EventBridge pattern for prefix {prefix!r} is {size} characters, over the "
        f"account's event pattern size quota of {quota} (runtimeGuardEventPatternQuota): raise it "
        f'in Service Quotas (Amazon EventBridge, "Event pattern size", up to 4096) and declare the '
        f"new value, or use a shorter prefix"
    )


__all__ = [
    "DEFAULT_PATTERN_QUOTA",
    "DELETION_BLOCKED_CODE",
    "DELETION_BLOCKED_TEXT",
    "DETAIL_TYPE",
    "EVENT_NAMES",
    "EVENT_SOURCE",
    "LOOKUPS",
    "NEW_TABLE_EVENTS",
    "RESOURCE_POLICY_EVENTS",
    "Lookup",
    "Malformed",
    "Target",
    "Trigger",
    "event_id",
    "event_pattern",
    "named_table",
    "optional_str",
    "parse",
    "pattern_json",
    "pattern_over_quota",
    "required_str",
    "targets",
]
