"""`make demo`: the hardener end to end on a local moto server, no AWS account needed.

Starts moto_server on loopback, creates Sentinel's three tables in mixed protection states plus one
table outside the prefix, shows status, hardens with --force, shows status again; then adds a
table a Pulumi stack manages and runs with its export (--pulumi-state): shown, left to Pulumi.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.cli_process import ROOT
from tests.conftest import create_sentinel_tables, create_table
from tests.pulumi_states import provider, sentinel_export, stack_resource, table, write_json
from tests.servers import REGION, aws_env, dynamodb_client, moto_server


def show(args: list[str], env: dict[str, str]) -> None:
    print(f"$ python -m remediation {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "remediation", *args], env=env, cwd=ROOT, check=False)
    print(flush=True)


def main() -> None:
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
    main()
