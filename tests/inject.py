"""Answer chosen calls of an in-process boto3 client with a DynamoDB-shaped error.

Registered on `before-send`, so botocore's real parser and retry handler see the response exactly
as if DynamoDB had sent it (Stubber and before-call would bypass both). Under moto in-process every
before-send handler runs, moto's too, so a write answered with an error here is still applied by
moto: inject errors only on reads here, and on writes through tests/fault_proxy.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.awsrequest import AWSResponse

CODES = {
    "AccessDeniedException": (400, "com.amazon.coral.service#AccessDeniedException"),
    "ThrottlingException": (400, "com.amazon.coral.availability#ThrottlingException"),
    "ResourceNotFoundException": (
        400,
        "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
    ),
    "ResourceInUseException": (400, "com.amazonaws.dynamodb.v20120810#ResourceInUseException"),
}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def answer_with_error(
    client: Any, operation: str, code: str, table: str | None = None, message: str = "denied"
) -> list[str]:
    """Make `operation` (optionally only for `table`) fail with `code`; returns the tables hit."""
    status, type_ = CODES[code]
    hits: list[str] = []

    def handler(request: Any, **_: Any) -> AWSResponse | None:
        body = json.loads(request.body or b"{}")
        if table is not None and body.get("TableName") != table:
            return None
        hits.append(body.get("TableName", ""))
        payload = json.dumps({"__type": type_, "Message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
        return AWSResponse(request.url, status, headers, _Raw(payload))

    client.meta.events.register_first(f"before-send.dynamodb.{operation}", handler)
    return hits


def record_calls(client: Any) -> list[tuple[str, str]]:
    """Record (operation, table) for every request the client sends, retries included."""
    calls: list[tuple[str, str]] = []

    def handler(request: Any, event_name: str, **_: Any) -> None:
        body = json.loads(request.body or b"{}")
        calls.append((event_name.rsplit(".", 1)[-1], body.get("TableName", "")))

    client.meta.events.register_first("before-send.dynamodb", handler)
    return calls
