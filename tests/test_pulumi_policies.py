"""Property shapes <-> core values, on the proxies pulumi_policy hands validate and remediate."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.deserialize import deserialize_properties, serialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from remediation.controls import ALL, DELETION_PROTECTION, PITR
from remediation.core import Requirement, Selection
from remediation.pulumi_policies import (
    MIN_RECOVERY_DAYS_KEY,
    NATIVE_TABLE,
    PREFIX_KEY,
    PROTECT_POLICY,
    TABLE,
    TABLE_REPLICA,
    config_schema,
    deployed_policy_name,
    enable,
    policies,
    read_resource,
)
from tests.analyzer_engine import UNKNOWN, is_secret, secret

ANY = Requirement()
Props = dict[str, Any]


def analyze_view(props: Props) -> Mapping[str, Any]:
    """What Analyze passes a policy: unknowns raise when touched."""
    return unknown_checking_proxy(deserialize_properties(copy.deepcopy(props)))


def remediate_view(props: Props) -> Mapping[str, Any]:
    """What Remediate passes a policy: unknowns are plain strings, secrets unwrap on read."""
    return unknown_checking_proxy(deserialize_properties(copy.deepcopy(props), True))


VIEWS = [pytest.param(analyze_view, id="analyze"), pytest.param(remediate_view, id="remediate")]
View = Callable[[Props], Mapping[str, Any]]


def table(**changes: Any) -> Props:
    """A protected Sentinel table's inputs, as the engine sends them; then one change."""
    props: Props = {
        "name": "sentinel-requests",
        "billingMode": "PAY_PER_REQUEST",
        "hashKey": "id",
        "deletionProtectionEnabled": True,
        "pointInTimeRecovery": {"enabled": True},
        "tags": secret({"owner": "sentinel"}),
        "__defaults": ["region"],
    }
    for key, value in changes.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return props


def findings(props: Mapping[str, Any], requirement: Requirement = ANY, type_: str = TABLE) -> Any:
    resource = read_resource(type_, props, "requests", requirement)
    assert resource is not None
    return [f for control in ALL for f in resource.findings(control, requirement)]


@pytest.mark.parametrize("view", VIEWS)
def test_a_protected_table_should_have_no_findings(view: View) -> None:
    assert findings(view(table())) == []


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize(
    ("change", "control", "detail"),
    [
        ({"deletionProtectionEnabled": False}, DELETION_PROTECTION, "is false"),
        ({"deletionProtectionEnabled": None}, DELETION_PROTECTION, "is not set"),
        ({"pointInTimeRecovery": None}, PITR, "is not set"),
        ({"pointInTimeRecovery": {"enabled": False}}, PITR, "is false"),
    ],
)
def test_a_missing_protection_should_be_one_judged_finding(
    view: View, change: Props, control: Any, detail: str
) -> None:
    (finding,) = findings(view(table(**change)))
    assert (finding.control, finding.judged) == (control, True)
    message = finding.message(ANY)
    assert message.startswith("sentinel-requests: ")
    assert control.label in message and detail in message
    assert f'Fix: aws.dynamodb.Table("requests", ..., {control.pulumi_fix})' in message


@pytest.mark.parametrize("view", VIEWS)
def test_an_unknown_protection_should_be_a_finding_that_could_not_be_judged(view: View) -> None:
    (finding,) = findings(view(table(deletionProtectionEnabled=UNKNOWN)))
    assert (finding.control, finding.judged) == (DELETION_PROTECTION, False)
    assert "could not be judged" in finding.message(ANY)


def test_a_short_recovery_period_should_miss_pitr_only_when_a_minimum_is_asked() -> None:
    props = table(pointInTimeRecovery={"enabled": True, "recoveryPeriodInDays": 7})
    assert findings(remediate_view(props)) == []
    fourteen = Requirement(min_recovery_days=14)
    (finding,) = findings(remediate_view(props), fourteen)
    assert finding.control is PITR
    assert "keeps 7 days, fewer than the required 14" in finding.message(fourteen)
    assert "recovery_period_in_days=14" in finding.fix


@pytest.mark.parametrize("view", VIEWS)
def test_the_name_input_should_decide_when_known_else_the_logical_name(view: View) -> None:
    named = read_resource(TABLE, view(table(name="other-table")), "requests", ANY)
    auto = read_resource(TABLE, view(table(name=None)), "sentinel-requests", ANY)
    native = read_resource(NATIVE_TABLE, view({"tableName": "sentinel-x"}), "x", ANY)
    assert named is not None and auto is not None and native is not None
    assert (named.name, auto.name, native.name) == (
        "other-table",
        "sentinel-requests",
        "sentinel-x",
    )


@pytest.mark.parametrize("view", VIEWS)
def test_a_computed_name_should_be_unknown_never_not_ours(view: View) -> None:
    resource = read_resource(TABLE, view(table(name=UNKNOWN)), "requests", ANY)
    assert resource is not None
    assert resource.name is None and not resource.is_ours(Selection(""))
    assert "not known during preview" in resource.name_problem


def test_a_table_replica_should_be_named_by_its_global_table_arn() -> None:
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/sentinel-sessions"
    known = read_resource(TABLE_REPLICA, remediate_view({"globalTableArn": arn}), "r", ANY)
    unknown = read_resource(TABLE_REPLICA, analyze_view({"globalTableArn": UNKNOWN}), "r", ANY)
    wrong = read_resource(TABLE_REPLICA, remediate_view({"globalTableArn": "arn:nope"}), "r", ANY)
    assert known is not None and unknown is not None and wrong is not None
    assert (known.name, unknown.name, wrong.name) == ("sentinel-sessions", None, None)
    assert "not a table ARN" in wrong.name_problem


def test_anything_but_a_dynamodb_table_should_not_be_read() -> None:
    assert read_resource("aws:s3/bucket:Bucket", remediate_view({"bucket": "x"}), "b", ANY) is None


@pytest.mark.parametrize("view", VIEWS)
def test_every_replica_should_be_judged_on_its_own(view: View) -> None:
    replicas = [
        {"regionName": "eu-west-1", "deletionProtectionEnabled": True, "pointInTimeRecovery": True},
        {"regionName": "us-west-2", "pointInTimeRecovery": True},
        {"regionName": "ap-south-1", "deletionProtectionEnabled": True},
    ]
    found = findings(view(table(replicas=replicas)))
    labels = {(f.target.label, f.control) for f in found}
    assert labels == {
        ("sentinel-requests replica in us-west-2", DELETION_PROTECTION),
        ("sentinel-requests replica in ap-south-1", PITR),
    }
    fixes = {f.fix for f in found}
    assert any('TableReplicaArgs(region_name="us-west-2", ..., deletion_pro' in f for f in fixes)


def test_enable_should_change_only_the_protection_keys_and_keep_secrets_and_internal_keys() -> None:
    before = table(
        deletionProtectionEnabled=False,
        pointInTimeRecovery=secret({"enabled": False, "recoveryPeriodInDays": 7}),
        replicas=[{"regionName": "eu-west-1", "kmsKeyArn": secret("arn:aws:kms:key/1")}],
    )
    props = remediate_view(before)
    fourteen = Requirement(min_recovery_days=14)
    for finding in findings(props, fourteen):
        assert enable(finding, fourteen)
    after = dict(serialize_properties(props))
    assert after["deletionProtectionEnabled"] is True
    assert after["pointInTimeRecovery"] == secret({"enabled": True, "recoveryPeriodInDays": 14})
    assert after["replicas"] == [
        {
            "regionName": "eu-west-1",
            "kmsKeyArn": secret("arn:aws:kms:key/1"),
            "deletionProtectionEnabled": True,
            "pointInTimeRecovery": True,
        }
    ]
    untouched = {"deletionProtectionEnabled", "pointInTimeRecovery", "replicas"}
    assert {k: v for k, v in after.items() if k not in untouched} == {
        k: v for k, v in before.items() if k not in untouched
    }
    assert is_secret(after["tags"]) and after["__defaults"] == ["region"]


def test_enable_should_not_write_into_an_unknown_replica_list() -> None:
    (finding, *_) = findings(remediate_view(table(replicas=UNKNOWN)))
    assert not finding.judged and finding.target.bag is None
    assert not enable(finding, ANY)


def test_each_policy_should_be_named_by_its_control_and_carry_its_text() -> None:
    by_name = {p.name: p for p in policies()}
    for control in ALL:
        policy = by_name[control.id]
        assert isinstance(policy, ResourceValidationPolicy)
        assert policy.description == control.description
        assert policy.remediation_steps == control.remediation
        assert policy.has_validation() and policy.has_remediation()
        deployed = by_name[deployed_policy_name(control)]
        assert isinstance(deployed, StackValidationPolicy)
        assert deployed.enforcement_level is EnforcementLevel.MANDATORY
    # Pulumi's `protect` is a resource option, which no policy can set: it only reports.
    protect = by_name[PROTECT_POLICY]
    assert isinstance(protect, ResourceValidationPolicy)
    assert protect.name == PROTECT_POLICY
    assert protect.has_validation() and not protect.has_remediation()
    assert protect.enforcement_level is EnforcementLevel.ADVISORY


def test_the_config_schema_should_default_the_prefix_and_bound_the_recovery_period() -> None:
    deletion, pitr = config_schema(DELETION_PROTECTION), config_schema(PITR)
    assert deletion.properties[PREFIX_KEY]["default"] == "sentinel-"
    assert MIN_RECOVERY_DAYS_KEY not in deletion.properties
    days = pitr.properties[MIN_RECOVERY_DAYS_KEY]
    assert (days["type"], days["minimum"], days["maximum"]) == ("integer", 1, 35)
