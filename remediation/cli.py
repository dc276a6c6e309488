"""`python -m remediation harden`: argv and streams in, exit status out.

Read everything, judge with `core.plan`, show it, ask, act through `aws.Hardener`, report.
boto3 is imported only once the arguments are good, so `--help` and usage errors stay fast.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import IntEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

from remediation import core, pulumi_state
from remediation.controls import ALL, DELETION_PROTECTION, PITR, Control
from remediation.core import AwsError, Change, Outcome, Requirement, TableRef, TableState
from remediation.pulumi_state import ManagedTable, ManagedTables

if TYPE_CHECKING:
    from remediation.fleet import Fleet, Row, Scope, Target

RowKey = tuple[str | None, str | None, str]

KNOWN_OPERATIONS = (
    "ListTables",
    "DescribeTable",
    "DescribeContinuousBackups",
    "UpdateTable",
    "UpdateContinuousBackups",
)

_FIX_IN_PULUMI = (
    "in the code, or run `pulumi up --policy-pack policy_pack`: a change made here is "
    "reverted by the next `pulumi up --refresh` of a program that sets it off."
)


class ExitStatus(IntEnum):
    OK = 0
    """Every selected table is protected (hardened now, or already), or a dry run."""
    FAILED = 1
    """One or more tables could not be read or hardened (the others were done), or an account or
    region could not be reached; under --check, one or more lack a protection or could not be
    read."""
    CANCELLED = 2
    """Declined at the prompt, or no terminal to ask on and no --force: nothing changed."""
    USAGE = 3
    """Bad flags or input (table name or ARN, prefix, rate, Pulumi state): nothing was called."""
    AWS_SETUP = 4
    """AWS could not be used at all: credentials, profile, region, endpoint, ListTables."""
    INTERRUPTED = 130
    """Ctrl-C: no new calls were started; what was done is reported."""


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
    "the organization's accounts), 130 interrupted"
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
    return parser


def _add_harden_arguments(harden: argparse.ArgumentParser) -> None:
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
    harden.add_argument(
        "--json", action="store_true", help="print one JSON document on stdout instead of text"
    )
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
        help="every region where DynamoDB is offered (regions not enabled are skipped)",
    )
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
        help="every ACTIVE account of the AWS Organization, through --role-name in each",
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
    harden.add_argument(
        "--endpoint-url", metavar="URL", help="DynamoDB endpoint (default: AWS's; or a local one)"
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


@dataclass
class Options:
    refs: list[TableRef]
    selection: core.Selection
    requirement: Requirement
    force: bool
    dry_run: bool
    check: bool
    as_json: bool
    profile: str | None
    scope: Scope
    endpoint_url: str | None
    workers: int | None
    rates: dict[str, float] = field(default_factory=dict)
    wait_timeout: float | None = None
    managed: ManagedTables = field(default_factory=ManagedTables)
    """What the --pulumi-state stacks manage, read before any AWS call."""
    include_managed: bool = False


def parse_options(argv: Sequence[str], prog: str | None = None) -> Options:
    """Parse and validate argv (`harden ...`, or with `prog` the harden command's own flags);
    raise UsageError with one line on any bad input."""
    args = build_parser(prog).parse_args(list(argv))
    refs: list[TableRef] = []
    seen: set[str] = set()
    for text in args.table:
        try:
            ref = core.parse_table_ref(text)
        except core.InvalidTableRef as exc:
            raise UsageError(str(exc)) from None
        if ref.name in seen:
            raise UsageError(f"table {ref.name!r} is named twice")
        seen.add(ref.name)
        refs.append(ref)
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
    if args.include_managed and not args.pulumi_state:
        raise UsageError("--include-managed needs --pulumi-state to say which tables are managed")
    try:
        managed = pulumi_state.load(args.pulumi_state)
    except pulumi_state.PulumiStateError as exc:
        raise UsageError(f"--pulumi-state {exc}") from None
    requirement = _requirement(args.no_pitr, args.min_recovery_days)
    from remediation.fleet import InvalidScope, Scope  # boto3: only once --help is past

    try:
        scope = Scope(
            regions=tuple(args.region),
            all_regions=args.all_regions,
            role_arns=tuple(args.role_arn),
            organization=args.organization,
            role_name=args.role_name,
            external_id=args.external_id,
            include_caller=args.include_caller_account,
        )
    except InvalidScope as exc:
        raise UsageError(str(exc)) from None
    return Options(
        refs=refs,
        selection=core.Selection(args.prefix, tuple(args.exclude)),
        requirement=requirement,
        force=args.force,
        dry_run=args.dry_run,
        check=args.check,
        as_json=args.json,
        profile=args.aws_profile,
        scope=scope,
        endpoint_url=args.endpoint_url,
        workers=args.workers,
        rates=_parse_rates(args.rate),
        wait_timeout=args.wait_timeout,
        managed=managed,
        include_managed=args.include_managed,
    )


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


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Report:
    """Everything the run learned, rendered at the end as text or as one JSON document."""

    requirement: Requirement
    rows: list[Row] = field(default_factory=list)
    changes: list[tuple[Row, Change]] = field(default_factory=list)
    unreadable: int = 0
    protected: int = 0
    outcomes: dict[RowKey, Outcome] = field(default_factory=dict)
    excluded: list[RowKey] = field(default_factory=list)
    """Tables --exclude left out, by (account, region, name): never read, never written."""
    managed: dict[RowKey, ManagedTable] = field(default_factory=dict)
    """Tables read that a --pulumi-state stack manages."""
    include_managed: bool = False
    held: list[tuple[Row, Change]] = field(default_factory=list)
    """Changes the plan wanted on managed tables, left to Pulumi (no --include-managed)."""
    targets: list[Target] = field(default_factory=list)
    fleet: bool = False
    """More than today's one account and one region: columns, targets, account ids."""
    dry_run: bool = False
    check: bool = False
    cancelled: bool = False
    interrupted: bool = False
    region: str | None = None
    error: str | None = None

    def outcome(self, row: Row) -> Outcome:
        found = self.outcomes.get(row.key)
        if found is not None:
            return found
        state = row.state
        errors = {"table": state.error} if state.error else {}
        return Outcome(state, state, (), errors)

    def counts(self) -> dict[str, int]:
        summary = core.summarize(map(self.outcome, self.rows), self.requirement)
        counts = {**asdict(summary), "excluded": len(self.excluded)}
        return {**counts, "managed": len(self.managed)}

    def troubled_targets(self) -> list[Target]:
        return [t for t in self.targets if t.status != "ok"]

    def exit_status(self) -> ExitStatus:
        if self.interrupted:
            return ExitStatus.INTERRUPTED
        if self.cancelled:
            return ExitStatus.CANCELLED
        if any(t.status == "failed" for t in self.targets):
            return ExitStatus.FAILED  # an account or region not done is a failure, dry run or not
        if self.check:
            counts = self.counts()
            return ExitStatus.FAILED if counts["failed"] or counts["pending"] else ExitStatus.OK
        if self.dry_run:
            return ExitStatus.OK
        return ExitStatus.FAILED if self.counts()["failed"] else ExitStatus.OK


class Run:
    def __init__(self, options: Options, stdin: IO[str], stdout: IO[str], stderr: IO[str]) -> None:
        self.options = options
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.report = Report(
            requirement=options.requirement,
            dry_run=options.dry_run,
            check=options.check,
            include_managed=options.include_managed,
            fleet=not options.scope.single,
        )
        self.text = None if options.as_json else stdout

    def say(self, line: str = "") -> None:
        if self.text is None:
            return
        try:
            print(line, file=self.text, flush=True)
        except BrokenPipeError:
            # The reader went away (`| head`): the run the user asked for still completes, and
            # its exit status still tells; only the rest of the text has nowhere to go.
            self.text = None

    def execute(self) -> ExitStatus:
        from remediation import aws, fleet  # boto3 is heavy: only now that the arguments are good

        opts = self.options
        settings = aws.Settings(
            profile=opts.profile,
            region=opts.scope.regions[0] if opts.scope.regions else None,
            endpoint_url=opts.endpoint_url,
            workers=opts.workers
            or (aws.DEFAULT_WORKERS if opts.scope.single else aws.DEFAULT_FLEET_WORKERS),
            rates={**aws.DEFAULT_RATES, **opts.rates},
            wait_timeout=(
                aws.DEFAULT_WAIT_TIMEOUT if opts.wait_timeout is None else opts.wait_timeout
            ),
        )
        targets = fleet.Fleet(opts.scope, settings)
        if len(targets.regions) == 1:
            self.report.region = targets.regions[0]
        try:
            targets.check_refs(opts.refs)
        except fleet.InvalidScope as exc:
            raise UsageError(str(exc)) from None
        try:
            targets.connect()
            return self._execute(targets)
        except KeyboardInterrupt:
            targets.cancel()
            return self._interrupted()
        finally:
            self.report.targets = sorted(
                targets.targets.values(), key=lambda t: (t.account or "", t.region)
            )

    def _execute(self, targets: Fleet) -> ExitStatus:
        opts = self.options
        controls = opts.requirement.controls
        with Progress(self.stderr, "Reading tables", enabled=self.text is not None) as bar:
            rows = targets.read(
                opts.selection, opts.refs, controls, bar.update, self.report.excluded
            )
        # Today's one-target run learns its account from the tables' ARNs: name it alike.
        accounts = {row.region: row.account for row in rows if row.target[0] is None}
        self.report.excluded = sorted(
            ((a or accounts.get(r), r, name) for a, r, name in self.report.excluded),
            key=lambda k: (k[0] or "", k[1] or "", k[2]),
        )
        rows = [_check_account(row, opts.refs) for row in rows]
        self.report.rows = rows
        for row in rows:
            managed = opts.managed.find(row.state.name, row.region, row.account)
            if managed is not None:
                self.report.managed[row.key] = managed
        self.report.targets = sorted(
            targets.targets.values(), key=lambda t: (t.account or "", t.region)
        )
        self._plan(rows)
        self._show_status()

        if opts.check:
            self._show_targets()
            self._show_check()
            return self.report.exit_status()
        if opts.dry_run:
            self._show_targets()
            self.say("Dry run: nothing was changed.")
            return self.report.exit_status()
        if not self.report.changes:
            self._show_targets()
            return self.report.exit_status()
        if not opts.force and not self._confirm(len(self.report.changes)):
            self.report.cancelled = True
            return self.report.exit_status()

        with Progress(self.stderr, "Hardening", enabled=self.text is not None) as bar:
            targets.apply(self.report.changes, self.report.outcomes, bar.update)
        self._show_results()
        return self.report.exit_status()

    def _plan(self, rows: Sequence[Row]) -> None:
        """Judge each account-region on its own (names repeat across them), in row order."""
        by_target: dict[tuple[str | None, str | None], list[Row]] = {}
        for row in rows:
            by_target.setdefault((row.target[0], row.region), []).append(row)
        changes: dict[RowKey, Change] = {}
        for group in by_target.values():
            plan = core.plan((r.state for r in group), self.options.requirement)
            by_name = {r.state.name: r for r in group}
            changes.update({by_name[c.table].key: c for c in plan.changes})
            self.report.unreadable += len(plan.unreadable)
            self.report.protected += len(plan.protected)
        planned = [(r, changes[r.key]) for r in rows if r.key in changes]
        if self.options.include_managed or self.options.check:
            self.report.changes = planned
            return
        # Pulumi owns these: a write here would be reverted by its next `up --refresh`.
        managed = self.report.managed
        self.report.held = [(r, c) for r, c in planned if r.key in managed]
        self.report.changes = [(r, c) for r, c in planned if r.key not in managed]

    def _confirm(self, count: int) -> bool:
        noun = "table" if count == 1 else "tables"
        # The question goes where the person is: stdout when it is their terminal, else stderr
        # (stdout may be JSON, a pipe to tee, or a file).
        on_terminal = not self.options.as_json and _isatty(self.stdout)
        prompt_to = self.stdout if on_terminal else self.stderr
        if not _isatty(self.stdin):
            print(
                "Cancelled: no terminal to confirm on; pass --force to harden without a prompt.",
                file=self.stderr,
            )
            return False
        print(f"Harden {count} {noun}? [y/N] ", end="", file=prompt_to, flush=True)
        answer = self.stdin.readline()
        if not answer:
            print("", file=prompt_to)
        if answer.strip().lower() in ("y", "yes"):
            return True
        print("Cancelled: nothing was changed.", file=self.stderr)
        return False

    def _interrupted(self) -> ExitStatus:
        self.report.interrupted = True
        done = self.report.outcomes
        planned = [row for row, _ in self.report.changes]
        not_done = [self._name(row) for row in planned if row.key not in done]
        if not done:
            print("Interrupted before any change: nothing was changed.", file=self.stderr)
        else:
            self._show_results()
            print(
                f"Interrupted: {len(done)} of {len(planned)} tables finished; "
                f"not started: {', '.join(not_done) or 'none'}.",
                file=self.stderr,
            )
        return ExitStatus.INTERRUPTED

    # -- rendering -----------------------------------------------------------------------------

    def _columns(self) -> tuple[bool, bool]:
        """(show Account, show Region): a column is dropped when every row has the same value."""
        rows = self.report.rows
        accounts = {r.account for r in rows}
        regions = {r.region for r in rows}
        return len(accounts) > 1, len(regions) > 1

    def _name(self, row: Row) -> str:
        """The table as a line names it: with its account and region where columns show them."""
        return self._where(row.account, row.region) + row.state.name

    def _where(self, account: str | None, region: str | None) -> str:
        show_account, show_region = self._columns()
        where = [
            *([account or "-"] if show_account else []),
            *([region or "-"] if show_region else []),
        ]
        return "".join(w + " " for w in where)

    def _heading(self) -> str:
        rows = self.report.rows
        excluded = self.report.excluded
        found = f"{len(rows)} found" + (f", {len(excluded)} excluded" if excluded else "")
        verb = "check" if self.options.check else "harden"
        if not self.report.fleet:
            return f"Tables to {verb} ({found}):"
        show_account, show_region = self._columns()
        targets = self.report.targets
        where = [
            _once("account", [r.account for r in rows], [t.account for t in targets], show_account),
            _once("region", [r.region for r in rows], [t.region for t in targets], show_region),
        ]
        return f"Tables to {verb} ({found} in {', '.join(where)}):"

    def _show_status(self) -> None:
        rows = self.report.rows
        title = "Sentinel DynamoDB Hardening"
        self.say(title)
        self.say("=" * len(title))
        self.say()
        self.say(self._heading())
        self.say()
        if rows:
            show_account, show_region = self._columns()
            names = [_table_cell(r) for r in rows]
            width = max(len("Table"), *(len(n) for n in names)) + 4
            managed = self.report.managed
            labels = [c.label for c in ALL] + (["Pulumi"] if managed else [])
            lead: list[tuple[str, int]] = []
            if show_account:
                lead.append(
                    ("Account", max(len("Account"), *(len(r.account or "-") for r in rows)))
                )
            if show_region:
                lead.append(("Region", max(len("Region"), *(len(r.region or "-") for r in rows))))
            header = ["Table", *labels]
            rule = ["-----", *("-" * len(x) for x in labels)]
            lines = [
                ([h for h, _ in lead], header),
                (["-" * len(h) for h, _ in lead], rule),
            ]
            for row, name in zip(rows, names, strict=True):
                values = [
                    *([row.account or "-"] if show_account else []),
                    *([row.region or "-"] if show_region else []),
                ]
                cells = [self._cell(row.state, c) for c in ALL]
                if managed:
                    table = managed.get(row.key)
                    cells.append(f"managed (stack {table.stack})" if table else "")
                lines.append((values, [name, *cells]))
            for values, (name, *cells) in lines:
                front = "".join(v.ljust(w + 4) for v, (_, w) in zip(values, lead, strict=True))
                self.say(
                    (
                        "  " + front + name.ljust(width) + "".join(c.ljust(23) for c in cells)
                    ).rstrip()
                )
            self.say()
        problems = [
            f"! {self._name(r)}: {problem}" for r in rows for problem in _read_problems(r.state)
        ]
        for line in problems:
            self.say(line)
        if problems:
            self.say()
        excluded = self.report.excluded
        if excluded:
            listed = ", ".join(self._where(*key[:2]) + key[2] for key in excluded)
            self.say(f"Excluded by --exclude (never read or written): {listed}")
            self.say()
        if self.report.changes and self.options.check:
            self.say("Not protected:")
            for row, change in self.report.changes:
                lacks = ", ".join(self._lack(row.state, c) for c in change.enable)
                self.say(f"- {self._name(row)}: {lacks}{self._managed_note(row)}")
            if any(row.key in self.report.managed for row, _ in self.report.changes):
                self.say(f"  For those Pulumi manages: fix them {_FIX_IN_PULUMI}")
        elif self.report.changes:
            self.say("Changes to apply:")
            for row, change in self.report.changes:
                steps = ", ".join(_step(row.state, change, c) for c in change.enable)
                self.say(f"- {self._name(row)}: {steps}{self._managed_note(row)}")
        elif rows and self.options.check:
            pass  # the closing check line says it
        elif rows and self.report.held:
            self.say("No changes to apply outside Pulumi.")
        elif rows:
            self.say(f"No changes needed: all {len(rows)} tables are already protected.")
            if self.report.unreadable:
                self.say(f"Except {self.report.unreadable} that could not be read (see above).")
        elif excluded:
            self.say(
                f"Every table found is excluded by --exclude ({len(excluded)}): nothing to do."
            )
        else:
            where = ", ".join(r.name for r in self.options.refs) or (
                f"prefix {self.options.selection.prefix!r}"
            )
            if self.report.fleet:
                reached = sum(t.status == "ok" for t in self.report.targets)
                self.say(f"No tables found ({where}) in {reached} account-regions: nothing to do.")
            else:
                self.say(f"No tables found ({where}) in {self.report.region}: nothing to do.")
        self.say()
        if self.report.held:
            self._show_held()

    def _managed_note(self, row: Row) -> str:
        managed = self.report.managed.get(row.key)
        if managed is None:
            return ""
        if self.options.check:
            return f" (managed by Pulumi stack {managed.stack})"
        return f" (managed by Pulumi stack {managed.stack}: set it in the code too)"

    def _show_held(self) -> None:
        """Managed tables lacking a protection: what they lack, where, and how to fix it."""
        held = self.report.held
        self.say(f"Managed by Pulumi, left to it ({len(held)}):")
        for row, change in held:
            managed = self.report.managed[row.key]
            lacks = ", ".join(self._lack(row.state, c) for c in change.enable)
            self.say(f"- {self._name(row)}: {lacks} (stack {managed.stack}, {managed.urn})")
        self.say(f"  Fix them {_FIX_IN_PULUMI} --include-managed hardens them here anyway.")
        self.say()

    def _lack(self, state: TableState, control: Control) -> str:
        reading = state.reading(control)
        if reading.enabled is None:
            return f"{control.noun} unknown"
        if reading.enabled:  # on, so it is the recovery period that falls short
            return (
                f"{control.noun} keeps {state.pitr_recovery_days} days, fewer than "
                f"{self.report.requirement.min_recovery_days}"
            )
        return f"{control.noun} off"

    def _show_check(self) -> None:
        total = len(self.report.rows)
        changes = len(self.report.changes)
        unreadable = self.report.unreadable
        if not total:
            return  # the status already said there is nothing to check
        if not changes and not unreadable:
            self.say(f"Check: all {total} tables are protected. Nothing was changed.")
            return
        parts = [f"{self.report.protected} of {total} tables protected"]
        if changes:
            parts.append(f"{changes} not protected")
        if unreadable:
            parts.append(f"{unreadable} could not be read")
        self.say(f"Check: {', '.join(parts)}. Nothing was changed.")

    def _show_targets(self) -> None:
        """One line per account-region that failed or was skipped."""
        troubled = self.report.troubled_targets()
        for target in troubled:
            mark = "✗" if target.status == "failed" else "-"
            self.say(
                f"{mark} {target.account or '-'} {target.region}: {target.status}: {target.reason}"
            )
        if troubled:
            self.say()

    def _cell(self, state: TableState, control: Control) -> str:
        if control not in self.report.requirement.controls:
            return "not checked"
        if state.error is not None:
            return "Unknown"
        reading = state.reading(control)
        if reading.error is not None:
            return f"Unknown ({reading.error.code})"
        if control is PITR and reading.enabled and state.pitr_recovery_days is not None:
            return f"{reading.label} ({state.pitr_recovery_days} days)"
        return reading.label

    def _show_results(self) -> None:
        for row in self.report.rows:
            outcome = self.report.outcome(row)
            ok = outcome.succeeded(self.report.requirement)
            if not ok and not outcome.errors:
                continue  # planned but never attempted (interrupted): told in the closing line
            self.say(f"{'✓' if ok else '✗'} {self._name(row)}: {self._describe(outcome)}")
        for row, _ in self.report.held:
            stack = self.report.managed[row.key].stack
            self.say(f"- {self._name(row)}: left to Pulumi (stack {stack}), not changed")
        counts = self.report.counts()
        self.say()
        self._show_targets()
        self.say(
            f"Summary: {counts['succeeded']}/{counts['total']} tables hardened successfully"
            + (f", {counts['failed']} failed" if counts["failed"] else "")
            + (f", {len(self.report.held)} left to Pulumi" if self.report.held else "")
            + (f", {counts['excluded']} excluded" if counts["excluded"] else "")
        )

    def _describe(self, outcome: Outcome) -> str:
        if "table" in outcome.errors:
            return f"could not be read: {outcome.errors['table']}"
        done: list[str] = []
        already: list[str] = []
        failed: list[str] = []
        for control in self.report.requirement.controls:
            if control.id in outcome.errors:
                failed.append(f"{control.noun} not enabled: {outcome.errors[control.id]}")
            elif control in outcome.changed and outcome.before.reading(control).enabled:
                days = outcome.after.pitr_recovery_days
                done.append(f"{control.noun} recovery period raised to {days} days")
            elif control in outcome.changed:
                done.append(f"{control.noun} enabled")
            elif outcome.before.reading(control).enabled:
                already.append(f"{control.noun} already enabled")
        if not done and not failed:
            return "already protected"
        text = "; ".join([*failed, ", ".join(done)] if done else failed)
        text = text[0].upper() + text[1:]
        return text + (f" ({', '.join(already)})" if already else "")

    def to_json(self) -> dict[str, Any]:
        changes = {row.key: change for row, change in self.report.changes}
        tables = [self._table_json(r, changes.get(r.key)) for r in self.report.rows]
        tables += [_excluded_json(*key) for key in self.report.excluded]
        return {
            "tables": sorted(
                tables,
                key=lambda t: (t["account"] or "", t["region"] or "", str(t["table_name"])),
            ),
            **self.report.counts(),
            "region": self.report.region,
            "check": self.report.check,
            "dry_run": self.report.dry_run,
            "cancelled": self.report.cancelled,
            "interrupted": self.report.interrupted,
            "error": self.report.error,
            "targets": [self._target_json(t) for t in self.report.targets],
        }

    def _target_json(self, target: Target) -> dict[str, Any]:
        account = target.account
        if account is None:  # today's one-target run does not ask who it is: its tables tell
            account = next((r.account for r in self.report.rows if r.account), None)
        return {
            "account": account,
            "region": target.region,
            "status": target.status,
            "error": target.reason or None,
        }

    def _table_json(self, row: Row, change: Change | None) -> dict[str, Any]:
        state = row.state
        outcome = self.report.outcome(row)
        errors = [_error_json(key, err) for key, err in outcome.errors.items()]
        read_errors = [
            _error_json(c.id, state.reading(c).error)
            for c in self.report.requirement.controls
            if state.reading(c).error is not None
        ]
        entry: dict[str, Any] = {
            "table_name": state.name,
            "table_arn": state.arn,
            "account": row.account,
            "region": row.region,
            "replica_of": row.replica_of,
            "replica_regions": list(state.replica_regions),
            "deletion_protection_changed": DELETION_PROTECTION in outcome.changed,
            "pitr_changed": PITR in outcome.changed,
            "result": _result(self.report, row, outcome, change is not None),
            "planned": [c.id for c in change.enable] if change else [],
            "before": core.state_json(outcome.before, self.report.requirement),
            "after": core.state_json(outcome.after, self.report.requirement),
        }
        managed = self.report.managed.get(row.key)
        if managed is not None:
            entry["managed_by"] = {"stack": managed.stack, "urn": managed.urn}
        if read_errors:
            entry["read_errors"] = read_errors
        if errors:
            entry["error"] = errors[0]
            entry["errors"] = errors
        return entry


def _once(
    noun: str, in_rows: Sequence[str | None], in_targets: Sequence[str | None], shown: bool
) -> str:
    """The heading's word on a column: how many values when it is shown, the one value (said
    once) when it is dropped, how many the run covered when no table was found."""
    values = (
        sorted({v or "-" for v in in_rows}) if in_rows else sorted({v or "-" for v in in_targets})
    )
    if shown or len(values) != 1:
        return f"{len(values)} {noun}s"
    return f"{noun} {values[0]}"


def _table_cell(row: Row) -> str:
    if row.replica_of is None:
        return row.state.name
    origin = row.replica_of.split(":")[3] if row.replica_of.count(":") >= 5 else "?"
    return f"{row.state.name} (replica of {origin})"


def _result(report: Report, row: Row, outcome: Outcome, planned: bool) -> str:
    if outcome.errors:
        return "failed"
    if row.key in report.managed and not report.include_managed:
        return "managed"
    if core.is_protected(outcome.after, report.requirement):
        return "hardened" if outcome.changed else "already_protected"
    if planned:
        return "unprotected" if report.check else "pending"
    return "failed"


def _excluded_json(account: str | None, region: str | None, name: str) -> dict[str, Any]:
    """An excluded table: never read, so nothing about it is known."""
    return {
        "table_name": name,
        "table_arn": None,
        "account": account,
        "region": region,
        "replica_of": None,
        "replica_regions": [],
        "deletion_protection_changed": False,
        "pitr_changed": False,
        "result": "excluded",
        "planned": [],
        "before": None,
        "after": None,
    }


def _step(state: TableState, change: Change, control: Control) -> str:
    if control is PITR and change.recovery_days is not None:
        return (
            f"Raise {control.noun} recovery period from {state.pitr_recovery_days} to "
            f"{change.recovery_days} days"
        )
    unknown = " (current state unknown)" if control in change.unknown else ""
    return f"Enable {control.noun}{unknown}"


def _error_json(control_id: str, error: AwsError | None) -> dict[str, Any]:
    assert error is not None
    return {
        "control": None if control_id == "table" else control_id,
        "action": error.action,
        "code": error.code,
        "message": error.message,
    }


def _read_problems(state: TableState) -> list[str]:
    if state.error is not None:
        return [f"cannot be read: {state.error}"]
    return [f"{c.noun} unknown: {state.reading(c).error}" for c in ALL if state.reading(c).error]


def _check_account(row: Row, refs: Sequence[TableRef]) -> Row:
    """A table named by ARN must be in the account the credentials reach, or it is not ours."""
    state = row.state
    for ref in refs:
        if ref.name == state.name and ref.account and state.arn:
            account = state.arn.split(":")[4]
            if account != ref.account:
                error = AwsError(
                    "dynamodb:DescribeTable",
                    "AccountMismatch",
                    f"the ARN names account {ref.account} but these credentials reach {account}",
                )
                return replace(row, state=TableState(name=state.name, arn=state.arn, error=error))
    return row


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except ValueError:  # closed
        return False


class Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal and output is text."""

    def __init__(self, stream: IO[str], label: str, enabled: bool = True) -> None:
        self.stream = stream
        self.label = label
        self.enabled = enabled and _isatty(stream)
        self.shown = False

    def __enter__(self) -> Progress:
        return self

    def update(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        filled = 30 * done // total
        bar = "#" * filled + "-" * (30 - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total}")
        self.stream.flush()
        self.shown = True

    def __exit__(self, *_: object) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


# -- entry points ------------------------------------------------------------------------------


def main(
    argv: Sequence[str],
    stdin: IO[str],
    stdout: IO[str],
    stderr: IO[str],
    prog: str | None = None,
) -> ExitStatus:
    """Run the CLI; every failure is one line on stderr and an ExitStatus, never a traceback.

    `argv` is `harden ...` as `python -m remediation` takes it; with `prog` (the name the
    `sentinel-harden` script was typed as) it is the harden command's own flags.
    """
    as_json = "--json" in argv
    try:
        return _main(argv, stdin, stdout, stderr, as_json, prog)
    except KeyboardInterrupt:
        print("Interrupted: nothing was changed.", file=stderr)
        return ExitStatus.INTERRUPTED


def _main(
    argv: Sequence[str],
    stdin: IO[str],
    stdout: IO[str],
    stderr: IO[str],
    as_json: bool,
    prog: str | None,
) -> ExitStatus:
    try:
        options = parse_options(argv, prog)
    except UsageError as exc:
        return _fail(ExitStatus.USAGE, str(exc), stdout, stderr, as_json)
    except SystemExit as exc:  # --help and --version print, then argparse exits 0
        return ExitStatus.OK if not exc.code else ExitStatus.USAGE
    run = Run(options, stdin, stdout, stderr)
    from remediation.aws import SetupError

    try:
        status = run.execute()
    except UsageError as exc:
        return _fail(ExitStatus.USAGE, str(exc), stdout, stderr, as_json)
    except SetupError as exc:
        run.report.error = str(exc)
        print(f"error: {exc}", file=stderr)
        status = ExitStatus.AWS_SETUP
    if options.as_json:
        with contextlib.suppress(BrokenPipeError):
            json.dump(run.to_json(), stdout, indent=2)
            stdout.write("\n")
    return status


def _fail(
    status: ExitStatus, message: str, stdout: IO[str], stderr: IO[str], as_json: bool
) -> ExitStatus:
    print(f"error: {message}", file=stderr)
    if as_json:
        document = {
            "tables": [],
            "total": 0,
            "succeeded": 0,
            "failed": 0,
            "pending": 0,
            "excluded": 0,
            "managed": 0,
            "error": message,
        }
        json.dump(document, stdout, indent=2)
        stdout.write("\n")
    return status


def run() -> NoReturn:
    """The `sentinel-harden` script: the harden command itself, its usage line named as typed.
    `sentinel-harden harden ...`, the form before the script was the command, still works."""
    _prepare_streams()
    argv = sys.argv[1:]
    if argv[:1] == ["harden"]:
        argv = argv[1:]
    _exit(main(argv, sys.stdin, sys.stdout, sys.stderr, Path(sys.argv[0]).name))


def run_module() -> NoReturn:
    """`python -m remediation COMMAND`."""
    _prepare_streams()
    _exit(main(sys.argv[1:], sys.stdin, sys.stdout, sys.stderr))


def _prepare_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):  # ✓ and ✗ on a terminal that cannot show them
            stream.reconfigure(errors="replace")


def _exit(status: ExitStatus) -> NoReturn:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        # Keep the interpreter's own flush at exit from printing a traceback-like warning.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(status)
