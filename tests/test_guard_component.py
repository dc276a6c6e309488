"""TableGuard under Pulumi mocks, through the Sentinel program: every resource, the event pattern,
the role's actions; and a meta-test that the role grants exactly what the handler calls."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest

from remediation import aws, guard
from remediation.aws import DEFAULT_RATES
from remediation.guard_component import (
    DEFAULT_RESERVED_CONCURRENCY,
    EVENT_CONCURRENCY,
    GUARD_MODULES,
    HANDLER,
    RECHECK_MAX_CONCURRENCY,
    RECHECK_MAX_RECEIVES,
    RECHECK_POLLING_ACTIONS,
    event_pattern,
    pattern_json,
    rates_for,
    reserved_concurrency_from,
)
from tests.analyzer_engine import ACCOUNT, PROJECT, REGION, ROOT, Resource, capture_program
from tests.conftest import create_table, protection
from tests.fault_proxy import FaultProxy
from tests.guard_support import (
    EVENTS,
    FUNCTION_TIMEOUT,
    TABLE,
    Context,
    guard_environment,
    regional_client,
    sample,
    sqs_event,
    with_table,
)
from tests.servers import MotoServer, aws_env

QUEUE = "aws:sqs/queue:Queue"
DLQ = f"{QUEUE}::sentinel-guard-dlq"
RECHECKS = f"{QUEUE}::sentinel-guard-rechecks"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
GUARD_TYPES = {
    "sentinel:guard:TableGuard",
    DLQ,
    RECHECKS,
    ALARM,
    "aws:lambda/eventSourceMapping:EventSourceMapping",
    "aws:sqs/queuePolicy:QueuePolicy",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:lambda/function:Function",
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
    "aws:lambda/permission:Permission",
    "aws:cloudwatch/eventRule:EventRule",
    "aws:cloudwatch/eventTarget:EventTarget",
}
TOPIC = "aws:sns/topic:Topic"
TABLE_ARNS = f"arn:aws:dynamodb:*:{ACCOUNT}:table/sentinel-*"
RECHECK_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:sentinel-guard-rechecks"


def guarded(**config: str) -> dict[str, Resource]:
    """The Sentinel program with runtimeGuard on (after `up`, so ARNs are known), by type (queues
    by type and name)."""
    settings = {f"{PROJECT}:runtimeGuard": "true"}
    settings.update({f"{PROJECT}:{key}": value for key, value in config.items()})
    resources = capture_program(config=settings, preview=False)
    by_type: dict[str, Resource] = {}
    for resource in resources:
        if resource.type != "aws:dynamodb/table:Table":
            key = f"{QUEUE}::{resource.name}" if resource.type == QUEUE else resource.type
            assert key not in by_type, f"two {key}"
            by_type[key] = resource
    return by_type


@pytest.fixture(scope="module")
def plain() -> dict[str, Resource]:
    return guarded()


@pytest.fixture(scope="module")
def alerting() -> dict[str, Resource]:
    return guarded(runtimeGuardAlerts="true")


@pytest.fixture(scope="module")
def reporting() -> dict[str, Resource]:
    return guarded(runtimeGuardAlerts="true", runtimeGuardSecurityHub="true")


def statements(resources: dict[str, Resource]) -> dict[str, dict[str, Any]]:
    policy = json.loads(resources["aws:iam/rolePolicy:RolePolicy"].props["policy"])
    return {s["Sid"]: s for s in policy["Statement"]}


def test_the_program_without_runtime_guard_declares_none_of_it() -> None:
    for config in ({}, {f"{PROJECT}:runtimeGuard": "false"}):
        resources = capture_program(config=config, preview=False)
        assert {r.type for r in resources} == {"aws:dynamodb/table:Table"}


def test_runtime_guard_declares_every_resource_and_a_topic_only_with_alerts(
    plain: dict[str, Resource], alerting: dict[str, Resource]
) -> None:
    assert set(plain) == GUARD_TYPES
    assert set(alerting) == GUARD_TYPES | {TOPIC}


@pytest.mark.parametrize("alerts", [False, True])
def test_a_dead_letter_raises_the_alarm_with_or_without_alerts_which_notify_the_topic(
    alerts: bool, plain: dict[str, Resource], alerting: dict[str, Resource]
) -> None:
    alarm = (alerting if alerts else plain)[ALARM].props
    assert (alarm["namespace"], alarm["metricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert alarm["dimensions"] == {"QueueName": "sentinel-guard-dlq"}
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:sentinel-guard-alerts"
    assert alarm.get("alarmActions", []) == ([topic] if alerts else [])


def test_the_lambda_runs_the_guard_handler_with_the_stack_settings(
    alerting: dict[str, Resource],
) -> None:
    function = alerting["aws:lambda/function:Function"].props
    assert function["runtime"].startswith("python3.")
    assert function["handler"] == HANDLER == "remediation.guard.handler"
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:sentinel-guard-dlq"
    assert function["deadLetterConfig"] == {"targetArn": queue_arn}
    assert function["loggingConfig"]["logGroup"] == "sentinel-guard-logs"
    assert function["reservedConcurrentExecutions"] == DEFAULT_RESERVED_CONCURRENCY == 3
    variables = function["environment"]["variables"]
    assert variables["SENTINEL_RECHECK_QUEUE_URL"] == (
        f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/sentinel-guard-rechecks"
    )
    role = alerting["aws:iam/role:Role"].name
    assert variables["SENTINEL_GUARD_ROLE_ARN"] == f"arn:aws:iam:{REGION}:{ACCOUNT}:{role}"
    assert variables["SENTINEL_PREFIX"] == "sentinel-"
    assert variables["SENTINEL_ALERT_TOPIC_ARN"] == (
        f"arn:aws:sns:{REGION}:{ACCOUNT}:sentinel-guard-alerts"
    )
    assert guard.GuardConfig.from_env(variables).selection.prefix == "sentinel-"
    retention = alerting["aws:cloudwatch/logGroup:LogGroup"].props["retentionInDays"]
    assert retention >= 90
    retries = alerting["aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"].props
    assert (retries["functionName"], retries["maximumRetryAttempts"]) == (
        "sentinel-guard-function",
        2,
    )


def test_stack_config_reaches_the_handlers_environment_and_the_pattern() -> None:
    resources = guarded(
        prefix="acme-sentinel-",
        exclude=json.dumps(["acme-sentinel-scratch-*", "acme-sentinel-tmp"]),
        runtimeGuardMinRecoveryDays="14",
    )
    variables = resources["aws:lambda/function:Function"].props["environment"]["variables"]
    config = guard.GuardConfig.from_env(variables)
    assert config.selection.prefix == "acme-sentinel-"
    assert config.selection.exclude == ("acme-sentinel-scratch-*", "acme-sentinel-tmp")
    assert config.requirement.min_recovery_days == 14
    assert "SENTINEL_ALERT_TOPIC_ARN" not in variables
    pattern = resources["aws:cloudwatch/eventRule:EventRule"].props["eventPattern"]
    # The very string whose length the quota tests measure (tests/test_guard_pattern.py).
    assert pattern == pattern_json("acme-sentinel-", 14)
    assert json.loads(pattern) == event_pattern("acme-sentinel-", 14)
    (tables,) = [s for s in statements(resources).values() if s["Sid"] == "GuardTables"]
    assert tables["Resource"] == f"arn:aws:dynamodb:*:{ACCOUNT}:table/acme-sentinel-*"


def test_the_code_archive_holds_exactly_the_files_the_handler_imports_and_no_pulumi(
    plain: dict[str, Resource],
) -> None:
    archive = plain["aws:lambda/function:Function"].props["code"]
    files = set(archive.assets)
    assert files == {f"remediation/{module}.py" for module in GUARD_MODULES}
    probe = (
        "import json, sys, remediation.guard; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('remediation', 'pulumi', 'pulumi_aws', 'pulumi_policy'))))"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    )
    imported = {name.removeprefix("remediation").lstrip(".") or "__init__" for name in loaded}
    assert all(name.startswith("remediation") for name in loaded), "the handler imports Pulumi"
    assert imported == {m.removesuffix("/__init__").replace("/", ".") for m in GUARD_MODULES}
    for path, asset in archive.assets.items():
        assert Path(asset.path) == ROOT / path


def test_the_rule_targets_the_lambda_with_retries_and_the_dead_letter_queue(
    plain: dict[str, Resource],
) -> None:
    rule_arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:sentinel-guard-rule"
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:sentinel-guard-dlq"
    target = plain["aws:cloudwatch/eventTarget:EventTarget"].props
    assert target["arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:sentinel-guard-function"
    assert target["rule"] == "sentinel-guard-rule"
    assert target["retryPolicy"]["maximumRetryAttempts"] > 0
    assert target["deadLetterConfig"] == {"arn": queue_arn}
    permission = plain["aws:lambda/permission:Permission"].props
    assert (permission["principal"], permission["sourceArn"]) == ("events.amazonaws.com", rule_arn)
    (statement,) = json.loads(plain["aws:sqs/queuePolicy:QueuePolicy"].props["policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert (statement["Action"], statement["Resource"]) == ("sqs:SendMessage", queue_arn)
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": rule_arn}}


def test_the_role_grants_the_guard_its_actions_on_prefix_tables_logs_dlq_and_alerts_only(
    plain: dict[str, Resource], alerting: dict[str, Resource]
) -> None:
    log_group = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:sentinel-guard-logs"
    expected = {
        "GuardTables": (set(guard.IAM_ACTIONS), TABLE_ARNS),
        "GuardLogs": ({"logs:CreateLogStream", "logs:PutLogEvents"}, f"{log_group}:*"),
        "DeadLetters": (
            {"sqs:SendMessage"},
            f"arn:aws:sqs:{REGION}:{ACCOUNT}:sentinel-guard-dlq",
        ),
        "Rechecks": ({guard.RECHECK_ACTION}, RECHECK_QUEUE_ARN),
        "RecheckPolling": (set(RECHECK_POLLING_ACTIONS), RECHECK_QUEUE_ARN),
    }
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:sentinel-guard-alerts"
    for resources, extra in ((plain, {}), (alerting, {"Alerts": ({"sns:Publish"}, topic)})):
        granted = {
            sid: (set(s["Action"]), s["Resource"]) for sid, s in statements(resources).items()
        }
        assert granted == expected | extra
        assert all(s["Effect"] == "Allow" for s in statements(resources).values())
    assert "dynamodb:ListTables" not in guard.IAM_ACTIONS


def test_the_role_may_import_findings_and_the_lambda_is_told_to_only_with_security_hub_on(
    plain: dict[str, Resource], alerting: dict[str, Resource], reporting: dict[str, Resource]
) -> None:
    hub = statements(reporting)["SecurityHubFindings"]
    assert (hub["Effect"], hub["Action"], hub["Resource"]) == ("Allow", [aws.IMPORT_ACTION], "*")
    assert set(statements(reporting)) == set(statements(alerting)) | {"SecurityHubFindings"}
    for without in (plain, alerting):
        assert not any(
            action.startswith("securityhub:")
            for statement in statements(without).values()
            for action in statement["Action"]
        )

    def variables(resources: dict[str, Resource]) -> dict[str, str]:
        found: dict[str, str] = resources["aws:lambda/function:Function"].props["environment"][
            "variables"
        ]
        return found

    assert variables(reporting)["SENTINEL_SECURITY_HUB"] == "true"
    assert "SENTINEL_SECURITY_HUB" not in variables(plain)


# -- EventBridge's event pattern size quota, declared by the stack ---------------------------------

LONG_PREFIX = "acme-" + "x" * 154 + "-"  # a legal table-name prefix (of 255) over 2,048


def test_a_pattern_over_the_declared_quota_is_refused_in_one_line_naming_the_quota() -> None:
    assert len(pattern_json(LONG_PREFIX, 14)) > 2048
    with pytest.raises(pulumi.RunError) as refused:
        guarded(prefix=LONG_PREFIX, runtimeGuardMinRecoveryDays="14")
    line = str(refused.value)
    assert "\n" not in line
    assert "2048" in line and "runtimeGuardEventPatternQuota" in line
    assert 'Service Quotas (Amazon EventBridge, "Event pattern size"' in line


def test_a_raised_quota_declared_by_the_stack_lets_the_longer_pattern_through() -> None:
    assert len(pattern_json(LONG_PREFIX, 14)) <= 4096
    resources = guarded(
        prefix=LONG_PREFIX, runtimeGuardMinRecoveryDays="14", runtimeGuardEventPatternQuota="4096"
    )
    rule = resources["aws:cloudwatch/eventRule:EventRule"].props
    assert rule["eventPattern"] == pattern_json(LONG_PREFIX, 14)


@pytest.mark.parametrize("quota", ["0", "1024", "8192"])
def test_a_quota_eventbridge_cannot_have_is_refused(quota: str) -> None:
    with pytest.raises(pulumi.RunError, match=f"runtimeGuardEventPatternQuota .* got {quota}"):
        guarded(runtimeGuardEventPatternQuota=quota)


# -- meta: the role grants exactly what the handler calls --------------------------------------


def test_every_action_the_handler_calls_is_granted_and_nothing_more(
    reporting: dict[str, Resource],
    monkeypatch: pytest.MonkeyPatch,
    server: MotoServer,
    server_client: Any,
    fault_proxy: FaultProxy,
) -> None:
    sns = regional_client(server.url, "sns", REGION)
    sqs = regional_client(server.url, "sqs", REGION)
    topic = sns.create_topic(Name="sentinel-guard-alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn["Attributes"]["QueueArn"])
    rechecks = sqs.create_queue(QueueName="sentinel-guard-rechecks")["QueueUrl"]
    guard_environment(
        monkeypatch,
        fault_proxy.url,
        alert_topic_arn=topic,
        recheck_queue_url=rechecks,
        security_hub="true",
    )
    for i, path in enumerate(sorted(EVENTS.glob("*.json"))):
        if path.stem == "update-table-replica-create":
            continue  # a replica in another region: its calls are those of any other table
        table = f"{TABLE}-{i}"
        create_table(server_client, table)
        if path.stem == "restore-table-from-backup":  # still CREATING: re-checked later
            fault_proxy.report_updating(table, calls=1, status="CREATING")
        event = with_table(sample(path.stem), table)
        guard.handler(event, Context())
    (message,) = sqs.receive_message(QueueUrl=rechecks, WaitTimeSeconds=20)["Messages"]
    guard.handler(sqs_event(message, RECHECK_QUEUE_ARN), Context())
    # The proxy names DynamoDB operations bare and the others (SNS, SQS, Security Hub) with their
    # service.
    called = {op if ":" in op else f"dynamodb:{op}" for op in fault_proxy.operations()}
    assert sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)["Messages"], "delivered"
    assert regional_client(server.url, "securityhub", REGION).get_findings()["Findings"]
    granted = statements(reporting)
    assert called == {
        action
        for sid in ("GuardTables", "Alerts", "Rechecks", "SecurityHubFindings")
        for action in granted[sid]["Action"]
    }


def test_the_archived_files_alone_run_the_handler_in_a_fresh_interpreter(
    plain: dict[str, Resource],
    tmp_path: Path,
    server: MotoServer,
    server_client: Any,
) -> None:
    """What Lambda unpacks is enough: the handler runs from a copy of the archive alone."""
    archive = plain["aws:lambda/function:Function"].props["code"]
    for path, asset in archive.assets.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(Path(asset.path).read_bytes())
    create_table(server_client, TABLE)
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import remediation.guard as guard\n"
        f"assert guard.__file__.startswith({str(tmp_path)!r}), guard.__file__\n"
        "class Context:\n"
        "    def get_remaining_time_in_millis(self): return 300000\n"
        "print(json.dumps(guard.handler(json.load(sys.stdin), Context())))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", script],
        cwd=tmp_path,
        input=json.dumps(sample("create-table")),
        capture_output=True,
        text=True,
        timeout=60,
        env={**aws_env(server.url), "SENTINEL_PREFIX": "sentinel-"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["decisions"] == ["hardened"]
    assert protection(server_client, TABLE) == (True, True)


def test_the_pacing_is_the_quota_shared_by_the_reserved_instances() -> None:
    for instances in (1, 4):
        rates = dict(guard.GuardConfig.from_env({"SENTINEL_RATES": rates_for(instances)}).rates)
        for operation, rate in DEFAULT_RATES.items():
            assert rates[operation] == pytest.approx(rate / instances)
        # AWS's 10 DescribeContinuousBackups a second per account and region, shared by them all
        assert rates["DescribeContinuousBackups"] * instances < 10


# -- the re-check queue, reserved concurrency ----------------------------------------------------


def test_the_recheck_queue_feeds_the_function_one_message_at_a_time_and_ends_in_the_dlq(
    plain: dict[str, Resource],
) -> None:
    mapping = plain["aws:lambda/eventSourceMapping:EventSourceMapping"].props
    assert mapping["eventSourceArn"] == RECHECK_QUEUE_ARN
    assert mapping["functionName"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:sentinel-guard-function"
    assert mapping["batchSize"] == 1
    queue = plain[RECHECKS].props
    redrive = json.loads(queue["redrivePolicy"])
    assert redrive == {
        "deadLetterTargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:sentinel-guard-dlq",
        "maxReceiveCount": RECHECK_MAX_RECEIVES,
    }
    assert RECHECK_MAX_RECEIVES >= 5  # AWS's advice for a queue feeding Lambda
    timeout = plain["aws:lambda/function:Function"].props["timeout"]
    assert timeout == FUNCTION_TIMEOUT
    assert (
        queue["visibilityTimeoutSeconds"] == 6 * timeout
    )  # AWS's advice: six times the function's
    assert queue["sqsManagedSseEnabled"] is True
    # Each re-check is a new message, sent with a delay of at most SQS's 15 minutes.
    assert queue["messageRetentionSeconds"] > 900


@pytest.mark.parametrize(("value", "reserved"), [("4", 4), ("none", None)])
def test_reserved_concurrency_comes_from_stack_config_and_divides_the_pacing(
    value: str, reserved: int | None
) -> None:
    resources = guarded(runtimeGuardReservedConcurrency=value)
    function = resources["aws:lambda/function:Function"].props
    assert function.get("reservedConcurrentExecutions") == reserved
    assert function["environment"]["variables"]["SENTINEL_RATES"] == rates_for(reserved or 1)


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "1", "2"])
def test_a_reserved_concurrency_that_would_stop_or_confuse_the_guard_is_refused(
    value: str,
) -> None:
    with pytest.raises(ValueError, match="runtimeGuardReservedConcurrency"):
        reserved_concurrency_from(value)
    assert reserved_concurrency_from(None) == 3


@pytest.mark.parametrize("value", [None, "4", "none"])
def test_the_recheck_mapping_has_a_maximum_concurrency_within_the_reservation(
    value: str | None,
) -> None:
    resources = guarded(**({} if value is None else {"runtimeGuardReservedConcurrency": value}))
    mapping = resources["aws:lambda/eventSourceMapping:EventSourceMapping"].props
    maximum = mapping["scalingConfig"]["maximumConcurrency"]
    assert maximum == RECHECK_MAX_CONCURRENCY >= 2  # SQS's minimum for maximum concurrency
    function = resources["aws:lambda/function:Function"].props
    reserved = function.get("reservedConcurrentExecutions")
    if value == "none":
        assert reserved is None
        assert function["environment"]["variables"]["SENTINEL_RATES"] == rates_for(1)
    else:
        # The re-checks' maximum, and at least one more for EventBridge's invocations; the pacing
        # shares the account's quotas among all of them.
        assert reserved >= maximum + EVENT_CONCURRENCY
        assert function["environment"]["variables"]["SENTINEL_RATES"] == rates_for(reserved)
