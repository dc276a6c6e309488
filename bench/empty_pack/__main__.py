"""A pack whose policies do nothing: the baseline `bench/bench_pack.py` measures ours against."""

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy

from remediation.controls import ALL

PolicyPack(
    name="baseline",
    policies=[
        ResourceValidationPolicy(
            name=control.id,
            description=control.description,
            validate=lambda args, report: None,
            remediate=lambda args: None,
        )
        for control in ALL
    ],
    enforcement_level=EnforcementLevel.REMEDIATE,
)
