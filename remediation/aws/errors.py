"""What an AWS answer means (AWS's error, or no AWS answer at all), and `_Door`, the one door
every call goes through: paced, stopped once the run is cancelled, its error made a `CallFailed`.
`RESPONSE_FIELDS` declares every field of an answer the package reads."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from remediation.aws.pacing import Pacer
from remediation.aws.session import _CREDENTIALS_PARAM, AccountCredentials
from remediation.core import AwsError


class Cancelled(Exception):
    """Raised in a worker instead of starting a new call once the run is cancelled."""


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
    if status == 404:
        # No such path on the endpoint: a local emulator (moto_server lacks BatchUpdateFindings).
        operation = action.split(":")[-1]
        return AwsError(
            action,
            NOT_AWS,
            f"the endpoint does not implement {operation} (HTTP 404 answered with {what}, no "
            "AWS request id)",
        )
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


def _interrupted(action: str, what: str) -> AwsError:
    return AwsError(action, "Interrupted", f"{what}: the run was interrupted")


def _snake(operation: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")


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
    # The table guardrail (harden --guardrail, the guard).
    ResponseField("dynamodb", "GetResourcePolicy", "Policy"),
    ResponseField("dynamodb", "GetResourcePolicy", "RevisionId"),
    ResponseField("dynamodb", "PutResourcePolicy", "RevisionId"),
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
    ResponseField("sts", "GetCallerIdentity", "Arn"),
    ResponseField("iam", "GetRole", "Role.Arn"),
    ResponseField("sts", "AssumeRole", "Credentials.AccessKeyId"),
    ResponseField("sts", "AssumeRole", "Credentials.SecretAccessKey"),
    ResponseField("sts", "AssumeRole", "Credentials.SessionToken"),
    ResponseField("sts", "AssumeRole", "Credentials.Expiration"),
    ResponseField("organizations", "ListAccounts", "Accounts[].Id"),
    ResponseField("organizations", "ListAccounts", "Accounts[].State"),
    # Retired on 2026-09-09 (botocore's Account documentation): only where State is absent.
    ResponseField("organizations", "ListAccounts", "Accounts[].Status", fallback_for="State"),
    ResponseField("organizations", "ListAccounts", "NextToken"),
    # The guardrail's RCP (organizations_policies.py).
    ResponseField("organizations", "DescribeOrganization", "Organization.Id"),
    ResponseField("organizations", "DescribeOrganization", "Organization.MasterAccountId"),
    ResponseField("organizations", "ListRoots", "Roots[].Id"),
    ResponseField("organizations", "ListRoots", "Roots[].PolicyTypes[].Type"),
    ResponseField("organizations", "ListPolicies", "Policies[].Id"),
    ResponseField("organizations", "ListPolicies", "Policies[].Name"),
    ResponseField("organizations", "ListPolicies", "Policies[].AwsManaged"),
    ResponseField("organizations", "ListPolicies", "NextToken"),
    ResponseField("organizations", "DescribePolicy", "Policy.Content"),
    ResponseField("organizations", "ListTargetsForPolicy", "Targets[].TargetId"),
    ResponseField("organizations", "ListTargetsForPolicy", "NextToken"),
    ResponseField("organizations", "CreatePolicy", "Policy.PolicySummary.Id"),
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
    ResponseField("securityhub", "GetFindings", "Findings"),
    ResponseField("securityhub", "GetFindings", "Findings[].Id"),
    ResponseField("securityhub", "GetFindings", "Findings[].ProductArn"),
    ResponseField("securityhub", "GetFindings", "Findings[].GeneratorId"),
    ResponseField("securityhub", "GetFindings", "Findings[].RecordState"),
    ResponseField("securityhub", "GetFindings", "Findings[].Resources[].Id"),
    ResponseField("securityhub", "GetFindings", "NextToken"),
)

ERROR_KEYS = ("Error", "Code", "Message")
"""botocore's parsed error (`ClientError.response["Error"]`): the same for every service, in no
operation's output shape."""
