"""The Sentinel DynamoDB policy pack; the policies live in `remediation.pulumi_policies`."""

from pulumi_policy import EnforcementLevel, PolicyPack

from remediation.pulumi_guardrail_policy import keep_stack_config
from remediation.pulumi_policies import PACK_NAME, policies

# Remediate by default: `pulumi preview` marks what `pulumi up` will fix. The guardrail's stack
# policy keeps its own level (advisory).
keep_stack_config()  # the guardrail policy reads the stack's config (guardrailCoveredByRcp)
PolicyPack(
    name=PACK_NAME,
    policies=policies(),
    enforcement_level=EnforcementLevel.REMEDIATE,
)
