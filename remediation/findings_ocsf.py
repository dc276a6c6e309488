"""A finding as an OCSF Compliance Finding (class 2003), for a data lake or SIEM.

Built and validated with py-ocsf-models (imported only when asked for: pydantic costs more start-up
than the whole CLI otherwise). py-ocsf-models 0.10.0 builds OCSF 1.5.0, and that is the version the
events declare. A configuration check is a Compliance Finding with `compliance` filled in, as AWS
itself reports control results in OCSF. This is not an import into the new Security Hub: a custom
integration imports ASFF into Security Hub CSPM (`remediation.findings.asff`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from remediation.findings import (
    CHECK_TYPE,
    GENERATOR_PREFIX,
    PRODUCT_NAME,
    RESOURCE_TYPE,
    Finding,
    Seen,
    activity,
    fsbp,
)

OCSF_VERSION = "1.5.0"
"""What py-ocsf-models 0.10.0 builds; moves to 1.6 when a release of the models does."""
OCSF_PRODUCT = {"name": PRODUCT_NAME, "uid": GENERATOR_PREFIX, "vendor_name": "Sentinel"}


def ocsf(f: Finding, version: str = "", seen: Seen | None = None) -> Any:
    """The finding as an OCSF Compliance Finding; `seen` (Security Hub CSPM's record of it)
    makes its activity Update or Close, and no history makes it Create."""
    from py_ocsf_models.events.base_event import SeverityID
    from py_ocsf_models.events.findings.activity_id import ActivityID
    from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding
    from py_ocsf_models.events.findings.compliance_finding_type_id import ComplianceFindingTypeID
    from py_ocsf_models.objects.remediation import Remediation

    severity = (
        SeverityID.Informational if f.passed else getattr(SeverityID, f.control.severity.title())
    )
    act = ActivityID[activity(f, seen)]
    kind = ComplianceFindingTypeID[act.name]
    millis = int(f.observed_at.timestamp() * 1000)
    return ComplianceFinding(
        activity_id=act,
        activity_name=act.name,
        type_uid=kind,
        type_name=f"Compliance Finding: {act.name}",
        time=millis,
        message=f.detail,
        severity_id=severity,
        severity=severity.name,
        # No status_id: OCSF says the consumer sets a finding's status (its workflow).
        status_code=f.status.upper(),
        status_detail=f.detail,
        compliance=_compliance(f),
        finding_info=_finding_info(f, millis, seen),
        remediation=Remediation(desc=f.control.remediation, references=[f.control.docs_url]),
        resources=[_resource(f)],
        metadata=_metadata(f, version),
    )


def _compliance(f: Finding) -> Any:
    """The control the finding is about, and whether it holds: Warning (no result, for want of
    information) where ASFF says NOT_AVAILABLE."""
    from py_ocsf_models.objects.check import Check
    from py_ocsf_models.objects.compliance import Compliance
    from py_ocsf_models.objects.compliance_status import StatusID as ComplianceStatusID

    status = {
        "PASSED": ComplianceStatusID.Pass,
        "FAILED": ComplianceStatusID.Fail,
        "NOT_AVAILABLE": ComplianceStatusID.Warning,
    }[f.compliance]
    named = fsbp(f.control)
    return Compliance(
        control=f.control.id,
        desc=f.control.description,
        requirements=[named] if named else None,
        standards=["AWS Foundational Security Best Practices"] if named else None,
        status_id=status,
        checks=[
            Check(
                uid=f.control.id,
                name=f.control.title,
                desc=f.control.description,
                status=status.name,
                status_id=status,
            )
        ],
    )


def _finding_info(f: Finding, millis: int, seen: Seen | None) -> Any:
    from py_ocsf_models.objects.finding_info import FindingInformation

    created = _millis(seen.created_at) if seen is not None else None
    return FindingInformation(
        uid=f.id,
        title=f.control.title,
        desc=f.control.description,
        created_time=created or millis,
        modified_time=millis if seen is not None else None,
        types=[CHECK_TYPE],
    )


def _millis(stamp: str) -> int | None:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _resource(f: Finding) -> Any:
    """The table, with its protection after the run (and before it, when the run changed it),
    whether this run changed it, and AWS's error: `data` is OCSF's JSON attribute for them."""
    from py_ocsf_models.objects.resource_details import ResourceDetails

    data: dict[str, object] = {"after": f.after, "changed": f.changed}
    if f.changed:
        data["before"] = f.before
    if f.error is not None:
        data["error"] = {"action": f.error.action, "code": f.error.code, "message": f.error.message}
    return ResourceDetails(
        uid=f.arn,
        name=f.table,
        type=RESOURCE_TYPE,
        region=f.region,
        cloud_partition=f.partition,
        data=data,
    )


def _cloud(f: Finding) -> Any:
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


def _metadata(f: Finding, version: str) -> Any:
    from py_ocsf_models.objects.metadata import Metadata
    from py_ocsf_models.objects.product import Product

    return Metadata(
        event_code=f.control.id,
        product=Product(**OCSF_PRODUCT, version=version or None),
        profiles=["cloud"],
        version=OCSF_VERSION,
    )


def ocsf_json(
    findings: Iterable[Finding], version: str = "", seen: Mapping[str, Seen] | None = None
) -> list[dict[str, Any]]:
    """Every finding as an OCSF Compliance Finding, as JSON values (None fields left out), with
    the `cloud` profile's attribute (the models' class has no field for it)."""
    history = seen or {}
    return [
        {
            **ocsf(f, version, history.get(f.id)).model_dump(mode="json", exclude_none=True),
            "cloud": _cloud(f).model_dump(mode="json", exclude_none=True),
        }
        for f in findings
    ]


__all__ = ["OCSF_PRODUCT", "OCSF_VERSION", "ocsf", "ocsf_json"]
