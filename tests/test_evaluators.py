"""The real evaluators run, and each can say no: IAM, Event Ruler, the OCSF schema, junit-10.xsd.

These smoke tests prove the wrappers other tests judge with (tests/iam_simulator.py,
tests/event_ruler.py, tests/ocsf_schema.py, tests/junit_xsd.py) reach the real tool and report both
answers. A missing tool skips here with the reason, and fails under CI=true.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests import event_ruler, iam_simulator, junit_xsd, ocsf_schema
from tests.evaluator_tools import require
from tests.iam_simulator import Request

ACCOUNT, OTHER = "111111111111", "222222222222"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/sentinel-sessions"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Admin"
BREAK_GLASS = f"arn:aws:iam::{ACCOUNT}:role/ops/sentinel-break-glass"
FOREIGN_ADMIN = f"arn:aws:iam::{OTHER}:role/Admin"
ADMINISTRATOR_ACCESS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def guardrail(principal: Any) -> dict[str, Any]:
    """A deny of DeleteTable on Sentinel tables to all but break-glass roles, in either form."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SentinelDenyDelete",
                "Effect": "Deny",
                "Principal": principal,
                "Action": "dynamodb:DeleteTable",
                "Resource": "arn:aws:dynamodb:*:*:table/sentinel-*",
                "Condition": {
                    "ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*sentinel-break-glass"}
                },
            }
        ],
    }


def table_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [*guardrail("*")["Statement"], *statements]}


# --- IAM: @cloud-copilot/iam-simulate and iam-policy ----------------------------------------------


def test_an_rcp_denies_delete_to_an_admin_and_allows_the_excepted_role() -> None:
    iam_simulator.require()
    rcps = ((guardrail("*"),),)
    admin, break_glass = iam_simulator.simulate(
        [
            Request(ADMIN, "dynamodb:DeleteTable", TABLE, (ADMINISTRATOR_ACCESS,), rcps=rcps),
            Request(BREAK_GLASS, "dynamodb:DeleteTable", TABLE, (ADMINISTRATOR_ACCESS,), rcps=rcps),
        ]
    )
    assert admin.decision == "ExplicitlyDenied"
    assert admin.deciding == ("rcp SentinelDenyDelete",)
    assert break_glass.decision == "Allowed"


def test_a_table_policy_denies_delete_to_an_admin_and_allows_the_excepted_role() -> None:
    iam_simulator.require()
    policy = table_policy()
    admin, break_glass = iam_simulator.simulate(
        [
            Request(ADMIN, "dynamodb:DeleteTable", TABLE, (ADMINISTRATOR_ACCESS,), policy),
            Request(BREAK_GLASS, "dynamodb:DeleteTable", TABLE, (ADMINISTRATOR_ACCESS,), policy),
        ]
    )
    assert admin.decision == "ExplicitlyDenied"
    assert admin.deciding == ("resource SentinelDenyDelete",)
    assert break_glass.allowed


def test_a_same_account_admin_keeps_the_data_plane_under_the_guardrail() -> None:
    iam_simulator.require()
    decision = iam_simulator.decide(
        Request(ADMIN, "dynamodb:PutItem", TABLE, (ADMINISTRATOR_ACCESS,), table_policy())
    )
    assert decision.allowed
    assert decision.deciding == ("identity #1",)


def test_another_account_needs_a_grant_in_the_table_policy() -> None:
    iam_simulator.require()
    grant = {
        "Sid": "ReadFromOther",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "Action": "dynamodb:GetItem",
        "Resource": TABLE,
    }
    without, granted = iam_simulator.simulate(
        [
            Request(
                FOREIGN_ADMIN, "dynamodb:GetItem", TABLE, (ADMINISTRATOR_ACCESS,), table_policy()
            ),
            Request(
                FOREIGN_ADMIN,
                "dynamodb:GetItem",
                TABLE,
                (ADMINISTRATOR_ACCESS,),
                table_policy(grant),
            ),
        ]
    )
    assert without.decision == "ImplicitlyDenied"
    assert granted.allowed


def test_a_request_the_simulator_cannot_judge_is_an_error_not_a_decision() -> None:
    iam_simulator.require()
    with pytest.raises(iam_simulator.SimulationError, match="dynamodb:DeleteTabel"):
        iam_simulator.decide(Request(ADMIN, "dynamodb:DeleteTabel", TABLE, (ADMINISTRATOR_ACCESS,)))


def test_iam_policy_validates_each_form_of_the_guardrail() -> None:
    iam_simulator.require()
    rcp_ok, table_ok, rcp_bad, identity_bad = iam_simulator.validate_many(
        [
            (guardrail("*"), "rcp"),
            (table_policy(), "resource"),
            (guardrail({"AWS": ADMIN}), "rcp"),
            (guardrail("*"), "identity"),
        ]
    )
    assert (rcp_ok, table_ok) == ([], [])
    assert rcp_bad == ['Statement[0].Principal: Principal must be "*" in a resource control policy']
    assert any("Principal is not allowed in an identity policy" in line for line in identity_bad)


# --- EventBridge: Event Ruler ---------------------------------------------------------------------


def cloudtrail(event_name: str, request_parameters: dict[str, Any]) -> dict[str, Any]:
    """An EventBridge event for a CloudTrail record, as EventBridge delivers it."""
    return {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.dynamodb",
        "account": ACCOUNT,
        "time": "2026-12-06T19:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "AssumedRole", "arn": f"{ADMIN}/session"},
            "eventSource": "dynamodb.amazonaws.com",
            "eventName": event_name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.7",
            "requestParameters": request_parameters,
            "responseElements": None,
            "eventType": "AwsApiCall",
        },
    }


REPLICA_CREATED = {
    "source": ["aws.dynamodb"],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {
        "eventName": ["UpdateTable"],
        "requestParameters": {"replicaUpdates": {"create": {"regionName": [{"exists": True}]}}},
    },
}


def test_event_ruler_matches_inside_an_array_of_objects() -> None:
    event_ruler.require()
    create = cloudtrail(
        "UpdateTable",
        {
            "tableName": "sentinel-sessions",
            "replicaUpdates": [
                {"delete": {"regionName": "eu-west-1"}},
                {"create": {"regionName": "us-west-2"}},
            ],
        },
    )
    delete_only = cloudtrail(
        "UpdateTable",
        {
            "tableName": "sentinel-sessions",
            "replicaUpdates": [{"delete": {"regionName": "eu-west-1"}}],
        },
    )
    other_call = cloudtrail("DeleteTable", create["detail"]["requestParameters"])
    assert event_ruler.matches(REPLICA_CREATED, [create, delete_only, other_call]) == [
        True,
        False,
        False,
    ]


def test_event_ruler_refuses_a_pattern_eventbridge_would_refuse() -> None:
    event_ruler.require()
    with pytest.raises(event_ruler.PatternError, match="pattern refused"):
        event_ruler.matches(
            {"detail": {"eventName": "UpdateTable"}}, [cloudtrail("UpdateTable", {})]
        )


# --- OCSF 1.5.0: the schema pydantic-ocsf ships ---------------------------------------------------


def compliance_finding(**changes: Any) -> dict[str, Any]:
    """A minimal valid OCSF 1.5.0 Compliance Finding; keyword arguments replace or (None) drop."""
    event: dict[str, Any] = {
        "activity_id": 1,
        "category_uid": 2,
        "class_uid": 2003,
        "type_uid": 200301,
        "severity_id": 3,
        "time": 1765047600000,
        "metadata": {
            "version": "1.5.0",
            "product": {"name": "sentinel-harden", "vendor_name": "Sentinel"},
        },
        "finding_info": {"uid": f"{TABLE}/dynamodb-deletion-protection", "title": "Deletion"},
        "compliance": {"control": "dynamodb-deletion-protection", "status_id": 3},
    }
    event.update(changes)
    return {key: value for key, value in event.items() if value is not None}


def test_ocsf_a_minimal_compliance_finding_holds() -> None:
    ocsf_schema.require()
    assert ocsf_schema.errors(compliance_finding()) == []


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"compliance": None}, "compliance: Field required"),
        ({"class_uid": 2004}, "class_uid must be 2003"),
        ({"type_uid": 200401}, "type_uid must be 200301"),
        ({"severity_id": 42}, "severity_id: Input should be"),
        ({"resource_arn": TABLE}, "resource_arn: not an attribute"),
        ({"metadata": {"version": "1.6.0", "product": {"name": "x"}}}, "metadata.version: '1.6.0'"),
    ],
)
def test_ocsf_a_compliance_finding_that_breaks_the_schema_fails(
    changes: dict[str, Any], error: str
) -> None:
    ocsf_schema.require()
    assert any(error in line for line in ocsf_schema.errors(compliance_finding(**changes)))


# --- JUnit: the xUnit plugin's junit-10.xsd -------------------------------------------------------

VALID_JUNIT = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="sentinel-harden" tests="1" failures="1" errors="0" time="0.1">
  <testsuite name="us-east-1" tests="1" failures="1" errors="0" skipped="0" time="0.1">
    <properties><property name="account" value="111111111111"/></properties>
    <testcase name="sentinel-sessions.dynamodb-pitr" classname="us-east-1" time="0">
      <failure message="PITR is off" type="dynamodb-pitr">arn</failure>
      <system-out>arn:aws:dynamodb:us-east-1:111111111111:table/sentinel-sessions</system-out>
    </testcase>
  </testsuite>
</testsuites>
"""


def test_junit_a_minimal_report_validates() -> None:
    junit_xsd.require()
    assert junit_xsd.errors(VALID_JUNIT) == []


@pytest.mark.parametrize(
    ("before", "after", "error"),
    [
        (
            b"<system-out>arn:aws",
            b'<properties><property name="arn" value="x"/></properties><system-out>arn:aws',
            "'properties': This element is not expected",
        ),
        (
            b'tests="1" failures="1" errors="0" time',
            b'tests="1" skipped="0" failures="1" errors="0" time',
            "'skipped' is not allowed",
        ),
        (b"</testsuites>", b"", "not well-formed"),
    ],
)
def test_junit_a_report_the_xunit_plugin_drops_fails(
    before: bytes, after: bytes, error: str
) -> None:
    junit_xsd.require()
    assert VALID_JUNIT.count(before) == 1
    assert any(error in line for line in junit_xsd.errors(VALID_JUNIT.replace(before, after)))


# --- a missing evaluator --------------------------------------------------------------------------


def test_a_missing_evaluator_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="the IAM simulator needs node"):
        require("the IAM simulator needs node")


def test_a_missing_evaluator_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: the IAM simulator needs node"):
        require("the IAM simulator needs node")
    require("")  # a present evaluator neither skips nor fails
