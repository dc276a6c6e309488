"""The guardrail as an organization's Resource Control Policy, for a management or delegated-admin
stack: `OrganizationGuardrail` declares the RCP (remediation.guardrail.rcp) and its attachments.

    OrganizationGuardrail(
        "sentinel-guardrail",
        principals=Principals(break_glass=("arn:aws:iam::*:role/BreakGlass",)),
        target_ids=["ou-abcd-11111111"],       # none: the organization's root
    )

The organization must have the RCP policy type enabled on its root (`python -m remediation
guardrail --rcp --apply` enables it, as does `enabledPolicyTypes` on an aws.organizations.
Organization). An RCP binds every member account below its targets, the root user included, and
never the management account nor service-linked roles; the member stacks say it covers them with
`guardrailCoveredByRcp: true`, which the pack's `dynamodb-guardrail` policy reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from remediation import guardrail as rail
from remediation.core import DEFAULT_PREFIX, Selection

__all__ = ["OrganizationGuardrail"]


class OrganizationGuardrail(pulumi.ComponentResource):
    """An `aws.organizations.Policy` of type RESOURCE_CONTROL_POLICY and one
    `aws.organizations.PolicyAttachment` per target (the root when none is given).

    Raise remediation.guardrail.GuardrailError, before declaring anything, for an exclusion an
    RCP cannot honour, a malformed role ARN, or a document over 5,120 characters.
    """

    def __init__(
        self,
        name: str,
        *,
        principals: rail.Principals,
        mode: rail.Mode = rail.Mode.STRICT,
        prefix: str = DEFAULT_PREFIX,
        exclude: Sequence[str] = (),
        partition: str = "aws",
        target_ids: Sequence[str] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        document = rail.rcp(Selection(prefix, tuple(exclude)), principals, mode, partition)
        super().__init__("sentinel:guardrail:OrganizationGuardrail", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.policy = aws.organizations.Policy(
            name,
            type="RESOURCE_CONTROL_POLICY",
            content=rail.dumps(document),
            description=(
                f"Sentinel guardrail ({mode.value}): only break-glass and named roles may delete "
                f"or weaken DynamoDB tables {prefix}*"
            ),
            opts=child,
        )
        targets: Sequence[pulumi.Input[str]] = list(target_ids)
        if not targets:
            organization = aws.organizations.get_organization_output(
                opts=pulumi.InvokeOutputOptions(parent=self)
            )
            targets = [organization.roots.apply(lambda roots: roots[0].id)]
        self.attachments = [
            aws.organizations.PolicyAttachment(
                f"{name}-{index}", policy_id=self.policy.id, target_id=target, opts=child
            )
            for index, target in enumerate(targets)
        ]
        self.register_outputs({"policy_id": self.policy.id})
