"""`python -m remediation harden` as a subprocess against a real moto_server.

Every test reads the tables' state back from the server after the run.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from tests.cli_process import ROOT, UNPACED, run_cli, run_cli_on_terminal
from tests.conftest import TableFactory, create_sentinel_tables, protection
from tests.servers import MotoServer, aws_env


@pytest.fixture
def env(server: MotoServer) -> dict[str, str]:
    return aws_env(server.url)


@pytest.fixture
def sentinel(server_client: Any) -> list[str]:
    return create_sentinel_tables(server_client)


def states(client: Any, names: list[str]) -> list[tuple[bool, bool]]:
    return [protection(client, n) for n in names]


def test_discovery_crosses_pages_and_hardens_every_matching_table(
    env: dict[str, str], server_table: TableFactory, server_client: Any
) -> None:
    # Interleave others so that matching tables sit on every ListTables page (moto lists in
    # creation order).
    names = []
    for i in range(260):
        names.append(server_table(f"sentinel-t{i:03d}", deletion_protection=i % 3 == 0))
        if i % 10 == 0:
            server_table(f"zz-other-{i:03d}")
    result = run_cli(["harden", "--force", "--json", *UNPACED], env)
    assert result.returncode == 0, result.stderr
    document = result.json()
    assert (document["total"], document["succeeded"], document["failed"]) == (260, 260, 0)
    assert [t["table_name"] for t in document["tables"]] == sorted(names)
    assert set(states(server_client, names)) == {(True, True)}
    assert protection(server_client, "zz-other-000") == (False, False)


def test_prompt_answered_yes_hardens(
    env: dict[str, str], sentinel: list[str], server_client: Any
) -> None:
    result = run_cli_on_terminal(["harden", *UNPACED], env, answer="y")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Harden 3 tables in account 123456789012, region us-east-1? [y/N]" in result.stdout
    assert result.stdout.splitlines()[-1] == "Summary: all 3 tables protected (3 hardened now)."
    assert set(states(server_client, sentinel)) == {(True, True)}


@pytest.mark.parametrize("answer", ["n", None], ids=["no", "eof"])
def test_prompt_answered_no_or_eof_cancels_and_changes_nothing(
    env: dict[str, str], sentinel: list[str], server_client: Any, answer: str | None
) -> None:
    result = run_cli_on_terminal(["harden", *UNPACED], env, answer=answer)
    assert result.returncode == 2
    assert "Harden 3 tables in account 123456789012, region us-east-1? [y/N]" in result.stdout
    assert "Cancelled" in result.stderr
    assert states(server_client, sentinel) == [(False, False), (True, False), (False, True)]


def test_piped_stdin_is_a_cancel_even_when_it_says_yes(
    env: dict[str, str], sentinel: list[str], server_client: Any
) -> None:
    result = run_cli(["harden", "--json", *UNPACED], env, stdin="y\n")
    assert result.returncode == 2
    assert result.json()["cancelled"] is True
    assert states(server_client, sentinel) == [(False, False), (True, False), (False, True)]


def test_json_document_reports_changes_and_states(
    env: dict[str, str], sentinel: list[str], server_client: Any
) -> None:
    result = run_cli(["harden", "--json", "--force", *UNPACED], env)
    assert result.returncode == 0, result.stderr
    document = result.json()
    assert {k: document[k] for k in ("total", "succeeded", "failed")} == {
        "total": 3,
        "succeeded": 3,
        "failed": 0,
    }
    changed = {
        t["table_name"]: (t["deletion_protection_changed"], t["pitr_changed"])
        for t in document["tables"]
    }
    assert changed == {
        "sentinel-breakglass": (False, True),
        "sentinel-requests": (True, True),
        "sentinel-sessions": (True, False),
    }
    for entry in document["tables"]:
        assert entry["after"]["deletion_protection"] is True
        assert entry["after"]["pitr_enabled"] is True
        assert "error" not in entry
    assert set(states(server_client, sentinel)) == {(True, True)}


def test_dry_run_shows_the_plan_and_changes_nothing(
    env: dict[str, str], sentinel: list[str], server_client: Any
) -> None:
    result = run_cli(["harden", "--dry-run", *UNPACED], env)
    assert result.returncode == 0
    assert "Changes to apply:" in result.stdout
    assert "Dry run: nothing was changed." in result.stdout
    assert states(server_client, sentinel) == [(False, False), (True, False), (False, True)]


def test_no_pitr_leaves_pitr_alone(
    env: dict[str, str], sentinel: list[str], server_client: Any
) -> None:
    result = run_cli(["harden", "--no-pitr", "--force", *UNPACED], env)
    assert result.returncode == 0, result.stderr
    assert states(server_client, sentinel) == [(True, False), (True, False), (True, True)]


def test_table_by_name_touches_only_that_table(
    env: dict[str, str], sentinel: list[str], server_client: Any
) -> None:
    result = run_cli(["harden", "--table", "sentinel-requests", "--force", *UNPACED], env)
    assert result.returncode == 0, result.stderr
    assert "Tables to harden (1 found in account 123456789012, region us-east-1):" in result.stdout
    assert states(server_client, sentinel) == [(True, True), (True, False), (False, True)]


def test_table_by_arn_touches_only_that_table(
    env: dict[str, str], sentinel: list[str], server_client: Any
) -> None:
    arn = server_client.describe_table(TableName="sentinel-sessions")["Table"]["TableArn"]
    result = run_cli(["harden", "--table", arn, "--force", *UNPACED], env)
    assert result.returncode == 0, result.stderr
    assert states(server_client, sentinel) == [(False, False), (True, False), (True, True)]


def test_a_missing_table_fails_that_table_and_the_rest_is_done(
    env: dict[str, str], sentinel: list[str], server_client: Any
) -> None:
    args = ["harden", "--table", "sentinel-gone", "--table", "sentinel-requests", "--force"]
    result = run_cli([*args, "--json", *UNPACED], env)
    assert result.returncode == 1
    tables = {t["table_name"]: t for t in result.json()["tables"]}
    assert tables["sentinel-gone"]["error"]["code"] == "ResourceNotFoundException"
    assert tables["sentinel-requests"]["result"] == "hardened"
    assert protection(server_client, "sentinel-requests") == (True, True)


def test_help_works_as_a_smoke_test(env: dict[str, str]) -> None:
    top = run_cli(["--help"], env)
    harden = run_cli(["harden", "--help"], env)
    assert top.returncode == 0 and "harden" in top.stdout
    assert harden.returncode == 0
    for flag in ("--table", "--prefix", "--no-pitr", "--force", "--json", "--dry-run"):
        assert flag in harden.stdout


@pytest.mark.parametrize("flags", [[], ["--json"]], ids=["text", "json"])
def test_a_reader_that_goes_away_neither_stops_the_run_nor_prints_a_traceback(
    env: dict[str, str], sentinel: list[str], server_client: Any, flags: list[str]
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "remediation", "harden", "--force", *flags, *UNPACED],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # as `| head -0` would: every write to stdout now fails
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
    assert set(states(server_client, sentinel)) == {(True, True)}


def test_a_terminal_that_cannot_show_check_marks_still_gets_a_report(
    env: dict[str, str], sentinel: list[str], server_client: Any
) -> None:
    result = run_cli(["harden", "--force", *UNPACED], {**env, "PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0, result.stderr
    assert "? sentinel-requests: Deletion protection enabled, PITR enabled" in result.stdout
    assert set(states(server_client, sentinel)) == {(True, True)}
