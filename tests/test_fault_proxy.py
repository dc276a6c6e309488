"""The fault proxy, proven with plain boto3 clients: botocore's real parser, CRC32 and retries."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request
import zlib
from typing import Any, Literal

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from tests.fault_proxy import ERRORS, FORWARDED, REST_ERRORS, Call, FaultProxy
from tests.fixtures_proxy import fault_proxy  # noqa: F401 - the fixture under test
from tests.servers import REGION, MotoServer, dynamodb_client

TABLE = "sentinel-orders"
OTHER = "sentinel-users"


@pytest.fixture
def account(moto: MotoServer) -> MotoServer:
    """An account holding TABLE and OTHER, created directly on moto (the proxy sees none of it)."""
    moto.reset()
    backend = client(moto.url)
    for name in (TABLE, OTHER):
        backend.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    return moto


RetryMode = Literal["standard", "legacy", "adaptive"]


def client(url: str, *, mode: RetryMode = "standard", attempts: int = 1) -> Any:
    return dynamodb_client(
        url,
        Config(
            retries={"mode": mode, "total_max_attempts": attempts},
            connect_timeout=5,
            read_timeout=10,
        ),
    )


def raw_call(
    url: str, operation: str, body: dict[str, Any], region: str = REGION
) -> http.client.HTTPResponse:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request(
        "POST",
        "/",
        body=json.dumps(body),
        headers={
            "X-Amz-Target": f"DynamoDB_20120810.{operation}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20240101/{region}/dynamodb/"
            "aws4_request, SignedHeaders=host, Signature=0",
        },
    )
    return connection.getresponse()


def test_unmatched_calls_are_forwarded_unchanged(
    account: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    direct = client(account.url).describe_table(TableName=TABLE)["Table"]
    proxied = client(fault_proxy.url).describe_table(TableName=TABLE)["Table"]

    assert proxied == direct
    assert fault_proxy.records[0].outcome == FORWARDED
    assert (fault_proxy.forwarded(), fault_proxy.faulted()) == (1, 0)


def test_forwarded_answers_keep_dynamodb_headers_and_a_valid_crc32(
    account: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    response = raw_call(fault_proxy.url, "DescribeTable", {"TableName": TABLE})
    body = response.read()

    assert response.status == 200
    assert int(response.headers["x-amz-crc32"]) == zlib.crc32(body)
    assert response.headers["x-amzn-requestid"]
    assert json.loads(body)["Table"]["TableName"] == TABLE


def test_requests_that_are_not_dynamodb_calls_are_forwarded_and_not_counted(
    account: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    with urllib.request.urlopen(f"{fault_proxy.url}/moto-api/data.json", timeout=10) as response:
        data = json.load(response)

    assert TABLE in json.dumps(data["dynamodb"])
    assert fault_proxy.calls() == 0


def test_a_throttle_injected_twice_is_retried_twice_then_succeeds(
    account: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    rule = fault_proxy.fail("DescribeTable", "ThrottlingException", times=2)

    response = client(fault_proxy.url, attempts=5).describe_table(TableName=TABLE)

    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert response["Table"]["TableStatus"] == "ACTIVE"
    assert rule.fired == 2 and rule.exhausted
    assert [r.outcome for r in fault_proxy.records] == [
        "ThrottlingException",
        "ThrottlingException",
        FORWARDED,
    ]


# What botocore does with each fault: retried by standard mode, retried by legacy mode.
RETRIED = {
    "ThrottlingException": (True, True),
    "LimitExceededException": (True, False),
    "AccessDeniedException": (False, False),
    "ResourceInUseException": (False, False),
    "ContinuousBackupsUnavailableException": (False, False),
    "ResourceNotFoundException": (False, False),
    "TableNotFoundException": (False, False),
    "UnrecognizedClientException": (False, False),  # an opt-in region not enabled
    "ExpiredTokenException": (False, False),  # refreshing credentials is the caller's job
}


def test_every_fault_has_a_retry_expectation() -> None:
    assert set(RETRIED) == set(ERRORS)


@pytest.mark.parametrize("mode", ["standard", "legacy"])
@pytest.mark.parametrize("code", sorted(RETRIED))
def test_botocore_classifies_each_fault_as_it_would_dynamodbs_own(
    account: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
    code: str,
    mode: RetryMode,
) -> None:
    fault_proxy.fail("DescribeContinuousBackups", code, times=1)
    retried = RETRIED[code][0 if mode == "standard" else 1]
    dynamodb = client(fault_proxy.url, mode=mode, attempts=2)

    if retried:
        response = dynamodb.describe_continuous_backups(TableName=TABLE)
        assert response["ResponseMetadata"]["RetryAttempts"] == 1
    else:
        with pytest.raises(ClientError) as raised:
            dynamodb.describe_continuous_backups(TableName=TABLE)
        assert raised.value.response["Error"]["Code"] == code
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 0
    assert fault_proxy.faulted("DescribeContinuousBackups", TABLE) == 1


def test_access_denied_has_dynamodbs_shape_naming_the_action_and_the_table(
    account: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    fault_proxy.fail("UpdateContinuousBackups", "AccessDeniedException")
    response = raw_call(
        fault_proxy.url,
        "UpdateContinuousBackups",
        {
            "TableName": TABLE,
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        },
        region="eu-west-3",
    )
    body = response.read()

    assert response.status == 400
    assert int(response.headers["x-amz-crc32"]) == zlib.crc32(body)
    assert json.loads(body) == {
        "__type": "com.amazon.coral.service#AccessDeniedException",
        "Message": "User: arn:aws:iam::123456789012:user/x is not authorized to perform: "
        "dynamodb:UpdateContinuousBackups on resource: "
        f"arn:aws:dynamodb:eu-west-3:123456789012:table/{TABLE} because no identity-based policy "
        "allows the dynamodb:UpdateContinuousBackups action",
    }


def test_access_denied_surfaces_as_a_client_error_with_its_message(
    account: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    fault_proxy.fail("UpdateTable", "AccessDeniedException", times=None)

    with pytest.raises(ClientError) as raised:
        client(fault_proxy.url, attempts=3).update_table(
            TableName=TABLE, DeletionProtectionEnabled=True
        )

    error = raised.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert "dynamodb:UpdateTable on resource: arn:aws:dynamodb:us-east-1:" in error["Message"]
    assert fault_proxy.forwarded("UpdateTable") == 0


def test_the_throttling_type_is_coral_availability_and_the_others_dynamodbs() -> None:
    assert ERRORS["ThrottlingException"].type_prefix == "com.amazon.coral.availability"
    coral_service = {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "ExpiredTokenException",
    }
    for code in coral_service:
        assert ERRORS[code].type_prefix == "com.amazon.coral.service"
    for code in RETRIED.keys() - {"ThrottlingException", *coral_service}:
        assert ERRORS[code].type_prefix == "com.amazonaws.dynamodb.v20120810"
        assert ERRORS[code].status == 400


def test_a_rule_for_one_table_leaves_the_others_alone(
    account: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    fault_proxy.fail("DescribeTable", "ResourceNotFoundException", tables=[TABLE], times=None)
    dynamodb = client(fault_proxy.url)

    assert dynamodb.describe_table(TableName=OTHER)["Table"]["TableName"] == OTHER
    for _ in range(3):
        with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
            dynamodb.describe_table(TableName=TABLE)

    assert fault_proxy.faulted("DescribeTable", TABLE) == 3
    assert fault_proxy.forwarded("DescribeTable", OTHER) == 1


def test_a_table_named_by_arn_matches_rules_and_counts_by_its_name(
    account: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    fault_proxy.fail("DescribeTable", "TableNotFoundException", tables=[TABLE])
    arn = client(account.url).describe_table(TableName=TABLE)["Table"]["TableArn"]

    with pytest.raises(ClientError) as raised:
        client(fault_proxy.url).describe_table(TableName=arn)

    assert raised.value.response["Error"]["Code"] == "TableNotFoundException"
    assert fault_proxy.table_counts() == {("DescribeTable", TABLE): 1}


def test_rules_answer_in_the_order_they_were_added_until_spent(
    account: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    fault_proxy.fail("DescribeTable", "ResourceInUseException", times=1)
    fault_proxy.fail("DescribeTable", "LimitExceededException", times=1)
    dynamodb = client(fault_proxy.url)

    codes = []
    for _ in range(3):
        try:
            dynamodb.describe_table(TableName=TABLE)
            codes.append("ok")
        except ClientError as error:
            codes.append(error.response["Error"]["Code"])

    assert codes == ["ResourceInUseException", "LimitExceededException", "ok"]


def test_updating_is_shown_for_the_chosen_number_of_calls_then_active(
    account: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    fault_proxy.report_updating(TABLE, calls=2)
    # Legacy mode retries on a CRC32 mismatch, so RetryAttempts == 0 proves the rewrite's CRC32.
    dynamodb = client(fault_proxy.url, mode="legacy", attempts=3)

    answers = [dynamodb.describe_table(TableName=TABLE) for _ in range(3)]

    assert [a["Table"]["TableStatus"] for a in answers] == ["UPDATING", "UPDATING", "ACTIVE"]
    assert {a["ResponseMetadata"]["RetryAttempts"] for a in answers} == {0}
    assert dynamodb.describe_table(TableName=OTHER)["Table"]["TableStatus"] == "ACTIVE"
    assert [r.rewritten for r in fault_proxy.records] == [True, True, False, False]
    assert fault_proxy.faulted() == 0


def test_updating_is_shown_for_the_chosen_duration_then_active(
    account: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    fault_proxy.report_updating(TABLE, seconds=0.3)
    dynamodb = client(fault_proxy.url)

    during = dynamodb.describe_table(TableName=TABLE)["Table"]["TableStatus"]
    time.sleep(0.4)
    after = dynamodb.describe_table(TableName=TABLE)["Table"]["TableStatus"]

    assert (during, after) == ("UPDATING", "ACTIVE")


def test_updating_with_rejected_writes_answers_update_table_with_resource_in_use(
    account: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    fault_proxy.report_updating(TABLE, calls=1, reject_writes=True)
    dynamodb = client(fault_proxy.url)

    with pytest.raises(dynamodb.exceptions.ResourceInUseException):
        dynamodb.update_table(TableName=TABLE, DeletionProtectionEnabled=True)
    assert dynamodb.describe_table(TableName=TABLE)["Table"]["TableStatus"] == "UPDATING"
    dynamodb.update_table(TableName=TABLE, DeletionProtectionEnabled=True)

    assert [r.outcome for r in fault_proxy.records] == [
        "ResourceInUseException",
        FORWARDED,
        FORWARDED,
    ]


def test_an_answer_rewrite_changes_what_the_client_reads_and_nothing_on_the_server(
    account: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    def disabled(answer: dict[str, Any]) -> None:
        recovery = answer["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        recovery["PointInTimeRecoveryStatus"] = "DISABLED"

    fault_proxy.rewrite_answer("UpdateContinuousBackups", disabled, table=TABLE)
    # Legacy mode retries on a CRC32 mismatch, so RetryAttempts == 0 proves the rewrite's CRC32.
    dynamodb = client(fault_proxy.url, mode="legacy", attempts=3)
    specification = {"PointInTimeRecoveryEnabled": True}

    answers = [
        dynamodb.update_continuous_backups(
            TableName=TABLE, PointInTimeRecoverySpecification=specification
        )
        for _ in range(2)
    ]

    statuses = [
        a["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
            "PointInTimeRecoveryStatus"
        ]
        for a in answers
    ]
    assert statuses == ["DISABLED", "ENABLED"]  # times=1: the second answer is the server's own
    assert {a["ResponseMetadata"]["RetryAttempts"] for a in answers} == {0}
    assert [r.rewritten for r in fault_proxy.records] == [True, False]
    on_server = client(account.url).describe_continuous_backups(TableName=TABLE)
    recovery = on_server["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert recovery["PointInTimeRecoveryStatus"] == "ENABLED"


def test_a_hook_deletes_a_table_when_its_call_arrives(
    account: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    seen: list[Call] = []

    def delete_table(call: Call) -> None:
        seen.append(call)
        client(call.backend_url).delete_table(TableName=call.table)

    fault_proxy.on_call("UpdateContinuousBackups", delete_table, table=TABLE)
    dynamodb = client(fault_proxy.url)
    specification = {"PointInTimeRecoveryEnabled": True}

    with pytest.raises(dynamodb.exceptions.TableNotFoundException):
        dynamodb.update_continuous_backups(
            TableName=TABLE, PointInTimeRecoverySpecification=specification
        )
    dynamodb.update_continuous_backups(
        TableName=OTHER, PointInTimeRecoverySpecification=specification
    )

    assert [(c.operation, c.table) for c in seen] == [("UpdateContinuousBackups", TABLE)]
    assert seen[0].body["PointInTimeRecoverySpecification"] == specification
    assert client(account.url).list_tables()["TableNames"] == [OTHER]


def test_a_failing_hook_fails_the_with_block(moto: MotoServer) -> None:
    def broken(call: Call) -> None:
        raise KeyError(call.operation)

    with pytest.raises(RuntimeError) as raised, FaultProxy(moto.url) as proxy:
        proxy.on_call("ListTables", broken)
        client(proxy.url).list_tables()

    assert isinstance(raised.value.__cause__, KeyError)


def test_counts_are_exact_under_concurrent_calls(
    account: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    fault_proxy.fail("DescribeTable", "ResourceInUseException", tables=[OTHER], times=5)
    dynamodb = client(fault_proxy.url)  # one client, shared across threads as the CLI will
    errors: list[str] = []

    def work(name: str) -> None:
        for _ in range(10):
            try:
                dynamodb.describe_table(TableName=name)
            except ClientError as error:
                errors.append(error.response["Error"]["Code"])

    threads = [threading.Thread(target=work, args=(n,)) for n in (TABLE, OTHER) * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert fault_proxy.counts() == {"DescribeTable": 80}
    assert fault_proxy.table_counts() == {
        ("DescribeTable", TABLE): 40,
        ("DescribeTable", OTHER): 40,
    }
    assert fault_proxy.faulted("DescribeTable", OTHER) == 5 == len(errors)
    assert fault_proxy.forwarded() == 75


def test_after_the_block_the_proxy_refuses_connections(moto: MotoServer) -> None:
    with FaultProxy(moto.url) as proxy:
        url = proxy.url
        client(url).list_tables()

    with pytest.raises(EndpointConnectionError):
        client(url).list_tables()


def test_the_backend_must_be_on_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy("http://dynamodb.us-east-1.amazonaws.com:443")


# -- Security Hub: AWS's rules that moto lacks --------------------------------------------------

PRODUCT = f"arn:aws:securityhub:{REGION}:123456789012:product/123456789012/default"


def hub_client(url: str) -> Any:
    return boto3.client(
        "securityhub",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def asff(finding_id: str, compliance: str, workflow: str, updated: str) -> dict[str, Any]:
    """A finding BatchImportFindings accepts (botocore validates it on the way out)."""
    return {
        "SchemaVersion": "2018-10-08",
        "Id": finding_id,
        "ProductArn": PRODUCT,
        "GeneratorId": "sentinel-harden/test",
        "AwsAccountId": "123456789012",
        "Types": ["Software and Configuration Checks"],
        "CreatedAt": "2026-01-01T00:00:00.000Z",
        "UpdatedAt": updated,
        "Severity": {"Label": "HIGH"},
        "Title": "t",
        "Description": "d",
        "Resources": [{"Type": "AwsDynamoDbTable", "Id": f"arn:aws:dynamodb:::table/{finding_id}"}],
        "Compliance": {"Status": compliance},
        "Workflow": {"Status": workflow},
        "RecordState": "ACTIVE",
    }


def stored(url: str) -> dict[str, dict[str, Any]]:
    """What moto itself holds, read past the proxy."""
    return {f["Id"]: f for f in hub_client(url).get_findings()["Findings"]}


@pytest.fixture
def hub(moto: MotoServer) -> MotoServer:
    moto.reset()
    hub_client(moto.url).enable_security_hub()
    return moto


def test_an_import_keeps_a_stored_findings_workflow_and_a_new_one_takes_its_own(
    hub: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    proxied = hub_client(fault_proxy.url)
    proxied.batch_import_findings(Findings=[asff("a", "FAILED", "NEW", "2026-01-01T00:00:00.000Z")])
    later = [
        asff("a", "PASSED", "RESOLVED", "2026-01-02T00:00:00.000Z"),
        asff("b", "PASSED", "RESOLVED", "2026-01-02T00:00:00.000Z"),
    ]
    answer = proxied.batch_import_findings(Findings=later)
    assert answer["SuccessCount"] == 2
    found = stored(hub.url)
    # AWS takes Workflow on creation only: "a" was created NEW and stays so; the rest updates.
    assert found["a"]["Workflow"] == {"Status": "NEW"}
    assert (found["a"]["Compliance"]["Status"], found["a"]["UpdatedAt"]) == (
        "PASSED",
        "2026-01-02T00:00:00.000Z",
    )
    assert found["b"]["Workflow"] == {"Status": "RESOLVED"}
    assert fault_proxy.calls("securityhub:BatchImportFindings") == 2  # its own reads uncounted


def test_security_hub_reopens_a_resolved_finding_whose_compliance_leaves_passed(
    hub: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    proxied = hub_client(fault_proxy.url)
    stamp = "2026-01-01T00:00:00.000Z"
    proxied.batch_import_findings(Findings=[asff("a", "PASSED", "RESOLVED", stamp)])
    proxied.batch_import_findings(Findings=[asff("a", "PASSED", "NEW", stamp)])
    assert stored(hub.url)["a"]["Workflow"] == {"Status": "RESOLVED"}  # kept
    proxied.batch_import_findings(Findings=[asff("a", "FAILED", "RESOLVED", stamp)])
    assert stored(hub.url)["a"]["Workflow"] == {"Status": "NEW"}  # reopened, as AWS does


def test_batch_update_findings_changes_only_the_workflow_and_answers_as_aws(
    hub: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    proxied = hub_client(fault_proxy.url)
    proxied.batch_import_findings(Findings=[asff("a", "PASSED", "NEW", "2026-01-01T00:00:00.000Z")])
    before = stored(hub.url)["a"]
    answer = proxied.batch_update_findings(  # botocore parses it with AWS's output shape
        FindingIdentifiers=[
            {"Id": "a", "ProductArn": PRODUCT},
            {"Id": "missing", "ProductArn": PRODUCT},
        ],
        Workflow={"Status": "RESOLVED"},
    )
    assert answer["ProcessedFindings"] == [{"Id": "a", "ProductArn": PRODUCT}]
    assert answer["UnprocessedFindings"] == [
        {
            "FindingIdentifier": {"Id": "missing", "ProductArn": PRODUCT},
            "ErrorCode": "FindingNotFound",
            "ErrorMessage": "Finding Not Found",
        }
    ]
    after = stored(hub.url)["a"]
    assert after["Workflow"] == {"Status": "RESOLVED"}
    assert {**after, "Workflow": before["Workflow"]} == before  # nothing else, not UpdatedAt
    assert "missing" not in stored(hub.url)  # an update never creates a finding
    # A later import keeps what the update set.
    proxied.batch_import_findings(Findings=[asff("a", "PASSED", "NEW", "2026-01-03T00:00:00.000Z")])
    assert stored(hub.url)["a"]["Workflow"] == {"Status": "RESOLVED"}


def test_batch_update_findings_is_counted_and_faulted_like_any_call(
    hub: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    proxied = hub_client(fault_proxy.url)
    proxied.batch_import_findings(Findings=[asff("a", "PASSED", "NEW", "2026-01-01T00:00:00.000Z")])
    fault_proxy.fail("securityhub:BatchUpdateFindings", REST_ERRORS["AccessDeniedException"])
    with pytest.raises(ClientError) as denied:
        proxied.batch_update_findings(
            FindingIdentifiers=[{"Id": "a", "ProductArn": PRODUCT}],
            Workflow={"Status": "RESOLVED"},
        )
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "securityhub:BatchUpdateFindings" in denied.value.response["Error"]["Message"]
    assert stored(hub.url)["a"]["Workflow"] == {"Status": "NEW"}  # never reached moto
    assert fault_proxy.faulted("securityhub:BatchUpdateFindings") == 1


def test_get_findings_applies_the_filters_moto_ignores(
    hub: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    stamp = "2026-01-01T00:00:00.000Z"
    every = [asff(i, "FAILED", "NEW", stamp) for i in ("a", "b", "c")]
    hub_client(hub.url).batch_import_findings(Findings=every)
    assert len(stored(hub.url)) == 3  # moto alone: the filter is ignored below as well
    wanted = {
        "Id": [{"Value": "a", "Comparison": "EQUALS"}, {"Value": "c", "Comparison": "EQUALS"}]
    }
    assert len(hub_client(hub.url).get_findings(Filters=wanted)["Findings"]) == 3
    proxied = hub_client(fault_proxy.url)
    assert {f["Id"] for f in proxied.get_findings(Filters=wanted)["Findings"]} == {"a", "c"}
    prefix = {"ResourceId": [{"Value": "arn:aws:dynamodb:::table/b", "Comparison": "PREFIX"}]}
    assert [f["Id"] for f in proxied.get_findings(Filters=prefix)["Findings"]] == ["b"]
    paged = proxied.get_paginator("get_findings").paginate(PaginationConfig={"PageSize": 2})
    assert [len(page["Findings"]) for page in paged] == [2, 1]
    too_many = {"Id": [{"Value": str(i), "Comparison": "EQUALS"} for i in range(21)]}
    with pytest.raises(ClientError) as refused:
        proxied.get_findings(Filters=too_many)
    assert refused.value.response["Error"]["Code"] == "InvalidInputException"
    assert refused.value.response["ResponseMetadata"]["RequestId"]  # AWS's answer, with an id
    assert fault_proxy.calls("securityhub:GetFindings") == 5


def test_each_finding_refused_as_aws_refuses_an_account_without_security_hub(
    hub: MotoServer,
    fault_proxy: FaultProxy,  # noqa: F811
) -> None:
    fault_proxy.refuse_each_finding(times=1)
    proxied = hub_client(fault_proxy.url)
    answer = proxied.batch_import_findings(
        Findings=[asff("a", "FAILED", "NEW", "2026-01-01T00:00:00.000Z")]
    )
    assert (answer["SuccessCount"], answer["FailedCount"]) == (0, 1)
    assert answer["FailedFindings"] == [
        {
            "Id": "a",
            "ErrorCode": "InvalidAccess",
            "ErrorMessage": "Account 123456789012 is not subscribed to AWS Security Hub",
        }
    ]
    assert answer["ResponseMetadata"]["RequestId"]
    assert stored(hub.url) == {}  # nothing stored, as AWS stores nothing
    again = proxied.batch_import_findings(
        Findings=[asff("a", "FAILED", "NEW", "2026-01-01T00:00:00.000Z")]
    )
    assert again["SuccessCount"] == 1  # times=1: the next call goes through
