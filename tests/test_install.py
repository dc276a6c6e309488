"""The plain package, installed as a CI job installs it: the CLI and the guard with boto3 alone."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediation.cli import ExitStatus
from tests.conftest import TableFactory, protection
from tests.guard_support import EVENTS
from tests.servers import MotoServer, aws_env

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def plain_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtualenv holding `pip install <this project>`, no extras: its bin folder."""
    venv = tmp_path_factory.mktemp("plain") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    yield venv / "bin"


def _run(
    command: list[str], env: dict[str, str] | None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_the_plain_install_has_boto3_and_no_pulumi(plain_venv: Path, tmp_path: Path) -> None:
    probe = (
        "import importlib.util as u, json;"
        "print(json.dumps({n: u.find_spec(n) is not None"
        " for n in ('boto3', 'pulumi', 'pulumi_aws', 'pulumi_policy', 'moto')}))"
    )
    result = _run([str(plain_venv / "python"), "-c", probe], None, tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "boto3": True,
        "pulumi": False,
        "pulumi_aws": False,
        "pulumi_policy": False,
        "moto": False,
    }


def test_the_plain_install_gives_the_script_usage(plain_venv: Path, tmp_path: Path) -> None:
    result = _run([str(plain_venv / "sentinel-harden"), "--help"], None, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: sentinel-harden")


def test_the_plain_install_hardens_on_a_server(
    plain_venv: Path,
    server: MotoServer,
    server_table: TableFactory,
    server_client: Any,
    tmp_path: Path,
) -> None:
    server_table("sentinel-requests")
    server_table("billing-ledger")
    env = aws_env(server.url)
    command = [str(plain_venv / "sentinel-harden"), "--force", "--json"]
    result = _run(command, env, tmp_path)
    assert result.returncode == ExitStatus.OK, result.stderr
    assert [t["table_name"] for t in json.loads(result.stdout)["tables"]] == ["sentinel-requests"]
    assert protection(server_client, "sentinel-requests") == (True, True)
    assert protection(server_client, "billing-ledger") == (False, False)


def test_the_plain_install_runs_the_guard_handler(
    plain_venv: Path,
    server: MotoServer,
    server_table: TableFactory,
    server_client: Any,
    tmp_path: Path,
) -> None:
    server_table("sentinel-requests", pitr=True)
    event = EVENTS / "update-table-deletion-protection-off.json"
    script = (
        "import json, sys\n"
        "from remediation.guard import handler\n"
        "class Context:\n"
        "    def get_remaining_time_in_millis(self): return 60000\n"
        "print(json.dumps(handler(json.load(open(sys.argv[1])), Context())))\n"
    )
    result = _run(
        [str(plain_venv / "python"), "-c", script, str(event)], aws_env(server.url), tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert protection(server_client, "sentinel-requests") == (True, True)


def test_the_plain_install_asks_for_the_ocsf_extra_and_writes_the_other_formats(
    plain_venv: Path, server: MotoServer, server_table: TableFactory, tmp_path: Path
) -> None:
    server_table("sentinel-requests", deletion_protection=True, pitr=True)
    env = aws_env(server.url)
    ocsf = _run([str(plain_venv / "sentinel-harden"), "--check", "--format", "ocsf"], env, tmp_path)
    assert ocsf.returncode == ExitStatus.USAGE
    lines = ocsf.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "error: --format ocsf needs py-ocsf-models: pip install 'sentinel-dynamodb-hardening[ocsf]'"
    )
    for name in ("asff", "junit"):
        result = _run(
            [str(plain_venv / "sentinel-harden"), "--check", "--format", name], env, tmp_path
        )
        assert result.returncode == ExitStatus.OK, result.stderr
        assert "sentinel-requests" in result.stdout
