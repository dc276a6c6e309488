"""Least privilege: the IAM policies list exactly what the CLI calls, scoped to the prefix."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest

from remediation import aws, controls, fleet
from remediation.aws import organizations_policies
from remediation.cli import harden_guardrail
from tests.cli_process import ROOT, UNPACED, run_cli
from tests.conftest import TableFactory, create_table
from tests.fault_proxy import FaultProxy
from tests.guardrail_support import assumed_role
from tests.servers import MotoServer, assumed_client, aws_env, organization_members
from tests.test_guardrail_rcp import Org, org  # noqa: F401 (org: the fixture, used by name)

TABLE_RESOURCE = "arn:aws:dynamodb:*:*:table/sentinel-*"
WRITE_ACTIONS = {control.write_action for control in controls.ALL}
POLICIES = {
    # name: (policy file, the actions it must list, the run it must suffice for, its exit status)
    "full": (ROOT / "docs" / "iam-policy.json", controls.iam_actions(), ["--force"], 0),
    "no-pitr": (
        ROOT / "docs" / "iam-policy-no-pitr.json",
        controls.iam_actions((controls.DELETION_PROTECTION,)),
        ["--force", "--no-pitr"],
        0,
    ),
    "check": (
        ROOT / "docs" / "iam-policy-check.json",
        controls.iam_actions(writes=False),
        ["--check"],
        1,  # sentinel-a is unprotected: --check says so and writes nothing
    ),
}


def allowed(path: Path) -> dict[str, set[str]]:
    """Action -> resources the policy allows it on (a template's ${AWS::Partition} as aws)."""
    document: dict[str, Any] = json.loads(path.read_text())
    result: dict[str, set[str]] = {}
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"]
        if isinstance(resources, dict):
            resources = resources["Fn::Sub"].replace("${AWS::Partition}", "aws")
        for action in statement["Action"]:
            result.setdefault(action, set()).update(
                [resources] if isinstance(resources, str) else resources
            )
    return result


@pytest.mark.parametrize("which", POLICIES)
def test_policy_lists_exactly_the_actions_the_controls_declare(which: str) -> None:
    path, needed, _, _ = POLICIES[which]
    policy = allowed(path)
    assert set(policy) == set(needed)
    assert policy.pop(controls.DISCOVERY_ACTION) == {"*"}  # ListTables cannot be scoped
    assert all(resources == {TABLE_RESOURCE} for resources in policy.values())


@pytest.mark.parametrize("which", POLICIES)
def test_a_full_run_calls_only_what_the_policy_allows(
    which: str, server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    path, _, flags, status = POLICIES[which]
    server_table("sentinel-a")
    server_table("sentinel-b", deletion_protection=True)
    server_table("other")
    result = run_cli(["harden", *flags, *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == status, result.stderr
    called = {f"dynamodb:{op}" for op in fault_proxy.operations()}
    assert called == set(allowed(path)), "the run must need every action listed, and no other"
    touched = {table for _, table in fault_proxy.table_counts() if table is not None}
    assert touched == {"sentinel-a", "sentinel-b"}


def test_check_calls_no_write_action_even_where_every_protection_is_missing(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    server_table("sentinel-a")
    result = run_cli(["harden", "--check", "--json", *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == 1
    assert result.json()["tables"][0]["result"] == "unprotected"
    called = {f"dynamodb:{op}" for op in fault_proxy.operations()}
    assert called and not called & WRITE_ACTIONS


# -- --security-hub: one more action, in a statement of its own -----------------------------------

SECURITY_HUB_POLICY = ROOT / "docs" / "iam-policy-security-hub.json"


def test_the_security_hub_statement_lists_exactly_the_import_update_and_read_actions() -> None:
    assert allowed(SECURITY_HUB_POLICY) == {
        aws.IMPORT_ACTION: {"*"},
        aws.UPDATE_ACTION: {"*"},
        aws.READ_ACTION: {"*"},
    }


@pytest.mark.parametrize("flags", [["--force"], ["--check"]], ids=["harden", "check"])
def test_a_security_hub_run_calls_only_what_the_policy_and_its_statement_allow(
    flags: list[str],
    server: MotoServer,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    server_client: Any,
) -> None:
    server_table("sentinel-a")
    server_table("sentinel-b")
    server_table("other")
    # A first run leaves findings that a later one reads (GetFindings) and, as they turn PASSED
    # (sentinel-b protected meanwhile; sentinel-a hardened by --force), resolves.
    first = run_cli(["harden", "--check", "--security-hub", *UNPACED], aws_env(fault_proxy.url))
    assert first.returncode == 1, first.stderr
    server_client.update_table(TableName="sentinel-b", DeletionProtectionEnabled=True)
    server_client.update_continuous_backups(
        TableName="sentinel-b",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )
    fault_proxy.reset_counts()
    result = run_cli(["harden", *flags, "--security-hub", *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == (0 if flags == ["--force"] else 1), result.stderr
    operations = fault_proxy.operations()
    called = {op if ":" in op else f"dynamodb:{op}" for op in operations}
    path = POLICIES["full" if flags == ["--force"] else "check"][0]
    assert called == set(allowed(path)) | set(allowed(SECURITY_HUB_POLICY))


# -- fleets: the caller's policy and the member-account role -------------------------------------

ROLE_PATTERN = "arn:aws:iam::*:role/SentinelHarden"
CALLER_POLICIES = {
    "roles": (ROOT / "docs" / "iam-fleet-caller.json", False),
    "organization": (ROOT / "docs" / "iam-fleet-caller-organization.json", True),
}
MEMBER_TEMPLATE = ROOT / "docs" / "member-role.cfn.json"


def member_role() -> dict[str, Any]:
    template: dict[str, Any] = json.loads(MEMBER_TEMPLATE.read_text())
    properties: dict[str, Any] = template["Resources"]["SentinelHardenRole"]["Properties"]
    return properties


@pytest.mark.parametrize("which", CALLER_POLICIES)
def test_the_fleet_callers_policy_lists_exactly_what_reaching_the_accounts_needs(
    which: str,
) -> None:
    path, organization = CALLER_POLICIES[which]
    policy = allowed(path)
    assert set(policy) == set(fleet.caller_actions(organization))
    assert policy.pop(fleet.ASSUME_ACTION) == {ROLE_PATTERN}
    if organization:
        assert policy.pop(fleet.LIST_ACCOUNTS_ACTION) == {"*"}  # it cannot be scoped
    assert policy == {}


def test_the_member_role_trusts_only_the_hardener_role_with_the_external_id_and_its_actions(
    tmp_path: Path,
) -> None:
    role = member_role()
    assert role["RoleName"] == "SentinelHarden"
    for trust in (role["AssumeRolePolicyDocument"], json.loads(TRUST.read_text())):
        [statement] = trust["Statement"]
        assert statement["Action"] == fleet.ASSUME_ACTION
        assert "sts:ExternalId" in statement["Condition"]["StringEquals"]
        assert ":root" not in json.dumps(statement["Principal"])  # a role, never the account
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "AWS": {"Ref": "HardenerRoleArn"}
    }
    [inline] = role["Policies"]
    written = tmp_path / "inline.json"
    written.write_text(json.dumps(inline["PolicyDocument"]))
    regions = allowed(ROOT / "docs" / "iam-all-regions.json")
    assert allowed(written) == {**allowed(ROOT / "docs" / "iam-policy.json"), **regions}
    assert set(allowed(written)) == {*controls.iam_actions(), *fleet.account_actions(True)}
    assert set(regions) == set(fleet.account_actions(True))


def _strings(node: Any, inside_sub: bool = False) -> list[tuple[str, bool]]:
    if isinstance(node, str):
        return [(node, inside_sub)]
    if isinstance(node, list):
        return [found for item in node for found in _strings(item, inside_sub)]
    if isinstance(node, dict):
        return [
            found
            for key, value in node.items()
            for found in _strings(value, inside_sub or key == "Fn::Sub")
        ]
    return []


def test_the_member_role_may_import_findings_only_when_its_stack_says_security_hub(
    tmp_path: Path,
) -> None:
    template = json.loads(MEMBER_TEMPLATE.read_text())
    assert template["Parameters"]["SecurityHub"]["Default"] == "false"
    assert template["Conditions"]["ImportFindings"] == {
        "Fn::Equals": [{"Ref": "SecurityHub"}, "true"]
    }
    extra = template["Resources"]["SecurityHubImport"]
    assert extra["Condition"] == "ImportFindings"
    assert extra["Properties"]["RoleName"] == {"Ref": "SentinelHardenRole"}
    written = tmp_path / "security-hub.json"
    written.write_text(json.dumps(extra["Properties"]["PolicyDocument"]))
    assert allowed(written) == allowed(SECURITY_HUB_POLICY)


def test_every_arn_in_the_member_role_template_names_its_partition_from_the_stack() -> None:
    template = json.loads(MEMBER_TEMPLATE.read_text())
    arns = [(text, sub) for text, sub in _strings(template["Resources"]) if "arn:" in text]
    assert arns, "the template builds at least one ARN"
    for text, sub in arns:
        assert sub and text.startswith("arn:${AWS::Partition}:"), text
    assert "arn:aws:" not in json.dumps(template["Resources"])


TRUST = ROOT / "docs" / "iam-member-trust-policy.json"


@pytest.mark.parametrize("which", CALLER_POLICIES)
def test_a_fleet_run_calls_only_what_the_caller_and_member_policies_allow(
    which: str, server: MotoServer, fault_proxy: FaultProxy
) -> None:
    _, organization = CALLER_POLICIES[which]
    members = ["111111111111", "222222222222"]
    if organization:
        members = organization_members(server.url, 2)
    for account in members:
        client = member_client(server.url, account)
        create_table(client, "sentinel-a")
        create_table(client, "sentinel-b", deletion_protection=True)
        create_table(client, "other")
    reach = (
        ["--organization", "--role-name", "SentinelHarden"]
        if organization
        else [f for account in members for f in ("--role-arn", role_arn(account))]
    )
    result = run_cli(
        ["harden", "--force", "--all-regions", "--external-id", "xid-1", *reach, *UNPACED],
        aws_env(fault_proxy.url),
    )
    assert result.returncode == 0, result.stderr
    operations = fault_proxy.operations()
    outside = {op for op in operations if ":" in op} - {fleet.CALLER_IDENTITY_ACTION}
    in_accounts = set(fleet.account_actions(all_regions=True))
    assert outside == {*fleet.caller_actions(organization), *in_accounts}
    assert in_accounts <= set(allowed(ROOT / "docs" / "iam-all-regions.json"))
    assumed = {r.table for r in fault_proxy.records if r.operation == fleet.ASSUME_ACTION}
    assert assumed == {role_arn(account) for account in members}
    assert all(fnmatch.fnmatchcase(arn, ROLE_PATTERN) for arn in assumed)
    inside = {f"dynamodb:{op}" for op in operations if ":" not in op}
    assert inside == set(allowed(ROOT / "docs" / "iam-policy.json"))
    touched = {table for _, table in fault_proxy.table_counts() if table and ":" not in table}
    assert touched == {"sentinel-a", "sentinel-b"}


def role_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/SentinelHarden"


def member_client(url: str, account: str) -> Any:
    return assumed_client(url, role_arn(account))


# -- guardrail --rcp --apply: the organization's RCP ---------------------------------------------

GUARDRAIL_RCP_POLICY = ROOT / "docs" / "iam-guardrail-rcp.json"


def test_the_guardrail_rcp_policy_lists_exactly_the_actions_apply_declares() -> None:
    policy = allowed(GUARDRAIL_RCP_POLICY)
    assert set(policy) == set(organizations_policies.APPLY_ACTIONS)
    assert policy.pop(organizations_policies.ROLE_ACTION) == {"arn:aws:iam::*:role/*"}
    assert all(resources == {"*"} for resources in policy.values())
    document = json.loads(GUARDRAIL_RCP_POLICY.read_text())
    writes = [s for s in document["Statement"] if set(s["Action"]) & {"organizations:CreatePolicy"}]
    assert [set(s["Action"]) for s in writes] == [set(organizations_policies.WRITE_ACTIONS)]
    assert writes[0]["Condition"] == {
        "StringEquals": {"organizations:PolicyType": "RESOURCE_CONTROL_POLICY"}
    }


def test_guardrail_apply_calls_exactly_what_its_policy_allows(org: Org) -> None:  # noqa: F811
    create_table(org.client("dynamodb"), "sentinel-sessions")  # the management account's check
    flags = ["guardrail", "--rcp", "--break-glass-role", "arn:aws:iam::*:role/BreakGlass"]
    created = run_cli([*flags, "--apply", "--force"], org.env)  # enable, create, attach
    updated = run_cli([*flags, "--apply", "--force", "--guardrail-mode", "lenient"], org.env)
    assert (created.returncode, updated.returncode) == (0, 0), created.stderr + updated.stderr
    operations = org.proxy.operations()
    called = {op if ":" in op else f"dynamodb:{op}" for op in operations}
    # sts:GetCallerIdentity needs no permission: no policy can deny it.
    assert called - {fleet.CALLER_IDENTITY_ACTION} == set(allowed(GUARDRAIL_RCP_POLICY))


# -- harden --guardrail: the table-policy form ---------------------------------------------

GUARDRAIL_POLICY = ROOT / "docs" / "iam-policy-guardrail.json"
IAM_ROLES = "arn:aws:iam::*:role/*"


def test_the_guardrail_policy_adds_exactly_its_read_and_write_and_iam_get_role() -> None:
    policy = allowed(GUARDRAIL_POLICY)
    needed = controls.iam_actions((*controls.ALL, controls.GUARDRAIL))
    assert set(policy) == {*needed, harden_guardrail.ROLE_ACTION}
    assert policy.pop(harden_guardrail.ROLE_ACTION) == {IAM_ROLES}
    assert policy.pop(controls.DISCOVERY_ACTION) == {"*"}
    assert all(resources == {TABLE_RESOURCE} for resources in policy.values())


def test_a_guardrail_run_calls_only_what_the_guardrail_policy_allows(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    server_table("sentinel-a")
    server_table("sentinel-b", deletion_protection=True)
    server_table("other")
    env = aws_env(fault_proxy.url)
    env.update(_assumed_role_keys(server))
    flags = ["--guardrail", "--break-glass-role", "arn:aws:iam::123456789012:role/BreakGlass"]
    result = run_cli(["harden", "--force", *flags, *UNPACED], env)
    assert result.returncode == 0, result.stderr
    called = {op if ":" in op else f"dynamodb:{op}" for op in fault_proxy.operations()}
    called.discard("sts:GetCallerIdentity")  # no policy can deny it
    assert called == set(allowed(GUARDRAIL_POLICY))
    touched = {table for op, table in fault_proxy.table_counts() if table and ":" not in op}
    assert touched == {"sentinel-a", "sentinel-b"}


def _assumed_role_keys(server: MotoServer) -> dict[str, str]:
    """Keys of a role under a path, assumed on the moto server: the hardener as SSO makes it."""
    import boto3

    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    iam, sts = (
        boto3.client(service, endpoint_url=server.url, region_name="us-east-1", **keys)
        for service in ("iam", "sts")
    )
    return assumed_role(iam, sts, "Hardener", "/ops/")
