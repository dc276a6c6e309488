"""SNS and SQS: the guard's alerts and its re-checks, each client made by the one factory."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from remediation.aws.errors import CallFailed, _aws_error
from remediation.aws.session import ClientLimits, Settings, _client
from remediation.core import AwsError


def make_sns_client(
    region: str, endpoint: str | None = None, limits: ClientLimits | None = None
) -> Any:
    """An SNS client in `region` (the alert topic's), retried like the DynamoDB client, at
    `endpoint` (--endpoint-url) unless AWS_ENDPOINT_URL_SNS says otherwise. Raises SetupError."""
    session = boto3.session.Session(region_name=region)
    settings = Settings(
        region=region, endpoint_url=endpoint, workers=1, limits=limits or ClientLimits()
    )
    return _client(session, "sns", region, settings)


def make_sqs_client(limits: ClientLimits | None = None) -> Any:
    """An SQS client in the session's region (the Lambda's own, where its queues are). Raises
    SetupError."""
    settings = Settings(workers=1, limits=limits or ClientLimits())
    return _client(boto3.session.Session(), "sqs", None, settings)


def send_message(client: Any, queue_url: str, body: str, delay_seconds: int) -> str:
    """Send one message, delivered after `delay_seconds` (0 to 900); return its MessageId.
    Raises CallFailed with what AWS answered."""
    try:
        response: dict[str, Any] = client.send_message(
            QueueUrl=queue_url, MessageBody=body, DelaySeconds=delay_seconds
        )
    except (ClientError, BotoCoreError) as exc:
        raise CallFailed(_aws_error("sqs:SendMessage", exc)) from None
    return str(response["MessageId"])


class PublishFailed(Exception):
    def __init__(self, error: AwsError) -> None:
        super().__init__(str(error))
        self.error = error


SNS_SUBJECT_MAX = 99
"""SNS takes a Subject "less than 100 characters long" (the whole record is in the body)."""


def sns_subject(text: str) -> str:
    """`text` as an SNS Subject: one line, cut at a word boundary with an ellipsis when too long."""
    line = " ".join(text.split())
    if len(line) <= SNS_SUBJECT_MAX:
        return line
    cut = line[: SNS_SUBJECT_MAX - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,:(") + "…"


def publish(client: Any, topic_arn: str, subject: str, message: str) -> str:
    """Publish one alert; return its MessageId. Raises PublishFailed with what AWS answered."""
    try:
        response: dict[str, Any] = client.publish(
            TopicArn=topic_arn, Subject=sns_subject(subject), Message=message
        )
    except (ClientError, BotoCoreError) as exc:
        raise PublishFailed(_aws_error("sns:Publish", exc)) from None
    return str(response["MessageId"])
