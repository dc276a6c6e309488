"""What a Pulumi user sees about each policy beside its verdicts: severity, remediation steps,
the docs URL, tags and the compliance framework, all from the controls' records.

`url` is built from the project's URL (pyproject.toml's `[project.urls]`; a test keeps the two
equal) and points at the policy's own heading on docs/policies.md.
"""

from __future__ import annotations

from typing import Final, TypedDict

from pulumi_policy import PolicyComplianceFramework, Severity

from remediation.controls import Control

__all__ = [
    "FSBP",
    "PROJECT_URL",
    "Metadata",
    "framework",
    "metadata",
    "policy_url",
    "severity",
]

PROJECT_URL: Final = "https://github.com/mateoblack/sentinel-dynamodb-hardening"
"""pyproject.toml's `[project.urls]` Homepage."""
POLICY_DOCS: Final = f"{PROJECT_URL}/blob/main/docs/policies.md"
FSBP: Final = "AWS Foundational Security Best Practices"
_FSBP_DOCS: Final = (
    "https://docs.aws.amazon.com/securityhub/latest/userguide/dynamodb-controls.html"
)


class Metadata(TypedDict):
    severity: Severity
    remediation_steps: str
    url: str
    tags: list[str]
    framework: PolicyComplianceFramework | None


def policy_url(policy: str) -> str:
    """The policy's heading on docs/policies.md (headings there are the policy names)."""
    return f"{POLICY_DOCS}#{policy}"


def severity(control: Control) -> Severity:
    return Severity(control.severity.lower())


def framework(control: Control) -> PolicyComplianceFramework | None:
    """The FSBP control that checks the same thing (DynamoDB.6, DynamoDB.2), or None."""
    if control.aws_control is None:
        return None
    anchor = control.aws_control.lower().replace(".", "-")
    return PolicyComplianceFramework(
        name=FSBP,
        version="1.0.0",
        reference=control.aws_control,
        specification=f"{_FSBP_DOCS}#{anchor}",
    )


def metadata(control: Control, policy: str, *, remediation: str, tags: list[str]) -> Metadata:
    """The keyword arguments every policy about `control` passes its Policy class."""
    return Metadata(
        severity=severity(control),
        remediation_steps=remediation,
        url=policy_url(policy),
        tags=["sentinel", "dynamodb", control.id.removeprefix("dynamodb-"), *tags],
        framework=framework(control),
    )
