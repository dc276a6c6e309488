"""A fault-injecting HTTP proxy on loopback, in front of moto_server, for DynamoDB's JSON protocol.

The code under test reaches it through AWS_ENDPOINT_URL unchanged, so botocore's real parser,
CRC32 check and retry handlers see every injected fault exactly as they would see DynamoDB's own.
Whatever no rule answers is forwarded to the backend byte for byte.

    with FaultProxy(moto.url) as proxy:
        proxy.fail("UpdateTable", "AccessDeniedException", tables=["sentinel-a"], times=None)
        proxy.report_updating("sentinel-b", calls=2)
        proxy.on_call("UpdateTable", lambda call: drop(call.backend_url, call.table), table="t")
        proxy.fail("ListTables", "UnrecognizedClientException", regions=["ap-east-1"], times=None)
        proxy.fail("sts:AssumeRole", "AccessDenied", tables=[role_arn])  # keyed by RoleArn
        proxy.show_replicas(table_arn, ["eu-west-1"])  # DescribeTable lists global replicas
        proxy.rewrite_answer("UpdateTable", lambda answer: answer.clear(), table="sentinel-c")
        proxy.rewrite_answer("organizations:ListAccounts", drop_status)  # JSON answers too
        proxy.expire_assumed_credentials(after=2.0)  # AssumeRole's keys die 2 s after issue
        ...run the CLI with aws_env(proxy.url)...
        assert proxy.calls("DescribeTable", "sentinel-a") == 1

Security Hub CSPM (REST-JSON) is counted and faulted like the others, and three of AWS's rules that
moto lacks stand in front of moto's store: BatchImportFindings of an existing finding keeps its
stored Workflow, BatchUpdateFindings (which moto does not implement) is applied to moto's store and
answered in AWS's shape, and GetFindings' Filters (which moto ignores) are applied to what moto
holds. See `FaultProxy._keep_workflow`, `_update_findings` and `_get_findings`. AWS's answer for
an account that has not enabled Security Hub CSPM comes whole-call (REST_ERRORS'
InvalidAccessException) or per finding (`refuse_each_finding(NOT_SUBSCRIBED_FINDING)`).
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import json
import re
import socket
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "ERRORS",
    "FORWARDED",
    "ORGANIZATIONS_ERRORS",
    "POLICY_UPDATE_BLOCKED",
    "QUERY_ERRORS",
    "REST_ERRORS",
    "AnswerEdit",
    "AnswerRewrite",
    "Call",
    "CallRecord",
    "ErrorShape",
    "FaultProxy",
    "Hook",
    "HookRegistration",
    "Rule",
    "UpdatingWindow",
    "web_page",
]

TARGET_PREFIX: Final = "DynamoDB_20120810."
_ORGANIZATIONS_PREFIX: Final = "AWSOrganizationsV20161128."
_SQS_PREFIX: Final = "AmazonSQS."  # SQS's JSON protocol; the call is keyed by its QueueUrl
ACCOUNT_ID: Final = "123456789012"  # moto's default account, so ARNs in messages match moto's
FORWARDED: Final = "forwarded"
BACKEND_ERROR: Final = "BackendError"

# Hop-by-hop headers belong to one connection, never to the message (RFC 9110 section 7.6.1).
_HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
_REGION_IN_CREDENTIAL: Final = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
_SERVICE_IN_CREDENTIAL: Final = re.compile(r"Credential=[^/]+/\d{8}/[a-z0-9-]+/([a-z0-9-]+)/")


@dataclass(frozen=True)
class ErrorShape:
    """An error as DynamoDB sends it: `__type` is `<prefix>#<code>`, text under `message_key`.

    `message` may use {operation}, {table} and {arn}.
    """

    code: str
    type_prefix: str
    message: str
    status: int = 400
    message_key: str = "message"
    query: bool = False
    """An STS-style (query protocol) error: an XML ErrorResponse instead of JSON."""
    content_type: str | None = None
    """Set for an answer that is not AWS's at all (an HTML page): `message` is sent as it is."""

    def body(self, operation: str, table: str | None, arn: str) -> bytes:
        if self.content_type is not None:
            return self.message.encode()
        text = self.message.format(operation=operation, table=table or "", arn=arn)
        if self.query:
            return (
                '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
                f"<Type>Sender</Type><Code>{self.code}</Code><Message>{text}</Message>"
                f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
            ).encode()
        document = {"__type": f"{self.type_prefix}#{self.code}", self.message_key: text}
        return json.dumps(document).encode()


_DYNAMODB: Final = "com.amazonaws.dynamodb.v20120810"

# Status codes and `__type` prefixes as DynamoDB sends them. botocore's JSON parser keeps what
# follows the last '#', so the codes are what `ClientError.response["Error"]["Code"]` shows; its
# standard retry mode treats ThrottlingException and LimitExceededException as throttling (retried),
# legacy mode retries ThrottlingException only. Nothing else here is retried by botocore.
ERRORS: Final[dict[str, ErrorShape]] = {
    shape.code: shape
    for shape in (
        ErrorShape(
            "ThrottlingException",
            "com.amazon.coral.availability",
            "Rate of requests exceeds the allowed throughput.",
        ),
        ErrorShape(
            "AccessDeniedException",
            "com.amazon.coral.service",
            f"User: arn:aws:iam::{ACCOUNT_ID}:user/x is not authorized to perform: "
            "dynamodb:{operation} on resource: {arn} because no identity-based policy allows "
            "the dynamodb:{operation} action",
            message_key="Message",
        ),
        ErrorShape(
            "ResourceInUseException",
            _DYNAMODB,
            "Attempt to change a resource which is still in use: Table is being updated: {table}",
        ),
        ErrorShape(
            "ContinuousBackupsUnavailableException",
            _DYNAMODB,
            "Backups are being enabled for the table: {table}. Please retry later",
        ),
        ErrorShape(
            "LimitExceededException",
            _DYNAMODB,
            "Too many tables are being created, updated or deleted at once: "
            "the limit is 500 in CREATING, UPDATING or DELETING state",
        ),
        ErrorShape(
            "ResourceNotFoundException",
            _DYNAMODB,
            "Requested resource not found: Table: {table} not found",
        ),
        ErrorShape("TableNotFoundException", _DYNAMODB, "Table not found: {table}"),
        # What an opt-in region that is not enabled for the account answers to any call.
        ErrorShape(
            "UnrecognizedClientException",
            "com.amazon.coral.service",
            "The security token included in the request is invalid.",
        ),
        # What any service answers to temporary credentials past their Expiration.
        ErrorShape(
            "ExpiredTokenException",
            "com.amazon.coral.service",
            "The security token included in the request is expired",
        ),
    )
}

POLICY_UPDATE_BLOCKED: Final = ErrorShape(
    "ResourceInUseException",
    _DYNAMODB,
    "Attempt to change a resource which is still in use: a resource-based policy update is "
    "already in progress for {arn}",
)
"""DynamoDB's answer to a policy update on a table within 15 seconds of the last one. AWS
documents the block ("Subsequent updates to a policy for a given resource are blocked for 15
seconds after a successful update", developer guide, "Resource-based policy considerations") and
PutResourcePolicy's and DeleteResourcePolicy's models list ResourceInUseException ("you tried to
update a resource that was already being updated"); AWS publishes no wording of the message, so
the text here is ours. `FaultProxy.block_policy_updates` sends it."""

_POLICY_WRITES: Final = frozenset({"PutResourcePolicy", "DeleteResourcePolicy"})

# Security Hub's errors (REST-JSON): botocore reads the code from `__type` as from DynamoDB's.
REST_ERRORS: Final[dict[str, ErrorShape]] = {
    shape.code: shape
    for shape in (
        ErrorShape(
            "InvalidAccessException",
            "com.amazonaws.securityhub",
            f"Account {ACCOUNT_ID} is not subscribed to AWS Security Hub",
            status=401,
            message_key="Message",
        ),
        ErrorShape(
            "TooManyRequestsException",
            "com.amazonaws.securityhub",
            "Rate exceeded",
            status=429,
            message_key="Message",
        ),
        # IAM's denial, as Security Hub's front door answers it (403; {operation} is
        # securityhub:<Operation>).
        ErrorShape(
            "AccessDeniedException",
            "com.amazonaws.securityhub",
            f"User: arn:aws:iam::{ACCOUNT_ID}:user/x is not authorized to perform: {{operation}} "
            "because no identity-based policy allows the {operation} action",
            status=403,
            message_key="Message",
        ),
    )
}
NOT_SUBSCRIBED_FINDING: Final = (
    "InvalidAccess",
    f"Account {ACCOUNT_ID} is not subscribed to AWS Security Hub",
)
"""A FailedFindings entry's ErrorCode and ErrorMessage when the account has not enabled Security
Hub CSPM in the region (user guide, "Using BatchImportFindings to create and update findings")."""
_IMPORT_FINDINGS: Final = "securityhub:BatchImportFindings"
_UPDATE_FINDINGS: Final = "securityhub:BatchUpdateFindings"
_GET_FINDINGS: Final = "securityhub:GetFindings"
_REST_OPERATIONS: Final = {
    ("POST", "/findings/import"): _IMPORT_FINDINGS,
    ("PATCH", "/findings/batchupdate"): _UPDATE_FINDINGS,
    ("POST", "/findings"): _GET_FINDINGS,
}
"""REST-JSON calls counted and faulted like STS's: (method, path) -> operation."""
_LEFT_PASSED: Final = frozenset({"FAILED", "WARNING", "NOT_AVAILABLE"})
"""Compliance statuses that, after PASSED, make Security Hub reopen a NOTIFIED or RESOLVED
finding."""


def web_page(status: int) -> ErrorShape:
    """What a proxy or captive portal in the way answers instead of AWS: an HTML page, with
    `status` (200 for a portal's login page, 403 for a blocked site, 502 for an unknown host)."""
    page = (
        "<!DOCTYPE html>\n<html><head><title>Access blocked</title></head>\n"
        "<body><h1>This site is blocked by your network's proxy</h1>\n"
        "<p>Contact your administrator.</p></body></html>\n"
    )
    return ErrorShape(f"HTML{status}", "", page, status=status, content_type="text/html")


def stranger(status: int, content_type: str, body: str) -> ErrorShape:
    """Any other answer that is not AWS's: a block page in plain text, an empty JSON object from
    a mock left in the path; no AWS request id, as every one of AWS's answers has."""
    return ErrorShape(f"NotAws{status}", "", body, status=status, content_type=content_type)


# Organizations' errors (JSON 1.1), where moto's store is kinder than AWS:
# - PolicyTypeNotEnabledException: EnablePolicyType finishes asynchronously in AWS (the root lists
#   the type as PENDING_ENABLE for a while), and AttachPolicy answers this until it is ENABLED;
#   moto enables at once.
# - AccessDeniedException: what AWS answers a caller that is neither the management account nor a
#   delegated administrator, or lacks the action; moto lets any account of the organization act.
_ORGANIZATIONS: Final = "com.amazonaws.organizations.v20161128"
ORGANIZATIONS_ERRORS: Final[dict[str, ErrorShape]] = {
    shape.code: shape
    for shape in (
        ErrorShape(
            "PolicyTypeNotEnabledException",
            _ORGANIZATIONS,
            "The specified policy type isn't currently enabled in this root.",
            message_key="Message",
        ),
        ErrorShape(
            "AccessDeniedException",
            _ORGANIZATIONS,
            "You don't have permissions to access this resource.",
            message_key="Message",
        ),
    )
}


# STS's errors, in its query protocol (XML); for AssumeRole, {table} is the RoleArn asked for.
QUERY_ERRORS: Final[dict[str, ErrorShape]] = {
    shape.code: shape
    for shape in (
        ErrorShape(
            "AccessDenied",
            "",
            f"User: arn:aws:iam::{ACCOUNT_ID}:user/x is not authorized to perform: "
            "sts:AssumeRole on resource: {table}",
            status=403,
            query=True,
        ),
        ErrorShape(
            "ExpiredToken",
            "",
            "The security token included in the request is expired",
            status=400,
            query=True,
        ),
    )
}


@dataclass(frozen=True)
class Call:
    """One DynamoDB call as it reached the proxy; what a hook receives."""

    operation: str
    table: str | None
    body: dict[str, Any]
    backend_url: str


Hook = Callable[[Call], None]
AnswerEdit = Callable[[dict[str, Any]], None]
"""Edits a successful answer's JSON document in place, before the client sees it (an XML answer
arrives as {"xml": text})."""


@dataclass(frozen=True)
class CallRecord:
    """What happened to one call: `outcome` is FORWARDED or the code of the fault that answered."""

    operation: str
    table: str | None
    outcome: str
    status: int
    rewritten: bool = False  # forwarded, then its answer rewritten (a status window, an edit)

    @property
    def faulted(self) -> bool:
        return self.outcome != FORWARDED


@dataclass
class Rule:
    """Answer `operation` (on `tables`; None: any) with `error`, `times` times (None: always)."""

    operation: str
    error: ErrorShape
    tables: frozenset[str] | None = None
    times: int | None = 1
    fired: int = 0
    regions: frozenset[str] | None = None

    def matches(self, operation: str, table: str | None, region: str = "") -> bool:
        if operation != self.operation or self.exhausted:
            return False
        if self.regions is not None and region not in self.regions:
            return False
        return self.tables is None or table in self.tables

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times


@dataclass
class UpdatingWindow:
    """DescribeTable shows `table` as UPDATING for `calls` answers, or until `until` (monotonic)."""

    table: str
    calls: int | None = None
    until: float | None = None
    reject_writes: bool = False
    status: str = "UPDATING"
    rewritten: int = 0

    def active(self, now: float) -> bool:
        if self.calls is not None:
            return self.rewritten < self.calls
        return self.until is not None and now < self.until


@dataclass
class _Counted:
    """A rule on one operation (and maybe one table) that fires `times` times (None: always)."""

    operation: str
    table: str | None = None
    times: int | None = 1
    fired: int = 0

    def matches(self, operation: str, table: str | None) -> bool:
        if operation != self.operation:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        return self.table is None or table == self.table


@dataclass(kw_only=True)
class HookRegistration(_Counted):
    action: Hook


@dataclass(kw_only=True)
class AnswerRewrite(_Counted):
    edit: AnswerEdit


@dataclass
class _Decision:
    hooks: list[HookRegistration] = field(default_factory=list)
    fault: ErrorShape | None = None
    windows: list[UpdatingWindow] = field(default_factory=list)
    rewrites: list[AnswerRewrite] = field(default_factory=list)


def table_name(value: object) -> str | None:
    """The table a request names: DynamoDB accepts a name or an ARN in TableName."""
    if not isinstance(value, str):
        return None
    if value.startswith("arn:") and ":table/" in value:
        return value.split(":table/", 1)[1].split("/", 1)[0]
    return value


class FaultProxy:
    """A threaded proxy on 127.0.0.1 and a free port; use as a context manager."""

    def __init__(self, backend_url: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(backend_url)
        if parts.hostname not in ("127.0.0.1", "localhost") or parts.port is None:
            raise ValueError(f"backend must be a loopback URL with a port, got {backend_url!r}")
        self.backend_url = backend_url.rstrip("/")
        self._backend = (parts.hostname, parts.port)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._windows: list[UpdatingWindow] = []
        self._hooks: list[HookRegistration] = []
        self._replicas: dict[str, list[dict[str, str]]] = {}
        self._rewrites: list[AnswerRewrite] = []
        self._records: list[CallRecord] = []
        self._credential_life: float | None = None
        self._refusals: list[tuple[str, str, int | None]] = []
        self._token_deadlines: dict[str, float] = {}
        self._hook_errors: list[BaseException] = []
        self._policy_block: float | None = None
        self._policy_blocked_until: dict[str | None, float] = {}
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        # A short poll interval keeps stop() (and so each test's teardown) quick.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.02,), name="fault-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            # Idle keep-alive connections would otherwise outlive the proxy in handler threads.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc is None:
            self.raise_hook_errors()

    # ---- configuring faults ----------------------------------------------------------------

    def fail(
        self,
        operation: str,
        error: str | ErrorShape,
        *,
        tables: Iterable[str] | None = None,
        times: int | None = 1,
        regions: Iterable[str] | None = None,
    ) -> Rule:
        """Answer `operation` with `error` (a code from ERRORS, or a shape), `times` times.

        `times=None` answers every matching call; `regions` limits it to calls signed for those
        regions. STS and Organizations operations are named `sts:AssumeRole` and the like; for
        AssumeRole, `tables` holds role ARNs.

        Rules are tried in the order they were added; the first live match answers.
        """
        if isinstance(error, str):
            shape = ERRORS.get(error) or REST_ERRORS.get(error) or QUERY_ERRORS[error]
        else:
            shape = error
        if times is not None and times < 1:
            raise ValueError("times must be at least 1, or None for always")
        rule = Rule(
            operation=_operation(operation),
            error=shape,
            tables=None if tables is None else frozenset(tables),
            times=times,
            regions=None if regions is None else frozenset(regions),
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def report_updating(
        self,
        table: str,
        *,
        calls: int | None = None,
        seconds: float | None = None,
        reject_writes: bool = False,
        status: str = "UPDATING",
    ) -> UpdatingWindow:
        """Show `table` as UPDATING in its next `calls` DescribeTable answers, or for `seconds`.

        With `reject_writes`, UpdateTable on it meanwhile gets ResourceInUseException, as in AWS.
        `status` shows another TableStatus instead (ARCHIVED, DELETING, ...).
        """
        if (calls is None) == (seconds is None):
            raise ValueError("give exactly one of calls or seconds")
        until = None if seconds is None else time.monotonic() + seconds
        window = UpdatingWindow(
            table=table, calls=calls, until=until, reject_writes=reject_writes, status=status
        )
        with self._lock:
            self._windows.append(window)
        return window

    def block_policy_updates(self, seconds: float = 15.0) -> None:
        """As DynamoDB: after a successful PutResourcePolicy or DeleteResourcePolicy on a table,
        answer further ones on it with POLICY_UPDATE_BLOCKED (ResourceInUseException) for
        `seconds`."""
        with self._lock:
            self._policy_block = seconds

    def on_call(
        self,
        operation: str,
        action: Hook,
        *,
        table: str | None = None,
        times: int | None = 1,
    ) -> HookRegistration:
        """Run `action` when `operation` (on `table`, if given) arrives, before it is answered.

        Hooks run on the proxy's handler thread, so the call waits for them (e.g. for a table to be
        deleted through `call.backend_url`). An exception in a hook fails the `with` block on exit.
        """
        registration = HookRegistration(_operation(operation), table, times, action=action)
        with self._lock:
            self._hooks.append(registration)
        return registration

    def show_replicas(self, table_arn: str, regions: Iterable[str | dict[str, str]]) -> None:
        """DescribeTable of the table with this ARN lists global-table replicas in `regions`
        (moto models none): a region name is an ACTIVE replica in the same account; a dict is
        a ReplicaDescription as AWS gives it (RegionName, ReplicaArn, ReplicaStatus)."""
        entries = [
            {"RegionName": r, "ReplicaStatus": "ACTIVE"} if isinstance(r, str) else dict(r)
            for r in regions
        ]
        with self._lock:
            self._replicas[table_arn] = entries

    def rewrite_answer(
        self,
        operation: str,
        edit: AnswerEdit,
        *,
        table: str | None = None,
        times: int | None = 1,
    ) -> AnswerRewrite:
        """Let `edit` change the server's successful answer to `operation` (on `table`, if given)
        before the client parses it, `times` times: what the server said after a write differs
        from what was sent. The checksum header is recomputed, so botocore takes it as genuine.
        """
        rewrite = AnswerRewrite(_operation(operation), table, times, edit=edit)
        with self._lock:
            self._rewrites.append(rewrite)
        return rewrite

    def refuse_each_finding(
        self, refusal: tuple[str, str] = NOT_SUBSCRIBED_FINDING, *, times: int | None = None
    ) -> None:
        """Answer BatchImportFindings with HTTP 200 and every finding in FailedFindings with
        `refusal` (ErrorCode, ErrorMessage), storing none, `times` calls (None: every call)."""
        with self._lock:
            self._refusals.append((*refusal, times))

    def expire_assumed_credentials(self, after: float) -> None:
        """Every AssumeRole answer from now on says its credentials expire `after` seconds
        from now (Expiration), and any call signed with them after that gets AWS's
        ExpiredToken answer (STS's query-protocol ExpiredToken, JSON services'
        ExpiredTokenException), never forwarded."""
        with self._lock:
            self._credential_life = after

    def clear_faults(self) -> None:
        """Drop every rule, UPDATING window, hook and answer rewrite; counts are kept."""
        with self._lock:
            self._rules.clear()
            self._windows.clear()
            self._hooks.clear()
            self._rewrites.clear()

    # ---- reading counts --------------------------------------------------------------------

    @property
    def records(self) -> list[CallRecord]:
        with self._lock:
            return list(self._records)

    def calls(self, operation: str | None = None, table: str | None = None) -> int:
        """DynamoDB calls that reached the proxy, answered by a fault or forwarded."""
        return sum(1 for r in self.records if _selected(r, operation, table))

    def faulted(self, operation: str | None = None, table: str | None = None) -> int:
        return sum(1 for r in self.records if r.faulted and _selected(r, operation, table))

    def forwarded(self, operation: str | None = None, table: str | None = None) -> int:
        return sum(1 for r in self.records if not r.faulted and _selected(r, operation, table))

    def counts(self) -> Counter[str]:
        """Calls per operation."""
        return Counter(r.operation for r in self.records)

    def table_counts(self) -> Counter[tuple[str, str | None]]:
        """Calls per (operation, table); ListTables is counted under table None."""
        return Counter((r.operation, r.table) for r in self.records)

    def operations(self) -> set[str]:
        return {r.operation for r in self.records}

    def reset_counts(self) -> None:
        with self._lock:
            self._records.clear()

    def raise_hook_errors(self) -> None:
        with self._lock:
            errors, self._hook_errors = self._hook_errors, []
        if errors:
            raise RuntimeError(f"{len(errors)} fault-proxy hook(s) failed") from errors[0]

    # ---- the request path (handler threads) ------------------------------------------------

    def _decide(self, operation: str, table: str | None, region: str = "") -> _Decision:
        decision = _Decision()
        now = time.monotonic()
        with self._lock:
            for hook in self._hooks:
                if hook.matches(operation, table):
                    hook.fired += 1
                    decision.hooks.append(hook)
            for rule in self._rules:
                if rule.matches(operation, table, region):
                    rule.fired += 1
                    decision.fault = rule.error
                    break
            live = [w for w in self._windows if w.table == table and w.active(now)]
            rejecting = any(w.reject_writes for w in live)
            if decision.fault is None and operation == "UpdateTable" and rejecting:
                decision.fault = ERRORS["ResourceInUseException"]
            blocked = self._policy_blocked_until.get(table, -1.0)
            if decision.fault is None and operation in _POLICY_WRITES and now < blocked:
                decision.fault = POLICY_UPDATE_BLOCKED
            if decision.fault is None and operation == "DescribeTable":
                decision.windows = live
            if decision.fault is None:
                for rewrite in self._rewrites:
                    if rewrite.matches(operation, table):
                        rewrite.fired += 1
                        decision.rewrites.append(rewrite)
        return decision

    def _record(self, record: CallRecord) -> None:
        with self._lock:
            self._records.append(record)

    def _run_hooks(self, hooks: list[HookRegistration], call: Call) -> None:
        for hook in hooks:
            try:
                hook.action(call)
            except Exception as error:  # noqa: BLE001 - kept and re-raised in the test's thread
                with self._lock:
                    self._hook_errors.append(error)

    def _forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        host, port = self._backend
        connection = http.client.HTTPConnection(host, port, timeout=self._timeout)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP:
                    connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            content = response.read()
            return response.status, response.reason, response.getheaders(), content
        finally:
            connection.close()

    def _track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def handle(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """Answer one request: (status, reason, headers, body)."""
        target = next((v for k, v in headers if k.lower() == "x-amz-target"), "")
        expired = self._expired(headers)
        if expired is not None:
            return self._refuse_expired(target, body, expired)
        if method == "POST" and target.startswith(_ORGANIZATIONS_PREFIX):
            operation = "organizations:" + target.removeprefix(_ORGANIZATIONS_PREFIX)
            return self._other(operation, None, {}, method, path, headers, body)
        if method == "POST" and target.startswith(_SQS_PREFIX):
            operation = "sqs:" + target.removeprefix(_SQS_PREFIX)
            try:
                message = json.loads(body or b"{}")
            except ValueError:
                message = {}
            queue = message.get("QueueUrl") if isinstance(message, dict) else None
            return self._other(operation, queue, message, method, path, headers, body)
        rest = _REST_OPERATIONS.get((method, urlsplit(path).path))
        if not target and rest is not None:
            # Security Hub speaks REST-JSON: the method and path name the operation.
            return self._other(rest, None, {}, method, path, headers, body)
        if method == "POST" and not target:
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            action = form.get("Action", "")
            if action:  # STS (and SNS, for the guard's alerts) speak the query protocol
                role = form.get("RoleArn")
                operation = f"{_service(headers)}:{action}"
                return self._other(operation, role, form, method, path, headers, body)
        if method != "POST" or not target.startswith(TARGET_PREFIX):
            return self._forward_or_502(method, path, headers, body)

        operation = target.removeprefix(TARGET_PREFIX)
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            document = {}
        if not isinstance(document, dict):
            document = {}
        # TableName names the table, or ResourceArn (the resource-policy calls)
        table = table_name(document.get("TableName") or document.get("ResourceArn"))
        decision = self._decide(operation, table, _region(headers))
        self._run_hooks(decision.hooks, Call(operation, table, document, self.backend_url))

        if decision.fault is not None:
            arn = _table_arn(_region(headers), table)
            fault_body = decision.fault.body(operation, table, arn)
            self._record(CallRecord(operation, table, decision.fault.code, decision.fault.status))
            if decision.fault.content_type is not None:
                page = [("Content-Type", decision.fault.content_type)]
                return decision.fault.status, "Proxy", page, fault_body
            return decision.fault.status, "Bad Request", _dynamodb_headers(fault_body), fault_body

        status, reason, response_headers, content = self._forward_or_502(
            method, path, headers, body
        )
        if status == 200 and operation in _POLICY_WRITES and self._policy_block is not None:
            with self._lock:
                self._policy_blocked_until[table] = time.monotonic() + self._policy_block
        rewritten = False
        if decision.windows and status == 200:
            content, rewritten = _with_table_status(content, decision.windows[0].status)
            if rewritten:
                response_headers = _with_crc32(response_headers, content)
                with self._lock:
                    for window in decision.windows:
                        window.rewritten += 1
        if operation == "DescribeTable" and status == 200 and self._replicas:
            content, added = _with_replicas(content, self._replicas)
            if added:
                response_headers = _with_crc32(response_headers, content)
        if decision.rewrites and status == 200:
            content = _edited(content, decision.rewrites)
            response_headers = _with_crc32(response_headers, content)
            rewritten = True
        outcome = FORWARDED if status != 502 or reason != BACKEND_ERROR else BACKEND_ERROR
        self._record(CallRecord(operation, table, outcome, status, rewritten))
        return status, reason, response_headers, content

    def _other(
        self,
        operation: str,
        key: str | None,
        document: dict[str, Any],
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """An STS, Organizations, SNS, SQS or Security Hub call: counted, faulted by rule, else
        forwarded (Security Hub's findings through AWS's rules moto lacks)."""
        decision = self._decide(operation, key, _region(headers))
        self._run_hooks(decision.hooks, Call(operation, key, document, self.backend_url))
        if decision.fault is not None:
            fault_body = decision.fault.body(operation, key, key or "*")
            self._record(CallRecord(operation, key, decision.fault.code, decision.fault.status))
            kind = "text/xml" if decision.fault.query else "application/x-amz-json-1.1"
            kind = decision.fault.content_type or kind
            response = [("Content-Type", kind), ("x-amzn-RequestId", uuid.uuid4().hex)]
            return decision.fault.status, "Error", response, fault_body
        refused = self._refused_findings(operation, body)
        if refused is not None:
            status, reason, response_headers, content = refused
        elif operation == _UPDATE_FINDINGS:
            status, reason, response_headers, content = self._update_findings(headers, body)
        elif operation == _GET_FINDINGS:
            status, reason, response_headers, content = self._get_findings(headers, body)
        else:
            if operation == _IMPORT_FINDINGS:
                body = self._keep_workflow(headers, body)
            status, reason, response_headers, content = self._forward_or_502(
                method, path, headers, body
            )
        rewritten = False
        if operation == "sts:AssumeRole" and status == 200:
            content = self._issued(content)
        if decision.rewrites and status == 200:
            # JSON answers (Organizations): edited like DynamoDB's; they carry no checksum.
            content = _edited(content, decision.rewrites)
            rewritten = True
        self._record(CallRecord(operation, key, FORWARDED, status, rewritten))
        return status, reason, response_headers, content

    # ---- Security Hub: AWS's rules that moto's store lacks --------------------------------

    def _stored_findings(self, headers: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
        """Every finding moto holds for the caller's account and region (the call's own
        signature picks them), by Id, read with GetFindings page by page."""
        found: dict[str, dict[str, Any]] = {}
        token: str | None = None
        while True:
            request = {"MaxResults": 100, **({"NextToken": token} if token else {})}
            status, _, _, content = self._forward(
                "POST", "/findings", headers, json.dumps(request).encode()
            )
            if status != 200:
                raise RuntimeError(f"fault proxy: GetFindings answered {status}: {content!r}")
            page = json.loads(content)
            found.update({f["Id"]: f for f in page.get("Findings", [])})
            token = page.get("NextToken")
            if not token:
                return found

    def _keep_workflow(self, headers: list[tuple[str, str]], body: bytes) -> bytes:
        """Stands in for AWS's rule on BatchImportFindings: Workflow is taken only when a
        finding is created. For an Id Security Hub already holds, the stored Workflow stays
        (a finding provider changes it with BatchUpdateFindings), except that Security Hub
        itself reopens a NOTIFIED or RESOLVED finding (NEW) when its Compliance.Status leaves
        PASSED or its RecordState goes from ARCHIVED to ACTIVE. moto overwrites the finding
        whole, Workflow included; the request is rewritten so that moto keeps it."""
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            return body
        sent = document.get("Findings") if isinstance(document, dict) else None
        if not isinstance(sent, list) or not sent:
            return body
        stored = self._stored_findings(headers)
        for finding in sent:
            old = stored.get(str(finding.get("Id"))) if isinstance(finding, dict) else None
            if old is None:
                continue  # created by this import: its own Workflow is taken
            workflow = dict(old.get("Workflow") or {"Status": "NEW"})
            was = (old.get("Compliance") or {}).get("Status")
            now = (finding.get("Compliance") or {}).get("Status")
            reopened = (was == "PASSED" and now in _LEFT_PASSED) or (
                old.get("RecordState") == "ARCHIVED" and finding.get("RecordState") == "ACTIVE"
            )
            if reopened and workflow.get("Status") in ("NOTIFIED", "RESOLVED"):
                workflow["Status"] = "NEW"
            finding["Workflow"] = workflow
        return json.dumps(document).encode()

    def _refused_findings(
        self, operation: str, body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes] | None:
        """AWS's per-finding refusal of a whole BatchImportFindings, when one is set."""
        if operation != _IMPORT_FINDINGS:
            return None
        with self._lock:
            live = [r for r in self._refusals if r[2] is None or r[2] > 0]
            if not live:
                return None
            code, message, times = live[0]
            index = self._refusals.index(live[0])
            self._refusals[index] = (code, message, None if times is None else times - 1)
        sent = json.loads(body or b"{}").get("Findings", [])
        failed = [{"Id": f.get("Id", ""), "ErrorCode": code, "ErrorMessage": message} for f in sent]
        answer = {"FailedCount": len(failed), "SuccessCount": 0, "FailedFindings": failed}
        return 200, "OK", _rest_headers(), json.dumps(answer).encode()

    def _get_findings(
        self, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """Stands in for GetFindings' Filters, which moto ignores (it returns every finding):
        StringFilters with EQUALS, NOT_EQUALS and PREFIX on Id, ProductArn, GeneratorId,
        RecordState, ComplianceStatus, WorkflowStatus and ResourceId, values of one field ORed
        and fields ANDed, as AWS documents; MaxResults and NextToken page the matches. AWS
        allows 20 values a field: more is InvalidInputException, as AWS answers it."""
        request = json.loads(body or b"{}")
        filters = request.get("Filters") or {}
        unknown = sorted(set(filters) - set(_FILTER_FIELDS))
        too_many = [name for name, values in filters.items() if len(values) > 20]
        if unknown or too_many:
            what = f"filters {', '.join(unknown)} are not modelled" if unknown else "over 20"
            refusal = {"__type": "InvalidInputException", "Message": f"fault proxy: {what}"}
            if too_many:
                refusal["Message"] = f"Filter {too_many[0]} takes at most 20 values"
            return 400, "Bad Request", _rest_headers(), json.dumps(refusal).encode()
        matches = [
            f
            for _, f in sorted(self._stored_findings(headers).items())
            if all(_matches(f, name, values) for name, values in filters.items())
        ]
        start = int(request.get("NextToken") or 0)
        end = start + int(request.get("MaxResults") or 100)
        answer: dict[str, Any] = {"Findings": matches[start:end]}
        if end < len(matches):
            answer["NextToken"] = str(end)
        return 200, "OK", _rest_headers(), json.dumps(answer).encode()

    def _update_findings(
        self, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """Stands in for AWS's BatchUpdateFindings, which moto does not implement: each
        FindingIdentifier {Id, ProductArn} that moto holds is re-imported with only its
        Workflow changed (straight to moto, past `_keep_workflow`; UpdatedAt untouched, as
        AWS leaves it), and the answer is AWS's: ProcessedFindings and UnprocessedFindings
        (FindingNotFound for one it does not hold, DuplicatedFindingIdentifier for one named
        twice). Only Workflow is modelled: another field is refused (InvalidInputException)."""
        request = json.loads(body or b"{}")
        others = sorted(set(request) - {"FindingIdentifiers", "Workflow"})
        if others:
            message = f"fault proxy: BatchUpdateFindings of {', '.join(others)} is not modelled"
            refusal = {"__type": "InvalidInputException", "Message": message}
            return 400, "Bad Request", _rest_headers(), json.dumps(refusal).encode()
        stored = self._stored_findings(headers)
        processed: list[dict[str, str]] = []
        unprocessed: list[dict[str, Any]] = []
        changed: dict[str, dict[str, Any]] = {}
        named = Counter(i.get("Id") for i in request.get("FindingIdentifiers", []))
        for identifier in request.get("FindingIdentifiers", []):
            old = stored.get(str(identifier.get("Id")))
            if named[identifier.get("Id")] > 1:
                code, message = "DuplicatedFindingIdentifier", "Finding Identifier is duplicated"
            elif old is None or old.get("ProductArn") != identifier.get("ProductArn"):
                code, message = "FindingNotFound", "Finding Not Found"
            else:
                workflow = {**(old.get("Workflow") or {}), **request.get("Workflow", {})}
                changed[old["Id"]] = {**old, "Workflow": workflow}
                processed.append(identifier)
                continue
            unprocessed.append(
                {"FindingIdentifier": identifier, "ErrorCode": code, "ErrorMessage": message}
            )
        if changed:
            again = json.dumps({"Findings": list(changed.values())}).encode()
            status, reason, answer_headers, content = self._forward(
                "POST", "/findings/import", headers, again
            )
            if status != 200:
                return status, reason, answer_headers, content
        answer = {"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}
        return 200, "OK", _rest_headers(), json.dumps(answer).encode()

    def _expired(self, headers: list[tuple[str, str]]) -> str | None:
        """The session token of a call signed with assumed credentials past their life."""
        token = next((v for k, v in headers if k.lower() == "x-amz-security-token"), None)
        if token is None:
            return None
        with self._lock:
            deadline = self._token_deadlines.get(token)
        return token if deadline is not None and time.monotonic() >= deadline else None

    def _refuse_expired(
        self, target: str, body: bytes, token: str
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        if target.startswith(TARGET_PREFIX):
            operation = target.removeprefix(TARGET_PREFIX)
            shape = ERRORS["ExpiredTokenException"]
            content = shape.body(operation, None, "*")
            self._record(CallRecord(operation, None, shape.code, shape.status))
            return shape.status, "Bad Request", _dynamodb_headers(content), content
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        operation = target.rpartition(".")[2] or form.get("Action", "")
        shape = QUERY_ERRORS["ExpiredToken"]
        content = shape.body(operation, None, "*")
        self._record(CallRecord(operation, None, shape.code, shape.status))
        return shape.status, "Bad Request", [("Content-Type", "text/xml")], content

    def _issued(self, content: bytes) -> bytes:
        """An AssumeRole answer whose credentials live `_credential_life` seconds from now."""
        with self._lock:
            life = self._credential_life
        text = content.decode("utf-8", "replace")
        token = re.search(r"<SessionToken>([^<]+)</SessionToken>", text)
        if life is None or token is None:
            return content
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=life)
        stamp = expiry.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        text = re.sub(r"<Expiration>[^<]+</Expiration>", f"<Expiration>{stamp}</Expiration>", text)
        with self._lock:
            self._token_deadlines[token.group(1)] = time.monotonic() + life
        return text.encode()

    def _forward_or_502(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        try:
            return self._forward(method, path, headers, body)
        except (OSError, http.client.HTTPException) as error:
            message = json.dumps({"message": f"fault proxy: backend unreachable: {error}"}).encode()
            return 502, BACKEND_ERROR, [("Content-Type", "application/json")], message


def _operation(name: str) -> str:
    return name.removeprefix(TARGET_PREFIX)


def _selected(record: CallRecord, operation: str | None, table: str | None) -> bool:
    if operation is not None and record.operation != _operation(operation):
        return False
    return table is None or record.table == table


def _region(headers: list[tuple[str, str]]) -> str:
    authorization = next((v for k, v in headers if k.lower() == "authorization"), "")
    match = _REGION_IN_CREDENTIAL.search(authorization)
    return match.group(1) if match else "us-east-1"


def _service(headers: list[tuple[str, str]]) -> str:
    """The service a query-protocol call is signed for (its SigV4 credential scope)."""
    authorization = next((v for k, v in headers if k.lower() == "authorization"), "")
    match = _SERVICE_IN_CREDENTIAL.search(authorization)
    return match.group(1) if match else "sts"


def _table_arn(region: str, table: str | None) -> str:
    return f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{table or '*'}"


_FILTER_FIELDS: Final[dict[str, Callable[[dict[str, Any]], list[str]]]] = {
    "Id": lambda f: [f.get("Id", "")],
    "ProductArn": lambda f: [f.get("ProductArn", "")],
    "GeneratorId": lambda f: [f.get("GeneratorId", "")],
    "RecordState": lambda f: [f.get("RecordState", "")],
    "ComplianceStatus": lambda f: [(f.get("Compliance") or {}).get("Status", "")],
    "WorkflowStatus": lambda f: [(f.get("Workflow") or {}).get("Status", "")],
    "ResourceId": lambda f: [r.get("Id", "") for r in f.get("Resources", [])],
}
"""The finding fields GetFindings' stand-in filters on, each as the values it holds."""


def _matches(finding: dict[str, Any], name: str, values: list[dict[str, str]]) -> bool:
    held = _FILTER_FIELDS[name](finding)
    positive = [v for v in values if v.get("Comparison") != "NOT_EQUALS"]
    negative = [v["Value"] for v in values if v.get("Comparison") == "NOT_EQUALS"]
    if any(h in negative for h in held):
        return False
    return not positive or any(
        h == v["Value"] if v.get("Comparison") == "EQUALS" else h.startswith(v["Value"])
        for v in positive
        for h in held
    )


def _rest_headers() -> list[tuple[str, str]]:
    """A REST-JSON answer's headers (Security Hub's), with the request id AWS always sends."""
    return [("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4()))]


def _crc32(content: bytes) -> str:
    return str(zlib.crc32(content) & 0xFFFFFFFF)


def _dynamodb_headers(body: bytes) -> list[tuple[str, str]]:
    return [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-RequestId", uuid.uuid4().hex.upper()),
        ("x-amz-crc32", _crc32(body)),
    ]


def _with_crc32(headers: list[tuple[str, str]], content: bytes) -> list[tuple[str, str]]:
    # botocore checks x-amz-crc32 against the body it gets; a stale one would look like corruption.
    kept = [(k, v) for k, v in headers if k.lower() != "x-amz-crc32"]
    return [*kept, ("x-amz-crc32", _crc32(content))]


def _with_replicas(content: bytes, replicas: dict[str, list[dict[str, str]]]) -> tuple[bytes, bool]:
    try:
        document = json.loads(content)
    except ValueError:
        return content, False
    table = document.get("Table") if isinstance(document, dict) else None
    regions = replicas.get(table.get("TableArn", "")) if isinstance(table, dict) else None
    if not isinstance(table, dict) or regions is None:
        return content, False
    table["GlobalTableVersion"] = "2019.11.21"
    table["Replicas"] = [dict(entry) for entry in regions]
    return json.dumps(document).encode(), True


def _edited(content: bytes, rewrites: Iterable[AnswerRewrite]) -> bytes:
    try:
        document = json.loads(content)
    except ValueError:  # a query-protocol answer (EC2, STS): XML, edited as {"xml": text}
        text = {"xml": content.decode()}
        for rewrite in rewrites:
            rewrite.edit(text)
        return text["xml"].encode()
    for rewrite in rewrites:
        rewrite.edit(document)
    return json.dumps(document).encode()


def _with_table_status(content: bytes, status: str) -> tuple[bytes, bool]:
    try:
        document = json.loads(content)
    except ValueError:
        return content, False
    table = document.get("Table") if isinstance(document, dict) else None
    if not isinstance(table, dict) or "TableStatus" not in table:
        return content, False
    table["TableStatus"] = status
    return json.dumps(document).encode(), True


def _make_handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
        disable_nagle_algorithm = True
        timeout = 60  # idle keep-alive connections end on their own

        def setup(self) -> None:
            super().setup()
            proxy._track(self.connection, open_=True)

        def finish(self) -> None:
            proxy._track(self.connection, open_=False)
            super().finish()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, reason, headers, content = proxy.handle(
                self.command, self.path, list(self.headers.items()), body
            )
            self.send_response_only(status, reason)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
