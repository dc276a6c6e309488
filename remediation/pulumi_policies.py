"""The policies: per control one on what is declared and one on what is deployed
(`remediation.pulumi_deployed`), and the `protect` advisory, assembled into the pack.

The policy pack (`policy_pack/__main__.py`) runs `policies()`. Each resource policy reads a
resource's inputs through `remediation.pulumi_props` (the only module that knows Pulumi property
shapes), asks the core what is missing, and reports or remediates in the same property bag. The
names the pack, the transform and the tests used from here before the shapes and the config moved
out are re-exported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceRemediation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from remediation.controls import ALL, Control
from remediation.core import Requirement
from remediation.pulumi_config import (
    MIN_RECOVERY_DAYS_KEY,
    PREFIX_KEY,
    CouldNotJudge,
    config_schema,
    selection_from,
    settings_from,
)
from remediation.pulumi_deployed import Declared, deployed_policy, deployed_policy_name
from remediation.pulumi_guardrail_policy import guardrail_policy
from remediation.pulumi_meta import metadata, policy_url
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
    "deployed_policy_name",
    "enable",
    "judge",
    "policies",
    "protect_policy",
    "read_resource",
]

PACK_NAME: Final = "sentinel-dynamodb"
PROTECT_POLICY: Final = "pulumi-protect"
"""The advisory on Pulumi's own `protect` option: a policy, not a control (no AWS setting)."""

# The config and the "not judged" error live in `pulumi_config`; the old names stay importable.
_selection = selection_from
_settings = settings_from


def _judge(
    args: ResourceValidationArgs, control: Control, declared: Declared
) -> tuple[tuple[Finding, ...], Requirement] | None:
    """Read and judge the resource; None when it is not a table of ours (or not a table)."""
    if args.resource_type not in RESOURCE_TYPES:
        return None  # the common case in a large stack: no config parsing, no reading
    selection, requirement = _settings(args.get_config(), control)
    judged = judge(args.resource_type, args.props, args.name, selection, requirement)
    if judged is None:
        return None
    resource, findings = judged.resource, judged.findings
    declared.record(args.urn, resource)
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


def _validate(
    control: Control, declared: Declared, args: ResourceValidationArgs, report: ReportViolation
) -> None:
    judged = _judge(args, control, declared)
    if judged is None:
        return
    findings, requirement = judged
    for finding in findings:
        if finding.judged:
            report(finding.message(requirement), None)
    unjudged = [f for f in findings if not f.judged]
    if unjudged:
        raise _could_not_judge(unjudged, requirement)


def _remediate(
    control: Control, declared: Declared, args: ResourceValidationArgs
) -> Mapping[str, Any] | None:
    judged = _judge(args, control, declared)
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


def _policy(control: Control, declared: Declared) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        _validate(control, declared, args, report)

    def remediate(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
        return _remediate(control, declared, args)

    return ResourceValidationPolicy(
        name=control.id,
        description=control.description,
        validate=validate,
        # pulumi_policy types remediate as returning an Awaitable, but its servicer takes a plain
        # return value as well; a coroutine would cost an event loop per call.
        remediate=cast(ResourceRemediation, remediate),
        config_schema=config_schema(control),
        **metadata(control, control.id, remediation=control.remediation, tags=["declared"]),
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
        url=policy_url(PROTECT_POLICY),
        tags=["sentinel", "dynamodb", "pulumi-protect", "declared"],
    )


def policies() -> list[Policy]:
    """Per control a resource policy named by the control's id (what is declared) and a stack
    policy `<id>-deployed` (what is deployed), the `protect` advisory, and the guardrail's stack
    policy (advisory: asked for by stack config, never implied). Every policy that
    judges a table takes the same config (`pulumi_config.config_schema`)."""
    declared = Declared()
    return [
        *(_policy(control, declared) for control in ALL),
        protect_policy(),
        *(deployed_policy(control, declared) for control in ALL),
        guardrail_policy(),
    ]
