"""Deletion protection and point-in-time recovery for Sentinel's DynamoDB tables.

One core (`remediation.core`, `remediation.controls`) shared by the CLI, the CrossGuard policy pack
and the Pulumi transform.
"""

from remediation.controls import ALL, DELETION_PROTECTION, PITR, Control
from remediation.core import (
    DEFAULT_PREFIX,
    AwsError,
    Change,
    Outcome,
    Plan,
    Reading,
    Requirement,
    Selection,
    TableState,
    missing,
    plan,
    select,
)

__all__ = [
    "ALL",
    "DEFAULT_PREFIX",
    "DELETION_PROTECTION",
    "PITR",
    "AwsError",
    "Change",
    "Control",
    "Outcome",
    "Plan",
    "Reading",
    "Requirement",
    "Selection",
    "TableState",
    "missing",
    "plan",
    "select",
]
