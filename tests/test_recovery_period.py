"""The PITR recovery period as AWS really answers it (issue 13, items 5 and 6).

An answer without RecoveryPeriodInDays is unknown, never AWS's 35; a write carrying a period
re-reads it just before and never lowers it; a botocore whose DynamoDB model lacks the field is a
setup error whenever a minimum is asked. Faults are the proxy's (answers rewritten, the period
raised by someone else mid-run) and a real botocore data path holding a model without the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.loaders
import pytest

from remediation import aws, guard
from remediation.cli import ExitStatus
from tests.cli_process import UNPACED, run_cli
from tests.conftest import TableFactory, create_table, recovery_days
from tests.fault_proxy import Call, FaultProxy
from tests.guard_support import Context, guard_environment, log_lines, sample
from tests.servers import MotoServer, aws_env, dynamodb_client

HARDEN = ["harden", "--force", "--json", *UNPACED]
MINIMUM = ["--min-recovery-days", "14"]


def hide_period(answer: dict[str, Any]) -> None:
    """DescribeContinuousBackups as AWS may send it: PITR on, no RecoveryPeriodInDays."""
    answer["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"].pop(
        "RecoveryPeriodInDays", None
    )


def tables(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["table_name"]: t for t in document["tables"]}


# -- item 5: an answer without a period is unknown ------------------------------------------------


def test_a_pitr_answer_without_a_period_fails_a_check_as_unknown(
    server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    server_table("sentinel-a", deletion_protection=True, pitr=True)  # AWS keeps 35 days
    fault_proxy.rewrite_answer("DescribeContinuousBackups", hide_period, times=None)
    env = aws_env(fault_proxy.url)
    result = run_cli(["harden", "--check", "--json", *MINIMUM, *UNPACED], env)
    assert result.returncode == ExitStatus.FAILED, result.stderr
    entry = tables(result.json())["sentinel-a"]
    assert entry["result"] == "unprotected"
    assert entry["before"]["pitr_enabled"] is True
    assert entry["before"]["pitr_recovery_period_days"] is None
    text = run_cli(["harden", "--check", *MINIMUM, *UNPACED], env)
    assert text.returncode == ExitStatus.FAILED
    assert "Enabled (period unknown)" in text.stdout
    assert "PITR recovery period unknown (at least 14 days required)" in text.stdout
    assert "35" not in text.stdout
    planned = run_cli(["harden", "--dry-run", *MINIMUM, *UNPACED], env)
    assert planned.returncode == ExitStatus.OK, planned.stderr
    assert "Raise PITR recovery period to 14 days if shorter (period unknown" in planned.stdout


def test_without_a_minimum_an_unknown_period_does_not_matter(
    server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    server_table("sentinel-a", deletion_protection=True, pitr=True)
    fault_proxy.rewrite_answer("DescribeContinuousBackups", hide_period, times=None)
    result = run_cli(["harden", "--check", "--json", *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.OK, result.stderr
    assert tables(result.json())["sentinel-a"]["result"] == "already_protected"


def test_an_unknown_period_is_never_written_down_to_the_minimum(
    server_table: TableFactory, fault_proxy: FaultProxy, server_client: Any
) -> None:
    server_table("sentinel-a", deletion_protection=True, pitr=True)  # 35 days, hidden below
    server_table("sentinel-b", deletion_protection=True, pitr=True, recovery_days=7)
    fault_proxy.rewrite_answer(
        "DescribeContinuousBackups", hide_period, table="sentinel-a", times=None
    )
    result = run_cli([*HARDEN, *MINIMUM], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.FAILED, result.stderr
    entries = tables(result.json())
    a = entries["sentinel-a"]
    assert a["result"] == "failed"
    assert a["error"]["code"] == "RecoveryPeriodUnknown"
    assert a["error"]["action"] == "dynamodb:DescribeContinuousBackups"
    assert fault_proxy.calls("UpdateContinuousBackups", "sentinel-a") == 0
    assert recovery_days(server_client, "sentinel-a") == 35  # not lowered to 14
    assert entries["sentinel-b"]["result"] == "hardened"
    assert recovery_days(server_client, "sentinel-b") == 14


# -- item 6: never lower, even under a race ------------------------------------------------------


def raise_period_on_read(number: int, days: int) -> Any:
    """A hook: on the `number`th DescribeContinuousBackups of a table, someone else sets its
    period to `days` on the server before the read is answered."""
    seen = [0]

    def hook(call: Call) -> None:
        seen[0] += 1
        if seen[0] == number:
            dynamodb_client(call.backend_url).update_continuous_backups(
                TableName=call.table,
                PointInTimeRecoverySpecification={
                    "PointInTimeRecoveryEnabled": True,
                    "RecoveryPeriodInDays": days,
                },
            )

    return hook


def test_a_period_raised_between_the_read_and_the_write_is_never_lowered(
    server_table: TableFactory, fault_proxy: FaultProxy, server_client: Any
) -> None:
    server_table("sentinel-a", deletion_protection=True, pitr=True, recovery_days=7)
    # The first read sees 7; by the read just before the write, someone has set 30.
    fault_proxy.on_call(
        "DescribeContinuousBackups", raise_period_on_read(2, 30), table="sentinel-a", times=None
    )
    result = run_cli([*HARDEN, *MINIMUM], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.OK, result.stderr
    assert recovery_days(server_client, "sentinel-a") == 30
    assert fault_proxy.calls("DescribeContinuousBackups", "sentinel-a") == 2
    assert fault_proxy.calls("UpdateContinuousBackups", "sentinel-a") == 0
    entry = tables(result.json())["sentinel-a"]
    assert entry["before"]["pitr_recovery_period_days"] == 7
    assert entry["after"]["pitr_recovery_period_days"] == 30
    assert entry["pitr_changed"] is False  # someone else raised it: this run changed nothing


def test_a_period_raised_meanwhile_but_still_short_is_raised_to_the_minimum(
    server_table: TableFactory, fault_proxy: FaultProxy, server_client: Any
) -> None:
    server_table("sentinel-a", deletion_protection=True, pitr=True, recovery_days=3)
    fault_proxy.on_call(
        "DescribeContinuousBackups", raise_period_on_read(2, 10), table="sentinel-a", times=None
    )
    result = run_cli([*HARDEN, *MINIMUM], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.OK, result.stderr
    assert recovery_days(server_client, "sentinel-a") == 14
    assert tables(result.json())["sentinel-a"]["pitr_changed"] is True


# -- item 5: a botocore whose model lacks the field ----------------------------------------------


@pytest.fixture
def old_model(tmp_path: Path) -> str:
    """A botocore data path whose DynamoDB model is today's less RecoveryPeriodInDays, as in
    botocore before 1.35.94; botocore's loader prefers it to the installed one."""
    loader = botocore.loaders.create_loader()
    model = loader.load_service_model("dynamodb", "service-2")
    version = model["metadata"]["apiVersion"]
    for shape in ("PointInTimeRecoveryDescription", "PointInTimeRecoverySpecification"):
        del model["shapes"][shape]["members"]["RecoveryPeriodInDays"]
    folder = tmp_path / "dynamodb" / version
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    return str(tmp_path)


def test_the_copy_really_is_what_botocore_loads(old_model: str) -> None:
    model = botocore.loaders.create_loader(old_model).load_service_model("dynamodb", "service-2")
    members = model["shapes"]["PointInTimeRecoveryDescription"]["members"]
    assert "RecoveryPeriodInDays" not in members


@pytest.mark.parametrize("mode", ["--check", "--force"])
def test_a_minimum_with_a_model_lacking_the_period_is_a_setup_error(
    server: MotoServer, fault_proxy: FaultProxy, old_model: str, mode: str
) -> None:
    create_table(dynamodb_client(server.url), "sentinel-a", deletion_protection=True, pitr=True)
    env = {**aws_env(fault_proxy.url), "AWS_DATA_PATH": old_model}
    result = run_cli(["harden", mode, *MINIMUM, *UNPACED], env)
    assert result.returncode == ExitStatus.AWS_SETUP
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: --min-recovery-days needs botocore >= 1.35.94")
    assert aws.RECOVERY_PERIOD_BOTOCORE == "1.35.94"
    assert fault_proxy.calls() == 0
    document = run_cli(["harden", mode, "--json", *MINIMUM, *UNPACED], env)
    assert document.returncode == ExitStatus.AWS_SETUP
    assert "1.35.94" in document.json()["error"]


def test_without_a_minimum_a_model_lacking_the_period_is_no_obstacle(
    server: MotoServer, fault_proxy: FaultProxy, old_model: str
) -> None:
    create_table(dynamodb_client(server.url), "sentinel-a", deletion_protection=True, pitr=True)
    env = {**aws_env(fault_proxy.url), "AWS_DATA_PATH": old_model}
    result = run_cli(["harden", "--check", *UNPACED], env)
    assert result.returncode == ExitStatus.OK, result.stderr


def test_the_guard_with_a_minimum_and_a_model_lacking_the_period_fails_at_start(
    monkeypatch: pytest.MonkeyPatch,
    server: MotoServer,
    fault_proxy: FaultProxy,
    old_model: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    guard_environment(monkeypatch, fault_proxy.url, min_recovery_days="14")
    monkeypatch.setenv("AWS_DATA_PATH", old_model)
    for _ in range(2):  # not cached as a working guard: every event fails alike
        with pytest.raises(guard.ConfigError, match=r"botocore >= 1\.35\.94"):
            guard.handler(sample("create-table"), Context())
        (line,) = log_lines(capsys.readouterr().out)
        assert line["decision"] == "config_error"
        assert "SENTINEL_MIN_RECOVERY_DAYS needs botocore >= 1.35.94" in line["reason"]
    assert fault_proxy.calls() == 0
