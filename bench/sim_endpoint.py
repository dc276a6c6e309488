"""A simulated DynamoDB control plane on loopback: tables in memory, a set latency, AWS's quotas.

moto answers about 250 calls a second, so a benchmark against it measures moto. This answers the
five calls the hardener makes from memory, sleeps a set latency per call (each connection on its
own thread, so concurrent calls overlap as they do against AWS), and enforces AWS's quotas with
server-side token buckets, answering ThrottlingException beyond them, as DynamoDB does.

Every (account, region) is a separate place with its own tables and its own quotas, as in AWS: the
region is the one the request is signed for, the account the one its access key belongs to (the
state passed in is 123456789012's, in its `region`). STS answers AssumeRole (credentials that act in
the role's account) and GetCallerIdentity, and EC2 DescribeRegions (17 regions enabled), after the
same latency, so a fleet run can be measured.

Quotas, per account and region, each multiplied by `scale` (a benchmark at scale 10 runs ten times
faster and its quota floor is ten times lower; the ratio to the floor is unchanged):

- DescribeContinuousBackups: 10 calls/s, documented in the API reference ("You can call
  DescribeContinuousBackups at a maximum rate of 10 times per second").
- The control plane as a whole (all five operations): 2,500 calls/s.
- UpdateTable: at most 500 table updates in flight. DynamoDB answers LimitExceededException there,
  not ThrottlingException, and so does this. A call is in flight from its arrival until its answer
  plus `update_seconds` (0 by default: DynamoDB applies deletion protection at once).
- UpdateContinuousBackups: no documented per-operation rate, so only the control-plane quota by
  default; add one with `quotas={"UpdateContinuousBackups": 10}` (`--quota` on the command line).
- GetResourcePolicy, PutResourcePolicy: no documented per-operation rate either (only the control
  plane's); a table's policy is blocked for 15 s (divided by `scale`) after each successful put,
  answered ResourceInUseException, and ExpectedRevisionId and the 20 KB limit are enforced.

Each bucket holds `burst_seconds` (1 s) of its rate and starts full, like an idle AWS account; a
client that spends the whole burst at start and then paces at the full rate gets throttled by a
bucket that a previous run has partly drained. `reset()` refills every bucket.

Admin paths: GET /_sim/stats, GET /_sim/tables, POST /_sim/reset, POST /_sim/seed
{"n": 1000, "prefix": "sentinel-", "protected_fraction": 0.5, "account": ..., "region": ...}
(stats, tables and reset are the default place's; `SimEndpoint.place(account, region)` in process).

    python -m bench.sim_endpoint --port 8123 --latency-ms 20 --scale 10 --seed 1000
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Final
from urllib.parse import parse_qs

__all__ = [
    "CONTROL_PLANE_RATE",
    "DEFAULT_QUOTAS",
    "DEFAULT_REGIONS",
    "OPERATIONS",
    "UPDATES_IN_FLIGHT",
    "SimEndpoint",
    "SimState",
    "TokenBucket",
    "client_env",
    "main",
]

TARGET_PREFIX: Final = "DynamoDB_20120810."
ACCOUNT_ID: Final = "123456789012"
OPERATIONS: Final = (
    "ListTables",
    "DescribeTable",
    "DescribeContinuousBackups",
    "UpdateTable",
    "UpdateContinuousBackups",
    "GetResourcePolicy",
    "PutResourcePolicy",
)
DEFAULT_QUOTAS: Final[Mapping[str, float]] = {"DescribeContinuousBackups": 10.0}
CONTROL_PLANE_RATE: Final = 2500.0
UPDATES_IN_FLIGHT: Final = 500
LIST_TABLES_PAGE: Final = 100
POLICY_BLOCK_SECONDS: Final = 15.0
"""DynamoDB blocks a table's policy for 15 s after each successful update (scaled like quotas)."""
POLICY_MAX_BYTES: Final = 20 * 1024
DEFAULT_REGIONS: Final = (
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)
"""The 17 regions AWS enables for every account; the others are opt-in."""
OPT_IN_REGIONS: Final = ("af-south-1", "ap-east-1", "ap-south-2", "eu-south-1", "me-south-1")

_DYNAMODB: Final = "com.amazonaws.dynamodb.v20120810"
_CORAL_AVAILABILITY: Final = "com.amazon.coral.availability"  # where ThrottlingException lives


class _Reject(Exception):
    """An error answer: HTTP 400 with DynamoDB's JSON error body."""

    def __init__(self, code: str, message: str, type_prefix: str = _DYNAMODB) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.type_prefix = type_prefix

    def body(self) -> dict[str, str]:
        return {"__type": f"{self.type_prefix}#{self.code}", "message": self.message}


class TokenBucket:
    """`rate` tokens a second, holding at most `capacity`; starts full."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self._tokens = capacity
        self._stamp = time.monotonic()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def has_token(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= 1.0

    def take(self) -> None:
        self._tokens -= 1.0

    def fill(self) -> None:
        self._tokens = self.capacity
        self._stamp = time.monotonic()


@dataclass
class _Table:
    name: str
    arn: str
    table_id: str
    created: float
    deletion_protection: bool
    pitr: bool
    updating_until: float = 0.0
    policy: str | None = None
    revision: int = 0
    policy_blocked_until: float = 0.0


@dataclass
class _OpStats:
    calls: int = 0
    throttled: int = 0
    limit_exceeded: int = 0
    errors: int = 0  # other error answers: not found, validation

    def as_dict(self) -> dict[str, int]:
        return {
            "calls": self.calls,
            "throttled": self.throttled,
            "limit_exceeded": self.limit_exceeded,
            "errors": self.errors,
        }


@dataclass
class SimState:
    """The account: tables, quotas and counters; `answer()` is one call, without the latency."""

    scale: float = 1.0
    quotas: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_QUOTAS))
    control_plane_rate: float = CONTROL_PLANE_RATE
    updates_in_flight: int = UPDATES_IN_FLIGHT
    update_seconds: float = 0.0
    burst_seconds: float = 1.0
    region: str = "us-east-1"
    account: str = ACCOUNT_ID

    def __post_init__(self) -> None:
        unknown = set(self.quotas) - set(OPERATIONS)
        if unknown:
            raise ValueError(f"quotas for operations the simulation does not serve: {unknown}")
        self._lock = threading.Lock()
        self._tables: dict[str, _Table] = {}
        self._order: list[str] = []
        self._position: dict[str, int] = {}
        self._buckets = {
            op: TokenBucket(rate * self.scale, max(1.0, rate * self.scale * self.burst_seconds))
            for op, rate in self.quotas.items()
        }
        plane = self.control_plane_rate * self.scale
        self._plane = TokenBucket(plane, max(1.0, plane * self.burst_seconds))
        self._update_limit = max(1, round(self.updates_in_flight * self.scale))
        self._in_flight: list[float] = []  # heap of the times the updates in flight end
        self._stats = {op: _OpStats() for op in OPERATIONS}
        self._concurrent = 0
        self._peak_concurrent = 0
        self._started = time.monotonic()

    # ---- admin -----------------------------------------------------------------------------

    def seed(
        self,
        n: int,
        prefix: str = "sentinel-",
        protected_fraction: float = 0.0,
        *,
        deletion_protection_fraction: float | None = None,
        pitr_fraction: float | None = None,
        append: bool = False,
    ) -> list[str]:
        """Create `n` tables `<prefix>0000`... in that order; spread the protected ones evenly.

        `protected_fraction` of the tables have both protections, unless a per-protection fraction
        is given. Without `append`, every existing table is dropped first.
        """
        if n < 0:
            raise ValueError("n must not be negative")
        dp = (
            protected_fraction
            if deletion_protection_fraction is None
            else (deletion_protection_fraction)
        )
        pitr = protected_fraction if pitr_fraction is None else pitr_fraction
        width = max(4, len(str(max(n - 1, 0))))
        names = [f"{prefix}{i:0{width}d}" for i in range(n)]
        now = time.time()
        with self._lock:
            if not append:
                self._tables.clear()
                self._order.clear()
                self._position.clear()
            for i, name in enumerate(names):
                if name in self._tables:
                    raise ValueError(f"table {name} exists already")
                self._position[name] = len(self._order)
                self._order.append(name)
                self._tables[name] = _Table(
                    name=name,
                    arn=f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}",
                    table_id=str(uuid.uuid4()),
                    created=now,
                    deletion_protection=_spread(i, dp),
                    pitr=_spread(i, pitr),
                )
        return names

    def reset(self) -> None:
        """Zero the counters and refill every bucket; the tables stay as they are."""
        with self._lock:
            for bucket in (*self._buckets.values(), self._plane):
                bucket.fill()
            self._in_flight.clear()
            self._stats = {op: _OpStats() for op in OPERATIONS}
            self._peak_concurrent = self._concurrent
            self._started = time.monotonic()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            operations = {op: s.as_dict() for op, s in self._stats.items()}
            tables = list(self._tables.values())
            peak = self._peak_concurrent
            elapsed = time.monotonic() - self._started
        totals = {
            key: sum(s[key] for s in operations.values())
            for key in ("calls", "throttled", "limit_exceeded", "errors")
        }
        return {
            "operations": operations,
            "totals": totals,
            "tables": {
                "count": len(tables),
                "deletion_protection": sum(t.deletion_protection for t in tables),
                "pitr": sum(t.pitr for t in tables),
            },
            "peak_concurrent": peak,
            "seconds_since_reset": round(elapsed, 3),
            "quotas": {
                "per_operation": {op: b.rate for op, b in self._buckets.items()},
                "control_plane": self._plane.rate,
                "updates_in_flight": self._update_limit,
            },
        }

    def with_policy(self) -> int:
        """How many tables have a resource policy."""
        with self._lock:
            return sum(t.policy is not None for t in self._tables.values())

    def tables(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "name": t.name,
                    "deletion_protection": t.deletion_protection,
                    "pitr": t.pitr,
                }
                for t in (self._tables[name] for name in self._order)
            ]

    # ---- one call --------------------------------------------------------------------------

    def enter(self) -> None:
        with self._lock:
            self._concurrent += 1
            self._peak_concurrent = max(self._peak_concurrent, self._concurrent)

    def leave(self) -> None:
        with self._lock:
            self._concurrent -= 1

    def admit(self, operation: str, latency: float) -> None:
        """Count the call and spend its tokens, or raise the throttle DynamoDB would answer."""
        now = time.monotonic()
        with self._lock:
            stats = self._stats.get(operation)
            if stats is None:
                raise _Reject(
                    "UnknownOperationException",
                    f"unknown operation {operation}",
                    "com.amazon.coral.service",
                )
            stats.calls += 1
            bucket = self._buckets.get(operation)
            if not self._plane.has_token(now) or (bucket and not bucket.has_token(now)):
                stats.throttled += 1
                raise _Reject(
                    "ThrottlingException",
                    "Rate of requests exceeds the allowed throughput.",
                    _CORAL_AVAILABILITY,
                )
            if operation == "UpdateTable":
                while self._in_flight and self._in_flight[0] <= now:
                    heapq.heappop(self._in_flight)
                if len(self._in_flight) >= self._update_limit:
                    stats.limit_exceeded += 1
                    raise _Reject(
                        "LimitExceededException",
                        f"Subscriber limit exceeded: only {self._update_limit} tables can be "
                        "created, updated or deleted simultaneously",
                    )
                heapq.heappush(self._in_flight, now + latency + self.update_seconds)
            self._plane.take()
            if bucket:
                bucket.take()

    def answer(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        try:
            with self._lock:
                return _HANDLERS[operation](self, request)
        except _Reject:
            with self._lock:
                self._stats[operation].errors += 1
            raise

    # Handlers below run under self._lock.

    def _table(self, request: Mapping[str, Any], missing: str) -> _Table:
        name = request.get("TableName")
        if not isinstance(name, str) or not name:
            raise _Reject("ValidationException", "TableName is required")
        if name.startswith("arn:") and ":table/" in name:
            name = name.split(":table/", 1)[1]
        table = self._tables.get(name)
        if table is None:
            if missing == "TableNotFoundException":
                raise _Reject(missing, f"Table not found: {name}")
            raise _Reject(missing, f"Requested resource not found: Table: {name} not found")
        return table

    def _list_tables(self, request: Mapping[str, Any]) -> dict[str, Any]:
        limit = request.get("Limit", LIST_TABLES_PAGE)
        if not isinstance(limit, int) or not 1 <= limit <= LIST_TABLES_PAGE:
            raise _Reject(
                "ValidationException",
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                "constraint: Member must have value less than or equal to 100",
            )
        start_after = request.get("ExclusiveStartTableName")
        start = 0
        if isinstance(start_after, str):
            position = self._position.get(start_after)
            # Like moto: an unknown start name is past the end.
            start = len(self._order) if position is None else position + 1
        names = self._order[start : start + limit]
        page: dict[str, Any] = {"TableNames": names}
        if start + limit < len(self._order):
            page["LastEvaluatedTableName"] = names[-1]
        return page

    def _describe_table(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return {"Table": self._description(self._table(request, "ResourceNotFoundException"))}

    def _update_table(self, request: Mapping[str, Any]) -> dict[str, Any]:
        table = self._table(request, "ResourceNotFoundException")
        extra = set(request) - {"TableName", "DeletionProtectionEnabled"}
        enabled = request.get("DeletionProtectionEnabled")
        if extra or not isinstance(enabled, bool):
            # The hardener must change nothing else; the simulation refuses what it cannot check.
            raise _Reject(
                "ValidationException",
                "simulation: UpdateTable takes only DeletionProtectionEnabled, "
                f"got {sorted(request)}",
            )
        if time.monotonic() < table.updating_until:
            raise _Reject(
                "ResourceInUseException",
                f"Attempt to change a resource which is still in use: Table is being updated: "
                f"{table.name}",
            )
        table.deletion_protection = enabled
        if self.update_seconds:
            table.updating_until = time.monotonic() + self.update_seconds
        return {"TableDescription": self._description(table)}

    def _describe_continuous_backups(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return _backups(self._table(request, "TableNotFoundException"))

    def _update_continuous_backups(self, request: Mapping[str, Any]) -> dict[str, Any]:
        table = self._table(request, "TableNotFoundException")
        specification = request.get("PointInTimeRecoverySpecification")
        enabled = (
            specification.get("PointInTimeRecoveryEnabled")
            if isinstance(specification, dict)
            else None
        )
        if not isinstance(enabled, bool):
            raise _Reject(
                "ValidationException",
                "PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled is required",
            )
        table.pitr = enabled
        return _backups(table)

    def _policy_table(self, request: Mapping[str, Any]) -> _Table:
        arn = request.get("ResourceArn")
        if not isinstance(arn, str) or ":table/" not in arn:
            raise _Reject("ValidationException", "ResourceArn is required")
        return self._table({"TableName": arn}, "ResourceNotFoundException")

    def _get_resource_policy(self, request: Mapping[str, Any]) -> dict[str, Any]:
        table = self._policy_table(request)
        if table.policy is None:
            raise _Reject(
                "PolicyNotFoundException", f"Resource-based policy not found: {table.arn}"
            )
        return {"Policy": table.policy, "RevisionId": str(table.revision)}

    def _put_resource_policy(self, request: Mapping[str, Any]) -> dict[str, Any]:
        table = self._policy_table(request)
        policy = request.get("Policy")
        if not isinstance(policy, str) or len(policy.encode()) > POLICY_MAX_BYTES:
            raise _Reject("ValidationException", "Policy is missing or over 20 KB")
        expected = request.get("ExpectedRevisionId")
        current = "NO_POLICY" if table.policy is None else str(table.revision)
        if expected is not None and expected != current:
            raise _Reject("PolicyNotFoundException", f"revision {current}, not {expected}")
        now = time.monotonic()
        if now < table.policy_blocked_until:
            raise _Reject(
                "ResourceInUseException",
                "Attempt to change a resource which is still in use: a policy update is in "
                "progress",
            )
        table.policy = policy
        table.revision += 1
        table.policy_blocked_until = now + POLICY_BLOCK_SECONDS / self.scale
        return {"RevisionId": str(table.revision)}

    def _description(self, table: _Table) -> dict[str, Any]:
        updating = time.monotonic() < table.updating_until
        return {
            "TableName": table.name,
            "TableArn": table.arn,
            "TableId": table.table_id,
            "TableStatus": "UPDATING" if updating else "ACTIVE",
            "CreationDateTime": table.created,
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "ProvisionedThroughput": {
                "NumberOfDecreasesToday": 0,
                "ReadCapacityUnits": 0,
                "WriteCapacityUnits": 0,
            },
            "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
            "TableSizeBytes": 0,
            "ItemCount": 0,
            "DeletionProtectionEnabled": table.deletion_protection,
        }


_HANDLERS: Final = {
    "ListTables": SimState._list_tables,
    "DescribeTable": SimState._describe_table,
    "DescribeContinuousBackups": SimState._describe_continuous_backups,
    "UpdateTable": SimState._update_table,
    "UpdateContinuousBackups": SimState._update_continuous_backups,
    "GetResourcePolicy": SimState._get_resource_policy,
    "PutResourcePolicy": SimState._put_resource_policy,
}


def _backups(table: _Table) -> dict[str, Any]:
    recovery: dict[str, Any] = {
        "PointInTimeRecoveryStatus": "ENABLED" if table.pitr else "DISABLED"
    }
    if table.pitr:
        now = time.time()
        recovery.update(
            EarliestRestorableDateTime=table.created,
            LatestRestorableDateTime=now - 300,
            RecoveryPeriodInDays=35,
        )
    return {
        "ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": recovery,
        }
    }


def _spread(index: int, fraction: float) -> bool:
    """True for `fraction` of indexes, spread evenly (deterministic, unlike random choice)."""
    return int((index + 1) * fraction) > int(index * fraction)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the CLI opens ~32 connections at once; the default backlog is 5


class SimEndpoint:
    """The simulation served on 127.0.0.1; use as a context manager, or `serve_forever()`."""

    def __init__(self, state: SimState | None = None, *, latency: float = 0.02, port: int = 0):
        self.state = state if state is not None else SimState()
        self._places: dict[tuple[str, str], SimState] = {
            (self.state.account, self.state.region): self.state
        }
        self._places_lock = threading.Lock()
        self.latency = latency
        self._server = _Server(("127.0.0.1", port), _make_handler(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SimEndpoint:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="sim-endpoint", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.1)

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> SimEndpoint:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # The request path, on the connection's handler thread.

    def place(self, account: str = ACCOUNT_ID, region: str | None = None) -> SimState:
        """The tables and quotas of one account in one region, made on first use like the
        default place (same scale, quotas and latency rules), with no tables."""
        key = (account, region or self.state.region)
        with self._places_lock:
            found = self._places.get(key)
            if found is None:
                base = self.state
                found = SimState(
                    scale=base.scale,
                    quotas=dict(base.quotas),
                    control_plane_rate=base.control_plane_rate,
                    updates_in_flight=base.updates_in_flight,
                    update_seconds=base.update_seconds,
                    burst_seconds=base.burst_seconds,
                    region=key[1],
                    account=account,
                )
                self._places[key] = found
            return found

    def places(self) -> dict[tuple[str, str], SimState]:
        with self._places_lock:
            return dict(self._places)

    def call(
        self, operation: str, request: Mapping[str, Any], where: SimState | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One DynamoDB call: admission, the latency, then the answer."""
        state = where if where is not None else self.state
        state.enter()
        try:
            try:
                state.admit(operation, self.latency)
            except _Reject as rejected:
                # A throttled call still crosses the network.
                time.sleep(self.latency)
                return 400, rejected.body()
            time.sleep(self.latency)
            try:
                return 200, state.answer(operation, request)
            except _Reject as rejected:
                return 400, rejected.body()
        finally:
            state.leave()

    def sts(self, form: Mapping[str, str], caller: str) -> tuple[int, str]:
        """STS in its query protocol: AssumeRole into any account, GetCallerIdentity."""
        time.sleep(self.latency)
        action = form.get("Action")
        request_id = uuid.uuid4()
        if action == "GetCallerIdentity":
            result = (
                f"<Arn>arn:aws:iam::{caller}:user/sim</Arn><UserId>AIDASIM</UserId>"
                f"<Account>{caller}</Account>"
            )
        elif action == "DescribeRegions":
            # EC2's answer with AllRegions: AWS's 17 regions enabled by default, the opt-in
            # ones not (an account that enabled none).
            items = "".join(
                f"<item><regionName>{region}</regionName><optInStatus>"
                f"{'opt-in-not-required' if region in DEFAULT_REGIONS else 'not-opted-in'}"
                "</optInStatus></item>"
                for region in (*DEFAULT_REGIONS, *OPT_IN_REGIONS)
            )
            document = (
                '<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
                f"<requestId>{request_id}</requestId><regionInfo>{items}</regionInfo>"
                "</DescribeRegionsResponse>"
            )
            return 200, document
        elif action == "AssumeRole" and _ROLE_ACCOUNT.match(form.get("RoleArn", "")):
            account = form["RoleArn"].split(":")[4]
            session = form.get("RoleSessionName", "sim")
            key = f"ASIA{account}{uuid.uuid4().hex[:4].upper()}"
            result = (
                f"<Credentials><AccessKeyId>{key}</AccessKeyId>"
                "<SecretAccessKey>sim-secret</SecretAccessKey><SessionToken>sim-token</SessionToken>"
                "<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>"
                f"<AssumedRoleUser><AssumedRoleId>AROASIM:{session}</AssumedRoleId>"
                f"<Arn>arn:aws:sts::{account}:assumed-role/sim/{session}</Arn></AssumedRoleUser>"
            )
        else:
            error = (
                "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code>"
                f"<Message>simulation: no STS action {action}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>"
            )
            return 400, error
        document = (
            f'<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<{action}Result>{result}</{action}Result>"
            f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
            f"</{action}Response>"
        )
        return 200, document

    def admin(self, method: str, path: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        if method == "GET" and path == "/_sim/stats":
            return 200, self.state.stats()
        if method == "GET" and path == "/_sim/tables":
            return 200, self.state.tables()
        if method == "POST" and path == "/_sim/reset":
            self.state.reset()
            return 200, self.state.stats()
        if method == "POST" and path == "/_sim/seed":
            try:
                where = self.place(str(body.get("account", ACCOUNT_ID)), body.get("region"))
                names = where.seed(
                    int(body.get("n", 0)),
                    str(body.get("prefix", "sentinel-")),
                    float(body.get("protected_fraction", 0.0)),
                    deletion_protection_fraction=_optional_float(
                        body.get("deletion_protection_fraction")
                    ),
                    pitr_fraction=_optional_float(body.get("pitr_fraction")),
                    append=bool(body.get("append", False)),
                )
            except (TypeError, ValueError) as error:
                return 400, {"error": str(error)}
            return 200, {"tables": len(names)}
        return 404, {"error": f"no admin path {method} {path}"}


def _optional_float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float | str):
        return float(value)
    raise ValueError(f"not a number: {value!r}")


def _make_handler(endpoint: SimEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: botocore pools its connections
        disable_nagle_algorithm = True  # header and body are separate writes
        timeout = 60

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return json.loads(raw) if raw else {}
            except ValueError:
                return None

        def _send(self, status: int, document: Any, content_type: str) -> None:
            content = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            self.send_header("x-amzn-RequestId", uuid.uuid4().hex.upper())
            self.send_header("x-amz-crc32", str(zlib.crc32(content) & 0xFFFFFFFF))
            self.end_headers()
            self.wfile.write(content)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = None
            account, region = _signer(self.headers.get("Authorization", ""))
            if self.path.startswith("/_sim/"):
                status, document = endpoint.admin("POST", self.path, body or {})
                self._send(status, document, "application/json")
                return
            target = self.headers.get("X-Amz-Target", "")
            if not target and body is None:
                form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
                status, text = endpoint.sts(form, account)
                self._send_text(status, text)
                return
            if not target.startswith(TARGET_PREFIX) or not isinstance(body, dict):
                error = _Reject("SerializationException", "not a DynamoDB JSON 1.0 request")
                self._send(400, error.body(), "application/x-amz-json-1.0")
                return
            where = endpoint.place(account, region)
            status, document = endpoint.call(target.removeprefix(TARGET_PREFIX), body, where)
            self._send(status, document, "application/x-amz-json-1.0")

        def _send_text(self, status: int, text: str) -> None:
            content = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(content)))
            self.send_header("x-amzn-RequestId", uuid.uuid4().hex.upper())
            self.end_headers()
            self.wfile.write(content)

        def do_GET(self) -> None:
            status, document = endpoint.admin("GET", self.path, {})
            self._send(status, document, "application/json")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


_ROLE_ACCOUNT: Final = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/")
_CREDENTIAL: Final = re.compile(r"Credential=([^/]+)/\d{8}/([a-z0-9-]+)/")


def _signer(authorization: str) -> tuple[str, str | None]:
    """(account, region) of a SigV4-signed request: the sim's AssumeRole keys carry the
    account (ASIA + 12 digits); any other key is the default account's."""
    match = _CREDENTIAL.search(authorization)
    if match is None:
        return ACCOUNT_ID, None
    key, region = match.groups()
    account = key[4:16] if key.startswith("ASIA") and key[4:16].isdigit() else ACCOUNT_ID
    return account, region


def _quota(text: str) -> tuple[str, float]:
    operation, _, rate = text.partition("=")
    if operation not in OPERATIONS or not rate:
        raise argparse.ArgumentTypeError(f"expected OPERATION=PER_SECOND, got {text!r}")
    return operation, float(rate)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sim_endpoint", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every quota")
    parser.add_argument(
        "--quota",
        type=_quota,
        action="append",
        default=[],
        metavar="OPERATION=PER_SECOND",
        help="a per-operation quota at scale 1 (default: DescribeContinuousBackups=10)",
    )
    parser.add_argument("--update-seconds", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="create N tables")
    parser.add_argument("--prefix", default="sentinel-")
    parser.add_argument("--protected-fraction", type=float, default=0.0)
    args = parser.parse_args(argv)

    quotas = {**DEFAULT_QUOTAS, **dict(args.quota)}
    state = SimState(scale=args.scale, quotas=quotas, update_seconds=args.update_seconds)
    if args.seed:
        state.seed(args.seed, args.prefix, args.protected_fraction)
    endpoint = SimEndpoint(state, latency=args.latency_ms / 1000, port=args.port)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(endpoint.url, flush=True)  # the first line of stdout is the URL, for a parent process
    with contextlib.suppress(KeyboardInterrupt):
        endpoint.serve_forever()
    endpoint.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())


def client_env(url: str) -> dict[str, str]:
    """The environment of a CLI run against the endpoint at `url`: every service there, dummy
    keys, and none of the caller's own AWS settings or files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env
