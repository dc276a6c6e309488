"""--security-hub against Security Hub CSPM's own rules: the history it keeps (GetFindings),
archiving, and "not enabled" as AWS answers it, whole-call and per finding.

moto lacks BatchUpdateFindings and ignores GetFindings' Filters: the fault proxy stands in for
both (tests/fault_proxy.py), and answers AWS's refusals with a request id, so botocore's parser
and retries run. One test runs on a bare moto_server, as the docs' local example does."""

from __future__ import annotations

from typing import Any

from remediation.cli import ExitStatus
from tests.cli_process import run_cli
from tests.conftest import TableFactory
from tests.fault_proxy import REST_ERRORS, ErrorShape, FaultProxy
from tests.servers import REGION, MotoServer
from tests.test_findings_cli import (
    ACCOUNT,
    DP,
    PITR,
    finding_id,
    harden,
    hub_findings,
    security_hub,
    workflows,
)


def test_a_later_run_keeps_created_at_and_first_observed_at(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    security_hub(server.url).enable_security_hub()
    server_table("sentinel-a")
    assert harden(fault_proxy.url, "--check", "--security-hub").returncode == ExitStatus.FAILED
    first = hub_findings(server.url)[finding_id("sentinel-a", DP)]
    assert harden(fault_proxy.url, "--force", "--security-hub").returncode == ExitStatus.OK
    later = hub_findings(server.url)[finding_id("sentinel-a", DP)]
    assert (later["CreatedAt"], later["FirstObservedAt"]) == (
        first["CreatedAt"],
        first["FirstObservedAt"],
    )
    assert later["UpdatedAt"] > first["UpdatedAt"]
    assert later["Compliance"]["Status"] == "PASSED"


def test_a_suppressed_finding_stays_suppressed_when_it_passes(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    security_hub(server.url).enable_security_hub()
    server_table("sentinel-a")
    assert harden(fault_proxy.url, "--check", "--security-hub").returncode == ExitStatus.FAILED
    product = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
    security_hub(fault_proxy.url).batch_update_findings(  # a person, in the console
        FindingIdentifiers=[{"Id": finding_id("sentinel-a", DP), "ProductArn": product}],
        Workflow={"Status": "SUPPRESSED"},
    )
    before = fault_proxy.calls("securityhub:BatchUpdateFindings")
    assert harden(fault_proxy.url, "--force", "--security-hub").returncode == ExitStatus.OK
    assert workflows(server.url) == {
        finding_id("sentinel-a", DP): ("PASSED", "SUPPRESSED"),
        finding_id("sentinel-a", PITR): ("PASSED", "RESOLVED"),
    }
    assert fault_proxy.calls("securityhub:BatchUpdateFindings") - before == 1  # PITR's only


def test_findings_of_an_excluded_or_deleted_table_are_archived_and_no_dynamodb_call_names_them(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy, server_client: Any
) -> None:
    security_hub(server.url).enable_security_hub()
    for name in ("sentinel-a", "sentinel-b", "sentinel-c"):
        server_table(name)
    assert harden(fault_proxy.url, "--check", "--security-hub").returncode == ExitStatus.FAILED
    server_client.delete_table(TableName="sentinel-c")
    fault_proxy.reset_counts()
    result = harden(fault_proxy.url, "--check", "--security-hub", "--exclude", "sentinel-b")
    assert result.returncode == ExitStatus.FAILED  # sentinel-a is still unprotected
    states = {i: f["RecordState"] for i, f in hub_findings(server.url).items()}
    assert states == {
        finding_id(t, c): "ACTIVE" if t == "sentinel-a" else "ARCHIVED"
        for t in ("sentinel-a", "sentinel-b", "sentinel-c")
        for c in (DP, PITR)
    }
    assert "4 of tables gone or excluded archived" in result.stdout
    # The excluded table is named in a Security Hub CSPM request only, never in a DynamoDB one.
    assert fault_proxy.calls(table="sentinel-b") == 0
    document = harden(fault_proxy.url, "--check", "--security-hub", "--json").json()
    assert document["security_hub"][0]["archived"] == 0  # archived once, not every run


def test_a_run_naming_its_tables_archives_nothing_it_did_not_look_for(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    security_hub(server.url).enable_security_hub()
    server_table("sentinel-a")
    server_table("sentinel-b")
    assert harden(fault_proxy.url, "--check", "--security-hub").returncode == ExitStatus.FAILED
    harden(fault_proxy.url, "--check", "--security-hub", "--table", "sentinel-a")
    assert {f["RecordState"] for f in hub_findings(server.url).values()} == {"ACTIVE"}


def test_not_enabled_per_finding_is_said_once_and_does_not_fail_the_run(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    security_hub(server.url).enable_security_hub()
    server_table("sentinel-a", deletion_protection=True, pitr=True)
    fault_proxy.refuse_each_finding()  # InvalidAccess: "... is not subscribed to AWS Security Hub"
    result = harden(fault_proxy.url, "--check", "--security-hub")
    assert result.returncode == ExitStatus.OK, result.stdout
    assert (
        f"- {ACCOUNT} {REGION}: Security Hub CSPM is not enabled there; its 2 findings were not "
        "imported (the hardening is not affected)" in result.stdout.splitlines()
    )
    assert hub_findings(server.url) == {}


def test_not_enabled_as_a_whole_call_on_getfindings_is_said_once(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    server_table("sentinel-a", deletion_protection=True, pitr=True)
    fault_proxy.fail("securityhub:GetFindings", "InvalidAccessException", times=None)
    result = harden(fault_proxy.url, "--check", "--security-hub", "--json")
    assert result.returncode == ExitStatus.OK, result.stdout
    assert result.json()["security_hub"][0]["status"] == "not_enabled"
    assert fault_proxy.calls("securityhub:BatchImportFindings") == 0


def test_any_other_invalid_access_is_a_failure_not_not_enabled(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    security_hub(server.url).enable_security_hub()
    server_table("sentinel-a", deletion_protection=True, pitr=True)
    other = ErrorShape(
        "InvalidAccessException",
        "com.amazonaws.securityhub",
        "The request was rejected because the account is suspended",
        status=401,
        message_key="Message",
    )
    fault_proxy.fail("securityhub:BatchImportFindings", other, times=1)
    whole = harden(fault_proxy.url, "--check", "--security-hub", "--json")
    assert whole.returncode == ExitStatus.FAILED
    assert whole.json()["security_hub"][0]["status"] == "failed"
    fault_proxy.refuse_each_finding(("InvalidAccess", "Finding provider not allowed"), times=1)
    each = harden(fault_proxy.url, "--check", "--security-hub", "--json")
    assert each.returncode == ExitStatus.FAILED
    [hub] = each.json()["security_hub"]
    assert hub["status"] == "failed"
    assert {r["code"] for r in hub["rejected"]} == {"InvalidAccess"}


def test_without_getfindings_nothing_is_imported_and_the_run_fails(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    security_hub(server.url).enable_security_hub()
    server_table("sentinel-a", deletion_protection=True, pitr=True)
    fault_proxy.fail("securityhub:GetFindings", REST_ERRORS["AccessDeniedException"], times=None)
    result = harden(fault_proxy.url, "--check", "--security-hub")
    assert result.returncode == ExitStatus.FAILED
    assert fault_proxy.calls("securityhub:BatchImportFindings") == 0  # no history, no reset
    assert "AccessDeniedException on securityhub:GetFindings" in result.stdout


def test_on_a_bare_moto_server_the_missing_batch_update_findings_is_named(
    server: MotoServer, server_table: TableFactory
) -> None:
    security_hub(server.url).enable_security_hub()
    server_table("sentinel-a")
    assert harden(server.url, "--check", "--security-hub").returncode == ExitStatus.FAILED
    result = harden(server.url, "--force", "--security-hub")
    assert result.returncode == ExitStatus.FAILED
    assert "the endpoint does not implement BatchUpdateFindings" in result.stdout
    assert "captive portal" not in result.stdout
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("Summary: 1 table protected (1 hardened now), Security Hub CSPM")
    assert (
        f"Security Hub CSPM failed in {ACCOUNT} {REGION}: passed findings not set to RESOLVED: "
        "the endpoint does not implement BatchUpdateFindings" in summary
    )


def test_help_names_security_hub_cspm_and_the_ocsf_extra() -> None:
    result = run_cli(["harden", "--help"], {})
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "DynamoDB, STS, Organizations, EC2, Security Hub CSPM" in text  # --endpoint-url
    assert "needs the `ocsf` extra" in text
    assert "not for the new Security Hub" in text
    assert "Security Hub CSPM (BatchImportFindings)" in text  # --security-hub
