"""Minimal calls, counted at the proxy: nothing is asked twice for the same answer."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from remediation.cli import KNOWN_OPERATIONS
from tests.cli_process import UNPACED, run_cli
from tests.conftest import create_table
from tests.fault_proxy import FaultProxy
from tests.servers import MotoServer, aws_env

STATES = [(False, False), (True, False), (False, True), (True, True)]


@pytest.fixture
def account(server: MotoServer, server_client: Any) -> dict[str, tuple[bool, bool]]:
    """230 sentinel- tables in every state, 20 others: three ListTables pages."""
    tables = {}
    for i in range(230):
        dp, pitr = STATES[i % 4]
        tables[
            create_table(server_client, f"sentinel-{i:03d}", deletion_protection=dp, pitr=pitr)
        ] = (
            dp,
            pitr,
        )
    for i in range(20):
        create_table(server_client, f"other-{i:02d}")
    return tables


@pytest.mark.parametrize("no_pitr", [False, True], ids=["both", "no-pitr"])
def test_a_hardening_run_makes_the_minimal_calls(
    account: dict[str, tuple[bool, bool]], fault_proxy: FaultProxy, no_pitr: bool
) -> None:
    flags = ["--no-pitr"] if no_pitr else []
    result = run_cli(["harden", "--force", "--json", *flags, *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == 0, result.stderr
    n = len(account) + 20
    needs_dp = [t for t, (dp, _) in account.items() if not dp]
    needs_pitr = [] if no_pitr else [t for t, (_, pitr) in account.items() if not pitr]
    # The minimum: reads = tables (+ pages), writes = missing protections, nothing else. The
    # answer to each write is its read-back, so no Describe follows a write.
    assert fault_proxy.calls("ListTables") == math.ceil(n / 100)
    for table in account:
        assert fault_proxy.calls("DescribeTable", table) == 1, table
        assert fault_proxy.calls("UpdateTable", table) == (table in needs_dp), table
        assert fault_proxy.calls("DescribeContinuousBackups", table) == (0 if no_pitr else 1)
        assert fault_proxy.calls("UpdateContinuousBackups", table) == (table in needs_pitr)
    reads = len(account) * (1 if no_pitr else 2)
    assert sum(fault_proxy.counts().values()) == (
        math.ceil(n / 100) + reads + len(needs_dp) + len(needs_pitr)
    )
    document = result.json()
    assert document["succeeded"] == len(account)
    hardened = {t["table_name"] for t in document["tables"] if t["result"] == "hardened"}
    assert hardened == set(needs_dp) | set(needs_pitr)


def test_a_status_run_only_reads_each_table_once(
    account: dict[str, tuple[bool, bool]], fault_proxy: FaultProxy
) -> None:
    result = run_cli(["harden", "--dry-run", *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == 0, result.stderr
    assert fault_proxy.counts() == {
        "ListTables": 3,
        "DescribeTable": len(account),
        "DescribeContinuousBackups": len(account),
    }


def test_writes_carry_the_one_protection_and_nothing_else(
    server: MotoServer, server_client: Any, fault_proxy: FaultProxy
) -> None:
    create_table(server_client, "sentinel-a")
    bodies: list[tuple[str, dict[str, Any]]] = []
    for operation in ("UpdateTable", "UpdateContinuousBackups"):
        fault_proxy.on_call(
            operation, lambda call: bodies.append((call.operation, call.body)), times=None
        )
    result = run_cli(["harden", "--force", *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == 0, result.stderr
    assert sorted(bodies, key=lambda b: b[0]) == [
        (
            "UpdateContinuousBackups",
            {
                "TableName": "sentinel-a",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            },
        ),
        ("UpdateTable", {"TableName": "sentinel-a", "DeletionProtectionEnabled": True}),
    ]


@pytest.mark.parametrize("named", [False, True], ids=["discovered", "named-with-table"])
def test_an_excluded_table_is_named_in_no_call(
    server: MotoServer, server_client: Any, fault_proxy: FaultProxy, named: bool
) -> None:
    for name in ("sentinel-a", "sentinel-scratch-1", "sentinel-scratch-2"):
        create_table(server_client, name)
    bodies: list[str] = []
    for operation in KNOWN_OPERATIONS:
        fault_proxy.on_call(
            operation, lambda call: bodies.append(json.dumps(call.body)), times=None
        )
    tables = ["--table", "sentinel-a", "--table", "sentinel-scratch-1"] if named else []
    result = run_cli(
        ["harden", "--force", "--json", "--exclude", "sentinel-scratch-*", *tables, *UNPACED],
        aws_env(fault_proxy.url),
    )
    assert result.returncode == 0, result.stderr
    assert {table for _, table in fault_proxy.table_counts() if table} == {"sentinel-a"}
    assert len(bodies) == sum(fault_proxy.counts().values())
    assert not [body for body in bodies if "scratch" in body]
    results = {t["table_name"]: t["result"] for t in result.json()["tables"]}
    excluded = ["sentinel-scratch-1"] if named else ["sentinel-scratch-1", "sentinel-scratch-2"]
    assert results == {"sentinel-a": "hardened", **dict.fromkeys(excluded, "excluded")}


def test_a_pitr_write_carries_a_period_only_to_raise_a_short_one(
    server: MotoServer, server_client: Any, fault_proxy: FaultProxy
) -> None:
    create_table(server_client, "sentinel-off", deletion_protection=True)
    create_table(
        server_client, "sentinel-short", deletion_protection=True, pitr=True, recovery_days=7
    )
    create_table(
        server_client, "sentinel-long", deletion_protection=True, pitr=True, recovery_days=30
    )
    bodies: dict[str, Any] = {}
    fault_proxy.on_call(
        "UpdateContinuousBackups",
        lambda call: bodies.update({call.table: call.body["PointInTimeRecoverySpecification"]}),
        times=None,
    )
    result = run_cli(
        ["harden", "--force", "--min-recovery-days", "14", *UNPACED], aws_env(fault_proxy.url)
    )
    assert result.returncode == 0, result.stderr
    assert bodies == {
        "sentinel-off": {"PointInTimeRecoveryEnabled": True},
        "sentinel-short": {"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 14},
    }
    assert fault_proxy.counts()["UpdateTable"] == 0
    # A write carrying a period re-reads the period just before it (never lowered by a race):
    # one more DescribeContinuousBackups for that table only.
    reads = {t: fault_proxy.calls("DescribeContinuousBackups", t) for t in bodies} | {
        "sentinel-long": fault_proxy.calls("DescribeContinuousBackups", "sentinel-long")
    }
    assert reads == {"sentinel-off": 1, "sentinel-short": 2, "sentinel-long": 1}
