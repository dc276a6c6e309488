"""`harden --guardrail`: the flags that add the table-policy guardrail as a third control, checked
before any call, and the guardrail they ask for (the hardener's own role is added by the run)."""

from __future__ import annotations

import argparse
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from remediation import guardrail
from remediation.cli.guardrail_args import add_principal_arguments, mode_from
from remediation.guardrail import GuardrailError, Principals, TableGuardrail

if TYPE_CHECKING:
    from remediation import aws
    from remediation.targets import Scope

ROLE_ACTION = "iam:GetRole"
"""The one IAM action `harden --guardrail` needs beyond DynamoDB's: the hardener's own role's path
(sts:GetCallerIdentity needs no permission); not called when --allow-role names that role."""

_PRINCIPAL_FLAGS = ("break_glass_role", "allow_role", "guard_role")


def add_arguments(harden: argparse.ArgumentParser) -> None:
    harden.add_argument(
        "--guardrail",
        action="store_true",
        help="also put the guardrail on each table: a resource policy, merged by Sid into the "
        "table's own, that denies DeleteTable, UpdateContinuousBackups, UpdateTable (strict) and "
        "changes to the policy itself to all but the allowed roles",
    )
    harden.add_argument(
        "--confirm-remove-self-access",
        action="store_true",
        help="with --guardrail: put it even when the caller is not among the allowed roles, so "
        "that it can no longer change the tables' policies (ConfirmRemoveSelfResourceAccess)",
    )
    add_principal_arguments(harden)


def asked(args: argparse.Namespace) -> TableGuardrail | None:
    """The guardrail the flags ask for, or None; raise GuardrailError (one line, exit 3) on a
    missing --break-glass-role, a malformed role ARN, ARNs from two partitions, or a principal
    flag without --guardrail."""
    if not args.guardrail:
        given = [f for f in _PRINCIPAL_FLAGS if getattr(args, f)]
        if given or args.confirm_remove_self_access:
            flag = "--" + (given[0] if given else "confirm_remove_self_access").replace("_", "-")
            raise GuardrailError(f"{flag} is about the guardrail: pass --guardrail as well")
        return None
    principals = Principals(
        break_glass=tuple(args.break_glass_role),
        allow=tuple(args.allow_role),
        guard=args.guard_role,
    )
    arns = principals.arns()
    first = arns[0].split(":") if arns else []
    partition = first[1] if len(first) > 1 and first[0] == "arn" else "aws"
    guardrail.check_principals(principals, partition)
    return TableGuardrail(principals, mode_from(args), args.confirm_remove_self_access)


@dataclass(frozen=True)
class Resolved:
    """The guardrail as the run puts it, and how the hardener's role was found (for the report)."""

    guardrail: TableGuardrail
    hardener_role_arn: str | None
    hardener_role_source: str


def resolve(
    asked: TableGuardrail, scope: Scope, settings: aws.Settings, *, check: bool = False
) -> Resolved:
    """Add the hardener's own role (with its path) to the allowed principals, and decide
    ConfirmRemoveSelfResourceAccess. Raise GuardrailError (exit 3) for an ARN of another partition
    (before any call), and when a caller that writes the policies is not allowed and
    --confirm-remove-self-access was not given; aws.SetupError when STS cannot say who calls."""
    from remediation import aws
    from remediation.aws.session import region_partition

    partition = region_partition(settings.region, settings.profile)
    guardrail.check_principals(asked.principals, partition)
    session = aws.make_session(settings)
    region = settings.region or aws.session_region(session)
    identity = aws.Identity(session, region, settings, threading.Event())
    try:
        role = aws.hardener_role(identity, asked.principals.allow)
    except aws.CallFailed as exc:
        if exc.error.action != ROLE_ACTION and not check:
            raise aws.SetupError(f"cannot tell who the hardener is: {exc.error}") from None
        # Denied iam:GetRole: the role's path is unknown, so it cannot be allowed by its ARN.
        role = aws.HardenerRole(None, f"unknown: {exc.error}")
    principals = replace(asked.principals, hardener=role.arn)
    if check:
        # --check writes nothing: its caller need not be allowed, and the statement a writer put
        # counts whether or not it names this caller's role (a CI role checking the hardener's
        # work finds the statement built from the flags alone).
        judged = TableGuardrail(asked.principals, asked.mode, also=(principals,))
        return Resolved(judged, role.arn, role.source)
    writers = [role.arn or "the caller"]
    writers += list(scope.role_arns)
    if scope.role_name is not None:  # any account of the organization: only a '*' account fits
        writers.append(f"arn:{partition}:iam::*:role/{scope.role_name}")
    outside = [arn for arn in writers if not guardrail.allows(principals, arn)]
    if outside and not asked.confirm_remove_self_access:
        if outside[0] == "the caller":  # no role: nothing --allow-role could name
            raise GuardrailError(
                f"{role.source}; the guardrail would then deny this caller any later change to "
                "the tables' policies: run as a role named with --allow-role, or pass "
                "--confirm-remove-self-access"
            )
        raise GuardrailError(
            f"{outside[0]} writes the tables' policies but is not among the guardrail's allowed "
            "roles, so the guardrail would deny it any later change to them: name it with "
            "--allow-role, or pass --confirm-remove-self-access"
        )
    return Resolved(
        TableGuardrail(principals, asked.mode, confirm_remove_self_access=bool(outside)),
        role.arn,
        role.source,
    )
