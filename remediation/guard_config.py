"""The runtime guard's configuration, read from the Lambda's environment (the variables are
listed in `remediation.guard`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from remediation import aws, core
from remediation.controls import ALL
from remediation.core import Requirement, Selection
from remediation.guardrail import (
    GuardrailError,
    Principals,
    TableGuardrail,
    check_principals,
    mode_named,
)


class ConfigError(ValueError):
    """The environment does not configure a usable guard: every event fails until it is fixed."""


@dataclass(frozen=True)
class GuardConfig:
    selection: Selection = field(default_factory=Selection)
    requirement: Requirement = field(default_factory=Requirement)
    alert_topic_arn: str | None = None
    rates: tuple[tuple[str, float], ...] = tuple(aws.DEFAULT_RATES.items())
    recheck_queue_url: str | None = None
    own_role_arn: str | None = None
    security_hub: bool = False
    """Import each re-protection into the region's Security Hub as an ASFF finding."""
    guardrail: TableGuardrail | None = None
    """The table policy the guard keeps on PutResourcePolicy/DeleteResourcePolicy events
    (SENTINEL_GUARDRAIL_*); None when no break-glass role is configured."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GuardConfig:
        prefix = env.get("SENTINEL_PREFIX", core.DEFAULT_PREFIX)
        if not prefix:
            raise ConfigError("SENTINEL_PREFIX must not be empty: never guard all tables")
        exclude = tuple(p.strip() for p in env.get("SENTINEL_EXCLUDE", "").split(",") if p.strip())
        days_text = env.get("SENTINEL_MIN_RECOVERY_DAYS", "").strip()
        try:
            days = int(days_text) if days_text else None
            requirement = Requirement(ALL, days)
        except ValueError as exc:
            raise ConfigError(f"SENTINEL_MIN_RECOVERY_DAYS: {exc}") from None
        topic = env.get("SENTINEL_ALERT_TOPIC_ARN", "").strip() or None
        if topic is not None and not topic.startswith("arn:"):
            raise ConfigError(f"SENTINEL_ALERT_TOPIC_ARN is not an ARN: {topic!r}")
        rates = dict(aws.DEFAULT_RATES)
        rates.update(_parse_rates(env.get("SENTINEL_RATES", "")))
        queue = env.get("SENTINEL_RECHECK_QUEUE_URL", "").strip() or None
        if queue is not None and not queue.startswith(("https://", "http://")):
            raise ConfigError(f"SENTINEL_RECHECK_QUEUE_URL is not a queue URL: {queue!r}")
        role = env.get("SENTINEL_GUARD_ROLE_ARN", "").strip() or None
        if role is not None and not role.startswith("arn:"):
            raise ConfigError(f"SENTINEL_GUARD_ROLE_ARN is not an ARN: {role!r}")
        hub = env.get("SENTINEL_SECURITY_HUB", "").strip().lower()
        if hub not in ("", "true", "false"):
            raise ConfigError(f"SENTINEL_SECURITY_HUB is true or false, got {hub!r}")
        kept = None
        if env.get("SENTINEL_GUARDRAIL_BREAK_GLASS_ROLES", "").strip():
            try:
                kept = guardrail_from_env(env, role)
            except GuardrailError as exc:
                raise ConfigError(f"SENTINEL_GUARDRAIL_*: {exc}") from None
        return cls(
            Selection(prefix, exclude),
            requirement,
            topic,
            tuple(sorted(rates.items())),
            queue,
            role,
            security_hub=hub == "true",
            guardrail=kept,
        )


def guardrail_from_env(env: Mapping[str, str], guard_role: str | None) -> TableGuardrail:
    """The guardrail the guard keeps, from SENTINEL_GUARDRAIL_*; raise GuardrailError."""
    principals = Principals(
        break_glass=_arns(env.get("SENTINEL_GUARDRAIL_BREAK_GLASS_ROLES", "")),
        allow=_arns(env.get("SENTINEL_GUARDRAIL_ALLOW_ROLES", "")),
        hardener=env.get("SENTINEL_GUARDRAIL_HARDENER_ROLE", "").strip() or None,
        guard=guard_role,
    )
    mode = mode_named(env.get("SENTINEL_GUARDRAIL_MODE", "").strip() or "strict")
    arns = principals.arns()
    partition = arns[0].split(":")[1] if arns and arns[0].count(":") >= 5 else "aws"
    check_principals(principals, partition)
    return TableGuardrail(principals, mode)


def _arns(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _parse_rates(text: str) -> dict[str, float]:
    rates: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        operation, _, number = item.partition("=")
        try:
            rate = float(number)
        except ValueError:
            rate = 0.0
        if not operation or not rate > 0:
            raise ConfigError(f"SENTINEL_RATES takes OPERATION=PER_SECOND,..., got {item!r}")
        rates[operation.strip()] = rate
    return rates


__all__ = ["ConfigError", "GuardConfig"]
