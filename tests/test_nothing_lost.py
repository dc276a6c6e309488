"""Nothing lost: under faults, no table outside the selection is written, no protection is turned
off, and every other attribute of every table is identical before and after."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli_process import UNPACED, run_cli
from tests.fault_proxy import FaultProxy
from tests.servers import MotoServer, aws_env

WRITES = ("UpdateTable", "UpdateContinuousBackups")
# What hardening may change, and what moto or AWS moves on its own.
VOLATILE = {"DeletionProtectionEnabled", "TableStatus"}


def rich_table(client: Any, name: str, *, deletion_protection: bool, pitr: bool) -> None:
    """A table with most settings a real one has, so that a stray change would show."""
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "status-index",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            }
        ],
        ProvisionedThroughput={"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        SSESpecification={"Enabled": True, "SSEType": "KMS"},
        Tags=[{"Key": "owner", "Value": "security"}],
        DeletionProtectionEnabled=deletion_protection,
    )
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    if pitr:
        client.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True,
                "RecoveryPeriodInDays": 7,
            },
        )


def snapshot(client: Any, name: str) -> dict[str, Any]:
    table = client.describe_table(TableName=name)["Table"]
    backups = client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    return {
        "table": {k: v for k, v in table.items() if k not in VOLATILE},
        "deletion_protection": table.get("DeletionProtectionEnabled", False),
        "pitr": backups["PointInTimeRecoveryDescription"],
        "ttl": client.describe_time_to_live(TableName=name)["TimeToLiveDescription"],
        "tags": client.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"],
    }


@pytest.mark.parametrize("flags", [[], ["--no-pitr"]], ids=["both", "no-pitr"])
def test_hardening_under_faults_changes_only_the_two_protections_of_selected_tables(
    server: MotoServer, server_client: Any, fault_proxy: FaultProxy, flags: list[str]
) -> None:
    states = [(False, False), (True, False), (False, True), (True, True)]
    selected = [f"sentinel-{i}" for i in range(len(states))]
    outside = ["sentinelx-0", "Sentinel-1", "other-2"]
    for name, (dp, pitr) in zip(selected, states, strict=True):
        rich_table(server_client, name, deletion_protection=dp, pitr=pitr)
    for name in outside:
        rich_table(server_client, name, deletion_protection=False, pitr=False)
    before = {n: snapshot(server_client, n) for n in selected + outside}

    fault_proxy.fail("UpdateTable", "ThrottlingException", times=2)
    fault_proxy.fail("UpdateContinuousBackups", "AccessDeniedException", tables=["sentinel-0"])
    fault_proxy.fail("DescribeContinuousBackups", "ThrottlingException", times=2)
    result = run_cli(["harden", "--force", *flags, *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode in (0, 1), result.stderr

    after = {n: snapshot(server_client, n) for n in selected + outside}
    for name in selected + outside:
        assert after[name]["table"] == before[name]["table"], name
        assert after[name]["ttl"] == before[name]["ttl"], name
        assert after[name]["tags"] == before[name]["tags"], name
        # never turned off; recovery period never touched where PITR was already on
        assert after[name]["deletion_protection"] >= before[name]["deletion_protection"]
        if before[name]["pitr"]["PointInTimeRecoveryStatus"] == "ENABLED":
            assert after[name]["pitr"] == before[name]["pitr"], name
    for name in outside:
        assert after[name] == before[name], name
    for operation in WRITES:
        for table in outside:
            assert fault_proxy.calls(operation, table) == 0
    assert all(after[n]["deletion_protection"] for n in selected)
    if not flags:
        # everything selected ends protected except the table whose PITR write was denied
        enabled = {n: after[n]["pitr"]["PointInTimeRecoveryStatus"] for n in selected}
        assert enabled == {
            "sentinel-0": "DISABLED",
            "sentinel-1": "ENABLED",
            "sentinel-2": "ENABLED",
            "sentinel-3": "ENABLED",
        }
    else:
        assert fault_proxy.calls("UpdateContinuousBackups") == 0
        assert fault_proxy.calls("DescribeContinuousBackups") == 0
        for name in selected:
            assert after[name]["pitr"] == before[name]["pitr"], name
