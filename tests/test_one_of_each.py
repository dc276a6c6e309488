"""One of each (issue 22 item 2): one ARN reader, one DescribeContinuousBackups reader, one list of
replicas, one status per unreached target."""

from __future__ import annotations

from typing import Any

import pytest

from remediation import core
from remediation.cli import ExitStatus
from remediation.core import AwsError, Replica, TableState
from remediation.targets import SCP_DENY, Target
from tests.cli_process import UNPACED, run_cli
from tests.conftest import TableFactory
from tests.fault_proxy import FaultProxy
from tests.servers import MotoServer, aws_env


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "arn:aws:dynamodb:eu-west-1:111122223333:table/sentinel-a",
            core.Arn("aws", "dynamodb", "eu-west-1", "111122223333", "table/sentinel-a"),
        ),
        # The partition is the ARN's own, whatever the region's prefix would suggest.
        (
            "arn:aws-iso-b:dynamodb:us-isob-east-1:111122223333:table/t",
            core.Arn("aws-iso-b", "dynamodb", "us-isob-east-1", "111122223333", "table/t"),
        ),
        (
            "arn:aws-eusc:dynamodb:eusc-de-east-1:111122223333:table/t",
            core.Arn("aws-eusc", "dynamodb", "eusc-de-east-1", "111122223333", "table/t"),
        ),
        # An empty account (or region) field is None, never "".
        (
            "arn:aws:s3:::bucket/key:with:colons",
            core.Arn("aws", "s3", None, None, "bucket/key:with:colons"),
        ),
        (
            "arn:aws:iam::111122223333:role/r",
            core.Arn("aws", "iam", None, "111122223333", "role/r"),
        ),
        ("arn:aws:dynamodb:eu-west-1", None),
        ("sentinel-a", None),
        ("arn::dynamodb:eu-west-1:1:table/t", None),
        (None, None),
        (42, None),
    ],
)
def test_parse_arn_is_the_one_reader_of_arns(text: object, expected: core.Arn | None) -> None:
    assert core.parse_arn(text) == expected


def test_replica_regions_are_derived_from_the_replicas() -> None:
    state = TableState(
        "sentinel-global",
        replicas=(
            Replica("us-west-2", "111122223333"),
            Replica("eu-west-1", "999999999999"),  # same region as the table, another account
            Replica("us-west-2", "999999999999"),
        ),
    )
    assert state.replica_regions == ("eu-west-1", "us-west-2")
    assert TableState("sentinel-local").replica_regions == ()


def test_an_account_out_of_reach_is_failed_even_when_an_scp_refused_its_role() -> None:
    target = Target("111122223333", "eu-west-1", None)
    error = AwsError("sts:AssumeRole", "AccessDenied", f"... with an {SCP_DENY} ...")
    target.fail(error, account_wide=True)
    assert target.status == "failed"
    assert target.fails
    region = Target("111122223333", "eu-west-1", None)
    region.fail(AwsError("dynamodb:ListTables", "AccessDeniedException", SCP_DENY))
    assert region.status == "denied"  # a region an SCP closes stays reported, not failed


def _no_description(answer: dict[str, Any]) -> None:
    answer.clear()


def test_a_pitr_answer_without_its_description_is_unknown_not_off(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    server_table("sentinel-a", pitr=True, deletion_protection=True)
    fault_proxy.rewrite_answer("DescribeContinuousBackups", _no_description, times=None)
    result = run_cli(["harden", "--check", "--json", *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.FAILED, result.stderr
    assert "Traceback" not in result.stderr
    [table] = result.json()["tables"]
    assert table["before"]["pitr_enabled"] is None
    [read_error] = table["read_errors"]
    assert read_error["code"] == "NoRecoveryDescription"
    assert read_error["action"] == "dynamodb:DescribeContinuousBackups"
