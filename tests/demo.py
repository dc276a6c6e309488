"""`make demo`: the hardener end to end on a local moto server, no AWS account needed.

Starts moto_server on loopback, creates Sentinel's three tables in mixed protection states plus one
table outside the prefix, shows status, hardens with --force, shows status again, stops the server.
"""

from __future__ import annotations

import subprocess
import sys

from tests.cli_process import ROOT
from tests.conftest import create_sentinel_tables
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


if __name__ == "__main__":
    main()
