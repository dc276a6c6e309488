"""A Pulumi resource transform that protects a program's own Sentinel tables at the source.

Register it once, before the tables are declared:

    pulumi.runtime.register_resource_transform(protect_tables())

It reads each DynamoDB table's inputs with the same functions as the policy pack
(`remediation.pulumi_policies`), asks the core what is missing, and turns it on.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import pulumi

from remediation.core import DEFAULT_PREFIX, Requirement, Selection
from remediation.pulumi_policies import RESOURCE_TYPES, enable, judge

__all__ = ["protect_tables"]


def protect_tables(
    prefix: str = DEFAULT_PREFIX,
    min_recovery_days: int | None = None,
    *,
    exclude: Iterable[str] = (),
    protect: bool = True,
) -> pulumi.ResourceTransform:
    """A transform enabling deletion protection and PITR on every table named `prefix`*, except
    those an `exclude` glob matches (the same rule as the pack's `exclude` config), and with
    `protect` Pulumi's own `protect` resource option, so `pulumi destroy` refuses to delete it."""
    patterns = (exclude,) if isinstance(exclude, str) else tuple(exclude)
    selection = Selection(prefix, patterns)
    requirement = Requirement(min_recovery_days=min_recovery_days)

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if args.type_ not in RESOURCE_TYPES:
            return None  # before copying: other resources' inputs may hold resource references
        props = copy.deepcopy(dict(args.props))
        judged = judge(args.type_, props, args.name, selection, requirement)
        if judged is None:
            return None
        unprotected = protect and not (args.opts and args.opts.protect)
        if not judged.findings and not unprotected:
            return None
        if judged.resource.name is None:
            # Preview only: during the update the name is known and this runs again.
            if judged.findings:
                pulumi.log.warn(judged.resource.unjudged_name(judged.findings, prefix))
            return None
        if judged.left_alone is not None:
            return None
        for finding in judged.findings:
            if not enable(finding, requirement):
                pulumi.log.warn(finding.message(requirement))
        opts = args.opts
        if unprotected:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True))
        return pulumi.ResourceTransformResult(props=props, opts=opts)

    return transform
