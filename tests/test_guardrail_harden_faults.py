"""`harden --guardrail` end to end: the real CLI process, moto_server behind the fault proxy, and
AWS's answers moto lacks (the 15-second block after a policy update, a policy changed between the
read and the write, Ctrl-C part-way), each read back from the server."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from typing import Any

import boto3
import pytest

from remediation import guardrail
from remediation.cli import ExitStatus
from remediation.guardrail import Principals
from tests.cli_process import ROOT, UNPACED, run_cli
from tests.conftest import create_table
from tests.fault_proxy import FaultProxy
from tests.guardrail_support import arn_of, assumed_role, policy_of
from tests.servers import REGION, MotoServer, aws_env

BREAK_GLASS = "arn:aws:iam::123456789012:role/BreakGlass"
HARDENER = "arn:aws:iam::123456789012:role/ops/SentinelHardener"
GUARDED = ["harden", "--guardrail", "--break-glass-role", BREAK_GLASS, *UNPACED]
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
OTHERS = {
    "Sid": "AppReadOnly",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:role/App"},
    "Action": "dynamodb:GetItem",
}


@pytest.fixture
def env(server: MotoServer, fault_proxy: FaultProxy) -> dict[str, str]:
    """The CLI through the proxy, as the role SentinelHardener under the path /ops/."""
    iam, sts = (
        boto3.client(service, endpoint_url=server.url, region_name=REGION, **KEYS)
        for service in ("iam", "sts")
    )
    environment = aws_env(fault_proxy.url)
    environment.update(assumed_role(iam, sts, "SentinelHardener", "/ops/"))
    return environment


def ours(client: Any, name: str) -> dict[str, Any]:
    principals = Principals(break_glass=(BREAK_GLASS,), hardener=HARDENER)
    statement: dict[str, Any] = guardrail.table_policy(arn_of(client, name), principals)[
        "Statement"
    ][0]
    return statement


def others_policy(client: Any, name: str, sid: str = "AppReadOnly") -> str:
    statement = {**OTHERS, "Sid": sid, "Resource": arn_of(client, name)}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_a_put_within_the_15_second_block_waits_and_retries_within_wait_timeout(
    env: dict[str, str], server_client: Any, fault_proxy: FaultProxy
) -> None:
    name = create_table(server_client, "sentinel-a", deletion_protection=True, pitr=True)
    fault_proxy.block_policy_updates(seconds=4)
    proxied = boto3.client(
        "dynamodb",
        endpoint_url=fault_proxy.url,
        region_name=REGION,
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )

    def someone_else_writes(call: Any) -> None:
        # As the CLI reads the table, someone else updates its policy: the block starts now.
        proxied.put_resource_policy(
            ResourceArn=arn_of(server_client, name), Policy=others_policy(server_client, name)
        )

    fault_proxy.on_call("DescribeTable", someone_else_writes, table=name, times=1)
    result = run_cli([*GUARDED, "--force", "--json"], env)
    assert result.returncode == ExitStatus.OK, result.stderr
    answers = [r.outcome for r in fault_proxy.records if r.operation == "PutResourcePolicy"]
    assert answers[0] == "forwarded"  # the other writer's
    assert answers[1] == "ResourceInUseException"  # ours, within the block
    assert answers[-1] == "forwarded"
    found = policy_of(server_client, name)
    assert found is not None
    assert [s["Sid"] for s in found["Statement"]] == ["AppReadOnly", guardrail.SID]
    assert found["Statement"][1] == ours(server_client, name)


def test_a_block_longer_than_wait_timeout_fails_that_table_with_aws_answer(
    env: dict[str, str], server_client: Any, fault_proxy: FaultProxy
) -> None:
    name = create_table(server_client, "sentinel-a", deletion_protection=True, pitr=True)
    fault_proxy.block_policy_updates(seconds=60)
    proxied = boto3.client(
        "dynamodb",
        endpoint_url=fault_proxy.url,
        region_name=REGION,
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    before = proxied.put_resource_policy(
        ResourceArn=arn_of(server_client, name), Policy=others_policy(server_client, name)
    )["RevisionId"]
    result = run_cli([*GUARDED, "--force", "--json", "--wait-timeout", "1"], env)
    assert result.returncode == ExitStatus.FAILED, result.stderr
    (entry,) = result.json()["tables"]
    assert entry["result"] == "failed"
    assert entry["error"]["code"] == "ResourceInUseException"
    assert entry["error"]["control"] == "dynamodb-guardrail"
    answer = server_client.get_resource_policy(ResourceArn=arn_of(server_client, name))
    assert answer["RevisionId"] == before  # the other writer's policy, untouched


def test_a_policy_changed_between_read_and_write_is_merged_again_never_overwritten(
    env: dict[str, str], server_client: Any, fault_proxy: FaultProxy, server: MotoServer
) -> None:
    name = create_table(server_client, "sentinel-a", deletion_protection=True, pitr=True)
    arn = arn_of(server_client, name)

    def someone_else_writes(call: Any) -> None:
        backend = boto3.client(
            "dynamodb",
            endpoint_url=server.url,
            region_name=REGION,
            aws_access_key_id="t",
            aws_secret_access_key="t",
        )
        backend.put_resource_policy(
            ResourceArn=arn, Policy=others_policy(server_client, name, "Late")
        )

    fault_proxy.on_call("PutResourcePolicy", someone_else_writes, table=name, times=1)
    result = run_cli([*GUARDED, "--force"], env)
    assert result.returncode == ExitStatus.OK, result.stderr
    answers = [r.outcome for r in fault_proxy.records if r.operation == "PutResourcePolicy"]
    assert len(answers) == 2  # the first refused by its ExpectedRevisionId (forwarded: moto's)
    found = policy_of(server_client, name)
    assert found is not None
    assert [s["Sid"] for s in found["Statement"]] == ["Late", guardrail.SID]
    assert fault_proxy.calls("GetResourcePolicy", name) == 3  # read, read again, read back


def test_calls_are_the_minimum_one_read_one_put_one_read_back(
    env: dict[str, str], server_client: Any, fault_proxy: FaultProxy
) -> None:
    names = [
        create_table(server_client, f"sentinel-{i:03d}", deletion_protection=True, pitr=True)
        for i in range(120)
    ]
    held = names[::3]
    for name in held:
        server_client.put_resource_policy(
            ResourceArn=arn_of(server_client, name),
            Policy=json.dumps({"Version": "2012-10-17", "Statement": [ours(server_client, name)]}),
        )
    result = run_cli([*GUARDED, "--force", "--json"], env)
    assert result.returncode == ExitStatus.OK, result.stderr
    for name in names:
        assert fault_proxy.calls("GetResourcePolicy", name) == (1 if name in held else 2), name
        assert fault_proxy.calls("PutResourcePolicy", name) == (0 if name in held else 1), name
        assert fault_proxy.calls("DescribeTable", name) == 1
    assert fault_proxy.calls("ListTables") == math.ceil(len(names) / 100)
    assert fault_proxy.calls("UpdateTable") == fault_proxy.calls("UpdateContinuousBackups") == 0
    assert fault_proxy.calls("sts:GetCallerIdentity") == 1
    assert fault_proxy.calls("iam:GetRole") == 1


def test_an_interrupted_run_leaves_each_table_with_its_old_policy_or_the_merged_one(
    env: dict[str, str], server_client: Any, fault_proxy: FaultProxy
) -> None:
    names = [
        create_table(server_client, f"sentinel-{i:02d}", deletion_protection=True, pitr=True)
        for i in range(40)
    ]
    old = {}
    for name in names:
        server_client.put_resource_policy(
            ResourceArn=arn_of(server_client, name), Policy=others_policy(server_client, name)
        )
        old[name] = policy_of(server_client, name)
    process = subprocess.Popen(
        [sys.executable, "-m", "remediation", *GUARDED, "--force", "--workers", "2"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while fault_proxy.calls("PutResourcePolicy") < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == ExitStatus.INTERRUPTED, stderr
    assert "Traceback" not in stderr
    merged = {"Version": "2012-10-17"}
    kinds = []
    for name in names:
        found = policy_of(server_client, name)
        assert found is not None
        if found == old[name]:
            kinds.append("old")
        else:
            assert found == {
                **merged,
                "Statement": [*old[name]["Statement"], ours(server_client, name)],
            }, name
            kinds.append("merged")
    assert "merged" in kinds and "old" in kinds  # interrupted part-way, truly


def test_each_replica_gets_a_policy_of_its_own_arn_and_an_excluded_table_none(
    env: dict[str, str], server: MotoServer, fault_proxy: FaultProxy
) -> None:
    clients = {
        r: boto3.client("dynamodb", endpoint_url=server.url, region_name=r, **KEYS)
        for r in ("us-east-1", "eu-west-1")
    }
    for client in clients.values():
        create_table(client, "sentinel-global", deletion_protection=True, pitr=True)
    excluded = create_table(clients["us-east-1"], "sentinel-scratch")
    for region, client in clients.items():
        fault_proxy.show_replicas(
            arn_of(client, "sentinel-global"), [r for r in clients if r != region]
        )
    result = run_cli([*GUARDED, "--force", "--json", "--exclude", "sentinel-scratch"], env)
    assert result.returncode == ExitStatus.OK, result.stderr
    rows = {
        (t["region"], t["result"]) for t in result.json()["tables"] if t["table_name"] != excluded
    }
    assert rows == {("us-east-1", "hardened"), ("eu-west-1", "hardened")}
    for client in clients.values():
        found = policy_of(client, "sentinel-global")
        assert found is not None
        assert found["Statement"] == [ours(client, "sentinel-global")]  # its own ARN
        assert found["Statement"][0]["Resource"] == arn_of(client, "sentinel-global")
    assert policy_of(clients["us-east-1"], excluded) is None
    assert fault_proxy.calls("GetResourcePolicy", excluded) == 0


def test_security_hub_gets_a_guardrail_finding_per_table_closed_once_it_holds(
    env: dict[str, str], server: MotoServer, server_client: Any, fault_proxy: FaultProxy
) -> None:
    hub = boto3.client("securityhub", endpoint_url=server.url, region_name=REGION, **KEYS)
    hub.enable_security_hub()
    name = create_table(server_client, "sentinel-a", deletion_protection=True, pitr=True)
    first = run_cli([*GUARDED, "--check", "--security-hub"], env)
    assert first.returncode == ExitStatus.FAILED, first.stderr
    assert "Security Hub CSPM: 3 findings imported" in first.stdout
    guard_id = f"{arn_of(server_client, name)}/dynamodb-guardrail"
    found = {f["Id"]: f for f in hub.get_findings()["Findings"]}
    assert found[guard_id]["Compliance"]["Status"] == "FAILED"
    assert "SecurityControlId" not in found[guard_id]["Compliance"]  # FSBP has no such control
    second = run_cli([*GUARDED, "--force", "--security-hub"], env)
    assert second.returncode == ExitStatus.OK, second.stderr
    found = {f["Id"]: f for f in hub.get_findings()["Findings"]}
    assert found[guard_id]["Compliance"]["Status"] == "PASSED"
    assert found[guard_id]["Workflow"]["Status"] == "RESOLVED"
