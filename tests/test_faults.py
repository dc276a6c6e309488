"""Real accounts throttle, deny, and have tables mid-update: each fault through the fault proxy.

The CLI runs as a subprocess against tests/fault_proxy.py in front of moto_server, reached through
AWS_ENDPOINT_URL, so botocore's real parser and retries meet every fault. State is read back from
moto directly (not through the proxy), so the proxy's counts are the CLI's calls alone.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from remediation.cli import ExitStatus
from tests.cli_process import ROOT, UNPACED, run_cli
from tests.conftest import TableFactory, protection, recovery_days
from tests.fault_proxy import Call, FaultProxy
from tests.servers import MotoServer, aws_env, dynamodb_client

HARDEN = ["harden", "--force", "--json", *UNPACED]


@pytest.fixture
def tables(server: MotoServer, server_table: TableFactory) -> list[str]:
    server_table("other-table")
    return [server_table(f"sentinel-{x}") for x in "abc"]


@pytest.fixture
def env(tables: list[str], fault_proxy: FaultProxy) -> dict[str, str]:
    return aws_env(fault_proxy.url)


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["table_name"]: t for t in document["tables"]}


def backend(call: Call) -> Any:
    return dynamodb_client(call.backend_url)


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("DescribeContinuousBackups", "ThrottlingException"),
        ("UpdateTable", "ThrottlingException"),
        ("UpdateContinuousBackups", "LimitExceededException"),
        # Paced only as a control-plane call (no 10/s of its own): if AWS ever throttles it,
        # botocore's standard retries absorb that.
        ("UpdateContinuousBackups", "ThrottlingException"),
        ("ListTables", "ThrottlingException"),
    ],
)
def test_throttling_is_retried_by_botocore_until_success(
    env: dict[str, str],
    fault_proxy: FaultProxy,
    server_client: Any,
    tables: list[str],
    operation: str,
    code: str,
) -> None:
    fault_proxy.fail(operation, code, times=3)
    result = run_cli(HARDEN, env)
    assert result.returncode == 0, result.stderr
    assert fault_proxy.faulted(operation) == 3
    assert result.json()["succeeded"] == 3
    assert {protection(server_client, t) for t in tables} == {(True, True)}


def test_a_table_in_updating_is_waited_for_then_hardened(
    env: dict[str, str], fault_proxy: FaultProxy, server_client: Any
) -> None:
    fault_proxy.report_updating("sentinel-b", calls=3, reject_writes=True)
    result = run_cli([*HARDEN, "--wait-timeout", "30"], env)
    assert result.returncode == 0, result.stderr
    assert protection(server_client, "sentinel-b") == (True, True)
    assert fault_proxy.calls("DescribeTable", "sentinel-b") >= 4  # read, then three waits


def test_resource_in_use_on_update_table_is_retried_with_backoff(
    env: dict[str, str], fault_proxy: FaultProxy, server_client: Any
) -> None:
    fault_proxy.fail("UpdateTable", "ResourceInUseException", tables=["sentinel-a"], times=2)
    result = run_cli(HARDEN, env)
    assert result.returncode == 0, result.stderr
    assert fault_proxy.calls("UpdateTable", "sentinel-a") == 3
    assert protection(server_client, "sentinel-a") == (True, True)


def test_backups_not_yet_available_is_retried_then_succeeds(
    env: dict[str, str], fault_proxy: FaultProxy, server_client: Any
) -> None:
    fault_proxy.fail(
        "UpdateContinuousBackups",
        "ContinuousBackupsUnavailableException",
        tables=["sentinel-c"],
        times=2,
    )
    result = run_cli(HARDEN, env)
    assert result.returncode == 0, result.stderr
    assert fault_proxy.calls("UpdateContinuousBackups", "sentinel-c") == 3
    assert protection(server_client, "sentinel-c") == (True, True)


def test_backups_never_available_is_retried_within_bounds_then_reported(
    env: dict[str, str], fault_proxy: FaultProxy, server_client: Any
) -> None:
    fault_proxy.fail(
        "UpdateContinuousBackups",
        "ContinuousBackupsUnavailableException",
        tables=["sentinel-c"],
        times=None,
    )
    started = time.monotonic()
    result = run_cli([*HARDEN, "--wait-timeout", "2"], env)
    assert time.monotonic() - started < 30
    assert result.returncode == ExitStatus.FAILED
    entry = by_name(result.json())["sentinel-c"]
    assert entry["error"]["code"] == "ContinuousBackupsUnavailableException"
    assert entry["error"]["action"] == "dynamodb:UpdateContinuousBackups"
    assert entry["deletion_protection_changed"] is True
    assert 2 <= fault_proxy.calls("UpdateContinuousBackups", "sentinel-c") <= 12
    assert protection(server_client, "sentinel-c") == (True, False)
    assert protection(server_client, "sentinel-a") == (True, True)


def pitr_answer(status: str, days: int | None = None) -> Callable[[dict[str, Any]], None]:
    """An edit making UpdateContinuousBackups' answer show PITR `status` (and `days`)."""

    def edit(answer: dict[str, Any]) -> None:
        recovery = answer["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        recovery["PointInTimeRecoveryStatus"] = status
        if days is not None:
            recovery["RecoveryPeriodInDays"] = days

    return edit


def test_what_is_reported_is_the_state_read_back_not_the_write_that_was_sent(
    env: dict[str, str], fault_proxy: FaultProxy
) -> None:
    # The server's answer to the write is the read-back: when it says PITR is still off (a
    # drift-fixer, an SCP-backed automation got there first), the report says what it says.
    fault_proxy.rewrite_answer(
        "UpdateContinuousBackups", pitr_answer("DISABLED"), table="sentinel-a"
    )
    fault_proxy.rewrite_answer(
        "UpdateTable",
        lambda answer: answer["TableDescription"].update(DeletionProtectionEnabled=False),
        table="sentinel-b",
    )
    result = run_cli(HARDEN, env)
    assert result.returncode == ExitStatus.FAILED
    document = result.json()
    assert (document["succeeded"], document["failed"]) == (1, 2)
    a, b = by_name(document)["sentinel-a"], by_name(document)["sentinel-b"]
    assert (a["after"]["pitr_enabled"], a["pitr_changed"]) == (False, False)
    assert (a["after"]["deletion_protection"], a["deletion_protection_changed"]) == (True, True)
    assert a["error"]["code"] == "NotEnabledAfterWrite"
    assert a["error"]["action"] == "dynamodb:UpdateContinuousBackups"
    assert (b["after"]["deletion_protection"], b["deletion_protection_changed"]) == (False, False)
    assert b["error"]["code"] == "NotEnabledAfterWrite"
    assert b["error"]["action"] == "dynamodb:UpdateTable"
    assert fault_proxy.calls("DescribeContinuousBackups", "sentinel-a") == 1  # no second read
    assert fault_proxy.calls("DescribeTable", "sentinel-b") == 1


def test_a_period_the_server_answers_still_short_fails_the_table(
    server_table: TableFactory, fault_proxy: FaultProxy, server_client: Any
) -> None:
    server_table("sentinel-a", deletion_protection=True, pitr=True, recovery_days=7)
    server_table("sentinel-b", deletion_protection=True, pitr=True, recovery_days=7)
    fault_proxy.rewrite_answer(
        "UpdateContinuousBackups", pitr_answer("ENABLED", 7), table="sentinel-a"
    )
    result = run_cli([*HARDEN, "--min-recovery-days", "14"], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.FAILED
    entries = by_name(result.json())
    a = entries["sentinel-a"]
    assert (a["result"], a["after"]["pitr_recovery_period_days"]) == ("failed", 7)
    assert a["error"]["code"] == "RecoveryPeriodShortAfterWrite"
    assert "14 days were asked" in a["error"]["message"]
    assert entries["sentinel-b"]["result"] == "hardened"
    assert recovery_days(server_client, "sentinel-b") == 14


@pytest.mark.parametrize(
    ("operation", "other"),
    [("UpdateContinuousBackups", "deletion_protection"), ("UpdateTable", "pitr_enabled")],
)
def test_access_denied_on_one_tables_write_reports_it_and_does_everything_else(
    env: dict[str, str],
    fault_proxy: FaultProxy,
    server_client: Any,
    tables: list[str],
    operation: str,
    other: str,
) -> None:
    fault_proxy.fail(operation, "AccessDeniedException", tables=["sentinel-b"], times=None)
    result = run_cli(HARDEN, env)
    assert result.returncode == ExitStatus.FAILED
    document = result.json()
    assert (document["succeeded"], document["failed"]) == (2, 1)
    entry = by_name(document)["sentinel-b"]
    assert entry["error"]["code"] == "AccessDeniedException"
    assert entry["error"]["action"] == f"dynamodb:{operation}"
    assert f"dynamodb:{operation}" in entry["error"]["message"]
    assert entry["after"][other] is True  # the other protection was still attempted
    assert protection(server_client, "sentinel-a") == (True, True)
    assert protection(server_client, "sentinel-c") == (True, True)
    assert fault_proxy.calls(operation, "sentinel-b") == 1  # denied is final: not retried


def test_access_denied_reading_pitr_shows_unknown_never_disabled(
    env: dict[str, str], fault_proxy: FaultProxy
) -> None:
    fault_proxy.fail(
        "DescribeContinuousBackups", "AccessDeniedException", tables=["sentinel-b"], times=None
    )
    text = run_cli(["harden", "--dry-run", *UNPACED], env)
    row = next(line for line in text.stdout.splitlines() if line.startswith("  sentinel-b"))
    assert row.split()[1:] == ["Disabled", "Unknown", "(AccessDeniedException)"]
    assert "! sentinel-b: PITR unknown: AccessDeniedException" in text.stdout
    document = run_cli(["harden", "--dry-run", "--json", *UNPACED], env).json()
    entry = by_name(document)["sentinel-b"]
    assert entry["before"]["pitr_enabled"] is None
    assert entry["read_errors"][0]["code"] == "AccessDeniedException"


def test_a_table_deleted_mid_run_is_reported_and_the_rest_done(
    env: dict[str, str], fault_proxy: FaultProxy, server_client: Any
) -> None:
    fault_proxy.on_call(
        "UpdateTable",
        lambda call: backend(call).delete_table(TableName="sentinel-b"),
        table="sentinel-b",
    )
    result = run_cli(HARDEN, env)
    assert result.returncode == ExitStatus.FAILED
    entry = by_name(result.json())["sentinel-b"]
    assert entry["result"] == "failed"
    assert entry["error"]["code"] in ("ResourceNotFoundException", "TableNotFoundException")
    assert protection(server_client, "sentinel-a") == (True, True)
    assert protection(server_client, "sentinel-c") == (True, True)


def _interrupt_while_busy(
    env: dict[str, str], fault_proxy: FaultProxy, flags: list[str]
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the CLI with one worker, and press Ctrl-C while it waits on a busy sentinel-a."""
    fault_proxy.report_updating("sentinel-a", seconds=60, reject_writes=True)
    command = [sys.executable, "-m", "remediation", "harden", "--force", "--workers", "1"]
    process = subprocess.Popen(
        [*command, *flags, *UNPACED],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while fault_proxy.calls("DescribeTable", "sentinel-a") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    calls_at_interrupt = fault_proxy.calls()
    stdout, stderr = process.communicate(timeout=30)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), (
        calls_at_interrupt
    )


def test_ctrl_c_starts_no_new_call_reports_and_exits_130(
    env: dict[str, str], fault_proxy: FaultProxy, server_client: Any
) -> None:
    result, calls_at_interrupt = _interrupt_while_busy(env, fault_proxy, [])
    assert result.returncode == ExitStatus.INTERRUPTED == 130
    assert "Traceback" not in result.stderr
    # sentinel-a was only waited on (no write was made): not started, like the others (issue 21
    # item 10: "stopped part-way" is for a table with a write done).
    assert result.stderr.strip().splitlines()[-1] == (
        "Interrupted before any change: nothing was changed."
    )
    assert result.stdout.splitlines()[-1] == (
        "Summary: 0 of 3 tables protected, 3 not attempted (interrupted)."
    )
    assert "✗" not in result.stdout  # not attempted is pending, never failed
    assert fault_proxy.calls() <= calls_at_interrupt + 1  # at most the call already in flight
    assert fault_proxy.calls("UpdateTable") == 0
    assert protection(server_client, "sentinel-b") == (False, False)


def test_ctrl_c_with_json_still_prints_one_document(
    env: dict[str, str], fault_proxy: FaultProxy
) -> None:
    result, _ = _interrupt_while_busy(env, fault_proxy, ["--json"])
    assert result.returncode == ExitStatus.INTERRUPTED
    document = json.loads(result.stdout)
    assert document["interrupted"] is True
    results = {t["table_name"]: t["result"] for t in document["tables"]}
    assert results == {"sentinel-a": "pending", "sentinel-b": "pending", "sentinel-c": "pending"}
    assert (document["failed"], document["pending"]) == (0, 3)
    assert "error" not in by_name(document)["sentinel-a"]
    assert by_name(document)["sentinel-a"]["not_attempted"] == [
        "dynamodb-deletion-protection",
        "dynamodb-point-in-time-recovery",
    ]


def test_a_table_in_a_state_no_wait_will_end_is_tried_at_once_and_reported(
    env: dict[str, str], fault_proxy: FaultProxy, server_client: Any
) -> None:
    # An archived table (its KMS key gone) will not come back by waiting: no polling, the write
    # is attempted, and what AWS answers is reported on that table.
    fault_proxy.report_updating("sentinel-a", seconds=60, status="ARCHIVED")
    fault_proxy.fail("UpdateTable", "ResourceInUseException", tables=["sentinel-a"], times=None)
    started = time.monotonic()
    result = run_cli([*HARDEN, "--wait-timeout", "60"], env)
    assert time.monotonic() - started < 30
    assert result.returncode == ExitStatus.FAILED
    entry = by_name(result.json())["sentinel-a"]
    assert entry["before"]["table_status"] == "ARCHIVED"
    assert entry["errors"][0]["code"] == "ResourceInUseException"
    assert fault_proxy.calls("DescribeTable", "sentinel-a") <= 4
    assert protection(server_client, "sentinel-b") == (True, True)
