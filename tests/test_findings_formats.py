"""The findings formats against AWS's rules and the formats' own schemas: ASFF with botocore's
validation of BatchImportFindings, OCSF against the OCSF 1.5.0 schema (tests/ocsf_schema.py), JUnit
against the xUnit plugin's junit-10.xsd (tests/junit_xsd.py), and the history Security Hub CSPM
keeps (CreatedAt, Workflow, OCSF's activity)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from lxml import etree

from remediation import findings, findings_junit, findings_ocsf
from remediation.controls import DELETION_PROTECTION, GUARDRAIL, PITR
from remediation.core import AwsError, Reading, Requirement, TableState
from tests import junit_xsd, ocsf_schema
from tests.test_findings import ACCOUNT, AT, OFF, ON, REGION, assert_importable, make, state

DENIED = AwsError("dynamodb:DescribeContinuousBackups", "AccessDeniedException", "denied")
EVERY = {
    "passed": lambda: make(),
    "hardened": lambda: make(before=state(dp=OFF), after=state(), changed=True),
    "failed": lambda: make(PITR, state(pitr=OFF)),
    "unknown": lambda: make(PITR, state(pitr=Reading(None))),
    "read refused": lambda: make(PITR, state(pitr=Reading(None, DENIED))),
    "write refused": lambda: make(before=state(dp=OFF), error=DENIED),
}


def seen(compliance: str = "FAILED", workflow: str = "NEW", state: str = "ACTIVE") -> Any:
    return findings.Seen("2026-01-02T03:04:05.000Z", "2026-01-02T03:04:05.000Z", compliance,
                         workflow, state)  # fmt: skip


# -- ASFF ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("finding", "status"),
    [
        (EVERY["unknown"], "NOT_AVAILABLE"),
        (EVERY["read refused"], "NOT_AVAILABLE"),
        (EVERY["write refused"], "FAILED"),  # read as off: judged, and it fails
        (EVERY["failed"], "FAILED"),
        (EVERY["passed"], "PASSED"),
    ],
)
def test_asff_says_not_available_only_for_what_could_not_be_read_or_judged(
    finding: Any, status: str
) -> None:
    assert findings.asff(finding())["Compliance"]["Status"] == status


def test_an_unknown_recovery_period_under_a_minimum_is_not_available_not_failed() -> None:
    table = TableState("sentinel-a", ON, ON, None, f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/x")
    verdict = make(PITR, table, requirement=Requirement(min_recovery_days=14))
    assert (verdict.status, verdict.compliance) == ("unknown", "NOT_AVAILABLE")
    assert "recovery period could not be read" in verdict.detail


@pytest.mark.parametrize(
    ("region", "partition", "asff_partition"),
    [
        ("eu-west-1", "aws", "aws"),
        ("cn-north-1", "aws-cn", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso", "aws-us-iso"),
        ("us-isob-east-1", "aws-iso-b", "aws-us-iso-b"),
        ("eusc-de-east-1", "aws-eusc", None),  # ASFF has no value for it: left out
        ("eu-isoe-west-1", "aws-iso-e", None),
        ("us-isof-south-1", "aws-iso-f", None),
    ],
)
def test_the_partition_comes_from_botocores_data_and_asff_takes_its_own_names(
    region: str, partition: str, asff_partition: str | None
) -> None:
    assert findings.partition_of(region) == partition
    verdict = findings.finding(
        account=ACCOUNT,
        region=region,
        before=TableState("sentinel-a", ON, ON, 35),
        after=TableState("sentinel-a", ON, ON, 35),
        control=DELETION_PROTECTION,
        changed=False,
        error=None,
        observed_at=AT,
        requirement=Requirement(),
    )
    document = findings.asff(verdict)
    assert document["ProductArn"].startswith(f"arn:{partition}:securityhub:{region}:")
    assert document["Resources"][0]["Id"].startswith(f"arn:{partition}:dynamodb:{region}:")
    assert document["Resources"][0].get("Partition") == asff_partition
    assert_importable([document])


def test_a_control_fsbp_has_no_twin_for_names_no_fsbp_control() -> None:
    verdict = replace(make(), control=GUARDRAIL)
    assert "RelatedRequirements" not in findings.asff(verdict)["Compliance"]
    assert "None" not in str(findings_ocsf.ocsf_json([verdict]))
    [document] = findings_ocsf.ocsf_json([verdict])
    assert "requirements" not in document["compliance"]


def test_history_keeps_created_at_and_first_observed_at() -> None:
    document = findings.asff(make(), seen("PASSED", "RESOLVED"))
    assert document["CreatedAt"] == document["FirstObservedAt"] == "2026-01-02T03:04:05.000Z"
    assert document["UpdatedAt"] == document["LastObservedAt"] == "2026-11-29T15:00:01.250Z"
    first = findings.asff(make())
    assert first["CreatedAt"] == first["FirstObservedAt"] == "2026-11-29T15:00:01.250Z"


@pytest.mark.parametrize(
    ("verdict", "history", "resolve"),
    [
        (EVERY["passed"], seen("FAILED", "NEW"), True),  # turns PASSED
        (EVERY["passed"], seen("FAILED", "NOTIFIED"), True),
        (EVERY["passed"], seen("PASSED", "NEW"), True),  # an earlier update never landed
        (EVERY["passed"], seen("PASSED", "RESOLVED"), False),  # not on every run
        (EVERY["passed"], seen("PASSED", "NOTIFIED"), False),
        (EVERY["passed"], seen("FAILED", "SUPPRESSED"), False),  # a person's choice stays
        (EVERY["passed"], None, False),  # a first sighting is created RESOLVED
        (EVERY["failed"], seen("FAILED", "NEW"), False),
        (EVERY["passed"], seen("PASSED", "RESOLVED", "ARCHIVED"), True),  # reopened by import
    ],
)
def test_workflow_is_resolved_only_when_a_finding_turns_passed(
    verdict: Any, history: Any, resolve: bool
) -> None:
    assert findings.to_resolve(verdict(), history) is resolve


def guard_finding(source: str | None) -> dict[str, Any]:
    r = findings.Reprotection(
        account=ACCOUNT,
        region=REGION,
        table="sentinel-a",
        arn=None,
        who="arn:aws:iam::123456789012:user/mallory",
        event_name="UpdateTable",
        event_id="ev-1",
        weakened_at=datetime(2026, 11, 29, 14, 59, 58, tzinfo=UTC),
        reprotected_at=AT,
        controls=(DELETION_PROTECTION,),
        protected=True,
        source=source,
    )
    document = findings.guard_asff(r)
    assert_importable([document])
    return dict(document["Action"]["AwsApiCallAction"])


def test_the_guards_caller_type_is_remoteip_with_the_source_address() -> None:
    action = guard_finding("203.0.113.7")
    assert action["CallerType"] == "remoteip"
    assert action["RemoteIpDetails"] == {"IpAddressV4": "203.0.113.7"}
    assert "RemoteIpDetails" not in guard_finding("2001:db8::1")  # ASFF holds IPv4 only
    assert guard_finding(None)["CallerType"] == "remoteip"


def test_a_call_an_aws_service_made_is_a_domain_caller() -> None:
    action = guard_finding("cloudformation.amazonaws.com")
    assert action["CallerType"] == "domain"
    assert action["DomainDetails"] == {"Domain": "cloudformation.amazonaws.com"}


# -- OCSF 1.5.0 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(EVERY))
def test_every_kind_of_finding_holds_against_the_ocsf_1_5_0_schema(kind: str) -> None:
    ocsf_schema.require()
    for history in (None, seen("FAILED", "NEW")):
        [document] = findings_ocsf.ocsf_json(
            [EVERY[kind]()], "1.0", {EVERY[kind]().id: history} if history else None
        )
        assert ocsf_schema.errors(document, 2003) == []
        assert document["class_uid"] == 2003
        assert document["metadata"]["version"] == ocsf_schema.VERSION


@pytest.mark.parametrize(
    ("verdict", "history", "activity", "type_uid"),
    [
        (EVERY["failed"], None, "Create", 200301),
        (EVERY["passed"], None, "Create", 200301),
        (EVERY["failed"], seen("FAILED"), "Update", 200302),
        (EVERY["passed"], seen("PASSED", "RESOLVED"), "Update", 200302),
        (EVERY["passed"], seen("FAILED"), "Close", 200303),
    ],
)
def test_ocsf_activity_follows_security_hubs_history(
    verdict: Any, history: Any, activity: str, type_uid: int
) -> None:
    finding = verdict()
    [document] = findings_ocsf.ocsf_json([finding], seen={finding.id: history} if history else None)
    assert (document["activity_name"], document["type_uid"]) == (activity, type_uid)


def test_ocsf_says_warning_where_asff_says_not_available() -> None:
    [document] = findings_ocsf.ocsf_json([EVERY["unknown"]()])
    assert document["compliance"]["status_id"] == 2  # Warning: no result for want of information


# -- JUnit against junit-10.xsd -------------------------------------------------------------------

ANSI = "\x1b[31mdenied\x1b[0m\x00\x07"


def test_junit_of_every_kind_of_finding_validates_against_the_xunit_xsd() -> None:
    junit_xsd.require()
    ansi = AwsError("dynamodb:UpdateTable", "AccessDeniedException", ANSI)
    every = [build() for build in EVERY.values()] + [make(before=state(dp=OFF), error=ansi)]
    for xml in (
        findings_junit.junit_xml(every),
        findings_junit.junit_xml([], [f"setup failed: {ANSI}"]),
        findings_junit.junit_xml(every, ["123456789012 eu-west-1: failed: denied"]),
    ):
        assert junit_xsd.errors(xml.encode()) == []
        assert "\x1b" not in xml and "\x00" not in xml


def test_junit_details_are_in_system_out_not_in_properties() -> None:
    xml = findings_junit.junit_xml([EVERY["hardened"](), EVERY["failed"]()])
    root = etree.fromstring(xml.encode())
    assert root.find(".//properties") is None
    assert root.get("skipped") is None
    outs = [case.findtext("system-out") for case in root.iter("testcase")]
    assert all(f"arn: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/sentinel-a" in o for o in outs)
    assert "status: pass" in outs[0] and "changed: true" in outs[0]
    assert "status: fail" in outs[1]


def test_an_ansi_escape_in_an_aws_message_leaves_the_file_readable() -> None:
    ansi = AwsError("dynamodb:UpdateTable", "AccessDeniedException", ANSI)
    xml = findings_junit.junit_xml([make(before=state(dp=OFF), error=ansi)])
    [failure] = etree.fromstring(xml.encode()).iter("failure")
    assert "[31mdenied[0m" in str(failure.get("message"))
