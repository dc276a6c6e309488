"""Security Hub CSPM: findings read (GetFindings), imported (BatchImportFindings) and closed
(BatchUpdateFindings), each paced to its quota, through the same door.

A custom integration imports ASFF into Security Hub CSPM; AWS's newer Security Hub reads OCSF from
AWS services and partners only, so an account that runs only the new one is "Security Hub CSPM is
not enabled" here."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from remediation.aws.errors import CallFailed, Cancelled, _Door, _interrupted
from remediation.aws.pacing import _backoff
from remediation.aws.session import AccountCredentials, ClientLimits, Settings, _client
from remediation.core import AwsError

if TYPE_CHECKING:
    from boto3.session import Session
else:
    Session = Any


SECURITY_HUB_RATES: Mapping[str, float] = {
    # AWS: BatchImportFindings takes 10 requests a second per account and region, bursts of 30.
    # Paced evenly a little under it, never in a burst; throttling that still comes
    # (LimitExceededException, TooManyRequestsException, 429) is retried by botocore.
    "BatchImportFindings": 9.7,
    # AWS: BatchUpdateFindings has the same quota, 10 a second with bursts of 30, paced alike.
    "BatchUpdateFindings": 9.7,
    # AWS: GetFindings takes 3 requests a second per account and region, bursts of 6.
    "GetFindings": 2.9,
}
IMPORT_BATCH = 100
"""BatchImportFindings' maximum findings per call."""
UPDATE_BATCH = 100
"""BatchUpdateFindings' maximum FindingIdentifiers per call."""
READ_BATCH = 20
"""GetFindings takes at most 20 values per filter field: the Ids asked for in one call."""
READ_PAGE = 100
"""GetFindings' MaxResults maximum."""
IMPORT_ACTION = "securityhub:BatchImportFindings"
UPDATE_ACTION = "securityhub:BatchUpdateFindings"
READ_ACTION = "securityhub:GetFindings"

UPDATE_RETRIED = frozenset({"ConcurrentUpdateError", "FindingNotFound"})
"""UnprocessedFindings codes a finding imported moments ago may get (AWS applies an import
asynchronously): tried again, after a backoff, before they are reported."""
UPDATE_ATTEMPTS = 4
RESOLVED = "RESOLVED"

NOT_SUBSCRIBED = "InvalidAccessException"
"""The code of the whole-call answer in a region where the account has not enabled Security Hub
CSPM; per finding, FailedFindings say `InvalidAccess` (user guide, "BatchImportFindings")."""
NOT_SUBSCRIBED_FINDING = "InvalidAccess"
NOT_SUBSCRIBED_MESSAGE = "is not subscribed to AWS Security Hub"
"""AWS's words for that case, and only that case: any other InvalidAccess is a failure."""


def not_subscribed(code: str, message: str) -> bool:
    """Security Hub CSPM is not enabled for the account in the region: the call's or a finding's
    InvalidAccess that says so in AWS's words."""
    return code in (NOT_SUBSCRIBED, NOT_SUBSCRIBED_FINDING) and NOT_SUBSCRIBED_MESSAGE in message


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
        """The whole call said so, or every finding it refused did (and none landed)."""
        if self.error is not None:
            return not_subscribed(self.error.code, self.error.message)
        return (
            bool(self.rejected)
            and not self.landed
            and all(not_subscribed(r.code, r.message) for r in self.rejected)
        )


@dataclass(frozen=True)
class ReadAnswer:
    """What Security Hub CSPM holds for the findings asked about (GetFindings)."""

    found: Mapping[str, Mapping[str, Any]]
    """Each stored finding, by Id."""
    error: AwsError | None = None
    """A call failed as a whole: what was found is incomplete, and must not be trusted."""

    @property
    def not_enabled(self) -> bool:
        return self.error is not None and not_subscribed(self.error.code, self.error.message)


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

    def read(self, ids: Sequence[str]) -> ReadAnswer:
        """The findings Security Hub CSPM holds under `ids`: GetFindings filtered by Id,
        READ_BATCH Ids a call, every page. Stops at the first call that fails."""
        found: dict[str, Mapping[str, Any]] = {}
        wanted = list(dict.fromkeys(ids))
        for start in range(0, len(wanted), READ_BATCH):
            batch = wanted[start : start + READ_BATCH]
            filters = {"Id": [{"Value": i, "Comparison": "EQUALS"} for i in batch]}
            answer = self._get(filters, found, set(batch))
            if answer is not None:
                return answer
        return ReadAnswer(found)

    def active(self, product_arn: str, resource_prefix: str, generator_prefix: str) -> ReadAnswer:
        """The ACTIVE findings this product generated about resources whose Id starts with
        `resource_prefix`: what a run looks through for tables that no longer exist."""
        filters = {
            "ProductArn": [{"Value": product_arn, "Comparison": "EQUALS"}],
            "ResourceId": [{"Value": resource_prefix, "Comparison": "PREFIX"}],
            "GeneratorId": [{"Value": generator_prefix, "Comparison": "PREFIX"}],
            "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
        }
        found: dict[str, Mapping[str, Any]] = {}
        answer = self._get(filters, found, None)
        if answer is not None:
            return answer
        # An endpoint that ignores a filter (moto_server) is not trusted: each is checked here.
        kept = {
            i: f
            for i, f in found.items()
            if f.get("ProductArn") == product_arn
            and f.get("RecordState") == "ACTIVE"
            and str(f.get("GeneratorId", "")).startswith(generator_prefix)
            and any(
                str(r.get("Id", "")).startswith(resource_prefix) for r in f.get("Resources", [])
            )
        }
        return ReadAnswer(kept)

    def _get(
        self,
        filters: Mapping[str, Any],
        found: dict[str, Mapping[str, Any]],
        ids: set[str] | None,
    ) -> ReadAnswer | None:
        """Every page of one GetFindings into `found` (only `ids`, when given); a ReadAnswer
        with the error when a call fails, else None."""
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Filters": dict(filters), "MaxResults": READ_PAGE}
            if token:
                params["NextToken"] = token
            try:
                answer = self._door.call("GetFindings", **params)
            except CallFailed as exc:
                return ReadAnswer(dict(found), exc.error)
            except Cancelled:
                return ReadAnswer(dict(found), _interrupted(READ_ACTION, "not read"))
            for stored in answer.get("Findings", []):
                if ids is None or stored.get("Id") in ids:
                    found[str(stored["Id"])] = stored
            token = answer.get("NextToken")
            if not token:
                return None

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
