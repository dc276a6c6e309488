"""Stack validation policies: the pack judges what is deployed, not only what is declared.

A resource policy sees a table's inputs (what the program declares). After a `pulumi refresh`,
the stack's outputs say what AWS last answered, and only a stack policy sees them: Pulumi hands
`AnalyzeStack` every resource's outputs (during `pulumi up`, after the resources are created or
updated; under `pulumi policy analyze`, the outputs recorded in the state). One policy per
control, `<control id>-deployed`, reads those outputs through `remediation.pulumi_props`, selects
with the same `Selection`, and asks the core what is missing.

What the program declared is known when the pack's resource policies read the same resource's
inputs in this run (they always do, before the stack policies), so a message can say what drifted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from remediation.controls import PITR, Control
from remediation.core import InvalidTableRef, Requirement, Selection, parse_table_ref
from remediation.pulumi_config import CouldNotJudge, config_schema, settings_from
from remediation.pulumi_meta import metadata
from remediation.pulumi_props import (
    Finding,
    TableResource,
    Target,
    left_alone_message,
    read_resource,
)
from remediation.pulumi_state import RESOURCE_TYPES, TABLE_REPLICA

__all__ = ["DEPLOYED_LEVEL", "Declared", "deployed_policy", "deployed_policy_name"]

DEPLOYED_LEVEL: Final = EnforcementLevel.MANDATORY
"""A deployed table without a protection fails `pulumi policy analyze` and the update that
left it so; a config file can lower it (`advisory`) per policy."""

_REPAIR: Final = (
    "`pulumi up --refresh --policy-pack policy_pack` restores what the stack declares (see it "
    "first with `pulumi preview --refresh --policy-pack policy_pack`)"
)


def deployed_policy_name(control: Control) -> str:
    return f"{control.id}-deployed"


@dataclass
class Declared:
    """What the resource policies read from each table resource's inputs in this run, by URN.

    One per pack process: the engine runs every resource's Analyze before AnalyzeStack, in the
    same process, so a stack policy can set the deployed value beside the declared one.
    """

    _by_urn: dict[str, TableResource] = field(default_factory=dict)

    def record(self, urn: str, resource: TableResource) -> None:
        self._by_urn[urn] = resource

    def target(self, urn: str, label: str) -> Target | None:
        resource = self._by_urn.get(urn)
        if resource is None:
            return None
        return next((t for t in resource.targets if t.label == label), None)


def _text(props: Mapping[str, Any], key: str) -> str | None:
    """A known string output, else None (absent, unknown during preview, not a string)."""
    try:
        value = props.get(key)
    except UnknownValueError:
        return None
    return value if isinstance(value, str) else None


def _where(resource: PolicyResource) -> str:
    """Region and account of the resource's own table, from its ARN, else its provider."""
    arn = _text(resource.props, "arn")
    if arn is not None:
        try:
            ref = parse_table_ref(arn)
        except InvalidTableRef:
            ref = None
        if ref is not None and ref.region:
            return f" in {ref.region} (account {ref.account})"
    region = _text(resource.props, "region")
    if region is None and resource.provider is not None:
        region = _text(resource.provider.props, "region")
    return f" in {region}" if region else ""


def _deployed_value(finding: Finding, requirement: Requirement) -> str:
    state, control = finding.target.state, finding.control
    if control is PITR and state.pitr.enabled:
        days = state.pitr_recovery_days
        return f"PITR keeping {days} days, fewer than the required {requirement.min_recovery_days}"
    raw = finding.target.details[control.id]
    shown = "not set" if raw is None or not isinstance(raw, bool | int) else str(raw).lower()
    return f"{control.label} off ({finding.target.shape.path(control)}: {shown})"


def _declared_value(target: Target | None, control: Control, period: bool) -> str | None:
    """What the program declares for the same table, when this run read it."""
    if target is None:
        return None
    reading = target.state.reading(control).enabled
    if reading is None:
        return "a value not known until the update runs"
    if period and reading:
        days = target.state.pitr_recovery_days
        return f"PITR on, {days} days (AWS's 35 where none is declared)"
    return f"{control.label} {'on' if reading else 'off'}"


def _message(
    finding: Finding, where: str, declared: Target | None, requirement: Requirement
) -> str:
    control, target = finding.control, finding.target
    # PITR reads on, so what is short is its period.
    period = control is PITR and bool(target.state.pitr.enabled)
    head = f"{target.label}{where}: the deployed state has {_deployed_value(finding, requirement)}"
    said = _declared_value(declared, control, period)
    if said is not None:
        head += f"; the stack declares {said}"
    declared_on = declared is not None and declared.state.reading(control).enabled is True
    if declared_on and not period:
        return f"{head}. It drifted: {_REPAIR}."
    # A period is planned back only where the program declares one, so the fix names it.
    code = target.shape.fix(control, requirement.min_recovery_days if period else None)
    return f"{head}. Fix: declare {code}, then {_REPAIR}."


def _unknown_path(finding: Finding) -> str:
    """The output that could not be read: PITR's period when PITR itself reads on."""
    shape, control = finding.target.shape, finding.control
    if control is PITR and finding.target.details[PITR.id] is True and shape.days_key:
        return f"{shape.pitr_key}.{shape.days_key}"
    return shape.path(control)


@dataclass
class _Verdicts:
    """One stack policy's pass over the stack: what it judged, left alone, could not judge."""

    judged: int = 0
    left_alone: list[str] = field(default_factory=list)
    unjudged: list[str] = field(default_factory=list)
    path: str = ""


def _judge_resource(
    resource: PolicyResource,
    control: Control,
    selection: Selection,
    requirement: Requirement,
    declared: Declared,
    report: ReportViolation,
    verdicts: _Verdicts,
) -> None:
    read = read_resource(
        resource.resource_type, resource.props, resource.name, requirement, deployed=True
    )
    if read is None:
        return
    findings = read.findings(control, requirement)
    if read.name is None:
        if findings:
            verdicts.unjudged.append(read.unjudged_name(findings, selection.prefix))
            verdicts.path = verdicts.path or read.name_path
        return
    reason = left_alone_message(read.name, selection)
    if reason is not None:
        verdicts.left_alone.append(reason)
        return
    verdicts.judged += 1
    where = _where(resource)
    for finding in findings:
        label = finding.target.label
        if finding.judged:
            own = where if label == read.name or resource.resource_type == TABLE_REPLICA else ""
            said = declared.target(resource.urn, label)
            report(_message(finding, own, said, requirement), resource.urn)
        else:
            path = _unknown_path(finding)
            verdicts.unjudged.append(
                f"{label}: the deployed {path} is not known (not recorded, or not until the "
                f"update runs), so its {control.label} was not judged."
            )
            verdicts.path = verdicts.path or path


def _validate(
    control: Control, declared: Declared, args: StackValidationArgs, report: ReportViolation
) -> None:
    policy = deployed_policy_name(control)
    selection, requirement = settings_from(args.get_config(), control, policy)
    verdicts = _Verdicts()
    for resource in args.resources:
        if resource.resource_type in RESOURCE_TYPES:
            _judge_resource(resource, control, selection, requirement, declared, report, verdicts)
    if verdicts.unjudged:
        # Never a pass and never a fail: the engine shows this as "can't run policy ...".
        raise CouldNotJudge(" ".join(verdicts.unjudged), verdicts.path)
    if not verdicts.judged:
        left = "; ".join(verdicts.left_alone) or "the stack has no DynamoDB table"
        args.not_applicable(f"no deployed table of the stack is Sentinel's to judge ({left})")


def deployed_policy(control: Control, declared: Declared) -> StackValidationPolicy:
    """The stack policy for `control`: every Sentinel table's deployed state must have it."""

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        _validate(control, declared, args, report)

    name = deployed_policy_name(control)
    return StackValidationPolicy(
        name=name,
        description=(
            f"Deployed Sentinel DynamoDB tables have {control.noun} on, as AWS last answered "
            "(the stack's outputs after `pulumi refresh`), not only as the program declares it."
        ),
        validate=validate,
        enforcement_level=DEPLOYED_LEVEL,
        config_schema=config_schema(control),
        **metadata(
            control,
            name,
            remediation=(
                f"Run `pulumi preview --refresh --policy-pack policy_pack` to see the update that "
                f"restores {control.noun}, then `pulumi up --refresh --policy-pack policy_pack`. "
                f"{control.remediation}"
            ),
            tags=["deployed-state", "drift"],
        ),
    )
