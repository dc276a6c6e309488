"""The CLI as a function, on moto in-process: the seed's Task 2 list and the fixes to it."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from remediation.cli import ExitStatus, main
from tests.cli_process import UNPACED
from tests.conftest import TableFactory, create_sentinel_tables, protection


class Terminal(io.StringIO):
    """A stdin that is a terminal with `text` typed into it."""

    def isatty(self) -> bool:
        return True


class Result:
    def __init__(self, status: ExitStatus, stdout: str, stderr: str) -> None:
        self.status = status
        self.stdout = stdout
        self.stderr = stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


def cli(*args: str, stdin: io.StringIO | None = None) -> Result:
    out, err = io.StringIO(), io.StringIO()
    status = main(["harden", *UNPACED, *args], stdin or io.StringIO(""), out, err)
    return Result(status, out.getvalue(), err.getvalue())


@pytest.fixture
def sentinel(mocked_aws: Any) -> list[str]:
    return create_sentinel_tables(mocked_aws)


def test_status_and_plan_use_the_seed_layout(sentinel: list[str]) -> None:
    result = cli("--dry-run")
    assert result.status == ExitStatus.OK
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        "Sentinel DynamoDB Hardening",
        "===========================",
        "",
        "Tables to harden (3 found):",
        "",
    ]
    assert lines[5].split() == ["Table", "Deletion", "Protection", "PITR"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[7:10]}
    assert rows == {
        "sentinel-breakglass": ["Enabled", "Disabled"],
        "sentinel-requests": ["Disabled", "Disabled"],
        "sentinel-sessions": ["Disabled", "Enabled"],
    }
    assert "Changes to apply:" in lines
    assert "- sentinel-requests: Enable deletion protection, Enable PITR" in lines
    assert "- sentinel-breakglass: Enable PITR" in lines
    assert "- sentinel-sessions: Enable deletion protection" in lines
    assert "other-table" not in result.stdout


def test_dry_run_changes_nothing(sentinel: list[str], mocked_aws: Any) -> None:
    cli("--dry-run", "--force")
    assert protection(mocked_aws, "sentinel-requests") == (False, False)


def test_force_hardens_every_discovered_table_and_reports_each(
    sentinel: list[str], mocked_aws: Any
) -> None:
    result = cli("--force")
    assert result.status == ExitStatus.OK
    assert "✓ sentinel-requests: Deletion protection enabled, PITR enabled" in result.stdout
    assert (
        "✓ sentinel-breakglass: PITR enabled (deletion protection already enabled)" in result.stdout
    )
    assert "✓ sentinel-sessions: Deletion protection enabled (PITR already enabled)" in (
        result.stdout
    )
    assert "Summary: 3/3 tables hardened successfully" in result.stdout
    assert all(protection(mocked_aws, n) == (True, True) for n in sentinel)
    assert protection(mocked_aws, "other-table") == (False, False)


def test_prompt_counts_only_tables_that_need_a_change(table: TableFactory, mocked_aws: Any) -> None:
    table("sentinel-a", deletion_protection=True, pitr=True)
    table("sentinel-b")
    result = cli(stdin=Terminal("y\n"))
    # stdout here is not a terminal (it could be a pipe to tee): the question goes to stderr
    assert "Harden 1 table? [y/N] " in result.stderr
    assert result.status == ExitStatus.OK
    assert protection(mocked_aws, "sentinel-b") == (True, True)


@pytest.mark.parametrize("answer", ["n\n", "\n", "", "maybe\n"])
def test_anything_but_yes_at_the_prompt_cancels(
    sentinel: list[str], mocked_aws: Any, answer: str
) -> None:
    result = cli(stdin=Terminal(answer))
    assert "Harden 3 tables? [y/N] " in result.stderr
    assert result.status == ExitStatus.CANCELLED
    assert protection(mocked_aws, "sentinel-requests") == (False, False)


def test_stdin_that_is_not_a_terminal_cancels_even_with_json(
    sentinel: list[str], mocked_aws: Any
) -> None:
    result = cli("--json", stdin=io.StringIO("y\n"))
    assert result.status == ExitStatus.CANCELLED
    assert result.json()["cancelled"] is True
    assert "--force" in result.stderr
    assert protection(mocked_aws, "sentinel-requests") == (False, False)


def test_nothing_to_do_says_so_and_does_not_ask(table: TableFactory) -> None:
    table("sentinel-a", deletion_protection=True, pitr=True)
    result = cli(stdin=Terminal(""))
    assert result.status == ExitStatus.OK
    assert "[y/N]" not in result.stdout + result.stderr
    assert "No changes needed: all 1 tables are already protected." in result.stdout


def test_explicit_tables_skip_discovery_and_may_lie_outside_the_prefix(
    sentinel: list[str], mocked_aws: Any
) -> None:
    result = cli("--table", "other-table", "--force")
    assert result.status == ExitStatus.OK
    assert protection(mocked_aws, "other-table") == (True, True)
    assert protection(mocked_aws, "sentinel-requests") == (False, False)


def test_no_pitr_enables_only_deletion_protection(sentinel: list[str], mocked_aws: Any) -> None:
    result = cli("--no-pitr", "--force", "--json")
    assert result.status == ExitStatus.OK
    assert [protection(mocked_aws, n) for n in sentinel] == [
        (True, False),
        (True, False),
        (True, True),
    ]
    assert all(t["pitr_changed"] is False for t in result.json()["tables"])


def test_json_is_the_seed_shape_with_states_before_and_after(
    sentinel: list[str], mocked_aws: Any
) -> None:
    result = cli("--json", "--force")
    document = result.json()
    assert (document["total"], document["succeeded"], document["failed"]) == (3, 3, 0)
    tables = {t["table_name"]: t for t in document["tables"]}
    requests = tables["sentinel-requests"]
    assert requests["deletion_protection_changed"] is True
    assert requests["pitr_changed"] is True
    assert requests["before"]["deletion_protection"] is False
    assert requests["after"] == {
        "deletion_protection": True,
        "pitr_enabled": True,
        "pitr_recovery_period_days": 35,
        "table_status": "ACTIVE",
    }
    assert tables["sentinel-breakglass"]["deletion_protection_changed"] is False
    assert tables["sentinel-breakglass"]["pitr_changed"] is True
