"""The human report: a status table, the plan, then what was done and a closing Summary line.

It streams: `render_plan` shows the status and the plan before the prompt, `render_outcome` the
rest once the run is over; `render` is both.
"""

from __future__ import annotations

from typing import IO

from remediation import core
from remediation.cli.harden_guardrail import Resolved
from remediation.cli.report import Report, TableResult
from remediation.cli.words import count as _count
from remediation.cli.words import of as _of
from remediation.cli.words import place
from remediation.controls import ALL, GUARDRAIL, PITR, Control
from remediation.core import Change, TableState, parse_arn
from remediation.guardrail import LENIENT_LEAVES_OPEN, Mode

_FIX_IN_PULUMI = (
    "in the code, or run `pulumi up --policy-pack policy_pack`: a change made here is "
    "reverted by the next `pulumi up --refresh` of a program that sets it off."
)


class _Lines:
    """Lines on a stream; once the reader has gone (`| head`), the rest is dropped quietly: the
    run the user asked for still completes, and its exit status still tells."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream: IO[str] | None = stream

    def __call__(self, line: str = "") -> None:
        if self.stream is None:
            return
        try:
            print(line, file=self.stream, flush=True)
        except BrokenPipeError:
            self.stream = None


def render(report: Report, stream: IO[str]) -> None:
    render_plan(report, stream)
    render_outcome(report, stream)


def render_plan(report: Report, stream: IO[str]) -> None:
    """The status of every table read, and what the run means to do about it."""
    if report.stage in ("setup", "read"):
        return  # nothing was judged: the line on stderr says why
    _status(report, _Lines(stream))


def render_outcome(report: Report, stream: IO[str]) -> None:
    """What the run did, and its closing Summary line: always the last line."""
    say = _Lines(stream)
    if report.stage in ("setup", "read"):
        return  # nothing was judged: the line on stderr says why
    if report.stage == "acted":
        _results(report, say)
    _targets(report, say)
    if report.dry_run:
        say("Dry run: nothing was changed.")
    say(summary(report))


# -- the status and the plan -------------------------------------------------------------------


def _status(report: Report, say: _Lines) -> None:
    tables = report.tables
    title = "Sentinel DynamoDB Hardening"
    say(title)
    say("=" * len(title))
    say()
    say(_heading(report))
    say()
    if report.guardrail is not None:
        for line in _guardrail_lines(report.guardrail):
            say(line)
        say()
    if tables:
        _table(report, say)
        say()
    problems = [
        f"! {report.label(t)}: {problem}"
        for t in tables
        for problem in _read_problems(t.before, _shown(report))
    ]
    for line in problems:
        say(line)
    if problems:
        say()
    excluded = report.excluded
    if excluded:
        listed = ", ".join(report.where(*key[:2]) + key[2] for key in excluded)
        say(f"Excluded by --exclude (never read or written): {listed}")
        say()
    changes = report.changes
    if changes and report.check:
        say("Not protected:")
        for table in changes:
            lacks = ", ".join(_lack(report, table.before, c) for c in _enable(table))
            say(f"- {report.label(table)}: {lacks}{_managed_note(report, table)}")
        if any(t.managed_by is not None for t in changes):
            say(f"  For those Pulumi manages: fix them {_FIX_IN_PULUMI}")
    elif changes:
        say("Changes to apply:")
        for table in changes:
            assert table.planned is not None
            steps = ", ".join(_step(table.before, table.planned, c) for c in table.planned.enable)
            say(f"- {report.label(table)}: {steps}{_managed_note(report, table)}")
    elif tables and report.check:
        _empty_accounts(report, say)
        return  # the Summary says it
    elif tables and report.held:
        say("No changes to apply outside Pulumi.")
    elif tables:
        protected = len(report.protected_before)
        unreadable = len(report.unreadable)
        if not unreadable:
            say(f"No changes needed: {_all(protected)} already protected.")
        elif protected:
            say(
                f"No changes to apply: {_count(protected)} already protected, "
                f"{_count(unreadable)} could not be read (see above)."
            )
        else:
            say(f"Nothing can be changed: {_all(unreadable, 'could')} not be read (see above).")
    elif excluded:
        say(f"Every table found is excluded by --exclude ({len(excluded)}): nothing to do.")
    elif report.every_target_failed:
        say(f"No table could be looked for: {_all_targets(report)} failed (listed below).")
    else:
        where = ", ".join(report.named) or f"prefix {report.prefix!r}"
        if report.fleet:
            reached = sum(t.status == "ok" for t in report.looked_in)
            say(f"No tables found ({where}) in {_count(reached, 'account-region')}.")
        else:
            say(f"No tables found ({where}) in {report.region}.")
    _empty_accounts(report, say)
    say()
    _closing_plan(report, say)


def _closing_plan(report: Report, say: _Lines) -> None:
    if report.held:
        _held(report, say)


def _heading(report: Report) -> str:
    tables = report.tables
    unreadable = len(report.unreadable)
    found = f"{len(tables) - unreadable} found"
    if unreadable:
        found += f", {unreadable} could not be read"
    if report.excluded:
        found += f", {len(report.excluded)} excluded"
    verb = "check" if report.check else "harden"
    if not report.fleet:
        # The account comes from the tables' ARNs: a one-account run makes no call to know it.
        where = place((t.account for t in tables), [report.region])
        return f"Tables to {verb} ({found}{' in ' + where if where else ''}):"
    accounts = report.accounts_looked_in
    regions = report.regions_looked_in
    found_accounts = sorted({t.account for t in tables if t.account}) or list(accounts)
    found_regions = sorted({t.region for t in tables if t.region}) or list(regions)
    where = place(found_accounts, found_regions)
    looked = [
        f"{_count(len(values), noun)} looked in"
        for noun, values, found_in in (
            ("account", accounts, found_accounts),
            ("region", regions, found_regions),
        )
        if len(values) > len(found_in)
    ]
    return f"Tables to {verb} ({found} in {'; '.join([where, *looked])}):"


def _empty_accounts(report: Report, say: _Lines) -> None:
    """An account the run reached where no table was selected is still named."""
    if not report.fleet or not report.tables:
        return
    with_tables = {t.account for t in report.tables}
    ok = [t for t in report.looked_in if t.status == "ok" and t.account]
    for account in sorted({a for t in ok if (a := t.account)} - with_tables):
        regions = sum(t.account == account for t in ok)
        say(f"No selected tables in account {account} ({_count(regions, 'region')} looked in).")


def _table(report: Report, say: _Lines) -> None:
    tables = report.tables
    show_account, show_region = report.columns
    names = [_table_cell(t) for t in tables]
    width = max(len("Table"), *(len(n) for n in names)) + 4
    managed = report.managed
    labels = [c.label for c in _shown(report)] + (["Pulumi"] if managed else [])
    lead: list[tuple[str, int]] = []
    if show_account:
        lead.append(("Account", max(len("Account"), *(len(t.account or "-") for t in tables))))
    if show_region:
        lead.append(("Region", max(len("Region"), *(len(t.region or "-") for t in tables))))
    header = ["Table", *labels]
    rule = ["-----", *("-" * len(x) for x in labels)]
    lines = [
        ([h for h, _ in lead], header),
        (["-" * len(h) for h, _ in lead], rule),
    ]
    for table, name in zip(tables, names, strict=True):
        values = [
            *([table.account or "-"] if show_account else []),
            *([table.region or "-"] if show_region else []),
        ]
        cells = [_cell(report, table.before, c) for c in _shown(report)]
        if managed:
            stack = table.managed_by.stack if table.managed_by else None
            cells.append(f"managed (stack {stack})" if stack else "")
        lines.append((values, [name, *cells]))
    for values, (name, *cells) in lines:
        front = "".join(v.ljust(w + 4) for v, (_, w) in zip(values, lead, strict=True))
        say(("  " + front + name.ljust(width) + "".join(c.ljust(23) for c in cells)).rstrip())


def _managed_note(report: Report, table: TableResult) -> str:
    managed = table.managed_by
    if managed is None:
        return ""
    if report.check:
        return f" (managed by Pulumi stack {managed.stack})"
    return f" (managed by Pulumi stack {managed.stack}: set it in the code too)"


def _held(report: Report, say: _Lines) -> None:
    """Managed tables lacking a protection: what they lack, where, and how to fix it."""
    held = report.held
    say(f"Managed by Pulumi, left to it ({len(held)}):")
    for table in held:
        managed = table.managed_by
        assert managed is not None
        lacks = ", ".join(_lack(report, table.before, c) for c in _enable(table))
        say(f"- {report.label(table)}: {lacks} (stack {managed.stack}, {managed.urn})")
    say(f"  Fix them {_FIX_IN_PULUMI} --include-managed hardens them here anyway.")
    say()


def _enable(table: TableResult) -> tuple[Control, ...]:
    return table.planned.enable if table.planned is not None else ()


def _lack(report: Report, state: TableState, control: Control) -> str:
    reading = state.reading(control)
    if reading.enabled is None:
        return f"{control.noun} unknown"
    if reading.enabled and state.pitr_recovery_days is None:
        wanted = report.requirement.min_recovery_days
        return f"{control.noun} recovery period unknown (at least {wanted} days required)"
    if reading.enabled:  # on, so it is the recovery period that falls short
        return (
            f"{control.noun} keeps {state.pitr_recovery_days} days, fewer than "
            f"{report.requirement.min_recovery_days}"
        )
    return f"{control.noun} off"


def _cell(report: Report, state: TableState, control: Control) -> str:
    if control not in report.requirement.controls:
        return "not checked"
    if state.error is not None:
        return "Unknown"
    reading = state.reading(control)
    if reading.error is not None:
        return f"Unknown ({reading.error.code})"
    if control is PITR and reading.enabled and state.pitr_recovery_days is not None:
        return f"{reading.label} ({state.pitr_recovery_days} days)"
    if control is PITR and core.recovery_period_unknown(state, report.requirement):
        return f"{reading.label} (period unknown)"
    return reading.label


def _step(state: TableState, change: Change, control: Control) -> str:
    if control is PITR and change.recovery_days is not None and state.pitr_recovery_days is None:
        return (
            f"Raise {control.noun} recovery period to {change.recovery_days} days if shorter "
            "(period unknown: read again just before the write, never lowered)"
        )
    if control is PITR and change.recovery_days is not None:
        return (
            f"Raise {control.noun} recovery period from {state.pitr_recovery_days} to "
            f"{change.recovery_days} days"
        )
    unknown = " (current state unknown)" if control in change.unknown else ""
    if control is GUARDRAIL:
        return f"Put {control.noun} (merged by Sid into the table's resource policy){unknown}"
    return f"Enable {control.noun}{unknown}"


def _read_problems(state: TableState, shown: tuple[Control, ...]) -> list[str]:
    if state.error is not None:
        return [f"cannot be read: {state.error}"]
    return [f"{c.noun} unknown: {state.reading(c).error}" for c in shown if state.reading(c).error]


def _guardrail_lines(resolved: Resolved) -> list[str]:
    asked = resolved.guardrail
    allowed = len(asked.principals.arns())
    lines = [
        f"Guardrail ({asked.mode.value}): {allowed} allowed role(s); the hardener's role: "
        f"{resolved.hardener_role_source}"
    ]
    if asked.mode is Mode.LENIENT:
        lines.append(f"  {LENIENT_LEAVES_OPEN}")
    if asked.confirm_remove_self_access:
        lines.append(
            "  --confirm-remove-self-access: the caller is not allowed, and will no longer be able "
            "to change these tables' policies"
        )
    return lines


def _shown(report: Report) -> tuple[Control, ...]:
    """The columns: deletion protection and PITR always (PITR "not checked" under --no-pitr),
    and the guardrail when asked for."""
    return (*ALL, GUARDRAIL) if GUARDRAIL in report.requirement.controls else ALL


def _table_cell(table: TableResult) -> str:
    if table.replica_of is None:
        return table.name
    parsed = parse_arn(table.replica_of)
    origin = (parsed.region if parsed else None) or "?"
    return f"{table.name} (replica of {origin})"


# -- the outcome -------------------------------------------------------------------------------


def _targets(report: Report, say: _Lines) -> None:
    """One line per account-region that failed or was skipped, then what Security Hub CSPM
    took."""
    troubled = report.troubled_targets
    # One line per account and reason: an account with 14 regions not enabled is one line, not 14.
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    for target in troubled:
        mark = "✗" if target.fails else "-"
        key = (mark, target.account or "-", target.status, target.reason)
        groups.setdefault(key, []).append(target.region)
    for (mark, account, status, reason), regions in groups.items():
        listed = ", ".join(regions)
        where = regions[0] if len(regions) == 1 else f"{len(regions)} regions ({listed})"
        where = "all regions" if where == core.ACCOUNT_WIDE else where
        say(f"{mark} {account} {where}: {status}: {reason}")
    if troubled:
        say()
    _security_hub(report, say)


def _security_hub(report: Report, say: _Lines) -> None:
    """--security-hub: findings imported and passed ones set RESOLVED, a region without Security
    Hub said once, and each finding refused or not set RESOLVED named by its table and control."""
    hubs = report.security_hub
    if not hubs:
        return
    imported = sum(hub.imported for hub in hubs)
    reached = sum(not hub.not_enabled for hub in hubs)
    resolved = sum(hub.resolved for hub in hubs)
    archived = sum(hub.archived for hub in hubs)
    closed = f", {resolved} passed ones set to RESOLVED" if resolved else ""
    closed += f", {archived} of tables gone or excluded archived" if archived else ""
    say(
        f"Security Hub CSPM: {imported} findings imported in {reached} of {len(hubs)} "
        f"account-regions{closed}."
    )
    for hub in hubs:
        where = f"{hub.account or '-'} {hub.region}"
        if hub.not_enabled:
            say(
                f"- {where}: Security Hub CSPM is not enabled there; its {hub.sent} findings were "
                "not imported (the hardening is not affected)"
            )
        elif hub.error is not None:
            left = hub.sent - hub.imported - len(hub.rejected)
            say(f"✗ {where}: {left} findings not imported: {hub.error}")
        for rejected in hub.rejected:
            say(
                f"✗ {where} {rejected.table}: finding {rejected.control} refused: "
                f"{rejected.code}: {rejected.message}"
            )
        if hub.resolve_error is not None:
            left = hub.to_resolve - hub.resolved - len(hub.unresolved)
            say(
                f"✗ {where}: {left} passed findings not set to RESOLVED (they keep their "
                f"workflow status): {hub.resolve_error}"
            )
        for unresolved in hub.unresolved:
            say(
                f"✗ {where} {unresolved.table}: finding {unresolved.control} passed but not set "
                f"to RESOLVED: {unresolved.code}: {unresolved.message}"
            )
    say()


def _results(report: Report, say: _Lines) -> None:
    """One row per table: protected, failed, or (interrupted) part done; a table whose write
    never started has no row: it is pending, and the Summary counts it."""
    for table in report.tables:
        if table.protected or table.failed:
            mark = "✓" if table.protected else "✗"
            say(f"{mark} {report.label(table)}: {_describe(report, table)}")
        elif table.attempted:
            # Started when the run was interrupted, not finished: pending, never failed.
            say(f"- {report.label(table)}: {_describe(report, table)}")
    for table in report.held:
        assert table.managed_by is not None
        stack = table.managed_by.stack
        say(f"- {report.label(table)}: left to Pulumi (stack {stack}), not changed")
    say()


def summary(report: Report) -> str:
    """The closing line: how many tables are protected, and what is not, from the report's
    own counts (the JSON counts and the line on stderr say the same)."""
    parts: list[str] = []
    if report.total == 0:
        if report.every_target_failed:
            head = "no table could be looked for"
        elif report.excluded:
            head = "no table selected"
        else:
            head = "no tables found"
    else:
        hardened = report.hardened
        already = report.succeeded - hardened
        protected = _of(report.succeeded, report.total)
        if hardened and already:
            head = f"{protected} protected ({hardened} hardened now, {already} already)"
        elif hardened:
            head = f"{protected} protected ({hardened} hardened now)"
        elif already and not report.check:
            head = f"{protected} already protected"
        else:
            head = f"{protected} protected"
    if report.failed:
        parts.append(f"{report.failed} failed")
    waiting = len(report.not_attempted)
    if waiting:
        if report.check:
            parts.append(f"{waiting} not protected")
        elif report.dry_run:
            parts.append(f"{waiting} would be hardened")
        elif report.interrupted:
            parts.append(f"{waiting} not attempted (interrupted)")
        elif report.cancelled:
            parts.append(f"{waiting} not hardened (cancelled)")
        else:
            parts.append(f"{waiting} not protected")
    if report.held:
        parts.append(f"{len(report.held)} left to Pulumi")
    if report.excluded:
        parts.append(f"{len(report.excluded)} excluded")
    failed_targets = len(report.failed_targets)
    if failed_targets:
        parts.append(f"{_count(failed_targets, 'account-region')} failed")
    interrupted = len(report.interrupted_targets)
    if interrupted:
        parts.append(f"{_count(interrupted, 'account-region')} read in part (interrupted)")
    skipped = len(report.skipped_targets)
    if skipped:
        parts.append(f"{_count(skipped, 'account-region')} skipped")
    hub_failure = _hub_failure(report)
    if hub_failure:
        parts.append(hub_failure)
    text = ", ".join([head, *parts])
    changed_nothing = report.check or report.dry_run or report.cancelled or not report.hardened
    if changed_nothing and report.stage != "acted":
        text += "; nothing was changed"
    return f"Summary: {text}."


def _hub_failure(report: Report) -> str:
    """The Security Hub CSPM failure that fails the run, named in the Summary: the first one,
    and how many account-regions more."""
    failed = [hub for hub in report.security_hub if hub.failed]
    if not failed:
        return ""
    hub = failed[0]
    if hub.error is not None:
        why = f"findings not imported: {hub.error.message}"
    elif hub.rejected:
        why = f"{len(hub.rejected)} findings refused"
    elif hub.resolve_error is not None:
        why = f"passed findings not set to RESOLVED: {hub.resolve_error.message}"
    else:
        why = f"{len(hub.unresolved)} passed findings not set to RESOLVED"
    more = f" (and {_count(len(failed) - 1, 'account-region')} more)" if len(failed) > 1 else ""
    return f"Security Hub CSPM failed in {hub.account or '-'} {hub.region}{more}: {why}"


def _all(n: int, verb: str = "is") -> str:
    """`1 table is`, `all 3 tables are` (and `could` for both)."""
    plural = {"is": "are"}.get(verb, verb)
    return f"1 table {verb}" if n == 1 else f"all {n} tables {plural}"


def _all_targets(report: Report) -> str:
    n = len(report.targets)
    return "the one account-region" if n == 1 else f"all {n} account-regions"


def _describe(report: Report, table: TableResult) -> str:
    errors = table.error_map
    if "table" in errors:
        return f"could not be read: {errors['table']}"
    done: list[str] = []
    already: list[str] = []
    failed: list[str] = []
    for control in report.requirement.controls:
        if control in table.not_attempted:
            failed.append(f"{control.noun} not attempted (interrupted)")
        elif control.id in errors:
            failed.append(f"{control.noun} not enabled: {errors[control.id]}")
        elif control in table.changed and table.before.reading(control).enabled:
            days = table.after.pitr_recovery_days
            done.append(f"{control.noun} recovery period raised to {days} days")
        elif control in table.changed:
            done.append(f"{control.noun} enabled")
        elif table.before.reading(control).enabled:
            already.append(f"{control.noun} already enabled")
    if not done and not failed:
        return "already protected"
    text = "; ".join([*failed, ", ".join(done)] if done else failed)
    text = text[0].upper() + text[1:]
    return text + (f" ({', '.join(already)})" if already else "")


__all__ = ["render", "render_outcome", "render_plan", "summary"]
