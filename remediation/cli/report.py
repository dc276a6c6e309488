"""The run's result as one immutable value. Every format renders this and nothing else.

The run fills it in order (select, read, judge, act) and freezes it; a count, a table's result
and the exit status are derived from it here, once, so that the text Summary, the JSON counts
and the line on stderr can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from remediation import core
from remediation.cli.harden_guardrail import Resolved
from remediation.cli.status import ExitStatus
from remediation.controls import Control
from remediation.core import AwsError, Change, Outcome, Requirement, TableState
from remediation.pulumi_state import ManagedTable

RowKey = tuple[str | None, str | None, str]
"""(account the run reached it through, region, table name): one table of one run."""

Stage = Literal["setup", "read", "judged", "acted"]
"""How far the run got: `setup` (nothing read), `read` (tables read, not judged), `judged` (the
plan is known, nothing written), `acted` (writes were started)."""

Result = Literal[
    "hardened", "already_protected", "failed", "pending", "unprotected", "managed", "excluded"
]

NOT_ATTEMPTED = "Interrupted"
"""The code `aws.Hardener.apply` gives a write the run's cancellation kept from starting."""


@dataclass(frozen=True)
class TargetResult:
    """One account-region the run covered, and how it went."""

    account: str | None
    region: str
    status: Literal["ok", "failed", "skipped", "denied", "interrupted"] = "ok"
    error: AwsError | None = None
    reason: str = ""
    """Why it failed, was denied or skipped, in words; empty when it is ok."""
    fails: bool = False
    """It makes the run a failure: failed, denied by an SCP under --fail-on-scp-deny, or under
    --check holding replicas the run does not reach (their protection is unknown)."""
    for_replicas: bool = False
    """Not selected: reached only to protect a global table's replica."""

    @property
    def called(self) -> bool:
        """The run called AWS there (a skipped account-region is never called)."""
        return self.status != "skipped"


@dataclass(frozen=True)
class TableResult:
    """One selected table: where it is, its state before and after, what was planned, done,
    not attempted, and every error on the way."""

    key: RowKey
    account: str | None
    region: str | None
    before: TableState
    after: TableState
    requirement: Requirement
    replica_of: str | None = None
    """ARN of the table whose DescribeTable listed this one as its replica, when reached so."""
    planned: Change | None = None
    """What the plan wanted enabled; None when nothing (protected, or unreadable)."""
    held: bool = False
    """Planned, but left to the Pulumi stack that manages it (no --include-managed)."""
    attempted: bool = False
    """Its write was started (it has an outcome)."""
    changed: tuple[Control, ...] = ()
    """Controls read back on after a write that were not on (or kept fewer days) before."""
    errors: tuple[tuple[str, AwsError], ...] = ()
    """(control id, or "table" for the table as a whole; the error), in the order they came."""
    not_attempted: tuple[Control, ...] = ()
    """Planned writes the run's interruption kept from starting: pending, never failed."""
    managed_by: ManagedTable | None = None
    check: bool = False
    include_managed: bool = False

    @property
    def name(self) -> str:
        return self.before.name

    @property
    def arn(self) -> str | None:
        return self.before.arn

    @property
    def unreadable(self) -> bool:
        return self.before.error is not None

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    @property
    def protected(self) -> bool:
        """Protected at the end (before, when nothing was written), as read from AWS."""
        return not self.errors and core.is_protected(self.after, self.requirement)

    @property
    def pending(self) -> bool:
        """Neither failed nor protected: still lacks a protection nobody attempted to enable."""
        return not self.failed and not self.protected

    @property
    def error_map(self) -> Mapping[str, AwsError]:
        return dict(self.errors)

    @property
    def outcome(self) -> Outcome:
        return Outcome(self.before, self.after, self.changed, self.error_map)

    @property
    def result(self) -> Result:
        if self.errors:
            return "failed"
        if self.managed_by is not None and not self.include_managed:
            return "managed"
        if self.protected:
            return "hardened" if self.changed else "already_protected"
        if self.planned is not None or self.not_attempted:
            return "unprotected" if self.check else "pending"
        return "failed"


@dataclass(frozen=True)
class HubRejection:
    """One finding an account-region's Security Hub refused (FailedFindings) or did not update
    (UnprocessedFindings), by table."""

    table: str
    control: str
    code: str
    message: str


@dataclass(frozen=True)
class HubImport:
    """What one account-region's Security Hub did with the run's findings (--security-hub)."""

    account: str | None
    region: str
    sent: int
    imported: int = 0
    rejected: tuple[HubRejection, ...] = ()
    error: AwsError | None = None
    """A call that failed as a whole; the findings it carried and those after it were not sent."""
    not_enabled: bool = False
    """Security Hub is not enabled there: said once for the region, not a failure of the run."""
    to_resolve: int = 0
    """Passed findings imported, whose Workflow BatchUpdateFindings was asked to set RESOLVED."""
    resolved: int = 0
    unresolved: tuple[HubRejection, ...] = ()
    """UnprocessedFindings: each passed finding whose Workflow Security Hub did not update."""
    resolve_error: AwsError | None = None
    """A BatchUpdateFindings call that failed as a whole; its findings and those after it keep
    the Workflow they had."""
    archived: int = 0
    """Findings of tables gone or now excluded, set RecordState ARCHIVED (named only in a
    Security Hub CSPM request, never in a DynamoDB one)."""

    @property
    def failed(self) -> bool:
        if self.rejected or self.unresolved or self.resolve_error is not None:
            return True
        return self.error is not None and not self.not_enabled


@dataclass(frozen=True)
class Report:
    """Everything one run learned: targets, tables, exclusions, and how the run ended."""

    requirement: Requirement
    stage: Stage = "setup"
    tables: tuple[TableResult, ...] = ()
    """Every selected table read (or named and not found), sorted by account, region, name."""
    excluded: tuple[RowKey, ...] = ()
    """Tables --exclude left out: never read, never written."""
    targets: tuple[TargetResult, ...] = ()
    fleet: bool = False
    """More than one account or region: columns, targets and account ids are shown."""
    region: str | None = None
    """The run's one region, or None when it covered several (or never got to know)."""
    named: tuple[str, ...] = ()
    """The tables named by --table, in the order given; empty when discovered by prefix."""
    prefix: str = core.DEFAULT_PREFIX
    check: bool = False
    dry_run: bool = False
    include_managed: bool = False
    cancelled: bool = False
    interrupted: bool = False
    error: str | None = None
    """Why the run could not go on (one line), or None."""
    error_status: ExitStatus | None = None
    """The exit status that error means: USAGE or AWS_SETUP."""
    at: datetime | None = None
    """When the run's verdicts were read (UTC): the time every finding carries."""
    security_hub: tuple[HubImport, ...] = ()
    """Per account-region, the findings imported into Security Hub CSPM (with --security-hub)."""
    guardrail: Resolved | None = None
    """--guardrail: the policy put, and where the hardener's own role ARN came from."""

    # -- counts (over the selected tables; excluded ones are counted apart) --------------------

    @property
    def total(self) -> int:
        return len(self.tables)

    @property
    def succeeded(self) -> int:
        return sum(t.protected for t in self.tables)

    @property
    def failed(self) -> int:
        return sum(t.failed for t in self.tables)

    @property
    def pending(self) -> int:
        return sum(t.pending for t in self.tables)

    @property
    def managed(self) -> int:
        return sum(t.managed_by is not None for t in self.tables)

    def counts(self) -> dict[str, int]:
        """The counts every format shows, in the JSON document's order."""
        return {
            "total": self.total,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "pending": self.pending,
            "excluded": len(self.excluded),
            "managed": self.managed,
        }

    # -- the plan ------------------------------------------------------------------------------

    @property
    def changes(self) -> tuple[TableResult, ...]:
        """Tables the run would write (or, under --check, that lack a protection)."""
        return tuple(t for t in self.tables if t.planned is not None and not t.held)

    @property
    def held(self) -> tuple[TableResult, ...]:
        """Tables lacking a protection that are left to the Pulumi stack that manages them."""
        return tuple(t for t in self.tables if t.planned is not None and t.held)

    @property
    def hardened(self) -> int:
        """Tables a write of this run protected (the rest of `succeeded` already were)."""
        return sum(t.protected and bool(t.changed) for t in self.tables)

    @property
    def not_attempted(self) -> tuple[TableResult, ...]:
        """Pending tables the run meant to write and did not (cancelled, interrupted, a dry
        run): never failed."""
        return tuple(t for t in self.changes if t.pending)

    @property
    def unreadable(self) -> tuple[TableResult, ...]:
        return tuple(t for t in self.tables if t.unreadable)

    @property
    def protected_before(self) -> tuple[TableResult, ...]:
        """Tables read and found protected, before any write."""
        return tuple(t for t in self.tables if not t.unreadable and t.planned is None)

    @property
    def troubled_targets(self) -> tuple[TargetResult, ...]:
        return tuple(t for t in self.targets if t.status != "ok")

    # -- how a line names a table -------------------------------------------------------------

    @property
    def columns(self) -> tuple[bool, bool]:
        """(show Account, show Region): a column is shown only when the tables have more than
        one known value (a table that could not be read may have no account: not a second one)."""
        return (
            len({t.account for t in self.tables if t.account}) > 1,
            len({t.region for t in self.tables if t.region}) > 1,
        )

    # -- where the run looked ------------------------------------------------------------------

    @property
    def looked_in(self) -> tuple[TargetResult, ...]:
        """The account-regions the run selected (not those reached only for a replica)."""
        return tuple(t for t in self.targets if not t.for_replicas)

    @property
    def accounts_looked_in(self) -> tuple[str, ...]:
        """Accounts the run called in: one skipped everywhere (excluded, not active) is not."""
        return tuple(sorted({t.account for t in self.looked_in if t.account and t.called}))

    @property
    def regions_looked_in(self) -> tuple[str, ...]:
        """Regions the run called in: one skipped everywhere (not enabled) is not."""
        return tuple(sorted({t.region for t in self.looked_in if t.called}))

    @property
    def failed_targets(self) -> tuple[TargetResult, ...]:
        return tuple(t for t in self.targets if t.status == "failed")

    @property
    def interrupted_targets(self) -> tuple[TargetResult, ...]:
        """Account-regions a Ctrl-C during the reads left read only in part."""
        return tuple(t for t in self.targets if t.status == "interrupted")

    @property
    def skipped_targets(self) -> tuple[TargetResult, ...]:
        return tuple(t for t in self.targets if t.status == "skipped")

    @property
    def every_target_failed(self) -> bool:
        return bool(self.targets) and all(t.status == "failed" for t in self.targets)

    def where(self, account: str | None, region: str | None) -> str:
        """The account and region a line puts before a table's name, where columns show them
        (what is not known, such as the region of a table found nowhere, is left out)."""
        show_account, show_region = self.columns
        where = [
            *([account] if show_account and account else []),
            *([region] if show_region and region else []),
        ]
        return "".join(w + " " for w in where)

    def label(self, table: TableResult) -> str:
        """The table as a line names it: with its account and region where columns show them."""
        return self.where(table.account, table.region) + table.name

    # -- the exit status -----------------------------------------------------------------------

    @property
    def exit_status(self) -> ExitStatus:
        if self.error_status is not None:
            return self.error_status
        if self.interrupted:
            return ExitStatus.INTERRUPTED
        if self.cancelled:
            return ExitStatus.CANCELLED
        if any(t.fails for t in self.targets):
            return ExitStatus.FAILED  # an account or region not done is a failure, dry run or not
        if self.targets and not any(t.status == "ok" for t in self.targets):
            return ExitStatus.FAILED  # every account-region denied or skipped: nothing was checked
        if any(hub.failed for hub in self.security_hub):
            return ExitStatus.FAILED  # a finding Security Hub refused is a verdict not delivered
        if self.check:
            return ExitStatus.FAILED if self.failed or self.pending else ExitStatus.OK
        # A table that could not be read fails a dry run too: it was not looked at.
        return ExitStatus.FAILED if self.failed else ExitStatus.OK


__all__ = [
    "NOT_ATTEMPTED",
    "HubImport",
    "HubRejection",
    "Report",
    "Result",
    "RowKey",
    "Stage",
    "TableResult",
    "TargetResult",
]
