"""`python -m remediation guardrail --rcp`: the guardrail as an organization's Resource Control
Policy. Without --apply it prints the policy (stdout) and what it means (stderr); with --apply it
creates or updates the policy by name, enables the RCP type on the root and attaches the policy
to the root or --target-id, once confirmed (or --force); --dry-run shows those steps and stops.

Read everything, then judge (`plan`, pure), then act; the outcome is read back from AWS.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from remediation import core, guardrail
from remediation.cli.guardrail_args import add_principal_arguments, mode_from, principals_from
from remediation.cli.status import ExitStatus
from remediation.guardrail import GuardrailError, Mode, Principals

if TYPE_CHECKING:
    from remediation.aws.organizations_policies import FoundPolicy, Organization

DEFAULT_POLICY_NAME = "sentinel-guardrail"
DESCRIPTION = (
    "Sentinel guardrail: only named principals may delete a {prefix}* DynamoDB table or weaken "
    "its deletion protection or PITR (python -m remediation guardrail --rcp)"
)
_TARGET_ID = re.compile(r"r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|\d{12}")
_POLICY_NAME = re.compile(r"[\s\S]{1,128}")

DESCRIPTION_TEXT = (
    "Print the guardrail as an AWS Organizations Resource Control Policy (RCP): it denies "
    "DeleteTable, UpdateContinuousBackups and (strict) UpdateTable on <prefix>* tables in every "
    "member account to all but the named roles. With --apply: create or update it, enable the "
    "RCP type on the root, attach it."
)
EPILOG = (
    "exit status: 0 printed, applied or already in place (or dry run), 1 a change failed or did "
    "not read back, 2 cancelled at the prompt, 3 bad input (a role ARN, an exclusion an RCP "
    "cannot express, a policy over 5,120 characters), 4 AWS unusable (credentials, the "
    "caller's identity or role, no organization, the organization unreadable)"
)


def add_parser(commands: Any) -> None:
    """Register `guardrail` on the module's subcommands (argparse's _SubParsersAction)."""
    parser = commands.add_parser(
        "guardrail",
        help="print or apply the guardrail as an organization's RCP",
        description=DESCRIPTION_TEXT,
        epilog=EPILOG,
    )
    parser.add_argument(
        "--rcp",
        action="store_true",
        help="the Resource Control Policy form (the table-policy form is harden --guardrail)",
    )
    parser.add_argument(
        "--prefix",
        default=core.DEFAULT_PREFIX,
        help="case-sensitive name prefix of the guarded tables (default: %(default)s)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="refused when it can match a table under the prefix: an RCP cannot exempt a table",
    )
    add_principal_arguments(parser)
    parser.add_argument(
        "--apply", action="store_true", help="create or update the RCP, and attach it"
    )
    parser.add_argument(
        "--target-id",
        metavar="ID",
        help="attach to this OU (ou-...) or account (12 digits) instead of the root",
    )
    parser.add_argument(
        "--policy-name",
        default=DEFAULT_POLICY_NAME,
        metavar="NAME",
        help="the RCP's name, by which it is found and updated (default: %(default)s)",
    )
    parser.add_argument("--dry-run", action="store_true", help="show what --apply would do")
    parser.add_argument("--force", action="store_true", help="apply without a prompt")
    parser.add_argument("--aws-profile", metavar="PROFILE", help="AWS profile for credentials")
    parser.add_argument(
        "--region",
        action="append",
        default=[],
        help="where to look for tables in the management account, which no RCP covers "
        "(repeatable; default: from the profile or environment)",
    )
    parser.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="endpoint of every service the command calls: STS, IAM, Organizations, DynamoDB",
    )


@dataclass(frozen=True)
class RcpOptions:
    selection: core.Selection
    mode: Mode
    args: argparse.Namespace
    """The principal flags, read again once the hardener's role is known."""
    partition: str
    regions: tuple[str, ...]
    apply: bool
    dry_run: bool
    force: bool
    target_id: str | None
    policy_name: str
    profile: str | None
    endpoint_url: str | None


class _Usage(Exception):
    pass


def parse(args: argparse.Namespace) -> RcpOptions:
    """The checked options; _Usage (exit 3) for bad input, before any call."""
    if not args.rcp:
        raise _Usage("guardrail needs --rcp (the table-policy form is `harden --guardrail`)")
    if not args.prefix:
        raise _Usage("an RCP over an empty --prefix would guard every table: give a prefix")
    if "" in args.exclude:
        raise _Usage("--exclude needs a glob such as 'sentinel-scratch-*', got ''")
    if args.target_id is not None and not _TARGET_ID.fullmatch(args.target_id):
        raise _Usage(
            f"--target-id {args.target_id!r} is not a root (r-...), OU (ou-...-...) or "
            "account id (12 digits)"
        )
    if args.target_id is not None and not (args.apply or args.dry_run):
        raise _Usage("--target-id is where --apply attaches the policy: add --apply")
    if args.force and not args.apply:
        raise _Usage("--force answers the --apply prompt: add --apply")
    if not _POLICY_NAME.fullmatch(args.policy_name):
        raise _Usage("--policy-name must be 1 to 128 characters")
    regions = tuple(dict.fromkeys(args.region))
    partition = _partition(regions[0] if regions else None, args.aws_profile)
    selection = core.Selection(args.prefix, tuple(args.exclude))
    mode = mode_from(args)
    try:
        guardrail.rcp(selection, principals_from(args, partition), mode, partition)
    except GuardrailError as exc:
        raise _Usage(str(exc)) from None
    return RcpOptions(
        selection=selection,
        mode=mode,
        args=args,
        partition=partition,
        regions=regions,
        apply=args.apply or args.dry_run,
        dry_run=args.dry_run,
        force=args.force,
        target_id=args.target_id,
        policy_name=args.policy_name,
        profile=args.aws_profile,
        endpoint_url=args.endpoint_url,
    )


def _partition(region: str | None, profile: str | None) -> str:
    """The partition of the region named or configured (no call)."""
    from remediation.aws.session import SetupError, region_partition

    try:
        return region_partition(region, profile)
    except SetupError as exc:
        raise _Usage(f"--region/--aws-profile: {exc}") from None


# -- judge: what --apply must do ------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The steps that bring the organization to the wanted RCP; none when it is there."""

    enable_on: str | None
    create: bool
    update: str | None
    """The id of the policy whose content changes."""
    attach_to: str | None

    def steps(self, name: str) -> list[str]:
        lines = []
        if self.enable_on:
            lines.append(f"enable the RESOURCE_CONTROL_POLICY type on the root {self.enable_on}")
        if self.create:
            lines.append(f"create the RCP {name!r}")
        if self.update:
            lines.append(f"update the RCP {name!r} ({self.update}) to this content")
        if self.attach_to:
            lines.append(f"attach it to {self.attach_to}")
        return lines


def plan(
    organization: Organization, found: FoundPolicy | None, wanted: dict[str, Any], target: str
) -> Plan:
    """Pure: enable the type if the root lacks it, create or update the policy by content, attach
    it where it is not yet attached (never detach it from anywhere else)."""
    same = found is not None and parsed(found.content) == wanted
    return Plan(
        enable_on=None if organization.rcp_listed else organization.root_id,
        create=found is None,
        update=found.id if found is not None and not same else None,
        attach_to=target if found is None or target not in found.targets else None,
    )


def parsed(content: str) -> object:
    """A policy's content as JSON, or None when it is not JSON (never equal to ours)."""
    try:
        return json.loads(content)
    except json.JSONDecodeError:
        return None


# -- the run --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Streams:
    stdin: IO[str]
    stdout: IO[str]
    stderr: IO[str]

    def say(self, line: str) -> None:
        print(f"guardrail: {line}", file=self.stderr)


def run(args: argparse.Namespace, stdin: IO[str], stdout: IO[str], stderr: IO[str]) -> ExitStatus:
    """The guardrail command, parsed; every failure is one line on stderr and an ExitStatus."""
    streams = _Streams(stdin, stdout, stderr)
    try:
        options = parse(args)
    except _Usage as exc:
        print(f"error: {exc} (see `python -m remediation guardrail --help`)", file=stderr)
        return ExitStatus.USAGE
    from remediation.cli import guardrail_apply  # boto3: only once the arguments are good

    return guardrail_apply.execute(options, streams, threading.Event())


def summary(options: RcpOptions, principals: Principals, document: dict[str, Any]) -> Sequence[str]:
    """What the policy does, for the person about to apply it."""
    size = len(guardrail.dumps(document))
    fit = guardrail.principals_that_fit(
        options.selection, principals, options.mode, options.partition
    )
    actions = ", ".join(
        a.split(":")[1] for a in guardrail.denied_actions(guardrail.Form.RCP, options.mode)
    )
    lines = [
        f"RCP on arn:{options.partition}:dynamodb:*:*:table/{options.selection.prefix}* in every "
        f"member account under its target, mode {options.mode.value}: denies {actions} to all but "
        f"{len(principals.arns())} allowed roles",
        f"{size:,} of {guardrail.RCP_MAX_CHARS:,} characters; {fit} more allowed roles as long "
        "as the longest fit",
    ]
    if options.mode is Mode.LENIENT:
        lines.append(guardrail.LENIENT_LEAVES_OPEN)
    return lines
