"""`python -m remediation guardrail --rcp` end to end: the real CLI process against moto_server
(through the fault proxy, which counts every call and answers as AWS where moto is kinder), the
organization read back from the server after every change."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from remediation import core, guardrail
from remediation.aws.organizations_policies import FoundPolicy, Organization
from remediation.cli.guardrail_rcp import Plan, plan
from remediation.guardrail import Mode, Principals
from tests.cli_process import ROOT, Completed, run_cli, run_cli_on_terminal
from tests.conftest import create_table
from tests.fault_proxy import ORGANIZATIONS_ERRORS, ErrorShape, FaultProxy
from tests.servers import REGION, MotoServer, aws_env

ACCOUNT = "123456789012"  # moto's default: the organization's management account
SSO_PATH = "/aws-reserved/sso.amazonaws.com/"
HARDENER_NAME = "AWSReservedSSO_Hardener_0123abcd"
HARDENER = f"arn:aws:iam::{ACCOUNT}:role{SSO_PATH}{HARDENER_NAME}"
BREAK_GLASS = "arn:aws:iam::*:role/ops/sentinel-break-glass"
DEPLOY = "arn:aws:iam::*:role/pulumi-deploy"
PRINCIPALS = ["--break-glass-role", BREAK_GLASS, "--allow-role", DEPLOY]
WRITES = {
    "organizations:EnablePolicyType",
    "organizations:CreatePolicy",
    "organizations:UpdatePolicy",
    "organizations:AttachPolicy",
}
_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass
class Org:
    """An organization on the server, and the caller's environment: the SSO-style hardener role
    (its path under aws-reserved/), assumed, every call through the proxy."""

    server: MotoServer
    proxy: FaultProxy
    env: dict[str, str]
    root: str

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.server.url, region_name=REGION, **_KEYS)

    def run(self, *args: str) -> Completed:
        return run_cli(["guardrail", "--rcp", *args], self.env)

    def policies(self) -> list[dict[str, Any]]:
        """The customer-managed RCPs as the server holds them: content and targets."""
        organizations = self.client("organizations")
        found = []
        listed = organizations.list_policies(Filter="RESOURCE_CONTROL_POLICY")["Policies"]
        for summary in listed:
            if summary["AwsManaged"]:
                continue
            policy = organizations.describe_policy(PolicyId=summary["Id"])["Policy"]
            targets = organizations.list_targets_for_policy(PolicyId=summary["Id"])["Targets"]
            found.append(
                {
                    "name": policy["PolicySummary"]["Name"],
                    "content": json.loads(policy["Content"]),
                    "targets": sorted(t["TargetId"] for t in targets),
                }
            )
        return found

    def root_policy_types(self) -> list[dict[str, str]]:
        types: list[dict[str, str]] = self.client("organizations").list_roots()["Roots"][0][
            "PolicyTypes"
        ]
        return types


def assumed_env(url: str, role_arn: str, proxy_url: str) -> dict[str, str]:
    sts = boto3.client("sts", endpoint_url=url, region_name=REGION, **_KEYS)
    found = sts.assume_role(RoleArn=role_arn, RoleSessionName="alice@example.com")["Credentials"]
    env = aws_env(proxy_url)
    env.update(
        AWS_ACCESS_KEY_ID=found["AccessKeyId"],
        AWS_SECRET_ACCESS_KEY=found["SecretAccessKey"],
        AWS_SESSION_TOKEN=found["SessionToken"],
    )
    return env


@pytest.fixture
def org(server: MotoServer, fault_proxy: FaultProxy) -> Org:
    organizations = boto3.client(
        "organizations", endpoint_url=server.url, region_name=REGION, **_KEYS
    )
    organizations.create_organization(FeatureSet="ALL")
    root = organizations.list_roots()["Roots"][0]["Id"]
    iam = boto3.client("iam", endpoint_url=server.url, region_name=REGION, **_KEYS)
    iam.create_role(RoleName=HARDENER_NAME, Path=SSO_PATH, AssumeRolePolicyDocument="{}")
    return Org(server, fault_proxy, assumed_env(server.url, HARDENER, fault_proxy.url), root)


def wanted(mode: Mode = Mode.STRICT, hardener: str | None = HARDENER) -> dict[str, Any]:
    principals = Principals(break_glass=(BREAK_GLASS,), allow=(DEPLOY,), hardener=hardener)
    return guardrail.rcp(core.Selection("sentinel-"), principals, mode)


def called(proxy: FaultProxy) -> set[str]:
    return {op if ":" in op else f"dynamodb:{op}" for op in proxy.operations()}


# -- the plan, pure -------------------------------------------------------------------------------

ENABLED_ORG = Organization("o-abc", ACCOUNT, "r-root", rcp_listed=True)
BARE_ORG = Organization("o-abc", ACCOUNT, "r-root", rcp_listed=False)


def found(content: object, *targets: str) -> FoundPolicy:
    text = content if isinstance(content, str) else json.dumps(content)
    return FoundPolicy("p-1", text, targets)


@pytest.mark.parametrize(
    ("organization", "policy", "target", "steps"),
    [
        (BARE_ORG, None, "r-root", Plan("r-root", True, None, "r-root")),
        (ENABLED_ORG, None, "r-root", Plan(None, True, None, "r-root")),
        (ENABLED_ORG, found(wanted(), "r-root"), "r-root", Plan(None, False, None, None)),
        (
            ENABLED_ORG,
            found(wanted(Mode.LENIENT), "r-root"),
            "r-root",
            Plan(None, False, "p-1", None),
        ),
        (ENABLED_ORG, found("not json", "r-root"), "r-root", Plan(None, False, "p-1", None)),
        (
            ENABLED_ORG,
            found(wanted(), "ou-ab12-cdefgh34"),
            "r-root",
            Plan(None, False, None, "r-root"),
        ),
    ],
    ids=[
        "a-bare-root-is-enabled-then-the-policy-created-and-attached",
        "an-enabled-root-is-not-enabled-again",
        "the-same-policy-attached-there-means-no-step",
        "other-content-is-updated-in-place",
        "content-that-is-not-json-is-updated",
        "attached-elsewhere-is-attached-here-too-never-detached",
    ],
)
def test_the_plan_takes_only_the_steps_needed(
    organization: Organization, policy: FoundPolicy | None, target: str, steps: Plan
) -> None:
    assert plan(organization, policy, wanted(), target) == steps


def test_guardrail_help_lists_its_flags_and_exit_status() -> None:
    result = run_cli(["guardrail", "--help"], aws_env("http://127.0.0.1:9"))
    assert result.returncode == 0
    for flag in ("--rcp", "--apply", "--target-id", "--break-glass-role", "--dry-run"):
        assert flag in result.stdout
    assert "exit status: 0" in result.stdout


# -- printing -------------------------------------------------------------------------------------


def test_print_writes_the_rcp_with_the_hardeners_path_and_changes_nothing(org: Org) -> None:
    result = org.run(*PRINCIPALS)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == wanted()
    assert f"the hardener: {HARDENER} (from iam:GetRole" in result.stderr
    assert "mode strict: denies DeleteTable, UpdateContinuousBackups, UpdateTable" in result.stderr
    assert "more allowed roles as long as the longest fit" in result.stderr
    assert not called(org.proxy) & WRITES
    assert org.policies() == []


def test_lenient_leaves_update_table_out_and_says_what_that_leaves_open(org: Org) -> None:
    result = org.run(*PRINCIPALS, "--guardrail-mode", "lenient")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == wanted(Mode.LENIENT)
    assert guardrail.UPDATE_TABLE not in json.loads(result.stdout)["Statement"][0]["Action"]
    assert guardrail.LENIENT_LEAVES_OPEN in result.stderr


def test_how_many_more_roles_fit_is_what_the_core_counts(org: Org) -> None:
    result = org.run(*PRINCIPALS)
    principals = Principals(break_glass=(BREAK_GLASS,), allow=(DEPLOY,), hardener=HARDENER)
    fit = guardrail.principals_that_fit(core.Selection("sentinel-"), principals, Mode.STRICT)
    size = len(guardrail.dumps(wanted()))
    assert f"{size:,} of 5,120 characters; {fit} more allowed roles" in result.stderr


def test_a_hardener_named_by_allow_role_is_taken_without_asking_iam(org: Org) -> None:
    result = org.run("--break-glass-role", BREAK_GLASS, "--allow-role", HARDENER)
    assert result.returncode == 0, result.stderr
    assert f"the hardener: {HARDENER} (from --allow-role" in result.stderr
    assert org.proxy.calls("iam:GetRole") == 0


def test_a_caller_that_is_no_role_is_said_and_not_added(org: Org) -> None:
    org.env = aws_env(org.proxy.url)  # moto's default caller: an IAM user
    result = org.run(*PRINCIPALS)
    assert result.returncode == 0, result.stderr
    assert "is not an assumed role: not added" in result.stderr
    assert json.loads(result.stdout) == wanted(hardener=None)


def test_a_denied_get_role_stops_before_anything_and_names_allow_role(org: Org) -> None:
    denied = ErrorShape(
        "AccessDenied",
        "",
        f"User: {HARDENER} is not authorized to perform: iam:GetRole",
        status=403,
        query=True,
    )
    org.proxy.fail("iam:GetRole", denied)
    result = org.run(*PRINCIPALS, "--apply", "--force")
    assert result.returncode == 4
    assert result.stderr.startswith("error: cannot learn the caller's role with its path")
    assert "--allow-role" in result.stderr and result.stdout == ""
    assert org.policies() == []


# -- the management account, which no RCP covers --------------------------------------------------


def test_sentinel_tables_in_the_management_account_are_warned_about(org: Org) -> None:
    create_table(org.client("dynamodb"), "sentinel-sessions")
    result = org.run(*PRINCIPALS)
    assert result.returncode == 0
    assert (
        f"warning: the management account {ACCOUNT} holds tables under 'sentinel-' in "
        f"{REGION} (sentinel-sessions): an RCP has no effect there" in result.stderr
    )


def test_a_management_account_without_sentinel_tables_says_none(org: Org) -> None:
    create_table(org.client("dynamodb"), "other-table")
    result = org.run(*PRINCIPALS)
    assert f"management account {ACCOUNT} in {REGION}: no table under 'sentinel-'" in (
        result.stderr
    )
    assert "warning" not in result.stderr


def test_a_denied_list_tables_is_could_not_tell_never_silence(org: Org) -> None:
    org.proxy.fail("ListTables", "AccessDeniedException")
    result = org.run(*PRINCIPALS)
    assert result.returncode == 0
    assert f"management account {ACCOUNT} in {REGION}: could not tell" in result.stderr
    assert "AccessDeniedException" in result.stderr


def test_from_a_member_account_the_management_account_is_could_not_tell(org: Org) -> None:
    organizations = org.client("organizations")
    member = organizations.create_account(AccountName="m", Email="m@example.com")[
        "CreateAccountStatus"
    ]["AccountId"]
    role = f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole"
    org.env = assumed_env(org.server.url, role, org.proxy.url)
    result = org.run("--break-glass-role", BREAK_GLASS, "--allow-role", role)
    assert result.returncode == 0, result.stderr
    assert (
        f"management account {ACCOUNT}: could not tell whether it holds tables under "
        f"'sentinel-' from account {member}" in result.stderr
    )
    assert org.proxy.calls("ListTables") == 0


def test_no_credentials_is_one_error_line_and_exit_4(fault_proxy: FaultProxy) -> None:
    env = {k: v for k, v in aws_env(fault_proxy.url).items() if not k.startswith("AWS_SECRET")}
    env.pop("AWS_ACCESS_KEY_ID")
    result = run_cli(["guardrail", "--rcp", *PRINCIPALS], env)
    assert result.returncode == 4
    assert result.stderr.startswith("error: no AWS credentials found")
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert fault_proxy.counts() == {}


def test_outside_an_organization_print_says_could_not_tell_and_apply_exits_4(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    env = aws_env(fault_proxy.url)
    printed = run_cli(["guardrail", "--rcp", *PRINCIPALS], env)
    assert printed.returncode == 0
    assert "management account: could not tell" in printed.stderr
    applied = run_cli(["guardrail", "--rcp", *PRINCIPALS, "--apply", "--force"], env)
    assert applied.returncode == 4
    assert (
        applied.stderr
        == "error: the caller's account is in no AWS Organization: an RCP needs one\n"
    )
    assert not called(fault_proxy) & WRITES


# -- --apply: read back from the server -----------------------------------------------------------


def test_apply_enables_the_type_creates_the_policy_and_attaches_it_to_the_root(org: Org) -> None:
    assert not any(t["Type"] == "RESOURCE_CONTROL_POLICY" for t in org.root_policy_types())
    result = org.run(*PRINCIPALS, "--apply", "--force")
    assert result.returncode == 0, result.stderr
    assert {"Type": "RESOURCE_CONTROL_POLICY", "Status": "ENABLED"} in org.root_policy_types()
    assert org.policies() == [
        {"name": "sentinel-guardrail", "content": wanted(), "targets": [org.root]}
    ]
    assert "applied: the RCP 'sentinel-guardrail'" in result.stderr


def test_apply_again_updates_the_same_policy_in_place_and_then_changes_nothing(
    org: Org,
) -> None:
    assert org.run(*PRINCIPALS, "--apply", "--force").returncode == 0
    lenient = org.run(*PRINCIPALS, "--apply", "--force", "--guardrail-mode", "lenient")
    assert lenient.returncode == 0, lenient.stderr
    assert org.policies() == [
        {"name": "sentinel-guardrail", "content": wanted(Mode.LENIENT), "targets": [org.root]}
    ]
    org.proxy.reset_counts()
    again = org.run(*PRINCIPALS, "--apply", "--force", "--guardrail-mode", "lenient")
    assert again.returncode == 0
    assert "already in place and attached" in again.stderr
    assert not called(org.proxy) & WRITES


def test_apply_to_an_ou_attaches_there_and_keeps_other_attachments(org: Org) -> None:
    organizations = org.client("organizations")
    ou = organizations.create_organizational_unit(ParentId=org.root, Name="prod")[
        "OrganizationalUnit"
    ]["Id"]
    assert org.run(*PRINCIPALS, "--apply", "--force").returncode == 0
    result = org.run(*PRINCIPALS, "--apply", "--force", "--target-id", ou)
    assert result.returncode == 0, result.stderr
    [policy] = org.policies()
    assert policy["targets"] == sorted([org.root, ou])


def test_apply_to_the_management_account_is_refused(org: Org) -> None:
    result = org.run(*PRINCIPALS, "--apply", "--force", "--target-id", ACCOUNT)
    assert result.returncode == 3
    assert "is the management account, where an RCP has no effect" in result.stderr
    assert org.policies() == []


def test_dry_run_shows_the_steps_and_changes_nothing(org: Org) -> None:
    result = org.run(*PRINCIPALS, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert (
        f"would enable the RESOURCE_CONTROL_POLICY type on the root {org.root}; create the RCP "
        f"'sentinel-guardrail'; attach it to {org.root}" in result.stderr
    )
    assert not called(org.proxy) & WRITES
    assert org.policies() == []


def test_apply_waits_out_a_root_still_pending_enable_as_aws_answers(org: Org) -> None:
    # AWS enables the policy type asynchronously and refuses AttachPolicy until it is done.
    org.proxy.fail(
        "organizations:AttachPolicy", ORGANIZATIONS_ERRORS["PolicyTypeNotEnabledException"]
    )
    result = org.run(*PRINCIPALS, "--apply", "--force")
    assert result.returncode == 0, result.stderr
    assert org.proxy.calls("organizations:AttachPolicy") == 2
    assert org.policies()[0]["targets"] == [org.root]


def test_a_denied_write_is_one_error_line_and_exit_1(org: Org) -> None:
    org.proxy.fail("organizations:CreatePolicy", ORGANIZATIONS_ERRORS["AccessDeniedException"])
    result = org.run(*PRINCIPALS, "--apply", "--force")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: AccessDeniedException on organizations:CreatePolicy: You don't have "
        "permissions to access this resource."
    ]
    assert org.policies() == []


def test_without_a_terminal_or_force_apply_is_cancelled(org: Org) -> None:
    result = org.run(*PRINCIPALS, "--apply")
    assert result.returncode == 2
    assert "no terminal to confirm on; pass --force" in result.stderr
    assert org.policies() == []


@pytest.mark.parametrize(("answer", "status", "count"), [("n", 2, 0), ("y", 0, 1)])
def test_apply_asks_on_the_terminal_and_acts_only_on_yes(
    org: Org, answer: str, status: int, count: int
) -> None:
    result = run_cli_on_terminal(["guardrail", "--rcp", *PRINCIPALS, "--apply"], org.env, answer)
    assert result.returncode == status, result.stderr
    assert "Apply 3 change(s) to the organization? [y/N]" in result.stdout
    assert len(org.policies()) == count


# -- bad input: one line, exit 3, no call ---------------------------------------------------------

LONG = [f"arn:aws:iam::*:role/sentinel/deployers/team-{i:03}-deploy-role" for i in range(90)]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--exclude", "sentinel-scratch-*"], "an RCP cannot exempt a table by name"),
        (["--exclude", "[a-z]*"], "IAM wildcards (only '*' and '?') cannot express"),
        (["--break-glass-role", "arn:aws:iam::1:user/x"], "not an IAM role ARN"),
        (
            ["--allow-role", "arn:aws-cn:iam::123456789012:role/x"],
            "is in partition 'aws-cn', but the tables are in 'aws'",
        ),
        ([f"--allow-role={arn}" for arn in LONG], "over AWS Organizations' limit of 5120"),
        (["--target-id", "root"], "is not a root (r-...), OU (ou-...-...) or account id"),
        (["--prefix", ""], "an RCP over an empty --prefix would guard every table"),
    ],
    ids=[
        "an-exclusion-under-the-prefix",
        "a-bracket-exclusion",
        "a-user-arn",
        "another-partition",
        "over-5120-characters",
        "a-malformed-target",
        "an-empty-prefix",
    ],
)
def test_bad_input_is_one_error_line_and_exit_3_before_any_call(
    org: Org, flags: list[str], message: str
) -> None:
    result = org.run(*PRINCIPALS, "--apply", "--force", *flags)
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert message in result.stderr
    assert org.proxy.counts() == {}


def test_no_break_glass_role_and_no_rcp_flag_are_bad_input(org: Org) -> None:
    no_glass = run_cli(["guardrail", "--rcp", "--allow-role", DEPLOY], org.env)
    no_form = run_cli(["guardrail", *PRINCIPALS], org.env)
    assert (no_glass.returncode, no_form.returncode) == (3, 3)
    assert "at least one --break-glass-role" in no_glass.stderr
    assert "guardrail needs --rcp" in no_form.stderr
    assert org.proxy.counts() == {}


def test_an_exclusion_outside_the_prefix_is_accepted(org: Org) -> None:
    result = org.run(*PRINCIPALS, "--exclude", "other-*")
    assert result.returncode == 0, result.stderr


# -- the docs' sample is what the command prints ---------------------------------------------------

SAMPLE_ROLE = f"arn:aws:iam::{ACCOUNT}:role{SSO_PATH}AWSReservedSSO_SentinelAdmin_0123456789abcdef"


def docs_sample() -> tuple[list[str], dict[str, Any], list[str]]:
    """docs/guardrail.md's sample: the command's arguments, its stdout JSON, its stderr lines."""
    page = (ROOT / "docs" / "guardrail.md").read_text()
    block = (
        page.split("### A sample, cut from a run", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    )
    lines = block.splitlines()
    command = " ".join(line.strip().rstrip("\\") for line in lines[:3]).removeprefix("$ ")
    end = lines.index("}")
    document = json.loads("\n".join(lines[3 : end + 1]))
    args = [arg.strip("'") for arg in command.split()][3:]  # after `python -m remediation`
    return args, document, lines[end + 1 :]


def test_the_docs_sample_is_what_the_command_prints(org: Org) -> None:
    org.client("iam").create_role(
        RoleName=SAMPLE_ROLE.rsplit("/", 1)[1], Path=SSO_PATH, AssumeRolePolicyDocument="{}"
    )
    org.env = assumed_env(org.server.url, SAMPLE_ROLE, org.proxy.url)
    create_table(org.client("dynamodb"), "sentinel-sessions")
    args, document, stderr = docs_sample()
    result = run_cli(args, org.env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == document
    listed = org.client("organizations").list_policies(Filter="RESOURCE_CONTROL_POLICY")["Policies"]
    ids = {p["Id"] for p in listed if not p["AwsManaged"]}
    said = result.stderr.replace(org.root, "r-49pe").replace(ids.pop(), "p-px6gtfjp")
    assert said.splitlines() == stderr
