"""The progress bar shows on a terminal's stderr only: never in JSON, never when piped."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.cli_process import ROOT, UNPACED, run_cli
from tests.conftest import create_table
from tests.servers import MotoServer, aws_env


def stderr_on_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "remediation", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=env,
        cwd=ROOT,
    )
    os.close(terminal)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    stdout = process.stdout.read().decode() if process.stdout else ""
    process.wait(timeout=10)
    os.close(controller)
    return process.returncode, stdout, seen.decode()


@pytest.fixture
def tables(server: MotoServer, server_client: Any) -> None:
    for i in range(40):
        create_table(server_client, f"sentinel-{i:02d}")


def test_progress_is_drawn_on_a_terminal_stderr(server: MotoServer, tables: None) -> None:
    code, stdout, terminal = stderr_on_terminal(
        ["harden", "--force", *UNPACED], aws_env(server.url)
    )
    assert code == 0
    assert "Reading tables [" in terminal and "40/40" in terminal
    assert "Hardening [" in terminal
    assert "Reading tables" not in stdout


def test_no_progress_with_json_even_on_a_terminal(server: MotoServer, tables: None) -> None:
    code, stdout, terminal = stderr_on_terminal(
        ["harden", "--force", "--json", *UNPACED], aws_env(server.url)
    )
    assert code == 0
    assert "Reading tables" not in terminal and "Hardening" not in terminal
    assert stdout.lstrip().startswith("{")


def test_no_progress_when_stderr_is_piped(server: MotoServer, tables: None) -> None:
    result = run_cli(["harden", "--force", *UNPACED], aws_env(server.url))
    assert result.returncode == 0
    assert "\r" not in result.stderr and "Reading tables" not in result.stderr
