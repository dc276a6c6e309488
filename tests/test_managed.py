"""Tables Pulumi manages (--pulumi-state): read and shown, left to Pulumi, written only when asked.

Every test reads the tables' state back from the server after the run.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from remediation.cli import ExitStatus, main
from tests.cli_process import UNPACED, run_cli
from tests.conftest import TableFactory, protection
from tests.fault_proxy import FaultProxy
from tests.pulumi_states import (
    ACCOUNT,
    PROJECT,
    checkpoint,
    sentinel_export,
    urn,
    write_gzip,
    write_json,
)
from tests.pulumi_states import table as table_resource
from tests.servers import aws_env

REQUESTS_URN = urn("aws:dynamodb/table:Table", "requests")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Result:
    def __init__(self, status: ExitStatus, stdout: str, stderr: str) -> None:
        self.status, self.stdout, self.stderr = status, stdout, stderr

    def json(self) -> Any:
        return json.loads(self.stdout)

    def entries(self) -> dict[str, dict[str, Any]]:
        return {t["table_name"]: t for t in self.json()["tables"]}


def cli(*args: str, stdin: io.StringIO | None = None) -> Result:
    out, err = io.StringIO(), io.StringIO()
    status = main(["harden", *UNPACED, *args], stdin or io.StringIO(""), out, err)
    return Result(status, out.getvalue(), err.getvalue())


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """The Sentinel stack's export: it manages sentinel-requests, -breakglass, -sessions (and a
    replica in eu-west-1, and sentinel-audit), in us-east-1 of the moto account."""
    return write_json(tmp_path / "dev.json", sentinel_export())


@pytest.fixture
def mixed(table: TableFactory) -> None:
    """Two tables the stack manages (one unprotected, one protected) and one it does not."""
    table("sentinel-requests")
    table("sentinel-sessions", deletion_protection=True, pitr=True)
    table("sentinel-handmade")


def test_a_managed_table_is_shown_but_never_written_and_the_rest_is_hardened(
    mixed: None, mocked_aws: Any, export: Path
) -> None:
    result = cli("--pulumi-state", str(export), "--force")
    assert result.status == ExitStatus.OK, result.stderr
    assert protection(mocked_aws, "sentinel-requests") == (False, False)
    assert protection(mocked_aws, "sentinel-handmade") == (True, True)
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("  Table"))
    assert header.split()[-1] == "Pulumi"
    rows = {line.split()[0]: line for line in lines if line.startswith("  sentinel-")}
    assert rows["sentinel-requests"].endswith("managed (stack dev)")
    assert rows["sentinel-sessions"].endswith("managed (stack dev)")
    assert "managed" not in rows["sentinel-handmade"]
    assert "- sentinel-handmade: Enable deletion protection, Enable PITR" in lines
    assert "Managed by Pulumi, left to it (1):" in lines
    assert (
        "- sentinel-requests: deletion protection off, PITR off "
        f"(stack dev, {REQUESTS_URN})" in lines
    )
    assert "`pulumi up --policy-pack policy_pack`" in result.stdout
    assert "--include-managed hardens them here anyway." in result.stdout
    assert "reverted by the next `pulumi up --refresh`" in result.stdout
    assert "- sentinel-requests: left to Pulumi (stack dev), not changed" in lines
    assert (
        lines[-1]
        == "Summary: 2 of 3 tables protected (1 hardened now, 1 already), 1 left to Pulumi."
    )


def test_the_json_says_managed_and_by_which_stack_and_resource(
    mixed: None, mocked_aws: Any, export: Path
) -> None:
    result = cli("--pulumi-state", str(export), "--force", "--json")
    assert result.status == ExitStatus.OK
    document = result.json()
    assert (document["total"], document["managed"], document["pending"]) == (3, 2, 1)
    entries = result.entries()
    requests = entries["sentinel-requests"]
    assert requests["result"] == "managed"
    assert requests["managed_by"] == {"stack": "dev", "urn": REQUESTS_URN}
    assert requests["planned"] == [] and requests["deletion_protection_changed"] is False
    assert requests["before"]["deletion_protection"] is False
    assert entries["sentinel-sessions"]["result"] == "managed"
    assert entries["sentinel-handmade"]["result"] == "hardened"
    assert "managed_by" not in entries["sentinel-handmade"]
    assert protection(mocked_aws, "sentinel-requests") == (False, False)


def test_include_managed_hardens_them_too_and_still_says_who_manages_them(
    mixed: None, mocked_aws: Any, export: Path
) -> None:
    result = cli("--pulumi-state", str(export), "--include-managed", "--force")
    assert result.status == ExitStatus.OK, result.stderr
    assert protection(mocked_aws, "sentinel-requests") == (True, True)
    assert protection(mocked_aws, "sentinel-handmade") == (True, True)
    assert (
        "- sentinel-requests: Enable deletion protection, Enable PITR "
        "(managed by Pulumi stack dev: set it in the code too)" in result.stdout.splitlines()
    )
    assert "left to Pulumi" not in result.stdout
    document = cli("--pulumi-state", str(export), "--include-managed", "--json").json()
    requests = {t["table_name"]: t for t in document["tables"]}["sentinel-requests"]
    assert requests["result"] == "already_protected"
    assert requests["managed_by"] == {"stack": "dev", "urn": REQUESTS_URN}


def test_the_prompt_counts_only_the_tables_it_would_write(
    mixed: None, mocked_aws: Any, export: Path
) -> None:
    result = cli("--pulumi-state", str(export), stdin=Terminal("y\n"))
    assert "Harden 1 table in account 123456789012, region us-east-1? [y/N] " in result.stderr
    assert protection(mocked_aws, "sentinel-requests") == (False, False)


def test_when_only_managed_tables_lack_protection_nothing_is_asked_or_written(
    table: TableFactory, mocked_aws: Any, export: Path
) -> None:
    table("sentinel-requests")
    table("sentinel-breakglass", deletion_protection=True, pitr=True)
    result = cli("--pulumi-state", str(export), stdin=Terminal(""))
    assert result.status == ExitStatus.OK
    assert "[y/N]" not in result.stdout + result.stderr
    assert "No changes to apply outside Pulumi." in result.stdout
    assert "No changes needed" not in result.stdout  # not every table is protected
    assert result.stdout.splitlines()[-1] == (
        "Summary: 1 of 2 tables already protected, 1 left to Pulumi; nothing was changed."
    )
    assert protection(mocked_aws, "sentinel-requests") == (False, False)


def test_a_dry_run_lists_managed_tables_as_managed(
    mixed: None, mocked_aws: Any, export: Path
) -> None:
    result = cli("--pulumi-state", str(export), "--dry-run", "--json")
    assert result.status == ExitStatus.OK
    entries = result.entries()
    assert entries["sentinel-requests"]["result"] == "managed"
    assert entries["sentinel-handmade"]["result"] == "pending"
    assert protection(mocked_aws, "sentinel-handmade") == (False, False)


@pytest.mark.parametrize("include", [False, True], ids=["default", "include-managed"])
def test_check_counts_managed_tables_as_they_are(
    mixed: None, mocked_aws: Any, export: Path, include: bool
) -> None:
    flags = ["--include-managed"] if include else []
    result = cli("--pulumi-state", str(export), "--check", *flags)
    assert result.status == ExitStatus.FAILED
    assert (
        "- sentinel-requests: deletion protection off, PITR off (managed by Pulumi stack dev)"
        in result.stdout.splitlines()
    )
    assert "For those Pulumi manages: fix them in the code" in result.stdout
    assert protection(mocked_aws, "sentinel-requests") == (False, False)
    assert protection(mocked_aws, "sentinel-handmade") == (False, False)


def test_check_passes_when_the_managed_tables_are_protected(
    table: TableFactory, mocked_aws: Any, export: Path
) -> None:
    table("sentinel-sessions", deletion_protection=True, pitr=True)
    table("sentinel-handmade", deletion_protection=True, pitr=True)
    result = cli("--pulumi-state", str(export), "--check", "--json")
    assert result.status == ExitStatus.OK
    assert result.entries()["sentinel-sessions"]["result"] == "managed"


@pytest.mark.parametrize(
    ("where", "account"),
    [("eu-west-1", ACCOUNT), ("us-east-1", "999999999999")],
    ids=["another region", "another account"],
)
def test_a_table_of_the_same_name_elsewhere_is_not_managed_here(
    table: TableFactory, mocked_aws: Any, tmp_path: Path, where: str, account: str
) -> None:
    table("sentinel-requests")
    export = sentinel_export()
    export["deployment"]["resources"] = [
        table_resource("requests", "sentinel-requests", region=where, account=account)
    ]
    result = cli("--pulumi-state", str(write_json(tmp_path / "s.json", export)), "--force")
    assert result.status == ExitStatus.OK
    assert "managed" not in result.stdout
    assert protection(mocked_aws, "sentinel-requests") == (True, True)


def test_several_states_and_backend_folders_are_read_together(
    table: TableFactory, mocked_aws: Any, tmp_path: Path
) -> None:
    table("sentinel-requests")
    table("sentinel-payments")
    table("sentinel-handmade")
    payments = sentinel_export("prod")
    payments["deployment"]["resources"] = [
        table_resource("payments", "sentinel-payments", stack="prod")
    ]
    backend = tmp_path / "backend"
    write_gzip(backend / ".pulumi/stacks" / PROJECT / "prod.json.gz", checkpoint(payments, "prod"))
    export = write_json(tmp_path / "dev.json", sentinel_export())
    result = cli("--pulumi-state", str(export), "--pulumi-state", str(backend), "--force", "--json")
    entries = result.entries()
    assert entries["sentinel-payments"]["managed_by"]["stack"] == "prod"
    assert entries["sentinel-requests"]["managed_by"]["stack"] == "dev"
    assert entries["sentinel-handmade"]["result"] == "hardened"
    assert protection(mocked_aws, "sentinel-payments") == (False, False)
    assert protection(mocked_aws, "sentinel-requests") == (False, False)


def test_a_managed_table_is_never_named_in_a_write_call(
    server_table: TableFactory, server_client: Any, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    """The CLI as a subprocess on a real moto_server behind the counting proxy, with the state
    in a file:// backend folder as `pulumi login file://...` leaves it."""
    server_table("sentinel-requests")
    server_table("sentinel-breakglass", deletion_protection=True)
    server_table("sentinel-handmade")
    backend = tmp_path / "state"
    write_gzip(backend / ".pulumi/stacks" / PROJECT / "dev.json.gz", checkpoint(sentinel_export()))
    args = ["harden", "--pulumi-state", str(backend), "--force", "--json", *UNPACED]
    result = run_cli(args, aws_env(fault_proxy.url))
    assert result.returncode == 0, result.stderr
    for managed in ("sentinel-requests", "sentinel-breakglass"):
        assert fault_proxy.calls("UpdateTable", managed) == 0
        assert fault_proxy.calls("UpdateContinuousBackups", managed) == 0
        assert fault_proxy.calls("DescribeTable", managed) == 1  # read, so its status is shown
    assert protection(server_client, "sentinel-requests") == (False, False)
    assert protection(server_client, "sentinel-breakglass") == (True, False)
    assert protection(server_client, "sentinel-handmade") == (True, True)
    assert result.json()["managed"] == 2
