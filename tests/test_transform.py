"""The program transform, registered the one-line way, under mocks; its output through the pack."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from remediation.controls import DELETION_PROTECTION, PITR
from remediation.pulumi_policies import NATIVE_GLOBAL_TABLE, NATIVE_TABLE, TABLE_REPLICA
from remediation.transform import protect_tables
from tests.analyzer_engine import AnalyzerEngine, Resource, capture_program, is_secret, secret

Program = Callable[[], None]


def hardened(body: Program, min_recovery_days: int | None = None) -> Program:
    def program() -> None:
        pulumi.runtime.register_resource_transform(
            protect_tables(min_recovery_days=min_recovery_days)
        )
        body()

    return program


def sentinel_table(name: str = "sentinel-requests", **args: Any) -> None:
    aws.dynamodb.Table(
        name.removeprefix("sentinel-"),
        name=name,
        billing_mode="PAY_PER_REQUEST",
        hash_key="id",
        attributes=[aws.dynamodb.TableAttributeArgs(name="id", type="S")],
        **args,
    )


def by_name(resources: list[Resource]) -> dict[str, Resource]:
    return {r.name: r for r in resources}


@pytest.fixture(scope="module")
def pack() -> Iterator[AnalyzerEngine]:
    with AnalyzerEngine() as engine:
        yield engine


def test_the_transform_should_protect_sentinel_tables_and_leave_others_alone() -> None:
    def body() -> None:
        sentinel_table(tags={"team": "sentinel"})
        sentinel_table("audit-log")

    resources = by_name(capture_program(hardened(body)))
    assert resources["requests"].props == {
        "name": "sentinel-requests",
        "billingMode": "PAY_PER_REQUEST",
        "hashKey": "id",
        "attributes": [{"name": "id", "type": "S"}],
        "tags": {"team": "sentinel"},
        "deletionProtectionEnabled": True,
        "pointInTimeRecovery": {"enabled": True},
    }
    other = resources["audit-log"].props
    assert "deletionProtectionEnabled" not in other and "pointInTimeRecovery" not in other
    # Pulumi's own `protect` too, on Sentinel's tables only.
    assert resources["requests"].protect and not resources["audit-log"].protect


def test_protect_false_should_leave_pulumis_protect_option_as_declared() -> None:
    def program() -> None:
        pulumi.runtime.register_resource_transform(protect_tables(protect=False))
        sentinel_table()
        sentinel_table("sentinel-sessions", opts=pulumi.ResourceOptions(protect=True))

    resources = by_name(capture_program(program))
    assert resources["requests"].props["deletionProtectionEnabled"] is True
    assert not resources["requests"].protect and resources["sessions"].protect


def test_a_protected_table_without_protect_should_get_only_the_option() -> None:
    def program() -> None:
        pulumi.runtime.register_resource_transform(protect_tables())
        sentinel_table(
            deletion_protection_enabled=True,
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
        )

    (resource,) = capture_program(program)
    assert resource.protect
    assert resource.props["pointInTimeRecovery"] == {"enabled": True}


def test_the_transform_should_protect_every_replica() -> None:
    def body() -> None:
        sentinel_table(
            replicas=[
                aws.dynamodb.TableReplicaArgs(region_name="eu-west-1"),
                aws.dynamodb.TableReplicaArgs(region_name="us-west-2", point_in_time_recovery=True),
            ],
        )

    (table,) = capture_program(hardened(body))
    assert table.props["replicas"] == [
        {"regionName": r, "deletionProtectionEnabled": True, "pointInTimeRecovery": True}
        for r in ("eu-west-1", "us-west-2")
    ]


def test_the_transform_should_protect_table_replicas_and_native_tables() -> None:
    def body() -> None:
        table = aws.dynamodb.Table(
            "sessions", name="sentinel-sessions", hash_key="id", deletion_protection_enabled=True
        )
        aws.dynamodb.TableReplica("sessions-eu", global_table_arn=table.arn)
        pulumi.CustomResource(NATIVE_TABLE, "breakglass", {"tableName": "sentinel-breakglass"})

    resources = by_name(capture_program(hardened(body), preview=False))
    replica, native = resources["sessions-eu"], resources["breakglass"]
    assert (replica.type, native.type) == (TABLE_REPLICA, NATIVE_TABLE)
    assert replica.props["deletionProtectionEnabled"] is True
    assert replica.props["pointInTimeRecovery"] is True
    assert native.props == {
        "tableName": "sentinel-breakglass",
        "deletionProtectionEnabled": True,
        "pointInTimeRecoverySpecification": {"pointInTimeRecoveryEnabled": True},
    }


def test_the_transform_should_protect_every_replica_of_a_native_global_table() -> None:
    def body() -> None:
        replicas = [
            {"region": "us-east-1"},
            {
                "region": "eu-west-1",
                "pointInTimeRecoverySpecification": {
                    "pointInTimeRecoveryEnabled": True,
                    "recoveryPeriodInDays": 3,
                },
            },
        ]
        pulumi.CustomResource(
            NATIVE_GLOBAL_TABLE, "ledger", {"tableName": "sentinel-ledger", "replicas": replicas}
        )
        pulumi.CustomResource(
            NATIVE_GLOBAL_TABLE, "billing", {"tableName": "billing", "replicas": [{"region": "x"}]}
        )

    resources = by_name(capture_program(hardened(body, min_recovery_days=7), preview=False))
    assert resources["ledger"].props["replicas"] == [
        {
            "region": "us-east-1",
            "deletionProtectionEnabled": True,
            "pointInTimeRecoverySpecification": {"pointInTimeRecoveryEnabled": True},
        },
        {
            "region": "eu-west-1",
            "deletionProtectionEnabled": True,
            "pointInTimeRecoverySpecification": {
                "pointInTimeRecoveryEnabled": True,
                "recoveryPeriodInDays": 7,
            },
        },
    ]
    assert resources["billing"].props["replicas"] == [{"region": "x"}]


def test_a_name_unknown_in_preview_should_be_warned_about_not_guessed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def body() -> None:
        table = aws.dynamodb.Table("sessions", name="sentinel-sessions", hash_key="id")
        aws.dynamodb.TableReplica("sessions-eu", global_table_arn=table.arn)

    with caplog.at_level(logging.WARNING):
        resources = by_name(capture_program(hardened(body), preview=True))
    assert "deletionProtectionEnabled" not in resources["sessions-eu"].props
    assert "'sessions-eu' could not be judged: its name (globalTableArn)" in caplog.text


def test_a_secret_protection_flag_should_stay_secret() -> None:
    def body() -> None:
        sentinel_table(deletion_protection_enabled=pulumi.Output.secret(False))

    (table,) = capture_program(hardened(body))
    assert table.props["deletionProtectionEnabled"] == secret(True)
    assert is_secret(table.props["deletionProtectionEnabled"])


def test_a_minimum_recovery_period_should_lengthen_a_short_one() -> None:
    def body() -> None:
        sentinel_table(
            deletion_protection_enabled=True,
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(
                enabled=True, recovery_period_in_days=7
            ),
        )

    (table,) = capture_program(hardened(body, min_recovery_days=14))
    assert table.props["pointInTimeRecovery"] == {"enabled": True, "recoveryPeriodInDays": 14}


def test_what_the_transform_protects_the_pack_should_find_protected(pack: AnalyzerEngine) -> None:
    def body() -> None:
        sentinel_table(replicas=[aws.dynamodb.TableReplicaArgs(region_name="eu-west-1")])
        pulumi.CustomResource(NATIVE_TABLE, "breakglass", {"tableName": "sentinel-breakglass"})

    report = pack.run(capture_program(hardened(body)))
    assert report.diagnostics == ()
    assert all(s.remediations == () for s in report.steps)


@pytest.mark.parametrize(
    "exclude",
    [["sentinel-scratch-*", "sentinel-load-test"], ("sentinel-scratch-*",)],
    ids=["list", "tuple"],
)
def test_an_excluded_table_should_be_left_as_declared(exclude: Any) -> None:
    def body() -> None:
        sentinel_table("sentinel-scratch-7")
        sentinel_table("sentinel-requests")

    def program() -> None:
        pulumi.runtime.register_resource_transform(protect_tables(exclude=exclude))
        body()

    resources = by_name(capture_program(program))
    scratch, requests = resources["scratch-7"].props, resources["requests"].props
    assert "deletionProtectionEnabled" not in scratch and "pointInTimeRecovery" not in scratch
    assert requests["deletionProtectionEnabled"] is True


def test_one_pattern_given_as_a_string_should_be_one_glob_not_its_letters() -> None:
    def program() -> None:
        pulumi.runtime.register_resource_transform(protect_tables(exclude="sentinel-s*"))
        sentinel_table("sentinel-sessions")
        sentinel_table("sentinel-requests")

    resources = by_name(capture_program(program))
    assert "deletionProtectionEnabled" not in resources["sessions"].props
    # Read as letters, "s" would match nothing and "*" would exclude every table.
    assert resources["requests"].props["deletionProtectionEnabled"] is True


def test_the_transform_and_the_pack_should_exclude_the_same_tables(tmp_path: Path) -> None:
    exclude = ["sentinel-scratch-*"]
    config = tmp_path / "exclude.json"
    config.write_text(json.dumps({c.id: {"exclude": exclude} for c in (DELETION_PROTECTION, PITR)}))

    def program() -> None:
        pulumi.runtime.register_resource_transform(protect_tables(exclude=exclude))
        sentinel_table("sentinel-scratch-7")
        sentinel_table("sentinel-requests")

    with AnalyzerEngine(policy_config=config) as engine:
        report = engine.run(capture_program(program))
    assert all(s.remediations == () for s in report.steps)
    excluded = report.step("scratch-7").not_applicable
    assert {policy for policy, _ in excluded} == {DELETION_PROTECTION.id, PITR.id}
    assert report.step("requests").not_applicable == ()
