"""Findings: one verdict per table and control, in the formats security teams already read.

Pure, like the core: core values in (where, the control, the state before and after, what changed,
the error), one neutral `Finding` out, and from it an ASFF dict (Security Hub CSPM), here; the OCSF
Compliance Finding and JUnit XML are built in `findings_ocsf` and `findings_junit`. Every human
sentence comes from the control's record in `remediation.controls`. No I/O, no boto3 (a region's
partition is botocore's data, read through `remediation.aws` when an ARN has to be built).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from remediation import core
from remediation.controls import PITR, Control
from remediation.core import AwsError, Requirement, TableState, parse_arn

Status = Literal["pass", "fail", "unknown", "error"]
"""pass: the control holds; fail: it provably does not; unknown: it could not be read (or, for
PITR with a minimum, its recovery period could not); error: AWS refused a read or a write about
it."""

Compliance = Literal["PASSED", "FAILED", "NOT_AVAILABLE"]
"""ASFF's Compliance.Status as we use it: NOT_AVAILABLE is AWS's value for a check that could not
be performed (the state could not be read or judged)."""

PRODUCT_NAME = "Sentinel DynamoDB Hardening"
GENERATOR_PREFIX = "sentinel-harden"
"""GeneratorId is `sentinel-harden/<control id>`: the check that produced the finding."""
GUARD_GENERATOR_PREFIX = "sentinel-guard"
SCHEMA_VERSION = "2018-10-08"
"""The only ASFF SchemaVersion Security Hub accepts."""
CHECK_TYPE = "Software and Configuration Checks/AWS Security Best Practices"
GUARD_TYPE = "Effects/Data Destruction"
"""A weakened protection is what lets a table be destroyed or lost beyond recovery."""
RESOURCE_TYPE = "AwsDynamoDbTable"
TEXT_LIMIT = 512
"""Security Hub's limit on Recommendation.Text and Note.Text."""
DESCRIPTION_LIMIT = 1024


@dataclass(frozen=True)
class Finding:
    """One table's verdict on one control, as every format tells it."""

    account: str | None
    """None only for a table the run never found and whose account it never learned."""
    region: str | None
    table: str
    arn: str | None
    control: Control
    status: Status
    detail: str
    """One sentence: what holds, what was changed, or what went wrong."""
    before: Mapping[str, object] | None
    """The table's state as read before anything was changed (core.state_json); None unread."""
    after: Mapping[str, object] | None
    changed: bool
    """The control was turned on (or its recovery period raised) in this run."""
    observed_at: datetime
    error: AwsError | None = None
    judged: bool = True
    """The control's state was read and judged; False when it is unknown (a read refused, an
    unknown recovery period): a failed write on a state read as off is judged, and fails."""

    @property
    def id(self) -> str:
        """Stable per account, region, table and control: a later run updates this finding."""
        where = self.arn or f"{self.account or '-'}/{self.region or '-'}/{self.table}"
        return f"{where}/{self.control.id}"

    @property
    def partition(self) -> str:
        arn = parse_arn(self.arn)
        return arn.partition if arn else partition_of(self.region or "")

    @property
    def importable(self) -> bool:
        """Security Hub needs the account and region it belongs to."""
        return self.account is not None and self.region is not None

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def compliance(self) -> Compliance:
        if self.passed:
            return "PASSED"
        return "FAILED" if self.judged else "NOT_AVAILABLE"


def finding(
    *,
    account: str | None,
    region: str | None,
    before: TableState,
    after: TableState,
    control: Control,
    changed: bool,
    error: AwsError | None,
    observed_at: datetime,
    requirement: Requirement,
) -> Finding:
    """The verdict on `control` for one table, from what the run read and did."""
    arn = after.arn or before.arn
    parsed = parse_arn(arn)
    account = account or (parsed.account if parsed else None)
    region = region or (parsed.region if parsed else None)
    if arn is None and account is not None and region is not None:
        arn = f"arn:{partition_of(region)}:dynamodb:{region}:{account}:table/{before.name}"
    readable = before.error is None
    error = error or before.error or after.reading(control).error
    status = _status(after, control, error, requirement)
    judged = readable and after.reading(control).enabled is not None
    if control is PITR and core.recovery_period_unknown(after, requirement):
        judged = False
    return Finding(
        account=account,
        region=region,
        table=before.name,
        arn=arn,
        control=control,
        status=status,
        detail=_capital(_sentence(before, after, control, status, changed, error, requirement)),
        before=core.state_json(before, requirement) if readable else None,
        after=core.state_json(after, requirement) if readable else None,
        changed=changed,
        observed_at=observed_at.astimezone(UTC),
        error=error,
        judged=judged,
    )


def partition_of(region: str) -> str:
    """The partition a region is in, from botocore's partition data (aws-cn, aws-us-gov,
    aws-eusc and the ISO partitions included), never from the region's prefix."""
    # Read through the aws package, the only one that imports botocore, on first use.
    from remediation.aws.session import partition_of as botocore_partition

    return botocore_partition(region)


ASFF_PARTITIONS: Mapping[str, str] = {
    "aws": "aws",
    "aws-cn": "aws-cn",
    "aws-us-gov": "aws-us-gov",
    "aws-iso": "aws-us-iso",
    "aws-iso-b": "aws-us-iso-b",
}
"""botocore's partition id -> ASFF's Resources[].Partition value; a partition ASFF has no value
for (aws-eusc, aws-iso-e, aws-iso-f) leaves the optional field out."""


def _status(
    after: TableState, control: Control, error: AwsError | None, requirement: Requirement
) -> Status:
    if error is not None:
        return "error"
    if after.reading(control).enabled is None:
        return "unknown"
    if control is PITR and core.recovery_period_unknown(after, requirement):
        return "unknown"
    only = Requirement((control,), requirement.min_recovery_days if control is PITR else None)
    return "fail" if core.missing(after, only) else "pass"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sentence(
    before: TableState,
    after: TableState,
    control: Control,
    status: Status,
    changed: bool,
    error: AwsError | None,
    requirement: Requirement,
) -> str:
    table = after.name
    if status == "error":
        return f"{control.noun} on {table} could not be checked or enabled: {error}"
    if status == "unknown" and after.reading(control).enabled:
        return f"{control.noun} on {table} is enabled, but its recovery period could not be read"
    if status == "unknown":
        return f"{control.noun} on {table} could not be read"
    if status == "pass":
        how, days = "was enabled by this run" if changed else "is enabled", after.pitr_recovery_days
        if changed and (was := before.reading(control).enabled and before.pitr_recovery_days):
            how = f"was already enabled; this run raised its period from {was} to"
            return f"{control.noun} on {table} {how} {days} days"
        if control is PITR and days is not None:
            how += f" ({days} days)"
        return f"{control.noun} on {table} {how}"
    if after.reading(control).enabled:
        return (
            f"{control.noun} on {table} keeps {after.pitr_recovery_days} days, fewer than "
            f"{requirement.min_recovery_days}"
        )
    return f"{control.noun} on {table} is disabled"


# -- ASFF (Security Hub CSPM) --------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """What Security Hub CSPM already holds under a finding's Id (read with GetFindings): the
    finding's history. A file written by --format asff|ocsf has none: each is a first sighting."""

    created_at: str
    first_observed_at: str | None
    compliance: str | None
    """Compliance.Status as last imported."""
    workflow: str | None
    """Workflow.Status, as Security Hub or a person set it: NEW, NOTIFIED, RESOLVED, SUPPRESSED."""
    record_state: str | None

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> Seen:
        """From a finding as GetFindings returns it."""
        return cls(
            created_at=str(stored.get("CreatedAt", "")),
            first_observed_at=stored.get("FirstObservedAt"),
            compliance=(stored.get("Compliance") or {}).get("Status"),
            workflow=(stored.get("Workflow") or {}).get("Status"),
            record_state=stored.get("RecordState"),
        )


Activity = Literal["Create", "Update", "Close"]


def activity(f: Finding, seen: Seen | None) -> Activity:
    """What this sighting does to the finding: creates it (no history), closes it (it turns
    PASSED), or updates it."""
    if seen is None:
        return "Create"
    if f.passed and seen.compliance != "PASSED":
        return "Close"
    return "Update"


def to_resolve(f: Finding, seen: Seen | None) -> bool:
    """Set Workflow RESOLVED (BatchUpdateFindings) only for a finding that turns PASSED, or that
    passed while a last update never landed (still NEW); a person's SUPPRESSED, NOTIFIED of a
    passed finding, and RESOLVED are left as they are. A first sighting is created RESOLVED."""
    if not f.passed or seen is None:
        return False
    if seen.record_state == "ARCHIVED":  # made ACTIVE again by this import, which reopens it
        return seen.workflow != "SUPPRESSED"
    if seen.workflow == "NEW":
        return True
    return seen.workflow == "NOTIFIED" and seen.compliance != "PASSED"


def product_arn(partition: str, region: str, account: str) -> str:
    """The account's own custom integration: every account may import under it."""
    return f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default"


def identifier(f: Finding) -> dict[str, str]:
    """The finding's key in Security Hub ({Id, ProductArn}), as BatchUpdateFindings names it;
    ValueError for a finding that is not `importable`."""
    if f.account is None or f.region is None:
        raise ValueError(f"{f.table}: no account or region to import its finding into")
    return {"Id": f.id, "ProductArn": product_arn(f.partition, f.region, f.account)}


def asff(f: Finding, seen: Seen | None = None) -> dict[str, Any]:
    """The finding as Security Hub's BatchImportFindings takes it, keeping CreatedAt and
    FirstObservedAt from what Security Hub already holds (`seen`); ValueError for a finding that
    is not `importable` (no account or region to import it into)."""
    if f.account is None or f.region is None or f.arn is None:
        raise ValueError(f"{f.table}: no account or region to import its finding into")
    stamp = iso(f.observed_at)
    created = seen.created_at if seen is not None and seen.created_at else stamp
    first = (seen.first_observed_at or created) if seen is not None else stamp
    product_fields = {
        "sentinel/control": f.control.id,
        "sentinel/status": f.status,
        "sentinel/changed": "true" if f.changed else "false",
    }
    if f.before is not None and f.after is not None:
        product_fields["sentinel/before"] = json.dumps(f.before, sort_keys=True)
        product_fields["sentinel/after"] = json.dumps(f.after, sort_keys=True)
    if f.error is not None:
        product_fields["sentinel/error"] = str(f.error)[:2048]
    resource: dict[str, Any] = {"Type": RESOURCE_TYPE, "Id": f.arn, **_asff_partition(f.partition)}
    resource["Region"] = f.region
    if f.after is not None and f.after.get("deletion_protection") is not None:
        resource["Details"] = {
            "AwsDynamoDbTable": {
                "TableName": f.table,
                "DeletionProtectionEnabled": bool(f.after["deletion_protection"]),
            }
        }
    severity = "INFORMATIONAL" if f.passed else f.control.severity
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": f.id,
        "ProductArn": product_arn(f.partition, f.region, f.account),
        "ProductName": PRODUCT_NAME,
        "GeneratorId": f"{GENERATOR_PREFIX}/{f.control.id}",
        "AwsAccountId": f.account,
        "Region": f.region,
        "CreatedAt": created,
        "UpdatedAt": stamp,
        "FirstObservedAt": first,
        "LastObservedAt": stamp,
        "Title": f.control.title,
        "Description": _cut(f"{f.detail}. {f.control.description}", DESCRIPTION_LIMIT),
        "Remediation": {
            "Recommendation": {
                "Text": _cut(f.control.remediation, TEXT_LIMIT),
                "Url": f.control.docs_url,
            }
        },
        "SourceUrl": f.control.docs_url,
        "FindingProviderFields": {
            "Severity": {"Label": severity, "Original": f.control.severity},
            "Types": [CHECK_TYPE],
        },
        "ProductFields": product_fields,
        "Resources": [resource],
        # SecurityControlId is Security Hub's own controls' field: the AWS twin goes beside it.
        # NOT_AVAILABLE: AWS's value for a check that could not be performed.
        "Compliance": {"Status": f.compliance, **_related(f.control)},
        # Taken only when this import creates the finding; on an update Security Hub keeps its
        # own Workflow, so --security-hub sets one that turns PASSED RESOLVED with
        # BatchUpdateFindings (`to_resolve`).
        "Workflow": {"Status": "RESOLVED" if f.passed else "NEW"},
        "RecordState": "ACTIVE",
    }


@dataclass(frozen=True)
class Reprotection:
    """What the runtime guard saw and did: someone weakened a table, the guard protected it."""

    account: str
    region: str
    table: str
    arn: str | None
    who: str | None
    event_name: str
    event_id: str | None
    weakened_at: datetime | None
    """The CloudTrail event's time: when the protection was turned off."""
    reprotected_at: datetime
    controls: tuple[Control, ...]
    """What the guard turned back on."""
    protected: bool
    """The table is protected again, as read back from DynamoDB."""
    source: str | None = None
    """CloudTrail's sourceIPAddress: an IP address, or an AWS service's domain name."""


def guard_asff(r: Reprotection) -> dict[str, Any]:
    """One re-protection as an ASFF finding of its own: the history of attempts, one per event."""
    arn = r.arn or f"arn:{partition_of(r.region)}:dynamodb:{r.region}:{r.account}:table/{r.table}"
    partition = parsed.partition if (parsed := parse_arn(arn)) else partition_of(r.region)
    stamp = iso(r.reprotected_at)
    weakened = iso(r.weakened_at) if r.weakened_at else stamp
    names = ", ".join(c.noun for c in r.controls) or "nothing"
    who = r.who or "an unknown principal"
    outcome = "turned it back on" if r.protected else "could not turn it back on"
    detail = (
        f"{who} weakened {r.table} ({r.event_name} at {weakened}); the guard {outcome} "
        f"({names}) at {stamp}"
    )
    worst = max((c.severity for c in r.controls), key=_SEVERITY_ORDER.index, default="MEDIUM")
    event = r.event_id or f"{r.event_name}-{weakened}"
    result: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": f"{arn}/guard/{event}",
        "ProductArn": product_arn(partition, r.region, r.account),
        "ProductName": PRODUCT_NAME,
        "GeneratorId": f"{GUARD_GENERATOR_PREFIX}/{r.event_name}",
        "AwsAccountId": r.account,
        "Region": r.region,
        "CreatedAt": stamp,
        "UpdatedAt": stamp,
        "FirstObservedAt": weakened,
        "LastObservedAt": stamp,
        "Title": f"Protection of Sentinel DynamoDB table {r.table} was weakened"[:256],
        "Description": _cut(detail, DESCRIPTION_LIMIT),
        "FindingProviderFields": {
            "Severity": {"Label": worst if r.protected else "CRITICAL"},
            "Types": [GUARD_TYPE, CHECK_TYPE],
        },
        "ProductFields": {
            "sentinel/event": r.event_name,
            "sentinel/event-id": r.event_id or "",
            "sentinel/who": who,
            "sentinel/weakened-at": weakened,
            "sentinel/reprotected-at": stamp,
            "sentinel/reprotected": ",".join(c.id for c in r.controls),
            "sentinel/source": r.source or "",
        },
        "Resources": [
            {"Type": RESOURCE_TYPE, "Id": arn, **_asff_partition(partition), "Region": r.region}
        ],
        "Compliance": {"Status": "PASSED" if r.protected else "FAILED"},
        # The table holds again, but someone turned a protection off: a person should look.
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
        "Action": {
            "ActionType": "AWS_API_CALL",
            "AwsApiCallAction": {
                "Api": r.event_name,
                "ServiceName": "dynamodb.amazonaws.com",
                **_caller(r.source),
                "FirstSeen": weakened,
                "LastSeen": weakened,
            },
        },
    }
    result["ProductFields"] = {k: v for k, v in result["ProductFields"].items() if v}
    return result


def _caller(source: str | None) -> dict[str, Any]:
    """ASFF's CallerType (lower case, as AWS spells it) with its details: `remoteip` with the
    address, or `domain` for a call an AWS service made (sourceIPAddress is then its name)."""
    if source is None:
        return {"CallerType": "remoteip"}
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return {"CallerType": "domain", "DomainDetails": {"Domain": source}}
    if address.version == 6:  # RemoteIpDetails holds IpAddressV4 only: ProductFields keep it
        return {"CallerType": "remoteip"}
    return {"CallerType": "remoteip", "RemoteIpDetails": {"IpAddressV4": source}}


def _asff_partition(partition: str) -> dict[str, str]:
    value = ASFF_PARTITIONS.get(partition)
    return {"Partition": value} if value else {}


def fsbp(control: Control) -> str | None:
    """The control's AWS Foundational Security Best Practices id, as a requirement; None where
    FSBP has none (never the text "None")."""
    if control.aws_control is None:
        return None
    return f"AWS Foundational Security Best Practices {control.aws_control}"


def _related(control: Control) -> dict[str, list[str]]:
    named = fsbp(control)
    return {"RelatedRequirements": [named]} if named else {}


_SEVERITY_ORDER = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as Security Hub writes its own timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = [
    "ASFF_PARTITIONS",
    "CHECK_TYPE",
    "GENERATOR_PREFIX",
    "PRODUCT_NAME",
    "SCHEMA_VERSION",
    "Activity",
    "Compliance",
    "Finding",
    "Reprotection",
    "Seen",
    "Status",
    "activity",
    "asff",
    "finding",
    "fsbp",
    "guard_asff",
    "identifier",
    "iso",
    "partition_of",
    "product_arn",
    "to_resolve",
]
