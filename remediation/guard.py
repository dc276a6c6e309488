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

EventBridge events and the re-check queue's messages (SQS records, batch size 1) both arrive here.

It imports no Pulumi: a cold start costs boto3 plus the core.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from remediation import aws, controls, core, findings
from remediation.controls import ALL
from remediation.core import AwsError, Outcome, Requirement, Selection

EVENT_SOURCE = "aws.dynamodb"
DETAIL_TYPE = "AWS API Call via CloudTrail"

IAM_ACTIONS = tuple(a for a in controls.iam_actions(ALL) if a != controls.DISCOVERY_ACTION)
"""The DynamoDB actions the handler calls: each control's read and write, never ListTables."""

RESERVE_SECONDS = 5.0
"""Kept back from the Lambda's remaining time for the read-back, the alert and the log line."""

CALL_SHARES = 10
"""The time left (less the reserve) is cut in this many shares: one call of any client, with all
its retries and timeouts, fits in one share (`aws.ClientLimits.within`); a table takes at most six
calls (two reads, two writes, the alert, the re-check) and two bounded waits, plus one share of
overrun for each wait's last poll."""

INLINE_WAIT_SECONDS = 30.0
"""The longest a busy table (UPDATING, ResourceInUse) is waited for in the function; past it, the
table is re-checked later through the queue. A table CREATING is never waited for inline."""

RECHECK_HORIZON_SECONDS = 24 * 3600
"""How long a table not ready is re-checked: restores and imports of large tables take hours."""

NOT_FOUND_HORIZON_SECONDS = 15 * 60
"""How long a table a CreateTable, Restore* or ImportTable just made may be missing from
DescribeTable (eventually consistent) before it counts as gone; a new replica gets the full
horizon, since it appears in its region only as its creation goes on."""

RECHECK_FIRST_DELAY = 5
SQS_MAX_DELAY = 900
"""SQS's maximum DelaySeconds: re-checks start 5 s apart and double up to 15 minutes."""

NEW_TABLE_EVENTS = frozenset(
    {"CreateTable", "RestoreTableToPointInTime", "RestoreTableFromBackup", "ImportTable"}
)
"""Calls after which DescribeTable may not find the table yet (eventual consistency)."""

BUSY_CODES = frozenset({"ResourceInUseException", "ContinuousBackupsUnavailableException"})
"""A write refused because the table is busy: worth another try later."""

RECHECK_ACTION = "sqs:SendMessage"
"""The one non-DynamoDB action the handler calls besides sns:Publish (only with alerts)."""

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
    recheck_queue_url: str | None = None
    own_role_arn: str | None = None
    security_hub: bool = False
    """Import each re-protection into the region's Security Hub as an ASFF finding."""

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
        queue = env.get("SENTINEL_RECHECK_QUEUE_URL", "").strip() or None
        if queue is not None and not queue.startswith(("https://", "http://")):
            raise ConfigError(f"SENTINEL_RECHECK_QUEUE_URL is not a queue URL: {queue!r}")
        role = env.get("SENTINEL_GUARD_ROLE_ARN", "").strip() or None
        if role is not None and not role.startswith("arn:"):
            raise ConfigError(f"SENTINEL_GUARD_ROLE_ARN is not an ARN: {role!r}")
        hub = env.get("SENTINEL_SECURITY_HUB", "").strip().lower()
        if hub not in ("", "true", "false"):
            raise ConfigError(f"SENTINEL_SECURITY_HUB is true or false, got {hub!r}")
        return cls(
            Selection(prefix, exclude),
            requirement,
            topic,
            tuple(sorted(rates.items())),
            queue,
            role,
            security_hub=hub == "true",
        )


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
        event_id=_optional_str(detail.get("eventID")),
        who=_optional_str(who),
        role=_session_issuer(identity),
        region=region,
        account=_optional_str(account),
        error_code=_optional_str(detail.get("errorCode")),
        error_message=_optional_str(detail.get("errorMessage")),
        request=request if isinstance(request, dict) else {},
        event_time=_optional_str(detail.get("eventTime") or event.get("time")),
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


def _required_str(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise Malformed(f"requestParameters.{key} is missing")
    return value


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _session_issuer(identity: object) -> str | None:
    context = identity.get("sessionContext") if isinstance(identity, dict) else None
    issuer = context.get("sessionIssuer") if isinstance(context, dict) else None
    return _optional_str(issuer.get("arn")) if isinstance(issuer, dict) else None


# -- re-checks: a table not ready yet comes back through the SQS delay queue --------------------


@dataclass(frozen=True)
class Recheck:
    """One look at a table, from an event or from a re-check message; what the message carries."""

    target: Target
    event: str
    event_id: str | None
    who: str | None
    since: float
    """Epoch seconds of the first look: the horizons count from it."""
    attempt: int = 0
    """Re-checks made before this one."""
    event_time: str | None = None
    """The event's own time (CloudTrail's eventTime), carried for the Security Hub finding."""

    def next(self) -> Recheck:
        return replace(self, attempt=self.attempt + 1)

    def delay(self) -> int:
        """Seconds before this re-check: 5, 10, 20, ... up to SQS's 900 (the first look: 0)."""
        if self.attempt == 0:
            return 0
        return int(min(SQS_MAX_DELAY, RECHECK_FIRST_DELAY * 2 ** min(self.attempt - 1, 10)))

    def body(self) -> str:
        target = {
            "region": self.target.region,
            "table": self.target.table,
            "replica": self.target.replica,
            "new": self.target.new,
        }
        fields = {
            "event": self.event,
            "event_id": self.event_id,
            "who": self.who,
            "since": self.since,
            "attempt": self.attempt,
            "event_time": self.event_time,
        }
        return json.dumps({"guard": "sentinel-dynamodb", "recheck": target | fields})

    @classmethod
    def from_body(cls, text: object) -> Recheck:
        """The re-check in an SQS message body; raises Malformed."""
        try:
            document = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            document = None
        found = document.get("recheck") if isinstance(document, dict) else None
        if not isinstance(found, dict):
            raise Malformed("the SQS message is not a guard re-check")
        since, attempt = found.get("since"), found.get("attempt")
        if not isinstance(since, int | float) or not isinstance(attempt, int) or attempt < 0:
            raise Malformed("the re-check has no valid since or attempt")
        try:
            ref = core.parse_table_ref(_required_str(found, "table"))
        except core.InvalidTableRef as exc:
            raise Malformed(str(exc)) from None
        target = Target(
            _required_str(found, "region"),
            ref.name,
            replica=found.get("replica") is True,
            new=found.get("new") is True,
        )
        return cls(
            target,
            _required_str(found, "event"),
            _optional_str(found.get("event_id")),
            _optional_str(found.get("who")),
            float(since),
            attempt,
            _optional_str(found.get("event_time")),
        )


def _sqs_bodies(event: object) -> list[object] | None:
    """The bodies of an SQS event's records, or None when the event is not from SQS."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        return None
    if not all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records):
        return None
    return [r.get("body") for r in records]


# -- the guard ----------------------------------------------------------------------------------


@dataclass
class Guard:
    """One configuration, with its clients and pacers kept for as long as the Lambda stays warm."""

    config: GuardConfig
    write: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    clock: Callable[[], float] = time.time
    """Wall-clock epoch seconds: a re-check's horizon spans invocations."""
    _hardeners: dict[tuple[str, aws.ClientLimits], aws.Hardener] = field(default_factory=dict)
    _clients: dict[tuple[str, str | None, aws.ClientLimits], Any] = field(default_factory=dict)
    _hubs: dict[tuple[str, aws.ClientLimits], aws.SecurityHub] = field(default_factory=dict)

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
        # Every call of every client, retries and timeouts included, fits in one share of the time
        # left; clients are kept per limits, which stay the same from one invocation to the next.
        limits = aws.ClientLimits.within(_budget(context) / CALL_SHARES)
        bodies = _sqs_bodies(event)
        if bodies is not None:
            return self._rechecks(bodies, context, limits)
        try:
            trigger = parse(event)
            found = targets(trigger)
        except Malformed as exc:
            return [self._log({"decision": "malformed", "reason": str(exc)}, _event_id(event))]
        base = {"who": trigger.who, "event": trigger.event_name}
        if self.config.own_role_arn is not None and trigger.role == self.config.own_role_arn:
            # Whatever the rule matches, the guard's own writes never feed it back: no loop.
            own = {"region": trigger.region, "table": _named_table(trigger)}
            ignored = {"decision": "ignored", "reason": "the guard's own call"}
            return [self._log(base | own | ignored, trigger.event_id)]
        if trigger.error_code is not None:
            return [self._log({**base, **_without_call(trigger)}, trigger.event_id)]
        if not found:
            nothing = "the call changed nothing the guard protects"
            return [self._log({**base, "decision": "ignored", "reason": nothing}, trigger.event_id)]
        now = self.clock()
        looks = [
            Recheck(
                t, trigger.event_name, trigger.event_id, trigger.who, now, 0, trigger.event_time
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
        if budget < 6 * limits.worst_case():
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

    def _left_alone(self, target: Target) -> str | None:
        """Why the guard makes no call for this target, or None when it is the guard's."""
        if target.foreign:
            return "a table of another account"
        if not target.table.startswith(self.config.selection.prefix):
            return "outside the prefix"
        if self.config.selection.excludes(target.table):
            return "excluded"
        return None

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

    def _hardener(self, region: str, limits: aws.ClientLimits) -> aws.Hardener:
        hardener = self._hardeners.get((region, limits))
        if hardener is None:
            rates = dict(self.config.rates)
            settings = aws.Settings(region=region, workers=1, rates=rates, limits=limits)
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
        account = arn.split(":")[4] if isinstance(arn, str) and arn.count(":") >= 5 else None
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
            controls=tuple(c for c in ALL if c.id in verdict["changed"]),
            protected=verdict["decision"] == "hardened",
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
        else:
            labels = {control.id: control.label for control in ALL}
            changed = ", ".join(labels.get(c, c) for c in record["changed"])
            subject = f"Sentinel guard re-protected {record['table']} ({changed})"
        try:
            sns = self._client("sns", topic.split(":")[3], limits)
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
    table = _named_table(trigger)
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


def _named_table(trigger: Trigger) -> str | None:
    for key in ("tableName", "targetTableName"):
        value = trigger.request.get(key)
        if isinstance(value, str):
            return value
    return None


def _when(text: str | None) -> datetime | None:
    """CloudTrail's eventTime ("2026-11-29T14:59:58Z"), or None when absent or unreadable."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
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
