"""No pass without a check, one JSON document on every exit path, and one `error:` line for
whatever answers instead of AWS. The CLI runs as a subprocess against moto_server, with AWS's
(and a proxy's) answers injected by the fault proxy."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import boto3
import pytest

from remediation.cli import ExitStatus
from tests.cli_process import ROOT, UNPACED, run_cli
from tests.conftest import create_table, protection
from tests.fault_proxy import Call, FaultProxy, stranger, web_page
from tests.servers import MotoServer, aws_env


def without_region(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in ("AWS_DEFAULT_REGION", "AWS_REGION")}


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- --json on every exit path -----------------------------------------------------------------


def test_a_setup_or_usage_error_writes_a_document_with_every_key_of_a_run(
    server: MotoServer, server_client: Any
) -> None:
    create_table(server_client, "sentinel-a")
    env = aws_env(server.url)
    run = run_cli(["harden", "--dry-run", "--json", *UNPACED], env)
    assert run.returncode == ExitStatus.OK
    keys = set(run.json())

    setup = run_cli(["harden", "--dry-run", "--json"], without_region(env))
    assert setup.returncode == ExitStatus.AWS_SETUP
    assert "no AWS region" in one_error_line(setup.stderr)
    usage = run_cli(["harden", "--format", "json", "--workers", "0"], env)
    assert usage.returncode == ExitStatus.USAGE
    for document in (setup.json(), usage.json()):
        assert set(document) == keys
        assert document["tables"] == [] and document["targets"] == []
        assert document["total"] == document["pending"] == 0
        assert document["error"]


def test_ctrl_c_before_any_table_is_read_prints_the_interrupted_document(
    server: MotoServer, server_client: Any, fault_proxy: FaultProxy
) -> None:
    create_table(server_client, "sentinel-a")
    listing = threading.Event()

    def slow_listing(_call: Call) -> None:
        listing.set()
        time.sleep(3)

    fault_proxy.on_call("ListTables", slow_listing, times=None)
    process = subprocess.Popen(
        [sys.executable, "-m", "remediation", "harden", "--force", "--json", *UNPACED],
        env=aws_env(fault_proxy.url),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert listing.wait(timeout=30)  # ListTables is in flight: no table has been read
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == ExitStatus.INTERRUPTED, stderr
    assert "Traceback" not in stderr
    assert "Interrupted before any change: nothing was changed." in stderr
    document = json.loads(stdout)
    assert document["interrupted"] is True and document["tables"] == []
    keys = set(run_cli(["harden", "--dry-run", "--json", *UNPACED], aws_env(server.url)).json())
    assert set(document) == keys
    assert protection(server_client, "sentinel-a") == (False, False)


# -- no pass without a check -------------------------------------------------------------------


@pytest.mark.parametrize("mode", [["--check"], ["--force"], ["--dry-run"], []])
def test_a_run_that_selects_no_table_is_not_a_pass(
    server: MotoServer, server_client: Any, mode: list[str]
) -> None:
    """Issue 21 item 13: checking or hardening, a typo exits 4 (a CI job that hardens must not
    go green on one); --allow-empty says an empty selection is meant."""
    create_table(server_client, "sentinel-a", deletion_protection=True, pitr=True)
    env = aws_env(server.url)
    typo = run_cli(["harden", *mode, "--prefix", "sentinl-", "--json"], env)
    assert typo.returncode == ExitStatus.AWS_SETUP == 4
    line = one_error_line(typo.stderr)
    assert line.startswith("error: nothing was checked: no table matches prefix 'sentinl-'")
    assert "--allow-empty" in line
    assert typo.json()["error"].startswith("nothing was checked")

    wrong_region = run_cli(["harden", *mode, "--region", "eu-west-1"], env)
    assert wrong_region.returncode == ExitStatus.AWS_SETUP
    assert "in eu-west-1" in one_error_line(wrong_region.stderr)

    allowed = run_cli(["harden", *mode, "--prefix", "sentinl-", "--allow-empty"], env)
    assert allowed.returncode == ExitStatus.OK, allowed.stderr
    assert allowed.stderr == ""

    checked = run_cli(["harden", *mode, *UNPACED], env)
    assert checked.returncode == ExitStatus.OK, checked.stderr


# -- a --table ARN names its region ------------------------------------------------------------


def test_a_table_arn_names_the_region_when_none_is_configured(server: MotoServer) -> None:
    client = boto3.client(
        "dynamodb",
        endpoint_url=server.url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    create_table(client, "sentinel-a")
    arn = client.describe_table(TableName="sentinel-a")["Table"]["TableArn"]
    env = without_region(aws_env(server.url))
    result = run_cli(["harden", "--table", arn, "--force", *UNPACED], env)
    assert result.returncode == ExitStatus.OK, result.stderr
    assert protection(client, "sentinel-a") == (True, True)
    document = run_cli(["harden", "--table", arn, "--check", "--json", *UNPACED], env).json()
    assert document["region"] == "eu-west-1"
    assert document["tables"][0]["result"] == "already_protected"


def test_a_table_arn_in_a_region_aws_does_not_know_is_one_error_line_naming_it(
    server: MotoServer,
) -> None:
    arn = "arn:aws:dynamodb:xx-nowhere-1:123456789012:table/sentinel-a"
    env = without_region(aws_env(server.url))
    result = run_cli(["harden", "--table", arn, "--check", "--json"], env)
    assert result.returncode == ExitStatus.AWS_SETUP
    line = one_error_line(result.stderr)
    assert line.startswith("error: 'xx-nowhere-1' is not a region AWS knows")
    assert result.json()["tables"] == []


# -- answers that are not AWS's ----------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 403, 502])
def test_a_web_page_instead_of_aws_is_one_error_line_never_html_never_no_tables(
    server: MotoServer, server_client: Any, fault_proxy: FaultProxy, status: int
) -> None:
    create_table(server_client, "sentinel-a")
    fault_proxy.fail("ListTables", web_page(status), times=None)
    result = run_cli(["harden", "--force", *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.AWS_SETUP
    line = one_error_line(result.stderr)
    assert f"HTTP {status} answered with a web page, not by AWS" in line
    assert "<" not in result.stdout + result.stderr
    assert "No tables found" not in result.stdout
    assert protection(server_client, "sentinel-a") == (False, False)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("text/plain", "Blocked by policy"), ("application/json", "{}")],
    ids=["plain-text", "empty-json"],
)
def test_any_answer_without_aws_request_id_is_not_aws_whatever_its_type(
    server: MotoServer, server_client: Any, fault_proxy: FaultProxy, content_type: str, body: str
) -> None:
    create_table(server_client, "sentinel-a")
    fault_proxy.fail("ListTables", stranger(200, content_type, body), times=None)
    result = run_cli(["harden", "--force", "--json", *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.AWS_SETUP, result.stderr
    line = one_error_line(result.stderr)
    assert "not by AWS" in line and content_type in line
    assert result.json()["tables"] == []
    assert protection(server_client, "sentinel-a") == (False, False)
    # One table's read answered so: that table fails, in one line, never as a traceback.
    fault_proxy.clear_faults()
    fault_proxy.fail("DescribeTable", stranger(200, content_type, body), times=None)
    check = run_cli(
        ["harden", "--check", "--table", "sentinel-a", "--json"], aws_env(fault_proxy.url)
    )
    assert check.returncode == ExitStatus.FAILED, check.stderr
    assert "Traceback" not in check.stderr
    assert check.json()["tables"][0]["error"]["code"] == "NotAnAwsAnswer"


@pytest.mark.parametrize("operation", ["sts:GetCallerIdentity", "sts:AssumeRole"])
def test_a_web_page_answering_sts_is_one_error_line_and_a_whole_json_document(
    server: MotoServer, fault_proxy: FaultProxy, operation: str
) -> None:
    fault_proxy.fail(operation, web_page(200), times=None)
    reach = (
        ["--role-arn", "arn:aws:iam::111111111111:role/x"]
        if operation == "sts:AssumeRole"
        else ["--region", "us-east-1", "--region", "eu-west-1"]
    )
    result = run_cli(["harden", "--check", "--json", *reach], aws_env(fault_proxy.url))
    assert result.returncode in (ExitStatus.FAILED, ExitStatus.AWS_SETUP), result.stderr
    assert "Traceback" not in result.stderr and "<" not in result.stdout + result.stderr
    document = result.json()
    assert document["tables"] == []
    named = result.stderr + json.dumps(document)
    assert "NotAnAwsAnswer" in named or "not by AWS" in named


def test_a_web_page_answering_one_tables_read_fails_that_table_in_one_line(
    server: MotoServer, server_client: Any, fault_proxy: FaultProxy
) -> None:
    create_table(server_client, "sentinel-a")
    create_table(server_client, "sentinel-b")
    fault_proxy.fail("DescribeTable", web_page(403), tables=["sentinel-a"], times=None)
    result = run_cli(["harden", "--force", "--json", *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.FAILED
    assert "<" not in result.stdout + result.stderr
    tables = {t["table_name"]: t for t in result.json()["tables"]}
    assert tables["sentinel-a"]["error"]["code"] == "NotAnAwsAnswer"
    assert tables["sentinel-b"]["result"] == "hardened"
    assert protection(server_client, "sentinel-b") == (True, True)


def test_a_region_aws_does_not_know_is_one_error_line_naming_it(
    fault_proxy: FaultProxy, server: MotoServer
) -> None:
    # No such region has an endpoint: a proxy in the way answers its own error page.
    fault_proxy.fail("ListTables", web_page(502), regions=["xx-nowhere-9"], times=None)
    result = run_cli(["harden", "--dry-run", "--region", "xx-nowhere-9"], aws_env(fault_proxy.url))
    assert result.returncode == ExitStatus.AWS_SETUP
    line = one_error_line(result.stderr)
    assert line.startswith("error: 'xx-nowhere-9' is not a region AWS knows")
    assert "<" not in result.stdout + result.stderr
