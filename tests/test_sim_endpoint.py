"""The simulated endpoint answers boto3 correctly, throttles beyond its quotas, and counts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bench.baseline import make_client, run_baseline
from bench.sim_endpoint import SimEndpoint, SimState, TokenBucket
from tests.servers import dynamodb_client


def client(url: str, *, pool: int = 10) -> Any:
    """One attempt only, so every throttle the simulation answers reaches the test."""
    return dynamodb_client(
        url,
        Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            max_pool_connections=pool,
            read_timeout=10,
        ),
    )


@pytest.fixture
def sim() -> Iterator[SimEndpoint]:
    """No latency and quotas far above what a test sends, unless a test makes its own."""
    state = SimState(scale=100)
    state.seed(5, "sentinel-", protected_fraction=0.4)
    with SimEndpoint(state, latency=0.0) as endpoint:
        yield endpoint


def admin(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, method="GET" if data is None else "POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_describe_table_parses_and_shows_the_seeded_protection(sim: SimEndpoint) -> None:
    dynamodb = client(sim.url)

    tables = [dynamodb.describe_table(TableName=f"sentinel-000{i}")["Table"] for i in range(5)]

    assert [t["DeletionProtectionEnabled"] for t in tables] == [False, False, True, False, True]
    assert {t["TableStatus"] for t in tables} == {"ACTIVE"}
    assert tables[0]["TableArn"] == "arn:aws:dynamodb:us-east-1:123456789012:table/sentinel-0000"
    assert tables[0]["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]


def test_a_table_can_be_named_by_its_arn(sim: SimEndpoint) -> None:
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/sentinel-0001"

    assert client(sim.url).describe_table(TableName=arn)["Table"]["TableName"] == "sentinel-0001"


def test_writes_enable_both_protections_and_read_back(sim: SimEndpoint) -> None:
    dynamodb = client(sim.url)

    updated = dynamodb.update_table(TableName="sentinel-0000", DeletionProtectionEnabled=True)
    backups = dynamodb.update_continuous_backups(
        TableName="sentinel-0000",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )
    read_back = dynamodb.describe_continuous_backups(TableName="sentinel-0000")

    assert updated["TableDescription"]["DeletionProtectionEnabled"] is True
    recovery = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert recovery["PointInTimeRecoveryStatus"] == "ENABLED"
    read_recovery = read_back["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert read_recovery["PointInTimeRecoveryStatus"] == "ENABLED"
    assert dynamodb.describe_table(TableName="sentinel-0000")["Table"]["DeletionProtectionEnabled"]


def test_update_table_refuses_anything_but_deletion_protection(sim: SimEndpoint) -> None:
    with pytest.raises(ClientError) as raised:
        client(sim.url).update_table(TableName="sentinel-0000", BillingMode="PROVISIONED")

    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert sim.state.stats()["operations"]["UpdateTable"]["errors"] == 1


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("describe_table", "ResourceNotFoundException"),
        ("describe_continuous_backups", "TableNotFoundException"),
    ],
)
def test_an_unknown_table_gets_dynamodbs_error(sim: SimEndpoint, operation: str, code: str) -> None:
    with pytest.raises(ClientError) as raised:
        getattr(client(sim.url), operation)(TableName="sentinel-nope")

    assert raised.value.response["Error"]["Code"] == code


def test_list_tables_pages_by_100_in_creation_order() -> None:
    state = SimState(scale=100)
    names = state.seed(250, "sentinel-")
    state.seed(3, "other-", append=True)
    with SimEndpoint(state, latency=0.0) as sim:
        dynamodb = client(sim.url)
        pages = list(dynamodb.get_paginator("list_tables").paginate())

    assert [len(p["TableNames"]) for p in pages] == [100, 100, 53]
    assert [p.get("LastEvaluatedTableName") for p in pages] == [names[99], names[199], None]
    assert [n for p in pages for n in p["TableNames"]] == [
        *names,
        "other-0000",
        "other-0001",
        "other-0002",
    ]
    assert state.stats()["operations"]["ListTables"]["calls"] == 3


def test_a_full_last_page_has_no_last_evaluated_name() -> None:
    state = SimState()
    state.seed(100)
    with SimEndpoint(state, latency=0.0) as sim:
        page = client(sim.url).list_tables()

    assert len(page["TableNames"]) == 100
    assert "LastEvaluatedTableName" not in page


def test_describe_continuous_backups_beyond_its_quota_is_throttled_and_counted() -> None:
    # 10/s with a bucket of 10: a burst of 15 gets 10 through and throttles the rest (refill over a
    # few milliseconds is well under one token).
    state = SimState(scale=1)
    state.seed(1)
    with SimEndpoint(state, latency=0.0) as sim:
        dynamodb = client(sim.url)
        outcomes = []
        for _ in range(15):
            try:
                dynamodb.describe_continuous_backups(TableName="sentinel-0000")
                outcomes.append("ok")
            except ClientError as error:
                outcomes.append(error.response["Error"]["Code"])
                assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    assert outcomes[:10] == ["ok"] * 10
    assert set(outcomes[10:]) <= {"ThrottlingException", "ok"}
    throttled = outcomes.count("ThrottlingException")
    assert 3 <= throttled <= 5  # 5 unless the five calls took over ~100 ms
    stats = state.stats()["operations"]["DescribeContinuousBackups"]
    assert stats == {"calls": 15, "throttled": throttled, "limit_exceeded": 0, "errors": 0}


def test_other_operations_are_not_held_to_the_pitr_read_quota(sim: SimEndpoint) -> None:
    state = SimState(scale=1)
    state.seed(1)
    with SimEndpoint(state, latency=0.0) as sim:
        dynamodb = client(sim.url)
        for _ in range(30):
            dynamodb.describe_table(TableName="sentinel-0000")

    assert state.stats()["totals"]["throttled"] == 0


def test_the_control_plane_quota_covers_every_operation() -> None:
    state = SimState(quotas={}, control_plane_rate=4.0)
    state.seed(1)
    with SimEndpoint(state, latency=0.0) as sim:
        dynamodb = client(sim.url)
        codes = []
        for call in ("list_tables", "describe_table", "describe_continuous_backups") * 3:
            try:
                getattr(dynamodb, call)(
                    **({} if call == "list_tables" else {"TableName": "sentinel-0000"})
                )
                codes.append("ok")
            except ClientError as error:
                codes.append(error.response["Error"]["Code"])

    assert codes[:4] == ["ok"] * 4
    assert codes.count("ThrottlingException") >= 4
    assert state.stats()["totals"]["throttled"] == codes.count("ThrottlingException")


def test_a_quota_for_an_operation_it_does_not_serve_is_refused() -> None:
    with pytest.raises(ValueError, match="CreateTable"):
        SimState(quotas={"CreateTable": 1.0})


def test_scale_multiplies_the_quota_and_the_bucket() -> None:
    state = SimState(scale=10)
    assert state.stats()["quotas"]["per_operation"] == {"DescribeContinuousBackups": 100.0}
    assert state.stats()["quotas"]["control_plane"] == 25_000.0
    assert state.stats()["quotas"]["updates_in_flight"] == 5000


def test_the_throttle_has_dynamodbs_shape_and_botocore_retries_it() -> None:
    # A slow quota, and no client built between draining the bucket and the call that must meet
    # it empty: a loaded machine refills nothing in the few milliseconds that separate them.
    state = SimState(scale=1, quotas={"DescribeContinuousBackups": 2.0})
    state.seed(1)
    with SimEndpoint(state, latency=0.0) as sim:
        retrying = make_client(sim.url)
        request = urllib.request.Request(
            sim.url,
            data=b'{"TableName": "sentinel-0000"}',
            headers={"X-Amz-Target": "DynamoDB_20120810.DescribeContinuousBackups"},
        )
        refused: urllib.error.HTTPError | None = None
        for _ in range(100):  # the bucket holds a few tokens: far fewer than this
            try:
                urllib.request.urlopen(request, timeout=10).close()
            except urllib.error.HTTPError as error:
                refused = error
                break
        retried = retrying.describe_continuous_backups(TableName="sentinel-0000")

    assert refused is not None, "a drained bucket must refuse"
    assert refused.code == 400
    assert json.load(refused) == {
        "__type": "com.amazon.coral.availability#ThrottlingException",
        "message": "Rate of requests exceeds the allowed throughput.",
    }
    assert retried["ResponseMetadata"]["RetryAttempts"] >= 1


def test_updates_beyond_the_in_flight_limit_get_limit_exceeded() -> None:
    state = SimState(updates_in_flight=2, update_seconds=5.0)
    state.seed(3)
    with SimEndpoint(state, latency=0.0) as sim:
        dynamodb = client(sim.url)
        dynamodb.update_table(TableName="sentinel-0000", DeletionProtectionEnabled=True)
        dynamodb.update_table(TableName="sentinel-0001", DeletionProtectionEnabled=True)
        with pytest.raises(ClientError) as raised:
            dynamodb.update_table(TableName="sentinel-0002", DeletionProtectionEnabled=True)
        status = dynamodb.describe_table(TableName="sentinel-0000")["Table"]["TableStatus"]

    assert raised.value.response["Error"]["Code"] == "LimitExceededException"
    assert state.stats()["operations"]["UpdateTable"]["limit_exceeded"] == 1
    assert status == "UPDATING"


def test_the_latency_is_applied_per_call_and_calls_overlap() -> None:
    state = SimState(scale=100)
    state.seed(16)
    with SimEndpoint(state, latency=0.2) as sim:
        dynamodb = client(sim.url, pool=16)
        dynamodb.list_tables()  # one warm call: the client is built and a connection open
        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            list(
                pool.map(
                    lambda i: dynamodb.describe_table(TableName=f"sentinel-{i:04d}"), range(16)
                )
            )
        elapsed = time.monotonic() - started

    assert 0.2 <= elapsed < 0.2 * 4  # sequential would be 3.2 s
    assert state.stats()["peak_concurrent"] >= 8


def test_the_admin_paths_seed_count_and_reset(sim: SimEndpoint) -> None:
    assert admin(
        sim.url, "/_sim/seed", {"n": 20, "prefix": "sentinel-", "protected_fraction": 0.25}
    ) == {"tables": 20}
    client(sim.url).describe_table(TableName="sentinel-0019")

    stats = admin(sim.url, "/_sim/stats")
    tables = admin(sim.url, "/_sim/tables")
    reset = admin(sim.url, "/_sim/reset", {})

    assert stats["operations"]["DescribeTable"]["calls"] == 1
    assert stats["tables"] == {"count": 20, "deletion_protection": 5, "pitr": 5}
    assert len(tables) == 20 and tables[3] == {
        "name": "sentinel-0003",
        "deletion_protection": True,
        "pitr": True,
    }
    assert reset["totals"]["calls"] == 0 and reset["tables"]["count"] == 20


def test_reset_refills_a_drained_bucket() -> None:
    state = SimState(scale=1)
    state.seed(1)
    with SimEndpoint(state, latency=0.0) as sim:
        dynamodb = client(sim.url)
        for _ in range(10):
            dynamodb.describe_continuous_backups(TableName="sentinel-0000")
        with pytest.raises(ClientError):
            dynamodb.describe_continuous_backups(TableName="sentinel-0000")
        state.reset()
        dynamodb.describe_continuous_backups(TableName="sentinel-0000")

    assert state.stats()["operations"]["DescribeContinuousBackups"]["calls"] == 1


def test_a_token_bucket_refills_at_its_rate_up_to_its_capacity() -> None:
    bucket = TokenBucket(rate=100.0, capacity=2.0)
    now = time.monotonic()
    assert bucket.has_token(now)
    bucket.take()
    bucket.take()
    assert not bucket.has_token(now)
    assert bucket.has_token(now + 0.011)
    assert bucket.has_token(now + 60)
    bucket.take()
    bucket.take()
    assert not bucket.has_token(now + 60)


def test_the_baseline_follows_the_go_call_pattern_and_hardens_everything() -> None:
    state = SimState(scale=100)
    state.seed(120, "sentinel-", protected_fraction=0.5)
    state.seed(2, "other-", append=True)
    with SimEndpoint(state, latency=0.0) as sim:
        result = run_baseline(make_client(sim.url), "sentinel-")

    assert result.tables == 120
    assert result.calls == {
        "ListTables": 2,
        "DescribeTable": 120,
        "DescribeContinuousBackups": 120,
        "UpdateTable": 60,
        "UpdateContinuousBackups": 60,
    }
    assert (result.deletion_protection_enabled, result.pitr_enabled) == (60, 60)
    assert result.failures == {} and not result.throttles
    other = [t for t in state.tables() if t["name"].startswith("other-")]
    assert all(t["deletion_protection"] and t["pitr"] for t in state.tables() if t not in other)
    assert not any(t["deletion_protection"] or t["pitr"] for t in other)


def test_the_baseline_counts_throttles_and_retries_them_to_success() -> None:
    # A quota so low that even a loaded machine calls faster than it: 14 reads meet throttles.
    state = SimState(scale=1, quotas={"DescribeContinuousBackups": 2.0})
    state.seed(14)
    with SimEndpoint(state, latency=0.0) as sim:
        result = run_baseline(make_client(sim.url), "sentinel-", write=False)

    server = state.stats()["operations"]["DescribeContinuousBackups"]
    assert result.failures == {}
    assert result.throttles["DescribeContinuousBackups"] == server["throttled"] > 0
    assert result.calls["DescribeContinuousBackups"] == server["calls"] == 14 + server["throttled"]
    assert "UpdateTable" not in result.calls


def test_the_endpoint_runs_as_a_module_and_prints_its_url() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.sim_endpoint", "--latency-ms", "1", "--seed", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        names = client(url).list_tables()["TableNames"]
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert names == ["sentinel-0000", "sentinel-0001", "sentinel-0002"]
    assert process.returncode == 0


def test_each_account_and_region_has_its_own_tables_and_quota() -> None:
    import boto3

    state = SimState(scale=1, quotas={"DescribeContinuousBackups": 2.0})
    with SimEndpoint(state, latency=0.0) as sim:
        sim.place("111111111111", "eu-west-1").seed(1)
        state.seed(1)
        keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        sts = boto3.client("sts", endpoint_url=sim.url, region_name="us-east-1", **keys)
        assert sts.get_caller_identity()["Account"] == "123456789012"
        found = sts.assume_role(
            RoleArn="arn:aws:iam::111111111111:role/SentinelHarden", RoleSessionName="bench"
        )["Credentials"]
        member = boto3.client(
            "dynamodb",
            endpoint_url=sim.url,
            region_name="eu-west-1",
            aws_access_key_id=found["AccessKeyId"],
            aws_secret_access_key=found["SecretAccessKey"],
            aws_session_token=found["SessionToken"],
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        )
        arn = member.describe_table(TableName="sentinel-0000")["Table"]["TableArn"]
        caller = client(sim.url)
        throttled = False
        for _ in range(50):  # the caller's bucket holds two tokens: far fewer than this
            try:
                caller.describe_continuous_backups(TableName="sentinel-0000")
            except ClientError:
                throttled = True
                break
        # The caller's place is drained; the member's, another account and region, is not.
        member.describe_continuous_backups(TableName="sentinel-0000")

    assert throttled
    assert arn == "arn:aws:dynamodb:eu-west-1:111111111111:table/sentinel-0000"
    eu = sim.place("111111111111", "eu-west-1").stats()["operations"]
    assert eu["DescribeContinuousBackups"] == {
        "calls": 1,
        "throttled": 0,
        "limit_exceeded": 0,
        "errors": 0,
    }
    assert state.stats()["operations"]["DescribeContinuousBackups"]["throttled"] == 1


def test_resource_policies_keep_revisions_and_block_updates_for_15_seconds_scaled(
    sim: SimEndpoint,
) -> None:
    dynamodb = client(sim.url)
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/sentinel-0000"
    with pytest.raises(ClientError) as none:
        dynamodb.get_resource_policy(ResourceArn=arn)
    assert none.value.response["Error"]["Code"] == "PolicyNotFoundException"
    first = dynamodb.put_resource_policy(
        ResourceArn=arn, Policy="{}", ExpectedRevisionId="NO_POLICY"
    )
    with pytest.raises(ClientError) as blocked:  # within 15 s / scale 100 = 0.15 s
        dynamodb.put_resource_policy(ResourceArn=arn, Policy='{"a":1}')
    assert blocked.value.response["Error"]["Code"] == "ResourceInUseException"
    time.sleep(0.2)
    with pytest.raises(ClientError) as stale:
        dynamodb.put_resource_policy(ResourceArn=arn, Policy='{"a":1}', ExpectedRevisionId="x")
    assert stale.value.response["Error"]["Code"] == "PolicyNotFoundException"
    second = dynamodb.put_resource_policy(
        ResourceArn=arn, Policy='{"a":1}', ExpectedRevisionId=first["RevisionId"]
    )
    answer = dynamodb.get_resource_policy(ResourceArn=arn)
    assert (answer["Policy"], answer["RevisionId"]) == ('{"a":1}', second["RevisionId"])
