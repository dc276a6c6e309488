"""`make demo`: the hardener end to end on a local moto server, no AWS account needed.

Starts moto_server on loopback, creates Sentinel's three tables in mixed protection states plus one
table outside the prefix, shows status, hardens with --force, shows status again; then adds a
table a Pulumi stack manages and runs with its export (--pulumi-state): shown, left to Pulumi.

`python3 -m tests.demo --plan` is `make demo`'s first line: whether its Pulumi part (`tests.preview
--up`) will run on the real Pulumi CLI or on the imitation engine until one is built, and how long
each step takes. It needs only the standard library, so it runs before .venv exists.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.pulumi_cli import ROOT, locate, version_of

FIRST_BUILD = "about 15 minutes the first time on a new machine"


def plan(venv_ready: bool) -> str:
    """What `make demo` is about to do, said before it does any of it."""
    venv = "" if venv_ready else "first .venv is built (2-3 minutes, once), then "
    cli, _ = locate()
    if cli is not None:
        pulumi = f"the real Pulumi CLI {version_of(cli)} ({cli})"
        return (
            f"make demo: {venv}the harden CLI on a local moto_server (seconds), then "
            f"`pulumi preview` and `pulumi up` with the policy pack on {pulumi}: "
            "under a minute in all."
        )
    go = "" if shutil.which("go") else " (it needs Go, which is not on PATH)"
    return (
        f"make demo: {venv}the harden CLI on a local moto_server (seconds), then the policy pack "
        "on the project's imitation engine (tests/analyzer_engine.py): no Pulumi CLI v3.274+ is on "
        "PATH or built in tools/pulumi/bin. The real-CLI part needs `make pulumi-cli` (or `make "
        f"test`) first, which builds it from Go sources{go}, {FIRST_BUILD}; "
        "the next `make demo` then uses it."
    )


def show(args: list[str], env: dict[str, str]) -> None:
    print(f"$ python -m remediation {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "remediation", *args], env=env, cwd=ROOT, check=False)
    print(flush=True)


def main() -> None:
    from tests.conftest import create_sentinel_tables, create_table
    from tests.pulumi_states import provider, sentinel_export, stack_resource, table, write_json
    from tests.servers import REGION, aws_env, dynamodb_client, moto_server

    with moto_server() as server:
        env = aws_env(server.url)
        client = dynamodb_client(server.url)
        create_sentinel_tables(client, outside="billing-ledger")
        print(f"# moto_server on {server.url}: 3 sentinel- tables in mixed states, 1 other table")
        print()
        common = ["harden", "--endpoint-url", server.url, "--region", REGION]
        show([*common, "--dry-run"], env)
        show([*common, "--force"], env)
        show([*common, "--dry-run"], env)
        untouched = client.describe_table(TableName="billing-ledger")["Table"]
        print(
            "# billing-ledger (outside the prefix) still has deletion protection "
            f"{untouched['DeletionProtectionEnabled']}: never touched"
        )
        print()
        create_table(client, "sentinel-audit")
        with tempfile.TemporaryDirectory() as folder:
            # sentinel-audit is declared in a Pulumi stack: this is its `pulumi stack export`.
            export = sentinel_export()
            resources = [
                stack_resource(),
                provider("default_7_51_1", REGION),
                table("audit", "sentinel-audit"),
            ]
            export["deployment"]["resources"] = resources
            state = write_json(Path(folder) / "dev.json", export)
            print("# a new table, sentinel-audit, that the Pulumi stack `dev` manages:")
            print()
            show([*common, "--pulumi-state", str(state), "--force"], env)
        audit = client.describe_table(TableName="sentinel-audit")["Table"]
        print(
            "# sentinel-audit still has deletion protection "
            f"{audit['DeletionProtectionEnabled']}: left to Pulumi"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--plan"]:
        print(plan(venv_ready=(ROOT / ".venv" / "bin" / "python").exists()), flush=True)
    else:
        main()
