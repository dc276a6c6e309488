"""The policies: one per control, and the `protect` advisory, assembled into the pack.

The policy pack (`policy_pack/__main__.py`) runs `policies()`. Each policy reads a resource's
inputs through `remediation.pulumi_props` (the only module that knows Pulumi property shapes),
asks the core what is missing, and reports or remediates in the same property bag. The names the
pack, the transform and the tests used from here before the shapes moved out are re-exported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceRemediation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from remediation.controls import ALL, PITR, Control
from remediation.core import (
    DEFAULT_PREFIX,
    MAX_RECOVERY_DAYS,
    MIN_RECOVERY_DAYS,
    Requirement,
    Selection,
)
from remediation.pulumi_props import (
    EXCLUDE_KEY,
    Finding,
    Judged,
    TableResource,
    enable,
    judge,
    read_resource,
)
from remediation.pulumi_state import (
    NATIVE_GLOBAL_TABLE,
    NATIVE_TABLE,
    RESOURCE_TYPES,
    TABLE,
    TABLE_REPLICA,
)

__all__ = [
    "EXCLUDE_KEY",
    "MIN_RECOVERY_DAYS_KEY",
    "NATIVE_GLOBAL_TABLE",
    "NATIVE_TABLE",
    "PACK_NAME",
    "PREFIX_KEY",
    "PROTECT_POLICY",
    "RESOURCE_TYPES",
    "TABLE",
    "TABLE_REPLICA",
    "CouldNotJudge",
    "Finding",
    "Judged",
    "TableResource",
    "config_schema",
    "enable",
    "judge",
    "policies",
    "protect_policy",
    "read_resource",
]

PACK_NAME: Final = "sentinel-dynamodb"
PROTECT_POLICY: Final = "pulumi-protect"
"""The advisory on Pulumi's own `protect` option: a policy, not a control (no AWS setting)."""

PREFIX_KEY: Final = "prefix"
MIN_RECOVERY_DAYS_KEY: Final = "minRecoveryPeriodDays"


class CouldNotJudge(UnknownValueError):
    """A table whose protection cannot be decided before the update runs.

    Raised from validate and remediate, so that the engine reports our message as a "can't run
    policy during preview" diagnostic (advisory) instead of the table passing or being skipped.
    """

    def __init__(self, message: str, path: str) -> None:
        super().__init__(UNKNOWN_STRING_VALUE, [path])
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- the policies -------------------------------------------------------------------------------


def config_schema(control: Control | None) -> PolicyConfigSchema:
    """The policy's config: which tables are ours, and for PITR the shortest recovery period."""
    properties: dict[str, dict[str, Any]] = {
        PREFIX_KEY: {
            "type": "string",
            "minLength": 1,  # an empty prefix would claim every table in the stack
            "default": DEFAULT_PREFIX,
            "description": "Only tables whose physical name starts with this are Sentinel's.",
        },
        EXCLUDE_KEY: {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "description": (
                "Glob patterns (fnmatch, case-sensitive) on the physical name of prefixed tables "
                "that are not Sentinel's to protect, such as `sentinel-scratch-*`."
            ),
        },
    }
    if control is PITR:
        properties[MIN_RECOVERY_DAYS_KEY] = {
            "type": "integer",
            "minimum": MIN_RECOVERY_DAYS,
            "maximum": MAX_RECOVERY_DAYS,
            "description": "The shortest PITR recovery period accepted, in days (AWS default 35).",
        }
    return PolicyConfigSchema(properties=properties)


def _selection(config: Mapping[str, Any], policy: str) -> Selection:
    prefix = config.get(PREFIX_KEY, DEFAULT_PREFIX)
    if not isinstance(prefix, str):
        raise TypeError(f"{policy}: {PREFIX_KEY} must be a string, got {prefix!r}")
    exclude = config.get(EXCLUDE_KEY) or ()
    if isinstance(exclude, str) or not all(isinstance(p, str) for p in exclude):
        raise TypeError(f"{policy}: {EXCLUDE_KEY} must be a list of glob strings")
    return Selection(prefix, tuple(exclude))


def _settings(config: Mapping[str, Any], control: Control) -> tuple[Selection, Requirement]:
    selection = _selection(config, control.id)
    days = config.get(MIN_RECOVERY_DAYS_KEY) if control is PITR else None
    if days is not None:
        # JSON numbers arrive as floats over gRPC.
        if isinstance(days, bool) or not isinstance(days, int | float) or days != int(days):
            raise TypeError(f"{control.id}: {MIN_RECOVERY_DAYS_KEY} must be an integer")
        days = int(days)
    return selection, Requirement(controls=(control,), min_recovery_days=days)


def _judge(
    args: ResourceValidationArgs, control: Control
) -> tuple[tuple[Finding, ...], Requirement] | None:
    """Read and judge the resource; None when it is not a table of ours (or not a table)."""
    if args.resource_type not in RESOURCE_TYPES:
        return None  # the common case in a large stack: no config parsing, no reading
    selection, requirement = _settings(args.get_config(), control)
    judged = judge(args.resource_type, args.props, args.name, selection, requirement)
    if judged is None:
        return None
    resource, findings = judged.resource, judged.findings
    if resource.name is None:
        if findings:
            message = resource.unjudged_name(findings, selection.prefix)
            raise CouldNotJudge(message, resource.name_path)
        return None  # protected whatever its name turns out to be
    if judged.left_alone is not None:
        args.not_applicable(judged.left_alone)
    return findings, requirement


def _could_not_judge(findings: Sequence[Finding], requirement: Requirement) -> CouldNotJudge:
    message = " ".join(f.message(requirement) for f in findings)
    return CouldNotJudge(message, findings[0].target.shape.path(findings[0].control))


def _validate(control: Control, args: ResourceValidationArgs, report: ReportViolation) -> None:
    judged = _judge(args, control)
    if judged is None:
        return
    findings, requirement = judged
    for finding in findings:
        if finding.judged:
            report(finding.message(requirement), None)
    unjudged = [f for f in findings if not f.judged]
    if unjudged:
        raise _could_not_judge(unjudged, requirement)


def _remediate(control: Control, args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    judged = _judge(args, control)
    if judged is None:
        return None
    findings, requirement = judged
    changed = [f for f in findings if enable(f, requirement)]
    if not changed:
        if findings:
            raise _could_not_judge(findings, requirement)
        return None
    # The same bag came in: every other key, `__defaults` and secrets included, goes back as it was.
    return args.props


def _policy(control: Control) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        _validate(control, args, report)

    def remediate(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
        return _remediate(control, args)

    return ResourceValidationPolicy(
        name=control.id,
        description=control.description,
        validate=validate,
        # pulumi_policy types remediate as returning an Awaitable, but its servicer takes a plain
        # return value as well; a coroutine would cost an event loop per call.
        remediate=cast(ResourceRemediation, remediate),
        config_schema=config_schema(control),
        severity=Severity.HIGH,
        remediation_steps=control.remediation,
        url=control.docs_url,
    )


def _validate_protect(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in RESOURCE_TYPES or args.opts.protect:
        return
    selection = _selection(args.get_config(), PROTECT_POLICY)
    resource = read_resource(args.resource_type, args.props, args.name, Requirement())
    if resource is None:
        return
    if resource.name is not None and not resource.is_ours(selection):
        return
    label = resource.name or f"{args.resource_type} {args.name!r} (name not known yet)"
    report(
        f"{label} is declared without Pulumi's `protect` resource option, so `pulumi destroy` "
        "or removing it from the program deletes it. Fix: add "
        "`opts=pulumi.ResourceOptions(protect=True)` (or `pulumi state protect`).",
        None,
    )


def protect_policy() -> ResourceValidationPolicy:
    """Advisory by default: a policy cannot set resource options, so this one only reports."""
    return ResourceValidationPolicy(
        name=PROTECT_POLICY,
        description=(
            "Sentinel's DynamoDB tables are declared with Pulumi's `protect` option, so Pulumi "
            "itself refuses to delete them."
        ),
        validate=_validate_protect,
        config_schema=config_schema(None),
        enforcement_level=EnforcementLevel.ADVISORY,
        severity=Severity.MEDIUM,
        remediation_steps=(
            "Declare the table with `opts=pulumi.ResourceOptions(protect=True)`, register "
            "`remediation.transform.protect_tables()`, or run `pulumi state protect <urn>`."
        ),
        url="https://www.pulumi.com/docs/iac/concepts/options/protect/",
    )


def policies() -> list[ResourceValidationPolicy]:
    """One policy per control, named by the control's id, and the `protect` advisory."""
    return [*(_policy(control) for control in ALL), protect_policy()]
