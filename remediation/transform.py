"""A Pulumi resource transform that protects a program's own Sentinel tables at the source.

Register it once, before the tables are declared:

    pulumi.runtime.register_resource_transform(protect_tables())

It reads each DynamoDB table's inputs with the same functions as the policy pack
(`remediation.pulumi_policies`), asks the core what is missing, and turns it on.

The guardrail (issue 19) is a resource of its own, an `aws.dynamodb.ResourcePolicy` whose document
names the table's ARN, an output. A transform sees a resource's inputs only and cannot declare a
sibling that waits on its outputs, so the guardrail is declared beside the table by `guard_table`,
from the stack config `guardrail_from_config` reads:

    guardrail = guardrail_from_config(pulumi.Config())      # None when the stack asks for none
    if guardrail is not None:
        guard_table("requests-guardrail", table, guardrail)
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from remediation import guardrail as rail
from remediation.core import DEFAULT_PREFIX, Requirement, Selection
from remediation.guardrail import covers as allows
from remediation.pulumi_guardrail_policy import (
    ALLOW_ROLES_KEY,
    BREAK_GLASS_ROLES_KEY,
    DEPLOY_ROLE_KEY,
    MODE_KEY,
)
from remediation.pulumi_policies import RESOURCE_TYPES, enable, judge

__all__ = [
    "TableGuardrail",
    "allows",
    "guard_table",
    "guardrail_from_config",
    "protect_tables",
]


def protect_tables(
    prefix: str = DEFAULT_PREFIX,
    min_recovery_days: int | None = None,
    *,
    exclude: Iterable[str] = (),
    protect: bool = True,
) -> pulumi.ResourceTransform:
    """A transform enabling deletion protection and PITR on every table named `prefix`*, except
    those an `exclude` glob matches (the same rule as the pack's `exclude` config), and with
    `protect` Pulumi's own `protect` resource option, so `pulumi destroy` refuses to delete it."""
    patterns = (exclude,) if isinstance(exclude, str) else tuple(exclude)
    selection = Selection(prefix, patterns)
    requirement = Requirement(min_recovery_days=min_recovery_days)

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if args.type_ not in RESOURCE_TYPES:
            return None  # before copying: other resources' inputs may hold resource references
        props = copy.deepcopy(dict(args.props))
        judged = judge(args.type_, props, args.name, selection, requirement)
        if judged is None:
            return None
        unprotected = protect and not (args.opts and args.opts.protect)
        if not judged.findings and not unprotected:
            return None
        if judged.resource.name is None:
            # Preview only: during the update the name is known and this runs again.
            if judged.findings:
                pulumi.log.warn(judged.resource.unjudged_name(judged.findings, prefix))
            return None
        if judged.left_alone is not None:
            return None
        for finding in judged.findings:
            if not enable(finding, requirement):
                pulumi.log.warn(finding.message(requirement))
        opts = args.opts
        if unprotected:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True))
        return pulumi.ResourceTransformResult(props=props, opts=opts)

    return transform


@dataclass(frozen=True)
class TableGuardrail:
    """The guardrail a program declares on each of its tables: who may still weaken or delete
    them, and whether UpdateTable is denied too."""

    principals: rail.Principals
    mode: rail.Mode = rail.Mode.STRICT


def guardrail_from_config(config: pulumi.Config) -> TableGuardrail | None:
    """The guardrail the stack config asks for, None when it names no break-glass role.

    Raise pulumi.RunError (one line, before any resource is declared) for a malformed role ARN,
    allowed roles without a break-glass role, an unknown mode, and a deploy role
    (`guardrailDeployRole`) that is missing or not allowed: the guardrail denies UpdateTable and
    PutResourcePolicy to everyone else, so the next `pulumi up` would be locked out.
    """
    break_glass = _roles(config, BREAK_GLASS_ROLES_KEY)
    allow = _roles(config, ALLOW_ROLES_KEY)
    if not break_glass and not allow:
        return None
    principals = rail.Principals(break_glass=break_glass, allow=allow)
    deploy_role = config.get(DEPLOY_ROLE_KEY)
    try:
        if not break_glass:
            raise rail.GuardrailError(
                f"{ALLOW_ROLES_KEY} is set but {BREAK_GLASS_ROLES_KEY} is not: the guardrail "
                "needs at least one break-glass role"
            )
        partition = rail.arn_partition(break_glass[0])
        rail.check_principals(principals, partition)
        mode = rail.mode_named(config.get(MODE_KEY) or rail.Mode.STRICT.value)
        if not deploy_role:
            raise rail.GuardrailError(
                f"{DEPLOY_ROLE_KEY} is not set: the guardrail denies UpdateTable and "
                "PutResourcePolicy to every role it does not allow, so name the role `pulumi up` "
                "runs as (its ARN with its path) and allow it in "
                f"{ALLOW_ROLES_KEY}, or the next `pulumi up` is locked out"
            )
        rail.check_role_arn(deploy_role, partition)
    except rail.GuardrailError as error:
        raise pulumi.RunError(f"guardrail: {error}") from None
    if not rail.allows(principals, deploy_role):
        raise pulumi.RunError(
            f"guardrail: the deploy role {deploy_role} ({DEPLOY_ROLE_KEY}) is not among the "
            f"allowed roles ({BREAK_GLASS_ROLES_KEY}, {ALLOW_ROLES_KEY}): after this update the "
            "guardrail would deny it UpdateTable and PutResourcePolicy, locking the next "
            f"`pulumi up` out; add it to {ALLOW_ROLES_KEY}"
        )
    if mode is rail.Mode.LENIENT:
        pulumi.log.warn(f"guardrail: {rail.LENIENT_LEAVES_OPEN}")
    return TableGuardrail(principals, mode)


def _roles(config: pulumi.Config, key: str) -> tuple[str, ...]:
    value = config.get_object(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise pulumi.RunError(f"guardrail: {key} must be a list of role ARNs, got {value!r}")
    return tuple(value)


def guard_table(
    name: str,
    table: aws.dynamodb.Table,
    guardrail: TableGuardrail,
    *,
    guard_role: pulumi.Input[str] | None = None,
    opts: pulumi.ResourceOptions | None = None,
) -> aws.dynamodb.ResourcePolicy:
    """The guardrail as `table`'s resource policy, built from its ARN once that is known; with
    `guard_role`, the runtime guard's role (an output, path and all) is allowed too."""

    def document(args: list[str | None]) -> str:
        arn, guard = args
        principals = rail.Principals(
            break_glass=guardrail.principals.break_glass,
            allow=guardrail.principals.allow,
            guard=guard,
        )
        return rail.dumps(rail.table_policy(arn or "", principals, guardrail.mode))

    policy = pulumi.Output.all(table.arn, guard_role).apply(document)
    return aws.dynamodb.ResourcePolicy(name, resource_arn=table.arn, policy=policy, opts=opts)
