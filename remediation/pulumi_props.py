"""The only module that knows Pulumi property shapes: resource inputs <-> core values.

The policy pack (`remediation.pulumi_policies`) and the program transform (`remediation.transform`)
both read a resource's inputs into `core.TableState` values here, ask the core what is missing, and
write the fix back into the same property bag, so that every other key (internal ones such as
`__defaults` included) and every secret survives untouched.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

from pulumi.output import Unknown
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret, wrap_rpc_secret
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

from remediation.controls import ALL, DELETION_PROTECTION, PITR, Control
from remediation.core import (
    MAX_RECOVERY_DAYS,
    InvalidTableRef,
    LeftAlone,
    Reading,
    Requirement,
    Selection,
    TableState,
    missing,
    parse_table_ref,
    recovery_period_short,
)
from remediation.pulumi_state import (
    NATIVE_GLOBAL_TABLE,
    NATIVE_TABLE,
    TABLE,
    TABLE_REPLICA,
)

__all__ = [
    "ABSENT",
    "EXCLUDE_KEY",
    "UNKNOWN",
    "Finding",
    "Judged",
    "TableResource",
    "Target",
    "enable",
    "judge",
    "left_alone_message",
    "read_resource",
]

EXCLUDE_KEY: Final = "exclude"
"""The pack's config key for excluded tables; a left-alone message names it."""

_UNKNOWN_SENTINELS: Final = frozenset(
    {
        UNKNOWN_STRING_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)
"""What the engine sends for a value computed from outputs not known during preview."""


class _Missing(enum.Enum):
    ABSENT = "absent"
    UNKNOWN = "unknown"


ABSENT: Final = _Missing.ABSENT
UNKNOWN: Final = _Missing.UNKNOWN


def _known(value: Any) -> Any:
    """`value` itself, or ABSENT for null, or UNKNOWN for the engine's unknown markers."""
    if value is None:
        return ABSENT
    if isinstance(value, Unknown) or (isinstance(value, str) and value in _UNKNOWN_SENTINELS):
        return UNKNOWN
    if is_rpc_secret(value):
        # A transform sees secrets as wrapped dicts; the pack's proxy unwraps them itself.
        return _known(unwrap_rpc_secret(value))
    return value


def _lookup(bag: Mapping[str, Any], key: str) -> Any:
    """A property's value, ABSENT when missing or null, UNKNOWN when not known until the update."""
    try:
        value = bag[key]
    except KeyError:
        return ABSENT
    except UnknownValueError:
        # Analyze wraps inputs in a proxy that raises on touching an unknown; Remediate does not,
        # which `_known` covers by recognising the sentinel strings.
        return UNKNOWN
    return _known(value)


def _item(items: Sequence[Any], index: int) -> Any:
    try:
        value = items[index]
    except UnknownValueError:
        return UNKNOWN
    return _known(value)


def _store(bag: Mapping[str, Any], key: str, value: Any) -> None:
    """Set one property in place; a secret stays secret (the pack's proxy re-wraps by itself)."""
    if is_rpc_secret(bag.get(key)):
        value = wrap_rpc_secret(value)
    cast(MutableMapping[str, Any], bag)[key] = value


def _describe(value: Any) -> str:
    if value is ABSENT:
        return "not set"
    if value is UNKNOWN:
        return "not known until the update runs"
    return f"{value!r}".lower() if isinstance(value, bool) else repr(value)


@dataclass(frozen=True)
class _Shape:
    """Where one kind of table declaration keeps its two protections, and how its code reads."""

    deletion_key: str
    pitr_key: str
    pitr_enabled_key: str | None
    """None when `pitr_key` holds the boolean itself (replicas)."""
    days_key: str | None
    """Where a recovery period can be set; None: AWS's default of 35 days applies."""
    code: Callable[[str], str]
    """The declaration with one argument filled in: the line of code that fixes it."""
    deletion_arg: str
    pitr_arg: Callable[[int | None], str]

    def fix(self, control: Control, days: int | None) -> str:
        if control is DELETION_PROTECTION:
            return self.code(self.deletion_arg)
        return self.code(self.pitr_arg(days))

    def path(self, control: Control) -> str:
        if control is DELETION_PROTECTION:
            return self.deletion_key
        if self.pitr_enabled_key is None:
            return self.pitr_key
        return f"{self.pitr_key}.{self.pitr_enabled_key}"


def _table_pitr_arg(days: int | None) -> str:
    if days is None:
        return PITR.pulumi_fix
    return (
        "point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs("
        f"enabled=True, recovery_period_in_days={days})"
    )


def _native_pitr_arg(resource: str) -> Callable[[int | None], str]:
    """The PITR argument of an aws-native `resource` (Table, or a GlobalTable's replica)."""

    def arg(days: int | None) -> str:
        extra = "" if days is None else f", recovery_period_in_days={days}"
        return (
            "point_in_time_recovery_specification="
            f"aws_native.dynamodb.{resource}PointInTimeRecoverySpecificationArgs("
            f"point_in_time_recovery_enabled=True{extra})"
        )

    return arg


def _table_shape(logical_name: str) -> _Shape:
    return _Shape(
        deletion_key="deletionProtectionEnabled",
        pitr_key="pointInTimeRecovery",
        pitr_enabled_key="enabled",
        days_key="recoveryPeriodInDays",
        code=lambda arg: f'aws.dynamodb.Table("{logical_name}", ..., {arg})',
        deletion_arg=DELETION_PROTECTION.pulumi_fix,
        pitr_arg=_table_pitr_arg,
    )


def _replica_entry_shape(logical_name: str, region: str) -> _Shape:
    return _Shape(
        deletion_key="deletionProtectionEnabled",
        pitr_key="pointInTimeRecovery",
        pitr_enabled_key=None,
        days_key=None,
        code=lambda arg: (
            f'aws.dynamodb.Table("{logical_name}", ..., replicas=[aws.dynamodb.TableReplicaArgs('
            f'region_name="{region}", ..., {arg})])'
        ),
        deletion_arg=DELETION_PROTECTION.pulumi_fix,
        pitr_arg=lambda _days: "point_in_time_recovery=True",
    )


def _table_replica_shape(logical_name: str) -> _Shape:
    return _Shape(
        deletion_key="deletionProtectionEnabled",
        pitr_key="pointInTimeRecovery",
        pitr_enabled_key=None,
        days_key=None,
        code=lambda arg: f'aws.dynamodb.TableReplica("{logical_name}", ..., {arg})',
        deletion_arg=DELETION_PROTECTION.pulumi_fix,
        pitr_arg=lambda _days: "point_in_time_recovery=True",
    )


def _native_shape(logical_name: str) -> _Shape:
    return _Shape(
        deletion_key="deletionProtectionEnabled",
        pitr_key="pointInTimeRecoverySpecification",
        pitr_enabled_key="pointInTimeRecoveryEnabled",
        days_key="recoveryPeriodInDays",
        code=lambda arg: f'aws_native.dynamodb.Table("{logical_name}", ..., {arg})',
        deletion_arg=DELETION_PROTECTION.pulumi_fix,
        pitr_arg=_native_pitr_arg("Table"),
    )


def _native_replica_shape(logical_name: str, region: str) -> _Shape:
    """A `replicas[]` entry of an aws-native GlobalTable (AWS::DynamoDB::GlobalTable's
    ReplicaSpecification): each replica carries both protections itself."""
    return _Shape(
        deletion_key="deletionProtectionEnabled",
        pitr_key="pointInTimeRecoverySpecification",
        pitr_enabled_key="pointInTimeRecoveryEnabled",
        days_key="recoveryPeriodInDays",
        code=lambda arg: (
            f'aws_native.dynamodb.GlobalTable("{logical_name}", ..., replicas=['
            f'aws_native.dynamodb.GlobalTableReplicaSpecificationArgs(region="{region}", ..., '
            f"{arg})])"
        ),
        deletion_arg=DELETION_PROTECTION.pulumi_fix,
        pitr_arg=_native_pitr_arg("GlobalTable"),
    )


def _reading(value: Any) -> Reading:
    if value is UNKNOWN:
        return Reading(None)
    return Reading(value is True)


def _days(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return None


@dataclass(frozen=True)
class Target:
    """One table a resource declares (the table itself, or one replica) as the core sees it."""

    label: str
    """How messages name it: `sentinel-requests`, `sentinel-requests replica in eu-west-1`."""
    state: TableState
    shape: _Shape
    bag: Mapping[str, Any] | None
    """The property bag holding its protections; None when the bag itself is unknown."""
    details: Mapping[str, Any]
    """Control id -> the raw value read, for messages."""


def _read_target(
    label: str, name: str, shape: _Shape, bag: Any, requirement: Requirement, deployed: bool
) -> Target:
    if not isinstance(bag, Mapping):
        # The whole entry is unknown (or not an object): nothing in it can be judged or written.
        unknown = TableState(name=name, deletion_protection=Reading(None), pitr=Reading(None))
        details = {c.id: UNKNOWN for c in ALL}
        return Target(label, unknown, shape, None, details)
    deletion = _lookup(bag, shape.deletion_key)
    pitr_value = _lookup(bag, shape.pitr_key)
    # A period the program does not set is AWS's default, 35 days: what the provider creates. A
    # deployed state that does not record it (a preview's planned outputs) says nothing about
    # it: not known, never 35.
    days: int | None = MAX_RECOVERY_DAYS
    days_unknown = False
    if shape.pitr_enabled_key is None:
        pitr_enabled = pitr_value
    elif isinstance(pitr_value, Mapping):
        pitr_enabled = _lookup(pitr_value, shape.pitr_enabled_key)
        if shape.days_key is not None:
            raw_days = _lookup(pitr_value, shape.days_key)
            days_unknown = raw_days is UNKNOWN or (deployed and _days(raw_days) is None)
            days = None if days_unknown else _days(raw_days) or MAX_RECOVERY_DAYS
    else:
        pitr_enabled = pitr_value
    pitr = _reading(pitr_enabled)
    if pitr.enabled and days_unknown and requirement.min_recovery_days is not None:
        pitr = Reading(None)  # on, but whether it keeps enough days is not known yet
    state = TableState(
        name=name,
        deletion_protection=_reading(deletion),
        pitr=pitr,
        pitr_recovery_days=days,
    )
    details = {DELETION_PROTECTION.id: deletion, PITR.id: pitr_enabled}
    return Target(label, state, shape, bag, details)


@dataclass(frozen=True)
class Finding:
    """One control one target lacks, or whose state could not be judged."""

    target: Target
    control: Control
    judged: bool
    """False when the state is not known until the update runs."""
    fix: str

    def message(self, requirement: Requirement) -> str:
        target, control = self.target, self.control
        path = target.shape.path(control)
        if not self.judged:
            return (
                f"{target.label} could not be judged: {path} is not known until the update runs, "
                f"so it may lack {control.label}. Fix: {self.fix}"
            )
        state = target.state
        if control is PITR and state.pitr.enabled and recovery_period_short(state, requirement):
            return (
                f"{target.label}: {control.label} keeps {state.pitr_recovery_days} days, fewer "
                f"than the required {requirement.min_recovery_days}. Fix: {self.fix}"
            )
        value = _describe(target.details[control.id])
        return f"{target.label}: {control.label} is off ({path} is {value}). Fix: {self.fix}"


@dataclass(frozen=True)
class TableResource:
    """A DynamoDB table resource's inputs, read: its physical name and every table it declares."""

    resource_type: str
    logical_name: str
    name: str | None
    """The physical table name; None when it cannot be known yet (see `name_problem`)."""
    name_problem: str
    name_path: str
    targets: tuple[Target, ...]

    def is_ours(self, selection: Selection) -> bool:
        """Named, with the prefix, and not excluded."""
        return self.name is not None and selection.matches(self.name)

    def findings(self, control: Control, requirement: Requirement) -> tuple[Finding, ...]:
        """What this resource lacks for `control`, target by target, as the core judges it."""
        only = Requirement(controls=(control,), min_recovery_days=requirement.min_recovery_days)
        days = requirement.min_recovery_days if control is PITR else None
        found = []
        for target in self.targets:
            if missing(target.state, only):
                judged = target.state.reading(control).enabled is not None
                fix = target.shape.fix(control, _wanted_days(target.state, days))
                found.append(Finding(target, control, judged, fix))
        return tuple(found)

    def unjudged_name(self, findings: Sequence[Finding], prefix: str) -> str:
        """The message for a table that lacks protection and whose name is not known yet."""
        lacks = ", ".join(sorted({f.control.label for f in findings}))
        fixes = "; ".join(dict.fromkeys(f.fix for f in findings))
        return (
            f"{self.resource_type} {self.logical_name!r} could not be judged: its name "
            f"({self.name_path}) is {self.name_problem}, so whether it starts with {prefix!r} is "
            f"not known, and it lacks {lacks}. If it is a Sentinel table, fix: {fixes}"
        )


def _wanted_days(state: TableState, days: int | None) -> int | None:
    """The recovery period the fix must set: only when one is set now and is too short."""
    if days is None or state.pitr_recovery_days is None or state.pitr_recovery_days >= days:
        return None
    return days


def _name(value: Any, fallback: str | None) -> tuple[str | None, str]:
    if value is ABSENT and fallback is not None:
        return fallback, ""
    if value is UNKNOWN:
        return None, "computed and not known during preview"
    if isinstance(value, str):
        return value, ""
    return None, f"not a string ({value!r})"


def read_resource(
    resource_type: str,
    props: Mapping[str, Any],
    logical_name: str,
    requirement: Requirement,
    *,
    deployed: bool = False,
) -> TableResource | None:
    """Read a resource's inputs (or, `deployed`, its outputs: the state as last read from AWS);
    None for anything that is not a DynamoDB table."""
    if resource_type == TABLE:
        name, problem = _name(_lookup(props, "name"), logical_name)
        label = name or f"table {logical_name!r}"
        shape = _table_shape(logical_name)
        main = _read_target(label, name or "", shape, props, requirement, deployed)
        replicas = _replica_targets(props, label, name or "", logical_name, requirement, deployed)
        targets = [main, *replicas]
        return TableResource(resource_type, logical_name, name, problem, "name", tuple(targets))
    if resource_type == NATIVE_TABLE:
        name, problem = _name(_lookup(props, "tableName"), logical_name)
        label = name or f"table {logical_name!r}"
        shape = _native_shape(logical_name)
        target = _read_target(label, name or "", shape, props, requirement, deployed)
        return TableResource(resource_type, logical_name, name, problem, "tableName", (target,))
    if resource_type == NATIVE_GLOBAL_TABLE:
        # No protection at the top: every replica, the stack region's included, has its own.
        name, problem = _name(_lookup(props, "tableName"), logical_name)
        label = name or f"table {logical_name!r}"
        targets = _replica_targets(
            props,
            label,
            name or "",
            logical_name,
            requirement,
            deployed,
            "region",
            _native_replica_shape,
        )
        return TableResource(
            resource_type, logical_name, name, problem, "tableName", tuple(targets)
        )
    if resource_type == TABLE_REPLICA:
        name, problem = _replica_table_name(_lookup(props, "globalTableArn"), logical_name)
        label = f"{name or 'table'} replica {logical_name!r}"
        shape = _table_replica_shape(logical_name)
        target = _read_target(label, name or "", shape, props, requirement, deployed)
        return TableResource(
            resource_type, logical_name, name, problem, "globalTableArn", (target,)
        )
    return None


def _replica_table_name(arn: Any, logical_name: str) -> tuple[str | None, str]:
    name, problem = _name(arn, logical_name)
    if name is None or arn is ABSENT:
        return name, problem
    try:
        return parse_table_ref(name).name, ""
    except InvalidTableRef as error:
        return None, f"not a table ARN ({error})"


def _replica_targets(
    props: Mapping[str, Any],
    label: str,
    name: str,
    logical_name: str,
    requirement: Requirement,
    deployed: bool,
    region_key: str = "regionName",
    entry_shape: Callable[[str, str], _Shape] = _replica_entry_shape,
) -> list[Target]:
    """One target per `replicas` entry; the region is under `region_key` (`regionName` for
    pulumi-aws, `region` for aws-native)."""
    replicas = _lookup(props, "replicas")
    if replicas is ABSENT:
        return []
    if replicas is UNKNOWN or not isinstance(replicas, Sequence) or isinstance(replicas, str):
        shape = entry_shape(logical_name, "...")
        return [_read_target(f"{label} replicas", name, shape, UNKNOWN, requirement, deployed)]
    targets = []
    for index in range(len(replicas)):
        entry = _item(replicas, index)
        region = _lookup(entry, region_key) if isinstance(entry, Mapping) else UNKNOWN
        region_text = region if isinstance(region, str) else f"#{index}"
        shape = entry_shape(logical_name, region_text)
        entry_label = f"{label} replica in {region_text}"
        targets.append(_read_target(entry_label, name, shape, entry, requirement, deployed))
    return targets


@dataclass(frozen=True)
class Judged:
    """A table resource read and judged against one selection: what the pack reports and the
    transform fixes, decided once for both."""

    resource: TableResource
    findings: tuple[Finding, ...]
    left_alone: str | None
    """Why the selection leaves this table alone (outside the prefix, excluded), or None."""


def judge(
    resource_type: str,
    props: Mapping[str, Any],
    logical_name: str,
    selection: Selection,
    requirement: Requirement,
) -> Judged | None:
    """Read a resource's inputs and judge every control `requirement` asks; None for anything that
    is not a DynamoDB table. A table whose name is not known yet is never left alone."""
    resource = read_resource(resource_type, props, logical_name, requirement)
    if resource is None:
        return None
    findings = tuple(
        finding
        for control in requirement.controls
        for finding in resource.findings(control, requirement)
    )
    return Judged(resource, findings, left_alone_message(resource.name, selection))


def left_alone_message(name: str | None, selection: Selection) -> str | None:
    """The selection's reason for leaving the table alone, as the pack words it."""
    reason = None if name is None else selection.left_alone(name)
    if reason is LeftAlone.OUTSIDE_PREFIX:
        return f"table {name!r} does not start with {selection.prefix!r}"
    if reason is LeftAlone.EXCLUDED:
        patterns = ", ".join(repr(p) for p in selection.exclude)
        return f"table {name!r} is excluded ({EXCLUDE_KEY}: {patterns})"
    return None


def enable(finding: Finding, requirement: Requirement) -> bool:
    """Turn the finding's control on in its property bag, in place; False when there is no bag."""
    target, control = finding.target, finding.control
    bag, shape = target.bag, target.shape
    if bag is None:
        return False
    if control is DELETION_PROTECTION:
        _store(bag, shape.deletion_key, True)
        return True
    if shape.pitr_enabled_key is None:
        _store(bag, shape.pitr_key, True)
        return True
    days = _wanted_days(target.state, requirement.min_recovery_days)
    spec = _lookup(bag, shape.pitr_key)
    if isinstance(spec, Mapping):
        _store(spec, shape.pitr_enabled_key, True)
        if days is not None and shape.days_key is not None:
            _store(spec, shape.days_key, days)
    else:
        new_spec: dict[str, Any] = {shape.pitr_enabled_key: True}
        if days is not None and shape.days_key is not None:
            new_spec[shape.days_key] = days
        _store(bag, shape.pitr_key, new_spec)
    return True
