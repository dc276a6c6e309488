"""Fixtures: a real moto_server end to end, moto in-process for the logic, table factories."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from tests.fixtures_proxy import fault_proxy
from tests.servers import REGION, MotoServer, dynamodb_client, moto_server

__all__ = ["fault_proxy"]  # a fixture defined beside the proxy, offered to every test

TableFactory = Callable[..., str]


def create_table(
    client: Any,
    name: str,
    *,
    deletion_protection: bool = False,
    pitr: bool = False,
    recovery_days: int | None = None,
) -> str:
    """A table as Sentinel makes them (hash key, on-demand), in the protection state asked;
    `recovery_days` sets the PITR period (with `pitr`), else AWS's 35."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        DeletionProtectionEnabled=deletion_protection,
    )
    if pitr:
        spec: dict[str, Any] = {"PointInTimeRecoveryEnabled": True}
        if recovery_days is not None:
            spec["RecoveryPeriodInDays"] = recovery_days
        client.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=spec)
    return name


def create_sentinel_tables(client: Any, outside: str = "other-table") -> list[str]:
    """Sentinel's three tables in mixed states (none, deletion protection only, PITR only), plus
    one table outside the prefix; returns the three Sentinel names."""
    create_table(client, outside)
    return [
        create_table(client, "sentinel-requests"),
        create_table(client, "sentinel-breakglass", deletion_protection=True),
        create_table(client, "sentinel-sessions", pitr=True),
    ]


def recovery_days(client: Any, name: str) -> int | None:
    """The PITR recovery period the server keeps now (None when PITR is off)."""
    backups = client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    days = backups["PointInTimeRecoveryDescription"].get("RecoveryPeriodInDays")
    return int(days) if days is not None else None


def protection(client: Any, name: str) -> tuple[bool, bool]:
    """(deletion protection, PITR) as the server has them now."""
    table = client.describe_table(TableName=name)["Table"]
    backups = client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    pitr = backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    return bool(table.get("DeletionProtectionEnabled")), pitr


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    """One moto_server process for the session; `server` resets it per test."""
    with moto_server() as server:
        yield server


@pytest.fixture
def server(moto: MotoServer) -> MotoServer:
    moto.reset()
    return moto


@pytest.fixture
def server_client(server: MotoServer) -> Any:
    """A boto3 client on the moto_server, to arrange and to read state back."""
    return dynamodb_client(server.url)


@pytest.fixture
def server_table(server_client: Any) -> TableFactory:
    def make(name: str, **state: Any) -> str:
        return create_table(server_client, name, **state)

    return make


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and a region, and no real config files, for in-process moto."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.fixture
def mocked_aws(aws_credentials: None) -> Iterator[Any]:
    """moto in-process; yields a client to arrange and read back state."""
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def table(mocked_aws: Any) -> TableFactory:
    def make(name: str, **state: Any) -> str:
        return create_table(mocked_aws, name, **state)

    return make
