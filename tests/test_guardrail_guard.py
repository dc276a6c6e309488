"""The guard keeps the table guardrail: CloudTrail's PutResourcePolicy and DeleteResourcePolicy
events handed to the handler directly (moto cannot run Lambda), the policy read back from moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from remediation import guard, guardrail
from remediation.guard_config import ConfigError, GuardConfig
from remediation.guardrail import Principals
from tests.conftest import TableFactory
from tests.fault_proxy import FaultProxy
from tests.guard_support import (
    FUNCTION_TIMEOUT,
    TABLE,
    Context,
    alert_inbox,
    guard_environment,
    log_lines,
    received,
    regional_client,
    sample,
)
from tests.guardrail_support import arn_of, policy_of
from tests.servers import REGION, MotoServer

BREAK_GLASS = "arn:aws:iam::123456789012:role/BreakGlass"
DEPLOY = "arn:aws:iam::123456789012:role/deploy/Pulumi"
GUARD_ROLE = "arn:aws:iam::123456789012:role/sentinel-guard-role-7f3a2c1"
OTHERS = {
    "Sid": "AppReadOnly",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:role/App"},
    "Action": "dynamodb:GetItem",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, server: MotoServer, fault_proxy: FaultProxy) -> Any:
    def configure(**sentinel: str) -> None:
        settings = {
            "guard_role_arn": GUARD_ROLE,
            "guardrail_break_glass_roles": BREAK_GLASS,
            "guardrail_allow_roles": DEPLOY,
            **sentinel,
        }
        guard_environment(monkeypatch, fault_proxy.url, **settings)

    configure()
    return configure


def run(event: object) -> dict[str, Any]:
    return guard.handler(event, Context(FUNCTION_TIMEOUT))


def wanted(client: Any) -> dict[str, Any]:
    principals = Principals(break_glass=(BREAK_GLASS,), allow=(DEPLOY,), guard=GUARD_ROLE)
    return guardrail.table_policy(arn_of(client, TABLE), principals)


def decision(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    (line,) = log_lines(capsys.readouterr().out)
    return line


@pytest.fixture
def alerts(server: MotoServer) -> tuple[str, Any, str]:
    """An SNS topic with an SQS queue subscribed: (topic ARN, SQS client, queue URL)."""
    return alert_inbox(server.url, REGION)


def test_the_root_deleting_the_policy_gets_the_guardrail_put_back_and_alerted(
    env: Any,
    alerts: tuple[str, Any, str],
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic, sqs, queue = alerts
    env(alert_topic_arn=topic)
    server_table(TABLE, deletion_protection=True, pitr=True)
    event = sample("delete-resource-policy-by-root")
    run(event)
    assert policy_of(server_client, TABLE) == wanted(server_client)
    line = decision(capsys)
    assert (line["decision"], line["changed"]) == ("hardened", ["dynamodb-guardrail"])
    assert line["who"] == "arn:aws:iam::123456789012:root"
    assert (line["found"], line["after"]) == ({"guardrail": False}, {"guardrail": True})
    assert fault_proxy.calls("PutResourcePolicy") == 1
    assert fault_proxy.calls("UpdateTable") == fault_proxy.calls("UpdateContinuousBackups") == 0
    (message,) = received(sqs, queue)
    assert (message["decision"], message["changed"]) == ("hardened", ["dynamodb-guardrail"])


def test_a_put_without_the_guardrail_by_a_role_not_allowed_is_merged_back_keeping_its_statement(
    env: Any, server_client: Any, server_table: TableFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    server_table(TABLE, deletion_protection=True, pitr=True)
    event = sample("put-resource-policy-without-guardrail")
    # What the event records: Admin replaced the policy with one of its own.
    server_client.put_resource_policy(
        ResourceArn=arn_of(server_client, TABLE),
        Policy=event["detail"]["requestParameters"]["policy"],
    )
    run(event)
    found = policy_of(server_client, TABLE)
    assert found is not None
    assert found["Statement"][0]["Sid"] == "AppReadOnly"
    assert found["Statement"][1:] == wanted(server_client)["Statement"]
    assert decision(capsys)["decision"] == "hardened"


def test_a_break_glass_role_removing_it_is_alerted_and_left_alone(
    env: Any,
    alerts: tuple[str, Any, str],
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic, sqs, queue = alerts
    env(alert_topic_arn=topic)
    server_table(TABLE, deletion_protection=True, pitr=True)
    run(sample("delete-resource-policy-by-break-glass"))
    assert policy_of(server_client, TABLE) is None
    assert fault_proxy.calls("PutResourcePolicy") == 0
    line = decision(capsys)
    assert line["decision"] == "guardrail_removed"
    assert BREAK_GLASS in line["reason"]
    (message,) = received(sqs, queue)
    assert message["decision"] == "guardrail_removed"


def test_a_policy_change_that_keeps_the_guardrail_writes_nothing(
    env: Any,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE, deletion_protection=True, pitr=True)
    statements = [{**OTHERS, "Resource": arn_of(server_client, TABLE)}]
    statements += wanted(server_client)["Statement"]
    policy = {"Version": "2012-10-17", "Statement": statements}
    server_client.put_resource_policy(
        ResourceArn=arn_of(server_client, TABLE), Policy=json.dumps(policy)
    )
    run(sample("put-resource-policy-without-guardrail"))
    assert decision(capsys)["decision"] == "protected"
    assert fault_proxy.calls("PutResourcePolicy") == 0
    assert fault_proxy.calls("GetResourcePolicy") == 1


def test_the_15_second_block_after_the_removal_is_waited_out(
    env: Any,
    server_client: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_table(TABLE, deletion_protection=True, pitr=True)
    fault_proxy.block_policy_updates(seconds=4)
    remover = boto3.client(
        "dynamodb",
        endpoint_url=fault_proxy.url,
        region_name=REGION,
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    event = sample("put-resource-policy-without-guardrail")
    remover.put_resource_policy(
        ResourceArn=arn_of(server_client, TABLE),
        Policy=event["detail"]["requestParameters"]["policy"],
    )
    run(event)
    assert decision(capsys)["decision"] == "hardened"
    outcomes = [r.outcome for r in fault_proxy.records if r.operation == "PutResourcePolicy"]
    assert outcomes[1] == "ResourceInUseException" and outcomes[-1] == "forwarded"
    found = policy_of(server_client, TABLE)
    assert found is not None and found["Statement"][1:] == wanted(server_client)["Statement"]


def test_a_guard_without_a_guardrail_ignores_policy_events(
    env: Any,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env(guardrail_break_glass_roles="", guardrail_allow_roles="")
    server_table(TABLE, deletion_protection=True, pitr=True)
    run(sample("delete-resource-policy-by-root"))
    line = decision(capsys)
    assert line["decision"] == "ignored"
    assert fault_proxy.calls() == 0


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"SENTINEL_GUARDRAIL_BREAK_GLASS_ROLES": "BreakGlass"}, "not an IAM role ARN"),
        (
            {"SENTINEL_GUARDRAIL_BREAK_GLASS_ROLES": BREAK_GLASS, "SENTINEL_GUARDRAIL_MODE": "x"},
            "guardrail mode must be",
        ),
    ],
)
def test_a_bad_guardrail_setting_is_a_config_error(settings: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        GuardConfig.from_env(settings)


def test_a_guardrail_put_back_is_a_security_hub_finding_naming_the_remover(
    env: Any, server: MotoServer, server_table: TableFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = regional_client(server.url, "securityhub", REGION)
    hub.enable_security_hub()
    env(security_hub="true")
    server_table(TABLE, deletion_protection=True, pitr=True)
    event = sample("delete-resource-policy-by-root")
    run(event)
    assert decision(capsys)["security_hub"] == "imported"
    [found] = hub.get_findings()["Findings"]
    assert found["ProductFields"]["sentinel/who"] == "arn:aws:iam::123456789012:root"
    assert found["ProductFields"]["sentinel/reprotected"] == "dynamodb-guardrail"
    assert found["Compliance"]["Status"] == "PASSED"
    assert found["Action"]["AwsApiCallAction"]["Api"] == "DeleteResourcePolicy"
