"""What the guard's tests share: the sample events, Lambda's context, the guard's environment."""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.servers import aws_env

EVENTS = Path(__file__).resolve().parent / "events"
TABLE = "sentinel-requests"
REPLICA_REGION = "eu-west-1"


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of tests/events/<name>.json."""
    document: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return copy.deepcopy(document)


def with_table(event: dict[str, Any], table: str) -> dict[str, Any]:
    """The event with every table name in its request replaced (the target's, for restores)."""
    request = event["detail"]["requestParameters"]
    for key in ("tableName", "targetTableName"):
        if key in request:
            request[key] = table
    if "tableCreationParameters" in request:
        request["tableCreationParameters"]["tableName"] = table
    if "resourceArn" in request:  # a table ARN: keep its partition, region and account
        request["resourceArn"] = request["resourceArn"].split(":table/")[0] + f":table/{table}"
    return event


FUNCTION_TIMEOUT = 300.0
"""TableGuard's default timeout: what a fresh invocation of the deployed function has left."""


class Context:
    """Lambda's context object, as far as the guard uses it: the time left before the timeout."""

    def __init__(self, seconds: float = FUNCTION_TIMEOUT) -> None:
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def guard_environment(monkeypatch: pytest.MonkeyPatch, endpoint_url: str, **sentinel: str) -> None:
    """The Lambda's environment: AWS pointed at `endpoint_url`, SENTINEL_* as given, no others."""
    for key in list(os.environ):
        if key.startswith(("AWS_", "SENTINEL_")):
            monkeypatch.delenv(key)
    for key, value in aws_env(endpoint_url).items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    for key, value in sentinel.items():
        monkeypatch.setenv(f"SENTINEL_{key.upper()}", value)


def regional_client(url: str, service: str, region: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def sqs_event(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping delivers for one message received from the
    queue (AWS Lambda developer guide, "Using Lambda with Amazon SQS": the example event)."""
    region = queue_arn.split(":")[3]
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        ]
    }


def log_lines(out: str) -> list[dict[str, Any]]:
    """The guard's JSON log lines in captured stdout."""
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def alert_inbox(url: str, region: str) -> tuple[str, Any, str]:
    """An SNS topic with an SQS queue subscribed, raw: (topic ARN, SQS client, queue URL)."""
    sns = regional_client(url, "sns", region)
    sqs = regional_client(url, "sqs", region)
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
    """The alerts the inbox holds now, each message's body parsed."""
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]
