"""`harden --guardrail` on moto in-process: the table policy read, judged, merged, put and read back
from the server, the hardener's own role found with its path, and every refusal one line."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from remediation import guardrail
from remediation.cli import ExitStatus, main
from remediation.guardrail import Mode, Principals
from tests.cli_process import UNPACED
from tests.conftest import create_table, protection
from tests.guardrail_support import arn_of, assumed_role, policy_of
from tests.pulumi_states import sentinel_export, write_json
from tests.servers import REGION

BREAK_GLASS = "arn:aws:iam::123456789012:role/BreakGlass"
DEPLOY = "arn:aws:iam::123456789012:role/deploy/PulumiDeploy"
HARDENER_PATH = "/aws-reserved/sso.amazonaws.com/"
HARDENER = f"arn:aws:iam::123456789012:role{HARDENER_PATH}SentinelHardener"
OTHERS = {
    "Sid": "AppReadOnly",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:role/App"},
    "Action": "dynamodb:GetItem",
    "Resource": "*",
}


class Result:
    def __init__(self, status: ExitStatus, stdout: str, stderr: str) -> None:
        self.status = status
        self.stdout = stdout
        self.stderr = stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


def cli(*args: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    status = main(["harden", *UNPACED, *args], io.StringIO(""), out, err)
    return Result(status, out.getvalue(), err.getvalue())


def guarded(*args: str) -> Result:
    return cli("--guardrail", "--break-glass-role", BREAK_GLASS, *args)


@pytest.fixture
def as_hardener(mocked_aws: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The CLI runs as an assumed role that lives under a path (as SSO roles do): STS answers
    `assumed-role/SentinelHardener/...`, without the path."""
    iam, sts = (boto3.client(service, region_name=REGION) for service in ("iam", "sts"))
    for key, value in assumed_role(iam, sts, "SentinelHardener", HARDENER_PATH).items():
        monkeypatch.setenv(key, value)
    return mocked_aws


def wanted(client: Any, name: str, mode: Mode = Mode.STRICT) -> dict[str, Any]:
    principals = Principals(break_glass=(BREAK_GLASS,), hardener=HARDENER)
    return guardrail.table_policy(arn_of(client, name), principals, mode)


def test_the_guardrail_is_put_read_back_and_names_the_hardener_with_its_path(
    as_hardener: Any,
) -> None:
    create_table(as_hardener, "sentinel-requests")
    create_table(as_hardener, "other-table")
    result = guarded("--force", "--json")
    assert result.status == ExitStatus.OK, result.stderr
    assert policy_of(as_hardener, "sentinel-requests") == wanted(as_hardener, "sentinel-requests")
    assert policy_of(as_hardener, "other-table") is None  # outside the selection: untouched
    document = result.json()
    (entry,) = document["tables"]
    assert entry["result"] == "hardened"
    assert entry["guardrail_changed"] is True
    assert entry["before"]["guardrail"] is False
    assert entry["after"]["guardrail"] is True
    assert "dynamodb-guardrail" in entry["planned"]
    assert document["guardrail"]["hardener_role_arn"] == HARDENER
    assert document["guardrail"]["hardener_role_source"].startswith(f"{HARDENER} (from iam:GetRole")
    assert document["guardrail"]["mode"] == "strict"
    assert document["guardrail"]["confirm_remove_self_access"] is False


def test_an_existing_policy_keeps_every_statement_someone_else_wrote(as_hardener: Any) -> None:
    name = create_table(as_hardener, "sentinel-requests", deletion_protection=True, pitr=True)
    others = {
        "Version": "2012-10-17",
        "Statement": [{**OTHERS, "Resource": arn_of(as_hardener, name)}],
    }
    as_hardener.put_resource_policy(
        ResourceArn=arn_of(as_hardener, name), Policy=json.dumps(others)
    )
    result = guarded("--force")
    assert result.status == ExitStatus.OK, result.stderr
    found = policy_of(as_hardener, name)
    assert found is not None
    assert found["Statement"] == [*others["Statement"], *wanted(as_hardener, name)["Statement"]]


def test_a_table_whose_policy_already_holds_the_guardrail_is_not_written(as_hardener: Any) -> None:
    name = create_table(as_hardener, "sentinel-requests", deletion_protection=True, pitr=True)
    arn = arn_of(as_hardener, name)
    revision = as_hardener.put_resource_policy(
        ResourceArn=arn, Policy=json.dumps(wanted(as_hardener, name))
    )["RevisionId"]
    result = guarded("--force", "--json")
    assert result.status == ExitStatus.OK, result.stderr
    (entry,) = result.json()["tables"]
    assert entry["result"] == "already_protected"
    assert entry["planned"] == []
    assert as_hardener.get_resource_policy(ResourceArn=arn)["RevisionId"] == revision


def test_check_counts_a_table_without_the_guardrail_as_unprotected(as_hardener: Any) -> None:
    name = create_table(as_hardener, "sentinel-requests", deletion_protection=True, pitr=True)
    result = guarded("--check")
    assert result.status == ExitStatus.FAILED, result.stderr
    assert "Guardrail" in result.stdout  # the third column
    assert policy_of(as_hardener, name) is None
    assert cli("--check").status == ExitStatus.OK  # without --guardrail it is not asked


def test_dry_run_shows_the_column_and_the_step_and_writes_nothing(as_hardener: Any) -> None:
    name = create_table(as_hardener, "sentinel-requests")
    result = guarded("--dry-run")
    assert result.status == ExitStatus.OK, result.stderr
    header = next(line for line in result.stdout.splitlines() if "Table" in line and "PITR" in line)
    assert header.split()[-1] == "Guardrail"
    assert "Put the guardrail" in result.stdout
    assert f"the hardener's role: {HARDENER} (from iam:GetRole for the caller" in result.stdout
    assert policy_of(as_hardener, name) is None


def test_an_allow_role_naming_the_hardener_is_taken_as_its_arn(as_hardener: Any) -> None:
    create_table(as_hardener, "sentinel-requests")
    result = guarded("--allow-role", HARDENER, "--force", "--json")
    assert result.status == ExitStatus.OK, result.stderr
    source = result.json()["guardrail"]["hardener_role_source"]
    assert source.startswith(f"{HARDENER} (from --allow-role")


def test_lenient_mode_leaves_update_table_open_and_says_so(as_hardener: Any) -> None:
    name = create_table(as_hardener, "sentinel-requests")
    result = guarded("--guardrail-mode", "lenient", "--force")
    assert result.status == ExitStatus.OK, result.stderr
    assert guardrail.LENIENT_LEAVES_OPEN in result.stdout
    found = policy_of(as_hardener, name)
    assert found == wanted(as_hardener, name, Mode.LENIENT)
    assert "dynamodb:UpdateTable" not in found["Statement"][0]["Action"]


def test_guardrail_with_no_pitr_puts_the_guardrail_and_leaves_pitr_alone(as_hardener: Any) -> None:
    # Deletion protection and the guardrail close the delete race on their own; the guardrail's
    # deny of UpdateContinuousBackups then also keeps PITR as it is, off here, for all but the
    # allowed roles (the hardener included, so a later run without --no-pitr can turn it on).
    name = create_table(as_hardener, "sentinel-requests")
    result = guarded("--no-pitr", "--force")
    assert result.status == ExitStatus.OK, result.stderr
    assert protection(as_hardener, name) == (True, False)
    assert policy_of(as_hardener, name) == wanted(as_hardener, name)
    assert cli("--guardrail", "--break-glass-role", BREAK_GLASS, "--check").status == (
        ExitStatus.FAILED  # without --no-pitr, PITR is missing
    )


def test_a_merge_over_20_kb_is_refused_for_that_table_and_nothing_is_written(
    as_hardener: Any,
) -> None:
    big = create_table(as_hardener, "sentinel-big", deletion_protection=True, pitr=True)
    fine = create_table(as_hardener, "sentinel-fine", deletion_protection=True, pitr=True)
    arn = arn_of(as_hardener, big)
    ours = len(guardrail.dumps(wanted(as_hardener, big)["Statement"][0]))
    statements: list[dict[str, Any]] = []
    document = {"Version": "2012-10-17", "Statement": statements}
    while len(guardrail.dumps(document)) + ours < guardrail.TABLE_POLICY_MAX_BYTES:
        statements.append({**OTHERS, "Sid": f"S{len(statements)}", "Resource": arn})
    assert len(guardrail.dumps(document)) < guardrail.TABLE_POLICY_MAX_BYTES  # fits on its own
    revision = as_hardener.put_resource_policy(ResourceArn=arn, Policy=json.dumps(document))[
        "RevisionId"
    ]
    result = guarded("--force", "--json")
    assert result.status == ExitStatus.FAILED, result.stderr
    by_name = {t["table_name"]: t for t in result.json()["tables"]}
    assert by_name[big]["result"] == "failed"
    assert by_name[big]["error"]["code"] == "GuardrailRefused"
    assert "over DynamoDB's limit of 20480" in by_name[big]["error"]["message"]
    assert as_hardener.get_resource_policy(ResourceArn=arn)["RevisionId"] == revision
    assert by_name[fine]["result"] == "hardened"


def test_a_caller_the_guardrail_would_lock_out_is_refused_in_one_line(mocked_aws: Any) -> None:
    # moto's default caller is an IAM user: no role of it can be allowed.
    name = create_table(mocked_aws, "sentinel-requests")
    result = guarded("--force")
    assert result.status == ExitStatus.USAGE
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: the caller arn:aws:sts::123456789012:user/moto is not an")
    assert "deny this caller any later change to the tables' policies" in line
    assert "--confirm-remove-self-access" in line
    assert policy_of(mocked_aws, name) is None
    assert protection(mocked_aws, name) == (False, False)


def test_confirm_remove_self_access_puts_it_anyway_and_says_so(mocked_aws: Any) -> None:
    name = create_table(mocked_aws, "sentinel-requests")
    result = guarded("--confirm-remove-self-access", "--force", "--json")
    assert result.status == ExitStatus.OK, result.stderr
    assert result.json()["guardrail"]["confirm_remove_self_access"] is True
    assert result.json()["guardrail"]["hardener_role_arn"] is None
    found = policy_of(mocked_aws, name)
    assert found is not None and found["Statement"][0]["Sid"] == guardrail.SID


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--guardrail"], "at least one --break-glass-role"),
        (["--guardrail", "--break-glass-role", "BreakGlass"], "not an IAM role ARN"),
        (
            ["--guardrail", "--break-glass-role", "arn:aws:iam::123456789012:user/alice"],
            "not an IAM role ARN",
        ),
        (
            ["--guardrail", "--break-glass-role", "arn:aws-cn:iam::123456789012:role/BreakGlass"],
            "is in partition 'aws-cn', but the tables are in 'aws'",
        ),
        (
            [
                "--guardrail",
                "--break-glass-role",
                BREAK_GLASS,
                "--allow-role",
                "arn:aws-us-gov:iam::123456789012:role/Deploy",
            ],
            "in partition 'aws-us-gov'",
        ),
        (["--break-glass-role", BREAK_GLASS], "--break-glass-role is about the guardrail"),
        (["--confirm-remove-self-access"], "--confirm-remove-self-access is about the guardrail"),
    ],
)
def test_bad_guardrail_input_is_one_error_line_and_exit_3_before_any_change(
    mocked_aws: Any, args: list[str], says: str
) -> None:
    name = create_table(mocked_aws, "sentinel-requests")
    result = cli(*args, "--force")
    assert result.status == ExitStatus.USAGE
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and says in line, line
    assert protection(mocked_aws, name) == (False, False)
    assert policy_of(mocked_aws, name) is None


@pytest.fixture
def findings_dir(tmp_path: Any) -> Iterator[Any]:
    yield tmp_path


@pytest.mark.parametrize("form", ["asff", "ocsf", "junit"])
def test_each_findings_format_has_one_finding_per_control_the_guardrail_naming_no_fsbp(
    as_hardener: Any, findings_dir: Any, form: str
) -> None:
    create_table(as_hardener, "sentinel-requests", deletion_protection=True, pitr=True)
    out = findings_dir / f"report.{form}"
    result = guarded("--check", "--format", form, "--output", str(out))
    assert result.status == ExitStatus.FAILED, result.stderr
    text = out.read_text()
    assert text.count("dynamodb-guardrail") >= 1
    if form == "asff":
        found = json.loads(text)
        found = found if isinstance(found, list) else found["Findings"]
        assert len(found) == 3
        (mine,) = [f for f in found if "dynamodb-guardrail" in json.dumps(f)]
        assert mine["Compliance"]["Status"] == "FAILED"
        assert "SecurityControlId" not in mine["Compliance"]


def test_a_table_pulumi_manages_is_shown_without_the_guardrail_and_left_to_pulumi(
    as_hardener: Any, tmp_path: Any
) -> None:
    managed = create_table(as_hardener, "sentinel-requests", deletion_protection=True, pitr=True)
    handmade = create_table(as_hardener, "sentinel-handmade", deletion_protection=True, pitr=True)
    export = write_json(tmp_path / "dev.json", sentinel_export())
    result = guarded("--pulumi-state", str(export), "--force", "--json")
    assert result.status == ExitStatus.OK, result.stderr
    by_name = {t["table_name"]: t for t in result.json()["tables"]}
    assert by_name[managed]["result"] == "managed"
    assert by_name[managed]["before"]["guardrail"] is False
    assert policy_of(as_hardener, managed) is None  # Pulumi declares its own ResourcePolicy
    assert by_name[handmade]["result"] == "hardened"
    assert policy_of(as_hardener, handmade) == wanted(as_hardener, handmade)


def test_a_member_role_the_guardrail_would_lock_out_is_refused_before_any_table_call(
    as_hardener: Any,
) -> None:
    name = create_table(as_hardener, "sentinel-requests")
    member = "arn:aws:iam::111111111111:role/SentinelHardener"
    result = guarded("--role-arn", member, "--force")
    assert result.status == ExitStatus.USAGE
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {member} writes the tables' policies")
    assert policy_of(as_hardener, name) is None
    allowed = guarded(
        "--role-arn", member, "--allow-role", "arn:aws:iam::*:role/SentinelHardener", "--dry-run"
    )
    assert "writes the tables' policies" not in allowed.stderr


def test_a_check_by_the_hardener_or_by_another_caller_finds_what_the_hardener_put(
    as_hardener: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_table(as_hardener, "sentinel-a", deletion_protection=True, pitr=True)
    create_table(as_hardener, "sentinel-b", deletion_protection=True, pitr=True)
    assert guarded("--table", "sentinel-a", "--force").status == ExitStatus.OK
    assert guarded("--table", "sentinel-b", "--allow-role", HARDENER, "--force").status == 0
    # The hardener itself checks (its role found again by iam:GetRole): both hold.
    assert guarded("--check").status == ExitStatus.OK
    # A CI user, which writes nothing, is neither refused nor added to the statement: naming
    # the hardener's role as the writing runs had it (found or named), the statement holds.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    named = guarded("--check", "--allow-role", HARDENER, "--json")
    assert named.status == ExitStatus.OK, named.stderr
    assert {t["result"] for t in named.json()["tables"]} == {"already_protected"}
    # Without it the statement allows a role the flags do not: not the guardrail asked for, so
    # unprotected (never a pass on a statement that allows someone else).
    assert guarded("--check").status == ExitStatus.FAILED
