"""The pack's one config: every policy that judges a table takes the same keys.

Pulumi's config is per policy (`{"<policy>": {"prefix": ..., "exclude": [...]}}`), so each policy
declares its schema with `config_schema` and reads its own values with `settings_from`; a new
policy that judges a table does the same and gets the same keys, checked by the same schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pulumi_policy import PolicyConfigSchema
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from remediation.controls import PITR, Control
from remediation.core import (
    DEFAULT_PREFIX,
    MAX_RECOVERY_DAYS,
    MIN_RECOVERY_DAYS,
    Requirement,
    Selection,
)
from remediation.pulumi_props import EXCLUDE_KEY

__all__ = [
    "EXCLUDE_KEY",
    "MIN_RECOVERY_DAYS_KEY",
    "PREFIX_KEY",
    "CouldNotJudge",
    "config_schema",
    "selection_from",
    "settings_from",
]

PREFIX_KEY: Final = "prefix"
MIN_RECOVERY_DAYS_KEY: Final = "minRecoveryPeriodDays"


class CouldNotJudge(UnknownValueError):
    """A table whose protection cannot be decided: a value not known until the update runs.

    Raised from a policy's validate (or remediate), so that the engine reports our message as a
    "can't run policy during preview" diagnostic (advisory) instead of the table passing or
    being skipped.
    """

    def __init__(self, message: str, path: str) -> None:
        super().__init__(UNKNOWN_STRING_VALUE, [path])
        self.message = message

    def __str__(self) -> str:
        return self.message


def config_schema(control: Control | None) -> PolicyConfigSchema:
    """The config of a policy that judges tables: which tables are ours (`prefix`, `exclude`),
    and, for a policy about `control` PITR, the shortest recovery period."""
    properties: dict[str, dict[str, Any]] = {
        PREFIX_KEY: {
            "type": "string",
            "minLength": 1,  # an empty prefix would claim every table in the stack
            "default": DEFAULT_PREFIX,
            "description": "Only tables whose physical name starts with this are Sentinel's.",
        },
        EXCLUDE_KEY: {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "description": (
                "Glob patterns (fnmatch, case-sensitive) on the physical name of prefixed tables "
                "that are not Sentinel's to protect, such as `sentinel-scratch-*`."
            ),
        },
    }
    if control is PITR:
        properties[MIN_RECOVERY_DAYS_KEY] = {
            "type": "integer",
            "minimum": MIN_RECOVERY_DAYS,
            "maximum": MAX_RECOVERY_DAYS,
            "description": "The shortest PITR recovery period accepted, in days (AWS default 35).",
        }
    return PolicyConfigSchema(properties=properties)


def selection_from(config: Mapping[str, Any], policy: str) -> Selection:
    """The policy's own `prefix` and `exclude`, as the core's Selection."""
    prefix = config.get(PREFIX_KEY, DEFAULT_PREFIX)
    if not isinstance(prefix, str):
        raise TypeError(f"{policy}: {PREFIX_KEY} must be a string, got {prefix!r}")
    exclude = config.get(EXCLUDE_KEY) or ()
    if isinstance(exclude, str) or not all(isinstance(p, str) for p in exclude):
        raise TypeError(f"{policy}: {EXCLUDE_KEY} must be a list of glob strings")
    return Selection(prefix, tuple(exclude))


def settings_from(
    config: Mapping[str, Any], control: Control, policy: str | None = None
) -> tuple[Selection, Requirement]:
    """The policy's selection and what it requires of `control` (PITR's minimum period)."""
    name = policy or control.id
    selection = selection_from(config, name)
    days = config.get(MIN_RECOVERY_DAYS_KEY) if control is PITR else None
    if days is not None:
        # JSON numbers arrive as floats over gRPC.
        if isinstance(days, bool) or not isinstance(days, int | float) or days != int(days):
            raise TypeError(f"{name}: {MIN_RECOVERY_DAYS_KEY} must be an integer")
        days = int(days)
    return selection, Requirement(controls=(control,), min_recovery_days=days)
