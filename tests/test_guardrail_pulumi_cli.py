"""The guardrail on the real `pulumi` CLI (issue 19 items 4 and 6): preview stops when the deploy
role is not allowed; `pulumi up` puts each table's resource policy, read back from moto_server;
the pack's `dynamodb-guardrail` policy reports a Sentinel table without one, and is quiet when
the stack says an organization RCP covers its account.

One stack on a file:// backend and one moto_server, as tests/test_pulumi_cli.py. Its program is
the project's own with one more Sentinel table declared after it, with no resource policy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError

from remediation import guardrail as rail
from remediation.controls import GUARDRAIL
from tests.pulumi_cli import PACK, ROOT, Run, Workspace, locate
from tests.servers import MotoServer, dynamodb_client, moto_server

ACCOUNT = "123456789012"  # moto's
BREAK_GLASS = f"arn:aws:iam::{ACCOUNT}:role/BreakGlass"
DEPLOY = f"arn:aws:iam::{ACCOUNT}:role/deploy/Pulumi"
GUARDED = ("sentinel-breakglass", "sentinel-requests", "sentinel-sessions")
EXTRA = "sentinel-extra"
POLICY = GUARDRAIL.id

CLI, WHY_NOT = locate()
if CLI is None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true needs the real Pulumi CLI: {WHY_NOT}", pytrace=False)
    pytest.skip(WHY_NOT, allow_module_level=True)

PROGRAM = f'''\
"""The Sentinel program, and one more Sentinel table that has no resource policy."""
import runpy

import pulumi
import pulumi_aws as aws

runpy.run_path({str(ROOT / "__main__.py")!r}, run_name="__main__")
aws.dynamodb.Table(
    "extra",
    name="{EXTRA}",
    billing_mode="PAY_PER_REQUEST",
    hash_key="id",
    attributes=[aws.dynamodb.TableAttributeArgs(name="id", type="S")],
    deletion_protection_enabled=True,
    point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
    opts=pulumi.ResourceOptions(protect=True),
)
'''


def arn(name: str) -> str:
    return f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{name}"


def resource_policy(server: MotoServer, name: str) -> dict[str, object] | None:
    """The table's resource policy as moto_server holds it, or None."""
    try:
        answer = dynamodb_client(server.url).get_resource_policy(ResourceArn=arn(name))
    except ClientError as error:
        if error.response["Error"]["Code"] == "PolicyNotFoundException":
            return None
        raise
    document: dict[str, object] = json.loads(answer["Policy"])
    return document


def guardrail_lines(run: Run) -> list[str]:
    return [line for line in run.output.splitlines() if POLICY in line or "the guardrail" in line]


@dataclass
class Stack:
    space: Workspace
    server: MotoServer
    not_allowed: Run
    no_deploy_role: Run
    preview: Run
    up: Run
    again: Run
    covered: Run
    analyze: Run


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    assert CLI is not None
    source = tmp_path_factory.mktemp("source")
    (source / "Pulumi.yaml").symlink_to(ROOT / "Pulumi.yaml")
    (source / "__main__.py").write_text(PROGRAM)
    with moto_server() as server:
        space = Workspace(CLI, tmp_path_factory.mktemp("guardrail"), server.url, source=source)
        space.init({"guardrailDeployRole": f"arn:aws:iam::{ACCOUNT}:role/Other"})
        roles = (f"guardrailBreakGlassRoles[0]={BREAK_GLASS}", f"guardrailAllowRoles[0]={DEPLOY}")
        space.run("config", "set-all", "--path", *(a for r in roles for a in ("--plaintext", r)))
        not_allowed = space.preview()
        space.run("config", "rm", "guardrailDeployRole", check=True)
        no_deploy_role = space.preview()
        space.run("config", "set", "guardrailDeployRole", DEPLOY, check=True)
        preview = space.preview()
        up = space.up()
        again = space.preview()
        analyze = space.run("policy", "analyze", "--policy-pack", str(PACK))
        space.run("config", "set", "guardrailCoveredByRcp", "true", check=True)
        covered = space.preview()
        yield Stack(
            space, server, not_allowed, no_deploy_role, preview, up, again, covered, analyze
        )


def test_preview_should_stop_naming_a_deploy_role_the_guardrail_does_not_allow(
    stack: Stack,
) -> None:
    run = stack.not_allowed
    assert run.code != 0
    assert (
        f"guardrail: the deploy role arn:aws:iam::{ACCOUNT}:role/Other (guardrailDeployRole) is "
        "not among the allowed roles" in run.output
    ), run.output
    assert "Traceback" not in run.output


def test_preview_should_stop_when_no_deploy_role_is_named(stack: Stack) -> None:
    run = stack.no_deploy_role
    assert run.code != 0
    assert "guardrail: guardrailDeployRole is not set" in run.output, run.output
    assert "Traceback" not in run.output


def test_preview_with_the_deploy_role_allowed_should_plan_one_policy_per_guarded_table(
    stack: Stack,
) -> None:
    run = stack.preview
    assert run.code == 0, run.output
    assert "+ 8 to create" in run.output, run.output  # the stack, 4 tables, 3 resource policies
    # Already at preview, the table that no resource policy's ARN comes from is reported; the
    # others' policies are built from ARNs not known yet, and say they were not judged.
    assert f"{EXTRA}: the guardrail is missing" in run.output
    (unjudged,) = [line for line in run.output.splitlines() if "not judged until" in line]
    assert EXTRA not in unjudged and all(name in unjudged for name in GUARDED)


def test_up_should_put_the_guardrail_on_each_table_read_back_from_moto(stack: Stack) -> None:
    assert stack.up.code == 0, stack.up.output
    principals = rail.Principals(break_glass=(BREAK_GLASS,), allow=(DEPLOY,))
    for name in GUARDED:
        assert resource_policy(stack.server, name) == rail.table_policy(arn(name), principals)
    assert resource_policy(stack.server, EXTRA) is None


def test_the_pack_should_report_the_table_without_a_resource_policy_and_only_it(
    stack: Stack,
) -> None:
    # `pulumi policy analyze` sends the pack no stack config: the guardrail the stack declares on
    # its other tables is what asks for it there (in lenient mode, the floor of both).
    for run in (stack.up, stack.again, stack.analyze):
        assert run.code == 0, run.output
        lines = guardrail_lines(run)
        assert any(f"{EXTRA}: the guardrail is missing" in line for line in lines), run.output
        assert "[advisory]" in run.output
        assert not any(f"{name}: the guardrail is missing" in run.output for name in GUARDED)


def test_the_pack_should_be_quiet_when_the_stack_is_covered_by_an_rcp(stack: Stack) -> None:
    run = stack.covered
    assert run.code == 0, run.output
    assert "the guardrail is missing" not in run.output
