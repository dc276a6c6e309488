"""The real Pulumi CLI, run on the project's own program, pack and a file:// backend, offline.

`locate()` finds the CLI the way `make pulumi-cli` (tools/pulumi/ensure.sh) does: a `pulumi` on
PATH at v3.274 or newer, else the one built into tools/pulumi/bin. `Workspace` gives each run a
temporary project folder (the project's Pulumi.yaml and __main__.py, linked), a file:// backend,
a passphrase, its own PULUMI_HOME whose plugin cache holds the test doubles the CLI cannot get
here (tests/standin_aws_provider.py as `pulumi-resource-aws`, and tests/standin_python_host.py
as `pulumi-language-python` when no real host sits next to `pulumi`), automatic plugin
acquisition off, no update check, and every proxy variable pointing at a closed local port, so
that nothing reaches the network.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "policy_pack"
BUILT = ROOT / "tools" / "pulumi" / "bin" / "pulumi"
PLUGINS = ROOT / "tests" / "plugins"
PINNED = "v3.274.1"
PROJECT = "sentinel-dynamodb"
STACK = "test"
REGION = "us-east-1"
PASSPHRASE = "sentinel-tests"
CLOSED_PORT_PROXY = "http://127.0.0.1:9"
"""The discard port: any HTTP(S) request the CLI or a plugin tries to send off-machine fails."""


def compatible(version: str) -> bool:
    match = re.match(r"v3\.(\d+)\.", version)
    return bool(match) and int(match[1]) >= 274


def version_of(cli: Path | str) -> str:
    env = {**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"}
    result = subprocess.run(
        [str(cli), "version"], capture_output=True, text=True, env=env, check=False, timeout=60
    )
    return result.stdout.strip()


def locate() -> tuple[Path | None, str]:
    """The CLI to run, or None and one line that says why there is none."""
    ambient = shutil.which("pulumi")
    if ambient and compatible(version_of(ambient)):
        return Path(ambient), ""
    if BUILT.exists() and (BUILT.parent / "pulumi-language-python-exec").exists():
        return BUILT, ""
    return None, (
        "no pulumi v3.274+ on PATH and none built in tools/pulumi/bin "
        "(`make pulumi-cli` builds it where Go is installed)"
    )


def engine_line(cli: Path | None) -> str:
    """The first line `make preview` and `make demo` print: which engine ran."""
    if cli is None:
        return "Engine: the project's imitation of the analyzer protocol (tests/analyzer_engine.py)"
    host = "real" if (cli.parent / "pulumi-language-python").exists() else "stand-in"
    return (
        f"Engine: the real Pulumi CLI {version_of(cli)} ({cli}), Python language host: {host}, "
        "AWS provider: the stand-in (tests/standin_aws_provider.py) on moto_server"
    )


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Workspace:
    """One project folder, backend and PULUMI_HOME under `tmp`, on the moto_server at `aws_url`."""

    def __init__(
        self, cli: Path, tmp: Path, aws_url: str, stack: str = STACK, source: Path = ROOT
    ) -> None:
        """`source` holds the program's Pulumi.yaml and __main__.py (the project's by default)."""
        self.cli = cli
        self.stack = stack
        self.project = tmp / "project"
        self.backend = tmp / "backend"
        self.home = tmp / "home"
        for folder in (self.project, self.backend, self.home):
            folder.mkdir(parents=True, exist_ok=True)
        for name in ("Pulumi.yaml", "__main__.py"):
            (self.project / name).symlink_to(source / name)
        (self.project / ".venv").symlink_to(ROOT / ".venv")
        self._install_plugins()
        # Imported here so that `locate` and `engine_line` need only the standard library
        # (`make demo` says which engine it will use before .venv exists).
        from tests.servers import aws_env

        env = aws_env(aws_url, REGION)
        env.update(
            PATH=os.pathsep.join([str(cli.parent), str(ROOT / ".venv" / "bin"), env["PATH"]]),
            PULUMI_HOME=str(self.home),
            PULUMI_BACKEND_URL=self.backend.as_uri(),
            PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
            PULUMI_SKIP_UPDATE_CHECK="true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
            PULUMI_IGNORE_AMBIENT_PLUGINS="true",
            PULUMI_DIY_BACKEND_NO_LEGACY_WARNING="true",
            PULUMI_SKIP_CONFIRMATIONS="true",
            NO_COLOR="1",
            HTTP_PROXY=CLOSED_PORT_PROXY,
            HTTPS_PROXY=CLOSED_PORT_PROXY,
            NO_PROXY="127.0.0.1,localhost",
        )
        env.pop("PULUMI_ACCESS_TOKEN", None)
        self.env = env

    def _install_plugins(self) -> None:
        cache = self.home / "plugins"
        aws = cache / f"resource-aws-v{importlib.metadata.version('pulumi_aws')}"
        aws.mkdir(parents=True)
        (aws / "pulumi-resource-aws").symlink_to(PLUGINS / "pulumi-resource-aws")
        if not (self.cli.parent / "pulumi-language-python").exists():
            host = cache / f"language-python-{PINNED}"
            host.mkdir(parents=True)
            (host / "pulumi-language-python").symlink_to(PLUGINS / "pulumi-language-python")

    def run(self, *args: str, check: bool = False, timeout: float = 600) -> Run:
        result = subprocess.run(
            [str(self.cli), *args, "--non-interactive"]
            if args[0] in {"preview", "up", "destroy", "refresh"}
            else [str(self.cli), *args],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        run = Run(tuple(args), result.returncode, result.stdout, result.stderr)
        if check and run.code != 0:
            raise AssertionError(f"pulumi {' '.join(args)} exited {run.code}:\n{run.output}")
        return run

    def init(self, config: Mapping[str, str]) -> None:
        """`pulumi stack init`, then the stack's config (project keys bare, others `ns:key`)."""
        self.run("stack", "init", self.stack, "--secrets-provider", "passphrase", check=True)
        pairs = {"aws:region": REGION, **config}
        args = [arg for key, value in pairs.items() for arg in ("--plaintext", f"{key}={value}")]
        self.run("config", "set-all", *args, check=True)

    def preview(self, *args: str, pack: bool = True) -> Run:
        policy = ("--policy-pack", str(PACK)) if pack else ()
        return self.run("preview", *policy, *args)

    def up(self, *args: str, pack: bool = True) -> Run:
        policy = ("--policy-pack", str(PACK)) if pack else ()
        return self.run("up", "--yes", *policy, *args)

    def remediation(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`python -m remediation ...` on the same moto_server, as a user would run it."""
        return subprocess.run(
            [sys.executable, "-m", "remediation", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
