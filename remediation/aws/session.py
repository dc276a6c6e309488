"""Settings, sessions, endpoints and client limits, and the one client factory (`_client`):
every client of every service is made there, with the same endpoint, limits and errors."""

from __future__ import annotations

import functools
import math
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
import botocore
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.credentials import Credentials as BotocoreCredentials
from botocore.exceptions import (
    BotoCoreError,
    DataNotFoundError,
    NoRegionError,
    ProfileNotFound,
)
from botocore.model import NoShapeFoundError, ServiceModel

from remediation.guardrail import TableGuardrail

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any
    Session = Any

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


class Deadline:
    """When a client stops retrying: a monotonic instant that its owner moves (the guard, once per
    invocation, to the time its function has left less the reserve). Until set, there is none."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._at = math.inf

    def set_in(self, seconds: float) -> None:
        self._at = self._clock() + seconds

    def left(self) -> float:
        return self._at - self._clock()


TIMEOUT_HALVINGS = 4
"""How often `ClientLimits.until` may halve an attempt's timeouts: a few sizes only, so the clients
a warm guard keeps for them stay few."""


@dataclass(frozen=True)
class ClientLimits:
    """How long one call of a client may take: connect and read timeouts, the retries botocore
    makes after the first attempt (its `max_attempts`), and, with a `deadline`, no retry that could
    end after it."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = MAX_ATTEMPTS
    deadline: Deadline | None = None
    """Retry what botocore retries (throttling, 5xx, a dropped connection) only while the backoff at
    its cap and one more attempt's timeouts end before it: fast failures are retried until then,
    and a slow one is not started when it could not finish."""

    def attempt(self) -> float:
        """Seconds one attempt may last: both timeouts."""
        return self.connect_timeout + self.read_timeout

    @classmethod
    def until(
        cls,
        deadline: Deadline,
        share: float,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
    ) -> ClientLimits:
        """Limits for calls that retry until `deadline`, each attempt's timeouts fitting in
        `share` seconds: halved until they fit, at most TIMEOUT_HALVINGS times."""
        for _ in range(TIMEOUT_HALVINGS):
            if connect_timeout + read_timeout <= share:
                break
            connect_timeout, read_timeout = connect_timeout / 2, read_timeout / 2
        return cls(connect_timeout, read_timeout, MAX_ATTEMPTS, deadline)

    def config(self, max_pool_connections: int = 10, **extra: Any) -> Config:
        return Config(
            retries={"mode": "standard", "max_attempts": self.retries},
            max_pool_connections=max_pool_connections,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            **extra,
        )


class SetupError(Exception):
    """The run cannot start or go on at all (credentials, profile, region, endpoint, discovery)."""


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


AccountCredentials = BotocoreCredentials
"""An account's credentials: the caller's own, or an assumed role's that refresh themselves."""


@dataclass(frozen=True)
class Settings:
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    workers: int = DEFAULT_WORKERS
    rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT
    limits: ClientLimits = field(default_factory=ClientLimits)
    guardrail: TableGuardrail | None = None
    """Under `harden --guardrail` (and in the guard): the table policy each Hardener reads, judges
    and puts; None when the guardrail is not asked for."""


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
    "iam": "IAM",
    "sns": "SNS",
    "sqs": "SQS",
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
        client = make(
            service, region_name=region, endpoint_url=url, config=_config(settings, **extra)
        )
    except NoRegionError:
        raise SetupError("no AWS region: pass --region or set AWS_REGION") from None
    except ValueError as exc:  # botocore rejects a malformed endpoint URL this way
        raise SetupError(f"invalid endpoint URL {url!r}: {exc}") from None
    except BotoCoreError as exc:
        raise SetupError(f"cannot load AWS credentials: {exc}") from None
    if settings.limits.deadline is not None:
        _retry_until(client, settings.limits, settings.limits.deadline)
    return client


def _retry_until(client: Any, limits: ClientLimits, deadline: Deadline) -> None:
    """Veto each retry botocore would make that could end after `deadline`."""

    def veto(attempts: int, **_: Any) -> bool | None:
        # Standard mode sleeps up to min(2 ** (attempts - 1), 20) s before the next attempt.
        backoff = min(2.0 ** (attempts - 1), BOTOCORE_MAX_BACKOFF)
        if deadline.left() < backoff + limits.attempt():
            return False  # not None: botocore's own handler, called after this one, is not heard
        return None

    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(f"needs-retry.{service}", veto)


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


def region_partition(region: str | None, profile: str | None) -> str:
    """The partition (aws, aws-cn, ...) of `region`, else of the profile's or environment's
    region, else aws's (botocore's endpoint data: no call, no credentials). Raises SetupError."""
    try:
        session = boto3.session.Session(profile_name=profile)
        partition: str = session.get_partition_for_region(
            region or session.region_name or "us-east-1"
        )
    except BotoCoreError as exc:  # an unknown region or profile
        raise SetupError(str(exc)) from None
    return partition


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


def partition_of(region: str) -> str:
    """The partition a region is in, from botocore's partition data (its region lists, then its
    region patterns): aws-cn, aws-us-gov, aws-eusc and the ISO partitions included."""
    for partition, regions, pattern in _partitions():
        if region in regions or pattern.match(region):
            return partition
    return "aws"


@functools.cache
def _partitions() -> tuple[tuple[str, frozenset[str], re.Pattern[str]], ...]:
    data = botocore.loaders.Loader().load_data("partitions")
    found = [
        (str(p["id"]), frozenset(p.get("regions", {})), re.compile(str(p["regionRegex"])))
        for p in data["partitions"]
    ]
    # Listed regions first, and the broad `aws` pattern last.
    return tuple(sorted(found, key=lambda entry: entry[0] == "aws"))
