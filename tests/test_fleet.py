"""Accounts and regions: real STS AssumeRole and Organizations on moto_server, tables created in
each account with its assumed credentials, state read back from the server after every run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from remediation import aws
from remediation.cli import ExitStatus
from remediation.fleet import SESSION_NAME
from tests.cli_process import ROOT, UNPACED, run_cli
from tests.conftest import create_table, protection
from tests.fault_proxy import ErrorShape, FaultProxy
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
    targets = {t["account"]: t for t in result.json()["targets"]}
    assert {a: t["status"] for a, t in targets.items()} == {
        CALLER: "skipped",  # left out, and said so
        **dict.fromkeys(members, "ok"),
    }
    assert "--include-caller-account" in targets[CALLER]["error"]
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
    # one line for the account: the same failure in each of its regions is said once
    assert [line.split(":")[0] for line in denied] == [f"✗ {B} 2 regions (eu-west-1, us-east-1)"]
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


def test_under_all_regions_the_account_says_which_regions_are_enabled_and_one_refusing_fails(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    client = client_in(server.url, CALLER, "us-east-1")
    create_table(client, "sentinel-requests")
    # ec2:DescribeRegions (moto, like AWS) answers ap-east-1 not-opted-in: skipped, never called.
    never = fault_proxy.fail("ListTables", "AccessDeniedException", regions=["ap-east-1"])
    # eu-west-1 is enabled, so credentials refused there are a failure, not "not enabled".
    fault_proxy.fail("ListTables", "UnrecognizedClientException", regions=["eu-west-1"], times=None)
    result = run_cli(
        ["harden", "--force", "--json", "--all-regions", *UNPACED], aws_env(fault_proxy.url)
    )
    assert result.returncode == ExitStatus.FAILED, result.stderr
    targets = {t["region"]: t for t in result.json()["targets"]}
    assert len(targets) > 20 and targets["us-east-1"]["status"] == "ok"
    assert targets["ap-east-1"]["status"] == "skipped"
    assert "not enabled" in targets["ap-east-1"]["error"]
    assert never.fired == 0
    assert targets["eu-west-1"]["status"] == "failed"
    assert "UnrecognizedClientException" in targets["eu-west-1"]["error"]
    assert {t["account"] for t in targets.values()} == {CALLER}
    assert fault_proxy.calls("ec2:DescribeRegions") == 1
    assert protection(client, "sentinel-requests") == (True, True)

    named = ["--region", "ap-east-1", "--region", "us-east-1"]
    fault_proxy.clear_faults()
    fault_proxy.fail("ListTables", "UnrecognizedClientException", regions=["ap-east-1"], times=None)
    result = run_cli(["harden", "--force", *named, *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.FAILED
    assert f"✗ {CALLER} ap-east-1: failed: credentials refused" in result.stdout


def test_a_region_enabled_but_unknown_to_botocore_is_listed_never_passed_over(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    create_table(client_in(server.url, CALLER, "us-east-1"), "sentinel-requests")
    future = (
        "<item><regionName>eu-future-1</regionName>"
        "<regionEndpoint>ec2.eu-future-1.amazonaws.com</regionEndpoint>"
        "<optInStatus>opt-in-not-required</optInStatus></item>"
    )

    def add_region(answer: dict[str, Any]) -> None:
        answer["xml"] = answer["xml"].replace("</regionInfo>", future + "</regionInfo>", 1)

    fault_proxy.rewrite_answer("ec2:DescribeRegions", add_region, times=None)
    result = run_cli(
        ["harden", "--check", "--json", "--all-regions", *UNPACED], aws_env(fault_proxy.url)
    )
    targets = {t["region"]: t for t in result.json()["targets"]}
    assert targets["eu-future-1"]["status"] == "skipped"
    assert "botocore lists no DynamoDB there" in targets["eu-future-1"]["error"]
    assert targets["us-east-1"]["status"] == "ok"
    assert result.returncode == ExitStatus.FAILED  # sentinel-requests is unprotected
    text = run_cli(["harden", "--check", "--all-regions", *UNPACED], aws_env(fault_proxy.url))
    assert "eu-future-1: skipped: region enabled" in text.stdout, text.stdout
    # moto, unlike AWS, lists other partitions' regions (cn-, us-gov-): never in an aws run
    assert not any(r.startswith(("cn-", "us-gov-")) for r in targets)


SCP_DENIED = ErrorShape(
    "AccessDeniedException",
    "com.amazon.coral.service",
    f"User: arn:aws:sts::{CALLER}:assumed-role/SentinelHarden/sentinel-harden is not "
    "authorized to perform: dynamodb:{operation} on resource: {arn} with an explicit deny in "
    "a service control policy",
    message_key="Message",
)


@pytest.mark.parametrize(("flags", "status"), [([], 0), (["--fail-on-scp-deny"], 1)])
def test_a_region_a_service_control_policy_denies_is_denied_and_fails_only_when_asked(
    server: MotoServer, fault_proxy: FaultProxy, flags: list[str], status: int
) -> None:
    clients = {r: client_in(server.url, CALLER, r) for r in ("us-east-1", "eu-west-1")}
    for client in clients.values():
        create_table(client, "sentinel-requests")
    fault_proxy.fail("ListTables", SCP_DENIED, regions=["eu-west-1"], times=None)
    result = run_cli(
        ["harden", "--force", "--json", *REGIONS, *flags, *UNPACED], aws_env(fault_proxy.url)
    )
    assert result.returncode == status, result.stderr
    targets = {t["region"]: t for t in result.json()["targets"]}
    assert targets["eu-west-1"]["status"] == "denied"
    assert "denied by a service control policy" in targets["eu-west-1"]["error"]
    assert protection(clients["us-east-1"], "sentinel-requests") == (True, True)
    assert protection(clients["eu-west-1"], "sentinel-requests") == (False, False)


def test_a_run_in_which_every_region_is_denied_checked_nothing_and_is_never_a_pass(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    fault_proxy.fail("ListTables", SCP_DENIED, times=None)
    result = run_cli(["harden", "--check", "--json", *REGIONS], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.FAILED, result.stderr
    assert {t["status"] for t in result.json()["targets"]} == {"denied"}


def test_listtables_failing_after_its_first_page_fails_that_target_and_hardens_what_was_listed(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    clients = {r: client_in(server.url, CALLER, r) for r in ("us-east-1", "eu-west-1")}
    for client in clients.values():
        create_table(client, "sentinel-a")
        create_table(client, "sentinel-b")
    create_table(clients["eu-west-1"], "sentinel-eu")

    def more_pages_then_refused(page: dict[str, Any]) -> None:
        """eu-west-1's first page says more follow; the next is refused, as a permission or
        a token withdrawn mid-run would be."""
        if "sentinel-eu" in page["TableNames"]:
            page["LastEvaluatedTableName"] = page["TableNames"][-1]
            fault_proxy.fail(
                "ListTables", "AccessDeniedException", regions=["eu-west-1"], times=None
            )

    fault_proxy.rewrite_answer("ListTables", more_pages_then_refused, times=None)
    result = run_cli(
        ["harden", "--force", "--json", "--region", "eu-west-1", "--region", "us-east-1", *UNPACED],
        aws_env(fault_proxy.url),
    )
    assert result.returncode == ExitStatus.FAILED, result.stderr
    document = result.json()
    targets = {t["region"]: t for t in document["targets"]}
    assert targets["us-east-1"]["status"] == "ok"
    assert targets["eu-west-1"]["status"] == "failed"
    assert "ListTables failed after 3 table names" in targets["eu-west-1"]["error"]
    assert "unchecked" in targets["eu-west-1"]["error"]
    assert {(t["region"], t["result"]) for t in document["tables"]} == {
        ("eu-west-1", "hardened"),
        ("us-east-1", "hardened"),
    }
    for client in clients.values():
        assert protection(client, "sentinel-a") == (True, True)
        assert protection(client, "sentinel-b") == (True, True)


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
        (["--role-arn", role(A), "--exclude-account", "1234"], "12-digit account id"),
        (["--role-arn", role(A), "--exclude-account", A], "both named by --role-arn and excluded"),
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


# -- Organizations as AWS answers today: State, and Status retired -------------------------------

ORG = ["--organization", "--role-name", ROLE, "--region", "us-east-1", *UNPACED]


def answer_states(states: dict[str, str], keep_status: bool = False) -> Any:
    """Rewrite ListAccounts as AWS answers since Status was retired: State only (or, with
    `keep_status`, Status only, as before State existed)."""

    def edit(page: dict[str, Any]) -> None:
        for account in page["Accounts"]:
            state = states.get(account["Id"], "ACTIVE")
            account.pop("Status", None)
            account.pop("State", None)
            account["Status" if keep_status else "State"] = state

    return edit


def test_accounts_are_chosen_by_state_and_those_not_active_are_listed_as_skipped(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    members = organization_members(server.url, 4)
    clients = {account: client_in(server.url, account, "us-east-1") for account in members}
    for client in clients.values():
        create_table(client, "sentinel-requests")
    suspended, closing = members[2], members[3]
    states = {suspended: "SUSPENDED", closing: "PENDING_CLOSURE"}
    fault_proxy.rewrite_answer("organizations:ListAccounts", answer_states(states), times=None)
    result = run_cli(["harden", "--force", "--json", *ORG], aws_env(fault_proxy.url))
    assert result.returncode == 0, result.stderr
    targets = {t["account"]: t for t in result.json()["targets"]}
    assert targets[members[0]]["status"] == targets[members[1]]["status"] == "ok"
    assert targets[suspended] == {
        "account": suspended,
        "region": "*",
        "status": "skipped",
        "error": "account state SUSPENDED",
    }
    assert targets[closing]["error"] == "account state PENDING_CLOSURE"
    assert fault_proxy.calls("sts:AssumeRole") == 2
    for account in members[:2]:
        assert protection(clients[account], "sentinel-requests") == (True, True)
    for account in (suspended, closing):
        assert protection(clients[account], "sentinel-requests") == (False, False)


def test_status_is_read_only_when_organizations_answers_it_alone(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    members = organization_members(server.url, 2)
    states = {members[1]: "SUSPENDED"}
    edit = answer_states(states, keep_status=True)
    fault_proxy.rewrite_answer("organizations:ListAccounts", edit, times=None)
    args = ["harden", "--dry-run", "--allow-empty", "--json", *ORG]  # no table: not the point
    result = run_cli(args, aws_env(fault_proxy.url))
    assert result.returncode == 0, result.stderr
    statuses = {t["account"]: t["status"] for t in result.json()["targets"]}
    assert statuses == {members[0]: "ok", members[1]: "skipped", CALLER: "skipped"}


@pytest.mark.parametrize("mode", ["--check", "--dry-run", "--force"])
def test_an_organization_with_no_account_to_run_in_is_a_setup_error_never_a_pass(
    server: MotoServer, fault_proxy: FaultProxy, mode: str
) -> None:
    members = organization_members(server.url, 2)
    states = dict.fromkeys(members, "SUSPENDED")
    fault_proxy.rewrite_answer("organizations:ListAccounts", answer_states(states), times=None)
    result = run_cli(["harden", mode, *ORG], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.AWS_SETUP
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: no account to run in")
    assert all(f"{account} (account state SUSPENDED)" in line for account in members)
    assert fault_proxy.calls("sts:AssumeRole") == 0


def test_an_excluded_account_is_never_assumed_into_and_is_listed(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    members = organization_members(server.url, 3)
    clients = {account: client_in(server.url, account, "us-east-1") for account in members}
    for client in clients.values():
        create_table(client, "sentinel-requests")
    left_out = members[0]
    result = run_cli(
        ["harden", "--force", "--json", "--exclude-account", left_out, *ORG],
        aws_env(fault_proxy.url),
    )
    assert result.returncode == 0, result.stderr
    targets = {t["account"]: t for t in result.json()["targets"]}
    assert targets[left_out]["status"] == "skipped"
    assert targets[left_out]["error"] == "excluded by --exclude-account"
    assumed = {r.table for r in fault_proxy.records if r.operation == "sts:AssumeRole"}
    assert assumed == {role(account) for account in members[1:]}
    assert protection(clients[left_out], "sentinel-requests") == (False, False)

    unknown = ["--exclude-account", "999999999999"]
    result = run_cli(["harden", "--dry-run", *unknown, *ORG], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.AWS_SETUP
    assert "999999999999: not an account of the organization" in result.stderr


# -- assumed credentials expire -------------------------------------------------------------------


def test_assumed_credentials_that_expire_mid_run_are_refreshed_and_never_sent_expired(
    fleet: dict[tuple[str, str], Any], fault_proxy: FaultProxy
) -> None:
    life = 2.0
    fault_proxy.expire_assumed_credentials(after=life)
    # The first read of the run outlasts every credential issued so far: a run (or an operator
    # at the prompt) longer than the credentials' life.
    fault_proxy.on_call("DescribeContinuousBackups", lambda call: time.sleep(life + 0.5))
    result = run_cli(
        ["harden", "--force", "--json", *ROLES, *REGIONS, *UNPACED], aws_env(fault_proxy.url)
    )
    assert result.returncode == 0, result.stderr
    assert result.json()["succeeded"] == 8
    assert fault_proxy.faulted() == 0, [r for r in fault_proxy.records if r.faulted]
    assert fault_proxy.calls("sts:AssumeRole") > 2  # assumed again, not once for the run
    for (account, _), client in fleet.items():
        expected = (True, True) if account != CALLER else (False, False)
        assert protection(client, "sentinel-requests") == expected


def test_interrupting_while_roles_are_assumed_starts_no_further_assumption(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    accounts = [f"{100000000000 + i}" for i in range(12)]
    first = threading.Event()

    def slow(call: Any) -> None:
        first.set()
        time.sleep(0.5)

    fault_proxy.on_call("sts:AssumeRole", slow, times=None)
    roles = [f for account in accounts for f in ("--role-arn", role(account))]
    process = subprocess.Popen(
        [sys.executable, "-m", "remediation", "harden", "--dry-run", "--workers", "2", *roles],
        env=aws_env(fault_proxy.url),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.wait(60), "no AssumeRole arrived"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == ExitStatus.INTERRUPTED, stderr
    assert "Traceback" not in stderr
    # Two workers: the assumptions in flight finish, none is started after Ctrl-C.
    assert fault_proxy.calls("sts:AssumeRole") <= 4 < len(accounts)


def test_each_role_is_assumed_when_the_pool_gets_to_its_account_not_all_before_any_table(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    accounts = [f"{300000000000 + i}" for i in range(4)]
    for account in accounts:
        create_table(client_in(server.url, account, "us-east-1"), "sentinel-requests")
    roles = [f for account in accounts for f in ("--role-arn", role(account))]
    flags = ["harden", "--dry-run", "--json", "--workers", "1", "--region", "us-east-1", *roles]
    result = run_cli([*flags, *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == 0, result.stderr
    assert result.json()["total"] == len(accounts)
    # One worker: the proxy sees the calls in the order the run made them. Every role after the
    # first is assumed only once an account reached before it has had its tables called.
    order = [r.operation for r in fault_proxy.records]
    assumptions = [i for i, operation in enumerate(order) if operation == "sts:AssumeRole"]
    assert len(assumptions) == len(accounts), order
    for later in assumptions[1:]:
        assert "ListTables" in order[:later], order
    assert order.index("ListTables") < assumptions[-1], order


# -- --endpoint-url reaches every service ---------------------------------------------------------


def test_endpoint_url_takes_sts_and_organizations_there_unless_a_service_variable_says_otherwise(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    members = organization_members(server.url, 2)
    env = aws_env(fault_proxy.url)
    del env["AWS_ENDPOINT_URL"]
    flags = ["harden", "--dry-run", "--allow-empty", "--endpoint-url", fault_proxy.url, *ORG]
    result = run_cli(flags, env)
    assert result.returncode == 0, result.stderr
    assert fault_proxy.calls("organizations:ListAccounts") == 1
    assert fault_proxy.calls("sts:AssumeRole") == len(members)

    with FaultProxy(server.url) as sts_proxy:
        fault_proxy.reset_counts()
        result = run_cli(flags, {**env, "AWS_ENDPOINT_URL_STS": sts_proxy.url})
        assert result.returncode == 0, result.stderr
        assert sts_proxy.calls("sts:AssumeRole") == len(members)
    assert fault_proxy.calls("sts:AssumeRole") == 0
    assert fault_proxy.calls("organizations:ListAccounts") == 1


def test_endpoint_url_takes_the_region_listing_and_security_hub_there_unless_a_variable_says(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    boto3.client(
        "securityhub",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).enable_security_hub()
    client = client_in(server.url, CALLER, "us-east-1")
    create_table(client, "sentinel-requests", deletion_protection=True, pitr=True)
    env = aws_env(fault_proxy.url)
    del env["AWS_ENDPOINT_URL"]  # only the flag says where AWS is
    flags = ["harden", "--check", "--json", "--endpoint-url", fault_proxy.url, "--all-regions"]
    flags += ["--security-hub", *UNPACED]
    result = run_cli(flags, env)
    assert result.returncode == 0, result.stderr
    document = result.json()
    [hub] = document["security_hub"]
    assert (hub["status"], hub["imported"]) == ("imported", 2)
    enabled = [t for t in document["targets"] if t["status"] == "ok"]
    assert len(enabled) > 1
    assert fault_proxy.calls("ec2:DescribeRegions") == 1
    assert fault_proxy.calls("ListTables") == len(enabled)  # every enabled region, there too
    assert fault_proxy.calls("securityhub:BatchImportFindings") == 1

    with FaultProxy(server.url) as hub_proxy:
        fault_proxy.reset_counts()
        result = run_cli(flags, {**env, "AWS_ENDPOINT_URL_SECURITYHUB": hub_proxy.url})
        assert result.returncode == 0, result.stderr
        assert hub_proxy.calls("securityhub:BatchImportFindings") == 1
        # Both passed at first sight, created RESOLVED: nothing turns PASSED, nothing to update.
        assert hub_proxy.calls("securityhub:BatchUpdateFindings") == 0
        # Their history by Id, and one look per enabled region for findings of tables gone.
        assert hub_proxy.calls("securityhub:GetFindings") == 1 + len(enabled)
        assert hub_proxy.calls() == 2 + len(enabled)  # that service only
    assert fault_proxy.calls("securityhub:BatchImportFindings") == 0
    assert fault_proxy.calls("ec2:DescribeRegions") == 1


@pytest.mark.parametrize("configured", ["legacy", "regional"])
def test_sts_is_called_at_its_regional_endpoint_whatever_the_configuration_says(
    monkeypatch: pytest.MonkeyPatch, configured: str
) -> None:
    """A token from STS's global endpoint is refused in opt-in regions: the regional one, always
    (no endpoint override here, so botocore's own endpoint choice is what is seen)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", configured)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    session = aws.make_session(aws.Settings(region="eu-west-1"))
    sent: list[tuple[str, str]] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        scope = request.headers["Authorization"].decode().split("Credential=")[1]
        sent.append((request.url, scope.split("/")[2]))
        body = (
            '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<GetCallerIdentityResult><Account>{CALLER}</Account><Arn>arn:aws:iam::{CALLER}"
            ":user/x</Arn><UserId>AIDAX</UserId></GetCallerIdentityResult>"
            "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
            "</GetCallerIdentityResponse>"
        ).encode()
        return AWSResponse(request.url, 200, {"Content-Type": "text/xml"}, _Raw(body))

    session.events.register("before-send.sts", answer)
    identity = aws.Identity(session, "eu-west-1", aws.Settings(), threading.Event())
    assert identity.caller_account() == CALLER
    assert sent == [("https://sts.eu-west-1.amazonaws.com/", "eu-west-1")]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


# -- multi-account global tables and replica states -----------------------------------------------


def replica_entry(account: str, region: str, status: str = "ACTIVE") -> dict[str, str]:
    arn = f"arn:aws:dynamodb:{region}:{account}:table/sentinel-global"
    return {"RegionName": region, "ReplicaArn": arn, "ReplicaStatus": status}


def test_a_replica_is_followed_into_its_own_account_and_one_the_run_does_not_reach_is_reported(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    c = "333333333333"
    places = {A: "us-east-1", B: "eu-west-1", c: "ap-southeast-2"}
    clients = {account: client_in(server.url, account, r) for account, r in places.items()}
    for client in clients.values():
        create_table(client, "sentinel-global")
    origin = clients[A].describe_table(TableName="sentinel-global")["Table"]["TableArn"]
    fault_proxy.show_replicas(origin, [replica_entry(B, "eu-west-1"), replica_entry(c, places[c])])
    roles = ["--role-arn", role(A), "--role-arn", role(B)]
    result = run_cli(
        ["harden", "--force", "--json", *roles, "--region", "us-east-1", *UNPACED],
        aws_env(fault_proxy.url),
    )
    assert result.returncode == 0, result.stderr
    document = result.json()
    rows = {(t["account"], t["region"]): t for t in document["tables"]}
    assert rows[(B, "eu-west-1")]["replica_of"] == origin
    assert rows[(B, "eu-west-1")]["result"] == "hardened"
    assert (c, "ap-southeast-2") not in rows
    targets = {(t["account"], t["region"]): t for t in document["targets"]}
    assert targets[(c, "ap-southeast-2")]["status"] == "skipped"
    assert "does not reach: sentinel-global" in targets[(c, "ap-southeast-2")]["error"]
    assert protection(clients[A], "sentinel-global") == (True, True)
    assert protection(clients[B], "sentinel-global") == (True, True)
    assert protection(clients[c], "sentinel-global") == (False, False)
    assert fault_proxy.calls("sts:AssumeRole") == 2  # never into the account not asked for


ELSEWHERE = "999999999999"


@pytest.mark.parametrize("region", ["us-west-2", "us-east-1"])
def test_a_one_account_run_reports_a_replica_in_another_account_as_not_reached(
    server: MotoServer, server_client: Any, fault_proxy: FaultProxy, region: str
) -> None:
    """Issue 21 item 8: no call for it (not even by name with the caller's credentials); a run
    that hardens exits 0; a --check cannot vouch for it, unless its account is excluded."""
    create_table(server_client, "sentinel-global")
    origin = server_client.describe_table(TableName="sentinel-global")["Table"]["TableArn"]
    fault_proxy.show_replicas(origin, [replica_entry(ELSEWHERE, region)])
    env = aws_env(fault_proxy.url)
    result = run_cli(["harden", "--force", "--json", *UNPACED], env)
    assert result.returncode == ExitStatus.OK, result.stderr
    document = result.json()
    assert [(t["account"], t["region"]) for t in document["tables"]] == [(CALLER, "us-east-1")]
    targets = {(t["account"], t["region"]): t for t in document["targets"]}
    away = targets[(ELSEWHERE, region)]
    assert away["status"] == "skipped"
    assert "does not reach: sentinel-global" in away["error"]
    assert fault_proxy.calls("DescribeTable") == 1  # the table itself, never its replica
    assert protection(server_client, "sentinel-global") == (True, True)

    check = run_cli(["harden", "--check", *UNPACED], env)
    assert check.returncode == ExitStatus.FAILED, check.stdout
    assert f"✗ {ELSEWHERE} {region}: skipped: replicas in an account this run does not reach" in (
        check.stdout
    )
    excluded = run_cli(["harden", "--check", "--exclude-account", ELSEWHERE, *UNPACED], env)
    assert excluded.returncode == ExitStatus.OK, excluded.stdout + excluded.stderr
    assert "excluded by --exclude-account: sentinel-global" in excluded.stdout


def test_a_one_account_run_refuses_to_exclude_its_own_account(
    server: MotoServer, server_client: Any
) -> None:
    create_table(server_client, "sentinel-global")
    args = ["harden", "--force", "--exclude-account", CALLER, *UNPACED]
    result = run_cli(args, aws_env(server.url))
    assert result.returncode == ExitStatus.USAGE, result.stderr
    assert "is the account these credentials reach" in result.stderr
    assert protection(server_client, "sentinel-global") == (False, False)


@pytest.mark.parametrize(
    "status", ["DELETING", "INACCESSIBLE_ENCRYPTION_CREDENTIALS", "ARCHIVED", "CREATION_FAILED"]
)
def test_a_replica_neither_active_nor_updating_is_reported_with_its_status_and_never_written(
    server: MotoServer, fault_proxy: FaultProxy, status: str
) -> None:
    clients = {r: client_in(server.url, CALLER, r) for r in ("us-east-1", "eu-west-1")}
    for client in clients.values():
        create_table(client, "sentinel-global")
    origin = clients["us-east-1"].describe_table(TableName="sentinel-global")["Table"]["TableArn"]
    fault_proxy.show_replicas(origin, [replica_entry(CALLER, "eu-west-1", status)])
    result = run_cli(["harden", "--force", "--json", *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.FAILED, result.stderr
    rows = {t["region"]: t for t in result.json()["tables"]}
    assert rows["us-east-1"]["result"] == "hardened"
    assert rows["eu-west-1"]["result"] == "failed"
    assert rows["eu-west-1"]["error"]["code"] == "ReplicaNotWritable"
    assert f"ReplicaStatus {status}" in rows["eu-west-1"]["error"]["message"]
    assert fault_proxy.calls("DescribeTable", "sentinel-global") == 1  # the origin's only
    assert protection(clients["eu-west-1"], "sentinel-global") == (False, False)


def test_a_replica_still_creating_is_followed_and_hardened_once_it_is_active(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    clients = {r: client_in(server.url, CALLER, r) for r in ("us-east-1", "eu-west-1")}
    for client in clients.values():
        create_table(client, "sentinel-global")
    origin = clients["us-east-1"].describe_table(TableName="sentinel-global")["Table"]["TableArn"]
    fault_proxy.show_replicas(origin, [replica_entry(CALLER, "eu-west-1", "CREATING")])
    fault_proxy.report_updating("sentinel-global", calls=3, status="CREATING")
    result = run_cli(["harden", "--force", "--json", *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == 0, result.stderr
    rows = {t["region"]: t for t in result.json()["tables"]}
    assert rows["eu-west-1"]["result"] == "hardened"
    assert rows["eu-west-1"]["replica_of"] == origin
    assert fault_proxy.calls("DescribeTable", "sentinel-global") > 2  # waited while CREATING
    assert protection(clients["eu-west-1"], "sentinel-global") == (True, True)


def test_a_refresh_refused_mid_run_fails_that_account_alone_with_one_line_per_call_no_traceback(
    fleet: dict[tuple[str, str], Any], fault_proxy: FaultProxy
) -> None:
    life = 2.0
    fault_proxy.expire_assumed_credentials(after=life)

    def outlast_then_withdraw(call: Any) -> None:
        time.sleep(life + 0.5)
        fault_proxy.fail("sts:AssumeRole", "AccessDenied", tables=[role(B)], times=None)

    fault_proxy.on_call("DescribeContinuousBackups", outlast_then_withdraw)
    result = run_cli(
        ["harden", "--force", "--json", *ROLES, *REGIONS, *UNPACED], aws_env(fault_proxy.url)
    )
    assert result.returncode == ExitStatus.FAILED, result.stderr
    assert "Traceback" not in result.stderr and "Refreshing" not in result.stderr
    tables = result.json()["tables"]
    failed = {(t["account"], t["table_name"]) for t in tables if t["result"] == "failed"}
    assert failed and {account for account, _ in failed} == {B}
    assert all(
        error["action"] == "sts:AssumeRole"
        for t in tables
        if t["result"] == "failed"
        for error in t["errors"]
    )
    for region in ("us-east-1", "eu-west-1"):
        assert protection(fleet[(A, region)], "sentinel-requests") == (True, True)
