"""The only module that talks to boto3: discover, read state, apply (its answer is the read-back).

One boto3 client per region is shared by the worker threads of `remediation.fleet`'s bounded
pool and, in a fleet, by every account (`SharedClients`: each call is signed with its account's
credentials); every call goes through `Hardener._call`, which paces it to AWS's quotas, stops
starting new calls once the run is cancelled, and turns AWS errors into `core.AwsError` values on
the table they concern. Nothing here decides what a table needs: that is `core.plan`.
"""

from __future__ import annotations

import functools
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import boto3
import botocore
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.credentials import Credentials as BotocoreCredentials
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    DataNotFoundError,
    NoRegionError,
    ProfileNotFound,
)
from botocore.model import NoShapeFoundError, ServiceModel
from botocore.parsers import ResponseParserError

from remediation.controls import DELETION_PROTECTION, PITR, Control
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
    period_write,
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


BOTOCORE_MAX_BACKOFF = 20.0
"""botocore's standard retry mode sleeps up to min(2 ** (attempt - 1), 20) s before a retry."""


@dataclass(frozen=True)
class ClientLimits:
    """How long one call of a client may take: connect and read timeouts, and the retries botocore
    makes after the first attempt (its `max_attempts`)."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = MAX_ATTEMPTS

    def worst_case(self) -> float:
        """Seconds one call may last, every attempt timing out and every backoff at its cap."""
        backoff = sum(min(2.0**i, BOTOCORE_MAX_BACKOFF) for i in range(self.retries))
        return (self.retries + 1) * (self.connect_timeout + self.read_timeout) + backoff

    @classmethod
    def within(
        cls, seconds: float, connect_timeout: float = 2.0, read_timeout: float = 5.0
    ) -> ClientLimits:
        """The most retries (up to MAX_ATTEMPTS) whose worst case fits in `seconds`; when not even
        one attempt fits, one attempt with both timeouts shrunk in proportion."""
        for retries in range(MAX_ATTEMPTS, -1, -1):
            limits = cls(connect_timeout, read_timeout, retries)
            if limits.worst_case() <= seconds:
                return limits
        scale = max(seconds, 0.5) / (connect_timeout + read_timeout)
        return cls(round(connect_timeout * scale, 3), round(read_timeout * scale, 3), 0)

    def config(self, max_pool_connections: int = 10, **extra: Any) -> Config:
        return Config(
            retries={"mode": "standard", "max_attempts": self.retries},
            max_pool_connections=max_pool_connections,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            **extra,
        )


_TRANSIENT = frozenset({"CREATING", "UPDATING"})
"""Table states that end by themselves: worth waiting for before a write."""


class SetupError(Exception):
    """The run cannot start or go on at all (credentials, profile, region, endpoint, discovery)."""


class Cancelled(Exception):
    """Raised in a worker instead of starting a new call once the run is cancelled."""


RECOVERY_PERIOD_BOTOCORE = "1.35.94"
"""The first botocore (and boto3, released with it) whose DynamoDB model has RecoveryPeriodInDays
in PointInTimeRecoveryDescription and PointInTimeRecoverySpecification."""

_RECOVERY_PERIOD_SHAPES = ("PointInTimeRecoveryDescription", "PointInTimeRecoverySpecification")


def require_recovery_period_model(setting: str) -> None:
    """Raise SetupError when the DynamoDB model botocore loads lacks RecoveryPeriodInDays.

    Without it botocore drops the period from every answer (so a period is never read) and refuses
    it in a write, so a minimum asked through `setting` cannot be checked. The model is found the
    way the clients will find it (botocore's loader, AWS_DATA_PATH included), never by version.
    """
    try:
        data_path = botocore.session.Session().get_config_variable("data_path")
    except BotoCoreError:  # an unknown AWS_PROFILE, reported when the session is made
        data_path = os.environ.get("AWS_DATA_PATH")
    if not _models_recovery_period(data_path):
        raise SetupError(
            f"{setting} needs botocore >= {RECOVERY_PERIOD_BOTOCORE} (boto3 >= "
            f"{RECOVERY_PERIOD_BOTOCORE}), whose DynamoDB model has RecoveryPeriodInDays; the "
            f"installed botocore {botocore.__version__} has a model without it"
        )


@functools.cache
def _models_recovery_period(data_path: str | None) -> bool:
    loader = botocore.loaders.create_loader(data_path)
    try:
        model = ServiceModel(loader.load_service_model("dynamodb", "service-2"), "dynamodb")
        shapes = [model.shape_for(name) for name in _RECOVERY_PERIOD_SHAPES]
    except (DataNotFoundError, NoShapeFoundError):
        return False
    return all("RecoveryPeriodInDays" in getattr(shape, "members", {}) for shape in shapes)


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
    limits: ClientLimits = field(default_factory=ClientLimits)


def make_client(settings: Settings) -> tuple[DynamoDBClient, str]:
    """Build the shared client; return it with the region in use. Raises SetupError."""
    session = make_session(settings)
    client = dynamodb_client(session, settings.region, settings)
    return client, client.meta.region_name


def make_session(settings: Settings) -> Session:
    """The caller's session, credentials checked as far as that is possible without a call."""
    try:
        core = botocore.session.Session(profile=settings.profile)
        # A token from STS's global endpoint is refused in opt-in regions: always the regional
        # endpoint, whatever AWS_STS_REGIONAL_ENDPOINTS or the config file say.
        core.set_config_variable("sts_regional_endpoints", "regional")
        session = boto3.session.Session(botocore_session=core, region_name=settings.region)
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


_ENV_NAMES: Mapping[str, str] = {
    "dynamodb": "DYNAMODB",
    "sts": "STS",
    "organizations": "ORGANIZATIONS",
    "ec2": "EC2",
    "sns": "SNS",
    "securityhub": "SECURITYHUB",
}
"""boto3's name for each service in AWS_ENDPOINT_URL_<SERVICE> (its service id, upper case)."""


def endpoint_url(service: str, url: str | None) -> str | None:
    """The endpoint `--endpoint-url` gives `service`: every service the run calls, like
    AWS_ENDPOINT_URL, so a service's own AWS_ENDPOINT_URL_<SERVICE> still wins, as in boto3
    (None lets botocore read that variable itself)."""
    if os.environ.get(f"AWS_ENDPOINT_URL_{_ENV_NAMES[service]}"):
        return None
    return url


def _config(settings: Settings, **extra: Any) -> Config:
    return settings.limits.config(max_pool_connections=settings.workers + 2, **extra)


def _client(
    session: Session, service: str, region: str | None, settings: Settings, **extra: Any
) -> Any:
    """A client of `service` in `region` with the session's credentials (`extra`: more of its
    Config). Raises SetupError."""
    url = endpoint_url(service, settings.endpoint_url)
    make: Any = session.client  # typed per literal service name; ours vary
    try:
        return make(
            service, region_name=region, endpoint_url=url, config=_config(settings, **extra)
        )
    except NoRegionError:
        raise SetupError("no AWS region: pass --region or set AWS_REGION") from None
    except ValueError as exc:  # botocore rejects a malformed endpoint URL this way
        raise SetupError(f"invalid endpoint URL {url!r}: {exc}") from None
    except BotoCoreError as exc:
        raise SetupError(f"cannot load AWS credentials: {exc}") from None


def dynamodb_client(session: Session, region: str | None, settings: Settings) -> DynamoDBClient:
    """A DynamoDB client for one region, acting with the session's credentials. Raises
    SetupError."""
    client: DynamoDBClient = _client(session, "dynamodb", region, settings)
    return client


def in_partition(session: Session, region: str, home: str | None) -> bool:
    """Whether `region` is in the partition of `home` (aws, aws-cn, ...); a region botocore cannot
    place at all counts as in it, so that it is reported rather than ignored."""
    partition = session.get_partition_for_region(home) if home else "aws"
    try:
        return bool(session.get_partition_for_region(region) == partition)
    except BotoCoreError:  # UnknownRegionError: newer than this botocore
        return True


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


def make_sns_client(
    region: str, endpoint: str | None = None, limits: ClientLimits | None = None
) -> Any:
    """An SNS client in `region` (the alert topic's), retried like the DynamoDB client, at
    `endpoint` (--endpoint-url) unless AWS_ENDPOINT_URL_SNS says otherwise."""
    config = (limits or ClientLimits()).config()
    return boto3.session.Session(region_name=region).client(
        "sns", config=config, endpoint_url=endpoint_url("sns", endpoint)
    )


# -- one client per service and region for every account of a fleet -------------------------------

_CREDENTIALS_PARAM = "SentinelSigningCredentials"
"""Taken out of a call's parameters before botocore sees them: the credentials it is signed with."""


class NoSigningCredentials(Exception):
    """A call on a shared client came without its account's credentials: never signed at all."""


def _take_credentials(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_CREDENTIALS_PARAM] = params.pop(_CREDENTIALS_PARAM, None)


def _sign_with_account(request: Any, **_: Any) -> None:
    credentials = request.context.get(_CREDENTIALS_PARAM)
    if credentials is None:
        raise NoSigningCredentials("a shared client's call carried no account credentials")
    # botocore's own per-request credentials: the signer takes them over the client's.
    request.context.setdefault("signing", {})["request_credentials"] = credentials


class SharedClients:
    """One client per service and region, made when first used and shared by every account:
    each call is signed with the credentials of the account it acts in (botocore's per-request
    signing credentials), so 300 accounts x 17 regions make 17 DynamoDB clients, not 5,100.

    A call that carries no credentials is refused before it is signed: it can never act with
    the caller's own credentials by mistake.
    """

    def __init__(self, session: Session, settings: Settings) -> None:
        self._session = session
        self._settings = settings
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, service: str, region: str) -> Any:
        with self._lock:
            client = self._clients.get((service, region))
            if client is None:
                # The account comes from each call's credentials, so never from the client's:
                # DynamoDB's account-based endpoints would name the caller's account.
                client = _client(
                    self._session,
                    service,
                    region,
                    self._settings,
                    account_id_endpoint_mode="disabled",
                )
                events = client.meta.events
                events.register(f"provide-client-params.{service}", _take_credentials)
                events.register(f"before-sign.{service}", _sign_with_account)
                self._clients[(service, region)] = client
            return client

    def __len__(self) -> int:
        return len(self._clients)


def make_sqs_client(limits: ClientLimits | None = None) -> Any:
    """An SQS client in the session's region (the Lambda's own, where its queues are)."""
    return boto3.session.Session().client("sqs", config=(limits or ClientLimits()).config())


def send_message(client: Any, queue_url: str, body: str, delay_seconds: int) -> str:
    """Send one message, delivered after `delay_seconds` (0 to 900); return its MessageId.
    Raises CallFailed with what AWS answered."""
    try:
        response: dict[str, Any] = client.send_message(
            QueueUrl=queue_url, MessageBody=body, DelaySeconds=delay_seconds
        )
    except (ClientError, BotoCoreError) as exc:
        raise CallFailed(_aws_error("sqs:SendMessage", exc)) from None
    return str(response["MessageId"])


class PublishFailed(Exception):
    def __init__(self, error: AwsError) -> None:
        super().__init__(str(error))
        self.error = error


SNS_SUBJECT_MAX = 99
"""SNS takes a Subject "less than 100 characters long" (the whole record is in the body)."""


def sns_subject(text: str) -> str:
    """`text` as an SNS Subject: one line, cut at a word boundary with an ellipsis when too long."""
    line = " ".join(text.split())
    if len(line) <= SNS_SUBJECT_MAX:
        return line
    cut = line[: SNS_SUBJECT_MAX - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,:(") + "…"


def publish(client: Any, topic_arn: str, subject: str, message: str) -> str:
    """Publish one alert; return its MessageId. Raises PublishFailed with what AWS answered."""
    try:
        response: dict[str, Any] = client.publish(
            TopicArn=topic_arn, Subject=sns_subject(subject), Message=message
        )
    except (ClientError, BotoCoreError) as exc:
        raise PublishFailed(_aws_error("sns:Publish", exc)) from None
    return str(response["MessageId"])


NOT_AWS = "NotAnAwsAnswer"
"""The code of an answer that is a web page (a proxy's, a captive portal's), not AWS's."""


def _not_from_aws(metadata: Mapping[str, Any]) -> bool:
    """An HTTP answer with no AWS request id: AWS stamps every answer with one, whatever its
    content type; a proxy, a captive portal or a firewall's block page does not."""
    return "HTTPStatusCode" in metadata and not metadata.get("RequestId")


def _not_aws(action: str, metadata: Mapping[str, Any]) -> AwsError:
    status = metadata.get("HTTPStatusCode", "?")
    content_type = str(metadata.get("HTTPHeaders", {}).get("content-type", "")) or "no type"
    what = "a web page" if "html" in content_type.lower() else f"{content_type} with no request id"
    return AwsError(
        action,
        NOT_AWS,
        f"HTTP {status} answered with {what}, not by AWS (a proxy or captive portal between "
        "here and the endpoint?)",
    )


def _unreadable(action: str, exc: Exception) -> AwsError:
    """botocore could not parse the answer as this service's: whatever answered, not AWS."""
    return AwsError(
        action,
        NOT_AWS,
        f"the answer is not {action.split(':')[0]}'s ({type(exc).__name__}: {exc}); a proxy or "
        "captive portal between here and the endpoint?",
    )


def _aws_error(action: str, exc: ClientError | BotoCoreError) -> AwsError:
    if isinstance(exc, ClientError):
        if _not_from_aws(exc.response.get("ResponseMetadata", {})):
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
        self,
        client: Any,
        service: str,
        rates: Mapping[str, float],
        cancel: threading.Event,
        credentials: AccountCredentials | None = None,
    ) -> None:
        self._client = client
        self._service = service
        self._cancel = cancel
        self._credentials = credentials
        """Set for a `SharedClients` client: every call is signed with these."""
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
        if self._credentials is not None:
            params = {**params, _CREDENTIALS_PARAM: self._credentials}
        action = f"{self._service}:{operation}"
        try:
            response: dict[str, Any] = method(**params)
        except (ClientError, BotoCoreError) as exc:
            raise CallFailed(_aws_error(action, exc)) from None
        except (KeyError, ResponseParserError) as exc:  # botocore's parser, on a stranger's XML
            raise CallFailed(_unreadable(action, exc)) from None
        metadata = response.get("ResponseMetadata", {})
        if _not_from_aws(metadata):  # botocore parses a page as an empty answer: "no tables"
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
        credentials: AccountCredentials | None = None,
    ) -> None:
        settings = settings or Settings()
        self._client = client
        self._settings = settings
        self._cancel = cancel if cancel is not None else threading.Event()
        self._credentials = credentials
        self._door = _Door(client, "dynamodb", settings.rates, self._cancel, credentials)

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
            replica_regions=_replica_regions(table, self.region),
            replicas=_replicas(table, self.region, _arn_account(table.get("TableArn"))),
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
        basis = before  # what was found just before the writes: a period write reads again
        for control in change.enable:
            try:
                if control is DELETION_PROTECTION:
                    table = self._enable_deletion_protection(before)
                    enabled = bool(table.get("DeletionProtectionEnabled", False))
                    after = replace(after, deletion_protection=Reading(enabled))
                    after = replace(after, status=table.get("TableStatus", after.status))
                elif control is PITR:
                    description, fresh = self._enable_pitr(before.name, change.recovery_days)
                    after = replace(after, **_pitr_fields(description))
                    if fresh is not None:
                        basis = replace(basis, **_pitr_fields(fresh))
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
    ) -> tuple[Mapping[str, Any], Mapping[str, Any] | None]:
        """UpdateContinuousBackups; returns the ContinuousBackupsDescription it answers with, and
        the one read just before it when the write was to carry a period (else None).

        A period is never sent blind: the table's period is read again just before each attempt,
        and the write is skipped when someone raised it meanwhile, so it is never lowered.
        """
        deadline = time.monotonic() + self._settings.wait_timeout
        attempt = 0
        while True:
            spec: dict[str, Any] = {"PointInTimeRecoveryEnabled": True}
            fresh: Mapping[str, Any] | None = None
            if recovery_days is not None:
                fresh = self._describe_pitr(name)
                verdict = period_write(TableState(name, **_pitr_fields(fresh)), recovery_days)
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
                description: Mapping[str, Any] = answer.get("ContinuousBackupsDescription", {})
                return description, fresh
            except CallFailed as exc:
                busy = exc.error.code in (
                    "ContinuousBackupsUnavailableException",
                    "ResourceInUseException",
                )
                if not busy or time.monotonic() + _backoff(attempt) > deadline:
                    raise
                self._sleep(_backoff(attempt))
                attempt += 1

    def _describe_pitr(self, name: str) -> Mapping[str, Any]:
        """DescribeContinuousBackups' description. Raises CallFailed."""
        response = self._call("DescribeContinuousBackups", TableName=name)
        description: Mapping[str, Any] = response.get("ContinuousBackupsDescription", {})
        return description

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
    # whole organization; EC2's DescribeRegions: tens a second. Paced well under each, evenly.
    "AssumeRole": 50.0,
    "ListAccounts": 4.0,
    "DescribeRegions": 20.0,
}

AccountCredentials = BotocoreCredentials
"""An account's credentials: the caller's own, or an assumed role's that refresh themselves."""

ACTIVE = "ACTIVE"

ENABLED_REGION = frozenset({"opt-in-not-required", "opted-in"})
"""EC2's OptInStatus of a region the account can use; `not-opted-in` is not enabled."""


@dataclass(frozen=True)
class Account:
    """An account of the organization and its lifecycle state as Organizations answers it:
    `State` (ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED, PENDING_ACTIVATION), or the retired
    `Status` when it is the only one present; None when neither is."""

    id: str
    state: str | None


class Identity:
    """The caller's STS, Organizations and region-listing calls: who am I, which accounts,
    assume a role, which regions an account has enabled."""

    def __init__(
        self,
        session: Session,
        region: str | None,
        settings: Settings,
        cancel: threading.Event,
        clients: SharedClients | None = None,
    ) -> None:
        self._session = session
        # STS's regional endpoint (see make_session) in the run's home region.
        self._region = region or "us-east-1"
        self._settings = settings
        self._sts = _Door(
            _client(session, "sts", self._region, settings), "sts", IDENTITY_RATES, cancel
        )
        self._cancel = cancel
        self._clients = clients if clients is not None else SharedClients(session, settings)
        self._organizations: _Door | None = None

    def caller_account(self) -> str:
        """The caller's account id (sts:GetCallerIdentity, which no policy can deny).
        Raises CallFailed."""
        account: str = self._sts.call("GetCallerIdentity")["Account"]
        return account

    def caller_credentials(self) -> AccountCredentials:
        """The caller's own credentials (botocore refreshes them when their source can)."""
        credentials: AccountCredentials | None = self._session.get_credentials()
        if credentials is None:
            raise SetupError("no AWS credentials found: set AWS_PROFILE or --aws-profile")
        return credentials

    def assume(
        self, role_arn: str, session_name: str, external_id: str | None
    ) -> AccountCredentials:
        """Assume `role_arn` now; the credentials assume it again before they expire (botocore's
        refreshable credentials, as Cloud Custodian's assumed sessions), so a run or a prompt
        that outlasts them never meets ExpiredToken. Raises CallFailed (denied, no such role,
        the caller's own credentials expired) and, on a later refresh, from the call that
        needed it."""
        params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": session_name}
        if external_id is not None:
            params["ExternalId"] = external_id

        def fetch() -> dict[str, Any]:
            found = self._sts.call("AssumeRole", **params)["Credentials"]
            expiration = found["Expiration"]
            return {
                "access_key": found["AccessKeyId"],
                "secret_key": found["SecretAccessKey"],
                "token": found["SessionToken"],
                "expiry_time": expiration.isoformat()
                if hasattr(expiration, "isoformat")
                else str(expiration),
            }

        credentials: AccountCredentials = RefreshableCredentials.create_from_metadata(
            metadata=fetch(), refresh_using=fetch, method="sts-assume-role"
        )
        return credentials

    def accounts(self) -> list[Account]:
        """Every account of the organization with its state, every page. Raises CallFailed."""
        if self._organizations is None:
            client = _client(self._session, "organizations", self._region, self._settings)
            self._organizations = _Door(client, "organizations", IDENTITY_RATES, self._cancel)
        accounts: list[Account] = []
        params: dict[str, Any] = {}
        while True:
            page = self._organizations.call("ListAccounts", **params)
            for found in page.get("Accounts", []):
                # Status is retired (2026-09-09): State first, Status only when it is all there is.
                state = found.get("State") or found.get("Status")
                accounts.append(Account(found["Id"], state if isinstance(state, str) else None))
            if not page.get("NextToken"):
                return accounts
            params["NextToken"] = page["NextToken"]

    def enabled_regions(self, credentials: AccountCredentials) -> dict[str, bool]:
        """Every region of the account (ec2:DescribeRegions, with its own credentials), and
        whether it is enabled for it. A region whose OptInStatus is missing counts as enabled,
        so that a refusal there is a failure, never a skip. Raises CallFailed."""
        client = self._clients.get("ec2", self._region)
        door = _Door(client, "ec2", IDENTITY_RATES, self._cancel, credentials)
        answer = door.call("DescribeRegions", AllRegions=True)
        regions: dict[str, bool] = {}
        for region in answer.get("Regions", []):
            name = region.get("RegionName")
            if isinstance(name, str):
                status = region.get("OptInStatus")
                regions[name] = status is None or status in ENABLED_REGION
        return regions


# -- Security Hub: findings, through the same door -----------------------------------------------

SECURITY_HUB_RATES: Mapping[str, float] = {
    # AWS: BatchImportFindings takes 10 requests a second per account and region, bursts of 30.
    # Paced evenly a little under it, never in a burst; throttling that still comes
    # (LimitExceededException, TooManyRequestsException, 429) is retried by botocore.
    "BatchImportFindings": 9.7,
    # AWS: BatchUpdateFindings has the same quota, 10 a second with bursts of 30, paced alike.
    "BatchUpdateFindings": 9.7,
}
IMPORT_BATCH = 100
"""BatchImportFindings' maximum findings per call."""
UPDATE_BATCH = 100
"""BatchUpdateFindings' maximum FindingIdentifiers per call."""
IMPORT_ACTION = "securityhub:BatchImportFindings"
UPDATE_ACTION = "securityhub:BatchUpdateFindings"

UPDATE_RETRIED = frozenset({"ConcurrentUpdateError", "FindingNotFound"})
"""UnprocessedFindings codes a finding imported moments ago may get (AWS applies an import
asynchronously): tried again, after a backoff, before they are reported."""
UPDATE_ATTEMPTS = 4
RESOLVED = "RESOLVED"

NOT_SUBSCRIBED = "InvalidAccessException"
"""What Security Hub answers in a region where the account has not enabled it: "Account ... is
not subscribed to AWS Security Hub"."""


@dataclass(frozen=True)
class Rejected:
    """One finding Security Hub refused (a FailedFindings entry)."""

    id: str
    code: str
    message: str


@dataclass(frozen=True)
class ImportAnswer:
    """What one account-region's Security Hub did with the findings sent to it."""

    sent: int
    imported: int = 0
    rejected: tuple[Rejected, ...] = ()
    error: AwsError | None = None
    """A call failed as a whole (after botocore's retries); the findings not yet sent were not
    sent."""
    landed: frozenset[str] = frozenset()
    """The Ids Security Hub took: sent in a call that succeeded and not in its FailedFindings."""

    @property
    def not_enabled(self) -> bool:
        return self.error is not None and self.error.code == NOT_SUBSCRIBED


@dataclass(frozen=True)
class UpdateAnswer:
    """What one account-region's Security Hub did with a BatchUpdateFindings of Workflow."""

    sent: int
    processed: int = 0
    unprocessed: tuple[Rejected, ...] = ()
    """UnprocessedFindings: each finding Security Hub did not update, with its error."""
    error: AwsError | None = None
    """A call failed as a whole (after botocore's retries); its findings and those after it
    were not updated."""


def securityhub_client(session: Session, region: str, settings: Settings) -> Any:
    """A Security Hub client in one region with the session's credentials (a fleet's accounts
    share `SharedClients`' instead, each call signed with its account's). Raises SetupError."""
    return _client(session, "securityhub", region, settings)


def make_security_hub(region: str, limits: ClientLimits | None = None) -> SecurityHub:
    """The Security Hub in `region` for a caller that lives on, like the guard's Lambda."""
    session = boto3.session.Session(region_name=region)
    settings = Settings(region=region, workers=1, limits=limits or ClientLimits())
    return SecurityHub(securityhub_client(session, region, settings))


class SecurityHub:
    """One account-region's Security Hub: BatchImportFindings and BatchUpdateFindings, each
    paced to its quota."""

    def __init__(
        self,
        client: Any,
        cancel: threading.Event | None = None,
        credentials: AccountCredentials | None = None,
        rates: Mapping[str, float] = SECURITY_HUB_RATES,
    ) -> None:
        """`credentials`: the account's, for a `SharedClients` client (every call signed with
        them); None for a client that carries its own."""
        event = cancel if cancel is not None else threading.Event()
        self._door = _Door(client, "securityhub", rates, event, credentials)

    def import_findings(self, findings: Sequence[Mapping[str, Any]]) -> ImportAnswer:
        """Send every finding, at most IMPORT_BATCH a call; stop at the first call that fails
        as a whole (not enabled, denied), since the next would fail alike."""
        imported = 0
        rejected: list[Rejected] = []
        landed: set[str] = set()
        for start in range(0, len(findings), IMPORT_BATCH):
            batch = [dict(f) for f in findings[start : start + IMPORT_BATCH]]
            try:
                answer = self._door.call("BatchImportFindings", Findings=batch)
            except CallFailed as exc:
                return ImportAnswer(
                    len(findings), imported, tuple(rejected), exc.error, frozenset(landed)
                )
            except Cancelled:
                error = _interrupted(IMPORT_ACTION, "not sent")
                return ImportAnswer(
                    len(findings), imported, tuple(rejected), error, frozenset(landed)
                )
            imported += int(answer.get("SuccessCount", 0))
            refused = [
                Rejected(
                    str(f.get("Id", "")),
                    str(f.get("ErrorCode", "")),
                    str(f.get("ErrorMessage", "")),
                )
                for f in answer.get("FailedFindings", [])
            ]
            rejected += refused
            landed |= {str(f["Id"]) for f in batch} - {r.id for r in refused}
        return ImportAnswer(len(findings), imported, tuple(rejected), landed=frozenset(landed))

    def set_workflow(
        self, identifiers: Sequence[Mapping[str, str]], status: str = RESOLVED
    ) -> UpdateAnswer:
        """Set the Workflow.Status of existing findings ({Id, ProductArn} each), at most
        UPDATE_BATCH a call: BatchImportFindings takes Workflow only when it creates a finding,
        so a finding that turns PASSED is closed here. Stops at the first call that fails as a
        whole, as the import does."""
        processed = 0
        unprocessed: list[Rejected] = []
        for start in range(0, len(identifiers), UPDATE_BATCH):
            batch = [dict(i) for i in identifiers[start : start + UPDATE_BATCH]]
            for attempt in range(UPDATE_ATTEMPTS):
                try:
                    answer = self._door.call(
                        "BatchUpdateFindings",
                        FindingIdentifiers=batch,
                        Workflow={"Status": status},
                    )
                except CallFailed as exc:
                    return UpdateAnswer(len(identifiers), processed, tuple(unprocessed), exc.error)
                except Cancelled:
                    error = _interrupted(UPDATE_ACTION, "not updated")
                    return UpdateAnswer(len(identifiers), processed, tuple(unprocessed), error)
                processed += len(answer.get("ProcessedFindings", []))
                left = [
                    (
                        f.get("FindingIdentifier", {}),
                        Rejected(
                            str(f.get("FindingIdentifier", {}).get("Id", "")),
                            str(f.get("ErrorCode", "")),
                            str(f.get("ErrorMessage", "")),
                        ),
                    )
                    for f in answer.get("UnprocessedFindings", [])
                ]
                # A finding imported moments ago may not be updatable yet: try those again.
                again = [i for i, r in left if r.code in UPDATE_RETRIED]
                if not again or attempt == UPDATE_ATTEMPTS - 1:
                    unprocessed += [r for _, r in left]
                    break
                unprocessed += [r for _, r in left if r.code not in UPDATE_RETRIED]
                batch = [dict(i) for i in again]
                try:
                    self._door.sleep(_backoff(attempt))
                except Cancelled:
                    error = _interrupted(UPDATE_ACTION, "not updated")
                    return UpdateAnswer(len(identifiers), processed, tuple(unprocessed), error)
        return UpdateAnswer(len(identifiers), processed, tuple(unprocessed))


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
    parts = arn.split(":") if isinstance(arn, str) else []
    return parts[4] if len(parts) > 5 and parts[4] else None


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


# -- the answers read: the contract with botocore's service models --------------------------------


@dataclass(frozen=True)
class ResponseField:
    """One field of an AWS answer this module reads, by its path through the operation's output
    shape (`Table.Replicas[].RegionName`). tests/test_service_contract.py checks each against the
    installed botocore model (it exists; nothing read first is retired or deprecated) and that
    every response key read here is declared."""

    service: str
    operation: str
    path: str
    fallback_for: str | None = None
    """The field this one stands in for, read only when that one is absent (`x.get("State") or
    x.get("Status")`): a retired field may be read this way, and only this way."""


_PITR_DESCRIPTION = "ContinuousBackupsDescription.PointInTimeRecoveryDescription"

RESPONSE_FIELDS: tuple[ResponseField, ...] = (
    ResponseField("dynamodb", "ListTables", "TableNames"),
    ResponseField("dynamodb", "ListTables", "LastEvaluatedTableName"),
    ResponseField("dynamodb", "DescribeTable", "Table.TableArn"),
    ResponseField("dynamodb", "DescribeTable", "Table.TableStatus"),
    ResponseField("dynamodb", "DescribeTable", "Table.DeletionProtectionEnabled"),
    ResponseField("dynamodb", "DescribeTable", "Table.Replicas[].RegionName"),
    ResponseField("dynamodb", "DescribeTable", "Table.Replicas[].ReplicaArn"),
    ResponseField("dynamodb", "DescribeTable", "Table.Replicas[].ReplicaStatus"),
    ResponseField(
        "dynamodb", "DescribeContinuousBackups", f"{_PITR_DESCRIPTION}.PointInTimeRecoveryStatus"
    ),
    ResponseField(
        "dynamodb", "DescribeContinuousBackups", f"{_PITR_DESCRIPTION}.RecoveryPeriodInDays"
    ),
    ResponseField("dynamodb", "UpdateTable", "TableDescription.DeletionProtectionEnabled"),
    ResponseField("dynamodb", "UpdateTable", "TableDescription.TableStatus"),
    ResponseField(
        "dynamodb", "UpdateContinuousBackups", f"{_PITR_DESCRIPTION}.PointInTimeRecoveryStatus"
    ),
    ResponseField(
        "dynamodb", "UpdateContinuousBackups", f"{_PITR_DESCRIPTION}.RecoveryPeriodInDays"
    ),
    ResponseField("sts", "GetCallerIdentity", "Account"),
    ResponseField("sts", "AssumeRole", "Credentials.AccessKeyId"),
    ResponseField("sts", "AssumeRole", "Credentials.SecretAccessKey"),
    ResponseField("sts", "AssumeRole", "Credentials.SessionToken"),
    ResponseField("sts", "AssumeRole", "Credentials.Expiration"),
    ResponseField("organizations", "ListAccounts", "Accounts[].Id"),
    ResponseField("organizations", "ListAccounts", "Accounts[].State"),
    # Retired on 2026-09-09 (botocore's Account documentation): only where State is absent.
    ResponseField("organizations", "ListAccounts", "Accounts[].Status", fallback_for="State"),
    ResponseField("organizations", "ListAccounts", "NextToken"),
    ResponseField("ec2", "DescribeRegions", "Regions[].RegionName"),
    ResponseField("ec2", "DescribeRegions", "Regions[].OptInStatus"),
    ResponseField("sns", "Publish", "MessageId"),
    ResponseField("sqs", "SendMessage", "MessageId"),
    ResponseField("securityhub", "BatchImportFindings", "SuccessCount"),
    ResponseField("securityhub", "BatchImportFindings", "FailedFindings[].Id"),
    ResponseField("securityhub", "BatchImportFindings", "FailedFindings[].ErrorCode"),
    ResponseField("securityhub", "BatchImportFindings", "FailedFindings[].ErrorMessage"),
    ResponseField("securityhub", "BatchUpdateFindings", "ProcessedFindings"),
    ResponseField(
        "securityhub", "BatchUpdateFindings", "UnprocessedFindings[].FindingIdentifier.Id"
    ),
    ResponseField("securityhub", "BatchUpdateFindings", "UnprocessedFindings[].ErrorCode"),
    ResponseField("securityhub", "BatchUpdateFindings", "UnprocessedFindings[].ErrorMessage"),
)

ERROR_KEYS = ("Error", "Code", "Message")
"""botocore's parsed error (`ClientError.response["Error"]`): the same for every service, in no
operation's output shape."""


__all__ = [
    "ACTIVE",
    "DEFAULT_FLEET_WORKERS",
    "DEFAULT_RATES",
    "DEFAULT_WORKERS",
    "ENABLED_REGION",
    "ERROR_KEYS",
    "IDENTITY_RATES",
    "IMPORT_ACTION",
    "IMPORT_BATCH",
    "NOT_SUBSCRIBED",
    "RECOVERY_PERIOD_BOTOCORE",
    "RESOLVED",
    "RESPONSE_FIELDS",
    "SECURITY_HUB_RATES",
    "UPDATE_ACTION",
    "UPDATE_ATTEMPTS",
    "UPDATE_BATCH",
    "UPDATE_RETRIED",
    "Account",
    "AccountCredentials",
    "CallFailed",
    "Cancelled",
    "ClientLimits",
    "Hardener",
    "Identity",
    "ImportAnswer",
    "NoSigningCredentials",
    "Pacer",
    "ProgressCallback",
    "PublishFailed",
    "Rejected",
    "ResponseField",
    "SecurityHub",
    "Settings",
    "SetupError",
    "SharedClients",
    "UpdateAnswer",
    "discovery_error",
    "dynamodb_client",
    "dynamodb_regions",
    "endpoint_url",
    "in_partition",
    "known_regions",
    "make_client",
    "make_security_hub",
    "make_session",
    "make_sns_client",
    "make_sqs_client",
    "publish",
    "require_recovery_period_model",
    "securityhub_client",
    "send_message",
    "session_region",
]
