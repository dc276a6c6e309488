"""The CLI as a function, on moto in-process: the seed's Task 2 list and the fixes to it."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from remediation.cli import ExitStatus, main
from tests.cli_process import UNPACED
from tests.conftest import TableFactory, create_sentinel_tables, protection, recovery_days


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
        "Tables to harden (3 found in account 123456789012, region us-east-1):",
        "",
    ]
    assert lines[5].split() == ["Table", "Deletion", "Protection", "PITR"]
    rows = {line.split()[0]: line.split(maxsplit=2)[1:] for line in lines[7:10]}
    assert rows == {
        "sentinel-breakglass": ["Enabled", "Disabled"],
        "sentinel-requests": ["Disabled", "Disabled"],
        "sentinel-sessions": ["Disabled", "Enabled (35 days)"],
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
    assert result.stdout.splitlines()[-1] == "Summary: all 3 tables protected (3 hardened now)."
    assert all(protection(mocked_aws, n) == (True, True) for n in sentinel)
    assert protection(mocked_aws, "other-table") == (False, False)


def test_prompt_counts_only_tables_that_need_a_change(table: TableFactory, mocked_aws: Any) -> None:
    table("sentinel-a", deletion_protection=True, pitr=True)
    table("sentinel-b")
    result = cli(stdin=Terminal("y\n"))
    # stdout here is not a terminal (it could be a pipe to tee): the question goes to stderr
    assert "Harden 1 table in account 123456789012, region us-east-1? [y/N] " in result.stderr
    assert result.status == ExitStatus.OK
    assert protection(mocked_aws, "sentinel-b") == (True, True)


@pytest.mark.parametrize("answer", ["n\n", "\n", "", "maybe\n"])
def test_anything_but_yes_at_the_prompt_cancels(
    sentinel: list[str], mocked_aws: Any, answer: str
) -> None:
    result = cli(stdin=Terminal(answer))
    assert "Harden 3 tables in account 123456789012, region us-east-1? [y/N] " in result.stderr
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
    assert "No changes needed: 1 table is already protected." in result.stdout


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


# -- --exclude --------------------------------------------------------------------------------


@pytest.fixture
def scratch(sentinel: list[str], table: TableFactory) -> list[str]:
    return [table("sentinel-scratch-1"), table("sentinel-scratch-2")]


def test_excluded_tables_are_left_alone_counted_and_listed(
    scratch: list[str], sentinel: list[str], mocked_aws: Any
) -> None:
    result = cli("--exclude", "sentinel-scratch-*", "--force")
    assert result.status == ExitStatus.OK
    assert all(protection(mocked_aws, n) == (True, True) for n in sentinel)
    assert all(protection(mocked_aws, n) == (False, False) for n in scratch)
    assert (
        "Tables to harden (3 found, 2 excluded in account 123456789012, region us-east-1):"
        in result.stdout
    )
    assert (
        "Excluded by --exclude (never read or written): sentinel-scratch-1, sentinel-scratch-2"
        in result.stdout
    )
    assert (
        result.stdout.splitlines()[-1]
        == "Summary: all 3 tables protected (3 hardened now), 2 excluded."
    )


def test_excluded_tables_are_in_the_json_as_excluded(scratch: list[str]) -> None:
    document = cli("--exclude", "*-1", "--exclude", "*-2", "--dry-run", "--json").json()
    assert (document["total"], document["excluded"]) == (3, 2)
    entries = {t["table_name"]: t for t in document["tables"]}
    assert [t["table_name"] for t in document["tables"]] == sorted(entries)
    for name in scratch:
        assert entries[name] == {
            "table_name": name,
            "table_arn": None,
            "account": "123456789012",  # the account its neighbours' ARNs name
            "region": "us-east-1",
            "replica_of": None,
            "replica_regions": [],
            "deletion_protection_changed": False,
            "pitr_changed": False,
            "result": "excluded",
            "planned": [],
            "before": None,
            "after": None,
        }
    assert entries["sentinel-requests"]["result"] == "pending"


def test_excluding_every_table_is_no_error_and_says_so(scratch: list[str], mocked_aws: Any) -> None:
    for mode in (["--force"], ["--dry-run"], [], ["--check"], ["--check", "--allow-empty"]):
        result = cli("--exclude", "sentinel-*", *mode)
        assert result.status == ExitStatus.OK, (mode, result.stderr)
        assert result.stderr == ""
        assert "Every table found is excluded by --exclude (5): nothing to do." in result.stdout
        assert result.stdout.splitlines()[-1] == (
            "Summary: no table selected, 5 excluded; nothing was changed."
        )
    assert protection(mocked_aws, "sentinel-requests") == (False, False)


def test_an_exclude_wins_over_a_table_named_with_table(
    sentinel: list[str], mocked_aws: Any
) -> None:
    result = cli(
        "--table", "sentinel-requests", "--table", "sentinel-breakglass", "--exclude", "*-requests",
        "--force", "--json",
    )  # fmt: skip
    assert result.status == ExitStatus.OK
    results = {t["table_name"]: t["result"] for t in result.json()["tables"]}
    assert results == {"sentinel-breakglass": "hardened", "sentinel-requests": "excluded"}
    assert protection(mocked_aws, "sentinel-requests") == (False, False)


# -- --check ----------------------------------------------------------------------------------


def test_check_shows_what_is_missing_changes_nothing_and_exits_1(
    sentinel: list[str], mocked_aws: Any
) -> None:
    result = cli("--check", stdin=Terminal("y\n"))
    assert result.status == ExitStatus.FAILED == 1
    assert "[y/N]" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "Tables to check (3 found in account 123456789012, region us-east-1):" in lines
    assert "Not protected:" in lines
    assert "- sentinel-requests: deletion protection off, PITR off" in lines
    assert "- sentinel-breakglass: PITR off" in lines
    assert lines[-1] == "Summary: 0 of 3 tables protected, 3 not protected; nothing was changed."
    assert [protection(mocked_aws, n) for n in sentinel] == [
        (False, False),
        (True, False),
        (False, True),
    ]


def test_check_exits_0_when_every_selected_table_is_protected(
    table: TableFactory, scratch: list[str]
) -> None:
    for name in ("sentinel-requests", "sentinel-breakglass", "sentinel-sessions"):
        cli("--table", name, "--force")
    result = cli("--check", "--exclude", "sentinel-scratch-*")
    assert result.status == ExitStatus.OK
    assert (
        result.stdout.splitlines()[-1]
        == "Summary: all 3 tables protected, 2 excluded; nothing was changed."
    )


def test_check_json_marks_unprotected_tables_and_is_one_document(
    sentinel: list[str], table: TableFactory
) -> None:
    table("sentinel-done", deletion_protection=True, pitr=True)
    result = cli("--check", "--json")
    assert result.status == ExitStatus.FAILED
    document = result.json()
    assert document["check"] is True
    results = {t["table_name"]: t["result"] for t in document["tables"]}
    assert results == {
        "sentinel-breakglass": "unprotected",
        "sentinel-done": "already_protected",
        "sentinel-requests": "unprotected",
        "sentinel-sessions": "unprotected",
    }
    assert (document["succeeded"], document["pending"], document["failed"]) == (1, 3, 0)


# -- --min-recovery-days ----------------------------------------------------------------------


def test_a_short_recovery_period_is_raised_and_a_longer_one_left_alone(
    table: TableFactory, mocked_aws: Any
) -> None:
    table("sentinel-short", deletion_protection=True, pitr=True, recovery_days=7)
    table("sentinel-long", deletion_protection=True, pitr=True, recovery_days=30)
    table("sentinel-off", deletion_protection=True)
    dry = cli("--min-recovery-days", "14", "--dry-run")
    rows = {line.split()[0]: line.split(maxsplit=2)[2] for line in dry.stdout.splitlines()[7:10]}
    assert rows == {
        "sentinel-long": "Enabled (30 days)",
        "sentinel-off": "Disabled",
        "sentinel-short": "Enabled (7 days)",
    }
    assert "- sentinel-short: Raise PITR recovery period from 7 to 14 days" in dry.stdout
    assert "- sentinel-off: Enable PITR" in dry.stdout
    assert "sentinel-long:" not in dry.stdout.split("Changes to apply:")[1]

    result = cli("--min-recovery-days", "14", "--force", "--json")
    assert result.status == ExitStatus.OK
    assert recovery_days(mocked_aws, "sentinel-short") == 14
    assert recovery_days(mocked_aws, "sentinel-long") == 30
    assert recovery_days(mocked_aws, "sentinel-off") == 35
    entries = {t["table_name"]: t for t in result.json()["tables"]}
    short = entries["sentinel-short"]
    assert (short["result"], short["pitr_changed"]) == ("hardened", True)
    assert short["after"]["pitr_recovery_period_days"] == 14
    assert entries["sentinel-long"]["result"] == "already_protected"


def test_a_raised_period_is_reported_as_raised(table: TableFactory) -> None:
    table("sentinel-short", deletion_protection=True, pitr=True, recovery_days=7)
    result = cli("--min-recovery-days", "21", "--force")
    assert (
        "✓ sentinel-short: PITR recovery period raised to 21 days "
        "(deletion protection already enabled)" in result.stdout
    )


def test_check_counts_a_short_period_as_unprotected(table: TableFactory) -> None:
    table("sentinel-short", deletion_protection=True, pitr=True, recovery_days=7)
    assert cli("--check").status == ExitStatus.OK
    result = cli("--check", "--min-recovery-days", "8")
    assert result.status == ExitStatus.FAILED
    assert "- sentinel-short: PITR keeps 7 days, fewer than 8" in result.stdout
