"""The Hardener: discover, read state, apply (its answer is the read-back).

One Hardener per account and region, its client shared by the worker threads of
`remediation.fleet`'s bounded pool; every call goes through `Hardener._call` (the door in
`errors`), paced to that account-region's quotas. Nothing here decides what a table needs: that is
`core.plan`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from remediation import guardrail
from remediation.aws.errors import CallFailed, Cancelled, _Door, _interrupted
from remediation.aws.pacing import _backoff
from remediation.aws.session import AccountCredentials, Settings, SetupError
from remediation.controls import DELETION_PROTECTION, GUARDRAIL, PITR, Control
from remediation.core import (
    AwsError,
    Change,
    Outcome,
    PeriodWrite,
    Reading,
    Replica,
    Selection,
    TableState,
    changed_controls,
    parse_arn,
    period_write,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

PAGE_SIZE = 100
"""ListTables' maximum page; there is no server-side name filter."""

_TRANSIENT = frozenset({"CREATING", "UPDATING"})
"""Table states that end by themselves: worth waiting for before a write."""

NO_POLICY = "NO_POLICY"
"""PutResourcePolicy's ExpectedRevisionId for "only if the table has no policy yet"."""

POLICY_BUSY = "ResourceInUseException"
"""DynamoDB blocks updates to a table's policy for 15 seconds after each successful one ("Resource-
based policy considerations"); PutResourcePolicy's model lists ResourceInUseException, "you tried
to update a resource that was already being updated", for that answer."""

ProgressCallback = Callable[[int, int], None]
"""Called as (done, total) after each table finishes a phase."""


class Hardener:
    """Discovers, reads and hardens tables through one shared client and a bounded pool.

    One Hardener per account and region: its pacers are that account-region's quotas. A fleet
    shares one `cancel` event among all of them.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        settings: Settings | None = None,
        cancel: threading.Event | None = None,
        credentials: AccountCredentials | None = None,
    ) -> None:
        settings = settings or Settings()
        self._client = client
        self._settings = settings
        self._cancel = cancel if cancel is not None else threading.Event()
        self._credentials = credentials
        self._door = _Door(client, "dynamodb", settings.rates, self._cancel, credentials)
        self._policies: dict[str, tuple[str | None, str]] = {}
        """Each table's policy and RevisionId as read, by ARN: the write merges into it."""

    @property
    def region(self) -> str:
        region: str = self._client.meta.region_name
        return region

    def bounded(self, wait_timeout: float) -> Hardener:
        """The same client and pacers with another bound on waits: a caller that lives on, like a
        warm Lambda, keeps its pacing across calls while each call gets its own time budget."""
        twin = Hardener(
            self._client,
            replace(self._settings, wait_timeout=wait_timeout),
            self._cancel,
            self._credentials,
        )
        twin._door = self._door
        return twin

    # -- the one door to AWS -------------------------------------------------------------------

    def cancel(self) -> None:
        """Start no new call from now on; calls in flight finish."""
        self._cancel.set()

    def _sleep(self, seconds: float) -> None:
        self._door.sleep(seconds)

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        return self._door.call(operation, **params)

    # -- discover ------------------------------------------------------------------------------

    def discover(self, selection: Selection, excluded: list[str] | None = None) -> Iterator[str]:
        """Names `selection` selects, yielded as each ListTables page arrives; the names it
        excludes go to `excluded` instead, and nothing else is ever asked about them."""
        seen: set[str] = set()
        for page in self._pages():
            selected, left_out = selection.partition(page)
            for name in left_out:
                if name not in seen and excluded is not None:
                    excluded.append(name)
                seen.add(name)
            for name in selected:
                if name not in seen:
                    seen.add(name)
                    yield name

    def _pages(self) -> Iterator[list[str]]:
        start: str | None = None
        while True:
            try:
                names, start = self.page(start)
            except CallFailed as exc:
                raise discovery_error(exc.error) from None
            yield names
            if not start:
                return

    def page(self, start: str | None = None) -> tuple[list[str], str | None]:
        """One ListTables page after `start`: (names, the start of the next page or None).
        Raises CallFailed."""
        params: dict[str, Any] = {"Limit": PAGE_SIZE}
        if start:
            params["ExclusiveStartTableName"] = start
        page = self._call("ListTables", **params)
        return list(page.get("TableNames", [])), page.get("LastEvaluatedTableName") or None

    # -- read ----------------------------------------------------------------------------------

    def read(self, name: str, controls: Sequence[Control]) -> TableState:
        """One table's state: DescribeTable, and DescribeContinuousBackups when PITR is asked."""
        try:
            table = self._call("DescribeTable", TableName=name)["Table"]
        except CallFailed as exc:
            return TableState(name=name, error=exc.error)
        state = TableState(
            name=name,
            arn=table.get("TableArn"),
            status=table.get("TableStatus"),
            deletion_protection=Reading(bool(table.get("DeletionProtectionEnabled", False))),
            replicas=_replicas(table, self.region, _arn_account(table.get("TableArn"))),
        )
        if PITR in controls:
            state = replace(state, **self._read_pitr(name))
        if GUARDRAIL in controls:
            state = replace(state, guardrail=self._read_guardrail(state.arn))
        return state

    def _read_pitr(self, name: str) -> dict[str, Any]:
        """The one reader of DescribeContinuousBackups: PITR and its period, or unknown (with
        the error that says why) when the call fails or its answer carries no description."""
        try:
            response = self._call("DescribeContinuousBackups", TableName=name)
        except CallFailed as exc:
            return {"pitr": Reading(None, exc.error), "pitr_recovery_days": None}
        return _pitr_fields(response, PITR.read_action)

    # -- act -----------------------------------------------------------------------------------

    def apply(self, before: TableState, change: Change) -> Outcome:
        """Turn on what `change` asks, each protection attempted whatever befell the other.

        The server's answer to each write is its read-back: UpdateTable answers with the
        TableDescription, UpdateContinuousBackups with the ContinuousBackupsDescription, as they
        stand after the write. What is reported is that answer, never what was sent, and no
        Describe follows a write (DescribeContinuousBackups' 10/s is the run's scarce quota).
        """
        errors: dict[str, AwsError] = {}
        after = before
        basis = before  # what was found just before the writes: a period write reads again
        for control in change.enable:
            try:
                if control is DELETION_PROTECTION:
                    table = self._enable_deletion_protection(before)
                    enabled = bool(table.get("DeletionProtectionEnabled", False))
                    after = replace(after, deletion_protection=Reading(enabled))
                    after = replace(after, status=table.get("TableStatus", after.status))
                elif control is PITR:
                    written, fresh = self._enable_pitr(before.name, change.recovery_days)
                    after = replace(after, **written)
                    if fresh is not None:
                        basis = replace(basis, **fresh)
                elif control is GUARDRAIL:
                    after = replace(after, guardrail=self._put_guardrail(before))
            except CallFailed as exc:
                errors[control.id] = exc.error
                continue
            except Cancelled:
                errors[control.id] = _interrupted(control.write_action, "not attempted")
                continue
            error = _not_reached(control, after, change)
            if error is not None:
                errors[control.id] = error
        return Outcome(before, after, changed_controls(basis, after), errors)

    def _enable_deletion_protection(self, before: TableState) -> Mapping[str, Any]:
        """UpdateTable; returns the TableDescription it answers with."""
        deadline = time.monotonic() + self._settings.wait_timeout
        if before.status in _TRANSIENT:
            self._wait_active(before.name, deadline)
        attempt = 0
        while True:
            try:
                answer = self._call(
                    "UpdateTable", TableName=before.name, DeletionProtectionEnabled=True
                )
                description: Mapping[str, Any] = answer.get("TableDescription", {})
                return description
            except CallFailed as exc:
                if exc.error.code != "ResourceInUseException" or time.monotonic() > deadline:
                    raise
                self._sleep(_backoff(attempt))
                if self._wait_active(before.name, deadline) not in ("ACTIVE", *_TRANSIENT):
                    raise  # ARCHIVED, DELETING, ...: retrying will not help
                attempt += 1

    def _enable_pitr(
        self, name: str, recovery_days: int | None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """UpdateContinuousBackups; returns PITR as its answer tells it, and as read just before
        it when the write was to carry a period (else None).

        A period is never sent blind: the table's period is read again just before each attempt,
        and the write is skipped when someone raised it meanwhile, so it is never lowered.
        """
        deadline = time.monotonic() + self._settings.wait_timeout
        attempt = 0
        while True:
            spec: dict[str, Any] = {"PointInTimeRecoveryEnabled": True}
            fresh: dict[str, Any] | None = None
            if recovery_days is not None:
                fresh = self._read_pitr(name)
                unread = fresh["pitr"].error
                if unread is not None:
                    raise CallFailed(unread)  # off or on, a minimum is never sent blind
                verdict = period_write(TableState(name, **fresh), recovery_days)
                if verdict is PeriodWrite.ENOUGH:
                    return fresh, fresh
                if verdict is PeriodWrite.UNKNOWN:
                    raise CallFailed(_period_unknown(recovery_days))
                if verdict is PeriodWrite.RAISE:
                    spec["RecoveryPeriodInDays"] = recovery_days
            try:
                answer = self._call(
                    "UpdateContinuousBackups",
                    TableName=name,
                    PointInTimeRecoverySpecification=spec,
                )
                return _pitr_fields(answer, PITR.write_action), fresh
            except CallFailed as exc:
                busy = exc.error.code in (
                    "ContinuousBackupsUnavailableException",
                    "ResourceInUseException",
                )
                if not busy or time.monotonic() + _backoff(attempt) > deadline:
                    raise
                self._sleep(_backoff(attempt))
                attempt += 1

    # -- the guardrail: the table's resource policy ---------------------------------------------

    def _wanted(self, arn: str | None) -> tuple[guardrail.TableGuardrail, str]:
        """The guardrail asked for and the table's ARN. Raises CallFailed when either is missing."""
        asked = self._settings.guardrail
        if asked is None or arn is None:
            missing = "no guardrail was configured" if asked is None else "the table has no ARN"
            raise CallFailed(AwsError(GUARDRAIL.read_action, "GuardrailNotConfigured", missing))
        return asked, arn

    def _read_guardrail(self, arn: str | None) -> Reading:
        try:
            asked, arn = self._wanted(arn)
            policy, revision = self._get_policy(arn)
        except CallFailed as exc:
            return Reading(None, exc.error)
        self._policies[arn] = (policy, revision)
        return Reading(asked.held_by(policy, arn))

    def _get_policy(self, arn: str) -> tuple[str | None, str]:
        """The table's policy (None: none) and its RevisionId (NO_POLICY). Raises CallFailed."""
        try:
            answer = self._call("GetResourcePolicy", ResourceArn=arn)
        except CallFailed as exc:
            if exc.error.code == "PolicyNotFoundException":
                return None, NO_POLICY
            raise
        return answer.get("Policy"), answer.get("RevisionId") or NO_POLICY

    def _put_guardrail(self, before: TableState) -> Reading:
        """Merge the guardrail into the table's policy (by Sid, others' statements kept) and put
        the whole document in one PutResourcePolicy, conditional on the RevisionId it was merged
        into: a policy changed meanwhile is re-read and merged once more, never overwritten. The
        answer is GetResourcePolicy read again. Raises CallFailed.
        """
        asked, arn = self._wanted(before.arn)
        wanted = asked.policy(arn)
        deadline = time.monotonic() + self._settings.wait_timeout
        known = self._policies.pop(arn, None)
        merged_again = False
        attempt = 0
        while True:
            policy, revision = known if known is not None else self._get_policy(arn)
            known = (policy, revision)
            try:
                merge = guardrail.merge(policy, wanted)
            except guardrail.GuardrailError as exc:
                raise CallFailed(
                    AwsError(GUARDRAIL.write_action, "GuardrailRefused", str(exc))
                ) from None
            if not merge.changed:  # put there meanwhile, by someone else: nothing to write
                return Reading(True)
            params: dict[str, Any] = {
                "ResourceArn": arn,
                "Policy": guardrail.dumps(merge.document),
                "ExpectedRevisionId": revision,
            }
            if asked.confirm_remove_self_access:
                params["ConfirmRemoveSelfResourceAccess"] = True
            try:
                answer = self._call("PutResourcePolicy", **params)
            except CallFailed as exc:
                if exc.error.code == "PolicyNotFoundException" and not merged_again:
                    merged_again, known = True, None  # the revision moved on: read, merge again
                    continue
                wait = _backoff(attempt)
                if exc.error.code != POLICY_BUSY or time.monotonic() + wait > deadline:
                    raise
                self._sleep(wait)  # within the 15 s that follow another policy update
                attempt += 1
                continue
            return self._read_back_policy(arn, wanted, answer.get("RevisionId"), deadline)

    def _read_back_policy(
        self, arn: str, wanted: Mapping[str, Any], revision: str | None, deadline: float
    ) -> Reading:
        """GetResourcePolicy after the put, until it shows the put's revision (it is eventually
        consistent: it may answer the old policy for a few seconds) or the deadline."""
        attempt = 0
        while True:
            policy, found = self._get_policy(arn)
            wait = _backoff(attempt)
            if revision is None or found == revision or time.monotonic() + wait > deadline:
                return Reading(guardrail.holds(policy, wanted))
            self._sleep(wait)
            attempt += 1

    def _wait_active(self, name: str, deadline: float) -> str | None:
        """Poll DescribeTable while the table is busy; return the status it last showed.

        A state no wait will end (DELETING, ARCHIVED, INACCESSIBLE_ENCRYPTION_CREDENTIALS) or the
        deadline stops the wait at once; the write that follows tells the rest.
        """
        attempt = 0
        while True:
            status: str | None = self._call("DescribeTable", TableName=name)["Table"].get(
                "TableStatus"
            )
            if status not in _TRANSIENT or time.monotonic() + _backoff(attempt) > deadline:
                return status
            self._sleep(_backoff(attempt))
            attempt += 1


def discovery_error(error: AwsError) -> SetupError:
    if error.code in ("EndpointConnectionError", "ConnectTimeoutError"):
        return SetupError(f"cannot reach the DynamoDB endpoint: {error.message}")
    if error.code == "NoCredentialsError":
        return SetupError("no AWS credentials found: set AWS_PROFILE or --aws-profile")
    return SetupError(f"cannot list tables: {error}")


def _replicas(table: Mapping[str, Any], region: str, account: str | None) -> tuple[Replica, ...]:
    """A global table's other replicas: region, and account and status where AWS gives them
    (a replica is followed by its ReplicaArn's account and region, not its region alone)."""
    found = []
    for entry in table.get("Replicas", ()):
        name = entry.get("RegionName")
        arn = entry.get("ReplicaArn")
        owner = _arn_account(arn) or account
        if not isinstance(name, str) or (name == region and owner == account):
            continue
        status = entry.get("ReplicaStatus")
        found.append(Replica(name, owner, status if isinstance(status, str) else None, arn or None))
    return tuple(sorted(found, key=lambda r: (r.region, r.account or "")))


def _arn_account(arn: object) -> str | None:
    parsed = parse_arn(arn)
    return parsed.account if parsed else None


def _not_reached(control: Control, after: TableState, change: Change) -> AwsError | None:
    """The error when the write's answer shows the protection not as asked."""
    reached = after.reading(control)
    if reached.enabled is not True:
        return AwsError(
            control.write_action,
            "NotEnabledAfterWrite",
            f"{control.noun} was turned on but the server answers {reached.label.lower()}",
        )
    days, wanted = after.pitr_recovery_days, change.recovery_days
    if control is PITR and wanted is not None and (days is None or days < wanted):
        return AwsError(
            control.write_action,
            "RecoveryPeriodShortAfterWrite",
            f"{wanted} days were asked but the server answers a recovery period of {days}",
        )
    return None


def _period_unknown(days: int) -> AwsError:
    return AwsError(
        PITR.read_action,
        "RecoveryPeriodUnknown",
        "PITR is on but DescribeContinuousBackups answers no RecoveryPeriodInDays: not written, "
        f"since sending {days} days could lower a longer period",
    )


def _pitr_fields(answer: Mapping[str, Any], action: str) -> dict[str, Any]:
    """PITR as an answer carrying a ContinuousBackupsDescription tells it; an answer without
    one (or without its PITR part) is unknown, never "off"."""
    description = answer.get("ContinuousBackupsDescription")
    pitr = description.get("PointInTimeRecoveryDescription") if description else None
    if not pitr or "PointInTimeRecoveryStatus" not in pitr:
        error = AwsError(
            action,
            "NoRecoveryDescription",
            "the answer carries no PointInTimeRecoveryDescription: PITR's state is unknown",
        )
        return {"pitr": Reading(None, error), "pitr_recovery_days": None}
    enabled = pitr["PointInTimeRecoveryStatus"] == "ENABLED"
    days = pitr.get("RecoveryPeriodInDays")
    return {"pitr": Reading(enabled), "pitr_recovery_days": int(days) if days else None}
