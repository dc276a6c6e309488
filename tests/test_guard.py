"""The runtime guard's handler against a real moto_server behind the fault proxy.

Events are the documented CloudTrail shapes in tests/events/; state is read back from the server and
every DynamoDB call is counted at the proxy.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from remediation import aws, guard
from remediation.aws import ClientLimits
from tests.conftest import TableFactory, create_table, protection
from tests.fault_proxy import Call, FaultProxy
from tests.guard_support import (
    FUNCTION_TIMEOUT,
    REPLICA_REGION,
    TABLE,
    Context,
    alert_inbox,
    guard_environment,
    log_lines,
    received,
    regional_client,
    sample,
    sqs_event,
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


def run(event: object, seconds: float = FUNCTION_TIMEOUT) -> dict[str, Any]:
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


def test_without_a_recheck_queue_a_table_still_creating_raises_at_once_for_lambdas_retry(
    env: Any,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    fault_proxy.report_updating(TABLE, seconds=60, status="CREATING", reject_writes=True)
    with pytest.raises(guard.GuardError, match=TABLE):
        run(sample("create-table"))
    assert fault_proxy.calls("DescribeTable") == 1, "a table CREATING is not waited for"
    assert fault_proxy.calls("UpdateTable") == 0
    assert protection(server_client, TABLE)[0] is False
    line = decision(capsys)
    assert (line["decision"], line["retry"]) == ("failed", True)
    assert line["found"]["table_status"] == "CREATING"


def test_every_attempt_fits_in_a_share_of_the_time_left_in_a_few_sizes() -> None:
    deadline = aws.Deadline()
    kept: set[ClientLimits] = set()
    smallest = ClientLimits.until(deadline, 0.0).attempt()
    for tenths in range(60, 9000, 7):  # every time left from 6 s to 15 min
        share = (tenths / 10 - guard.RESERVE_SECONDS) / guard.CALL_SHARES
        limits = ClientLimits.until(deadline, share)
        assert limits.attempt() <= max(share, smallest)
        assert limits.connect_timeout > 0 and limits.read_timeout > 0
        assert (limits.retries, limits.deadline) == (aws.MAX_ATTEMPTS, deadline)
        kept.add(limits)
    assert len(kept) == aws.TIMEOUT_HALVINGS + 1


@pytest.mark.parametrize("seconds", [60.0, FUNCTION_TIMEOUT])
def test_throttling_is_retried_until_the_table_is_hardened(
    seconds: float,
    env: Any,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    for operation in ("DescribeTable", "UpdateTable", "UpdateContinuousBackups"):
        fault_proxy.fail(operation, "ThrottlingException", times=2)
    # At 60 s a call's attempt must fit in 5.5 s: the retries come from the deadline, not a count.
    run(sample("create-table"), seconds)
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
    # botocore's `max_attempts` counts the retries after the first call: with five minutes left,
    # the deadline is far and every one of them is made.
    assert fault_proxy.calls("UpdateTable") == aws.MAX_ATTEMPTS + 1
    assert protection(server_client, TABLE) == (False, True)
    line = decision(capsys)
    assert (line["decision"], line["retry"]) == ("failed", True)
    assert line["errors"][0]["code"] == "ThrottlingException"


def test_throttling_past_the_deadline_stops_retrying_and_leaves_the_reserve(
    env: Any,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE, pitr=True)
    fault_proxy.fail("UpdateTable", "ThrottlingException", times=None)
    context = Context(12.0)  # 7 s to spend, the reserve kept back
    with pytest.raises(guard.GuardError):
        guard.handler(sample("update-table-deletion-protection-off"), context)
    assert context.get_remaining_time_in_millis() >= guard.RESERVE_SECONDS * 1000 - 100
    assert 2 <= fault_proxy.calls("UpdateTable") <= aws.MAX_ATTEMPTS
    assert protection(server_client, TABLE) == (False, True)
    line = decision(capsys)
    assert (line["decision"], line["retry"]) == ("failed", True)
    assert line["errors"][0]["code"] == "ThrottlingException"


def test_a_warm_guard_keeps_a_bounded_number_of_clients_whatever_the_time_left(
    env: Any, server_table: TableFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    server_table(TABLE, pitr=True, deletion_protection=True)
    warm = guard.Guard(guard.GuardConfig.from_env(os.environ))
    for tenths in range(80, 9000, 223):  # forty invocations, each with another time left
        assert warm.handle(sample("create-table"), Context(tenths / 10))[0]["decision"] == (
            "protected"
        )
    # One region: one hardener per size of the limits, whatever the deadline of each invocation.
    assert 1 < warm.warm_clients() <= aws.TIMEOUT_HALVINGS + 1


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
    run(sample("update-table-deletion-protection-off"))  # no such table on the server
    assert fault_proxy.counts() == {"DescribeTable": 1}
    assert decision(capsys)["decision"] == "gone"


@pytest.fixture
def alerts(server: MotoServer) -> tuple[str, Any, str]:
    """An SNS topic with an SQS queue subscribed: (topic ARN, SQS client, queue URL)."""
    return alert_inbox(server.url, "us-east-1")


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


@pytest.mark.parametrize("length", [20, 120])
def test_the_alert_subject_fits_sns_and_is_never_cut_mid_word(
    env: Any, server: MotoServer, server_table: TableFactory, length: int
) -> None:
    sns = regional_client(server.url, "sns", "us-east-1")
    sqs = regional_client(server.url, "sqs", "us-east-1")
    topic = sns.create_topic(Name="sentinel-guard-mail")["TopicArn"]
    queue = sqs.create_queue(QueueName="mail-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    # Not raw: the envelope carries the Subject, as an email endpoint would show it.
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
    env(alert_topic_arn=topic)
    table = "sentinel-" + "x" * length
    server_table(table)
    run(with_table(sample("update-table-deletion-protection-off"), table))
    (envelope,) = received(sqs, queue)
    subject = envelope["Subject"]
    full = f"Sentinel guard re-protected {table} (Deletion Protection, PITR)"
    assert len(subject) < 100
    if len(full) < 100:
        assert subject == full
    else:
        assert subject.endswith("…")
        assert (full + " ").startswith(subject.removesuffix("…") + " ")
    assert json.loads(envelope["Message"])["table"] == table


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


@pytest.mark.parametrize("name", ["put-resource-policy", "delete-resource-policy"])
def test_a_resource_policy_call_names_its_table_and_without_a_guardrail_configured_makes_no_call(
    name: str,
    env: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    result = run(sample(name))
    assert result["decisions"] == ["ignored"]
    line = decision(capsys)
    assert (line["table"], line["region"]) == (TABLE, "us-east-1")
    assert line["reason"] == "no guardrail is configured for this guard"
    assert fault_proxy.calls() == 0


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


# -- deletions ------------------------------------------------------------------------------------


def test_a_successful_delete_is_logged_deleted_with_who_and_makes_no_call(
    env: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    event = sample("delete-table")
    result = run(event)
    assert result["decisions"] == ["deleted"]
    assert fault_proxy.calls() == 0
    line = decision(capsys)
    assert (line["decision"], line["table"], line["region"]) == ("deleted", TABLE, "us-east-1")
    assert line["who"] == event["detail"]["userIdentity"]["arn"]
    assert line["event_id"] == event["detail"]["eventID"]


def test_a_successful_delete_is_alerted_with_who(
    env: Any, alerts: tuple[str, Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    topic, sqs, queue = alerts
    env(alert_topic_arn=topic)
    event = sample("delete-table")
    run(event)
    (message,) = received(sqs, queue)
    assert (message["decision"], message["table"]) == ("deleted", TABLE)
    assert message["who"] == event["detail"]["userIdentity"]["arn"]


def test_the_delete_of_an_excluded_table_is_not_alerted(
    env: Any, alerts: tuple[str, Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    topic, sqs, queue = alerts
    env(alert_topic_arn=topic, exclude="sentinel-scratch-*")
    run(with_table(sample("delete-table"), "sentinel-scratch-1"))
    assert received(sqs, queue) == []
    line = decision(capsys)
    assert (line["decision"], line["reason"]) == ("ignored", "excluded")


# -- the guard's own calls --------------------------------------------------------------------


GUARD_ROLE = "arn:aws:iam::123456789012:role/sentinel-guard-role-7f3a2c1"


def test_an_event_caused_by_the_guards_own_role_is_ignored_whatever_it_did(
    env: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env(guard_role_arn=GUARD_ROLE)
    server_table(TABLE)
    own = sample("update-table-by-guard")
    # Even a call the rule would match (protection turned off) is not acted on when it is ours.
    own["detail"]["requestParameters"]["deletionProtectionEnabled"] = False
    run(own)
    assert fault_proxy.calls() == 0
    line = decision(capsys)
    assert (line["decision"], line["reason"]) == ("ignored", "the guard's own call")
    assert line["who"] == own["detail"]["userIdentity"]["arn"]


def test_the_same_call_by_another_role_is_acted_on(
    env: Any, server_client: Any, server_table: TableFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    env(guard_role_arn=GUARD_ROLE)
    server_table(TABLE)
    run(sample("update-table-deletion-protection-off"))
    assert protection(server_client, TABLE) == (True, True)
    assert decision(capsys)["decision"] == "hardened"


# -- re-checks through the SQS delay queue ------------------------------------------------------


@dataclass
class Rechecks:
    """The re-check queue on moto_server, as Lambda's event source mapping would poll it."""

    sqs: Any
    url: str
    arn: str

    def count(self, attribute: str) -> int:
        name = f"ApproximateNumberOf{attribute}"
        found = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=[name])
        return int(found["Attributes"][name])

    def take(self) -> dict[str, Any]:
        """The next message once its delay has passed (long polling), deleted as Lambda does."""
        answer = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=1, WaitTimeSeconds=20, AttributeNames=["All"]
        )
        (message,) = answer["Messages"]
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return dict(message)

    def event(self, message: dict[str, Any]) -> dict[str, Any]:
        return sqs_event(message, self.arn)


@pytest.fixture
def rechecks(env: Any, server: MotoServer) -> Rechecks:
    sqs = regional_client(server.url, "sqs", "us-east-1")
    url = sqs.create_queue(QueueName="sentinel-guard-rechecks")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    env(recheck_queue_url=url)
    return Rechecks(sqs, url, arn["Attributes"]["QueueArn"])


def sent(fault_proxy: FaultProxy) -> list[dict[str, Any]]:
    """Every SendMessage body the handler sent, as the proxy saw it."""
    bodies: list[dict[str, Any]] = []
    fault_proxy.on_call("sqs:SendMessage", lambda call: bodies.append(call.body), times=None)
    return bodies


def test_a_table_still_creating_holds_no_function_and_is_hardened_by_a_delayed_recheck(
    rechecks: Rechecks,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    fault_proxy.report_updating(TABLE, calls=1, status="CREATING", reject_writes=True)
    bodies = sent(fault_proxy)
    event = sample("restore-table-to-point-in-time")
    assert run(event)["decisions"] == ["pending"]
    assert fault_proxy.calls("DescribeTable") == 1 and fault_proxy.calls("UpdateTable") == 0
    assert protection(server_client, TABLE) == (False, False)
    first = decision(capsys)
    assert first["reason"] == "the table is still CREATING"
    assert first["recheck"] == {"attempt": 1, "in_seconds": 5}
    assert [b["DelaySeconds"] for b in bodies] == [5]
    assert (rechecks.count("MessagesDelayed"), rechecks.count("Messages")) == (1, 0)

    assert run(rechecks.event(rechecks.take()))["decisions"] == ["hardened"]
    assert protection(server_client, TABLE) == (True, True)
    line = decision(capsys)
    assert (line["attempt"], line["event"], line["event_id"]) == (
        1,
        "RestoreTableToPointInTime",
        event["detail"]["eventID"],
    )
    assert line["who"] == event["detail"]["userIdentity"]["arn"]
    assert rechecks.count("MessagesDelayed") + rechecks.count("Messages") == 0


def test_a_table_creating_for_hours_is_rechecked_with_growing_delays_until_the_horizon(
    rechecks: Rechecks,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    fault_proxy.report_updating(TABLE, seconds=600, status="CREATING", reject_writes=True)
    bodies = sent(fault_proxy)
    run(sample("import-table"))
    assert decision(capsys)["recheck"] == {"attempt": 1, "in_seconds": 5}
    message = rechecks.take()
    run(rechecks.event(message))
    assert [b["DelaySeconds"] for b in bodies] == [5, 10]
    assert decision(capsys)["recheck"] == {"attempt": 2, "in_seconds": 10}
    # The same message, as if the table had stayed CREATING since a day ago.
    body = json.loads(message["Body"])
    body["recheck"]["since"] -= guard.RECHECK_HORIZON_SECONDS
    with pytest.raises(guard.GuardError, match=TABLE):
        run(rechecks.event({**message, "Body": json.dumps(body)}))
    assert len(bodies) == 2, "past the horizon nothing is queued: the DLQ keeps the message"
    line = decision(capsys)
    assert (line["decision"], line["retry"]) == ("failed", True)
    assert "horizon" in line["reason"]
    assert fault_proxy.calls("UpdateTable") == 0
    assert protection(server_client, TABLE) == (False, False)


@pytest.mark.parametrize("name", NEW_TABLE_EVENTS)
def test_not_found_right_after_a_create_restore_or_import_is_rechecked_not_gone(
    name: str, rechecks: Rechecks, fault_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    # DescribeTable is eventually consistent: AWS may answer ResourceNotFoundException just after
    # the table was made. moto_server answers it here because the table is not there at all.
    assert run(sample(name))["decisions"] == ["pending"]
    assert fault_proxy.counts() == {"DescribeTable": 1, "sqs:SendMessage": 1}
    line = decision(capsys)
    assert line["errors"][0]["code"] == "ResourceNotFoundException"
    assert line["reason"] == "not found yet: DescribeTable is eventually consistent"
    assert rechecks.count("MessagesDelayed") == 1


def test_a_new_table_found_on_the_recheck_is_hardened_and_one_never_found_is_gone(
    rechecks: Rechecks,
    server_client: Any,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_table(server_client, TABLE)
    fault_proxy.fail("DescribeTable", "ResourceNotFoundException", tables=[TABLE], times=1)
    run(sample("create-table"))
    assert decision(capsys)["decision"] == "pending"
    message = rechecks.take()
    run(rechecks.event(message))
    assert protection(server_client, TABLE) == (True, True)
    assert decision(capsys)["decision"] == "hardened"

    # Never found within the not-found horizon: created, then deleted (its DeleteTable says so).
    fault_proxy.fail("DescribeTable", "ResourceNotFoundException", tables=[TABLE], times=None)
    body = json.loads(message["Body"])
    body["recheck"]["since"] -= guard.NOT_FOUND_HORIZON_SECONDS
    fault_proxy.reset_counts()
    run(rechecks.event({**message, "Body": json.dumps(body)}))
    assert fault_proxy.counts() == {"DescribeTable": 1}
    line = decision(capsys)
    assert line["decision"] == "gone" and "horizon" in line["reason"]


def test_a_busy_write_past_the_inline_wait_is_rechecked_with_what_was_done_alerted(
    rechecks: Rechecks,
    alerts: tuple[str, Any, str],
    env: Any,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic, sqs, queue = alerts
    env(alert_topic_arn=topic, recheck_queue_url=rechecks.url)
    server_table(TABLE)
    # Right after a create, AWS refuses PITR until its backups are ready.
    fault_proxy.fail("UpdateContinuousBackups", "ContinuousBackupsUnavailableException", times=None)
    # Time for a few seconds of inline retries (one share), with a 5 s read timeout kept.
    run(sample("create-table"), seconds=guard.RESERVE_SECONDS + 80)
    line = decision(capsys)
    assert (line["decision"], line["reason"]) == ("pending", "the table is busy")
    assert line["changed"] == ["dynamodb-deletion-protection"]
    assert protection(server_client, TABLE) == (True, False)
    (message,) = received(sqs, queue)
    assert message["changed"] == ["dynamodb-deletion-protection"]
    fault_proxy.clear_faults()
    run(rechecks.event(rechecks.take()))
    assert protection(server_client, TABLE) == (True, True)
    assert decision(capsys)["changed"] == ["dynamodb-point-in-time-recovery"]


def test_a_recheck_that_cannot_be_queued_raises_for_a_retry(
    rechecks: Rechecks,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    fault_proxy.report_updating(TABLE, calls=1, status="CREATING")
    fault_proxy.fail("sqs:SendMessage", "AccessDeniedException", times=None)
    with pytest.raises(guard.GuardError, match=TABLE):
        run(sample("create-table"))
    line = decision(capsys)
    assert (line["decision"], line["retry"]) == ("failed", True)
    assert line["errors"][-1]["action"] == "sqs:SendMessage"


@pytest.mark.parametrize(
    "body",
    ["not json", json.dumps({"recheck": {"table": TABLE}}), json.dumps(["a"])],
)
def test_a_queue_message_that_is_not_a_recheck_is_logged_malformed_and_dropped(
    body: str, rechecks: Rechecks, fault_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    message = {"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": body, "MD5OfBody": "x"}
    assert run(rechecks.event(message))["decisions"] == ["malformed"]
    assert fault_proxy.calls() == 0


# -- every client's calls fit in the time left ------------------------------------------------


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown: a hung answer held by the proxy ends with the test."""
    event = threading.Event()
    yield event
    event.set()


@pytest.mark.parametrize("operation", ["DescribeTable", "sqs:SendMessage", "sns:Publish"])
def test_an_endpoint_that_never_answers_cannot_hold_the_handler_past_its_time(
    operation: str,
    rechecks: Rechecks,
    alerts: tuple[str, Any, str],
    env: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    release: threading.Event,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env(alert_topic_arn=alerts[0], recheck_queue_url=rechecks.url)
    server_table(TABLE)
    if operation == "sqs:SendMessage":
        fault_proxy.report_updating(TABLE, calls=1, status="CREATING")

    def hang(call: Call) -> None:
        release.wait(60)

    fault_proxy.on_call(operation, hang, times=None)
    # One share (10 s) holds one attempt with the full 2 s connect and 5 s read timeouts, so a
    # loaded machine's slow answers elsewhere do not time out first.
    context = Context(guard.RESERVE_SECONDS + 100)
    with pytest.raises(guard.GuardError):
        guard.handler(sample("create-table"), context)
    assert context.get_remaining_time_in_millis() > 0, "Lambda would have killed the handler"
    timed_out = [
        (error["action"], error["code"])
        for line in log_lines(capsys.readouterr().out)
        for error in [*line.get("errors", []), line]
        if "code" in error
    ]
    action = operation if ":" in operation else f"dynamodb:{operation}"
    assert (action, "ReadTimeoutError") in timed_out


def test_a_security_hub_that_never_answers_cannot_hold_the_handler_past_its_time(
    env: Any,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    release: threading.Event,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env(security_hub="true")
    server_table(TABLE)
    held: list[Call] = []  # the proxy records a call only once it is answered: never, here

    def hang(call: Call) -> None:
        held.append(call)
        release.wait(60)

    fault_proxy.on_call("securityhub:BatchImportFindings", hang, times=None)
    # As above: one share (10 s) holds one attempt with the full connect and read timeouts.
    context = Context(guard.RESERVE_SECONDS + 100)
    guard.handler(sample("create-table"), context)  # a Security Hub failure never fails the guard
    assert context.get_remaining_time_in_millis() > 0, "Lambda would have killed the handler"
    logged = decision(capsys)
    assert logged["decision"] == "hardened"
    assert logged["security_hub"].startswith("failed:")
    assert "ReadTimeoutError" in logged["security_hub"], logged
    assert held, "Security Hub was never called"
    assert protection(server_client, TABLE) == (True, True)


def test_not_found_on_the_write_right_after_a_create_is_rechecked_not_dropped(
    rechecks: Rechecks,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE)
    fault_proxy.fail("UpdateTable", "ResourceNotFoundException", tables=[TABLE], times=1)
    run(sample("create-table"))
    line = decision(capsys)
    assert (line["decision"], line["reason"]) == ("pending", "not found by the write yet")
    assert line["changed"] == ["dynamodb-point-in-time-recovery"]
    assert rechecks.count("MessagesDelayed") == 1
    run(rechecks.event(rechecks.take()))
    assert protection(server_client, TABLE) == (True, True)


def test_a_new_replica_not_yet_in_its_region_is_rechecked_there(
    rechecks: Rechecks,
    server: MotoServer,
    server_client: Any,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_table(server_client, TABLE, deletion_protection=True, pitr=True)
    assert run(sample("update-table-replica-create"))["decisions"] == ["pending"]
    line = decision(capsys)
    assert (line["region"], line["reason"]) == (REPLICA_REGION, "the new replica is not there yet")
    replica = regional_client(server.url, "dynamodb", REPLICA_REGION)
    create_table(replica, TABLE)  # the replica appears in its region
    run(rechecks.event(rechecks.take()))
    assert protection(replica, TABLE) == (True, True)
    line = decision(capsys)
    assert (line["decision"], line["region"], line["attempt"]) == ("hardened", REPLICA_REGION, 1)


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
    # ASFF's own lower-case CallerType, with the event's sourceIPAddress.
    assert found["Action"]["AwsApiCallAction"]["CallerType"] == "remoteip"
    assert found["Action"]["AwsApiCallAction"]["RemoteIpDetails"] == {
        "IpAddressV4": detail["sourceIPAddress"]
    }


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


def test_a_recheck_carries_the_events_own_time_to_the_finding_it_may_lead_to() -> None:
    look = guard.Recheck(
        guard.Target("us-east-1", TABLE, new=True),
        "RestoreTableFromBackup",
        "ev-1",
        "arn:aws:iam::123456789012:user/bob",
        1795965000.0,
        2,
        "2026-11-25T09:14:03Z",
        "192.0.2.10",  # sourceIPAddress, for the finding's RemoteIpDetails
    )
    assert guard.Recheck.from_body(look.body()) == look
