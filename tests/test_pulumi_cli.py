"""The real `pulumi` CLI: preview marks, up remediates, on the project's program, pack and state.

Each scenario is one stack on a file:// backend in a temp folder, with its own moto_server,
driven by the CLI built from tools/pulumi (or a compatible one on PATH). The AWS provider and,
where the module proxy does not serve it, the Python language host are the test doubles under
tests/ (see tests/pulumi_cli.py); the engine, the analyzer plumbing, the policy pack's process,
`pulumi stack export` and the backend's files are Pulumi's own.

Without a CLI the module is skipped with one line saying why; under CI=true that is a failure.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from remediation.controls import DELETION_PROTECTION, PITR
from remediation.pulumi_policies import PROTECT_POLICY, deployed_policy_name
from tests.conftest import create_table, protection, recovery_days
from tests.pulumi_cli import PACK, Run, Workspace, locate
from tests.servers import MotoServer, dynamodb_client, moto_server

NAMES = ("sentinel-breakglass", "sentinel-requests", "sentinel-sessions")
DP, PITR_ID = DELETION_PROTECTION.id, PITR.id
DP_DEPLOYED, PITR_DEPLOYED = (deployed_policy_name(c) for c in (DELETION_PROTECTION, PITR))
TABLE_POLICIES = (DP, PITR_ID, PROTECT_POLICY, DP_DEPLOYED, PITR_DEPLOYED)
MANDATORY = PACK / "config" / "mandatory.json"

CLI, WHY_NOT = locate()
if CLI is None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true needs the real Pulumi CLI: {WHY_NOT}", pytrace=False)
    pytest.skip(WHY_NOT, allow_module_level=True)


def workspace(tmp: Path, server: MotoServer, config: dict[str, str]) -> Workspace:
    assert CLI is not None
    space = Workspace(CLI, tmp, server.url)
    space.init(config)
    return space


def tables(server: MotoServer) -> list[str]:
    return sorted(dynamodb_client(server.url).list_tables()["TableNames"])


POLICY_LINE = re.compile(
    r"\[(remediate|advisory|mandatory)\](?: \[severity: \w+\])?\s+([\w-]+)\s+"
    r"\(aws:dynamodb:Table: (\w+)\)"
)


def policy_lines(run: Run) -> set[tuple[str, str, str]]:
    """(level, policy, table) for every per-resource policy line the CLI printed."""
    return {
        (level, policy, f"sentinel-{logical}")
        for level, policy, logical in POLICY_LINE.findall(run.output)
    }


def every(level: str, *policies: str) -> set[tuple[str, str, str]]:
    return {(level, p, n) for p in policies for n in NAMES}


def analyze(space: Workspace, *args: str, config: Path = MANDATORY) -> Run:
    return space.run(
        "policy", "analyze", "--policy-pack", str(PACK), "--policy-pack-config", str(config), *args
    )


def summary(run: Run) -> str:
    """The CLI's "Resources:" block, where it says what would change."""
    return run.stdout[run.stdout.rfind("Resources:") :]


# --- a, b, d, f: the program declaring its tables unprotected, hardenAtSource off --------------


@dataclass
class Unprotected:
    space: Workspace
    server: MotoServer
    preview: Run
    advisory: Run
    mandatory: Run
    up: Run
    again: Run
    without_pack: Run


@pytest.fixture(scope="module")
def unprotected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Unprotected]:
    with moto_server() as server:
        space = workspace(
            tmp_path_factory.mktemp("unprotected"), server, {"sourceProtection": "false"}
        )
        config = PACK / "config"
        preview = space.preview("--diff")
        advisory = space.preview("--policy-pack-config", str(config / "advisory.json"))
        mandatory = space.preview("--policy-pack-config", str(config / "mandatory.json"))
        up = space.up()
        again = space.preview()
        without_pack = space.preview(pack=False)
        yield Unprotected(space, server, preview, advisory, mandatory, up, again, without_pack)


def test_a_preview_should_show_the_remediation_of_every_unprotected_table(
    unprotected: Unprotected,
) -> None:
    run = unprotected.preview
    assert run.code == 0, run.output
    assert policy_lines(run) == every("remediate", DP, PITR_ID)
    assert run.output.count("+ deletionProtectionEnabled: true") == 3
    assert "Traceback" not in run.output


def test_a_advisory_config_should_warn_about_every_table_and_exit_0(
    unprotected: Unprotected,
) -> None:
    run = unprotected.advisory
    assert run.code == 0, run.output
    # The stack policies judge the planned outputs (the provider plans the inputs as they are).
    assert policy_lines(run) == every("advisory", DP, PITR_ID, DP_DEPLOYED, PITR_DEPLOYED)
    for name in NAMES:
        assert f"{name}: Deletion Protection is off" in run.output
        assert f"{name}: PITR is off" in run.output


def test_a_mandatory_config_should_fail_the_preview_naming_every_table(
    unprotected: Unprotected,
) -> None:
    run = unprotected.mandatory
    assert run.code != 0
    assert policy_lines(run) == every("mandatory", DP, PITR_ID, DP_DEPLOYED, PITR_DEPLOYED)
    assert "error: preview failed" in run.output
    assert all(f"{name}: Deletion Protection is off" in run.output for name in NAMES)


def test_b_up_should_create_the_tables_protected_although_the_source_declares_them_not(
    unprotected: Unprotected,
) -> None:
    assert unprotected.up.code == 0, unprotected.up.output
    client = dynamodb_client(unprotected.server.url)
    assert tables(unprotected.server) == list(NAMES)
    for name in NAMES:
        assert protection(client, name) == (True, True)
    # The source still declares them unprotected: without the pack, Pulumi would turn both off.
    run = unprotected.without_pack
    assert run.code == 0, run.output
    assert re.search(r"~ 3 to update", summary(run)), run.output
    assert "deletionProtectionEnabled" in run.output or "3 to update" in run.output


def test_d_a_second_preview_after_up_should_show_no_change_and_no_violation(
    unprotected: Unprotected,
) -> None:
    run = unprotected.again
    assert run.code == 0, run.output
    assert not {line for line in policy_lines(run) if line[0] != "remediate"}
    assert "to update" not in summary(run) and "to create" not in summary(run)
    assert re.search(r"\d+ unchanged", summary(run)), run.output


def test_f_a_stack_export_should_mark_exactly_the_stacks_tables_as_managed(
    unprotected: Unprotected, tmp_path: Path
) -> None:
    space, server = unprotected.space, unprotected.server
    create_table(dynamodb_client(server.url), "sentinel-handmade")
    export = tmp_path / "export.json"
    space.run("stack", "export", "--file", str(export), check=True)
    for state in (export, space.backend):
        result = space.remediation(
            "harden",
            "--pulumi-state",
            str(state),
            "--dry-run",
            "--json",
            "--endpoint-url",
            server.url,
            "--region",
            "us-east-1",
        )
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        entries = {e["table_name"]: e for e in document["tables"]}
        managed = sorted(n for n, e in entries.items() if e["result"] == "managed")
        assert managed == list(NAMES), state
        assert entries["sentinel-handmade"]["result"] != "managed"
        assert {e["managed_by"]["stack"] for n, e in entries.items() if n in NAMES} == {space.stack}
    assert protection(dynamodb_client(server.url), "sentinel-handmade") == (False, False)


# --- c: hardenAtSource -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, MotoServer]]:
    with moto_server() as server:
        config = {"sourceProtection": "false", "hardenAtSource": "true"}
        yield workspace(tmp_path_factory.mktemp("hardened"), server, config), server


def test_c_harden_at_source_should_preview_clean_and_create_protected_tables(
    hardened: tuple[Workspace, MotoServer],
) -> None:
    space, server = hardened
    preview = space.preview()
    assert preview.code == 0, preview.output
    assert policy_lines(preview) == set() and "Policies:" in preview.output
    up = space.up()
    assert up.code == 0, up.output
    assert policy_lines(up) == set()
    client = dynamodb_client(server.url)
    assert all(protection(client, n) == (True, True) for n in NAMES)
    state = json.loads(space.run("stack", "export", check=True).stdout)
    declared = [
        r for r in state["deployment"]["resources"] if r["type"] == "aws:dynamodb/table:Table"
    ]
    assert len(declared) == 3 and all(r.get("protect") for r in declared)


# --- e: the pack's config through --policy-pack-config ---------------------------------------


def write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, MotoServer]]:
    with moto_server() as server:
        yield (
            workspace(tmp_path_factory.mktemp("configured"), server, {"sourceProtection": "false"}),
            server,
        )


def test_e_exclude_and_min_recovery_days_from_a_config_file_should_reach_the_pack(
    configured: tuple[Workspace, MotoServer], tmp_path: Path
) -> None:
    space, server = configured
    exclude = {"exclude": ["sentinel-sess*"]}
    days = {**exclude, "minRecoveryPeriodDays": 30}
    every_policy = {p: days if p in (PITR_ID, PITR_DEPLOYED) else exclude for p in TABLE_POLICIES}
    config = write(tmp_path / "config.json", every_policy)
    up = space.up("--policy-pack-config", str(config))
    assert up.code == 0, up.output
    client = dynamodb_client(server.url)
    assert protection(client, "sentinel-sessions") == (False, False)
    for name in ("sentinel-requests", "sentinel-breakglass"):
        assert protection(client, name) == (True, True)
        assert (recovery_days(client, name) or 35) >= 30


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {PITR_ID: {"minRecoveryPeriodDays": 36}},
            f"{PITR_ID}: minRecoveryPeriodDays: Must be less than or equal to 35",
        ),
        ({DP: {"exclude": "sentinel-*"}}, f"{DP}: exclude: Invalid type. Expected: array"),
    ],
    ids=["recovery-days-over-35", "exclude-not-a-list"],
)
def test_e_an_invalid_config_should_be_refused_with_the_schemas_message(
    configured: tuple[Workspace, MotoServer], tmp_path: Path, config: dict[str, Any], message: str
) -> None:
    space, _ = configured
    run = space.preview("--policy-pack-config", str(write(tmp_path / "bad.json", config)))
    assert run.code != 0
    assert f"error: validating policy config: sentinel-dynamodb 0.1.0  {message}" in run.output, (
        run.output
    )


def test_e_an_exclude_set_on_some_policies_only_should_leave_the_others_reporting_the_table(
    configured: tuple[Workspace, MotoServer], tmp_path: Path
) -> None:
    """Pulumi's config is per policy: each policy uses its own `exclude`."""
    space, server = configured
    sessions = {"exclude": ["sentinel-sess*"]}
    every_policy = write(tmp_path / "all.json", {p: sessions for p in TABLE_POLICIES})
    up = space.up("--policy-pack-config", str(every_policy))  # as test_e's: a no-op after it
    assert up.code == 0, up.output
    assert protection(dynamodb_client(server.url), "sentinel-sessions") == (False, False)
    exclude = {"enforcementLevel": "mandatory", **sessions}
    some = write(tmp_path / "some.json", {DP: exclude, PITR_ID: exclude})
    run = space.run(
        "policy", "analyze", "--policy-pack", str(PACK), "--policy-pack-config", str(some)
    )
    assert run.code != 0, run.output
    assert {(p, t) for _, p, t in policy_lines(run)} == {
        (DP_DEPLOYED, "sentinel-sessions"),
        (PITR_DEPLOYED, "sentinel-sessions"),
    }
    every_policy = write(tmp_path / "all.json", {p: exclude for p in TABLE_POLICIES})
    quiet = space.run(
        "policy", "analyze", "--policy-pack", str(PACK), "--policy-pack-config", str(every_policy)
    )
    assert quiet.code == 0 and policy_lines(quiet) == set(), quiet.output


def test_e_every_example_config_should_be_accepted_by_preview_and_policy_analyze(
    configured: tuple[Workspace, MotoServer],
) -> None:
    space, _ = configured
    for config in sorted((PACK / "config").glob("*.json")):
        flag = ("--policy-pack-config", str(config))
        for run in (space.preview(*flag), analyze(space, config=config)):
            assert "validating policy config" not in run.output, (config.name, run.output)
            assert "Policies:" in run.output, (config.name, run.output)


def test_e_policy_analyze_should_refuse_a_bad_config_with_the_schemas_message(
    configured: tuple[Workspace, MotoServer], tmp_path: Path
) -> None:
    space, _ = configured
    bad = write(tmp_path / "bad.json", {PITR_DEPLOYED: {"minRecoveryPeriodDays": 0}})
    run = space.run(
        "policy", "analyze", "--policy-pack", str(PACK), "--policy-pack-config", str(bad)
    )
    assert run.code != 0
    assert (
        f"{PITR_DEPLOYED}: minRecoveryPeriodDays: Must be greater than or equal to 1" in run.output
    ), run.output


# --- h: the pack judges what is deployed (issue 20) ------------------------------------------


@dataclass
class Drift:
    space: Workspace
    server: MotoServer
    remediated_quiet: Run
    healthy: Run
    before_refresh: Run
    analyzed: Run
    from_file: Run
    as_json: Run
    preview: Run
    repaired: Run
    after_repair: Run
    pitr: Run


@pytest.fixture(scope="module")
def drift(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drift]:
    """The issue's scenario: up with the pack, deletion protection off with boto3, refresh."""
    tmp = tmp_path_factory.mktemp("drift")
    with moto_server() as server:
        space = workspace(tmp, server, {"sourceProtection": "false"})
        remediated_quiet = space.up()
        client = dynamodb_client(server.url)
        assert all(protection(client, n) == (True, True) for n in NAMES)
        healthy = analyze(space)
        client.update_table(TableName="sentinel-requests", DeletionProtectionEnabled=False)
        before_refresh = analyze(space)
        space.run("refresh", "--yes", check=True)
        analyzed = analyze(space)
        export = tmp / "export.json"
        space.run("stack", "export", "--file", str(export), check=True)
        from_file = analyze(space, "--file", str(export))
        as_json = analyze(space, "--json")
        preview = space.preview("--refresh")
        repaired = space.up("--refresh")
        after_repair = analyze(space)
        client.update_continuous_backups(
            TableName="sentinel-sessions",
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False},
        )
        client.update_continuous_backups(
            TableName="sentinel-breakglass",
            PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True,
                "RecoveryPeriodInDays": 7,
            },
        )
        space.run("refresh", "--yes", check=True)
        fortnight = {"enforcementLevel": "mandatory", "minRecoveryPeriodDays": 14}
        config = write(tmp / "fortnight.json", {"all": "mandatory", PITR_DEPLOYED: fortnight})
        pitr = analyze(space, config=config)
        yield Drift(
            space,
            server,
            remediated_quiet,
            healthy,
            before_refresh,
            analyzed,
            from_file,
            as_json,
            preview,
            repaired,
            after_repair,
            pitr,
        )


def test_h_after_a_remediated_up_the_stack_policies_should_be_quiet(drift: Drift) -> None:
    """They ran after the tables were created, on the outputs read back: no false alarm."""
    run = drift.remediated_quiet
    assert run.code == 0, run.output
    assert {p for _, p, _ in policy_lines(run)} <= {DP, PITR_ID}  # remediations, none deployed
    assert DP_DEPLOYED not in run.output and PITR_DEPLOYED not in run.output


def test_h_analyze_of_a_healthy_stack_should_exit_0_with_no_violation(drift: Drift) -> None:
    assert drift.healthy.code == 0, drift.healthy.output
    assert policy_lines(drift.healthy) == set()
    assert "✅ sentinel-dynamodb@v0.1.0" in drift.healthy.output
    # Before the refresh the state still records the table as protected: nothing to see yet.
    assert drift.before_refresh.code == 0 and policy_lines(drift.before_refresh) == set()


def test_h_analyze_after_refresh_should_name_exactly_the_drifted_table_and_control(
    drift: Drift,
) -> None:
    run = drift.analyzed
    assert run.code == 1, run.output
    assert policy_lines(run) == {("mandatory", DP_DEPLOYED, "sentinel-requests")}
    assert (
        "sentinel-requests in us-east-1 (account 123456789012): the deployed state has Deletion "
        "Protection off (deletionProtectionEnabled: false); the stack declares Deletion "
        "Protection on. It drifted"
    ) in run.output
    assert "error: one or more mandatory policy violations were found" in run.output


def test_h_analyze_of_an_export_should_find_the_same_drift(drift: Drift) -> None:
    run = drift.from_file
    assert run.code == 1, run.output
    assert policy_lines(run) == {("mandatory", DP_DEPLOYED, "sentinel-requests")}


def test_h_analyze_json_should_carry_one_violation_event_for_the_drift(drift: Drift) -> None:
    run = drift.as_json
    assert run.code == 1
    events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    violations = [e["policyEvent"] for e in events if "policyEvent" in e]
    (violation,) = violations
    assert violation["policyName"] == DP_DEPLOYED
    assert violation["enforcementLevel"] == "mandatory" and violation["severity"] == "high"
    assert violation["resourceUrn"].endswith("aws:dynamodb/table:Table::requests")
    assert "sentinel-requests in us-east-1" in violation["message"]
    (summary_event,) = [e["summaryEvent"] for e in events if "summaryEvent" in e]
    assert summary_event["result"] == "failed"


def test_h_preview_refresh_should_show_the_update_that_restores_the_protection(
    drift: Drift,
) -> None:
    run = drift.preview
    assert run.code == 0, run.output
    assert re.search(r"~\s+aws:dynamodb:Table requests update", run.output), run.output
    assert re.search(r"~ 1 to update", summary(run)), run.output
    assert drift.repaired.code == 0, drift.repaired.output
    assert protection(dynamodb_client(drift.server.url), "sentinel-requests") == (True, True)
    assert drift.after_repair.code == 0 and policy_lines(drift.after_repair) == set()


def test_h_pitr_off_and_a_short_period_should_each_be_detected(drift: Drift) -> None:
    run = drift.pitr
    assert run.code == 1, run.output
    assert policy_lines(run) == {
        ("mandatory", PITR_DEPLOYED, "sentinel-sessions"),
        ("mandatory", PITR_DEPLOYED, "sentinel-breakglass"),
    }
    assert (
        "sentinel-sessions in us-east-1 (account 123456789012): the deployed state has PITR off"
        in (run.output)
    )
    assert "PITR keeping 7 days, fewer than the required 14" in run.output
    assert recovery_days(dynamodb_client(drift.server.url), "sentinel-breakglass") == 7


# --- g: pulumi destroy of protected tables ---------------------------------------------------


def test_g_destroy_should_be_refused_by_pulumis_protect_and_then_by_aws(
    hardened: tuple[Workspace, MotoServer],
) -> None:
    space, server = hardened
    assert space.up().code == 0  # a no-op after test c
    refused = space.run("destroy", "--yes")
    assert refused.code != 0
    assert refused.output.count("because it is protected") == 3, refused.output
    assert tables(server) == list(NAMES)
    # A throwaway stack turns `protect` off (the pack says so, as an advisory) ...
    space.run("config", "set", "protect", "false", check=True)
    unprotect = space.up()
    assert unprotect.code == 0, unprotect.output
    assert policy_lines(unprotect) == every("advisory", PROTECT_POLICY)
    # ... and the tables' own deletion protection still holds: AWS refuses the DeleteTable.
    deleted = space.run("destroy", "--yes")
    assert deleted.code != 0
    for name in NAMES:
        assert (
            f"Table '{name}' can't be deleted while DeletionProtectionEnabled is set to True"
        ) in deleted.output
    assert tables(server) == list(NAMES)


# --- issue 15: the program as declared passes its own pack ----------------------------------


def test_the_program_as_declared_should_pass_its_own_pack_with_no_diagnostic(
    tmp_path: Path,
) -> None:
    with moto_server() as server:
        space = workspace(tmp_path, server, {})
        run = space.preview("--diff")
    assert run.code == 0, run.output
    assert policy_lines(run) == set()
    assert PROTECT_POLICY not in run.output and "Diagnostics:" not in run.output
    assert run.output.count("(create) 🔒") == 3  # Pulumi's own `protect`, on each table
