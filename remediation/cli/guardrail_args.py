"""The guardrail's flags, shared by `harden --guardrail` and the `guardrail` command: who may still
weaken or delete a guarded table, and whether UpdateTable is denied too."""

from __future__ import annotations

import argparse

from remediation import guardrail
from remediation.guardrail import Mode, Principals


def add_principal_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("guardrail principals (role ARNs; '*' and '?' allowed)")
    group.add_argument(
        "--break-glass-role",
        action="append",
        default=[],
        metavar="ARN",
        help="a break-glass role that may still weaken or delete a guarded table (at least one; "
        "repeatable)",
    )
    group.add_argument(
        "--allow-role",
        action="append",
        default=[],
        metavar="ARN",
        help="a deployer that must change tables, such as the Pulumi deploy role (repeatable)",
    )
    group.add_argument(
        "--guard-role",
        metavar="ARN",
        help="the runtime guard's role, when one is deployed (it re-protects tables)",
    )
    group.add_argument(
        "--guardrail-mode",
        choices=[m.value for m in Mode],
        default=Mode.STRICT.value,
        help="strict (default) also denies UpdateTable, the only call that turns deletion "
        "protection off; lenient leaves UpdateTable open and lets the guard repair it",
    )


def principals_from(
    args: argparse.Namespace, partition: str, hardener: str | None = None
) -> Principals:
    """The allowed principals the flags name, checked; raise guardrail.GuardrailError (one line,
    exit 3) on none or a malformed ARN."""
    principals = Principals(
        break_glass=tuple(args.break_glass_role),
        allow=tuple(args.allow_role),
        hardener=hardener,
        guard=args.guard_role,
    )
    guardrail.check_principals(principals, partition)
    return principals


def mode_from(args: argparse.Namespace) -> Mode:
    return Mode(args.guardrail_mode)
