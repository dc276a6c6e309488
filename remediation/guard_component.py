"""`TableGuard`: the AWS resources that run the runtime guard. It only wires AWS resources; what the
guard decides lives in `remediation.guard` and the core.

    guard = TableGuard("sentinel-guard", prefix="sentinel-", alerts=True)

One TableGuard watches one region (the provider's): EventBridge sees CloudTrail events only in the
region where the call was made. For more regions, one TableGuard per regional provider.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from remediation import guard
from remediation.aws import DEFAULT_RATES, IMPORT_ACTION
from remediation.controls import GUARDRAIL
from remediation.guard_events import (
    DEFAULT_PATTERN_QUOTA,
    event_pattern,
    pattern_json,
    pattern_over_quota,
)
from remediation.guardrail import TableGuardrail

PACKAGE_DIR = Path(__file__).resolve().parent
GUARD_MODULES = (
    "__init__",
    "aws/__init__",
    "aws/dynamodb",
    "aws/errors",
    "aws/identity",
    "aws/notify",
    "aws/pacing",
    "aws/securityhub",
    "aws/session",
    "controls",
    "core",
    "findings",
    "guard",
    "guard_config",
    "guard_events",
    "guard_guardrail",
    "guard_recheck",
    "guardrail",
)
"""The files `import remediation.guard` loads: the Lambda's code, and nothing else (no Pulumi)."""

RUNTIME = "python3.13"
HANDLER = "remediation.guard.handler"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # SQS's maximum: two weeks to look at a failed event
LAMBDA_RETRIES = 2  # Lambda's maximum for asynchronous invocations (1 min, then 2 min later)
EVENT_MAX_AGE_SECONDS = 6 * 3600
RECHECK_RETENTION_SECONDS = 4 * 24 * 3600  # SQS's default; each re-check is a new message
RECHECK_VISIBILITY_FACTOR = 6
"""AWS's advice for a queue feeding Lambda: a visibility timeout of six times the function's, so a
batch throttled by the reserved concurrency is retried before it counts as received again."""
RECHECK_MAX_RECEIVES = 5  # AWS's advice: at least 5, so throttling alone sends nothing to the DLQ
RECHECK_MAX_CONCURRENCY = 2
"""The re-check mapping's `scaling_config.maximum_concurrency`, SQS's minimum: the mapping ignores
reserved concurrency and starts five pollers, so without it re-checks are throttled, and each
throttle counts toward the queue's maxReceiveCount. Re-checks are few (tables not ready yet)."""
EVENT_CONCURRENCY = 1
"""What the default reservation keeps, beyond the re-checks' maximum, for EventBridge's
asynchronous invocations (a throttled one waits in Lambda's own queue and is retried)."""
DEFAULT_RESERVED_CONCURRENCY = RECHECK_MAX_CONCURRENCY + EVENT_CONCURRENCY


RECHECK_POLLING_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
"""What Lambda's event source mapping calls with the function's role (as in AWS's managed policy
AWSLambdaSQSQueueExecutionRole); the handler itself only sends."""


class StackConfigError(pulumi.RunError, ValueError):
    """A stack config value the guard refuses: one line at preview, no traceback (a RunError)."""


def rates_for(concurrency: int) -> str:
    """SENTINEL_RATES for one instance when `concurrency` instances share the account's quotas."""
    return ",".join(f"{op}={rate / concurrency:g}" for op, rate in DEFAULT_RATES.items())


def reserved_concurrency_from(text: str | None) -> int | None:
    """Stack config's `runtimeGuardReservedConcurrency`: unset is DEFAULT_RESERVED_CONCURRENCY,
    `none` no reservation, else a whole number above the re-checks' maximum concurrency (at or
    below it, EventBridge's events would find no room). Raises StackConfigError."""
    if text is None or not text.strip():
        return DEFAULT_RESERVED_CONCURRENCY
    if text.strip().lower() == "none":
        return None
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number <= RECHECK_MAX_CONCURRENCY:
        raise StackConfigError(
            f"runtimeGuardReservedConcurrency must be a whole number of at least "
            f"{RECHECK_MAX_CONCURRENCY + 1} (the re-check queue may run {RECHECK_MAX_CONCURRENCY} "
            f"at once, and EventBridge's events need room beside them), or none; got {text!r}"
        )
    return number


MAX_PATTERN_QUOTA = 4096
"""The most EventBridge's "Event pattern size" quota can be raised to (Service Quotas)."""


def _check_pattern_quota(prefix: str, min_recovery_days: int | None, quota: int) -> None:
    """Refuse, in one line and before any resource is declared, a rule EventBridge would refuse:
    a preview cannot see the account's quota, so the stack declares it."""
    if not DEFAULT_PATTERN_QUOTA <= quota <= MAX_PATTERN_QUOTA:
        raise StackConfigError(
            f"runtimeGuardEventPatternQuota is the account's EventBridge event pattern size quota, "
            f"{DEFAULT_PATTERN_QUOTA} (the default) to {MAX_PATTERN_QUOTA}; got {quota}"
        )
    over = pattern_over_quota(prefix, min_recovery_days, quota)
    if over is not None:
        raise StackConfigError(over)


def code_archive() -> pulumi.AssetArchive:
    return pulumi.AssetArchive(
        {
            f"remediation/{module}.py": pulumi.FileAsset(str(PACKAGE_DIR / f"{module}.py"))
            for module in GUARD_MODULES
        }
    )


def guardrail_variables(kept: TableGuardrail) -> dict[str, pulumi.Input[str]]:
    """The guardrail the guard keeps, as `guard_config.guardrail_from_env` reads it (the guard's
    own role is SENTINEL_GUARD_ROLE_ARN already)."""
    principals = kept.principals
    variables: dict[str, pulumi.Input[str]] = {
        "SENTINEL_GUARDRAIL_BREAK_GLASS_ROLES": ",".join(principals.break_glass),
        "SENTINEL_GUARDRAIL_MODE": kept.mode.value,
    }
    if principals.allow:
        variables["SENTINEL_GUARDRAIL_ALLOW_ROLES"] = ",".join(principals.allow)
    if principals.hardener:
        variables["SENTINEL_GUARDRAIL_HARDENER_ROLE"] = principals.hardener
    return variables


def policy_document(
    *,
    table_arn: str,
    log_group_arn: str,
    queue_arn: str,
    recheck_queue_arn: str,
    topic_arn: str | None,
    security_hub: bool = False,
    guardrail: bool = False,
) -> dict[str, Any]:
    """The guard's role policy: its DynamoDB actions on the prefix's tables, its logs, the DLQ,
    the re-check queue (sent to by the handler, polled by Lambda with this role), Publish on
    the alert topic only when there is one, and BatchImportFindings only when re-protections go
    to Security Hub."""
    actions = list(guard.IAM_ACTIONS)
    if guardrail:  # put back a guardrail someone not allowed removed
        actions += [GUARDRAIL.read_action, GUARDRAIL.write_action]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "GuardTables",
            "Effect": "Allow",
            "Action": actions,
            "Resource": table_arn,
        },
        {
            "Sid": "GuardLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:*",
        },
        {
            "Sid": "DeadLetters",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": queue_arn,
        },
        {
            "Sid": "Rechecks",
            "Effect": "Allow",
            "Action": [guard.RECHECK_ACTION],
            "Resource": recheck_queue_arn,
        },
        {
            "Sid": "RecheckPolling",
            "Effect": "Allow",
            "Action": list(RECHECK_POLLING_ACTIONS),
            "Resource": recheck_queue_arn,
        },
    ]
    if topic_arn is not None:
        statements.append(
            {"Sid": "Alerts", "Effect": "Allow", "Action": ["sns:Publish"], "Resource": topic_arn}
        )
    if security_hub:
        statements.append(
            {
                "Sid": "SecurityHubFindings",
                "Effect": "Allow",
                "Action": [IMPORT_ACTION],
                "Resource": "*",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


class TableGuard(pulumi.ComponentResource):
    """EventBridge rule -> Lambda (remediation.guard.handler); its role, logs, DLQ and alerts.

    A table not ready yet (CREATING, or not visible yet) is re-checked through an SQS delay queue
    that feeds the same function. An alarm goes off when an event lands in the dead-letter queue
    (a table the guard could not protect); with `alerts`, an SNS topic gets it, one message per
    table re-protected, and one per table deleted. With `security_hub`, each re-protection is
    also an ASFF finding in the region's Security Hub.
    """

    def __init__(
        self,
        name: str,
        *,
        prefix: str = "sentinel-",
        exclude: Sequence[str] = (),
        min_recovery_days: int | None = None,
        alerts: bool = False,
        security_hub: bool = False,
        log_retention_days: int = 365,
        timeout_seconds: int = 300,
        reserved_concurrency: int | None = DEFAULT_RESERVED_CONCURRENCY,
        event_pattern_quota: int = DEFAULT_PATTERN_QUOTA,
        guardrail: TableGuardrail | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if not prefix:
            raise ValueError("TableGuard needs a non-empty prefix: it never guards every table")
        _check_pattern_quota(prefix, min_recovery_days, event_pattern_quota)
        super().__init__("sentinel:guard:TableGuard", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke)
        table_arn = pulumi.Output.concat(
            "arn:", partition.partition, ":dynamodb:*:", identity.account_id, ":table/", prefix, "*"
        )
        self._queues(name, timeout_seconds, reserved_concurrency, child)
        self.alert_topic = aws.sns.Topic(f"{name}-alerts", opts=child) if alerts else None
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", retention_in_days=log_retention_days, opts=child
        )
        topic_arn = self.alert_topic.arn if self.alert_topic else None
        self._role(name, table_arn, topic_arn, security_hub, child, guardrail is not None)
        variables = self._variables(
            prefix, exclude, min_recovery_days, security_hub, reserved_concurrency, topic_arn
        )
        if guardrail is not None:
            variables.update(guardrail_variables(guardrail))
        self._function(name, variables, timeout_seconds, reserved_concurrency, child)
        self._rule(name, prefix, min_recovery_days, child)
        self._alarm(name, child)
        self.register_outputs(
            {
                "function_name": self.function.name,
                "rule_name": self.rule.name,
                "dead_letter_queue_url": self.dead_letter_queue.url,
                "dead_letter_alarm_name": self.dead_letter_alarm.name,
                "recheck_queue_url": self.recheck_queue.url,
                "alert_topic_arn": topic_arn,
            }
        )

    def _queues(
        self,
        name: str,
        timeout_seconds: int,
        reserved_concurrency: int | None,
        child: pulumi.ResourceOptions,
    ) -> None:
        """The dead-letter queue, and the re-check queue that feeds the function."""
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-dlq",
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            opts=child,
        )
        if reserved_concurrency is not None and reserved_concurrency <= RECHECK_MAX_CONCURRENCY:
            raise ValueError(
                f"reserved_concurrency must exceed the re-checks' maximum concurrency "
                f"({RECHECK_MAX_CONCURRENCY}), or be None for no reservation"
            )
        self.recheck_queue = aws.sqs.Queue(
            f"{name}-rechecks",
            message_retention_seconds=RECHECK_RETENTION_SECONDS,
            visibility_timeout_seconds=RECHECK_VISIBILITY_FACTOR * timeout_seconds,
            sqs_managed_sse_enabled=True,
            redrive_policy=self.dead_letter_queue.arn.apply(
                lambda arn: json.dumps(
                    {"deadLetterTargetArn": arn, "maxReceiveCount": RECHECK_MAX_RECEIVES}
                )
            ),
            opts=child,
        )

    def _role(
        self,
        name: str,
        table_arn: pulumi.Output[str],
        topic_arn: pulumi.Output[str] | None,
        security_hub: bool,
        child: pulumi.ResourceOptions,
        guardrail: bool = False,
    ) -> None:
        """The function's role, and its policy: exactly what the handler calls."""
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            opts=child,
        )
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=pulumi.Output.all(
                table_arn,
                self.log_group.arn,
                self.dead_letter_queue.arn,
                self.recheck_queue.arn,
                topic_arn,
            ).apply(
                lambda arns: json.dumps(
                    policy_document(
                        table_arn=arns[0],
                        log_group_arn=arns[1],
                        queue_arn=arns[2],
                        recheck_queue_arn=arns[3],
                        topic_arn=arns[4],
                        security_hub=security_hub,
                        guardrail=guardrail,
                    )
                )
            ),
            opts=child,
        )

    def _variables(
        self,
        prefix: str,
        exclude: Sequence[str],
        min_recovery_days: int | None,
        security_hub: bool,
        reserved_concurrency: int | None,
        topic_arn: pulumi.Output[str] | None,
    ) -> dict[str, pulumi.Input[str]]:
        """The handler's environment (`remediation.guard_config.GuardConfig.from_env`)."""
        variables: dict[str, pulumi.Input[str]] = {
            "SENTINEL_PREFIX": prefix,
            # Without a reservation nothing bounds the instances: each paces as if alone, and
            # botocore's retries absorb what concurrent instances overshoot.
            "SENTINEL_RATES": rates_for(reserved_concurrency or 1),
            "SENTINEL_RECHECK_QUEUE_URL": self.recheck_queue.url,
            "SENTINEL_GUARD_ROLE_ARN": self.role.arn,
        }
        if exclude:
            variables["SENTINEL_EXCLUDE"] = ",".join(exclude)
        if min_recovery_days is not None:
            variables["SENTINEL_MIN_RECOVERY_DAYS"] = str(min_recovery_days)
        if topic_arn is not None:
            variables["SENTINEL_ALERT_TOPIC_ARN"] = topic_arn
        if security_hub:
            variables["SENTINEL_SECURITY_HUB"] = "true"
        return variables

    def _function(
        self,
        name: str,
        variables: dict[str, pulumi.Input[str]],
        timeout_seconds: int,
        reserved_concurrency: int | None,
        child: pulumi.ResourceOptions,
    ) -> None:
        """The Lambda function, its retries, and the re-check queue feeding it."""
        self.function = aws.lambda_.Function(
            f"{name}-function",
            runtime=RUNTIME,
            handler=HANDLER,
            code=code_archive(),
            role=self.role.arn,
            architectures=["arm64"],
            memory_size=256,
            timeout=timeout_seconds,
            reserved_concurrent_executions=reserved_concurrency,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=variables),
            dead_letter_config=aws.lambda_.FunctionDeadLetterConfigArgs(
                target_arn=self.dead_letter_queue.arn
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="Text", log_group=self.log_group.name
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy]),
        )
        self.invoke_config = aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-retries",
            function_name=self.function.name,
            maximum_retry_attempts=LAMBDA_RETRIES,
            maximum_event_age_in_seconds=EVENT_MAX_AGE_SECONDS,
            opts=child,
        )
        # Batch size 1: a message that fails is retried alone, never with another's. The maximum
        # concurrency, not the reservation, bounds the mapping's invocations (AWS's advice).
        self.recheck_source = aws.lambda_.EventSourceMapping(
            f"{name}-rechecks",
            event_source_arn=self.recheck_queue.arn,
            function_name=self.function.arn,
            batch_size=1,
            scaling_config=aws.lambda_.EventSourceMappingScalingConfigArgs(
                maximum_concurrency=RECHECK_MAX_CONCURRENCY
            ),
            opts=child,
        )

    def _rule(
        self, name: str, prefix: str, min_recovery_days: int | None, child: pulumi.ResourceOptions
    ) -> None:
        """The EventBridge rule, its permission to invoke the function, and its dead letters."""
        self.rule = aws.cloudwatch.EventRule(
            f"{name}-rule",
            description=f"CloudTrail calls that may leave a {prefix}* DynamoDB table unprotected",
            event_pattern=pattern_json(prefix, min_recovery_days),
            opts=child,
        )
        self.permission = aws.lambda_.Permission(
            f"{name}-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="events.amazonaws.com",
            source_arn=self.rule.arn,
            opts=child,
        )
        self.queue_policy = aws.sqs.QueuePolicy(
            f"{name}-dlq-policy",
            queue_url=self.dead_letter_queue.url,
            policy=pulumi.Output.all(self.dead_letter_queue.arn, self.rule.arn).apply(
                lambda arns: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "RuleDeadLetters",
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sqs:SendMessage",
                                "Resource": arns[0],
                                "Condition": {"ArnEquals": {"aws:SourceArn": arns[1]}},
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        self.target = aws.cloudwatch.EventTarget(
            f"{name}-target",
            rule=self.rule.name,
            arn=self.function.arn,
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_event_age_in_seconds=EVENT_MAX_AGE_SECONDS, maximum_retry_attempts=185
            ),
            dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(
                arn=self.dead_letter_queue.arn
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.permission]),
        )

    def _alarm(self, name: str, child: pulumi.ResourceOptions) -> None:
        # Whether or not anyone is notified, the alarm's state says a table was left unprotected.
        self.dead_letter_alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-dead-letters",
            alarm_description="Events the Sentinel table guard could not handle are waiting",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": self.dead_letter_queue.name},
            statistic="Maximum",
            period=300,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[self.alert_topic.arn] if self.alert_topic else [],
            opts=child,
        )


__all__ = [
    "DEFAULT_PATTERN_QUOTA",
    "DEFAULT_RESERVED_CONCURRENCY",
    "EVENT_CONCURRENCY",
    "GUARD_MODULES",
    "MAX_PATTERN_QUOTA",
    "RECHECK_MAX_CONCURRENCY",
    "RECHECK_POLLING_ACTIONS",
    "StackConfigError",
    "TableGuard",
    "code_archive",
    "event_pattern",
    "pattern_json",
    "policy_document",
    "reserved_concurrency_from",
]
