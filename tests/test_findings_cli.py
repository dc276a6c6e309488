"""The findings formats and the Security Hub import, from the real CLI on moto_server.

Security Hub's state is read back with GetFindings from moto's Security Hub; what moto never
answers (a region without Security Hub, a refused finding, throttling) is injected by the fault
proxy in front of it, so botocore's parser and retries see it as they would see AWS's answer.
The proxy also stands in for AWS's rules moto lacks: an import keeps a stored finding's Workflow,
and BatchUpdateFindings (absent from moto) changes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.validate import validate_parameters
from junitparser import Error, Failure, JUnitXml
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding

from remediation import aws
from remediation.cli import ExitStatus
from tests import junit_xsd, ocsf_schema
from tests.cli_process import UNPACED, run_cli
from tests.conftest import TableFactory, create_table, protection
from tests.fault_proxy import REST_ERRORS, FaultProxy
from tests.servers import REGION, MotoServer, assumed_client, aws_env

ACCOUNT = "123456789012"
DP = "dynamodb-deletion-protection"
PITR = "dynamodb-point-in-time-recovery"


def security_hub(url: str) -> Any:
    return boto3.client(
        "securityhub",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def hub_findings(url: str) -> dict[str, dict[str, Any]]:
    """Every finding in moto's Security Hub, by Id, every page."""
    found: dict[str, dict[str, Any]] = {}
    for page in security_hub(url).get_paginator("get_findings").paginate():
        found.update({f["Id"]: f for f in page["Findings"]})
    return found


def finding_id(table: str, control: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}/{control}"


def harden(url: str, *flags: str) -> Any:
    return run_cli(["harden", *flags, *UNPACED], aws_env(url))


# -- --format and --output ---------------------------------------------------------------------


def test_format_asff_prints_what_batch_import_findings_accepts(
    server: MotoServer, server_table: TableFactory
) -> None:
    server_table("sentinel-a")
    server_table("sentinel-b", deletion_protection=True, pitr=True)
    result = harden(server.url, "--check", "--format", "asff")
    assert result.returncode == ExitStatus.FAILED, result.stderr
    documents = json.loads(result.stdout)
    model = botocore.session.get_session().get_service_model("securityhub")
    shape = model.operation_model("BatchImportFindings").input_shape
    validate_parameters({"Findings": documents}, shape)  # raises on any field AWS would refuse
    status = {d["Id"]: (d["Compliance"]["Status"], d["Workflow"]["Status"]) for d in documents}
    assert status == {
        finding_id("sentinel-a", DP): ("FAILED", "NEW"),
        finding_id("sentinel-a", PITR): ("FAILED", "NEW"),
        finding_id("sentinel-b", DP): ("PASSED", "RESOLVED"),
        finding_id("sentinel-b", PITR): ("PASSED", "RESOLVED"),
    }


def test_format_ocsf_of_a_hardening_run_carries_before_and_after(
    server: MotoServer, server_table: TableFactory, server_client: Any
) -> None:
    server_table("sentinel-a", pitr=True)
    result = harden(server.url, "--force", "--format", "ocsf")
    assert result.returncode == ExitStatus.OK, result.stderr
    documents = json.loads(result.stdout)
    assert [ComplianceFinding.model_validate(d).class_uid for d in documents] == [2003, 2003]
    # A file has no history: each finding is a first sighting, and holds against OCSF 1.5.0.
    assert {d["activity_name"] for d in documents} == {"Create"}
    ocsf_schema.require()
    assert [ocsf_schema.errors(d) for d in documents] == [[], []]
    by_control = {d["metadata"]["event_code"]: d for d in documents}
    changed = by_control[DP]["resources"][0]["data"]
    assert changed["before"]["deletion_protection"] is False
    assert changed["after"]["deletion_protection"] is True
    assert protection(server_client, "sentinel-a") == (True, True)  # as the finding says
    assert set(by_control[PITR]["resources"][0]["data"]) == {"after", "changed"}
    assert {d["status_code"] for d in documents} == {"PASS"}


def test_format_junit_with_output_writes_the_file_and_keeps_text_on_the_terminal(
    server: MotoServer, server_table: TableFactory, tmp_path: Path
) -> None:
    server_table("sentinel-a")
    server_table("sentinel-b", deletion_protection=True, pitr=True)
    report = tmp_path / "sentinel.xml"
    result = harden(server.url, "--check", "--format", "junit", "--output", str(report))
    assert result.returncode == ExitStatus.FAILED, result.stderr
    # The terminal keeps the text report, as without --output.
    assert "Tables to check (2 found in account 123456789012, region us-east-1):" in result.stdout
    assert "- sentinel-a: deletion protection off, PITR off" in result.stdout
    junit_xsd.require()
    assert junit_xsd.errors(report.read_bytes()) == []  # the xUnit plugin keeps the file
    xml = JUnitXml.fromfile(str(report))
    cases = {(c.classname, c.name): c for suite in xml for c in suite}
    assert set(cases) == {
        (f"{ACCOUNT}.{REGION}.{t}", c) for t in ("sentinel-a", "sentinel-b") for c in (DP, PITR)
    }
    failed = {k for k, c in cases.items() if any(isinstance(r, Failure) for r in c.result)}
    assert failed == {
        (f"{ACCOUNT}.{REGION}.sentinel-a", DP),
        (f"{ACCOUNT}.{REGION}.sentinel-a", PITR),
    }


def test_junit_of_a_run_that_could_not_start_is_an_error_not_an_empty_pass(
    server: MotoServer, tmp_path: Path
) -> None:
    report = tmp_path / "sentinel.xml"
    env = aws_env("http://127.0.0.1:9")  # nothing listens there
    result = run_cli(["harden", "--check", "--format", "junit", "--output", str(report)], env)
    assert result.returncode == ExitStatus.AWS_SETUP
    junit_xsd.require()
    assert junit_xsd.errors(report.read_bytes()) == []
    xml = JUnitXml.fromfile(str(report))
    results = [r for suite in xml for case in suite for r in case.result]
    assert any(isinstance(r, Error) for r in results)


# -- --security-hub ------------------------------------------------------------------------------


def workflows(url: str) -> dict[str, tuple[str, str]]:
    """(Compliance.Status, Workflow.Status) of every finding moto's Security Hub holds, by Id."""
    return {
        i: (f["Compliance"]["Status"], f["Workflow"]["Status"])
        for i, f in hub_findings(url).items()
    }


def test_security_hub_gets_one_finding_per_table_and_control_and_a_later_run_updates_them(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    # The proxy keeps a stored finding's Workflow on import, as AWS does: only the
    # BatchUpdateFindings this run sends can close a finding created NEW.
    security_hub(server.url).enable_security_hub()
    server_table("sentinel-a")
    first = harden(fault_proxy.url, "--check", "--security-hub")
    assert first.returncode == ExitStatus.FAILED  # unprotected, as --check says
    assert "Security Hub CSPM: 2 findings imported in 1 of 1 account-regions." in first.stdout
    assert workflows(server.url) == {
        finding_id("sentinel-a", DP): ("FAILED", "NEW"),
        finding_id("sentinel-a", PITR): ("FAILED", "NEW"),
    }
    product = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
    assert {f["ProductArn"] for f in hub_findings(server.url).values()} == {product}
    assert fault_proxy.calls("securityhub:BatchUpdateFindings") == 0  # nothing passed

    second = harden(fault_proxy.url, "--force", "--security-hub")
    assert second.returncode == ExitStatus.OK, second.stderr
    assert (
        "Security Hub CSPM: 2 findings imported in 1 of 1 account-regions, 2 passed ones set to "
        "RESOLVED." in second.stdout
    )
    # The same findings, updated (no new ones), and closed.
    assert workflows(server.url) == {
        finding_id("sentinel-a", DP): ("PASSED", "RESOLVED"),
        finding_id("sentinel-a", PITR): ("PASSED", "RESOLVED"),
    }
    assert fault_proxy.calls("securityhub:BatchImportFindings") == 2
    assert fault_proxy.calls("securityhub:BatchUpdateFindings") == 1


def test_without_batch_update_findings_a_fixed_finding_stays_new_and_the_run_fails(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy, server_client: Any
) -> None:
    security_hub(server.url).enable_security_hub()
    server_table("sentinel-a")
    assert harden(fault_proxy.url, "--check", "--security-hub").returncode == ExitStatus.FAILED
    denied = REST_ERRORS["AccessDeniedException"]
    fault_proxy.fail("securityhub:BatchUpdateFindings", denied, times=None)
    result = harden(fault_proxy.url, "--force", "--security-hub")
    assert result.returncode == ExitStatus.FAILED, result.stdout + result.stderr
    assert protection(server_client, "sentinel-a") == (True, True)  # the hardening itself held
    # Imported PASSED, yet still NEW: what AWS shows when the update never lands.
    assert workflows(server.url) == {
        finding_id("sentinel-a", DP): ("PASSED", "NEW"),
        finding_id("sentinel-a", PITR): ("PASSED", "NEW"),
    }
    assert (
        f"✗ {ACCOUNT} {REGION}: 2 passed findings not set to RESOLVED (they keep their workflow "
        "status): AccessDeniedException on securityhub:BatchUpdateFindings: User: " in result.stdout
    )
    document = harden(fault_proxy.url, "--check", "--security-hub", "--json").json()
    [hub] = document["security_hub"]
    assert (hub["status"], hub["imported"], hub["resolved"]) == ("failed", 2, 0)
    assert hub["resolve_error"].startswith("AccessDeniedException on securityhub:BatchUpdate")

    fault_proxy.clear_faults()
    again = harden(fault_proxy.url, "--check", "--security-hub")
    assert again.returncode == ExitStatus.OK, again.stdout  # protected, and now closed
    assert set(workflows(server.url).values()) == {("PASSED", "RESOLVED")}


def test_a_finding_security_hub_does_not_update_is_named_by_table_and_fails_the_run(
    server: MotoServer,
    server_table: TableFactory,
    fault_proxy: FaultProxy,
    server_client: Any,
    tmp_path: Path,
) -> None:
    security_hub(server.url).enable_security_hub()
    server_table("sentinel-a")
    server_table("sentinel-b")
    assert harden(fault_proxy.url, "--check", "--security-hub").returncode == ExitStatus.FAILED
    busy = finding_id("sentinel-b", PITR)

    def unprocessed(answer: dict[str, Any]) -> None:
        [kept] = [i for i in answer["ProcessedFindings"] if i["Id"] == busy]
        answer["ProcessedFindings"].remove(kept)
        answer["UnprocessedFindings"] = [
            {
                "FindingIdentifier": kept,
                "ErrorCode": "ConcurrentUpdateError",
                "ErrorMessage": "Concurrent finding updates detected",
            }
        ]

    # Once: a finding imported moments ago may be busy; it is tried again, and closes.
    fault_proxy.rewrite_answer("securityhub:BatchUpdateFindings", unprocessed)
    once = harden(fault_proxy.url, "--force", "--security-hub", "--json")
    assert once.returncode == ExitStatus.OK, once.stderr
    [hub] = once.json()["security_hub"]
    assert (hub["status"], hub["imported"], hub["resolved"]) == ("imported", 4, 4)
    assert fault_proxy.calls("securityhub:BatchUpdateFindings") == 2
    assert set(workflows(server.url).values()) == {("PASSED", "RESOLVED")}

    # PITR turned off again: Security Hub CSPM reopens the finding (NEW) on the next import.
    server_client.update_continuous_backups(
        TableName="sentinel-b",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False},
    )
    assert harden(fault_proxy.url, "--check", "--security-hub").returncode == ExitStatus.FAILED
    assert workflows(server.url)[busy] == ("FAILED", "NEW")
    # Every time: after its tries it is named, and the run fails; only it turns PASSED.
    before = fault_proxy.calls("securityhub:BatchUpdateFindings")
    fault_proxy.rewrite_answer("securityhub:BatchUpdateFindings", unprocessed, times=None)
    document = tmp_path / "report.json"
    flags = ("--force", "--security-hub", "--format", "json", "--output", str(document))
    text = harden(fault_proxy.url, *flags)
    assert text.returncode == ExitStatus.FAILED, text.stderr
    assert fault_proxy.calls("securityhub:BatchUpdateFindings") - before == aws.UPDATE_ATTEMPTS
    [hub] = json.loads(document.read_text())["security_hub"]
    assert (hub["status"], hub["imported"], hub["resolved"]) == ("failed", 4, 0)
    assert hub["unresolved"] == [
        {
            "table": "sentinel-b",
            "control": PITR,
            "code": "ConcurrentUpdateError",
            "message": "Concurrent finding updates detected",
        }
    ]
    assert (
        f"✗ {ACCOUNT} {REGION} sentinel-b: finding {PITR} passed but not set to RESOLVED: "
        "ConcurrentUpdateError: Concurrent finding updates detected" in text.stdout.splitlines()
    )
    # The Summary names the Security Hub CSPM failure that made the exit status 1.
    failure = f"Security Hub CSPM failed in {ACCOUNT} {REGION}: 1 passed findings not set to"
    assert text.stdout.strip().splitlines()[-1].endswith(f"{failure} RESOLVED.")


def test_security_hub_takes_at_most_100_findings_a_call(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    security_hub(server.url).enable_security_hub()
    for i in range(51):
        server_table(f"sentinel-{i:02d}", deletion_protection=True, pitr=True)
    result = harden(fault_proxy.url, "--check", "--security-hub", "--format", "json")
    assert result.returncode == ExitStatus.OK, result.stderr
    assert fault_proxy.calls("securityhub:BatchImportFindings") == 2  # 100 + 2
    # Their history, 20 Ids a call (GetFindings' limit per filter field), and one look for
    # findings of tables that are gone.
    assert fault_proxy.calls("securityhub:GetFindings") == 6 + 1
    # First sightings that pass are created RESOLVED: nothing to update.
    assert fault_proxy.calls("securityhub:BatchUpdateFindings") == 0
    assert set(workflows(server.url).values()) == {("PASSED", "RESOLVED")}
    assert len(hub_findings(server.url)) == 102
    [hub] = result.json()["security_hub"]
    assert (hub["status"], hub["sent"], hub["imported"]) == ("imported", 102, 102)
    assert hub["resolved"] == 0


def test_a_region_without_security_hub_is_said_once_and_does_not_fail_the_hardening(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy, server_client: Any
) -> None:
    server_table("sentinel-a")
    server_table("sentinel-b")
    fault_proxy.fail("securityhub:BatchImportFindings", "InvalidAccessException", times=None)
    result = harden(fault_proxy.url, "--force", "--security-hub")
    assert result.returncode == ExitStatus.OK, result.stderr
    assert protection(server_client, "sentinel-a") == (True, True)
    lines = [line for line in result.stdout.splitlines() if "not enabled" in line]
    assert lines == [
        f"- {ACCOUNT} {REGION}: Security Hub CSPM is not enabled there; its 4 findings were not "
        "imported (the hardening is not affected)"
    ]
    assert result.stdout.strip().splitlines()[-1].startswith("Summary: ")  # still the last line
    assert fault_proxy.calls("securityhub:BatchImportFindings") == 1
    assert fault_proxy.calls("securityhub:BatchUpdateFindings") == 0  # nothing landed there


def test_a_finding_security_hub_refuses_is_named_by_table_and_fails_the_run(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    security_hub(server.url).enable_security_hub()
    server_table("sentinel-a", deletion_protection=True, pitr=True)
    refused = finding_id("sentinel-a", PITR)

    def refuse(answer: dict[str, Any]) -> None:
        answer["SuccessCount"] -= 1
        answer["FailedCount"] = 1
        answer["FailedFindings"] = [
            {"Id": refused, "ErrorCode": "InvalidInput", "ErrorMessage": "Finding too large"}
        ]

    fault_proxy.rewrite_answer("securityhub:BatchImportFindings", refuse)
    result = harden(fault_proxy.url, "--check", "--security-hub", "--json")
    assert result.returncode == ExitStatus.FAILED
    [hub] = result.json()["security_hub"]
    assert hub["status"] == "failed"
    assert hub["rejected"] == [
        {
            "table": "sentinel-a",
            "control": PITR,
            "code": "InvalidInput",
            "message": "Finding too large",
        }
    ]
    text = harden(fault_proxy.url, "--check", "--security-hub")
    assert text.returncode == ExitStatus.OK  # the rewrite answered once: this run is clean


def test_throttled_imports_are_retried_until_they_land(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    security_hub(server.url).enable_security_hub()
    server_table("sentinel-a", deletion_protection=True, pitr=True)
    fault_proxy.fail("securityhub:BatchImportFindings", "TooManyRequestsException", times=2)
    result = harden(fault_proxy.url, "--check", "--security-hub")
    assert result.returncode == ExitStatus.OK, result.stdout + result.stderr
    assert fault_proxy.calls("securityhub:BatchImportFindings") == 3
    assert len(hub_findings(server.url)) == 2


def test_the_import_is_paced_to_security_hubs_quota() -> None:
    assert aws.SECURITY_HUB_RATES["BatchImportFindings"] < 10  # AWS: 10 a second, bursts of 30
    assert aws.SECURITY_HUB_RATES["BatchUpdateFindings"] < 10  # the same quota
    assert aws.IMPORT_BATCH == aws.UPDATE_BATCH == 100


@pytest.mark.parametrize("flag", ["--dry-run"])
def test_security_hub_never_imports_from_a_dry_run(server: MotoServer, flag: str) -> None:
    result = harden(server.url, flag, "--security-hub")
    assert result.returncode == ExitStatus.USAGE
    assert result.stderr.startswith("error: --dry-run changes nothing")
    assert hub_findings(server.url) == {}


def test_a_run_declined_at_the_prompt_imports_nothing(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    server_table("sentinel-a")
    result = harden(fault_proxy.url, "--security-hub")  # stdin is no terminal: cancelled
    assert result.returncode == ExitStatus.CANCELLED
    assert fault_proxy.calls("securityhub:BatchImportFindings") == 0
    assert hub_findings(server.url) == {}


def test_each_accounts_findings_go_to_its_own_security_hub_with_its_own_credentials(
    server: MotoServer, fault_proxy: FaultProxy
) -> None:
    members = ["111111111111", "222222222222"]
    for account in members:
        role = f"arn:aws:iam::{account}:role/SentinelHarden"
        create_table(assumed_client(server.url, role), "sentinel-a")
    roles = [f for a in members for f in ("--role-arn", f"arn:aws:iam::{a}:role/SentinelHarden")]
    result = harden(fault_proxy.url, "--check", "--security-hub", "--json", *roles)
    assert result.returncode == ExitStatus.FAILED, result.stderr  # unprotected, as --check says
    assert {(h["account"], h["status"]) for h in result.json()["security_hub"]} == {
        (a, "imported") for a in members
    }
    for account in members:
        hub = assumed_client(
            server.url, f"arn:aws:iam::{account}:role/SentinelHarden", service="securityhub"
        )
        found = hub.get_findings()["Findings"]
        assert {f["AwsAccountId"] for f in found} == {account}
        assert len(found) == 2
