"""The guardrail, pure: deny statements that let only named principals weaken or delete a table.

Neither DynamoDB nor IAM has a condition key for deletion protection or PITR, so the guardrail
denies the actions themselves (`DeleteTable`, `UpdateContinuousBackups` and, in strict mode,
`UpdateTable`) to every principal whose `aws:PrincipalArn` is not on the allowed list. It comes in
two forms built from the same statement:

- `Form.TABLE`: a resource policy on each selected table and replica. It also denies
  `PutResourcePolicy`/`DeleteResourcePolicy`, so the guardrail guards itself, and names the
  service-linked roles DynamoDB and Application Auto Scaling act through (for those
  `aws:PrincipalIsAWSService` is false, so the key alone would deny them).
- `Form.RCP`: one Resource Control Policy for an organization, on `table/<prefix>*` in every
  account and region. RCPs never apply to service-linked roles, nor in the management account.

No boto3 and no I/O: the CLI, the Pulumi program and the tests all build the same documents here.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from remediation.core import Selection, parse_arn

VERSION = "2012-10-17"
SID = "SentinelGuardrailDeny"
"""The guardrail's one statement, found again by this Sid when merging into a table's policy."""

DELETE_TABLE = "dynamodb:DeleteTable"
UPDATE_CONTINUOUS_BACKUPS = "dynamodb:UpdateContinuousBackups"
UPDATE_TABLE = "dynamodb:UpdateTable"
PUT_RESOURCE_POLICY = "dynamodb:PutResourcePolicy"
DELETE_RESOURCE_POLICY = "dynamodb:DeleteResourcePolicy"

TABLE_POLICY_MAX_BYTES = 20 * 1024
"""DynamoDB's limit on one resource-based policy, whitespace included (DynamoDB developer guide,
"Resource-based policy considerations")."""
RCP_MAX_CHARS = 5120
"""AWS Organizations' limit on a Resource Control Policy document (Organizations user guide,
"Quotas and service limits for AWS Organizations"). Documents are built without whitespace."""

SERVICE_LINKED_ROLES = (
    # DynamoDB adds and removes global-table replicas through this role.
    "role/aws-service-role/replication.dynamodb.amazonaws.com/AWSServiceRoleForDynamoDBReplication",
    # Application Auto Scaling calls UpdateTable for provisioned tables with auto scaling.
    "role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_DynamoDBTable",
)

_ROLE_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):iam::(?P<account>[0-9*?]{1,12}):role/(?P<path>[\w+=,.@/*?-]+)"
)
_IAM_WILDCARD_SAFE = re.compile(r"[^\[\]]*")


class Mode(enum.Enum):
    """Whether `UpdateTable` is denied too."""

    STRICT = "strict"
    """UpdateTable, the only call that turns deletion protection off, is denied as well."""
    LENIENT = "lenient"
    """UpdateTable is left open: deletion protection can be turned off, and only the guard
    (or the next harden run) turns it back on. DeleteTable stays denied, so a table cannot be
    dropped while its deletion protection is off, unless deletion protection is off first."""


LENIENT_LEAVES_OPEN = (
    "lenient mode leaves dynamodb:UpdateTable open: anyone allowed UpdateTable can turn deletion "
    "protection off (the runtime guard turns it back on within seconds, and the next harden run "
    "reports it); DeleteTable and UpdateContinuousBackups stay denied"
)


class Form(enum.Enum):
    TABLE = "table"
    """A resource policy on each table (PutResourcePolicy)."""
    RCP = "rcp"
    """A Resource Control Policy for the organization."""


class GuardrailError(ValueError):
    """Input the guardrail cannot be built from: one line that says why (the CLI's exit 3)."""


@dataclass(frozen=True)
class Principals:
    """Who may still weaken or delete a guarded table, each by role ARN (`*` and `?` allowed)."""

    break_glass: tuple[str, ...]
    allow: tuple[str, ...] = ()
    """Deployers that must change tables, such as the Pulumi deploy role."""
    hardener: str | None = None
    """The hardener's own role ARN, with its path (as `aws:PrincipalArn` carries it)."""
    guard: str | None = None
    """The runtime guard's role ARN, when one is deployed."""

    def arns(self) -> tuple[str, ...]:
        """Every allowed ARN once, in a stable order: break-glass, allowed, hardener, guard."""
        ordered = [*self.break_glass, *self.allow, self.hardener, self.guard]
        return tuple(dict.fromkeys(arn for arn in ordered if arn))


@dataclass(frozen=True)
class TableGuardrail:
    """What `harden --guardrail` (and the guard) put on each table: who is allowed, the mode, and
    whether the caller may lock itself out of the policy (`ConfirmRemoveSelfResourceAccess`)."""

    principals: Principals
    mode: Mode = Mode.STRICT
    confirm_remove_self_access: bool = False
    """Sent only when the caller is not among the allowed principals, and only when asked."""
    also: tuple[Principals, ...] = ()
    """Other allowed lists whose statement counts as the guardrail too, when judging only: a
    `--check` accepts the statement with or without its caller's own role."""

    def policy(self, table_arn: str) -> dict[str, Any]:
        return table_policy(table_arn, self.principals, self.mode)

    def held_by(self, policy: str | None, table_arn: str) -> bool:
        """Whether a table's policy (JSON, None for none) carries the guardrail."""
        return any(
            holds(policy, table_policy(table_arn, principals, self.mode))
            for principals in (self.principals, *self.also)
        )


def covers(pattern: str, arn: str) -> bool:
    """Whether an `aws:PrincipalArn` pattern matches as IAM's `ArnLike` does: each of the six
    `:` parts on its own, '*' and '?' the only wildcards, case-sensitive."""
    wanted, given = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != 6 or len(given) != 6:
        return False
    return all(_glob(w).fullmatch(g) is not None for w, g in zip(wanted, given, strict=True))


def _glob(part: str) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in part)
    return re.compile(regex, re.DOTALL)


def allows(principals: Principals, arn: str) -> bool:
    """Whether the guardrail exempts `arn` (a role ARN with its path, or any principal ARN)."""
    return any(covers(pattern, arn) for pattern in principals.arns())


def check_principals(principals: Principals, partition: str) -> None:
    """Raise GuardrailError unless there is a break-glass role and every ARN is a role ARN of
    `partition`."""
    if not principals.break_glass:
        raise GuardrailError("the guardrail needs at least one --break-glass-role ARN")
    for arn in principals.arns():
        check_role_arn(arn, partition)


def check_role_arn(arn: str, partition: str) -> None:
    match = _ROLE_ARN.fullmatch(arn)
    if match is None:
        raise GuardrailError(
            f"not an IAM role ARN: {arn!r} "
            f"(expected arn:{partition}:iam::ACCOUNT:role/[PATH/]NAME; '*' and '?' are allowed)"
        )
    if match["partition"] != partition:
        raise GuardrailError(
            f"role ARN {arn!r} is in partition {match['partition']!r}, "
            f"but the tables are in {partition!r}"
        )


def denied_actions(form: Form, mode: Mode) -> tuple[str, ...]:
    actions = [DELETE_TABLE, UPDATE_CONTINUOUS_BACKUPS]
    if mode is Mode.STRICT:
        actions.append(UPDATE_TABLE)
    if form is Form.TABLE:
        actions += [PUT_RESOURCE_POLICY, DELETE_RESOURCE_POLICY]
    return tuple(actions)


def service_linked_role_arns(partition: str) -> tuple[str, ...]:
    """The service-linked roles a table policy must name, in any account (only AWS can create a
    role under `aws-service-role/`)."""
    return tuple(f"arn:{partition}:iam::*:{role}" for role in SERVICE_LINKED_ROLES)


def statement(
    principals: Principals,
    *,
    form: Form,
    mode: Mode,
    resources: Sequence[str],
    partition: str,
) -> dict[str, Any]:
    """The guardrail's one Deny statement over `resources`."""
    check_principals(principals, partition)
    allowed = list(principals.arns())
    if form is Form.TABLE:
        allowed += service_linked_role_arns(partition)
    return {
        "Sid": SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": list(denied_actions(form, mode)),
        "Resource": list(resources) if len(resources) > 1 else resources[0],
        "Condition": {
            "ArnNotLike": {"aws:PrincipalArn": allowed},
            # Calls made by an AWS service principal are never denied; service-linked roles
            # are not service principals, hence their ARNs above.
            "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
        },
    }


def table_policy(
    table_arn: str, principals: Principals, mode: Mode = Mode.STRICT
) -> dict[str, Any]:
    """The guardrail as a resource policy of one table (or replica), by its own ARN."""
    partition = arn_partition(table_arn)
    return {
        "Version": VERSION,
        "Statement": [
            statement(
                principals, form=Form.TABLE, mode=mode, resources=[table_arn], partition=partition
            )
        ],
    }


def rcp(
    selection: Selection,
    principals: Principals,
    mode: Mode = Mode.STRICT,
    partition: str = "aws",
) -> dict[str, Any]:
    """The guardrail as a Resource Control Policy over `table/<prefix>*` in every account and
    region. Raise GuardrailError for an exclusion it cannot honour, or a document over 5,120
    characters."""
    check_rcp_exclusions(selection)
    document = {
        "Version": VERSION,
        "Statement": [
            statement(
                principals,
                form=Form.RCP,
                mode=mode,
                resources=[f"arn:{partition}:dynamodb:*:*:table/{selection.prefix}*"],
                partition=partition,
            )
        ],
    }
    size = len(dumps(document))
    if size > RCP_MAX_CHARS:
        raise GuardrailError(
            f"the RCP would be {size} characters, over AWS Organizations' limit of "
            f"{RCP_MAX_CHARS}: name fewer allowed roles, or use wildcards "
            "(e.g. arn:aws:iam::*:role/BreakGlass*)"
        )
    return document


def check_rcp_exclusions(selection: Selection) -> None:
    """An RCP denies on `table/<prefix>*` and cannot carve tables out of it: IAM has no condition
    key for a table's name, and a Deny cannot be narrowed by another statement. So an exclusion
    that can match a name under the prefix is refused, never silently covered."""
    for pattern in selection.exclude:
        if not _IAM_WILDCARD_SAFE.fullmatch(pattern):
            raise GuardrailError(
                f"--exclude {pattern!r} uses '[...]', which IAM wildcards (only '*' and '?') "
                "cannot express; an RCP cannot exclude it"
            )
        if _may_overlap(pattern, selection.prefix):
            raise GuardrailError(
                f"--exclude {pattern!r} matches tables under the prefix {selection.prefix!r}, "
                "and an RCP cannot exempt a table by name (no IAM condition key carries it); "
                "guard those tables with the table-policy form (harden --guardrail) instead"
            )


def _may_overlap(pattern: str, prefix: str) -> bool:
    """Whether some name that starts with `prefix` matches the glob `pattern` ('*' and '?'):
    run the glob over the prefix; any position still alive can be completed by a suffix."""
    alive = _closure({0}, pattern)
    for char in prefix:
        step = set()
        for at in alive:
            if at < len(pattern) and pattern[at] == "*":
                step.add(at)
            elif at < len(pattern) and pattern[at] in ("?", char):
                step.add(at + 1)
        alive = _closure(step, pattern)
        if not alive:
            return False
    return True


def _closure(positions: set[int], pattern: str) -> set[int]:
    """Positions after skipping any run of '*' (each may match nothing)."""
    result = set(positions)
    for at in positions:
        while at < len(pattern) and pattern[at] == "*":
            at += 1
            result.add(at)
    return result


def principals_that_fit(
    selection: Selection, principals: Principals, mode: Mode, partition: str = "aws"
) -> int:
    """How many more allowed role ARNs, each as long as the longest given, fit in the RCP."""
    document = rcp(selection, principals, mode, partition)
    room = RCP_MAX_CHARS - len(dumps(document))
    longest = max(len(arn) for arn in principals.arns())
    return room // (longest + 3)  # the ARN, its two quotes and a comma


def dumps(document: Mapping[str, Any]) -> str:
    """A policy as it is sent: compact, keys in order."""
    return json.dumps(document, separators=(",", ":"))


def arn_partition(arn: str) -> str:
    parsed = parse_arn(arn)
    if parsed is None:
        raise GuardrailError(f"not an ARN: {arn!r}")
    return parsed.partition


@dataclass(frozen=True)
class Merge:
    """A table's resource policy with the guardrail merged in by Sid."""

    document: dict[str, Any]
    changed: bool
    """False when an equivalent statement is already there: nothing to write."""


def merge(existing: str | None, wanted: Mapping[str, Any]) -> Merge:
    """Merge the guardrail statement of `wanted` into `existing` (a policy JSON or None).

    Every statement someone else wrote is kept as it is. An existing statement with our Sid is
    replaced; an existing statement equivalent to ours (whatever its Sid) means no change. Raise
    GuardrailError when `existing` is not a policy, or the merged policy is over DynamoDB's 20 KB.
    """
    ours = wanted["Statement"]
    if existing is None:
        document: dict[str, Any] = {"Version": VERSION, "Statement": list(ours)}
        return Merge(_within_limit(document), True)
    try:
        parsed = json.loads(existing)
    except json.JSONDecodeError as exc:
        raise GuardrailError(f"the table's resource policy is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise GuardrailError("the table's resource policy is not a JSON object")
    statements = parsed.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    if all(any(equivalent(s, mine) for s in statements) for mine in ours):
        return Merge(parsed, False)
    kept = [s for s in statements if not (isinstance(s, dict) and s.get("Sid") == SID)]
    document = {**parsed, "Statement": [*kept, *ours]}
    document.setdefault("Version", VERSION)
    return Merge(_within_limit(document), True)


def _within_limit(document: dict[str, Any]) -> dict[str, Any]:
    size = len(dumps(document).encode())
    if size > TABLE_POLICY_MAX_BYTES:
        raise GuardrailError(
            f"the table's resource policy with the guardrail would be {size} bytes, over "
            f"DynamoDB's limit of {TABLE_POLICY_MAX_BYTES}: nothing was written"
        )
    return document


def equivalent(found: object, wanted: Mapping[str, Any]) -> bool:
    """Whether a statement denies at least what ours does to at most whom ours allows: the same
    effect, principal, resources and conditions, and every action of ours (Sid aside)."""
    if not isinstance(found, dict):
        return False
    if any(_norm(found.get(key)) != _norm(wanted.get(key)) for key in _SAME_KEYS):
        return False
    return set(_as_list(wanted["Action"])) <= set(_as_list(found.get("Action")))


_SAME_KEYS = ("Effect", "Principal", "Resource", "Condition")


def _norm(value: object) -> object:
    if isinstance(value, Mapping):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_norm(v) for v in value]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return value


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def holds(policy: str | None, wanted: Mapping[str, Any]) -> bool:
    """Whether a table's resource policy (JSON, or None for none) carries the guardrail."""
    if policy is None:
        return False
    try:
        return not merge(policy, wanted).changed
    except GuardrailError:
        return False


def mode_named(text: str) -> Mode:
    try:
        return Mode(text)
    except ValueError:
        raise GuardrailError(
            f"guardrail mode must be 'strict' or 'lenient', got {text!r}"
        ) from None
