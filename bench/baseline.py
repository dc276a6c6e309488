"""The sequential baseline: the Go original's call pattern, one table at a time, on plain boto3.

ListTables page by page; then for each selected table in turn: DescribeTable,
DescribeContinuousBackups, then UpdateTable and/or UpdateContinuousBackups where a protection is
missing. botocore's legacy retry mode with its DynamoDB defaults (10 attempts, 50 ms exponential
backoff), as the Go SDK would retry a throttle. Every HTTP attempt and every throttle is counted.

    python -m bench.baseline --endpoint-url http://127.0.0.1:8123 --prefix sentinel-
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

__all__ = ["BaselineResult", "main", "make_client", "run_baseline"]

THROTTLES: Final = frozenset({"ThrottlingException", "LimitExceededException"})


@dataclass
class BaselineResult:
    """What one baseline run did: HTTP attempts and throttles per operation, and its wall time."""

    tables: int = 0
    seconds: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)  # every HTTP attempt, retries included
    throttles: Counter[str] = field(default_factory=Counter)
    deletion_protection_enabled: int = 0
    pitr_enabled: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # table -> error code, after retries

    def as_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["calls"] = dict(self.calls)
        document["throttles"] = dict(self.throttles)
        return document


def make_client(endpoint_url: str, region: str = "us-east-1") -> Any:
    """A DynamoDB client for a local endpoint: dummy credentials, legacy retries, one connection."""
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "legacy"}, max_pool_connections=1),
    )


def run_baseline(
    client: Any, prefix: str, *, write: bool = True, pitr: bool = True
) -> BaselineResult:
    """Harden (or, without `write`, only read) every table named `prefix`*, one at a time.

    Without `pitr` (the Go original's --no-pitr) it still reads both protections, as its
    GetTableStatus does, and writes deletion protection only.
    """
    result = BaselineResult()

    def count(event_name: str, parsed_response: Any = None, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        result.calls[operation] += 1
        error = (parsed_response or {}).get("Error", {}).get("Code")
        if error in THROTTLES:
            result.throttles[operation] += 1

    events = client.meta.events
    events.register("response-received.dynamodb.*", count)
    started = time.perf_counter()
    try:
        for name in _table_names(client, prefix):
            result.tables += 1
            try:
                _harden(client, name, write, pitr, result)
            except ClientError as error:
                result.failures[name] = error.response.get("Error", {}).get("Code", "?")
    finally:
        result.seconds = time.perf_counter() - started
        events.unregister("response-received.dynamodb.*", count)
    return result


def _table_names(client: Any, prefix: str) -> list[str]:
    names: list[str] = []
    request: dict[str, Any] = {}
    while True:
        page = client.list_tables(**request)
        names.extend(n for n in page.get("TableNames", []) if n.startswith(prefix))
        last = page.get("LastEvaluatedTableName")
        if not last:
            return names
        request = {"ExclusiveStartTableName": last}


def _harden(client: Any, name: str, write: bool, pitr: bool, result: BaselineResult) -> None:
    table = client.describe_table(TableName=name)["Table"]
    backups = client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    recovery = backups.get("PointInTimeRecoveryDescription", {})
    if not write:
        return
    if not table.get("DeletionProtectionEnabled"):
        client.update_table(TableName=name, DeletionProtectionEnabled=True)
        result.deletion_protection_enabled += 1
    if pitr and recovery.get("PointInTimeRecoveryStatus") != "ENABLED":
        client.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
        result.pitr_enabled += 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--prefix", default="sentinel-")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--read-only", action="store_true", help="describe only, write nothing")
    parser.add_argument("--no-pitr", action="store_true", help="write deletion protection only")
    args = parser.parse_args(argv)
    result = run_baseline(
        make_client(args.endpoint_url, args.region),
        args.prefix,
        write=not args.read_only,
        pitr=not args.no_pitr,
    )
    json.dump(result.as_dict(), sys.stdout, indent=2)
    print()
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
