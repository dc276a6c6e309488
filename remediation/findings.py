"""Findings: one verdict per table and control, in the formats security teams already read.

Pure, like the core: core values in (where, the control, the state before and after, what changed,
the error), one neutral `Finding` out, and from it an ASFF dict (Security Hub), an OCSF Detection
Finding (built and validated with py-ocsf-models, imported only when asked for) and JUnit XML.
Every human sentence comes from the control's record in `remediation.controls`. No I/O, no boto3.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from remediation import core
from remediation.controls import PITR, Control
from remediation.core import AwsError, Requirement, TableState, parse_arn

Status = Literal["pass", "fail", "unknown", "error"]
"""pass: the control holds; fail: it provably does not; unknown: it could not be read; error:
AWS refused a read or a write about it."""

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
    )


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _status(
    after: TableState, control: Control, error: AwsError | None, requirement: Requirement
) -> Status:
    if error is not None:
        return "error"
    if after.reading(control).enabled is None:
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


# -- ASFF (Security Hub) --------------------------------------------------------------------------


def product_arn(partition: str, region: str, account: str) -> str:
    """The account's own custom integration: every account may import under it."""
    return f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default"


def identifier(f: Finding) -> dict[str, str]:
    """The finding's key in Security Hub ({Id, ProductArn}), as BatchUpdateFindings names it;
    ValueError for a finding that is not `importable`."""
    if f.account is None or f.region is None:
        raise ValueError(f"{f.table}: no account or region to import its finding into")
    return {"Id": f.id, "ProductArn": product_arn(f.partition, f.region, f.account)}


def asff(f: Finding) -> dict[str, Any]:
    """The finding as Security Hub's BatchImportFindings takes it; ValueError for a finding that
    is not `importable` (no account or region to import it into)."""
    if f.account is None or f.region is None or f.arn is None:
        raise ValueError(f"{f.table}: no account or region to import its finding into")
    stamp = _iso(f.observed_at)
    # Unknown counts as missing, as everywhere: sentinel/status tells fail, unknown and error apart.
    compliance = "PASSED" if f.passed else "FAILED"
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
    resource: dict[str, Any] = {
        "Type": RESOURCE_TYPE,
        "Id": f.arn,
        "Partition": f.partition,
        "Region": f.region,
    }
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
        "CreatedAt": stamp,
        "UpdatedAt": stamp,
        "FirstObservedAt": stamp,
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
        "Compliance": {"Status": compliance, "RelatedRequirements": [_fsbp(f.control)]},
        # Taken only when this import creates the finding; on an update Security Hub keeps its
        # own Workflow, so --security-hub sets a passed one RESOLVED with BatchUpdateFindings.
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


def guard_asff(r: Reprotection) -> dict[str, Any]:
    """One re-protection as an ASFF finding of its own: the history of attempts, one per event."""
    arn = r.arn or (f"arn:{partition_of(r.region)}:dynamodb:{r.region}:{r.account}:table/{r.table}")
    partition = parsed.partition if (parsed := parse_arn(arn)) else partition_of(r.region)
    stamp = _iso(r.reprotected_at)
    weakened = _iso(r.weakened_at) if r.weakened_at else stamp
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
        },
        "Resources": [
            {"Type": RESOURCE_TYPE, "Id": arn, "Partition": partition, "Region": r.region}
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
                "CallerType": "remoteIp",
                "FirstSeen": weakened,
                "LastSeen": weakened,
            },
        },
    }
    result["ProductFields"] = {k: v for k, v in result["ProductFields"].items() if v}
    return result


def _fsbp(control: Control) -> str:
    return f"AWS Foundational Security Best Practices {control.aws_control}"


_SEVERITY_ORDER = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")


def _iso(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as Security Hub writes its own timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- OCSF (Detection Finding, class 2004) ---------------------------------------------------------

OCSF_PRODUCT = {"name": PRODUCT_NAME, "uid": GENERATOR_PREFIX, "vendor_name": "Sentinel"}


def ocsf(f: Finding, version: str = "") -> Any:
    """The finding as an OCSF Detection Finding (py-ocsf-models validates every field)."""
    # Imported here: pydantic and the models cost more start-up than the whole CLI otherwise.
    from py_ocsf_models.events.base_event import SeverityID, StatusID
    from py_ocsf_models.events.findings.detection_finding import (
        DetectionFinding,
        DetectionFindingTypeID,
    )
    from py_ocsf_models.events.findings.finding import ActivityID
    from py_ocsf_models.objects.remediation import Remediation

    severity = (
        SeverityID.Informational if f.passed else getattr(SeverityID, f.control.severity.title())
    )
    status = StatusID.Resolved if f.passed else StatusID.New
    millis = int(f.observed_at.timestamp() * 1000)
    return DetectionFinding(
        activity_id=ActivityID.Create,
        activity_name=ActivityID.Create.name,
        type_uid=DetectionFindingTypeID.Create,
        type_name=f"Detection Finding: {DetectionFindingTypeID.Create.name}",
        time=millis,
        time_dt=f.observed_at,
        message=f.detail,
        severity_id=severity,
        severity=severity.name,
        status_id=status,
        status=status.name,
        status_code=f.status.upper(),
        status_detail=f.detail,
        finding_info=_ocsf_finding_info(f, millis),
        remediation=Remediation(desc=f.control.remediation, references=[f.control.docs_url]),
        resources=[_ocsf_resource(f)],
        cloud=_ocsf_cloud(f),
        metadata=_ocsf_metadata(f, version),
        unmapped=_ocsf_unmapped(f),
    )


def _ocsf_compliance(f: Finding) -> Any:
    """The control the finding is about, and whether it holds, as an OCSF Compliance object."""
    from py_ocsf_models.objects.check import Check
    from py_ocsf_models.objects.compliance import Compliance
    from py_ocsf_models.objects.compliance_status import StatusID as ComplianceStatusID

    compliance_id = {
        "pass": ComplianceStatusID.Pass,
        "fail": ComplianceStatusID.Fail,
        "unknown": ComplianceStatusID.Fail,  # unknown counts as missing
        "error": ComplianceStatusID.Fail,
    }[f.status]
    return Compliance(
        control=f.control.id,
        desc=f.control.description,
        requirements=[_fsbp(f.control)],
        status_id=compliance_id,
        checks=[
            Check(
                uid=f.control.id,
                name=f.control.title,
                desc=f.control.description,
                status=compliance_id.name,
                status_id=compliance_id,
            )
        ],
    )


def _ocsf_unmapped(f: Finding) -> dict[str, object]:
    """What a Detection Finding has no field for: the compliance, the change, the error."""
    compliance = _ocsf_compliance(f)
    unmapped: dict[str, object] = {
        "compliance": compliance.model_dump(mode="json", exclude_none=True),
        "changed": f.changed,
    }
    if f.error is not None:
        unmapped["error"] = {
            "action": f.error.action,
            "code": f.error.code,
            "message": f.error.message,
        }
    return unmapped


def _ocsf_finding_info(f: Finding, millis: int) -> Any:
    from py_ocsf_models.events.findings.finding import FindingInformation

    return FindingInformation(
        uid=f.id,
        title=f.control.title,
        desc=f.control.description,
        created_time=millis,
        created_time_dt=f.observed_at,
        types=[CHECK_TYPE],
    )


def _ocsf_resource(f: Finding) -> Any:
    """The table, with its protection after the run (and before it, when the run changed it)."""
    from py_ocsf_models.objects.resource_details import ResourceDetails

    data: dict[str, object] = {"after": f.after}
    if f.changed:
        data["before"] = f.before
    return ResourceDetails(
        uid=f.arn,
        name=f.table,
        type=RESOURCE_TYPE,
        region=f.region,
        cloud_partition=f.partition,
        data=data,
    )


def _ocsf_cloud(f: Finding) -> Any:
    from py_ocsf_models.objects.account import Account, TypeID
    from py_ocsf_models.objects.cloud import Cloud

    return Cloud(
        provider="aws",
        region=f.region,
        account=Account(
            uid=f.account, name=f.account, type_id=TypeID.AWS_Account, type="AWS Account"
        )
        if f.account
        else None,
    )


def _ocsf_metadata(f: Finding, version: str) -> Any:
    from py_ocsf_models.objects.metadata import Metadata
    from py_ocsf_models.objects.product import Product

    return Metadata(
        event_code=f.control.id,
        product=Product(**OCSF_PRODUCT, version=version or None),
        profiles=["cloud", "datetime"],
    )


def ocsf_json(findings: Iterable[Finding], version: str = "") -> list[dict[str, Any]]:
    """Every finding as an OCSF Detection Finding, as JSON values (None fields left out)."""
    return [ocsf(f, version).model_dump(mode="json", exclude_none=True) for f in findings]


# -- JUnit XML -------------------------------------------------------------------------------------


def junit_xml(
    findings: Sequence[Finding], run_errors: Sequence[str] = (), name: str = GENERATOR_PREFIX
) -> str:
    """One testsuite per account-region, one testcase per table and control, and a failure for
    each control that does not hold (unprotected, unknown, or an error on the way).

    What kept the run from checking at all (a setup error, an account-region not reached) is an
    error of its own; a run that checked no table at all says so as a skipped testcase, so that
    no dashboard shows an empty run as green.
    """
    suites: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        suites.setdefault((f.account or "-", f.region or "-"), []).append(f)
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if run_errors or not findings:
        suite = ET.SubElement(root, "testsuite", name=f"{name} run")
        for text in run_errors:
            case = ET.SubElement(suite, "testcase", classname=name, name="run", time="0")
            ET.SubElement(case, "error", message=text, type="run").text = text
        if not findings:
            case = ET.SubElement(suite, "testcase", classname=name, name="tables", time="0")
            ET.SubElement(case, "skipped", message="no table was checked")
        suite.set("tests", str(len(run_errors) + (0 if findings else 1)))
        suite.set("failures", "0")
        suite.set("errors", str(len(run_errors)))
        suite.set("skipped", "0" if findings else "1")
        totals["tests"] += len(run_errors) + (0 if findings else 1)
        totals["errors"] += len(run_errors)
        totals["skipped"] += 0 if findings else 1
    for (account, region), group in sorted(suites.items()):
        failed = [f for f in group if not f.passed]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"{name} {account} {region}",
            tests=str(len(group)),
            failures=str(len(failed)),
            errors="0",
            skipped="0",
        )
        if group:
            suite.set("timestamp", group[0].observed_at.strftime("%Y-%m-%dT%H:%M:%S"))
        for f in group:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{account}.{region}.{f.table}",
                name=f.control.id,
                time="0",
            )
            properties = ET.SubElement(case, "properties")
            if f.arn:
                ET.SubElement(properties, "property", name="arn", value=f.arn)
            ET.SubElement(properties, "property", name="status", value=f.status)
            if f.changed:
                ET.SubElement(properties, "property", name="changed", value="true")
            if not f.passed:
                failure = ET.SubElement(case, "failure", message=f.detail, type=f.status)
                failure.text = f"{f.detail}\n\n{f.control.remediation}\n{f.control.docs_url}"
            else:
                ET.SubElement(case, "system-out").text = f.detail
        totals["tests"] += len(group)
        totals["failures"] += len(failed)
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


__all__ = [
    "CHECK_TYPE",
    "GENERATOR_PREFIX",
    "PRODUCT_NAME",
    "SCHEMA_VERSION",
    "Finding",
    "Reprotection",
    "Status",
    "asff",
    "finding",
    "guard_asff",
    "identifier",
    "junit_xml",
    "ocsf",
    "ocsf_json",
    "partition_of",
    "product_arn",
]
