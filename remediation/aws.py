"""The only module that talks to boto3: discover, read state, apply (its answer is the read-back).

One boto3 client per account-region is shared by the worker threads of `remediation.fleet`'s
bounded pool (boto3 clients are thread-safe); every call goes through `Hardener._call`, which paces
it to AWS's quotas, stops starting new calls once the run is cancelled, and turns AWS errors into
`core.AwsError` values on the table they concern. Nothing here decides what a table needs: that is
`core.plan`.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoRegionError,
    ProfileNotFound,
)

from remediation.controls import DELETION_PROTECTION, PITR, Control
from remediation.core import (
    AwsError,
    Change,
    Outcome,
    Reading,
    Selection,
    TableState,
    changed_controls,
)

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any
    Session = Any

PAGE_SIZE = 100
"""ListTables' maximum page; there is no server-side name filter."""

DEFAULT_WORKERS = 16
"""Well under AWS's 500 table updates in flight, and enough to keep 2,500 calls/s busy at ~20 ms."""

DEFAULT_FLEET_WORKERS = 48
"""For more than one account-region: the calls wait on the network and on each target's own
pacers, so more threads overlap more targets; each target still paces itself to its quotas."""

DEFAULT_RATES: Mapping[str, float] = {
    # AWS: 10 DescribeContinuousBackups calls per second per account and region. Paced evenly a
    # little under it, never in a burst: the server's bucket may already be partly drained.
    "DescribeContinuousBackups": 9.7,
    # The control plane as a whole: about 2,500 requests per second. UpdateContinuousBackups has
    # no documented quota of its own (the 10/s is its read twin's), so only this one paces it;
    # should AWS ever throttle it, botocore's standard retries absorb that.
    "*": 2400.0,
}

MAX_ATTEMPTS = 6
"""botocore standard-mode attempts per call (throttling, LimitExceeded, 5xx, connection errors)."""

DEFAULT_WAIT_TIMEOUT = 120.0
"""Seconds to keep retrying a table that is busy (UPDATING, ResourceInUse, backups not ready)."""


_TRANSIENT = frozenset({"CREATING", "UPDATING"})
"""Table states that end by themselves: worth waiting for before a write."""


class SetupError(Exception):
    """The run cannot start or go on at all (credentials, profile, region, endpoint, discovery)."""


class Cancelled(Exception):
    """Raised in a worker instead of starting a new call once the run is cancelled."""


ProgressCallback = Callable[[int, int], None]
"""Called as (done, total) after each table finishes a phase."""


class Pacer:
    """Spaces calls evenly at `rate` per second across threads, with no initial burst."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self._interval = 1.0 / rate
        self._clock = clock
        self._next = -math.inf
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take the next slot; return how long the caller must wait for it."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self._interval
            return slot - now


@dataclass(frozen=True)
class Settings:
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    workers: int = DEFAULT_WORKERS
    rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT


def make_client(settings: Settings) -> tuple[DynamoDBClient, str]:
    """Build the shared client; return it with the region in use. Raises SetupError."""
    session = make_session(settings)
    client = dynamodb_client(session, settings.region, settings)
    return client, client.meta.region_name


def make_session(settings: Settings) -> Session:
    """The caller's session, credentials checked as far as that is possible without a call."""
    try:
        session = boto3.session.Session(profile_name=settings.profile, region_name=settings.region)
        if session.get_credentials() is None:
            raise SetupError(
                "no AWS credentials found: set AWS_PROFILE or --aws-profile, or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
            )
    except ProfileNotFound as exc:
        raise SetupError(f"AWS profile not found in the AWS config files: {exc}") from None
    except BotoCoreError as exc:  # credentials that cannot load: an expired SSO token, a bad file
        raise SetupError(f"cannot load AWS credentials: {exc}") from None
    return session


def session_region(session: Session) -> str | None:
    """The region the profile or environment names, if any."""
    region: str | None = session.region_name
    return region


def dynamodb_client(
    session: Session,
    region: str | None,
    settings: Settings,
    credentials: Credentials | None = None,
) -> DynamoDBClient:
    """A DynamoDB client for one region, acting with the session's credentials or an assumed
    role's (made from the caller's session, so its service model is loaded once). Raises
    SetupError."""
    config = Config(
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        max_pool_connections=settings.workers + 2,
        connect_timeout=5,
        read_timeout=30,
    )
    keys: tuple[str | None, str | None, str | None] = (None, None, None)
    if credentials is not None:
        keys = (
            credentials.access_key_id,
            credentials.secret_access_key,
            credentials.session_token,
        )
    try:
        client: DynamoDBClient = session.client(
            "dynamodb",
            region_name=region,
            endpoint_url=settings.endpoint_url,
            config=config,
            aws_access_key_id=keys[0],
            aws_secret_access_key=keys[1],
            aws_session_token=keys[2],
        )
    except NoRegionError:
        raise SetupError("no AWS region: pass --region or set AWS_REGION") from None
    except ValueError as exc:  # botocore rejects a malformed endpoint URL this way
        raise SetupError(f"invalid endpoint URL {settings.endpoint_url!r}: {exc}") from None
    except BotoCoreError as exc:
        raise SetupError(f"cannot load AWS credentials: {exc}") from None
    return client


def dynamodb_regions(session: Session, region: str | None) -> list[str]:
    """Every region where DynamoDB is offered in the partition of `region` (botocore's endpoint
    data: no call, no IAM action), sorted."""
    partition = session.get_partition_for_region(region) if region else "aws"
    return sorted(session.get_available_regions("dynamodb", partition))


def known_regions() -> frozenset[str]:
    """Every region botocore's endpoint data names for DynamoDB, in every partition (no call)."""
    session = boto3.session.Session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("dynamodb", partition)
    )


def make_sns_client(region: str) -> Any:
    """An SNS client in `region` (the alert topic's), retried like the DynamoDB client."""
    config = Config(retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS}, connect_timeout=5)
    return boto3.session.Session(region_name=region).client("sns", config=config)


class PublishFailed(Exception):
    def __init__(self, error: AwsError) -> None:
        super().__init__(str(error))
        self.error = error


def publish(client: Any, topic_arn: str, subject: str, message: str) -> str:
    """Publish one alert; return its MessageId. Raises PublishFailed with what AWS answered."""
    try:
        response: dict[str, Any] = client.publish(
            TopicArn=topic_arn, Subject=subject, Message=message
        )
    except (ClientError, BotoCoreError) as exc:
        raise PublishFailed(_aws_error("sns:Publish", exc)) from None
    return str(response["MessageId"])


NOT_AWS = "NotAnAwsAnswer"
"""The code of an answer that is a web page (a proxy's, a captive portal's), not AWS's."""


def _is_html(metadata: Mapping[str, Any]) -> bool:
    """A web page with no AWS request id: AWS stamps every answer with one, a proxy does not.
    (moto's Organizations answers are text/html, but with a request id.)"""
    content_type = str(metadata.get("HTTPHeaders", {}).get("content-type", ""))
    return "html" in content_type.lower() and not metadata.get("RequestId")


def _not_aws(action: str, metadata: Mapping[str, Any]) -> AwsError:
    status = metadata.get("HTTPStatusCode", "?")
    return AwsError(
        action,
        NOT_AWS,
        f"HTTP {status} answered with a web page, not by AWS (a proxy or captive portal "
        "between here and the endpoint?)",
    )


def _aws_error(action: str, exc: ClientError | BotoCoreError) -> AwsError:
    if isinstance(exc, ClientError):
        if _is_html(exc.response.get("ResponseMetadata", {})):
            return _not_aws(action, exc.response["ResponseMetadata"])
        error = exc.response.get("Error", {})
        return AwsError(action, error.get("Code", "Unknown"), error.get("Message", str(exc)))
    return AwsError(action, type(exc).__name__, str(exc))


class CallFailed(Exception):
    """One AWS call failed after botocore's retries; `error` says what AWS answered."""

    def __init__(self, error: AwsError) -> None:
        super().__init__(str(error))
        self.error = error


class _Door:
    """Where every call of one client goes: paced to AWS's quotas, stopped once the run is
    cancelled, and an AWS error turned into a `CallFailed` that names the IAM action."""

    def __init__(
        self, client: Any, service: str, rates: Mapping[str, float], cancel: threading.Event
    ) -> None:
        self._client = client
        self._service = service
        self._cancel = cancel
        rates = dict(rates)
        self._global = Pacer(rates.pop("*")) if "*" in rates else None
        self._pacers = {op: Pacer(rate) for op, rate in rates.items()}

    def sleep(self, seconds: float) -> None:
        if self._cancel.wait(seconds):
            raise Cancelled

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        if self._cancel.is_set():
            raise Cancelled
        delay = max(
            self._global.reserve() if self._global else 0.0,
            self._pacers[operation].reserve() if operation in self._pacers else 0.0,
        )
        if delay > 0:
            self.sleep(delay)
        if self._cancel.is_set():
            raise Cancelled
        method = getattr(self._client, _snake(operation))
        action = f"{self._service}:{operation}"
        try:
            response: dict[str, Any] = method(**params)
        except (ClientError, BotoCoreError) as exc:
            raise CallFailed(_aws_error(action, exc)) from None
        metadata = response.get("ResponseMetadata", {})
        if _is_html(metadata):  # botocore parses a page as an empty answer: "no tables"
            raise CallFailed(_not_aws(action, metadata))
        return response


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
    ) -> None:
        settings = settings or Settings()
        self._client = client
        self._settings = settings
        self._cancel = cancel if cancel is not None else threading.Event()
        self._door = _Door(client, "dynamodb", settings.rates, self._cancel)

    @property
    def region(self) -> str:
        region: str = self._client.meta.region_name
        return region

    def bounded(self, wait_timeout: float) -> Hardener:
        """The same client and pacers with another bound on waits: a caller that lives on, like a
        warm Lambda, keeps its pacing across calls while each call gets its own time budget."""
        twin = Hardener(
            self._client, replace(self._settings, wait_timeout=wait_timeout), self._cancel
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
            replica_regions=_replica_regions(table, self.region),
        )
        if PITR in controls:
            state = replace(state, **self._read_pitr(name))
        return state

    def _read_pitr(self, name: str) -> dict[str, Any]:
        try:
            response = self._call("DescribeContinuousBackups", TableName=name)
        except CallFailed as exc:
            return {"pitr": Reading(None, exc.error)}
        return _pitr_fields(response["ContinuousBackupsDescription"])

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
        for control in change.enable:
            try:
                if control is DELETION_PROTECTION:
                    table = self._enable_deletion_protection(before)
                    enabled = bool(table.get("DeletionProtectionEnabled", False))
                    after = replace(after, deletion_protection=Reading(enabled))
                    after = replace(after, status=table.get("TableStatus", after.status))
                elif control is PITR:
                    description = self._enable_pitr(before.name, change.recovery_days)
                    after = replace(after, **_pitr_fields(description))
            except CallFailed as exc:
                errors[control.id] = exc.error
                continue
            except Cancelled:
                errors[control.id] = _interrupted(control.write_action, "not attempted")
                continue
            error = _not_reached(control, after, change)
            if error is not None:
                errors[control.id] = error
        return Outcome(before, after, changed_controls(before, after), errors)

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

    def _enable_pitr(self, name: str, recovery_days: int | None) -> Mapping[str, Any]:
        """UpdateContinuousBackups (with the period when one must be raised); returns the
        ContinuousBackupsDescription it answers with."""
        deadline = time.monotonic() + self._settings.wait_timeout
        spec: dict[str, Any] = {"PointInTimeRecoveryEnabled": True}
        if recovery_days is not None:
            spec["RecoveryPeriodInDays"] = recovery_days
        attempt = 0
        while True:
            try:
                answer = self._call(
                    "UpdateContinuousBackups",
                    TableName=name,
                    PointInTimeRecoverySpecification=spec,
                )
                description: Mapping[str, Any] = answer.get("ContinuousBackupsDescription", {})
                return description
            except CallFailed as exc:
                busy = exc.error.code in (
                    "ContinuousBackupsUnavailableException",
                    "ResourceInUseException",
                )
                if not busy or time.monotonic() + _backoff(attempt) > deadline:
                    raise
                self._sleep(_backoff(attempt))
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


# -- accounts: STS and Organizations, through the same door ---------------------------------------

IDENTITY_RATES: Mapping[str, float] = {
    # STS: 600 requests a second per account and region; Organizations: a few a second for the
    # whole organization. Paced well under both, evenly.
    "AssumeRole": 50.0,
    "ListAccounts": 4.0,
}


@dataclass(frozen=True)
class Credentials:
    """A role's temporary credentials, as AssumeRole returned them."""

    access_key_id: str
    secret_access_key: str
    session_token: str


class Identity:
    """The caller's STS and Organizations clients: who am I, which accounts, assume a role."""

    def __init__(
        self, session: Session, region: str | None, settings: Settings, cancel: threading.Event
    ) -> None:
        config = Config(
            retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
            max_pool_connections=settings.workers + 2,
            connect_timeout=5,
            read_timeout=30,
        )
        self._session = session
        self._region = region
        # STS answers in every enabled region; without one, its global endpoint.
        self._sts = _Door(
            session.client("sts", region_name=region or "us-east-1", config=config),
            "sts",
            IDENTITY_RATES,
            cancel,
        )
        self._config = config
        self._cancel = cancel
        self._organizations: _Door | None = None

    def caller_account(self) -> str:
        """The caller's account id (sts:GetCallerIdentity, which no policy can deny).
        Raises CallFailed."""
        account: str = self._sts.call("GetCallerIdentity")["Account"]
        return account

    def assume(self, role_arn: str, session_name: str, external_id: str | None) -> Credentials:
        """Assume `role_arn`. Raises CallFailed (denied, no such role, expired credentials)."""
        params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": session_name}
        if external_id is not None:
            params["ExternalId"] = external_id
        found = self._sts.call("AssumeRole", **params)["Credentials"]
        return Credentials(found["AccessKeyId"], found["SecretAccessKey"], found["SessionToken"])

    def active_accounts(self) -> list[str]:
        """Every ACTIVE account of the organization, every page. Raises CallFailed."""
        if self._organizations is None:
            client = self._session.client(
                "organizations", region_name=self._region or "us-east-1", config=self._config
            )
            self._organizations = _Door(client, "organizations", IDENTITY_RATES, self._cancel)
        accounts: list[str] = []
        params: dict[str, Any] = {}
        while True:
            page = self._organizations.call("ListAccounts", **params)
            accounts += [a["Id"] for a in page.get("Accounts", []) if a.get("Status") == "ACTIVE"]
            if not page.get("NextToken"):
                return accounts
            params["NextToken"] = page["NextToken"]


def discovery_error(error: AwsError) -> SetupError:
    if error.code in ("EndpointConnectionError", "ConnectTimeoutError"):
        return SetupError(f"cannot reach the DynamoDB endpoint: {error.message}")
    if error.code == "NoCredentialsError":
        return SetupError("no AWS credentials found: set AWS_PROFILE or --aws-profile")
    return SetupError(f"cannot list tables: {error}")


def _replica_regions(table: Mapping[str, Any], region: str) -> tuple[str, ...]:
    """The regions of a global table's other replicas, as DescribeTable lists them."""
    regions = {r.get("RegionName") for r in table.get("Replicas", ())}
    return tuple(sorted(r for r in regions if isinstance(r, str) and r != region))


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


def _interrupted(action: str, what: str) -> AwsError:
    return AwsError(action, "Interrupted", f"{what}: the run was interrupted")


def _pitr_fields(description: Mapping[str, Any]) -> dict[str, Any]:
    pitr = description.get("PointInTimeRecoveryDescription", {})
    enabled = pitr.get("PointInTimeRecoveryStatus") == "ENABLED"
    days = pitr.get("RecoveryPeriodInDays")
    return {"pitr": Reading(enabled), "pitr_recovery_days": int(days) if days else None}


def _snake(operation: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")


def _backoff(attempt: int) -> float:
    """Full-jitter exponential backoff: 0.25 s doubling, capped at 5 s."""
    cap: float = min(5.0, 0.25 * 2**attempt)
    return random.uniform(0.5, 1.0) * cap


__all__ = [
    "DEFAULT_FLEET_WORKERS",
    "DEFAULT_RATES",
    "DEFAULT_WORKERS",
    "IDENTITY_RATES",
    "CallFailed",
    "Cancelled",
    "Credentials",
    "Hardener",
    "Identity",
    "Pacer",
    "ProgressCallback",
    "PublishFailed",
    "Settings",
    "SetupError",
    "discovery_error",
    "dynamodb_client",
    "dynamodb_regions",
    "known_regions",
    "make_client",
    "make_session",
    "make_sns_client",
    "publish",
    "session_region",
]
