"""`harden --guardrail` on N tables against the simulated endpoint, beside a sequential baseline and
the floor of the PutResourcePolicy pacing, in the same run.

Every table already has deletion protection and PITR, so the run is the guardrail alone (`--no-pitr`
keeps the DescribeContinuousBackups quota, 10/s, out of it: bench_cli measures that floor). Per
table the CLI makes DescribeTable, GetResourcePolicy, PutResourcePolicy and GetResourcePolicy again
(the read-back), plus the ListTables pages and one sts:GetCallerIdentity.

Pacing: AWS documents no per-operation quota for GetResourcePolicy or PutResourcePolicy (the
DynamoDB service quotas page lists none; "Best practices for managing the control plane" gives
2,500 control-plane requests a second per account and region), so both are paced only by the
control-plane pacer, `*` = 2,400/s, a little under it. The floor is N puts at that pace, and, for
scale, every control-plane call of the run at that pace.

The baseline is the plain loop a script would write: one table at a time, GetResourcePolicy then
PutResourcePolicy (no discovery, no read-back).

    python -m bench.bench_guardrail                      # 1,000 tables, 20 ms, AWS's quotas
    python -m bench.bench_guardrail --tables 200 --workers 64
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3

from bench.sim_endpoint import SimEndpoint, SimState, client_env
from remediation import guardrail
from remediation.aws import DEFAULT_RATES

ROOT = Path(__file__).resolve().parent.parent
BREAK_GLASS = "arn:aws:iam::123456789012:role/BreakGlass"


def _ours(endpoint: SimEndpoint, workers: int | None, scale: float) -> tuple[float, str]:
    pace = [f"--rate={op}={rate * scale:g}" for op, rate in DEFAULT_RATES.items()]
    command = [
        sys.executable,
        "-m",
        "remediation",
        "harden",
        "--region",
        "us-east-1",
        "--force",
        "--json",
        "--no-pitr",
        "--guardrail",
        "--break-glass-role",
        BREAK_GLASS,
        # The simulation's caller is an IAM user, which no role ARN can allow.
        "--confirm-remove-self-access",
        *pace,
        *(["--workers", str(workers)] if workers else []),
    ]
    started = time.perf_counter()
    process = subprocess.run(
        command, cwd=ROOT, env=client_env(endpoint.url), capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"harden --guardrail exited {process.returncode}: {process.stderr}")
    return elapsed, process.stdout


def _baseline(endpoint: SimEndpoint, names: Sequence[str]) -> float:
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    principals = guardrail.Principals(break_glass=(BREAK_GLASS,))
    started = time.perf_counter()
    for name in names:
        arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}"
        with contextlib.suppress(client.exceptions.PolicyNotFoundException):
            client.get_resource_policy(ResourceArn=arn)
        policy = guardrail.dumps(guardrail.table_policy(arn, principals))
        client.put_resource_policy(ResourceArn=arn, Policy=policy)
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_guardrail", description=__doc__)
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies AWS's quotas")
    parser.add_argument("--workers", type=int, action="append", help="ours with --workers N")
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args(argv)
    n = args.tables
    rate = DEFAULT_RATES["*"] * args.scale
    rows: list[dict[str, Any]] = []
    state = SimState(scale=args.scale)
    with SimEndpoint(state, latency=args.latency_ms / 1000) as endpoint:
        print(
            f"# {n} tables (deletion protection and PITR on), {args.latency_ms:g} ms per call, "
            f"quotas x{args.scale:g}; PutResourcePolicy paced by '*' at {rate:g}/s"
        )
        print(
            f"{'run':<18} {'wall s':>8} {'calls':>6} {'puts':>5} {'throttled':>9} "
            f"{'floor(puts) s':>13} {'floor(all) s':>12} {'/floor(all)':>11} guarded"
        )
        for who in ["baseline", *(f"ours w={w}" for w in args.workers or [0])]:
            names = state.seed(n, "sentinel-", 1.0)
            state.reset()
            if who == "baseline":
                seconds = _baseline(endpoint, names)
            else:
                workers = int(who.split("=")[1]) or None
                seconds, _ = _ours(endpoint, workers, args.scale)
                who = "ours" if workers is None else who
            stats = state.stats()
            calls = stats["totals"]["calls"]
            puts = stats["operations"]["PutResourcePolicy"]["calls"]
            throttled = stats["totals"]["throttled"] + stats["totals"]["limit_exceeded"]
            row = {
                "run": who,
                "seconds": round(seconds, 3),
                "calls": calls,
                "puts": puts,
                "throttled": throttled,
                "floor_puts": round(puts / rate, 3),
                "floor_all": round(calls / rate, 3),
                "guarded": state.with_policy(),
            }
            rows.append(row)
            print(
                f"{who:<18} {seconds:8.2f} {calls:6d} {puts:5d} {throttled:9d} "
                f"{row['floor_puts']:13.3f} {row['floor_all']:12.3f} "
                f"{seconds / max(row['floor_all'], 1e-9):10.1f}x {row['guarded']}",
                flush=True,
            )
    base = rows[0]["seconds"]
    for row in rows[1:]:
        print(f"{row['run']}: {base / row['seconds']:.1f}x faster than the baseline")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "runs": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
