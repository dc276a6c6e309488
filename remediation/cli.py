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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

from remediation import core
from remediation.controls import ALL, DELETION_PROTECTION, PITR, Control
from remediation.core import AwsError, Change, Outcome, Plan, Requirement, TableRef, TableState

if TYPE_CHECKING:
    from remediation.aws import Hardener

KNOWN_OPERATIONS = (
    "ListTables",
    "DescribeTable",
    "DescribeContinuousBackups",
    "UpdateTable",
    "UpdateContinuousBackups",
)


class ExitStatus(IntEnum):
    OK = 0
    """Every selected table is protected (hardened now, or already), or a dry run."""
    FAILED = 1
    """One or more tables could not be read or hardened (the others were done); under --check,
    one or more lack a protection or could not be read."""
    CANCELLED = 2
    """Declined at the prompt, or no terminal to ask on and no --force: nothing changed."""
    USAGE = 3
    """Bad flags or input (table name or ARN, prefix, rate): nothing was called."""
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
    "exit status: 0 all protected (or dry run), 1 one or more tables failed (under "
    "--check: unprotected or unreadable), 2 cancelled at the prompt, 3 bad input, "
    "4 AWS unusable (credentials, profile, region, endpoint, ListTables), "
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
        "--json", action="store_true", help="print one JSON document on stdout instead of text"
    )
    harden.add_argument("--aws-profile", metavar="PROFILE", help="AWS profile for credentials")
    harden.add_argument("--region", help="AWS region (default: from the profile or environment)")
    harden.add_argument(
        "--endpoint-url", metavar="URL", help="DynamoDB endpoint (default: AWS's; or a local one)"
    )
    harden.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="concurrent calls (default: 16; AWS allows 500 table updates in flight)",
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
    region: str | None
    endpoint_url: str | None
    workers: int | None
    rates: dict[str, float] = field(default_factory=dict)
    wait_timeout: float | None = None


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
    return Options(
        refs=refs,
        selection=core.Selection(args.prefix, tuple(args.exclude)),
        requirement=_requirement(args.no_pitr, args.min_recovery_days),
        force=args.force,
        dry_run=args.dry_run,
        check=args.check,
        as_json=args.json,
        profile=args.aws_profile,
        region=args.region,
        endpoint_url=args.endpoint_url,
        workers=args.workers,
        rates=_parse_rates(args.rate),
        wait_timeout=args.wait_timeout,
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
    states: list[TableState] = field(default_factory=list)
    plan: Plan | None = None
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)
    """Tables --exclude left out: never read, never written."""
    dry_run: bool = False
    check: bool = False
    cancelled: bool = False
    interrupted: bool = False
    region: str | None = None
    error: str | None = None

    def outcome(self, state: TableState) -> Outcome:
        found = self.outcomes.get(state.name)
        if found is not None:
            return found
        errors = {"table": state.error} if state.error else {}
        return Outcome(state, state, (), errors)

    def counts(self) -> dict[str, int]:
        summary = core.summarize(map(self.outcome, self.states), self.requirement)
        return {**asdict(summary), "excluded": len(self.excluded)}

    def exit_status(self) -> ExitStatus:
        if self.interrupted:
            return ExitStatus.INTERRUPTED
        if self.cancelled:
            return ExitStatus.CANCELLED
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
            requirement=options.requirement, dry_run=options.dry_run, check=options.check
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
        from remediation import aws  # boto3 is heavy: only now that the arguments are good

        opts = self.options
        settings = aws.Settings(
            profile=opts.profile,
            region=opts.region,
            endpoint_url=opts.endpoint_url,
            workers=opts.workers or aws.DEFAULT_WORKERS,
            rates={**aws.DEFAULT_RATES, **opts.rates},
            wait_timeout=(
                aws.DEFAULT_WAIT_TIMEOUT if opts.wait_timeout is None else opts.wait_timeout
            ),
        )
        client, region = aws.make_client(settings)
        self.report.region = region
        for ref in opts.refs:
            if ref.region is not None and ref.region != region:
                raise UsageError(
                    f"table ARN is in region {ref.region} but this run uses {region}: "
                    f"pass --region {ref.region}"
                )
        hardener = aws.Hardener(client, settings)
        try:
            return self._execute(hardener)
        except KeyboardInterrupt:
            hardener.cancel()
            return self._interrupted()

    def _execute(self, hardener: Hardener) -> ExitStatus:
        opts = self.options
        excluded: list[str] = []
        names: Iterable[str]
        if opts.refs:
            # A named table is still subject to --exclude: the exclusion is the stronger word.
            names = [r.name for r in opts.refs if not opts.selection.excludes(r.name)]
            excluded = [r.name for r in opts.refs if opts.selection.excludes(r.name)]
        else:
            names = hardener.discover(opts.selection, excluded)
        controls = opts.requirement.controls
        with Progress(self.stderr, "Reading tables", enabled=self.text is not None) as bar:
            states = hardener.read_all(names, controls, bar.update)
        self.report.excluded = sorted(excluded)
        states = [_check_account(state, opts.refs) for state in states]
        self.report.states = sorted(states, key=lambda s: s.name)
        plan = core.plan(states, opts.requirement)
        self.report.plan = plan
        self._show_status(plan)

        if opts.check:
            self._show_check(plan)
            return self.report.exit_status()
        if opts.dry_run:
            self.say("Dry run: nothing was changed.")
            return self.report.exit_status()
        if not plan.changes:
            return self.report.exit_status()
        if not opts.force and not self._confirm(len(plan.changes)):
            self.report.cancelled = True
            return self.report.exit_status()

        by_name = {s.name: s for s in states}
        with Progress(self.stderr, "Hardening", enabled=self.text is not None) as bar:
            try:
                outcomes = hardener.apply_all(by_name, plan.changes, bar.update)
            except KeyboardInterrupt as exc:
                partial: Mapping[int, Outcome] = getattr(exc, "partial", {})
                self.report.outcomes = {o.name: o for o in partial.values()}
                raise
        self.report.outcomes = {o.name: o for o in outcomes}
        self._show_results()
        return self.report.exit_status()

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
        done = sorted(self.report.outcomes)
        planned = [c.table for c in self.report.plan.changes] if self.report.plan else []
        not_done = [name for name in planned if name not in self.report.outcomes]
        if not self.report.outcomes:
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

    def _show_status(self, plan: Plan) -> None:
        states = self.report.states
        title = "Sentinel DynamoDB Hardening"
        self.say(title)
        self.say("=" * len(title))
        self.say()
        excluded = self.report.excluded
        found = f"{len(states)} found" + (f", {len(excluded)} excluded" if excluded else "")
        self.say(f"Tables to {'check' if self.options.check else 'harden'} ({found}):")
        self.say()
        if states:
            width = max(len("Table"), *(len(s.name) for s in states)) + 4
            labels = [c.label for c in ALL]
            rows = [["Table", *labels], ["-----", *("-" * len(x) for x in labels)]]
            rows += [[s.name, *(self._cell(s, c) for c in ALL)] for s in states]
            for name, *cells in rows:
                self.say(("  " + name.ljust(width) + "".join(c.ljust(23) for c in cells)).rstrip())
            self.say()
        problems = [f"! {s.name}: {problem}" for s in states for problem in _read_problems(s)]
        for line in problems:
            self.say(line)
        if problems:
            self.say()
        if excluded:
            self.say(f"Excluded by --exclude (never read or written): {', '.join(excluded)}")
            self.say()
        by_name = {s.name: s for s in states}
        if plan.changes and self.options.check:
            self.say("Not protected:")
            for change in plan.changes:
                lacks = ", ".join(self._lack(by_name[change.table], c) for c in change.enable)
                self.say(f"- {change.table}: {lacks}")
        elif plan.changes:
            self.say("Changes to apply:")
            for change in plan.changes:
                steps = ", ".join(_step(by_name[change.table], change, c) for c in change.enable)
                self.say(f"- {change.table}: {steps}")
        elif states and self.options.check:
            pass  # the closing check line says it
        elif states:
            self.say(f"No changes needed: all {len(states)} tables are already protected.")
            if plan.unreadable:
                self.say(f"Except {len(plan.unreadable)} that could not be read (see above).")
        elif excluded:
            self.say(
                f"Every table found is excluded by --exclude ({len(excluded)}): nothing to do."
            )
        else:
            where = ", ".join(r.name for r in self.options.refs) or (
                f"prefix {self.options.selection.prefix!r}"
            )
            self.say(f"No tables found ({where}) in {self.report.region}: nothing to do.")
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

    def _show_check(self, plan: Plan) -> None:
        total = len(self.report.states)
        if not total:
            return  # the status already said there is nothing to check
        if not plan.changes and not plan.unreadable:
            self.say(f"Check: all {total} tables are protected. Nothing was changed.")
            return
        parts = [f"{len(plan.protected)} of {total} tables protected"]
        if plan.changes:
            parts.append(f"{len(plan.changes)} not protected")
        if plan.unreadable:
            parts.append(f"{len(plan.unreadable)} could not be read")
        self.say(f"Check: {', '.join(parts)}. Nothing was changed.")

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
        for state in self.report.states:
            outcome = self.report.outcome(state)
            ok = outcome.succeeded(self.report.requirement)
            if not ok and not outcome.errors:
                continue  # planned but never attempted (interrupted): told in the closing line
            self.say(f"{'✓' if ok else '✗'} {state.name}: {self._describe(outcome)}")
        counts = self.report.counts()
        self.say()
        self.say(
            f"Summary: {counts['succeeded']}/{counts['total']} tables hardened successfully"
            + (f", {counts['failed']} failed" if counts["failed"] else "")
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
        plan = self.report.plan
        changes = {c.table: c for c in plan.changes} if plan else {}
        tables = [self._table_json(s, changes.get(s.name)) for s in self.report.states]
        tables += [_excluded_json(name) for name in self.report.excluded]
        return {
            "tables": sorted(tables, key=lambda t: str(t["table_name"])),
            **self.report.counts(),
            "region": self.report.region,
            "check": self.report.check,
            "dry_run": self.report.dry_run,
            "cancelled": self.report.cancelled,
            "interrupted": self.report.interrupted,
            "error": self.report.error,
        }

    def _table_json(self, state: TableState, change: Change | None) -> dict[str, Any]:
        outcome = self.report.outcome(state)
        errors = [_error_json(key, err) for key, err in outcome.errors.items()]
        read_errors = [
            _error_json(c.id, state.reading(c).error)
            for c in self.report.requirement.controls
            if state.reading(c).error is not None
        ]
        entry: dict[str, Any] = {
            "table_name": state.name,
            "table_arn": state.arn,
            "deletion_protection_changed": DELETION_PROTECTION in outcome.changed,
            "pitr_changed": PITR in outcome.changed,
            "result": _result(self.report, outcome, change is not None),
            "planned": [c.id for c in change.enable] if change else [],
            "before": _state_json(outcome.before, self.report.requirement),
            "after": _state_json(outcome.after, self.report.requirement),
        }
        if read_errors:
            entry["read_errors"] = read_errors
        if errors:
            entry["error"] = errors[0]
            entry["errors"] = errors
        return entry


def _result(report: Report, outcome: Outcome, planned: bool) -> str:
    if outcome.errors:
        return "failed"
    if core.is_protected(outcome.after, report.requirement):
        return "hardened" if outcome.changed else "already_protected"
    if planned:
        return "unprotected" if report.check else "pending"
    return "failed"


def _excluded_json(name: str) -> dict[str, Any]:
    """An excluded table: never read, so nothing about it is known."""
    return {
        "table_name": name,
        "table_arn": None,
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


def _state_json(state: TableState, requirement: Requirement) -> dict[str, Any]:
    pitr_checked = PITR in requirement.controls
    return {
        "deletion_protection": state.deletion_protection.enabled,
        "pitr_enabled": state.pitr.enabled if pitr_checked else None,
        "pitr_recovery_period_days": state.pitr_recovery_days,
        "table_status": state.status,
    }


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


def _check_account(state: TableState, refs: Sequence[TableRef]) -> TableState:
    """A table named by ARN must be in the account the credentials reach, or it is not ours."""
    for ref in refs:
        if ref.name == state.name and ref.account and state.arn:
            account = state.arn.split(":")[4]
            if account != ref.account:
                error = AwsError(
                    "dynamodb:DescribeTable",
                    "AccountMismatch",
                    f"the ARN names account {ref.account} but these credentials reach {account}",
                )
                return TableState(name=state.name, arn=state.arn, error=error)
    return state


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
