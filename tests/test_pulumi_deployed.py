"""The stack policies judge what is deployed: every table resource's outputs, through the pack's
own process over gRPC (tests/analyzer_engine.py), as `pulumi policy analyze` hands them over.

The real CLI's drift scenario is in tests/test_pulumi_cli.py; here each output shape and each
edge (replicas, aws-native, unknowns, exclusions, declared vs deployed) gets one case.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from remediation.controls import DELETION_PROTECTION, PITR
from remediation.pulumi_policies import (
    NATIVE_GLOBAL_TABLE,
    NATIVE_TABLE,
    TABLE,
    TABLE_REPLICA,
    deployed_policy_name,
)
from tests.analyzer_engine import PACK_DIR, UNKNOWN, AnalyzerEngine, Diagnostic, Resource

DP_DEPLOYED, PITR_DEPLOYED = (deployed_policy_name(c) for c in (DELETION_PROTECTION, PITR))
ARN = "arn:aws:dynamodb:{region}:123456789012:table/{name}"


def outputs(name: str = "sentinel-requests", region: str = "us-east-1", **changes: Any) -> dict:
    """A protected aws.dynamodb.Table's outputs as the provider reads them back; then changes."""
    props: dict[str, Any] = {
        "id": name,
        "name": name,
        "arn": ARN.format(region=region, name=name),
        "region": region,
        "hashKey": "id",
        "billingMode": "PAY_PER_REQUEST",
        "deletionProtectionEnabled": True,
        "pointInTimeRecovery": {"enabled": True, "recoveryPeriodInDays": 35},
    }
    props.update(changes)
    return props


def deployed(engine: AnalyzerEngine, *resources: Resource) -> list[Diagnostic]:
    return list(engine.analyze_stack(resources))


@pytest.fixture(scope="module")
def pack() -> Iterator[AnalyzerEngine]:
    with AnalyzerEngine() as engine:
        yield engine


@pytest.fixture(scope="module")
def fortnight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalyzerEngine]:
    """minRecoveryPeriodDays 14 and one exclusion, set alike on every policy."""
    same = {"exclude": ["sentinel-scratch-*"], "minRecoveryPeriodDays": 14}
    config = {
        name: {k: v for k, v in same.items() if k != "minRecoveryPeriodDays" or "recovery" in name}
        for name in ("dynamodb-deletion-protection", "dynamodb-point-in-time-recovery")
    }
    config |= {DP_DEPLOYED: {"exclude": same["exclude"]}, PITR_DEPLOYED: same}
    path = tmp_path_factory.mktemp("config") / "fortnight.json"
    path.write_text(json.dumps(config))
    with AnalyzerEngine(policy_config=path) as engine:
        yield engine


def test_a_protected_deployed_table_should_raise_nothing(pack: AnalyzerEngine) -> None:
    assert deployed(pack, Resource(TABLE, "requests", outputs())) == []


def test_deletion_protection_off_in_the_deployed_state_should_be_a_mandatory_violation(
    pack: AnalyzerEngine,
) -> None:
    resource = Resource(TABLE, "requests", outputs(deletionProtectionEnabled=False))
    (diagnostic,) = deployed(pack, resource)
    assert (diagnostic.policy, diagnostic.level, diagnostic.urn) == (
        DP_DEPLOYED,
        "mandatory",
        resource.urn,
    )
    assert (
        "sentinel-requests in us-east-1 (account 123456789012): the deployed state has "
        "Deletion Protection off (deletionProtectionEnabled: false)"
    ) in diagnostic.message
    assert "deletion_protection_enabled=True" in diagnostic.message


def test_drift_should_say_what_the_stack_declares_and_how_to_restore_it(
    pack: AnalyzerEngine,
) -> None:
    """As under `pulumi policy analyze`: Analyze gets the inputs, AnalyzeStack the outputs."""
    inputs = {"name": "sentinel-requests", "hashKey": "id", "deletionProtectionEnabled": True}
    inputs["pointInTimeRecovery"] = {"enabled": True}
    resource = Resource(TABLE, "requests", inputs)
    assert pack.analyze(resource, inputs)[0] == ()
    drifted = Resource(TABLE, "requests", outputs(pointInTimeRecovery={"enabled": False}))
    (diagnostic,) = deployed(pack, drifted)
    assert diagnostic.policy == PITR_DEPLOYED
    assert "the deployed state has PITR off (pointInTimeRecovery.enabled: false)" in (
        diagnostic.message
    )
    assert "the stack declares PITR on" in diagnostic.message
    assert "It drifted: `pulumi up --refresh --policy-pack policy_pack`" in diagnostic.message


def test_a_period_lowered_below_the_minimum_should_be_reported_and_one_excluded_left_alone(
    fortnight: AnalyzerEngine,
) -> None:
    short = {"enabled": True, "recoveryPeriodInDays": 7}
    found = deployed(
        fortnight,
        Resource(TABLE, "requests", outputs(pointInTimeRecovery=short)),
        Resource(TABLE, "scratch", outputs("sentinel-scratch-1", deletionProtectionEnabled=False)),
    )
    assert [(d.policy, d.level) for d in found] == [(PITR_DEPLOYED, "mandatory")]
    assert "PITR keeping 7 days, fewer than the required 14" in found[0].message
    assert "recovery_period_in_days=14" in found[0].message


def test_a_deployed_period_not_recorded_should_never_pass_as_35_days(
    fortnight: AnalyzerEngine,
) -> None:
    resource = Resource(TABLE, "requests", outputs(pointInTimeRecovery={"enabled": True}))
    (diagnostic,) = deployed(fortnight, resource)
    assert (diagnostic.policy, diagnostic.level) == (PITR_DEPLOYED, "advisory")
    assert (
        "sentinel-requests: the deployed pointInTimeRecovery.recoveryPeriodInDays is not known"
    ) in diagnostic.message
    assert "was not judged" in diagnostic.message


@pytest.mark.parametrize(
    ("resource", "where"),
    [
        (
            Resource(
                TABLE,
                "requests",
                outputs(
                    replicas=[
                        {"regionName": "eu-west-1", "pointInTimeRecovery": True},
                        {
                            "regionName": "us-west-2",
                            "pointInTimeRecovery": True,
                            "deletionProtectionEnabled": True,
                        },
                    ]
                ),
            ),
            "sentinel-requests replica in eu-west-1: ",
        ),
        (
            Resource(
                TABLE_REPLICA,
                "requests-eu",
                {
                    "globalTableArn": ARN.format(region="us-east-1", name="sentinel-requests"),
                    "arn": ARN.format(region="eu-west-1", name="sentinel-requests"),
                    "pointInTimeRecovery": True,
                },
            ),
            "sentinel-requests replica 'requests-eu' in eu-west-1 (account 123456789012): ",
        ),
        (
            Resource(
                NATIVE_TABLE,
                "requests",
                {
                    "tableName": "sentinel-requests",
                    "arn": ARN.format(region="us-east-1", name="sentinel-requests"),
                    "pointInTimeRecoverySpecification": {"pointInTimeRecoveryEnabled": True},
                },
            ),
            "sentinel-requests in us-east-1 (account 123456789012): ",
        ),
        (
            Resource(
                NATIVE_GLOBAL_TABLE,
                "ledger",
                {
                    "tableName": "sentinel-ledger",
                    "replicas": [
                        {
                            "region": "us-east-1",
                            "deletionProtectionEnabled": True,
                            "pointInTimeRecoverySpecification": {
                                "pointInTimeRecoveryEnabled": True
                            },
                        },
                        {
                            "region": "eu-west-1",
                            "pointInTimeRecoverySpecification": {
                                "pointInTimeRecoveryEnabled": True
                            },
                        },
                    ],
                },
            ),
            "sentinel-ledger replica in eu-west-1: ",
        ),
    ],
    ids=["table-replicas", "table-replica", "native-table", "native-global-table"],
)
def test_every_kind_of_deployed_table_should_be_judged_by_its_outputs(
    pack: AnalyzerEngine, resource: Resource, where: str
) -> None:
    (diagnostic,) = deployed(pack, resource)
    assert diagnostic.policy == DP_DEPLOYED and diagnostic.urn == resource.urn
    assert f"{where}the deployed state has Deletion Protection off" in diagnostic.message


def test_an_unknown_output_during_preview_should_be_said_not_judged_never_pass_or_fail(
    pack: AnalyzerEngine,
) -> None:
    found = deployed(
        pack,
        Resource(TABLE, "requests", outputs(deletionProtectionEnabled=UNKNOWN)),
        Resource(TABLE, "sessions", outputs("sentinel-sessions", deletionProtectionEnabled=False)),
    )
    levels = {(d.policy, d.level) for d in found}
    # The judged table is still reported; the unknown one is said, at advisory, not passed.
    assert levels == {(DP_DEPLOYED, "mandatory"), (DP_DEPLOYED, "advisory")}
    (note,) = [d for d in found if d.level == "advisory"]
    assert "sentinel-requests: the deployed deletionProtectionEnabled is not known" in note.message
    assert "was not judged" in note.message


def test_a_stack_with_no_sentinel_table_should_raise_nothing(pack: AnalyzerEngine) -> None:
    other = Resource(TABLE, "ledger", outputs("billing-ledger", deletionProtectionEnabled=False))
    assert deployed(pack, other) == []


def test_the_example_config_should_set_the_same_selection_on_every_policy() -> None:
    from remediation.pulumi_policies import policies

    example = json.loads((PACK_DIR / "config" / "example.json").read_text())
    judging = [p for p in policies() if p.config_schema and "exclude" in p.config_schema.properties]
    assert {p.name for p in judging} <= set(example)
    keys = ("prefix", "exclude")
    selections = {json.dumps({k: example[p.name][k] for k in keys}) for p in judging}
    assert len(selections) == 1
    for policy in judging:
        assert policy.config_schema is not None
        has_days = "minRecoveryPeriodDays" in policy.config_schema.properties
        assert ("minRecoveryPeriodDays" in example[policy.name]) is has_days


def test_every_policy_url_should_be_built_from_the_project_url_and_resolve_to_its_heading() -> None:
    import tomllib

    from remediation.pulumi_meta import PROJECT_URL
    from remediation.pulumi_policies import policies
    from tests.test_docs_links import anchors

    root = PACK_DIR.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["urls"]["Homepage"] == PROJECT_URL
    for policy in policies():
        assert policy.url is not None
        page, _, heading = policy.url.removeprefix(f"{PROJECT_URL}/blob/main/").partition("#")
        assert heading == policy.name
        assert heading in anchors(root / page), (policy.name, page)
