"""Run `python -m remediation` as a real subprocess, with a pipe or a pseudo-terminal for stdin."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

UNPACED = ["--rate", "DescribeContinuousBackups=1000"]
"""moto is no AWS: lift the client-side DescribeContinuousBackups pacing (9.7/s) so tests do not
wait on it. Every other operation keeps its default pace (only the control plane's `*`)."""


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(
    args: Sequence[str], env: Mapping[str, str], stdin: str | None = None, timeout: float = 120
) -> Completed:
    """The CLI with stdin a pipe (never a terminal): holds `stdin`, or is closed at once."""
    process = subprocess.run(
        [sys.executable, "-m", "remediation", *args],
        input=stdin or "",
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=ROOT,
        timeout=timeout,
    )
    return Completed(process.returncode, process.stdout, process.stderr)


def run_cli_on_terminal(
    args: Sequence[str],
    env: Mapping[str, str],
    answer: str | None,
    prompt: str = "[y/N] ",
    timeout: float = 60,
) -> Completed:
    """The CLI with stdin and stdout on a pseudo-terminal; type `answer` at the prompt.

    `answer=None` sends EOF (Ctrl-D) at the prompt instead of a line.
    """
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "remediation", *args],
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.PIPE,
        env=dict(env),
        cwd=ROOT,
        close_fds=True,
    )
    os.close(terminal)
    output = b""
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            if not answered and prompt.encode() in output:
                os.write(controller, (answer + "\n").encode() if answer is not None else b"\x04")
                answered = True
            if process.poll() is not None and not ready:
                break
        else:
            process.kill()
            raise TimeoutError(f"CLI did not finish in {timeout}s; output so far: {output!r}")
        stderr = process.stderr.read().decode() if process.stderr else ""
        process.wait(timeout=10)
    finally:
        os.close(controller)
        if process.stderr:
            process.stderr.close()
    text = output.decode().replace("\r\n", "\n")
    return Completed(process.returncode, text, stderr)
