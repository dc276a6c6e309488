"""The runtime guard's handler against a real moto_server behind the fault proxy.

Events are the documented CloudTrail shapes in tests/events/; state is read back from the server and
every DynamoDB call is counted at the proxy.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from remediation import guard
from remediation.aws import MAX_ATTEMPTS
from tests.conftest import TableFactory, create_table, protection
from tests.fault_proxy import FaultProxy
from tests.guard_support import (
    REPLICA_REGION,
    TABLE,
    Context,
    guard_environment,
    log_lines,
    regional_client,
    sample,
    with_table,
)
from tests.servers import MotoServer

NEW_TABLE_EVENTS = [
    "create-table",
    "restore-table-to-point-in-time",
    "restore-table-from-backup",
    "import-table",
]
WEAKENING_EVENTS = ["update-table-deletion-protection-off", "update-continuous-backups-pitr-off"]
WRITES = ("UpdateTable", "UpdateContinuousBackups")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, server: MotoServer, fault_proxy: FaultProxy) -> Any:
    """The guard's environment on the proxy; call it again to add SENTINEL_* settings."""

    def configure(**sentinel: str) -> None:
        guard_environment(monkeypatch, fault_proxy.url, **sentinel)

    configure()
    return configure


def run(event: object, seconds: float = 60.0) -> dict[str, Any]:
    return guard.handler(event, Context(seconds))


def decision(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    (line,) = log_lines(capsys.readouterr().out)
    return line


@pytest.mark.parametrize("name", NEW_TABLE_EVENTS + WEAKENING_EVENTS)
def test_each_event_kind_leaves_its_table_protected_and_says_so(
    name: str,
    env: Any,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    server_table("sentinel-other")
    run(sample(name))
    assert protection(server_client, TABLE) == (True, True)
    assert protection(server_client, "sentinel-other") == (False, False)
    assert {table for _, table in fault_proxy.table_counts()} == {TABLE}
    assert fault_proxy.calls("UpdateTable") == fault_proxy.calls("UpdateContinuousBackups") == 1
    line = decision(capsys)
    event = sample(name)
    assert line["decision"] == "hardened"
    assert line["who"] == event["detail"]["userIdentity"]["arn"]
    assert (line["event"], line["event_id"]) == (name_of(event), event["detail"]["eventID"])
    assert (line["table"], line["region"]) == (TABLE, "us-east-1")
    assert line["found"]["deletion_protection"] is False and line["found"]["pitr_enabled"] is False
    assert line["changed"] == ["dynamodb-deletion-protection", "dynamodb-point-in-time-recovery"]


def name_of(event: dict[str, Any]) -> str:
    return str(event["detail"]["eventName"])


def test_a_duplicate_delivery_reads_again_and_writes_nothing(
    env: Any,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    event = sample("update-table-deletion-protection-off")
    run(event)
    capsys.readouterr()
    fault_proxy.reset_counts()
    run(event)
    assert fault_proxy.counts() == {"DescribeTable": 1, "DescribeContinuousBackups": 1}
    line = decision(capsys)
    assert (line["decision"], line["changed"]) == ("protected", [])
    assert protection(server_client, TABLE) == (True, True)


@pytest.mark.parametrize(
    ("table", "exclude", "reason"),
    [
        ("billing-ledger", "", "outside the prefix"),
        ("Sentinel-requests", "", "outside the prefix"),  # the prefix is case-sensitive
        ("sentinel-scratch-1", "sentinel-scratch-*", "excluded"),
    ],
)
def test_a_table_outside_the_selection_gets_no_dynamodb_call_at_all(
    table: str,
    exclude: str,
    reason: str,
    env: Any,
    server_client: Any,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env(exclude=exclude)
    create_table(server_client, table)
    run(with_table(sample("update-table-deletion-protection-off"), table))
    assert fault_proxy.calls() == 0
    assert protection(server_client, table) == (False, False)
    line = decision(capsys)
    assert (line["decision"], line["reason"], line["table"]) == ("ignored", reason, table)


@pytest.mark.parametrize(
    ("name", "verdict"),
    [("update-table-access-denied", "ignored"), ("delete-table-refused", "deletion_blocked")],
)
def test_a_failed_call_is_logged_and_gets_no_dynamodb_call(
    name: str,
    verdict: str,
    env: Any,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    event = sample(name)
    run(event)
    assert fault_proxy.calls() == 0
    assert protection(server_client, TABLE) == (False, False)
    line = decision(capsys)
    assert (line["decision"], line["table"]) == (verdict, TABLE)
    assert line["error_code"] == event["detail"]["errorCode"]
    assert line["who"] == event["detail"]["userIdentity"]["arn"]


def malformed_events() -> dict[str, object]:
    def edit(name: str, change: Any) -> dict[str, Any]:
        event = sample(name)
        change(event)
        return event

    detail = "detail"
    return {
        "not an object": ["a", "list"],
        "null": None,
        "empty": {},
        "another source": edit("create-table", lambda e: e.update(source="aws.s3")),
        "no detail": edit("create-table", lambda e: e.pop(detail)),
        "no event name": edit("create-table", lambda e: e[detail].pop("eventName")),
        "no region": edit("create-table", lambda e: (e[detail].pop("awsRegion"), e.pop("region"))),
        "no table name": edit(
            "update-table-deletion-protection-off",
            lambda e: e[detail]["requestParameters"].pop("tableName"),
        ),
        "invalid table name": edit(
            "create-table", lambda e: e[detail]["requestParameters"].update(tableName="a/b")
        ),
        "malformed table arn": edit(
            "create-table",
            lambda e: e[detail]["requestParameters"].update(tableName="arn:aws:dynamodb:x"),
        ),
        "replica updates not a list": edit(
            "update-table-replica-create",
            lambda e: e[detail]["requestParameters"].update(replicaUpdates={"create": 1}),
        ),
        "replica without a region": edit(
            "update-table-replica-create",
            lambda e: e[detail]["requestParameters"]["replicaUpdates"][0]["create"].pop(
                "regionName"
            ),
        ),
        "import without creation parameters": edit(
            "import-table", lambda e: e[detail]["requestParameters"].pop("tableCreationParameters")
        ),
    }


MALFORMED = malformed_events()


@pytest.mark.parametrize("kind", MALFORMED)
def test_a_malformed_event_is_logged_and_returns_normally(
    kind: str,
    env: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    result = run(MALFORMED[kind])
    assert result["decisions"] == ["malformed"]
    assert fault_proxy.calls() == 0
    line = decision(capsys)
    assert line["decision"] == "malformed" and line["reason"]


def test_a_table_named_by_arn_is_hardened_in_the_arns_region(
    env: Any, server: MotoServer, server_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    replica_region = regional_client(server.url, "dynamodb", REPLICA_REGION)
    create_table(replica_region, TABLE)
    create_table(server_client, TABLE)  # the same name in the event's own region
    run(sample("update-table-by-arn"))
    assert protection(replica_region, TABLE) == (True, True)
    assert protection(server_client, TABLE) == (False, False)
    line = decision(capsys)
    assert (line["decision"], line["table"], line["region"]) == ("hardened", TABLE, REPLICA_REGION)


def test_a_new_replica_is_hardened_in_its_own_region(
    env: Any, server: MotoServer, server_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # moto does not model replicas: the replica is the same-named table in the new region.
    replica = regional_client(server.url, "dynamodb", REPLICA_REGION)
    create_table(server_client, TABLE, deletion_protection=True, pitr=True)
    create_table(replica, TABLE)
    run(sample("update-table-replica-create"))
    assert protection(replica, TABLE) == (True, True)
    line = decision(capsys)
    assert (line["decision"], line["region"]) == ("hardened", REPLICA_REGION)


def test_an_arn_of_another_account_is_not_touched(
    env: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    arn = f"arn:aws:dynamodb:us-east-1:210987654321:table/{TABLE}"
    run(with_table(sample("update-table-deletion-protection-off"), arn))
    assert fault_proxy.calls() == 0
    line = decision(capsys)
    assert (line["decision"], line["reason"]) == ("ignored", "a table of another account")


def test_a_table_still_creating_is_waited_for_then_hardened(
    env: Any,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    fault_proxy.report_updating(TABLE, calls=3, status="CREATING", reject_writes=True)
    run(sample("create-table"))
    assert protection(server_client, TABLE) == (True, True)
    assert fault_proxy.faulted("UpdateTable") == 0, "the write waited for ACTIVE"
    assert fault_proxy.calls("DescribeTable", TABLE) >= 4
    assert decision(capsys)["found"]["table_status"] == "CREATING"


def test_a_table_creating_past_the_time_left_raises_within_it_for_a_retry(
    env: Any,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    fault_proxy.report_updating(TABLE, seconds=60, status="CREATING", reject_writes=True)
    seconds = guard.RESERVE_SECONDS + 3
    started = time.monotonic()
    with pytest.raises(guard.GuardError, match=TABLE):
        run(sample("create-table"), seconds=seconds)
    assert time.monotonic() - started < seconds
    assert protection(server_client, TABLE)[0] is False
    line = decision(capsys)
    assert (line["decision"], line["retry"]) == ("failed", True)
    assert {e["code"] for e in line["errors"]} == {"ResourceInUseException"}


def test_throttling_is_retried_until_the_table_is_hardened(
    env: Any,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    for operation in ("DescribeTable", "UpdateTable", "UpdateContinuousBackups"):
        fault_proxy.fail(operation, "ThrottlingException", times=2)
    run(sample("create-table"))
    assert protection(server_client, TABLE) == (True, True)
    assert fault_proxy.faulted() == 6
    assert fault_proxy.forwarded("UpdateTable") == 1
    assert decision(capsys)["decision"] == "hardened"


def test_throttling_that_outlasts_the_retries_raises_so_lambda_keeps_the_event(
    env: Any,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE, pitr=True)
    fault_proxy.fail("UpdateTable", "ThrottlingException", times=None)
    with pytest.raises(guard.GuardError):
        run(sample("update-table-deletion-protection-off"))
    # botocore's `max_attempts` counts the retries after the first call.
    assert fault_proxy.calls("UpdateTable") == MAX_ATTEMPTS + 1
    assert protection(server_client, TABLE) == (False, True)
    line = decision(capsys)
    assert (line["decision"], line["retry"]) == ("failed", True)
    assert line["errors"][0]["code"] == "ThrottlingException"


def test_access_denied_on_the_write_raises_so_the_dlq_keeps_the_event(
    env: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE, pitr=True)
    fault_proxy.fail("UpdateTable", "AccessDeniedException", times=None)
    with pytest.raises(guard.GuardError):
        run(sample("update-table-deletion-protection-off"))
    assert fault_proxy.calls("UpdateTable") == 1, "a denial is not retried in the handler"
    assert decision(capsys)["errors"][0]["code"] == "AccessDeniedException"


def test_a_table_deleted_before_the_guard_reads_it_is_logged_as_gone(
    env: Any, fault_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    run(sample("create-table"))  # no such table on the server
    assert fault_proxy.counts() == {"DescribeTable": 1}
    assert decision(capsys)["decision"] == "gone"


@pytest.fixture
def alerts(server: MotoServer) -> tuple[str, Any, str]:
    """An SNS topic with an SQS queue subscribed: (topic ARN, SQS client, queue URL)."""
    sns = regional_client(server.url, "sns", "us-east-1")
    sqs = regional_client(server.url, "sqs", "us-east-1")
    topic = sns.create_topic(Name="sentinel-guard-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    return topic, sqs, queue


def received(sqs: Any, queue: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def test_each_change_publishes_one_alert_and_a_duplicate_none(
    env: Any,
    alerts: tuple[str, Any, str],
    server_table: TableFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic, sqs, queue = alerts
    env(alert_topic_arn=topic)
    server_table(TABLE)
    server_table("sentinel-sessions", deletion_protection=True, pitr=True)
    event = sample("update-table-deletion-protection-off")
    run(event)
    run(event)
    run(with_table(sample("create-table"), "sentinel-sessions"))
    (message,) = received(sqs, queue)
    assert (message["table"], message["decision"]) == (TABLE, "hardened")
    assert message["who"] == event["detail"]["userIdentity"]["arn"]
    assert message["changed"] == ["dynamodb-deletion-protection", "dynamodb-point-in-time-recovery"]


def test_a_lowered_recovery_period_is_raised_to_the_minimum_and_nothing_else_is_sent(
    env: Any,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env(min_recovery_days="14")
    server_table(TABLE, deletion_protection=True)
    server_client.update_continuous_backups(
        TableName=TABLE,
        PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True,
            "RecoveryPeriodInDays": 3,
        },
    )
    bodies: list[dict[str, Any]] = []
    fault_proxy.on_call("UpdateContinuousBackups", lambda call: bodies.append(call.body))
    run(sample("update-continuous-backups-period-lowered"))
    backups = server_client.describe_continuous_backups(TableName=TABLE)
    recovery = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert recovery["RecoveryPeriodInDays"] == 14
    assert bodies == [
        {
            "TableName": TABLE,
            "PointInTimeRecoverySpecification": {
                "PointInTimeRecoveryEnabled": True,
                "RecoveryPeriodInDays": 14,
            },
        }
    ]
    assert fault_proxy.calls("UpdateTable") == 0
    line = decision(capsys)
    assert line["decision"] == "hardened"
    assert line["found"]["pitr_recovery_period_days"] == 3
    assert line["after"]["pitr_recovery_period_days"] == 14


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SENTINEL_PREFIX", ""),
        ("SENTINEL_MIN_RECOVERY_DAYS", "99"),
        ("SENTINEL_MIN_RECOVERY_DAYS", "two"),
        ("SENTINEL_ALERT_TOPIC_ARN", "alerts"),
        ("SENTINEL_RATES", "DescribeTable=fast"),
    ],
)
def test_a_bad_configuration_fails_every_event_loudly(
    variable: str,
    value: str,
    env: Any,
    monkeypatch: pytest.MonkeyPatch,
    fault_proxy: FaultProxy,
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(guard.ConfigError, match=variable):
        run(sample("create-table"))
    assert fault_proxy.calls() == 0


def test_a_replica_not_yet_visible_in_its_region_raises_for_a_retry(
    env: Any, server_client: Any, fault_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    create_table(server_client, TABLE, deletion_protection=True, pitr=True)
    with pytest.raises(guard.GuardError, match=REPLICA_REGION):
        run(sample("update-table-replica-create"))
    assert fault_proxy.counts() == {"DescribeTable": 1}
    line = decision(capsys)
    assert (line["decision"], line["retry"], line["region"]) == ("failed", True, REPLICA_REGION)


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("update-table-deletion-protection-off", {"deletionProtectionEnabled": True}),
        (
            "update-table-replica-create",
            {"replicaUpdates": [{"delete": {"regionName": "eu-west-1"}}]},
        ),
    ],
)
def test_an_update_that_weakens_nothing_makes_no_call(
    name: str,
    change: dict[str, Any],
    env: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    event = sample(name)
    event["detail"]["requestParameters"].update(change)
    run(event)
    assert fault_proxy.calls() == 0
    assert decision(capsys)["decision"] == "ignored"


def test_a_delete_refused_for_another_reason_is_ignored_not_reported_as_blocked(
    env: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    event = sample("delete-table-refused")
    event["detail"]["errorCode"] = "ResourceInUseException"
    event["detail"]["errorMessage"] = "Attempt to change a resource which is still in use"
    run(event)
    assert fault_proxy.calls() == 0
    assert decision(capsys)["decision"] == "ignored"


def test_an_alert_that_cannot_be_sent_is_logged_and_raised_after_the_table_is_protected(
    env: Any, server_client: Any, server_table: TableFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    env(alert_topic_arn="arn:aws:sns:us-east-1:123456789012:no-such-topic")
    server_table(TABLE)
    with pytest.raises(guard.GuardError, match="alert failed"):
        run(sample("update-table-deletion-protection-off"))
    assert protection(server_client, TABLE) == (True, True)
    hardened, failed = log_lines(capsys.readouterr().out)
    assert hardened["decision"] == "hardened"
    assert (failed["decision"], failed["action"]) == ("alert_failed", "sns:Publish")


# -- Security Hub: each re-protection is a finding of its own ---------------------------------


def test_each_reprotection_is_a_security_hub_finding_that_says_who_and_when(
    env: Any, server: MotoServer, server_table: TableFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = regional_client(server.url, "securityhub", "us-east-1")
    hub.enable_security_hub()
    env(security_hub="true")
    server_table(TABLE, pitr=True)
    event = sample("update-table-deletion-protection-off")
    run(event)
    assert decision(capsys)["security_hub"] == "imported"
    run(event)  # the same event again: nothing to re-protect, so nothing to report
    assert "security_hub" not in decision(capsys)
    [found] = hub.get_findings()["Findings"]
    detail = event["detail"]
    table_arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}"
    assert found["Id"] == f"{table_arn}/guard/{detail['eventID']}"
    assert found["Resources"][0]["Id"] == table_arn
    fields = found["ProductFields"]
    assert fields["sentinel/who"] == detail["userIdentity"]["arn"]
    assert fields["sentinel/weakened-at"] == "2026-11-25T09:14:03.000Z"
    assert fields["sentinel/reprotected"] == "dynamodb-deletion-protection"
    assert fields["sentinel/reprotected-at"] >= fields["sentinel/weakened-at"]
    assert found["Compliance"]["Status"] == "PASSED"
    assert found["Action"]["AwsApiCallAction"]["Api"] == "UpdateTable"


def test_a_region_without_security_hub_is_logged_and_the_table_still_protected(
    env: Any,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env(security_hub="true")
    server_table(TABLE, pitr=True)
    fault_proxy.fail("securityhub:BatchImportFindings", "InvalidAccessException", times=None)
    run(sample("update-table-deletion-protection-off"))
    logged = decision(capsys)
    assert (logged["decision"], logged["security_hub"]) == ("hardened", "not_enabled")
    assert protection(server_client, TABLE) == (True, True)


def test_without_security_hub_on_the_guard_never_calls_it(
    env: Any, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    server_table(TABLE, pitr=True)
    run(sample("update-table-deletion-protection-off"))
    assert fault_proxy.calls("securityhub:BatchImportFindings") == 0
    assert fault_proxy.calls("UpdateTable") == 1


def test_a_security_hub_setting_that_is_not_true_or_false_is_a_config_error() -> None:
    with pytest.raises(guard.ConfigError, match="SENTINEL_SECURITY_HUB"):
        guard.GuardConfig.from_env({"SENTINEL_SECURITY_HUB": "yes"})
