"""A pack whose policies do nothing: the baseline `bench/bench_pack.py` and `bench/bench_pulumi.py`
measure ours against. Same policy names and kinds (a resource policy per control, and a stack
policy per control over the deployed state), so the SDK and engine traffic is the same."""

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from remediation.controls import ALL

PolicyPack(
    name="baseline",
    policies=[
        *(
            ResourceValidationPolicy(
                name=control.id,
                description=control.description,
                validate=lambda args, report: None,
                remediate=lambda args: None,
            )
            for control in ALL
        ),
        *(
            StackValidationPolicy(
                name=f"{control.id}-deployed",
                description=control.description,
                validate=lambda args, report: None,
            )
            for control in ALL
        ),
    ],
    enforcement_level=EnforcementLevel.REMEDIATE,
)
