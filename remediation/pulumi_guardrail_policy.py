"""The pack's `dynamodb-guardrail` policy: a stack policy over every table and resource policy.

A table's guardrail is a resource of its own (`aws.dynamodb.ResourcePolicy`) that names the table
by its ARN, so only a stack validation policy, which sees every resource, can tell whether a table
has one. It judges a stack that asks for the guardrail, as the CLI judges it only under
`--guardrail`: one whose config names a break-glass role (`guardrailBreakGlassRoles`), or that
declares the guardrail on any table. It is quiet when the stack's config says an organization RCP
covers its account (`guardrailCoveredByRcp`).
An RCP declared in the same stack never counts: RCPs are declared in the management or a
delegated-admin account, and have no effect on tables in the management account.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import policy as policy_module
from pulumi_policy.proxy import UnknownValueError

from remediation import guardrail as rail
from remediation.controls import GUARDRAIL
from remediation.core import Requirement, Selection
from remediation.pulumi_config import CouldNotJudge, config_schema
from remediation.pulumi_config import selection_from as _selection
from remediation.pulumi_meta import metadata
from remediation.pulumi_props import read_resource
from remediation.pulumi_state import RESOURCE_TYPES, TABLE

__all__ = [
    "ALLOW_ROLES_KEY",
    "BREAK_GLASS_ROLES_KEY",
    "COVERED_BY_RCP_KEY",
    "DEPLOY_ROLE_KEY",
    "MODE_KEY",
    "RCP_TYPE",
    "RESOURCE_POLICY",
    "guardrail_policy",
    "guards",
    "keep_stack_config",
]

# The stack config keys, shared with the program (remediation.transform.guardrail_from_config).
BREAK_GLASS_ROLES_KEY: Final = "guardrailBreakGlassRoles"
ALLOW_ROLES_KEY: Final = "guardrailAllowRoles"
MODE_KEY: Final = "guardrailMode"
DEPLOY_ROLE_KEY: Final = "guardrailDeployRole"
COVERED_BY_RCP_KEY: Final = "guardrailCoveredByRcp"
"""Read by this policy only: an organization RCP covers the stack's account."""

RESOURCE_POLICY: Final = "aws:dynamodb/resourcePolicy:ResourcePolicy"
ORGANIZATIONS_POLICY: Final = "aws:organizations/policy:Policy"
RCP_TYPE: Final = "RESOURCE_CONTROL_POLICY"


class _Unknown:
    """A value not known until the update runs (the engine's unknown marker)."""


UNKNOWN: Final = _Unknown()


def _get(props: Mapping[str, Any], key: str) -> Any:
    try:
        return props.get(key)
    except UnknownValueError:
        return UNKNOWN


@dataclass(frozen=True)
class _Asked:
    mode: rail.Mode
    covered: bool


def _asked(policies: Sequence[PolicyResource]) -> _Asked | None:
    """What the stack asks for; None when it asks for no guardrail.

    A stack asks by its config (a break-glass role), or by declaring the guardrail (our Sid) in
    any resource policy: then every Sentinel table of it must have one. Without the stack config
    (`pulumi policy analyze` sends none), the mode is the floor both modes deny (lenient)."""
    covered = _stack_value(COVERED_BY_RCP_KEY) == "true"
    if covered:
        return _Asked(rail.Mode.STRICT, True)
    by_config = _stack_value(BREAK_GLASS_ROLES_KEY) not in (None, "", "[]")
    if not by_config and not any(_declares_guardrail(p) for p in policies):
        return None
    if _stack_config() is None:
        return _Asked(rail.Mode.LENIENT, False)
    return _Asked(rail.mode_named(_stack_value(MODE_KEY) or rail.Mode.STRICT.value), False)


def _declares_guardrail(policy: PolicyResource) -> bool:
    document = _get(policy.props, "policy")
    if not isinstance(document, str):
        return False
    try:
        parsed = json.loads(document)
    except json.JSONDecodeError:
        return False
    statements = parsed.get("Statement", []) if isinstance(parsed, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    return any(isinstance(s, dict) and s.get("Sid") == rail.SID for s in statements)


_STACK: dict[str, Any] = {"project": None, "config": None}
"""The stack config the engine sends with ConfigureStack, kept by `keep_stack_config`."""


def keep_stack_config() -> None:
    """Keep the stack config the engine hands the pack in ConfigureStack.

    Pulumi's engine sends a pack the stack's config (project, keys and values) in ConfigureStack,
    and pulumi_policy 1.21 keeps only its tags; Python policies have no other way to read it (the
    CLI sets no PULUMI_CONFIG for a pack). So the pack's entry point wraps that one call of its
    analyzer servicer, a private class: if pulumi_policy renames it, the pack fails to start
    with an AttributeError rather than judging without the config.
    """
    servicer = policy_module._PolicyAnalyzerServicer
    configure_stack = servicer.ConfigureStack

    def keep(self: Any, request: Any, context: Any) -> Any:
        _STACK["project"] = request.project
        _STACK["config"] = dict(request.config)
        return configure_stack(self, request, context)

    servicer.ConfigureStack = keep  # type: ignore[method-assign,assignment]


def _stack_config() -> dict[str, str] | None:
    """The stack's config as `project:key` -> text: from ConfigureStack, else from PULUMI_CONFIG
    (older engines); None when the engine gave none."""
    config = _STACK["config"]
    if config is None:
        config = pulumi.runtime.get_config_env() or None
    project = _STACK["project"] or os.environ.get("PULUMI_PROJECT")
    return dict(config) if config is not None and project else None


def _stack_value(key: str) -> str | None:
    """A project key of the stack's config, as `pulumi config get` prints it (lists as JSON)."""
    config = _stack_config()
    if config is None:
        return None
    project = _STACK["project"] or os.environ.get("PULUMI_PROJECT")
    value = config.get(f"{project}:{key}")
    return value if isinstance(value, str) else None


def guards(document: Any, table_arn: str, mode: rail.Mode) -> bool:
    """Whether a policy document (JSON text or object) holds a statement that denies to everyone
    (`Principal: *`) every action the guardrail denies in `mode` on `table_arn`. The allowed
    principals in its condition are the program's to choose, and are not judged here."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return False
    if not isinstance(document, Mapping):
        return False
    statements = document.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    wanted = set(rail.denied_actions(rail.Form.TABLE, mode))
    return any(_denies(s, table_arn, wanted) for s in statements if isinstance(s, Mapping))


def _denies(statement: Mapping[str, Any], table_arn: str, wanted: set[str]) -> bool:
    principal = statement.get("Principal")
    if principal != "*" and not (isinstance(principal, Mapping) and principal.get("AWS") == "*"):
        return False
    actions = {a for a in _listed(statement.get("Action")) if isinstance(a, str)}
    resources = _listed(statement.get("Resource"))
    return (
        statement.get("Effect") == "Deny"
        and (wanted <= actions or "dynamodb:*" in actions or "*" in actions)
        and (table_arn in resources or "*" in resources)
    )


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _tables(
    resources: Sequence[PolicyResource], selection: Selection
) -> Iterator[tuple[PolicyResource, str | None, bool]]:
    """Every DynamoDB table resource of ours, with its physical name (None: not known yet), and
    whether this policy can judge it: an aws:dynamodb/table:Table without replicas. A replica's
    policy lives in its own region, and aws-native tables carry theirs inline; neither is judged
    here, and the policy says so rather than passing them."""
    for resource in resources:
        if resource.resource_type not in RESOURCE_TYPES:
            continue
        table = read_resource(resource.resource_type, resource.props, resource.name, Requirement())
        if table is None:
            continue
        if table.name is None or table.is_ours(selection):
            judged = resource.resource_type == TABLE and len(table.targets) == 1
            yield resource, table.name, judged


def _verdict(
    table: PolicyResource, policies: Sequence[PolicyResource], mode: rail.Mode
) -> bool | None:
    """True when a resource policy of the stack guards `table`, False when none does, None when
    that is not known until the update runs."""
    arn = _get(table.props, "arn")
    unknown = False
    for policy in policies:
        target = _get(policy.props, "resourceArn")
        depends = policy.property_dependencies.get("resourceArn", [])
        by_dependency = any(d.urn == table.urn for d in depends)
        if not (by_dependency or (isinstance(arn, str) and target == arn)):
            # The engine names what resourceArn came from: another resource's ARN is not ours.
            if (target is UNKNOWN or arn is UNKNOWN) and not depends:
                unknown = True  # may be this table's, once both are known
            continue
        document = _get(policy.props, "policy")
        if document is UNKNOWN or not isinstance(arn, str):
            unknown = True
        elif guards(document, arn, mode):
            return True
    return None if unknown else False


def _validate(args: StackValidationArgs, report: ReportViolation) -> None:
    policies = [r for r in args.resources if r.resource_type == RESOURCE_POLICY]
    asked = _asked(policies)
    if asked is None or asked.covered:
        return
    selection = _selection(args.get_config(), GUARDRAIL.id)
    rcps = [
        r
        for r in args.resources
        if r.resource_type == ORGANIZATIONS_POLICY and _get(r.props, "type") == RCP_TYPE
    ]
    not_known = []
    for table, name, judged in _tables(args.resources, selection):
        label = name or f"table {table.name!r}"
        if not judged:
            # Reported, never passed: at `mandatory` it blocks until someone looks.
            report(_not_judged(label, table.resource_type), table.urn)
            continue
        verdict = _verdict(table, policies, asked.mode)
        if verdict is None:
            not_known.append(label)
        elif not verdict:
            report(_message(label, asked.mode, bool(rcps)), table.urn)
    if not_known:
        raise CouldNotJudge(
            f"{GUARDRAIL.id}: not judged until the update runs (the table's ARN or its resource "
            f"policy is not known yet): {', '.join(not_known)}",
            "arn",
        )


def _not_judged(label: str, resource_type: str) -> str:
    if resource_type == TABLE:
        resource_type = f"{TABLE} with replicas"
    return (
        f"{label}: the guardrail was not judged: this policy judges the resource policies of "
        f"aws:dynamodb/table:Table resources without replicas, and this is an {resource_type}"
        " (a replica's policy lives in its own region; aws-native tables carry theirs inline). "
        "Fix: check its resource policy yourself, e.g. `python -m remediation harden --guardrail "
        "--dry-run`, or exclude it in this policy's config."
    )


def _message(label: str, mode: rail.Mode, rcp_in_stack: bool) -> str:
    actions = ", ".join(rail.denied_actions(rail.Form.TABLE, mode))
    rcp = (
        " An RCP declared in this stack does not count: RCPs bind member accounts, never the "
        "management account they are declared in."
        if rcp_in_stack
        else ""
    )
    return (
        f"{label}: the guardrail is missing: no aws.dynamodb.ResourcePolicy in this stack denies "
        f"{actions} on it to all but the allowed roles ({mode.value} mode).{rcp} Fix: declare "
        "remediation.transform.guard_table(...) for it (the Sentinel program does so for its "
        f"tables when {BREAK_GLASS_ROLES_KEY} is set), or set {COVERED_BY_RCP_KEY}: true if an "
        "organization RCP covers this account."
    )


def guardrail_policy() -> StackValidationPolicy:
    """Advisory by default, like the CLI's guardrail: asked for, never implied."""
    return StackValidationPolicy(
        name=GUARDRAIL.id,
        description=GUARDRAIL.description,
        validate=_validate,
        config_schema=config_schema(None),
        enforcement_level=EnforcementLevel.ADVISORY,
        **metadata(
            GUARDRAIL, GUARDRAIL.id, remediation=GUARDRAIL.remediation, tags=["guardrail-policy"]
        ),
    )
