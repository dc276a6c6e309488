"""One table of PITR periods drives the CLI's decision and the policy pack's: they must agree."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pulumi_policy import ResourceValidationArgs
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from remediation import core
from remediation.cli import parse_options
from remediation.controls import PITR
from remediation.core import Reading, TableState
from remediation.pulumi_policies import MIN_RECOVERY_DAYS_KEY, TABLE, policies

NAME = "sentinel-requests"

# (PITR on, period the table keeps (None: unset, AWS's 35), minimum asked (None: any)) ->
# (PITR missing, the period the fix must send (None: send none))
CASES = [
    pytest.param(True, None, None, False, None, id="on-default-any"),
    pytest.param(True, 7, None, False, None, id="on-7-any"),
    pytest.param(True, 7, 14, True, 14, id="on-7-min-14-raised"),
    pytest.param(True, 14, 14, False, None, id="on-14-min-14"),
    pytest.param(True, 30, 14, False, None, id="on-30-min-14-never-lowered"),
    pytest.param(True, None, 35, False, None, id="on-default-min-35"),
    pytest.param(True, 34, 35, True, 35, id="on-34-min-35-raised"),
    pytest.param(True, 1, 1, False, None, id="on-1-min-1"),
    pytest.param(False, None, 14, True, None, id="off-min-14-turned-on-at-35"),
    pytest.param(False, None, None, True, None, id="off-any"),
]


def cli_decision(enabled: bool, days: int | None, minimum: int | None) -> tuple[bool, int | None]:
    """What `harden --min-recovery-days` plans, through the Requirement the CLI builds."""
    flags = [] if minimum is None else ["--min-recovery-days", str(minimum)]
    requirement = parse_options(["harden", *flags]).requirement
    # AWS answers an unset period as 35 (DescribeContinuousBackups' RecoveryPeriodInDays).
    answered = core.MAX_RECOVERY_DAYS if enabled and days is None else days
    state = TableState(
        name=NAME,
        deletion_protection=Reading(True),
        pitr=Reading(enabled),
        pitr_recovery_days=answered,
    )
    plan = core.plan([state], requirement)
    changes = [c for c in plan.changes if PITR in c.enable]
    return bool(changes), changes[0].recovery_days if changes else None


def pack_decision(enabled: bool, days: int | None, minimum: int | None) -> tuple[bool, int | None]:
    """What the pack's PITR policy reports and remediates, configured with minRecoveryPeriodDays."""
    pitr: dict[str, Any] = {"enabled": enabled}
    if days is not None:
        pitr["recoveryPeriodInDays"] = days
    props = {"name": NAME, "deletionProtectionEnabled": True, "pointInTimeRecovery": pitr}
    config = {} if minimum is None else {MIN_RECOVERY_DAYS_KEY: minimum}
    (policy,) = [p for p in policies() if p.name == PITR.id]

    def args() -> ResourceValidationArgs:
        view = unknown_checking_proxy(deserialize_properties(copy.deepcopy(props), True))
        urn = f"urn:pulumi:dev::sentinel::{TABLE}::requests"
        return ResourceValidationArgs(TABLE, view, urn, "requests", None, None, config)  # type: ignore[arg-type]

    violations: list[str] = []
    policy.validate(args(), lambda message, urn: violations.append(message))
    fixed = policy.remediate(args())
    sent = None
    if fixed is not None:
        period = fixed["pointInTimeRecovery"].get("recoveryPeriodInDays")
        sent = period if period != days else None
    assert bool(violations) == (fixed is not None), "validate and remediate must agree"
    return bool(violations), sent


@pytest.mark.parametrize(("enabled", "days", "minimum", "lacks", "period"), CASES)
def test_the_cli_and_the_pack_decide_a_recovery_period_alike(
    enabled: bool, days: int | None, minimum: int | None, lacks: bool, period: int | None
) -> None:
    assert cli_decision(enabled, days, minimum) == (lacks, period)
    assert pack_decision(enabled, days, minimum) == (lacks, period)
