"""What the CLI prints never claims what is not true: each case below was seen in a real run.

The CLI runs as a real subprocess against moto_server (through the fault proxy where AWS's
answers are needed); Ctrl-C is a real SIGINT while writes are paced slow.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from remediation.cli import ExitStatus
from remediation.cli.words import count
from tests.cli_process import ROOT, UNPACED, run_cli, run_cli_on_terminal
from tests.conftest import create_table, protection
from tests.fault_proxy import FaultProxy
from tests.servers import MotoServer, assumed_client, aws_env

CALLER = "123456789012"
A, B = "111111111111", "222222222222"


def role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/SentinelHarden"


# -- a table that could not be read ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["--dry-run", "--force"])
def test_a_table_that_could_not_be_read_is_never_counted_as_found_or_protected(
    server: MotoServer, server_client: Any, mode: str
) -> None:
    result = run_cli(["harden", "--table", "sentinel-nope", mode, *UNPACED], aws_env(server.url))
    assert result.returncode == ExitStatus.FAILED
    lines = result.stdout.splitlines()
    assert "Tables to harden (0 found, 1 could not be read in region us-east-1):" in lines
    assert "already protected" not in result.stdout
    assert "Nothing can be changed: 1 table could not be read (see above)." in lines
    assert lines[-1].startswith("Summary: 0 of 1 table protected, 1 failed")


def test_a_read_failure_is_named_by_its_table_and_a_one_account_run_has_no_account_column(
    server: MotoServer, server_client: Any
) -> None:
    create_table(server_client, "sentinel-ok", deletion_protection=True, pitr=True)
    args = ["harden", "--table", "sentinel-ok", "--table", "sentinel-nope", "--force", *UNPACED]
    result = run_cli(args, aws_env(server.url))
    assert result.returncode == ExitStatus.FAILED
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "Deletion Protection" in line)
    assert header.split()[0] == "Table" and "Account" not in result.stdout
    assert any(line.startswith("! sentinel-nope: cannot be read: ") for line in lines)
    assert "No changes to apply: 1 table already protected, 1 table could not be read" in (
        result.stdout
    )
    assert lines[-1] == "Summary: 1 of 2 tables already protected, 1 failed; nothing was changed."


# -- the Summary line is the last line, in English ---------------------------------------------


def test_a_forced_run_where_everything_is_protected_still_ends_with_its_summary(
    server: MotoServer, server_client: Any
) -> None:
    for name in ("sentinel-a", "sentinel-b", "sentinel-c"):
        create_table(server_client, name, deletion_protection=True, pitr=True)
    result = run_cli(["harden", "--force", *UNPACED], aws_env(server.url))
    assert result.returncode == ExitStatus.OK
    lines = result.stdout.splitlines()
    assert "No changes needed: all 3 tables are already protected." in lines
    assert lines[-1] == "Summary: all 3 tables already protected; nothing was changed."


def test_one_table_is_one_table(server: MotoServer, server_client: Any) -> None:
    create_table(server_client, "sentinel-a")
    result = run_cli(["harden", "--force", *UNPACED], aws_env(server.url))
    assert result.returncode == ExitStatus.OK
    assert "Tables to harden (1 found in account 123456789012, region us-east-1):" in result.stdout
    assert result.stdout.splitlines()[-1] == "Summary: 1 table protected (1 hardened now)."
    assert protection(server_client, "sentinel-a") == (True, True)


def test_a_run_declined_at_the_prompt_ends_with_its_summary(
    server: MotoServer, server_client: Any
) -> None:
    create_table(server_client, "sentinel-a")
    create_table(server_client, "sentinel-b", deletion_protection=True, pitr=True)
    result = run_cli_on_terminal(["harden", *UNPACED], aws_env(server.url), answer="n")
    assert result.returncode == ExitStatus.CANCELLED
    assert "Harden 1 table in account 123456789012, region us-east-1? [y/N] " in result.stdout
    assert result.stdout.strip().splitlines()[-1] == (
        "Summary: 1 of 2 tables already protected, 1 not hardened (cancelled); nothing was changed."
    )
    assert protection(server_client, "sentinel-a") == (False, False)


def test_a_pitr_that_was_on_is_said_to_have_had_only_its_period_raised(
    server: MotoServer, server_client: Any
) -> None:
    """Issue 21 item 9: PITR on at 7 days, --min-recovery-days 14: the finding says the run
    raised the period, never that it enabled PITR."""
    create_table(server_client, "sentinel-a", deletion_protection=True, pitr=True, recovery_days=7)
    args = ["harden", "--force", "--min-recovery-days", "14", "--format", "asff", *UNPACED]
    result = run_cli(args, aws_env(server.url))
    assert result.returncode == ExitStatus.OK, result.stderr
    [pitr] = [f for f in json.loads(result.stdout) if f["Id"].endswith("point-in-time-recovery")]
    assert pitr["Description"].startswith(
        "PITR on sentinel-a was already enabled; this run raised its period from 7 to 14 days."
    ), pitr["Description"]
    assert "enabled by this run" not in pitr["Description"]


# -- where the run acts, before anything changes -----------------------------------------------


def test_a_one_account_run_names_its_account_and_region_from_the_tables_with_no_call(
    server: MotoServer, server_client: Any, fault_proxy: FaultProxy
) -> None:
    """Issue 21 item 14: a wrong profile is seen at the prompt; the account comes from the
    tables' ARNs, so no GetCallerIdentity is made to know it."""
    create_table(server_client, "sentinel-a")
    result = run_cli_on_terminal(["harden", *UNPACED], aws_env(fault_proxy.url), answer="n")
    assert result.returncode == ExitStatus.CANCELLED
    where = f"account {CALLER}, region us-east-1"
    assert f"Tables to harden (1 found in {where}):" in result.stdout
    assert f"Harden 1 table in {where}? [y/N] " in result.stdout
    assert fault_proxy.calls("sts:GetCallerIdentity") == 0


def test_a_fleet_prompt_counts_the_accounts_and_regions_it_would_change(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    for account in (A, B):
        for region in ("us-east-1", "eu-west-1"):
            create_table(assumed_client(server.url, role(account), region), "sentinel-a")
    args = ["harden", "--role-arn", role(A), "--role-arn", role(B), *UNPACED]
    args += ["--region", "us-east-1", "--region", "eu-west-1"]
    result = run_cli_on_terminal(args, aws_env(fault_proxy.url), answer="n")
    assert result.returncode == ExitStatus.CANCELLED, result.stderr
    assert "Harden 4 tables in 2 accounts, 2 regions? [y/N] " in result.stdout
    assert "Tables to harden (4 found in 2 accounts, 2 regions):" in result.stdout


# -- Ctrl-C while writes are paced slow --------------------------------------------------------

TABLES = [f"sentinel-{i}" for i in range(8)]


def _interrupt_paced_writes(server: MotoServer, client: Any, flags: list[str]) -> Any:
    """Harden 8 tables with UpdateTable paced at one call every 2 s; press Ctrl-C as soon as
    the first table is protected."""
    for name in TABLES:
        create_table(client, name)
    command = [sys.executable, "-m", "remediation", "harden", "--force", *UNPACED]
    process = subprocess.Popen(
        [*command, "--rate", "UpdateTable=0.5", "--workers", "2", *flags],
        env=aws_env(server.url),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if any(protection(client, name) == (True, True) for name in TABLES):
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _stderr_counts(stderr: str) -> tuple[int, int, int, int]:
    match = re.search(
        r"Interrupted: (\d+) of (\d+) tables protected, (\d+) failed, (\d+) pending", stderr
    )
    assert match, stderr
    protected, total, failed, pending = map(int, match.groups())
    return protected, total, failed, pending


def test_ctrl_c_during_paced_writes_counts_what_was_not_attempted_as_pending_everywhere(
    server: MotoServer, server_client: Any
) -> None:
    result = _interrupt_paced_writes(server, server_client, [])
    assert result.returncode == ExitStatus.INTERRUPTED, result.stderr
    assert "Traceback" not in result.stderr
    done = sum(protection(server_client, name) == (True, True) for name in TABLES)
    assert 1 <= done < len(TABLES)
    lines = result.stdout.splitlines()
    assert "✗" not in result.stdout  # not attempted is never failed
    assert sum(line.startswith("✓ ") for line in lines) == done
    pending = len(TABLES) - done
    assert lines[-1] == (
        f"Summary: {done} of 8 tables protected ({done} hardened now), "
        f"{pending} not attempted (interrupted)."
    )
    assert _stderr_counts(result.stderr) == (done, 8, 0, pending)


def test_ctrl_c_during_paced_writes_gives_the_same_counts_in_json(
    server: MotoServer, server_client: Any
) -> None:
    result = _interrupt_paced_writes(server, server_client, ["--json"])
    assert result.returncode == ExitStatus.INTERRUPTED, result.stderr
    document = json.loads(result.stdout)
    done = sum(protection(server_client, name) == (True, True) for name in TABLES)
    assert 1 <= done < len(TABLES)
    assert document["interrupted"] is True
    counts = (document["succeeded"], document["total"], document["failed"], document["pending"])
    assert counts == (done, 8, 0, 8 - done)
    assert _stderr_counts(result.stderr) == counts
    results = {t["table_name"]: t["result"] for t in document["tables"]}
    assert sorted(results.values()) == sorted(["hardened"] * done + ["pending"] * (8 - done))


def test_after_ctrl_c_every_table_not_started_lists_not_attempted(
    server: MotoServer, server_client: Any
) -> None:
    """Issue 21 item 10: a table whose write never started lists both controls not attempted,
    and stderr never calls it "stopped part-way" (only a table with a write done is)."""
    result = _interrupt_paced_writes(server, server_client, ["--json"])
    assert result.returncode == ExitStatus.INTERRUPTED, result.stderr
    entries = {t["table_name"]: t for t in json.loads(result.stdout)["tables"]}
    untouched = [n for n in TABLES if protection(server_client, n) == (False, False)]
    assert untouched
    for name in untouched:
        assert entries[name]["result"] == "pending"
        assert entries[name]["not_attempted"] == [
            "dynamodb-deletion-protection",
            "dynamodb-point-in-time-recovery",
        ], entries[name]
    line = result.stderr.strip().splitlines()[-1]
    stopped = re.search(r"stopped part-way: ([^;]*);", line)
    for name in stopped.group(1).split(", ") if stopped else []:
        assert name not in untouched, line
    not_started = re.search(r"not started: (.*)\.$", line)
    assert not_started is not None, line
    assert set(untouched) <= set(not_started.group(1).split(", ")), line


def _interrupt_paced_reads(fault_proxy: FaultProxy, client: Any, flags: list[str]) -> Any:
    """Read 8 tables with DescribeTable paced at one call every 2 s; press Ctrl-C once the
    first table is read in full (its DescribeContinuousBackups answered)."""
    for name in TABLES:
        create_table(client, name)
    command = [sys.executable, "-m", "remediation", "harden", "--force", *UNPACED]
    process = subprocess.Popen(
        [*command, "--rate", "DescribeTable=0.5", "--workers", "2", *flags],
        env=aws_env(fault_proxy.url),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if fault_proxy.calls("DescribeContinuousBackups") >= 1:
            break
        time.sleep(0.05)
    time.sleep(0.3)  # the answer parsed
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_ctrl_c_during_the_reads_keeps_what_was_read_in_json(
    server: MotoServer, server_client: Any, fault_proxy: FaultProxy
) -> None:
    """Issue 21 item 11: the rows read are kept, and the target read in part is not `ok`."""
    result = _interrupt_paced_reads(fault_proxy, server_client, ["--json"])
    assert result.returncode == ExitStatus.INTERRUPTED, result.stderr
    assert "Traceback" not in result.stderr
    document = json.loads(result.stdout)
    read = document["tables"]
    assert 1 <= len(read) < len(TABLES)
    assert fault_proxy.calls("DescribeTable") == len(read)  # a row for every table read
    for entry in read:
        assert entry["before"]["deletion_protection"] is False
        assert entry["result"] == "pending"
    assert document["total"] == document["pending"] == len(read)
    [target] = document["targets"]
    assert target["status"] == "interrupted"
    assert "read only in part" in target["error"]
    assert all(protection(server_client, n) == (False, False) for n in TABLES)  # nothing written


def test_ctrl_c_during_the_reads_keeps_what_was_read_in_the_summary(
    server: MotoServer, server_client: Any, fault_proxy: FaultProxy
) -> None:
    result = _interrupt_paced_reads(fault_proxy, server_client, [])
    assert result.returncode == ExitStatus.INTERRUPTED, result.stderr
    read = fault_proxy.calls("DescribeTable")
    lines = result.stdout.splitlines()
    assert f"Tables to harden ({read} found in account {CALLER}, region us-east-1):" in lines
    assert lines[-1] == (
        f"Summary: 0 of {count(read)} protected, {read} not attempted (interrupted), "
        "1 account-region read in part (interrupted); nothing was changed."
    )
    assert result.stderr.strip().splitlines()[-1] == (
        "Interrupted before any change: nothing was changed."
    )


# -- fleets: where the run looked --------------------------------------------------------------


def test_all_regions_says_how_many_regions_it_looked_in(
    server: MotoServer, server_client: Any, fault_proxy: FaultProxy
) -> None:
    create_table(server_client, "sentinel-requests")
    env = aws_env(fault_proxy.url)
    document = run_cli(["harden", "--dry-run", "--all-regions", "--json"], env).json()
    looked = len({t["region"] for t in document["targets"] if t["status"] != "skipped"})
    skipped = len({t["region"] for t in document["targets"] if t["status"] == "skipped"})
    assert looked > 10
    result = run_cli(["harden", "--dry-run", "--all-regions"], env)
    assert result.returncode == ExitStatus.OK, result.stderr
    heading = (
        f"Tables to harden (1 found in account {CALLER}, region us-east-1; "
        f"{looked} regions looked in):"
    )
    assert heading in result.stdout.splitlines()
    if skipped > 1:  # the regions the account has not enabled: one line, not one each
        grouped = [line for line in result.stdout.splitlines() if " regions (" in line]
        assert len(grouped) == 1 and f"{skipped} regions (" in grouped[0], result.stdout


def test_an_account_reached_through_a_role_with_no_tables_is_still_mentioned(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    create_table(assumed_client(server.url, role(B), "us-east-1"), "sentinel-requests")
    assumed_client(server.url, role(A), "us-east-1")  # A exists, with no table
    args = ["harden", "--dry-run", "--role-arn", role(A), "--role-arn", role(B)]
    result = run_cli([*args, "--region", "us-east-1"], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.OK, result.stderr
    lines = result.stdout.splitlines()
    heading = f"Tables to harden (1 found in account {B}, region us-east-1; 2 accounts looked in):"
    assert heading in lines
    assert f"No selected tables in account {A} (1 region looked in)." in lines


def test_a_run_where_every_target_failed_never_says_nothing_to_do(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    fault_proxy.fail("sts:AssumeRole", "AccessDenied", tables=[role(A)], times=None)
    args = ["harden", "--force", "--role-arn", role(A), "--region", "us-east-1"]
    result = run_cli(args, aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.FAILED
    assert "nothing to do" not in result.stdout
    lines = result.stdout.splitlines()
    assert "No table could be looked for: the one account-region failed (listed below)." in lines
    assert any(line.startswith(f"✗ {A} us-east-1: failed: ") for line in lines)
    assert lines[-1] == (
        "Summary: no table could be looked for, 1 account-region failed; nothing was changed."
    )


# -- usage -------------------------------------------------------------------------------------


def test_a_region_named_twice_is_named() -> None:
    result = run_cli(["harden", "--region", "eu-west-1", "--region", "eu-west-1"], {})
    assert result.returncode == ExitStatus.USAGE
    assert result.stderr.startswith("error: a region is named twice: eu-west-1 ")


def test_the_module_alone_prints_its_usage() -> None:
    result = run_cli([], {})
    assert result.returncode == ExitStatus.USAGE
    assert result.stderr.startswith("usage: python -m remediation [-h] COMMAND")
    assert "harden" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["harden", "--workers", "0"], "python -m remediation harden --help"),
        (["harden", "--no-such-flag"], "python -m remediation harden --help"),
        (["hardne"], "python -m remediation --help"),
    ],
)
def test_usage_errors_point_to_help(args: list[str], hint: str) -> None:
    result = run_cli(args, {})
    assert result.returncode == ExitStatus.USAGE
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert lines[0].endswith(f"(see `{hint}`)")


def test_make_says_what_its_install_step_does(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    dry = subprocess.run(
        ["make", "-n", f"VENV={venv}", f"{venv}/bin/python"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    said = [line for line in dry.stdout.splitlines() if line.startswith("echo ")]
    assert any("creating" in line for line in said)
    assert any("installing the project" in line for line in said)
    assert not venv.exists()
