"""Accounts and regions: real STS AssumeRole and Organizations on moto_server, tables created in
each account with its assumed credentials, state read back from the server after every run."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from remediation.cli import ExitStatus
from remediation.fleet import SESSION_NAME
from tests.cli_process import UNPACED, run_cli
from tests.conftest import create_table, protection
from tests.fault_proxy import FaultProxy
from tests.servers import MotoServer, assumed_client, aws_env, organization_members

CALLER = "123456789012"  # moto's default account: the caller's own
A, B = "111111111111", "222222222222"
ROLE = "SentinelHarden"
EXTERNAL_ID = "sentinel-fleet-test"


def role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/{ROLE}"


def client_in(url: str, account: str, region: str) -> Any:
    """A DynamoDB client acting in `account` (through a real AssumeRole) and `region`."""
    if account == CALLER:
        keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        return boto3.client("dynamodb", endpoint_url=url, region_name=region, **keys)
    return assumed_client(url, role(account), region)


@pytest.fixture
def fleet(server: MotoServer) -> dict[tuple[str, str], Any]:
    """sentinel-requests (unprotected) and sentinel-sessions (deletion protection only) in two
    accounts and the caller's, in two regions; plus one table outside the prefix in each."""
    clients = {}
    for account in (CALLER, A, B):
        for region in ("us-east-1", "eu-west-1"):
            client = client_in(server.url, account, region)
            create_table(client, "sentinel-requests")
            create_table(client, "sentinel-sessions", deletion_protection=True)
            create_table(client, "billing-ledger")
            clients[(account, region)] = client
    return clients


REGIONS = ["--region", "us-east-1", "--region", "eu-west-1"]
ROLES = ["--role-arn", role(A), "--role-arn", role(B), "--external-id", EXTERNAL_ID]


def test_every_account_and_region_of_the_roles_is_hardened_and_the_caller_is_not(
    fleet: dict[tuple[str, str], Any], fault_proxy: FaultProxy
) -> None:
    result = run_cli(
        ["harden", "--force", "--json", *ROLES, *REGIONS, *UNPACED], aws_env(fault_proxy.url)
    )
    assert result.returncode == 0, result.stderr
    document = result.json()
    assert (document["total"], document["succeeded"], document["failed"]) == (8, 8, 0)
    assert [(t["account"], t["region"], t["table_name"]) for t in document["tables"]] == [
        (account, region, name)
        for account in (A, B)
        for region in ("eu-west-1", "us-east-1")
        for name in ("sentinel-requests", "sentinel-sessions")
    ]
    assert document["targets"] == [
        {"account": account, "region": region, "status": "ok", "error": None}
        for account in (A, B)
        for region in ("eu-west-1", "us-east-1")
    ]
    for (account, region), client in fleet.items():
        expected = (True, True) if account != CALLER else (False, False)
        assert protection(client, "sentinel-requests") == expected, (account, region)
        assert protection(client, "billing-ledger") == (False, False)
        arn = client.describe_table(TableName="sentinel-requests")["Table"]["TableArn"]
        assert f":{region}:{account}:" in arn
    assert fault_proxy.calls("sts:AssumeRole") == 2  # once per account, not per region
    assert fault_proxy.calls("sts:GetCallerIdentity") == 0


def test_every_assumption_carries_the_external_id_and_a_recognisable_session_name(
    fleet: dict[tuple[str, str], Any], fault_proxy: FaultProxy
) -> None:
    seen: list[dict[str, Any]] = []
    fault_proxy.on_call("sts:AssumeRole", lambda call: seen.append(call.body), times=None)
    result = run_cli(["harden", "--dry-run", *ROLES, *REGIONS], aws_env(fault_proxy.url))
    assert result.returncode == 0, result.stderr
    assert sorted(body["RoleArn"] for body in seen) == [role(A), role(B)]
    for body in seen:
        assert body["RoleSessionName"] == SESSION_NAME
        assert body["ExternalId"] == EXTERNAL_ID


def test_the_organization_is_listed_and_each_member_assumed_the_caller_only_when_asked(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    members = organization_members(server.url, 3)
    clients = {}
    for account in (CALLER, *members):
        clients[account] = client_in(server.url, account, "us-east-1")
        create_table(clients[account], "sentinel-requests")
    org = ["--organization", "--role-name", ROLE, "--region", "us-east-1", *UNPACED]

    result = run_cli(["harden", "--force", "--json", *org], aws_env(fault_proxy.url))
    assert result.returncode == 0, result.stderr
    assert sorted(t["account"] for t in result.json()["targets"]) == sorted(members)
    assert fault_proxy.calls("organizations:ListAccounts") == 1
    assert fault_proxy.calls("sts:AssumeRole") == len(members)  # never into the caller's own
    assert protection(clients[CALLER], "sentinel-requests") == (False, False)
    for account in members:
        assert protection(clients[account], "sentinel-requests") == (True, True)

    result = run_cli(
        ["harden", "--force", "--json", "--include-caller-account", *org],
        aws_env(fault_proxy.url),
    )
    assert result.returncode == 0, result.stderr
    assert sorted(t["account"] for t in result.json()["targets"]) == sorted([CALLER, *members])
    assert protection(clients[CALLER], "sentinel-requests") == (True, True)


def test_an_account_whose_role_is_denied_fails_and_every_other_account_is_done(
    fleet: dict[tuple[str, str], Any], fault_proxy: FaultProxy
) -> None:
    fault_proxy.fail("sts:AssumeRole", "AccessDenied", tables=[role(B)], times=None)
    result = run_cli(["harden", "--force", *ROLES, *REGIONS, *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.FAILED, result.stderr
    lines = result.stdout.strip().splitlines()
    assert (
        lines[-1] == "Summary: all 4 tables protected (4 hardened now), 2 account-regions failed."
    )
    denied = [line for line in lines if line.startswith(f"✗ {B} ")]
    assert [line.split(":")[0] for line in denied] == [f"✗ {B} eu-west-1", f"✗ {B} us-east-1"]
    assert all("AccessDenied on sts:AssumeRole" in line for line in denied)
    for region in ("us-east-1", "eu-west-1"):
        assert protection(fleet[(A, region)], "sentinel-requests") == (True, True)
        assert protection(fleet[(B, region)], "sentinel-requests") == (False, False)


def test_the_json_names_the_failed_account_regions(
    fleet: dict[tuple[str, str], Any], fault_proxy: FaultProxy
) -> None:
    fault_proxy.fail("sts:AssumeRole", "AccessDenied", tables=[role(B)], times=None)
    result = run_cli(["harden", "--dry-run", "--json", *ROLES, *REGIONS], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.FAILED
    failed = [t for t in result.json()["targets"] if t["status"] != "ok"]
    assert [(t["account"], t["region"], t["status"]) for t in failed] == [
        (B, "eu-west-1", "failed"),
        (B, "us-east-1", "failed"),
    ]
    assert all("AccessDenied" in t["error"] for t in failed)


def test_a_region_not_enabled_is_skipped_under_all_regions_but_fails_when_named(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    client = client_in(server.url, CALLER, "us-east-1")
    create_table(client, "sentinel-requests")
    fault_proxy.fail("ListTables", "UnrecognizedClientException", regions=["ap-east-1"], times=None)
    result = run_cli(
        ["harden", "--force", "--json", "--all-regions", *UNPACED], aws_env(fault_proxy.url)
    )
    assert result.returncode == 0, result.stderr
    targets = {t["region"]: t for t in result.json()["targets"]}
    assert len(targets) > 20 and targets["us-east-1"]["status"] == "ok"
    assert targets["ap-east-1"]["status"] == "skipped"
    assert "not enabled" in targets["ap-east-1"]["error"]
    assert {t["account"] for t in targets.values()} == {CALLER}
    assert protection(client, "sentinel-requests") == (True, True)

    named = ["--region", "ap-east-1", "--region", "us-east-1"]
    result = run_cli(["harden", "--force", *named, *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.FAILED
    assert f"✗ {CALLER} ap-east-1: failed: region not enabled" in result.stdout


def replicate(proxy: FaultProxy, clients: dict[str, Any], name: str) -> None:
    """Make `name` a global table across the clients' regions, as DescribeTable shows it."""
    for region, client in clients.items():
        arn = client.describe_table(TableName=name)["Table"]["TableArn"]
        proxy.show_replicas(arn, [r for r in clients if r != region])


def test_every_replica_is_read_once_and_hardened_in_its_own_region(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    regions = ("us-east-1", "eu-west-1", "ap-southeast-2")
    clients = {r: client_in(server.url, CALLER, r) for r in regions}
    for client in clients.values():
        create_table(client, "sentinel-global")
    create_table(clients["us-east-1"], "sentinel-local")
    replicate(fault_proxy, clients, "sentinel-global")

    result = run_cli(
        ["harden", "--force", "--json", "--region", "us-east-1", *UNPACED],
        aws_env(fault_proxy.url),
    )
    assert result.returncode == 0, result.stderr
    rows = {(t["region"], t["table_name"]): t for t in result.json()["tables"]}
    origin = clients["us-east-1"].describe_table(TableName="sentinel-global")["Table"]["TableArn"]
    assert sorted(rows) == sorted(
        [*((r, "sentinel-global") for r in regions), ("us-east-1", "sentinel-local")]
    )
    assert rows[("eu-west-1", "sentinel-global")]["replica_of"] == origin
    assert rows[("ap-southeast-2", "sentinel-global")]["replica_of"] == origin
    assert rows[("us-east-1", "sentinel-global")]["replica_of"] is None
    assert rows[("us-east-1", "sentinel-global")]["replica_regions"] == [
        "ap-southeast-2",
        "eu-west-1",
    ]
    for client in clients.values():
        assert protection(client, "sentinel-global") == (True, True)
    # One read per regional table (a write's answer is its read-back): never one table twice.
    assert fault_proxy.calls("DescribeContinuousBackups", "sentinel-global") == 3
    assert fault_proxy.calls("UpdateContinuousBackups", "sentinel-global") == 3


@pytest.mark.parametrize(
    ("selected", "origin"),
    [(["us-east-1"], "us-east-1"), (["us-east-1", "eu-west-1"], "eu-west-1")],
)
def test_a_replica_is_never_read_twice_whichever_regions_are_selected(
    server: MotoServer, fault_proxy: FaultProxy, selected: list[str], origin: str
) -> None:
    regions = ("us-east-1", "eu-west-1", "ap-southeast-2")
    clients = {r: client_in(server.url, CALLER, r) for r in regions}
    for client in clients.values():
        create_table(client, "sentinel-global")
    replicate(fault_proxy, clients, "sentinel-global")
    flags = [f for r in selected for f in ("--region", r)]
    result = run_cli(["harden", "--dry-run", *flags, *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == 0, result.stderr
    assert fault_proxy.calls("DescribeTable", "sentinel-global") == 3
    assert fault_proxy.calls("DescribeContinuousBackups", "sentinel-global") == 3
    # Reached from several selected regions, a replica names the first of them, every run.
    assert "ap-southeast-2    sentinel-global (replica of " + origin + ")" in result.stdout


def test_several_regions_of_one_account_show_a_region_column_and_name_the_account_once(
    fleet: dict[tuple[str, str], Any], fault_proxy: FaultProxy
) -> None:
    result = run_cli(["harden", "--dry-run", *REGIONS], aws_env(fault_proxy.url))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"Tables to harden (4 found in account {CALLER}, 2 regions):" in lines
    header = next(line for line in lines if "Deletion Protection" in line)
    assert header.split() == ["Region", "Table", "Deletion", "Protection", "PITR"]
    assert "- eu-west-1 sentinel-requests: Enable deletion protection, Enable PITR" in lines
    assert protection(fleet[(CALLER, "us-east-1")], "sentinel-requests") == (False, False)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--role-arn", "arn:aws:iam::12345:role/x"], "not an IAM role ARN"),
        (["--role-arn", "arn:aws:iam::111111111111:user/x"], "not an IAM role ARN"),
        (["--role-name", ROLE], "--role-name needs --organization"),
        (["--organization"], "--organization needs --role-name"),
        (["--all-regions", "--region", "us-east-1"], "exclude each other"),
        (["--region", "mars-1"], "not an AWS region"),
        (["--external-id", "abc"], "--external-id needs"),
        (
            [
                "--region",
                "us-east-1",
                "--table",
                "arn:aws:dynamodb:ap-south-1:123456789012:table/sentinel-a",
            ],
            "pass --region ap-south-1",
        ),
    ],
)
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_bad_fleet_input_is_one_line_exit_3_and_nothing_is_called(
    server: MotoServer, fault_proxy: FaultProxy, args: list[str], words: str, as_json: bool
) -> None:
    extra = ["--json"] if as_json else []
    result = run_cli(["harden", "--force", *args, *extra], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.USAGE
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]
    assert fault_proxy.records == []
    if as_json:
        assert result.json()["error"]


def test_a_column_whose_rows_all_agree_is_dropped_and_its_value_said_once(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    client = client_in(server.url, CALLER, "us-east-1")
    create_table(client, "sentinel-requests")
    result = run_cli(["harden", "--dry-run", *REGIONS], aws_env(fault_proxy.url))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    heading = (
        f"Tables to harden (1 found in account {CALLER}, region us-east-1; 2 regions looked in):"
    )
    assert heading in lines
    header = next(line for line in lines if "Deletion Protection" in line)
    assert header.split()[0] == "Table"
    assert "- sentinel-requests: Enable deletion protection, Enable PITR" in lines


def test_a_table_named_in_a_fleet_is_found_where_it_is_and_failed_where_it_is_nowhere(
    fleet: dict[tuple[str, str], Any], fault_proxy: FaultProxy
) -> None:
    fleet[(A, "eu-west-1")].delete_table(TableName="sentinel-requests")
    named = ["--table", "sentinel-requests", "--table", "sentinel-nowhere"]
    result = run_cli(
        ["harden", "--force", "--json", *named, *ROLES, *REGIONS, *UNPACED],
        aws_env(fault_proxy.url),
    )
    assert result.returncode == ExitStatus.FAILED
    tables = {(t["account"], t["region"], t["table_name"]): t for t in result.json()["tables"]}
    found = {key for key, t in tables.items() if t["result"] == "hardened"}
    assert found == {
        (A, "us-east-1", "sentinel-requests"),
        (B, "us-east-1", "sentinel-requests"),
        (B, "eu-west-1", "sentinel-requests"),
    }
    [missing] = [t for t in tables.values() if t["table_name"] == "sentinel-nowhere"]
    assert missing["error"]["code"] == "TableNotFound"
    assert protection(fleet[(B, "eu-west-1")], "sentinel-requests") == (True, True)
    assert protection(fleet[(B, "eu-west-1")], "sentinel-sessions") == (True, False)
    assert fault_proxy.calls("DescribeTable", "sentinel-nowhere") == 0


def test_a_one_account_one_region_run_names_its_account_from_the_tables_without_sts(
    fleet: dict[tuple[str, str], Any], fault_proxy: FaultProxy
) -> None:
    result = run_cli(["harden", "--dry-run", "--json"], aws_env(fault_proxy.url))
    assert result.returncode == 0, result.stderr
    document = result.json()
    assert document["targets"] == [
        {"account": CALLER, "region": "us-east-1", "status": "ok", "error": None}
    ]
    assert {(t["account"], t["region"]) for t in document["tables"]} == {(CALLER, "us-east-1")}
    assert not any(op.startswith("sts:") for op in fault_proxy.operations())
