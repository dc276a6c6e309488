"""The run, top-down: select, read, judge, confirm, act, report.

It builds one immutable `Report` and formats nothing (beyond the prompt): the formats render the
report. boto3 is imported only here, once the arguments are good.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

from remediation import core
from remediation.cli import harden_guardrail
from remediation.cli.args import Options, UsageError
from remediation.cli.findings import send_to_security_hub
from remediation.cli.progress import Progress, isatty
from remediation.cli.report import (
    NOT_ATTEMPTED,
    HubImport,
    Report,
    RowKey,
    Stage,
    TableResult,
    TargetResult,
)
from remediation.cli.status import ExitStatus
from remediation.cli.words import count, place
from remediation.core import AwsError, Change, Outcome, TableRef, TableState
from remediation.guardrail import GuardrailError
from remediation.pulumi_state import ManagedTable

if TYPE_CHECKING:
    from remediation.fleet import Fleet, Row, Scope, Target

ShowPlan = Callable[[Report], None]
"""Called once with the judged report, before the prompt: a streaming format shows the plan."""


@dataclass(frozen=True)
class Console:
    """Where the person is: the prompt reads stdin, progress and notices go to stderr."""

    stdin: IO[str]
    stdout: IO[str]
    stderr: IO[str]
    interactive_output: bool = True
    """The report is text for a person (not JSON): progress bars may be drawn."""


def execute(options: Options, console: Console, show_plan: ShowPlan) -> Report:
    """Run the harden command; every outcome, interruption and setup error is in the report."""
    facts = _Facts(options)
    try:
        from remediation import aws  # boto3 is heavy: only now that the arguments are good

        try:
            _run(options, console, show_plan, facts)
        except aws.SetupError as exc:
            facts.fail(_name_unknown_regions(str(exc), facts.regions), usage=False)
    except KeyboardInterrupt:
        if facts.fleet is not None:
            facts.fleet.cancel()
        facts.interrupted = True
    except UsageError as exc:
        facts.fail(str(exc), usage=True)
    return facts.freeze()


def _run(options: Options, console: Console, show_plan: ShowPlan, facts: _Facts) -> None:
    # select: the accounts and regions, and who the caller is
    targets = _select(options, facts)
    # read: every selected table of every target
    rows = _read(options, console, targets, facts)
    # judge: what each table lacks, per account-region
    _judge(options, rows, facts)
    facts.interrupted = targets.interrupted  # Ctrl-C during the reads: what was read is kept
    show_plan(facts.freeze())
    if facts.interrupted:
        return
    if not (rows or facts.excluded or options.allow_empty) and targets.ok_targets():
        # A typo is not a pass, whether the run checks or hardens (a CI job that hardens must
        # not go green on one). Every table excluded by --exclude is what was asked: no error.
        # Where no account-region was reached, their failures say why.
        facts.fail(_nothing_checked(facts), usage=False)
        return
    if not (options.check or options.dry_run or not facts.changes):
        # confirm
        where = place([r.account for r, _ in facts.changes], [r.region for r, _ in facts.changes])
        if not options.force and not _confirm(console, options, len(facts.changes), where):
            facts.cancelled = True
            return
        # act
        facts.stage = "acted"
        with Progress(console.stderr, "Hardening", enabled=console.interactive_output) as bar:
            targets.apply(facts.changes, facts.outcomes, bar.update)
    # report where security teams look: the verdicts into each account-region's Security Hub
    if options.security_hub:
        _import_findings(targets, facts)


def _select(options: Options, facts: _Facts) -> Fleet:
    from remediation import aws, fleet

    if options.requirement.min_recovery_days is not None:
        aws.require_recovery_period_model("--min-recovery-days")
    scope = _scope(options)
    facts.regions = scope.regions
    settings = aws.Settings(
        profile=options.profile,
        region=scope.regions[0] if scope.regions else None,
        endpoint_url=options.endpoint_url,
        workers=options.workers
        or (aws.DEFAULT_WORKERS if options.scope.single else aws.DEFAULT_FLEET_WORKERS),
        rates={**aws.DEFAULT_RATES, **options.rates},
        wait_timeout=(
            aws.DEFAULT_WAIT_TIMEOUT if options.wait_timeout is None else options.wait_timeout
        ),
    )
    if options.guardrail is not None:
        try:
            facts.guardrail = harden_guardrail.resolve(
                options.guardrail, scope, settings, check=options.check
            )
        except GuardrailError as exc:
            raise UsageError(str(exc)) from None
        settings = replace(settings, guardrail=facts.guardrail.guardrail)
    targets = fleet.Fleet(scope, settings)
    facts.fleet = targets
    facts.regions = targets.regions
    if len(targets.regions) == 1:
        facts.region = targets.regions[0]
    try:
        targets.check_refs(options.refs)
    except fleet.InvalidScope as exc:
        raise UsageError(str(exc)) from None
    targets.connect()
    return targets


def _scope(options: Options) -> Scope:
    """The scope asked for; with no region given or configured, the regions the --table ARNs
    name (an ARN says where its table is)."""
    from remediation import aws

    scope = options.scope
    if scope.regions or scope.all_regions:
        return scope
    named = tuple(sorted({ref.region for ref in options.refs if ref.region}))
    if not named:
        return scope
    session = aws.make_session(aws.Settings(profile=options.profile))
    if aws.session_region(session) is not None:
        return scope  # the configured region rules; an ARN elsewhere is refused by check_refs
    known = aws.known_regions()
    unknown = [r for r in named if r not in known]
    if unknown:  # said before any call, as for --region: never a table row blaming the network
        raise aws.SetupError(
            f"{unknown[0]!r} is not a region AWS knows (or not one this botocore knows yet): "
            "a --table ARN names it"
        )
    return replace(scope, regions=named)


def _nothing_checked(facts: _Facts) -> str:
    if facts.fleet is not None and not facts.fleet.scope.single:
        looked = count(len(facts.fleet.ok_targets()), "account-region")
    else:
        looked = ", ".join(facts.regions)
    what = f"no table matches prefix {facts.options.selection.prefix!r} in {looked}"
    return f"nothing was checked: {what}; pass --allow-empty if an empty selection is intended"


def _name_unknown_regions(message: str, regions: Sequence[str]) -> str:
    """A setup error in a region AWS does not know says so first: that is the likely cause."""
    from remediation import aws

    known = aws.known_regions()
    unknown = [r for r in regions if r not in known]
    if not unknown:
        return message
    names = ", ".join(repr(r) for r in unknown)
    return f"{names} is not a region AWS knows (or not one this botocore knows yet): {message}"


def _read(options: Options, console: Console, targets: Fleet, facts: _Facts) -> list[Row]:
    controls = options.requirement.controls
    excluded: list[RowKey] = []
    with Progress(console.stderr, "Reading tables", enabled=console.interactive_output) as bar:
        rows = targets.read(options.selection, options.refs, controls, bar.update, excluded)
    # Today's one-target run learns its account from the tables' ARNs: name it alike.
    accounts = {row.region: row.account for row in rows if row.target[0] is None}
    facts.excluded = sorted(
        ((a or accounts.get(r), r, name) for a, r, name in excluded),
        key=lambda k: (k[0] or "", k[1] or "", k[2]),
    )
    rows = [_check_account(row, options.refs) for row in rows]
    own = {row.account for row in rows if row.target[0] is None and row.account}
    if targets.scope.single and (shut := sorted(own & set(options.scope.exclude_accounts))):
        # Without --role-arn or --organization, --exclude-account names replicas' accounts
        # only: the run's own account cannot be both run in and excluded. Nothing was written.
        raise UsageError(
            f"--exclude-account {shut[0]} is the account these credentials reach "
            "(without --role-arn or --organization it names accounts of replicas to leave out)"
        )
    facts.rows = rows
    facts.stage = "read"
    for row in rows:
        managed = options.managed.find(row.state.name, row.region, row.account)
        if managed is not None:
            facts.managed[row.key] = managed
    return rows


def _judge(options: Options, rows: Sequence[Row], facts: _Facts) -> None:
    """Judge each account-region on its own (names repeat across them), in row order."""
    by_target: dict[tuple[str | None, str | None], list[Row]] = {}
    for row in rows:
        by_target.setdefault((row.target[0], row.region), []).append(row)
    changes: dict[RowKey, Change] = {}
    for group in by_target.values():
        plan = core.plan((r.state for r in group), options.requirement)
        by_name = {r.state.name: r for r in group}
        changes.update({by_name[c.table].key: c for c in plan.changes})
    planned = [(r, changes[r.key]) for r in rows if r.key in changes]
    facts.planned = dict(((r.key, c) for r, c in planned))
    if options.include_managed or options.check:
        facts.changes = planned
    else:
        # Pulumi owns these: a write here would be reverted by its next `up --refresh`.
        facts.changes = [(r, c) for r, c in planned if r.key not in facts.managed]
    facts.stage = "judged"


def _import_findings(targets: Fleet, facts: _Facts) -> None:
    """One ASFF finding per table and control, into the Security Hub CSPM of the account-region
    the table is in, with the credentials that reached it; each account-region on its own."""
    facts.at = datetime.now(UTC)
    facts.security_hub = send_to_security_hub(facts.freeze(), targets.security_hub)


def _confirm(console: Console, options: Options, tables: int, where: str) -> bool:
    # The question goes where the person is: stdout when it is their terminal, else stderr
    # (stdout may be JSON, a pipe to tee, or a file).
    on_terminal = options.terminal_format == "text" and isatty(console.stdout)
    prompt_to = console.stdout if on_terminal else console.stderr
    if not isatty(console.stdin):
        print(
            "Cancelled: no terminal to confirm on; pass --force to harden without a prompt.",
            file=console.stderr,
        )
        return False
    # Where, so that a wrong profile or region is seen before anything is changed.
    print(f"Harden {count(tables)} in {where}? [y/N] ", end="", file=prompt_to, flush=True)
    answer = console.stdin.readline()
    if not answer:
        print("", file=prompt_to)
    if answer.strip().lower() in ("y", "yes"):
        return True
    print("Cancelled: nothing was changed.", file=console.stderr)
    return False


def _check_account(row: Row, refs: Sequence[TableRef]) -> Row:
    """A table named by ARN must be in the account the credentials reach, or it is not ours."""
    state = row.state
    for ref in refs:
        parsed = core.parse_arn(state.arn)
        if ref.name == state.name and ref.account and parsed is not None:
            account = parsed.account
            if account != ref.account:
                error = AwsError(
                    "dynamodb:DescribeTable",
                    "AccountMismatch",
                    f"the ARN names account {ref.account} but these credentials reach {account}",
                )
                return replace(row, state=TableState(name=state.name, arn=state.arn, error=error))
    return row


# -- the report, built from what the run learned ------------------------------------------------


@dataclass
class _Facts:
    """What the run has learned so far; `freeze` turns it into the report."""

    options: Options
    stage: Stage = "setup"
    fleet: Fleet | None = None
    regions: tuple[str, ...] = ()
    region: str | None = None
    rows: list[Row] = field(default_factory=list)
    excluded: list[RowKey] = field(default_factory=list)
    managed: dict[RowKey, ManagedTable] = field(default_factory=dict)
    planned: dict[RowKey, Change] = field(default_factory=dict)
    changes: list[tuple[Row, Change]] = field(default_factory=list)
    outcomes: dict[RowKey, Outcome] = field(default_factory=dict)
    cancelled: bool = False
    interrupted: bool = False
    error: str | None = None
    usage_error: bool = False
    at: datetime | None = None
    security_hub: list[HubImport] = field(default_factory=list)
    guardrail: harden_guardrail.Resolved | None = None

    def fail(self, message: str, usage: bool) -> None:
        self.error = message
        self.usage_error = usage

    def freeze(self) -> Report:
        opts = self.options
        writes = {row.key for row, _ in self.changes}
        tables = tuple(self._table(row, writes) for row in self.rows)
        targets: list[Target] = list(self.fleet.targets.values()) if self.fleet else []
        error_status = None
        if self.error is not None:
            error_status = ExitStatus.USAGE if self.usage_error else ExitStatus.AWS_SETUP
        return Report(
            requirement=opts.requirement,
            stage=self.stage,
            tables=tables,
            excluded=tuple(self.excluded),
            targets=tuple(
                _target(t, opts.check)
                for t in sorted(targets, key=lambda t: (t.account or "", t.region))
            ),
            fleet=not (self.fleet.scope if self.fleet else opts.scope).single,
            region=self.region,
            named=tuple(ref.name for ref in opts.refs),
            prefix=opts.selection.prefix,
            check=opts.check,
            dry_run=opts.dry_run,
            include_managed=opts.include_managed,
            cancelled=self.cancelled,
            interrupted=self.interrupted,
            error=self.error,
            error_status=error_status,
            at=self.at or datetime.now(UTC),
            security_hub=tuple(self.security_hub),
            guardrail=self.guardrail,
        )

    def _table(self, row: Row, writes: set[RowKey]) -> TableResult:
        state = row.state
        outcome = self.outcomes.get(row.key)
        planned = self.planned.get(row.key)
        if outcome is None:
            outcome = Outcome(state, state, (), {"table": state.error} if state.error else {})
        kept = tuple((k, e) for k, e in outcome.errors.items() if e.code != NOT_ATTEMPTED)
        not_attempted = tuple(
            c
            for c in self.options.requirement.controls
            if (e := outcome.errors.get(c.id)) is not None and e.code == NOT_ATTEMPTED
        )
        started = row.key in self.outcomes and (planned is None or not_attempted != planned.enable)
        if self.interrupted and planned is not None and row.key in writes and not started:
            # Never started (or stopped before its first write): every planned write is not
            # attempted, whether its task was queued, cancelled or never made.
            not_attempted = planned.enable
        return TableResult(
            key=row.key,
            account=row.account,
            region=row.region,
            before=outcome.before,
            after=outcome.after,
            requirement=self.options.requirement,
            replica_of=row.replica_of,
            planned=self.planned.get(row.key),
            held=row.key in self.planned and row.key not in writes,
            attempted=started,
            changed=outcome.changed,
            errors=kept,
            not_attempted=not_attempted,
            managed_by=self.managed.get(row.key),
            check=self.options.check,
            include_managed=self.options.include_managed,
        )


def _target(target: Target, check: bool) -> TargetResult:
    return TargetResult(
        account=target.account,
        region=target.region,
        status=target.status,
        error=target.error,
        reason=target.reason,
        fails=target.fails or (check and target.unchecked),
        for_replicas=target.for_replicas,
    )


__all__ = ["Console", "ShowPlan", "execute"]
