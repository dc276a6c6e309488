"""argv in, frozen `Options` out: every flag checked before any AWS call, one line per error.

boto3 is imported only once the arguments are good, so `--help` and usage errors stay fast.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

from remediation import core, pulumi_state
from remediation.cli import formats, guardrail_rcp, harden_guardrail
from remediation.controls import ALL, DELETION_PROTECTION, GUARDRAIL
from remediation.core import Requirement, TableRef
from remediation.guardrail import GuardrailError, TableGuardrail
from remediation.pulumi_state import ManagedTables

if TYPE_CHECKING:
    from remediation.fleet import Scope

KNOWN_OPERATIONS = (
    "ListTables",
    "DescribeTable",
    "DescribeContinuousBackups",
    "UpdateTable",
    "UpdateContinuousBackups",
    "GetResourcePolicy",
    "PutResourcePolicy",
)


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage, which here means "cancelled": raise instead."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


MODULE_PROG = "python -m remediation"

_HARDEN_DESCRIPTION = (
    "Discover tables by prefix (or take --table), show their protection, ask, then enable "
    "deletion protection and point-in-time recovery where missing. Never disables "
    "anything, never touches another table or setting."
)
_HARDEN_EPILOG = (
    "exit status: 0 all protected (or dry run), 1 one or more tables or account-regions "
    "failed (under --check: unprotected or unreadable), 2 cancelled at the prompt, "
    "3 bad input, 4 AWS unusable (credentials, profile, region, endpoint, ListTables, "
    "the organization's accounts, an answer not from AWS) or nothing was selected, "
    "130 interrupted"
)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """`python -m remediation COMMAND`; or, given the name it was typed as (`sentinel-harden`),
    the harden command on its own."""
    if prog is not None:
        harden = _Parser(prog=prog, description=_HARDEN_DESCRIPTION, epilog=_HARDEN_EPILOG)
        _add_harden_arguments(harden)
        return harden
    parser = _Parser(
        prog=MODULE_PROG,
        description="Deletion protection and PITR for Sentinel's DynamoDB tables.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    harden = commands.add_parser(
        "harden",
        help="enable deletion protection and PITR on sentinel- tables",
        description=_HARDEN_DESCRIPTION,
        epilog=_HARDEN_EPILOG,
    )
    _add_harden_arguments(harden)
    guardrail_rcp.add_parser(commands)
    return parser


def _add_harden_arguments(harden: argparse.ArgumentParser) -> None:
    """Every flag of the harden command, in the order `--help` lists them."""
    _add_selection_arguments(harden)
    _add_requirement_arguments(harden)
    harden_guardrail.add_arguments(harden)
    _add_mode_arguments(harden)
    _add_pulumi_arguments(harden)
    _add_report_arguments(harden)
    _add_region_arguments(harden)
    _add_account_arguments(harden)
    _add_connection_arguments(harden)


def _add_selection_arguments(harden: argparse.ArgumentParser) -> None:
    """Which tables: by name or ARN, or discovered by prefix, less the excluded."""
    harden.add_argument(
        "--table",
        action="append",
        default=[],
        metavar="NAME_OR_ARN",
        help="a table to harden, by name or ARN (repeatable; default: discover by --prefix)",
    )
    harden.add_argument(
        "--prefix",
        default=core.DEFAULT_PREFIX,
        help="case-sensitive name prefix for discovery (default: %(default)s)",
    )
    harden.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help=(
            "leave out tables whose name matches this case-sensitive fnmatch glob (repeatable); "
            "an excluded table is never read or written, even when named by --table"
        ),
    )
    harden.add_argument(
        "--allow-all-tables",
        action="store_true",
        help="accept an empty --prefix, which selects every table in the account and region",
    )


def _add_requirement_arguments(harden: argparse.ArgumentParser) -> None:
    """Which protections, and how many days PITR must keep."""
    harden.add_argument(
        "--no-pitr", action="store_true", help="only enable deletion protection; leave PITR alone"
    )
    harden.add_argument(
        "--min-recovery-days",
        type=int,
        metavar="N",
        help=(
            f"PITR must keep at least N days ({core.MIN_RECOVERY_DAYS} to "
            f"{core.MAX_RECOVERY_DAYS}): a shorter period is raised to N, a longer one is "
            "never lowered (default: any period)"
        ),
    )


def _add_mode_arguments(harden: argparse.ArgumentParser) -> None:
    """Whether to ask, change or only check."""
    harden.add_argument("--force", "-f", action="store_true", help="do not ask for confirmation")
    harden.add_argument(
        "--dry-run", action="store_true", help="show status and the plan, change nothing"
    )
    harden.add_argument(
        "--check",
        action="store_true",
        help=(
            "read and show, change nothing, never ask: exit 0 when every selected table is "
            "protected, 1 when any lacks a protection or could not be read"
        ),
    )
    harden.add_argument(
        "--allow-empty",
        action="store_true",
        help=(
            "an empty selection (no table matches the prefix or --table) exits 0; without it, "
            "a run that selected nothing exits 4, so a typo never passes (a selection that "
            "--exclude empties always exits 0)"
        ),
    )


def _add_pulumi_arguments(harden: argparse.ArgumentParser) -> None:
    """The tables Pulumi manages, read from its state."""
    harden.add_argument(
        "--pulumi-state",
        action="append",
        default=[],
        metavar="PATH",
        help=(
            "a `pulumi stack export` file or a file:// backend folder (repeatable): tables its "
            "stacks manage are read and shown, but left to Pulumi"
        ),
    )
    harden.add_argument(
        "--include-managed",
        action="store_true",
        help=(
            "harden the tables --pulumi-state says Pulumi manages too (the next `pulumi up "
            "--refresh` of a program that sets a protection off reverts it)"
        ),
    )


def _add_report_arguments(harden: argparse.ArgumentParser) -> None:
    """Where the report goes, in which format, and Security Hub CSPM."""
    harden.add_argument(
        "--format",
        choices=sorted(formats.FORMATS),
        help=(
            f"how the report is written on stdout (default: {formats.DEFAULT}); asff is what "
            "Security Hub CSPM imports; ocsf (OCSF 1.5.0 Compliance Findings, for a data lake "
            "or SIEM such as a Security Lake custom source, not for the new Security Hub) needs "
            "the `ocsf` extra: pip install 'sentinel-dynamodb-hardening[ocsf]'"
        ),
    )
    harden.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout instead of text (same as --format json)",
    )
    harden.add_argument(
        "--output",
        metavar="FILE",
        help=(
            "write the --format report to FILE (replaced if it exists) and keep the text "
            "report on the terminal"
        ),
    )
    harden.add_argument(
        "--security-hub",
        action="store_true",
        help=(
            "import one ASFF finding per table and control into each account-region's "
            "Security Hub CSPM (BatchImportFindings), keeping each finding's history "
            "(GetFindings), set the ones that turn PASSED RESOLVED (BatchUpdateFindings) and "
            "archive those of tables gone or excluded; a region without Security Hub CSPM "
            "is reported"
        ),
    )


def _add_region_arguments(harden: argparse.ArgumentParser) -> None:
    """The credentials and the regions."""
    harden.add_argument("--aws-profile", metavar="PROFILE", help="AWS profile for credentials")
    harden.add_argument(
        "--region",
        action="append",
        default=[],
        help="AWS region (repeatable; default: from the profile or environment)",
    )
    harden.add_argument(
        "--all-regions",
        action="store_true",
        help=(
            "every region each account has enabled (ec2:DescribeRegions; the others are "
            "listed as skipped)"
        ),
    )


def _add_account_arguments(harden: argparse.ArgumentParser) -> None:
    """The accounts: assumed roles, or an AWS Organization."""
    harden.add_argument(
        "--role-arn",
        action="append",
        default=[],
        metavar="ARN",
        help="assume this role and harden in its account (repeatable)",
    )
    harden.add_argument(
        "--organization",
        action="store_true",
        help=(
            "every ACTIVE account of the AWS Organization, through --role-name in each "
            "(the others are listed as skipped, with their state)"
        ),
    )
    harden.add_argument(
        "--exclude-account",
        action="append",
        default=[],
        metavar="ID",
        help=(
            "leave this account out, e.g. the management account from a delegated "
            "administrator's run, or the account of a replica the run does not reach, so that "
            "--check does not fail on it (repeatable)"
        ),
    )
    harden.add_argument(
        "--fail-on-scp-deny",
        action="store_true",
        help=(
            "an account-region a service control policy denies fails the run (default: "
            "listed as denied, exit status unchanged)"
        ),
    )
    harden.add_argument(
        "--role-name",
        metavar="NAME",
        help="with --organization: the role to assume in each account",
    )
    harden.add_argument(
        "--external-id", metavar="ID", help="the sts:ExternalId every assumed role requires"
    )
    harden.add_argument(
        "--include-caller-account",
        action="store_true",
        help="with --role-arn or --organization: also harden the caller's own account",
    )


def _add_connection_arguments(harden: argparse.ArgumentParser) -> None:
    """The endpoint, concurrency, pace and patience of the calls."""
    harden.add_argument(
        "--endpoint-url",
        metavar="URL",
        help=(
            "endpoint of every service the run calls: DynamoDB, STS, Organizations, EC2, "
            "Security Hub CSPM (AWS_ENDPOINT_URL_<SERVICE> still wins for its service)"
        ),
    )
    harden.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help=(
            "concurrent calls, shared by every account-region (default: 16 for one, 48 for "
            "more; AWS allows 500 table updates in flight per account-region)"
        ),
    )
    harden.add_argument(
        "--rate",
        action="append",
        default=[],
        metavar="OPERATION=PER_SECOND",
        help=(
            "client-side pace for one operation, or '*' for all calls together (repeatable; "
            "default: DescribeContinuousBackups=9.7 *=2400)"
        ),
    )
    harden.add_argument(
        "--wait-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long to keep retrying a busy table (UPDATING, backups not ready); default 120",
    )


@dataclass(frozen=True)
class Options:
    """What the user asked for, checked: the run reads it and never changes it."""

    refs: tuple[TableRef, ...]
    selection: core.Selection
    requirement: Requirement
    force: bool
    dry_run: bool
    check: bool
    format: str
    """The report's format: a name in `formats.FORMATS` ("text", "json", ...)."""
    profile: str | None
    scope: Scope
    endpoint_url: str | None
    workers: int | None
    rates: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    wait_timeout: float | None = None
    managed: ManagedTables = field(default_factory=ManagedTables)
    """What the --pulumi-state stacks manage, read before any AWS call."""
    include_managed: bool = False
    output: Path | None = None
    """--output: the file the format goes to; the terminal keeps the text report."""
    security_hub: bool = False
    allow_empty: bool = False
    """An empty selection exits 0 instead of 4."""
    guardrail: TableGuardrail | None = None
    """--guardrail: the table policy asked for; the run adds the hardener's own role."""

    @property
    def as_json(self) -> bool:
        """The terminal gets the JSON document (not when it goes to --output)."""
        return self.format == "json" and self.output is None

    @property
    def terminal_format(self) -> str:
        return formats.DEFAULT if self.output is not None else self.format


def help_hint(argv: Sequence[str], prog: str | None = None) -> str:
    """Where a usage error points: the help of the command that was typed."""
    if prog is not None:
        return f"{prog} --help"
    if list(argv[:1]) == ["harden"]:
        return f"{MODULE_PROG} harden --help"
    return f"{MODULE_PROG} --help"


def parse_options(argv: Sequence[str], prog: str | None = None) -> Options:
    """Parse and validate argv (`harden ...`, or with `prog` the harden command's own flags);
    raise UsageError with one line on any bad input."""
    args = build_parser(prog).parse_args(list(argv))
    refs = _table_refs(args.table)
    _check_flags(args, refs)
    report_format, output = _report_destination(args)
    managed = _managed(args)
    requirement = _requirement(args.no_pitr, args.min_recovery_days)
    try:
        table_guardrail = harden_guardrail.asked(args)
    except GuardrailError as exc:
        raise UsageError(str(exc)) from None
    if table_guardrail is not None:
        requirement = replace(requirement, controls=(*requirement.controls, GUARDRAIL))
    scope = _scope(args)
    return Options(
        refs=tuple(refs),
        selection=core.Selection(args.prefix, tuple(args.exclude)),
        requirement=requirement,
        force=args.force,
        dry_run=args.dry_run,
        check=args.check,
        format=report_format,
        profile=args.aws_profile,
        scope=scope,
        endpoint_url=args.endpoint_url,
        workers=args.workers,
        rates=MappingProxyType(_parse_rates(args.rate)),
        wait_timeout=args.wait_timeout,
        managed=managed,
        include_managed=args.include_managed,
        output=output,
        security_hub=args.security_hub,
        allow_empty=args.allow_empty,
        guardrail=table_guardrail,
    )


def _table_refs(texts: Sequence[str]) -> list[TableRef]:
    """--table, each parsed as a name or ARN, none named twice."""
    refs: list[TableRef] = []
    seen: set[str] = set()
    for text in texts:
        try:
            ref = core.parse_table_ref(text)
        except core.InvalidTableRef as exc:
            raise UsageError(str(exc)) from None
        if ref.name in seen:
            raise UsageError(f"table {ref.name!r} is named twice")
        seen.add(ref.name)
        refs.append(ref)
    return refs


def _check_flags(args: argparse.Namespace, refs: Sequence[TableRef]) -> None:
    """Flags out of range, or that contradict each other."""
    if not args.prefix and not args.allow_all_tables and not refs:
        raise UsageError(
            "an empty --prefix selects every table in the account; "
            "pass --allow-all-tables if that is what you mean"
        )
    if args.workers is not None and not 1 <= args.workers <= 500:
        raise UsageError(f"--workers must be 1 to 500, got {args.workers}")
    if args.wait_timeout is not None and args.wait_timeout < 0:
        raise UsageError(f"--wait-timeout must not be negative, got {args.wait_timeout}")
    if "" in args.exclude:
        raise UsageError("--exclude needs a glob such as 'sentinel-scratch-*', got ''")
    if args.check and (args.force or args.dry_run):
        raise UsageError("--check never changes anything: it takes neither --force nor --dry-run")
    if args.security_hub and args.dry_run:
        raise UsageError(
            "--dry-run changes nothing, and importing findings into Security Hub CSPM is a change: "
            "use --check --security-hub to import what a read-only run found"
        )
    if args.endpoint_url is not None:
        _check_endpoint(args.endpoint_url)
    if args.json and args.format not in (None, "json"):
        raise UsageError(f"--json is --format json: it cannot go with --format {args.format}")


def _check_endpoint(url: str) -> None:
    """A URL botocore can call: a scheme and a host (without one it would fail later, as if
    AWS could not be reached)."""
    try:
        parts = urlsplit(url)
        good = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # an unclosed [IPv6 literal
        good = False
    if not good:
        raise UsageError(
            f"--endpoint-url needs http:// or https:// and a host, such as "
            f"http://127.0.0.1:5000; got {url!r}"
        )


def _report_destination(args: argparse.Namespace) -> tuple[str, Path | None]:
    """The report's format and the --output file it goes to, if any."""
    report_format = "json" if args.json else (args.format or formats.DEFAULT)
    output = _output(args.output) if args.output is not None else None
    if report_format == "ocsf" and importlib.util.find_spec("py_ocsf_models") is None:
        raise UsageError(
            "--format ocsf needs py-ocsf-models: pip install 'sentinel-dynamodb-hardening[ocsf]'"
        )
    return report_format, output


def _managed(args: argparse.Namespace) -> ManagedTables:
    """What the --pulumi-state stacks manage, read before any AWS call."""
    if args.include_managed and not args.pulumi_state:
        raise UsageError("--include-managed needs --pulumi-state to say which tables are managed")
    try:
        return pulumi_state.load(args.pulumi_state)
    except pulumi_state.PulumiStateError as exc:
        raise UsageError(f"--pulumi-state {exc}") from None


def _scope(args: argparse.Namespace) -> Scope:
    """The accounts and regions to harden in."""
    twice = sorted({r for r in args.region if args.region.count(r) > 1})
    if twice:
        raise UsageError(f"a region is named twice: {', '.join(twice)}")
    from remediation.fleet import InvalidScope, Scope  # boto3: only once --help is past

    try:
        return Scope(
            regions=tuple(args.region),
            all_regions=args.all_regions,
            role_arns=tuple(args.role_arn),
            organization=args.organization,
            role_name=args.role_name,
            external_id=args.external_id,
            include_caller=args.include_caller_account,
            exclude_accounts=tuple(args.exclude_account),
            fail_on_scp_deny=args.fail_on_scp_deny,
        )
    except InvalidScope as exc:
        raise UsageError(str(exc)) from None


def _output(text: str) -> Path:
    """The --output file, refused before any AWS call when it cannot be written."""
    path = Path(text)
    if not text or path.is_dir():
        raise UsageError(f"--output {text!r} is a folder, not a file")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"--output {text}: no such folder {str(folder)!r}")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"--output {text}: cannot be written (permission denied)")
    return path


def _requirement(no_pitr: bool, min_recovery_days: int | None) -> Requirement:
    if min_recovery_days is None:
        return Requirement(controls=(DELETION_PROTECTION,) if no_pitr else ALL)
    if no_pitr:
        raise UsageError("--min-recovery-days is about PITR, which --no-pitr leaves alone")
    try:
        return Requirement(controls=ALL, min_recovery_days=min_recovery_days)
    except ValueError:
        raise UsageError(
            f"--min-recovery-days must be {core.MIN_RECOVERY_DAYS} to {core.MAX_RECOVERY_DAYS}, "
            f"got {min_recovery_days}"
        ) from None


def _parse_rates(values: Sequence[str]) -> dict[str, float]:
    rates: dict[str, float] = {}
    for value in values:
        operation, sep, number = value.partition("=")
        if not sep or operation not in (*KNOWN_OPERATIONS, "*"):
            raise UsageError(
                f"--rate takes OPERATION=PER_SECOND with OPERATION one of "
                f"{', '.join(KNOWN_OPERATIONS)} or '*', got {value!r}"
            )
        try:
            rate = float(number)
        except ValueError:
            rate = 0.0
        if not rate > 0:
            raise UsageError(f"--rate needs a positive number of calls per second, got {value!r}")
        rates[operation] = rate
    return rates


__all__ = [
    "KNOWN_OPERATIONS",
    "MODULE_PROG",
    "Options",
    "UsageError",
    "build_parser",
    "help_hint",
    "parse_options",
]
