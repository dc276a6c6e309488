"""The hardener core: pure values and decisions. No boto3, no pulumi, no I/O.

Every shell (CLI, policy pack, Pulumi transform) translates its world into these values, asks the
core what is missing and what to change, and translates the answer back.
"""

from __future__ import annotations

import enum
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from remediation.controls import ALL, DELETION_PROTECTION, GUARDRAIL, PITR, Control

DEFAULT_PREFIX = "sentinel-"

ACCOUNT_WIDE = "*"
"""The region of an entry about a whole account (skipped, or failed before any region)."""
MIN_RECOVERY_DAYS = 1
MAX_RECOVERY_DAYS = 35
"""AWS's bounds for PointInTimeRecoverySpecification.RecoveryPeriodInDays; 35 when unset."""

_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_TABLE_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):dynamodb:(?P<region>[a-z0-9-]+):(?P<account>\d{12})"
    r":table/(?P<name>[^/]+)"
)


@dataclass(frozen=True)
class Arn:
    """An ARN's fields as AWS lays them out; an empty region or account field is None."""

    partition: str
    service: str
    region: str | None
    account: str | None
    resource: str


def parse_arn(text: object) -> Arn | None:
    """The one reader of ARNs (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`); None for
    anything that is not one. The partition is the ARN's own, never guessed from a region."""
    if not isinstance(text, str):
        return None
    parts = text.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn" or not parts[1] or not parts[2]:
        return None
    _, partition, service, region, account, resource = parts
    return Arn(partition, service, region or None, account or None, resource)


@dataclass(frozen=True)
class AwsError:
    """An error AWS answered for one call: what we asked, and what it said."""

    action: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code} on {self.action}: {self.message}"


@dataclass(frozen=True)
class Reading:
    """One protection's state as read: True, False, or None when it could not be read."""

    enabled: bool | None
    error: AwsError | None = None

    @property
    def label(self) -> str:
        if self.enabled is None:
            return "Unknown"
        return "Enabled" if self.enabled else "Disabled"


UNREAD = Reading(None)
"""Not asked (for example PITR under --no-pitr)."""


@dataclass(frozen=True)
class Replica:
    """A global table's replica as its table's description lists it."""

    region: str
    account: str | None = None
    """From its ReplicaArn (multi-account global tables); None: the listing table's account."""
    status: str | None = None
    """ReplicaStatus: ACTIVE, UPDATING, CREATING, DELETING, ARCHIVED, ..."""
    arn: str | None = None


@dataclass(frozen=True)
class TableState:
    """A table's protection state, whoever read it (AWS, or a Pulumi resource's inputs)."""

    name: str
    deletion_protection: Reading = UNREAD
    pitr: Reading = UNREAD
    pitr_recovery_days: int | None = None
    """The recovery period when PITR is on, as read; None when PITR is off or the period is not
    known. Never assumed: a shell that knows the period is AWS's default says 35 itself."""
    arn: str | None = None
    status: str | None = None
    error: AwsError | None = None
    """Set when the table itself could not be read (vanished, denied): nothing else is known."""
    replicas: tuple[Replica, ...] = ()
    """A global table's other replicas, with their account and status, as DescribeTable lists
    them: each is a table of its own to protect."""
    guardrail: Reading = UNREAD
    """Whether the table's resource policy carries the guardrail (read only under --guardrail)."""

    @property
    def replica_regions(self) -> tuple[str, ...]:
        """The regions of `replicas`, sorted, each once."""
        return tuple(sorted({replica.region for replica in self.replicas}))

    def reading(self, control: Control) -> Reading:
        if control is DELETION_PROTECTION:
            return self.deletion_protection
        if control is PITR:
            return self.pitr
        if control is GUARDRAIL:
            return self.guardrail
        raise KeyError(control.id)

    def with_reading(self, control: Control, reading: Reading) -> TableState:
        if control is DELETION_PROTECTION:
            return replace(self, deletion_protection=reading)
        if control is PITR:
            return replace(self, pitr=reading)
        if control is GUARDRAIL:
            return replace(self, guardrail=reading)
        raise KeyError(control.id)


@dataclass(frozen=True)
class Requirement:
    """What "protected" means for one run: which controls, and PITR's minimum recovery period."""

    controls: tuple[Control, ...] = ALL
    min_recovery_days: int | None = None

    def __post_init__(self) -> None:
        days = self.min_recovery_days
        if days is not None and not MIN_RECOVERY_DAYS <= days <= MAX_RECOVERY_DAYS:
            raise ValueError(
                f"minimum PITR recovery period must be {MIN_RECOVERY_DAYS} to "
                f"{MAX_RECOVERY_DAYS} days, got {days}"
            )


def missing(state: TableState, requirement: Requirement = Requirement()) -> tuple[Control, ...]:
    """The required controls the table does not provably have; unknown counts as missing."""
    result = []
    for control in requirement.controls:
        short = control is PITR and recovery_period_short(state, requirement)
        if state.reading(control).enabled is not True or short:
            result.append(control)
    return tuple(result)


def recovery_period_short(state: TableState, requirement: Requirement) -> bool:
    """True when PITR is on but does not provably keep the minimum: fewer days, or a period that
    is not known (an unknown period never passes as AWS's 35)."""
    wanted = requirement.min_recovery_days
    if wanted is None:
        return False
    days = state.pitr_recovery_days
    return days is None or days < wanted


def recovery_period_unknown(state: TableState, requirement: Requirement) -> bool:
    """True when a minimum is asked and PITR is on but its period could not be read."""
    return (
        requirement.min_recovery_days is not None
        and state.pitr.enabled is True
        and state.pitr_recovery_days is None
    )


def recovery_days(state: TableState, requirement: Requirement) -> int | None:
    """The recovery period a PITR write must carry: the minimum, only when PITR is on and does not
    provably keep it. A longer period is never lowered (the write re-reads the period first and
    is skipped when it is enough); PITR turned on gets AWS's 35 days."""
    if state.pitr.enabled is True and recovery_period_short(state, requirement):
        return requirement.min_recovery_days
    return None


class PeriodWrite(enum.Enum):
    """What a PITR write meant to raise the period to a minimum does, judged on a read of
    DescribeContinuousBackups made just before it."""

    ENOUGH = "enough"
    """The period is already at or above the minimum (raised meanwhile): no write."""
    TURN_ON = "turn on"
    """PITR is off now: turn it on with no period, which gives AWS's 35 days."""
    RAISE = "raise"
    """PITR is on with fewer days: send the minimum."""
    UNKNOWN = "unknown"
    """PITR is on and its period cannot be read: no write, since the minimum could lower it."""


def period_write(fresh: TableState, minimum: int) -> PeriodWrite:
    if fresh.pitr.enabled is not True:
        return PeriodWrite.TURN_ON
    days = fresh.pitr_recovery_days
    if days is None:
        return PeriodWrite.UNKNOWN
    return PeriodWrite.ENOUGH if days >= minimum else PeriodWrite.RAISE


def state_json(state: TableState, requirement: Requirement = Requirement()) -> dict[str, object]:
    """A table's state as every report writes it (CLI JSON, guard log): None is unknown, PITR is
    None when the requirement did not read it, and `guardrail` is there only when it asks it."""
    found: dict[str, object] = {
        "deletion_protection": state.deletion_protection.enabled,
        "pitr_enabled": state.pitr.enabled if PITR in requirement.controls else None,
        "pitr_recovery_period_days": state.pitr_recovery_days,
        "table_status": state.status,
    }
    if GUARDRAIL in requirement.controls:  # only under --guardrail: other runs keep their shape
        found["guardrail"] = state.guardrail.enabled
    return found


def is_protected(state: TableState, requirement: Requirement = Requirement()) -> bool:
    return state.error is None and not missing(state, requirement)


@dataclass(frozen=True)
class Change:
    """The protections to turn on for one table. Only ever enables: there is no "disable"."""

    table: str
    enable: tuple[Control, ...]
    unknown: tuple[Control, ...] = ()
    """Controls in `enable` whose current state could not be read (enabling is safe either way)."""
    recovery_days: int | None = None
    """The PITR recovery period to send with the PITR write: set only to raise a period that is
    on and too short (or not known). None sends none, and AWS keeps 35 days, which no minimum
    exceeds. The write re-reads the period just before it (`period_write`)."""


@dataclass(frozen=True)
class Plan:
    """Read everything, then judge: what to change, what is fine, what could not be judged."""

    changes: tuple[Change, ...]
    protected: tuple[str, ...]
    unreadable: tuple[TableState, ...]
    """Tables that could not be read at all (vanished, DescribeTable denied): never touched."""


def plan(states: Iterable[TableState], requirement: Requirement = Requirement()) -> Plan:
    """Decide per table what to enable; tables come out sorted by name."""
    changes: list[Change] = []
    protected: list[str] = []
    unreadable: list[TableState] = []
    for state in sorted(states, key=lambda s: s.name):
        if state.error is not None:
            unreadable.append(state)
            continue
        needed = missing(state, requirement)
        if needed:
            unknown = tuple(
                c
                for c in needed
                if state.reading(c).enabled is None
                or (c is PITR and recovery_period_unknown(state, requirement))
            )
            changes.append(Change(state.name, needed, unknown, recovery_days(state, requirement)))
        else:
            protected.append(state.name)
    return Plan(tuple(changes), tuple(protected), tuple(unreadable))


@dataclass(frozen=True)
class Outcome:
    """What happened to one table: state before, state reached, and every error on the way."""

    before: TableState
    after: TableState
    changed: tuple[Control, ...] = ()
    """Controls that were off (or unknown) before and are read back on after."""
    errors: Mapping[str, AwsError] = field(default_factory=dict)
    """Errors by control id, or by "table" for errors about the table as a whole."""

    @property
    def name(self) -> str:
        return self.before.name

    def succeeded(self, requirement: Requirement = Requirement()) -> bool:
        return not self.errors and is_protected(self.after, requirement)


def changed_controls(before: TableState, after: TableState) -> tuple[Control, ...]:
    """Controls that were not on before and are on after, as read from the server; PITR also
    when it was on and now keeps more days."""
    return tuple(
        c
        for c in (*ALL, GUARDRAIL)
        if after.reading(c).enabled is True
        and (before.reading(c).enabled is not True or (c is PITR and _period_raised(before, after)))
    )


def _period_raised(before: TableState, after: TableState) -> bool:
    """Only a period known before and after can be said to have risen."""
    was, now = before.pitr_recovery_days, after.pitr_recovery_days
    return before.pitr.enabled is True and was is not None and now is not None and now > was


@dataclass(frozen=True)
class Summary:
    total: int
    succeeded: int
    """Protected at the end, with no error on the way."""
    failed: int
    """Any error: unreadable, a write refused, a protection not on after the write."""
    pending: int = 0
    """Still missing a protection that was never attempted (dry run, cancel, interrupt)."""


def summarize(outcomes: Iterable[Outcome], requirement: Requirement = Requirement()) -> Summary:
    succeeded = failed = pending = 0
    for outcome in outcomes:
        if outcome.errors:
            failed += 1
        elif is_protected(outcome.after, requirement):
            succeeded += 1
        else:
            pending += 1
    return Summary(succeeded + failed + pending, succeeded, failed, pending)


class LeftAlone(enum.StrEnum):
    """Why a table is left alone; the value is how the guard's log says it."""

    OUTSIDE_PREFIX = "outside the prefix"
    EXCLUDED = "excluded"


@dataclass(frozen=True)
class Selection:
    """Which tables are Sentinel's: a case-sensitive name prefix, less any excluded glob.

    One rule for every shell: the CLI never reads or writes an excluded table, the policy pack
    reports it not applicable, the transform leaves it alone, the runtime guard ignores it.
    """

    prefix: str = DEFAULT_PREFIX
    exclude: tuple[str, ...] = ()
    """fnmatch patterns on the table name (case-sensitive), such as `sentinel-scratch-*`."""

    def excludes(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.exclude)

    def left_alone(self, name: str) -> LeftAlone | None:
        """Why this table is not Sentinel's to protect, or None when it is: the one rule the
        pack, the guard and the CLI's selection follow."""
        if not name.startswith(self.prefix):
            return LeftAlone.OUTSIDE_PREFIX
        if self.excludes(name):
            return LeftAlone.EXCLUDED
        return None

    def matches(self, name: str) -> bool:
        """Starts with the prefix and is not excluded."""
        return self.left_alone(name) is None

    def partition(self, names: Iterable[str]) -> tuple[list[str], list[str]]:
        """(selected, excluded) among the names with the prefix; each sorted, no duplicates."""
        reasons = {name: self.left_alone(name) for name in names}
        prefixed = sorted(n for n, why in reasons.items() if why is not LeftAlone.OUTSIDE_PREFIX)
        excluded = [name for name in prefixed if reasons[name] is LeftAlone.EXCLUDED]
        return [name for name in prefixed if reasons[name] is None], excluded


def select(names: Iterable[str], prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Names that start with `prefix` (case-sensitive), sorted and without duplicates."""
    return Selection(prefix).partition(names)[0]


@dataclass(frozen=True)
class TableRef:
    """A table the user named: a bare name, or an ARN that also pins region and account."""

    name: str
    region: str | None = None
    account: str | None = None


class InvalidTableRef(ValueError):
    """A --table value that is neither a valid table name nor a DynamoDB table ARN."""


def parse_table_ref(text: str) -> TableRef:
    """Parse a table name or table ARN; raise InvalidTableRef with a one-line reason."""
    if text.startswith("arn:"):
        match = _TABLE_ARN.fullmatch(text)
        if match is None:
            raise InvalidTableRef(
                f"not a DynamoDB table ARN: {text!r} "
                "(expected arn:aws:dynamodb:REGION:ACCOUNT:table/NAME)"
            )
        name = match["name"]
        _check_name(name, text)
        return TableRef(name=name, region=match["region"], account=match["account"])
    _check_name(text, text)
    return TableRef(name=text)


def _check_name(name: str, given: str) -> None:
    if not _TABLE_NAME.fullmatch(name):
        raise InvalidTableRef(
            f"not a valid DynamoDB table name: {given!r} (3 to 255 characters of A-Z a-z 0-9 _ - .)"
        )
