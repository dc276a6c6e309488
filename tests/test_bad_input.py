"""Bad input and unusable AWS: one line on stderr, a documented exit code, JSON still JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediation.cli import ExitStatus
from tests.cli_process import run_cli
from tests.conftest import TableFactory
from tests.fault_proxy import FaultProxy
from tests.servers import MotoServer, aws_env, free_port


def assert_one_clear_line(stderr: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--table", "bad name"], "not a valid DynamoDB table name"),
        (["--table", "ab"], "not a valid DynamoDB table name"),
        (["--table", "arn:aws:dynamodb:us-east-1:123:table/x"], "not a DynamoDB table ARN"),
        (["--table", "arn:aws:s3:::bucket"], "not a DynamoDB table ARN"),
        (["--table", "sentinel-a", "--table", "sentinel-a"], "named twice"),
        (
            [
                "--table",
                "sentinel-a",
                "--table",
                "arn:aws:dynamodb:us-east-1:123456789012:table/sentinel-a",
            ],
            "named twice",
        ),
        (["--prefix", ""], "--allow-all-tables"),
        (["--rate", "Scan=5"], "--rate takes OPERATION=PER_SECOND"),
        (["--rate", "DescribeTable=0"], "positive"),
        (["--workers", "0"], "--workers"),
        (["--bogus"], "unrecognized arguments"),
        (["--exclude", ""], "--exclude needs a glob"),
        (["--exclude"], "expected one argument"),
        (["--min-recovery-days", "0"], "--min-recovery-days must be 1 to 35, got 0"),
        (["--min-recovery-days", "36"], "--min-recovery-days must be 1 to 35, got 36"),
        (["--min-recovery-days", "two"], "invalid int value"),
        (["--min-recovery-days", "7", "--no-pitr"], "--no-pitr leaves alone"),
        (["--check", "--force"], "--check never changes anything"),
        (["--check", "--dry-run"], "--check never changes anything"),
        (["--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (["--output", "/nonexistent-folder/findings.json"], "no such folder"),
        (["--output", "/"], "is a folder, not a file"),
        (["--security-hub", "--dry-run"], "--dry-run changes nothing"),
        # Issue 21 item 15: no scheme is bad input, not an endpoint AWS could not be reached at.
        (["--endpoint-url", "127.0.0.1:5000"], "--endpoint-url needs http:// or https://"),
        (["--endpoint-url", "localhost:5000"], "--endpoint-url needs http:// or https://"),
        (["--endpoint-url", "not a url"], "--endpoint-url needs http:// or https://"),
        (["--endpoint-url", "http://"], "--endpoint-url needs http:// or https://"),
    ],
)
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_bad_input_is_one_line_and_exit_3(
    server: MotoServer, args: list[str], words: str, as_json: bool
) -> None:
    extra = ["--json"] if as_json else []
    result = run_cli(["harden", *args, *extra], aws_env(server.url))
    assert result.returncode == ExitStatus.USAGE == 3
    assert_one_clear_line(result.stderr)
    assert words in result.stderr
    if as_json:
        assert result.json()["error"]
    else:
        assert result.stdout == ""


@pytest.mark.parametrize("order", [["--json", "--format", "junit"], ["--format", "asff", "--json"]])
def test_json_with_another_format_is_refused_not_settled_by_the_last_flag(
    server: MotoServer, order: list[str]
) -> None:
    result = run_cli(["harden", *order], aws_env(server.url))
    assert result.returncode == ExitStatus.USAGE
    assert_one_clear_line(result.stderr)
    assert "--json is --format json: it cannot go with --format" in result.stderr
    assert result.json()["error"]  # --json asked for a document: the error is one


def test_an_arn_in_another_region_is_refused(server: MotoServer) -> None:
    arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/sentinel-a"
    result = run_cli(["harden", "--table", arn, "--json"], aws_env(server.url))
    assert result.returncode == ExitStatus.USAGE
    assert_one_clear_line(result.stderr)
    assert "eu-west-1" in result.stderr and "--region eu-west-1" in result.stderr
    assert result.json()["error"]


def test_an_arn_of_another_account_fails_that_table_and_touches_nothing(
    server: MotoServer, server_table: TableFactory
) -> None:
    server_table("sentinel-a")
    arn = "arn:aws:dynamodb:us-east-1:999999999999:table/sentinel-a"
    result = run_cli(["harden", "--table", arn, "--json", "--force"], aws_env(server.url))
    assert result.returncode == ExitStatus.FAILED
    [entry] = result.json()["tables"]
    assert entry["error"]["code"] == "AccountMismatch"


def test_empty_prefix_with_opt_in_selects_every_table(
    server: MotoServer, server_table: TableFactory
) -> None:
    server_table("alpha")
    server_table("sentinel-a")
    result = run_cli(
        ["harden", "--prefix", "", "--allow-all-tables", "--dry-run", "--json"],
        aws_env(server.url),
    )
    assert result.returncode == 0
    assert [t["table_name"] for t in result.json()["tables"]] == ["alpha", "sentinel-a"]


def _env_without(server: MotoServer, *keys: str) -> dict[str, str]:
    env = aws_env(server.url)
    for key in keys:
        env.pop(key)
    return env


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("no-credentials", "no AWS credentials"),
        ("unknown-profile", "profile (nope) could not be found"),
        ("no-region", "no AWS region"),
        ("refused-endpoint", "cannot reach the DynamoDB endpoint"),
        ("malformed-endpoint", "invalid endpoint URL"),
    ],
)
def test_unusable_aws_is_one_line_and_exit_4(
    server: MotoServer, tmp_path: Path, case: str, words: str, as_json: bool
) -> None:
    args = ["harden", "--force"] + (["--json"] if as_json else [])
    env = aws_env(server.url)
    if case == "no-credentials":
        env = _env_without(server, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        env["HOME"] = str(tmp_path)
    elif case == "unknown-profile":
        config = tmp_path / "config"
        config.write_text("[profile other]\nregion = us-east-1\n")
        env["AWS_CONFIG_FILE"] = str(config)
        args += ["--aws-profile", "nope"]
    elif case == "no-region":
        env = _env_without(server, "AWS_DEFAULT_REGION")
    elif case == "refused-endpoint":
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    elif case == "malformed-endpoint":
        env["AWS_ENDPOINT_URL"] = "not a url"  # botocore's to judge: --endpoint-url is ours
    result = run_cli(args, env)
    assert result.returncode == ExitStatus.AWS_SETUP == 4
    assert_one_clear_line(result.stderr)
    assert words in result.stderr
    if as_json:
        assert words in result.json()["error"]


SHOWN_SECRET = (
    '{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", '
    '"plaintext": "\\"hunter2\\""}'
)
"""A secret as `pulumi stack export --show-secrets` writes it: never to be printed."""

BAD_STATES = {
    "not JSON": (
        '{"version": 3, "deployment": {"resources": [{"outputs": {"token": ' + SHOWN_SECRET,
        "not valid JSON",
    ),
    "not a deployment": (
        '{"version": 4, "terraform_version": "1.9.0", "outputs": {"t": ' + SHOWN_SECRET + "}}",
        "not a Pulumi deployment",
    ),
    "unsupported version": (
        '{"version": 9, "deployment": {"resources": [{"urn": "urn:pulumi:dev::p::t::n", '
        '"outputs": {"token": ' + SHOWN_SECRET + "}}]}}",
        "deployment version 9 is not supported",
    ),
    "missing": (None, "no such file or folder"),
    "no state in folder": (None, "no Pulumi state here"),
}


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("case", list(BAD_STATES))
def test_a_bad_pulumi_state_is_one_line_and_exit_3_before_any_aws_call(
    fault_proxy: FaultProxy, tmp_path: Path, case: str, as_json: bool
) -> None:
    content, words = BAD_STATES[case]
    path = tmp_path / "state.json"
    if case == "no state in folder":
        path = tmp_path / "backend"
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    extra = ["--json"] if as_json else []
    result = run_cli(
        ["harden", "--pulumi-state", str(path), "--force", *extra], aws_env(fault_proxy.url)
    )
    assert result.returncode == ExitStatus.USAGE == 3
    assert_one_clear_line(result.stderr)
    assert f"--pulumi-state {path}: {words}" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    assert sum(fault_proxy.counts().values()) == 0  # read before any AWS call
    if as_json:
        assert words in result.json()["error"]
    else:
        assert result.stdout == ""


def test_include_managed_without_a_state_is_refused(server: MotoServer) -> None:
    result = run_cli(["harden", "--include-managed", "--json"], aws_env(server.url))
    assert result.returncode == ExitStatus.USAGE
    assert_one_clear_line(result.stderr)
    assert "--include-managed needs --pulumi-state" in result.stderr
    assert result.json()["error"]
