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
from remediation.pulumi_policies import PROTECT_POLICY
from tests.conftest import create_table, protection, recovery_days
from tests.pulumi_cli import PACK, Run, Workspace, locate
from tests.servers import MotoServer, dynamodb_client, moto_server

NAMES = ("sentinel-breakglass", "sentinel-requests", "sentinel-sessions")
DP, PITR_ID = DELETION_PROTECTION.id, PITR.id

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
    assert policy_lines(run) == every("advisory", DP, PITR_ID)
    for name in NAMES:
        assert f"{name}: Deletion Protection is off" in run.output
        assert f"{name}: PITR is off" in run.output


def test_a_mandatory_config_should_fail_the_preview_naming_every_table(
    unprotected: Unprotected,
) -> None:
    run = unprotected.mandatory
    assert run.code != 0
    assert policy_lines(run) == every("mandatory", DP, PITR_ID)
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
    config = write(
        tmp_path / "config.json",
        {DP: exclude, PITR_ID: {**exclude, "minRecoveryPeriodDays": 30}, PROTECT_POLICY: exclude},
    )
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
