"""The controls as data: every human sentence and IAM action about a control lives here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Control:
    """One protection a Sentinel table must have."""

    id: str
    """Stable kebab-case id: the policy name, the CLI's wording key and the test-name prefix."""
    label: str
    """Column heading in CLI output."""
    noun: str
    """The control in a sentence: "Deletion protection enabled"."""
    description: str
    remediation: str
    """What a human does to fix it, in one paragraph."""
    pulumi_fix: str
    """The line of Pulumi code (aws.dynamodb.Table argument) that fixes it."""
    docs_url: str
    read_action: str
    """IAM action that reads the control's state."""
    write_action: str
    """IAM action that turns the control on."""
    title: str
    """The control as a finding's title: what holds when it passes."""
    severity: str
    """How bad a table without it is, in Security Hub's labels (LOW, MEDIUM, HIGH, CRITICAL)."""
    aws_control: str | None
    """The same check among AWS Foundational Security Best Practices (Security Hub's own), or
    None where FSBP has none."""


DELETION_PROTECTION = Control(
    id="dynamodb-deletion-protection",
    label="Deletion Protection",
    noun="deletion protection",
    description=(
        "Sentinel DynamoDB tables must have deletion protection enabled, so that no DeleteTable "
        "call, console click or `pulumi destroy` can drop the audit trail or the live sessions."
    ),
    remediation=(
        "Set deletion_protection_enabled=True on the table (or run "
        "`python -m remediation harden --table NAME`); it changes nothing else and costs nothing."
    ),
    pulumi_fix="deletion_protection_enabled=True",
    docs_url="https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithTables.Basics.html#WorkingWithTables.Basics.DeletionProtection",
    read_action="dynamodb:DescribeTable",
    write_action="dynamodb:UpdateTable",
    title="Sentinel DynamoDB table has deletion protection enabled",
    # Without it one call drops the audit trail for good; PITR cannot bring back a deleted table
    # unless it was on, and then only its backup.
    severity="HIGH",
    aws_control="DynamoDB.6",
)

PITR = Control(
    id="dynamodb-point-in-time-recovery",
    label="PITR",
    noun="PITR",
    description=(
        "Sentinel DynamoDB tables must have point-in-time recovery enabled, so that a corrupted or "
        "wrongly written table can be restored to any second of the recovery period."
    ),
    remediation=(
        "Set point_in_time_recovery={'enabled': True} on the table (or run "
        "`python -m remediation harden --table NAME`); it starts continuous backups and changes "
        "nothing else."
    ),
    pulumi_fix="point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True)",
    docs_url="https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery.html",
    read_action="dynamodb:DescribeContinuousBackups",
    write_action="dynamodb:UpdateContinuousBackups",
    title="Sentinel DynamoDB table has point-in-time recovery enabled",
    severity="MEDIUM",
    aws_control="DynamoDB.2",
)

GUARDRAIL = Control(
    id="dynamodb-guardrail",
    label="Guardrail",
    noun="the guardrail",
    description=(
        "Sentinel DynamoDB tables must carry the guardrail: a resource policy (or an "
        "organization's resource control policy) that denies DeleteTable, "
        "UpdateContinuousBackups and, in strict mode, UpdateTable to every principal but the "
        "break-glass and named roles, so that no one else can delete a table or weaken it "
        "before the guard can repair it."
    ),
    remediation=(
        "Run `python -m remediation harden --guardrail --break-glass-role ARN` (a table resource "
        "policy, merged by Sid into any existing one), or attach the RCP that "
        "`python -m remediation guardrail --rcp` prints to the organization's root."
    ),
    pulumi_fix=(
        "aws.dynamodb.ResourcePolicy(resource_arn=table.arn, policy=guardrail.table_policy(...))"
    ),
    docs_url="https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/access-control-resource-based.html",
    read_action="dynamodb:GetResourcePolicy",
    write_action="dynamodb:PutResourcePolicy",
    title="Sentinel DynamoDB table is guarded by a break-glass-only deny policy",
    # Without it, anyone with UpdateTable and DeleteTable drops the table within one second,
    # before the runtime guard can re-protect it.
    severity="HIGH",
    aws_control=None,
)
"""Not in ALL: the guardrail is asked for (`--guardrail`, stack config), never implied."""

ALL: tuple[Control, ...] = (DELETION_PROTECTION, PITR)

DISCOVERY_ACTION = "dynamodb:ListTables"
"""The one account-wide action: ListTables has no resource-level scoping."""


def iam_actions(controls: tuple[Control, ...] = ALL, *, writes: bool = True) -> tuple[str, ...]:
    """Every IAM action the CLI needs to check and enforce `controls` (only to check them with
    `writes=False`, as `--check` does), discovery first."""
    actions = [DISCOVERY_ACTION, DELETION_PROTECTION.read_action]
    for control in controls:
        wanted = (control.read_action, control.write_action) if writes else (control.read_action,)
        for action in wanted:
            if action not in actions:
                actions.append(action)
    return tuple(actions)
