"""A status run across an organization's scale, beside a baseline in the same run.

300 accounts x 17 regions (each account's enabled regions, from ec2:DescribeRegions under
`--all-regions`) x 5 tables, PITR status (`--dry-run`), on `sim_endpoint.py` at 20 ms a call and
AWS's own quotas (scale 1). Targets: at most 120 s and at most 1 GiB of peak memory (the CLI
process's maximum resident set, from wait4).

The baseline is the shape a fleet tool takes without sharing clients (c7n-org's: one session per
account from its assumed role, one client per account-region, every account-region on one thread
pool of the same size), calling the same operations: AssumeRole, DescribeRegions, ListTables,
DescribeTable, DescribeContinuousBackups. It runs on a sample of the accounts
(`--baseline-accounts`) and is scaled to all of them (every account is the same size); both
figures are printed.

    python -m bench.bench_scale                       # 300 x 17 x 5, baseline on 30 accounts
    python -m bench.bench_scale --accounts 20         # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.sim_endpoint import DEFAULT_REGIONS, SimEndpoint, SimState, client_env

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 120.0
TARGET_BYTES = 1 << 30


def _measured(command: Sequence[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run `command`; return (wall seconds, its own peak resident bytes from wait4, stdout)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"{command[2:5]}... exited {process.returncode}: {err.read()[-2000:]}")
        # ru_maxrss is in KiB on Linux.
        return elapsed, usage.ru_maxrss * 1024, out.read()


def baseline(url: str, roles: Sequence[str], workers: int) -> dict[str, Any]:
    """The baseline's work, in this process (run as a child by main)."""
    import boto3

    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1", **keys)
    tables = 0

    def account(role: str) -> list[tuple[Any, str]]:
        found = sts.assume_role(RoleArn=role, RoleSessionName="baseline")["Credentials"]
        session = boto3.session.Session(
            aws_access_key_id=found["AccessKeyId"],
            aws_secret_access_key=found["SecretAccessKey"],
            aws_session_token=found["SessionToken"],
        )
        ec2 = session.client("ec2", endpoint_url=url, region_name="us-east-1")
        regions = [
            r["RegionName"]
            for r in ec2.describe_regions(AllRegions=True)["Regions"]
            if r.get("OptInStatus") in ("opt-in-not-required", "opted-in")
        ]
        return [(session.client("dynamodb", endpoint_url=url, region_name=r), r) for r in regions]

    def target(pair: tuple[Any, str]) -> int:
        client, _ = pair
        count = 0
        for page in client.get_paginator("list_tables").paginate():
            for name in page["TableNames"]:
                client.describe_table(TableName=name)
                client.describe_continuous_backups(TableName=name)
                count += 1
        return count

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pairs = [pair for found in pool.map(account, roles) for pair in found]
        tables = sum(pool.map(target, pairs))
    return {"tables": tables, "targets": len(pairs)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_scale", description=__doc__)
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--tables", type=int, default=5, help="per account-region")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=48)
    parser.add_argument("--baseline-accounts", type=int, default=30)
    parser.add_argument(
        "--baseline-worker", nargs=2, metavar=("URL", "ROLES"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.baseline_worker:
        url, roles = args.baseline_worker
        print(json.dumps(baseline(url, roles.split(","), args.workers)))
        return 0

    members = [f"{100000000000 + i:012d}" for i in range(args.accounts)]
    roles = [f"arn:aws:iam::{account}:role/SentinelHarden" for account in members]
    with SimEndpoint(SimState(), latency=args.latency_ms / 1000) as endpoint:
        for account in members:
            for region in DEFAULT_REGIONS:
                endpoint.place(account, region).seed(args.tables)
        targets = len(members) * len(DEFAULT_REGIONS)
        print(
            f"# scale: {len(members)} accounts x {len(DEFAULT_REGIONS)} regions = {targets} "
            f"account-regions x {args.tables} tables, {args.latency_ms:g} ms a call, AWS quotas, "
            "status (--dry-run --all-regions)"
        )
        sample = roles[: args.baseline_accounts]
        command = [
            sys.executable,
            "-m",
            "bench.bench_scale",
            "--workers",
            str(args.workers),
            "--baseline-worker",
            endpoint.url,
            ",".join(sample),
        ]
        base_s, base_peak, out = _measured(command, client_env(endpoint.url))
        base = json.loads(out)
        share = len(members) / len(sample)
        print(
            f"{'baseline':<10} {base_s:8.2f} s  peak {base_peak / 2**20:7.0f} MiB  on "
            f"{len(sample)} accounts ({base['targets']} account-regions, {base['tables']} "
            f"tables); scaled to {len(members)}: {base_s * share:8.2f} s, "
            f"{base_peak * share / 2**20:7.0f} MiB",
            flush=True,
        )
        reach = [f for role in roles for f in ("--role-arn", role)]
        command = [
            sys.executable,
            "-m",
            "remediation",
            "harden",
            "--dry-run",
            "--json",
            "--all-regions",
            "--workers",
            str(args.workers),
            *reach,
        ]
        ours_s, ours_peak, out = _measured(command, client_env(endpoint.url))
        document = json.loads(out)
        ok = sum(t["status"] == "ok" for t in document["targets"])
        print(
            f"{'ours':<10} {ours_s:8.2f} s  peak {ours_peak / 2**20:7.0f} MiB  "
            f"({ok} account-regions ok, {document['total']} tables)"
        )
    met = ours_s <= TARGET_SECONDS and ours_peak <= TARGET_BYTES
    print(
        f"scale: ours {ours_s:.1f} s (target <= {TARGET_SECONDS:g} s), peak "
        f"{ours_peak / 2**20:.0f} MiB (target <= 1024 MiB), "
        f"{base_s * share / ours_s:.1f}x faster than the baseline scaled: "
        + ("MET" if met else "MISSED")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
