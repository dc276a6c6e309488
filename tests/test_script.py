"""The installed `sentinel-harden` script is the harden command, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from remediation.cli import ExitStatus
from tests.cli_process import UNPACED, Completed
from tests.conftest import TableFactory, protection
from tests.servers import MotoServer, aws_env

SCRIPT = Path(sys.executable).parent / "sentinel-harden"


def script(args: list[str], env: dict[str, str] | None, cwd: Path) -> Completed:
    """The console script pip installed, from a folder outside the project."""
    process = subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )
    return Completed(process.returncode, process.stdout, process.stderr)


def test_the_script_usage_names_the_script_and_takes_the_harden_flags(tmp_path: Path) -> None:
    result = script(["--help"], None, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: sentinel-harden [-h] [--table NAME_OR_ARN]")
    for flag in ("--exclude GLOB", "--min-recovery-days N", "--check", "--force"):
        assert flag in result.stdout
    assert "COMMAND" not in result.stdout


def test_the_module_keeps_its_own_usage_line(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "remediation", "harden", "--help"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m remediation harden [-h]")


@pytest.mark.parametrize("form", [[], ["harden"]], ids=["script", "script-harden"])
def test_the_script_checks_and_hardens(
    server: MotoServer, server_table: TableFactory, server_client: Any, tmp_path: Path, form: Any
) -> None:
    server_table("sentinel-a")
    env = aws_env(server.url)
    check = script([*form, "--check", "--json"], env, tmp_path)
    assert check.returncode == ExitStatus.FAILED, check.stderr
    assert check.json()["tables"][0]["result"] == "unprotected"
    assert protection(server_client, "sentinel-a") == (False, False)
    harden = script([*form, "--force", "--json", *UNPACED], env, tmp_path)
    assert harden.returncode == ExitStatus.OK, harden.stderr
    assert protection(server_client, "sentinel-a") == (True, True)


def test_bad_input_to_the_script_is_one_line_and_exit_3(tmp_path: Path) -> None:
    result = script(["--min-recovery-days", "40", "--json"], None, tmp_path)
    assert result.returncode == ExitStatus.USAGE
    assert result.stderr == (
        "error: --min-recovery-days must be 1 to 35, got 40 (see `sentinel-harden --help`)\n"
    )
    assert result.json()["error"]
