"""The Sentinel DynamoDB policy pack; the policies live in `remediation.pulumi_policies`."""

from pulumi_policy import EnforcementLevel, PolicyPack

from remediation.pulumi_policies import PACK_NAME, policies

# Remediate by default: `pulumi preview` marks what `pulumi up` will fix.
PolicyPack(name=PACK_NAME, policies=policies(), enforcement_level=EnforcementLevel.REMEDIATE)
