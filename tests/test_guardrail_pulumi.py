"""The guardrail in Pulumi (issue 19 item 4): the program's table policies and the deploy-role
check under mocks, the OrganizationGuardrail component, and the pack's `dynamodb-guardrail` stack
policy driven over real gRPC by the analyzer engine stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from remediation import guardrail as rail
from remediation.controls import GUARDRAIL
from remediation.guardrail_component import OrganizationGuardrail
from remediation.pulumi_guardrail_policy import RESOURCE_POLICY, guards
from remediation.pulumi_policies import NATIVE_TABLE, TABLE, TABLE_REPLICA
from remediation.transform import TableGuardrail, allows, guard_table
from tests.analyzer_engine import (
    ACCOUNT,
    PACK_DIR,
    PROJECT,
    REGION,
    UNKNOWN,
    AnalyzerEngine,
    Diagnostic,
    Resource,
    capture_program,
)

BREAK_GLASS = f"arn:aws:iam::{ACCOUNT}:role/BreakGlass"
DEPLOY = f"arn:aws:iam::{ACCOUNT}:role/deploy/Pulumi"
NAMES = ("sentinel-breakglass", "sentinel-requests", "sentinel-sessions")
POLICY = GUARDRAIL.id


def arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def stack(**keys: Any) -> dict[str, str]:
    """Stack config as `project:key` strings (lists as JSON, as `pulumi config set --path`)."""
    return {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in keys.items()}


GUARDED = stack(
    guardrailBreakGlassRoles=[BREAK_GLASS],
    guardrailAllowRoles=[DEPLOY],
    guardrailDeployRole=DEPLOY,
)
PRINCIPALS = rail.Principals(break_glass=(BREAK_GLASS,), allow=(DEPLOY,))


def policies_of(resources: list[Resource]) -> dict[str, dict[str, Any]]:
    """resourceArn -> the resource policy document the program declares for it."""
    return {
        r.props["resourceArn"]: json.loads(r.props["policy"])
        for r in resources
        if r.type == RESOURCE_POLICY
    }


# --- the program -------------------------------------------------------------------------------


def test_the_program_should_declare_the_guardrail_as_each_tables_resource_policy() -> None:
    resources = capture_program(config=GUARDED, preview=False)
    declared = policies_of(resources)
    assert set(declared) == {arn(n) for n in NAMES}
    for name in NAMES:
        assert declared[arn(name)] == rail.table_policy(arn(name), PRINCIPALS, rail.Mode.STRICT)
        assert guards(declared[arn(name)], arn(name), rail.Mode.STRICT)


def test_lenient_mode_should_leave_update_table_out_of_the_tables_policies() -> None:
    resources = capture_program(config={**GUARDED, **stack(guardrailMode="lenient")}, preview=False)
    for table_arn, document in policies_of(resources).items():
        assert document == rail.table_policy(table_arn, PRINCIPALS, rail.Mode.LENIENT)
        assert rail.UPDATE_TABLE not in document["Statement"][0]["Action"]


def test_a_stack_without_a_break_glass_role_should_declare_no_resource_policy() -> None:
    resources = capture_program(preview=False)
    assert [r.type for r in resources] == [TABLE] * 3


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (
            {"guardrailDeployRole": ""},
            "guardrailDeployRole is not set",
        ),
        (
            {"guardrailDeployRole": f"arn:aws:iam::{ACCOUNT}:role/Other"},
            f"the deploy role arn:aws:iam::{ACCOUNT}:role/Other (guardrailDeployRole) is not "
            "among the allowed roles",
        ),
        (
            {"guardrailBreakGlassRoles": [], "guardrailAllowRoles": [DEPLOY]},
            "guardrailAllowRoles is set but guardrailBreakGlassRoles is not",
        ),
        ({"guardrailBreakGlassRoles": ["BreakGlass"]}, "not an ARN: 'BreakGlass'"),
        (
            {"guardrailAllowRoles": [f"arn:aws-cn:iam::{ACCOUNT}:role/deploy/Pulumi"]},
            "is in partition 'aws-cn'",
        ),
        ({"guardrailMode": "loose"}, "guardrail mode must be 'strict' or 'lenient'"),
        ({"guardrailAllowRoles": "[1]"}, "guardrailAllowRoles must be a list of role ARNs"),
    ],
)
def test_a_guardrail_that_would_lock_pulumi_out_or_is_malformed_should_stop_the_preview(
    config: dict[str, Any], words: str
) -> None:
    with pytest.raises(pulumi.RunError) as raised:
        capture_program(config={**GUARDED, **stack(**config)})
    message = str(raised.value)
    assert message.startswith("guardrail: ") and words in message and "\n" not in message


def test_a_deploy_role_matched_by_a_wildcard_should_be_allowed() -> None:
    config = {
        **GUARDED,
        **stack(guardrailAllowRoles=[f"arn:aws:iam::{ACCOUNT}:role/deploy/*"]),
    }
    assert len(policies_of(capture_program(config=config, preview=False))) == 3


@pytest.mark.parametrize(
    ("pattern", "arn_", "expected"),
    [
        (DEPLOY, DEPLOY, True),
        ("arn:aws:iam::*:role/deploy/*", DEPLOY, True),
        ("arn:aws:iam::*:role/Pulumi", DEPLOY, False),  # the path is part of the ARN
        ("arn:aws:iam::*:role/*/Pulumi", DEPLOY, True),
        ("arn:aws:iam::12345678901?:role/deploy/Pulumi", DEPLOY, True),
        ("arn:aws:iam::*", DEPLOY, False),  # ArnLike matches each `:` part on its own
        ("arn:aws:iam::*:role/deploy/pulumi", DEPLOY, False),  # case-sensitive
    ],
)
def test_allows_should_match_as_iams_arn_like(pattern: str, arn_: str, expected: bool) -> None:
    assert allows(pattern, arn_) is expected


def test_guard_table_should_allow_the_guards_role_too() -> None:
    guard_role = f"arn:aws:iam::{ACCOUNT}:role/sentinel/sentinel-guard-role-1a2b3c"

    def program() -> None:
        table = aws.dynamodb.Table("t", name="sentinel-t", hash_key="id")
        guard_table("t-guardrail", table, TableGuardrail(PRINCIPALS), guard_role=guard_role)

    (document,) = policies_of(capture_program(program, preview=False)).values()
    with_guard = rail.Principals(PRINCIPALS.break_glass, PRINCIPALS.allow, guard=guard_role)
    assert document == rail.table_policy(arn("sentinel-t"), with_guard)
    assert guard_role in document["Statement"][0]["Condition"]["ArnNotLike"]["aws:PrincipalArn"]


# --- the OrganizationGuardrail component -------------------------------------------------------


def test_organization_guardrail_should_declare_the_rcp_and_attach_it_to_each_target() -> None:
    def program() -> None:
        OrganizationGuardrail(
            "sentinel-guardrail",
            principals=PRINCIPALS,
            mode=rail.Mode.LENIENT,
            target_ids=["ou-abcd-11111111", "222233334444"],
        )

    resources = capture_program(program, preview=False)
    (policy,) = [r for r in resources if r.type == "aws:organizations/policy:Policy"]
    assert policy.props["type"] == "RESOURCE_CONTROL_POLICY"
    wanted = rail.rcp(rail.Selection("sentinel-"), PRINCIPALS, rail.Mode.LENIENT)
    assert json.loads(policy.props["content"]) == wanted
    attachments = [r for r in resources if r.type.endswith("policyAttachment:PolicyAttachment")]
    assert sorted(a.props["targetId"] for a in attachments) == ["222233334444", "ou-abcd-11111111"]
    assert {a.props["policyId"] for a in attachments} == {"sentinel-guardrail-id"}


def test_organization_guardrail_should_refuse_an_exclusion_no_rcp_can_express() -> None:
    def program() -> None:
        OrganizationGuardrail(
            "sentinel-guardrail", principals=PRINCIPALS, exclude=["sentinel-scratch-*"]
        )

    with pytest.raises(rail.GuardrailError, match="an RCP cannot exempt a table by name"):
        capture_program(program, preview=False)


# --- the pack's dynamodb-guardrail stack policy ------------------------------------------------


def table(name: str, table_arn: str | None = None) -> Resource:
    props = {"name": name, "arn": table_arn or arn(name), "hashKey": "id"}
    return Resource(TABLE, name.removeprefix("sentinel-"), props)


def resource_policy(name: str, document: Any, table_arn: str | None = None) -> Resource:
    text = document if isinstance(document, str) else json.dumps(document)
    props = {"resourceArn": table_arn or arn(name), "policy": text}
    return Resource(RESOURCE_POLICY, f"{name}-guardrail", props)


def guarded(name: str, mode: rail.Mode = rail.Mode.STRICT) -> list[Resource]:
    return [table(name), resource_policy(name, rail.table_policy(arn(name), PRINCIPALS, mode))]


RCP = Resource(
    "aws:organizations/policy:Policy",
    "rcp",
    {"type": "RESOURCE_CONTROL_POLICY", "content": "{}"},
)


@pytest.fixture(scope="module")
def asked() -> Iterator[AnalyzerEngine]:
    """The pack for a stack whose config names a break-glass role."""
    with AnalyzerEngine(stack_config=GUARDED, dry_run=False) as engine:
        yield engine


def ours(diagnostics: tuple[Diagnostic, ...]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.policy == POLICY]


def test_the_guardrail_policy_should_be_quiet_when_every_table_has_its_policy(
    asked: AnalyzerEngine,
) -> None:
    resources = [r for n in NAMES for r in guarded(n)]
    assert ours(asked.analyze_stack(resources)) == []


def test_the_guardrail_policy_should_report_a_table_without_a_resource_policy_as_advisory(
    asked: AnalyzerEngine,
) -> None:
    resources = [*guarded("sentinel-requests"), table("sentinel-sessions"), table("other-table")]
    (diagnostic,) = ours(asked.analyze_stack(resources))
    assert diagnostic.level == "advisory"
    assert diagnostic.urn == table("sentinel-sessions").urn
    assert "sentinel-sessions: the guardrail is missing" in diagnostic.message
    assert "guardrailCoveredByRcp: true" in diagnostic.message


@pytest.mark.parametrize(
    "document",
    [
        {"Version": "2012-10-17", "Statement": []},
        "not json",
        # Someone else's statement, allowing: not a guardrail.
        {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "dynamodb:*"}]},
        # The guardrail of another table.
        rail.table_policy(arn("sentinel-other"), PRINCIPALS),
        # Lenient when the stack asks for strict.
        rail.table_policy(arn("sentinel-requests"), PRINCIPALS, rail.Mode.LENIENT),
    ],
)
def test_the_guardrail_policy_should_report_a_resource_policy_without_the_guardrail(
    asked: AnalyzerEngine, document: Any
) -> None:
    resources = [table("sentinel-requests"), resource_policy("sentinel-requests", document)]
    (diagnostic,) = ours(asked.analyze_stack(resources))
    assert "sentinel-requests: the guardrail is missing" in diagnostic.message


def test_an_rcp_in_the_same_stack_should_never_count_as_coverage(asked: AnalyzerEngine) -> None:
    (diagnostic,) = ours(asked.analyze_stack([table("sentinel-requests"), RCP]))
    assert "An RCP declared in this stack does not count" in diagnostic.message


def test_the_guardrail_policy_should_not_judge_a_table_whose_arn_is_unknown(
    asked: AnalyzerEngine,
) -> None:
    resources = [table("sentinel-requests", UNKNOWN), resource_policy("x", "{}", UNKNOWN)]
    (diagnostic,) = ours(asked.analyze_stack(resources))
    assert diagnostic.level == "advisory" and "can't run policy" in diagnostic.message
    assert "not judged until the update runs" in diagnostic.message
    assert "sentinel-requests" in diagnostic.message


@pytest.mark.parametrize(
    "config",
    [
        {**GUARDED, **stack(guardrailCoveredByRcp="true")},
        stack(guardrailCoveredByRcp="true"),
        {},  # no guardrail asked for: like the CLI without --guardrail
    ],
)
def test_the_guardrail_policy_should_be_quiet_when_covered_by_an_rcp_or_not_asked(
    config: Mapping[str, str],
) -> None:
    with AnalyzerEngine(stack_config=config, dry_run=False) as engine:
        assert ours(engine.analyze_stack([table("sentinel-requests"), RCP])) == []


def test_the_guardrail_policy_should_judge_the_mode_the_stack_asks_for(tmp_path: Path) -> None:
    config = {**GUARDED, **stack(guardrailMode="lenient")}
    excluded = tmp_path / "exclude.json"
    excluded.write_text(json.dumps({POLICY: {"exclude": ["sentinel-scratch-*"]}}))
    with AnalyzerEngine(stack_config=config, dry_run=False, policy_config=excluded) as engine:
        resources = [*guarded("sentinel-requests", rail.Mode.LENIENT), table("sentinel-scratch-1")]
        assert ours(engine.analyze_stack(resources)) == []


def test_a_mandatory_config_should_make_the_guardrail_policy_block() -> None:
    mandatory = PACK_DIR / "config" / "mandatory.json"
    with AnalyzerEngine(stack_config=GUARDED, dry_run=False, policy_config=mandatory) as engine:
        (diagnostic,) = ours(engine.analyze_stack([table("sentinel-requests")]))
    assert diagnostic.level == "mandatory"


@pytest.mark.parametrize(
    "resource",
    [
        Resource(
            TABLE,
            "global",
            {
                "name": "sentinel-global",
                "arn": arn("sentinel-global"),
                "replicas": [{"regionName": "eu-west-1"}],
            },
        ),
        Resource(NATIVE_TABLE, "native", {"tableName": "sentinel-native"}),
        Resource(TABLE_REPLICA, "replica", {"globalTableArn": arn("sentinel-replicated")}),
    ],
)
def test_a_table_this_policy_cannot_judge_should_be_reported_never_passed(
    asked: AnalyzerEngine, resource: Resource
) -> None:
    policy = resource_policy(
        "sentinel-global", rail.table_policy(arn("sentinel-global"), PRINCIPALS)
    )
    (diagnostic,) = ours(asked.analyze_stack([resource, policy]))
    assert diagnostic.urn == resource.urn and diagnostic.level == "advisory"
    assert "the guardrail was not judged" in diagnostic.message
    assert resource.type in diagnostic.message


def test_a_stack_that_declares_the_guardrail_anywhere_should_be_judged_without_config() -> None:
    # `pulumi policy analyze` sends no stack config: the guardrail declared on one table asks
    # for it on every Sentinel table of the stack.
    with AnalyzerEngine(dry_run=False) as engine:
        resources = [*guarded("sentinel-requests"), table("sentinel-sessions")]
        (diagnostic,) = ours(engine.analyze_stack(resources))
        assert "sentinel-sessions: the guardrail is missing" in diagnostic.message
        assert ours(engine.analyze_stack([table("sentinel-sessions")])) == []


class _OrganizationMocks(pulumi.runtime.Mocks):
    """Mocks whose getOrganization answers with one root, as a management account's would."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == "aws:organizations/getOrganization:getOrganization":
            return {"id": "o-example", "roots": [{"id": "r-abcd", "name": "Root"}]}
        return {}


def test_organization_guardrail_without_targets_should_attach_to_the_organizations_root() -> None:
    mocks = _OrganizationMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="management", preview=False)

    @pulumi.runtime.test  # type: ignore[misc]
    def declare() -> pulumi.Output[Any]:
        component = OrganizationGuardrail("sentinel-guardrail", principals=PRINCIPALS)
        (attachment,) = component.attachments
        return attachment.target_id

    declare()
    (attachment,) = [r for r in mocks.resources if r.typ.endswith("PolicyAttachment")]
    assert attachment.inputs["targetId"] == "r-abcd"
