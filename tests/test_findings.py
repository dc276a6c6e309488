"""Findings: the verdict per table and control, and its ASFF, OCSF and JUnit forms.

ASFF is checked by botocore's own validation of BatchImportFindings' input shape, OCSF by
py-ocsf-models re-reading what was written, JUnit by junitparser.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import validate_parameters
from junitparser import Failure, JUnitXml
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding

from remediation import findings, findings_junit, findings_ocsf
from remediation.controls import ALL, DELETION_PROTECTION, PITR, Control
from remediation.core import AwsError, Reading, Requirement, TableState

ACCOUNT = "123456789012"
REGION = "eu-west-1"
ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/sentinel-a"
AT = datetime(2026, 11, 29, 15, 0, 1, 250000, tzinfo=UTC)
ON = Reading(True)
OFF = Reading(False)
DEFAULT = Requirement()


def state(dp: Reading = ON, pitr: Reading = ON, days: int | None = 35, **kw: Any) -> TableState:
    """A compliant baseline table; each test changes one field."""
    return TableState("sentinel-a", dp, pitr, days if pitr.enabled else None, ARN, "ACTIVE", **kw)


def make(
    control: Control = DELETION_PROTECTION,
    before: TableState | None = None,
    after: TableState | None = None,
    changed: bool = False,
    error: AwsError | None = None,
    requirement: Requirement = DEFAULT,
) -> findings.Finding:
    before = before or state()
    return findings.finding(
        account=ACCOUNT,
        region=REGION,
        before=before,
        after=after or before,
        control=control,
        changed=changed,
        error=error,
        observed_at=AT,
        requirement=requirement,
    )


def import_shape() -> Any:
    model = botocore.session.get_session().get_service_model("securityhub")
    return model.operation_model("BatchImportFindings").input_shape


def assert_importable(documents: list[dict[str, Any]]) -> None:
    """botocore's own parameter validation: raises ParamValidationError on any wrong field."""
    validate_parameters({"Findings": documents}, import_shape())


# -- the verdict ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "control", "status"),
    [
        (state(), DELETION_PROTECTION, "pass"),
        (state(dp=OFF), DELETION_PROTECTION, "fail"),
        (state(dp=OFF), PITR, "pass"),
        (state(pitr=OFF), PITR, "fail"),
        (state(pitr=Reading(None)), PITR, "unknown"),
        (state(pitr=Reading(None, AwsError("x", "AccessDeniedException", "no"))), PITR, "error"),
    ],
)
def test_the_status_says_whether_the_control_holds(
    table: TableState, control: Control, status: str
) -> None:
    assert make(control, table).status == status


def test_a_recovery_period_shorter_than_the_minimum_fails_pitr_only() -> None:
    short = state(days=7)
    requirement = Requirement(ALL, 14)
    assert make(PITR, short, requirement=requirement).status == "fail"
    assert make(DELETION_PROTECTION, short, requirement=requirement).status == "pass"
    assert "keeps 7 days, fewer than 14" in make(PITR, short, requirement=requirement).detail


def test_a_failed_write_is_an_error_even_when_the_table_is_read() -> None:
    error = AwsError("dynamodb:UpdateTable", "AccessDeniedException", "denied")
    f = make(before=state(dp=OFF), error=error)
    assert f.status == "error" and f.error == error
    assert "AccessDeniedException" in f.detail


def test_an_unreadable_table_is_an_error_with_no_state() -> None:
    gone = TableState("sentinel-a", arn=ARN, error=AwsError("x", "ResourceNotFoundException", "?"))
    f = make(before=gone)
    assert f.status == "error" and f.before is None and f.after is None


def test_the_id_is_stable_per_account_region_table_and_control() -> None:
    first = make(before=state(dp=OFF))
    later = findings.finding(
        account=ACCOUNT,
        region=REGION,
        before=state(dp=OFF),
        after=state(),
        control=DELETION_PROTECTION,
        changed=True,
        error=None,
        observed_at=datetime(2027, 1, 1, tzinfo=UTC),
        requirement=Requirement(),
    )
    assert first.id == later.id == f"{ARN}/dynamodb-deletion-protection"
    assert make(PITR).id != first.id


def test_a_table_without_an_arn_gets_one_from_its_account_and_region() -> None:
    f = make(before=TableState("sentinel-a", ON, ON), control=DELETION_PROTECTION)
    assert f.arn == ARN
    china = findings.finding(
        account=ACCOUNT,
        region="cn-north-1",
        before=TableState("sentinel-a", ON, ON),
        after=TableState("sentinel-a", ON, ON),
        control=PITR,
        changed=False,
        error=None,
        observed_at=AT,
        requirement=Requirement(),
    )
    assert china.arn.startswith("arn:aws-cn:dynamodb:cn-north-1:")


# -- ASFF --------------------------------------------------------------------------------------


def test_every_kind_of_finding_passes_botocores_validation_of_batch_import_findings() -> None:
    error = AwsError("dynamodb:UpdateTable", "AccessDeniedException", "denied")
    every = [
        findings.asff(make()),
        findings.asff(make(PITR, state(pitr=OFF))),
        findings.asff(make(before=state(dp=OFF), after=state(), changed=True)),
        findings.asff(make(before=state(dp=OFF), error=error)),
        findings.asff(make(PITR, state(pitr=Reading(None)))),
    ]
    assert_importable(every)


def test_a_protected_tables_finding_is_passed_and_resolved() -> None:
    document = findings.asff(make(before=state(dp=OFF), after=state(), changed=True))
    assert document["Compliance"]["Status"] == "PASSED"
    assert document["Workflow"]["Status"] == "RESOLVED"
    assert document["FindingProviderFields"]["Severity"]["Label"] == "INFORMATIONAL"
    assert json.loads(document["ProductFields"]["sentinel/before"])["deletion_protection"] is False
    assert json.loads(document["ProductFields"]["sentinel/after"])["deletion_protection"] is True
    assert document["ProductFields"]["sentinel/changed"] == "true"


@pytest.mark.parametrize(
    ("table", "compliance"), [(state(dp=OFF), "FAILED"), (state(dp=Reading(None)), "NOT_AVAILABLE")]
)
def test_an_unprotected_tables_finding_is_failed_an_unknown_ones_not_available_and_both_new(
    table: TableState, compliance: str
) -> None:
    document = findings.asff(make(before=table))
    assert document["Compliance"]["Status"] == compliance
    assert document["Workflow"]["Status"] == "NEW"
    assert document["FindingProviderFields"]["Severity"]["Label"] == DELETION_PROTECTION.severity


def test_asff_names_the_accounts_own_custom_integration_and_the_control() -> None:
    document = findings.asff(make(PITR))
    assert document["ProductArn"] == (
        f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
    )
    assert document["GeneratorId"] == "sentinel-harden/dynamodb-point-in-time-recovery"
    assert document["AwsAccountId"] == ACCOUNT
    assert document["Resources"][0] == {
        "Type": "AwsDynamoDbTable",
        "Id": ARN,
        "Partition": "aws",
        "Region": REGION,
        "Details": {
            "AwsDynamoDbTable": {"TableName": "sentinel-a", "DeletionProtectionEnabled": True}
        },
    }
    assert document["Remediation"]["Recommendation"] == {
        "Text": PITR.remediation,
        "Url": PITR.docs_url,
    }
    assert document["Title"] == PITR.title
    assert document["Compliance"]["RelatedRequirements"] == [
        "AWS Foundational Security Best Practices DynamoDB.2"  # Security Hub's own PITR control
    ]
    assert document["CreatedAt"] == "2026-11-29T15:00:01.250Z"


def test_a_reprotection_by_the_guard_is_importable_and_says_who_when_and_what() -> None:
    r = findings.Reprotection(
        account=ACCOUNT,
        region=REGION,
        table="sentinel-a",
        arn=ARN,
        who="arn:aws:iam::123456789012:user/mallory",
        event_name="UpdateTable",
        event_id="ev-1",
        weakened_at=datetime(2026, 11, 29, 14, 59, 58, tzinfo=UTC),
        reprotected_at=AT,
        controls=(DELETION_PROTECTION,),
        protected=True,
    )
    document = findings.guard_asff(r)
    assert_importable([document])
    assert document["Id"] == f"{ARN}/guard/ev-1"
    assert document["ProductFields"]["sentinel/who"] == "arn:aws:iam::123456789012:user/mallory"
    assert document["ProductFields"]["sentinel/weakened-at"] == "2026-11-29T14:59:58.000Z"
    assert document["ProductFields"]["sentinel/reprotected-at"] == "2026-11-29T15:00:01.250Z"
    assert document["Action"]["AwsApiCallAction"]["Api"] == "UpdateTable"
    assert document["Compliance"]["Status"] == "PASSED"
    assert "mallory" in document["Description"]


# -- OCSF --------------------------------------------------------------------------------------


def test_ocsf_is_a_compliance_finding_that_py_ocsf_models_reads_back() -> None:
    [document] = findings_ocsf.ocsf_json([make(PITR, state(pitr=OFF))])
    again = ComplianceFinding.model_validate(document)
    assert again.class_uid == 2003 and document["class_uid"] == 2003
    assert document["type_uid"] == 200301  # Create: a file has no history
    assert document["metadata"]["version"] == "1.5.0"
    assert document["status_code"] == "FAIL"
    assert document["resources"][0]["uid"] == ARN
    assert document["finding_info"]["uid"] == f"{ARN}/dynamodb-point-in-time-recovery"
    assert document["compliance"]["status_id"] == 3  # Fail
    assert document["compliance"]["requirements"] == [
        "AWS Foundational Security Best Practices DynamoDB.2"
    ]
    assert "unmapped" not in document
    assert document["remediation"]["references"] == [PITR.docs_url]
    assert document["cloud"]["account"]["uid"] == ACCOUNT


def test_ocsf_of_a_control_turned_on_in_this_run_carries_before_and_after() -> None:
    [document] = findings_ocsf.ocsf_json([make(before=state(dp=OFF), after=state(), changed=True)])
    data = document["resources"][0]["data"]
    assert data["before"]["deletion_protection"] is False
    assert data["after"]["deletion_protection"] is True
    assert document["status_code"] == "PASS"
    assert document["compliance"]["status_id"] == 1  # Pass
    assert "status_id" not in document  # the consumer's to set, OCSF says


def test_ocsf_of_a_control_left_alone_carries_only_its_state() -> None:
    [document] = findings_ocsf.ocsf_json([make()])
    assert set(document["resources"][0]["data"]) == {"after", "changed"}


# -- JUnit -------------------------------------------------------------------------------------


def test_junit_has_one_testcase_per_table_and_control_and_a_failure_for_each_that_does_not_hold(
    tmp_path: Path,
) -> None:
    error = AwsError("dynamodb:UpdateContinuousBackups", "AccessDeniedException", "denied")
    every = [
        make(before=state(dp=OFF), after=state(), changed=True),
        make(PITR, state(pitr=OFF), error=error),
    ]
    other = TableState("sentinel-b", OFF, Reading(None), arn=ARN.replace("-a", "-b"))
    every += [make(DELETION_PROTECTION, other), make(PITR, other)]
    path = tmp_path / "junit.xml"
    path.write_text(findings_junit.junit_xml(every))
    xml = JUnitXml.fromfile(str(path))
    cases = [(case.classname, case.name, case) for suite in xml for case in suite]
    assert [(c, n) for c, n, _ in cases] == [
        (f"{ACCOUNT}.{REGION}.sentinel-a", "dynamodb-deletion-protection"),
        (f"{ACCOUNT}.{REGION}.sentinel-a", "dynamodb-point-in-time-recovery"),
        (f"{ACCOUNT}.{REGION}.sentinel-b", "dynamodb-deletion-protection"),
        (f"{ACCOUNT}.{REGION}.sentinel-b", "dynamodb-point-in-time-recovery"),
    ]
    failed = {
        (c, n): result.type
        for c, n, case in cases
        for result in case.result
        if isinstance(result, Failure)
    }
    assert failed == {
        (f"{ACCOUNT}.{REGION}.sentinel-a", "dynamodb-point-in-time-recovery"): "error",
        (f"{ACCOUNT}.{REGION}.sentinel-b", "dynamodb-deletion-protection"): "fail",
        (f"{ACCOUNT}.{REGION}.sentinel-b", "dynamodb-point-in-time-recovery"): "unknown",
    }
    xml.update_statistics()
    assert (xml.tests, xml.failures) == (4, 3)
