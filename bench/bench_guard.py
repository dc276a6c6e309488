"""The runtime guard: handler time per event, and its cold import, each beside a baseline.

- Per event, on bench/sim_endpoint.py at `--latency-ms` per call (AWS's quotas, unscaled): a warm
  guard (`remediation.guard.handler`, its default pacing) handles one CloudTrail event per table
  that needs both protections, then the same events again (a duplicate delivery: read only).
  Baseline: the same DynamoDB calls made one after another on a plain boto3 client, with no
  pacing, no parsing and no judging: what the calls alone cost.
- Cold import: `python -c "import remediation.guard"` beside `python -c "import boto3"`, each run
  `--runs` times alternately; medians compared. Target: within 1.3x (the guard adds only the core).

    python -m bench.bench_guard --tables 20 --latency-ms 20 --runs 15
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3

from bench.sim_endpoint import SimEndpoint, SimState
from remediation import guard

ROOT = Path(__file__).resolve().parent.parent
PITR_READ_QUOTA = 10.0  # DescribeContinuousBackups calls per second per account and region
EVENT = ROOT / "tests" / "events" / "create-table.json"
IMPORTS = {
    "import boto3": [sys.executable, "-c", "import boto3"],
    "import remediation.guard": [sys.executable, "-c", "import remediation.guard"],
}


class _Context:
    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def _event(table: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(EVENT.read_text())
    event["detail"]["requestParameters"]["tableName"] = table
    return event


def _environment(url: str) -> None:
    for key in list(os.environ):
        if key.startswith(("AWS_", "SENTINEL_")):
            del os.environ[key]
    os.environ.update(
        AWS_ENDPOINT_URL=url,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_EC2_METADATA_DISABLED="true",
    )


def _timed(fn: Callable[[], object], items: int) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) / items * 1000


def per_event(tables: int, latency_ms: float) -> dict[str, float | int]:
    state = SimState()
    with SimEndpoint(state, latency=latency_ms / 1000) as endpoint:
        _environment(endpoint.url)
        names = state.seed(tables)
        events = [_event(name) for name in names]
        with contextlib.redirect_stdout(io.StringIO()):  # the handler's log lines
            guard.handler(_event("warm-up-not-ours"), _Context())  # cold start out of the timing
            state.reset()
            hardening = _timed(lambda: [guard.handler(e, _Context()) for e in events], tables)
            harden_calls = state.stats()["totals"]
            state.reset()
            duplicate = _timed(lambda: [guard.handler(e, _Context()) for e in events], tables)
        state.seed(tables)  # unprotected again, for the baseline
        client = boto3.client("dynamodb")
        client.describe_table(TableName=names[0])  # its connection, out of the timing

        def calls_alone(write: bool) -> None:
            for name in names:
                client.describe_table(TableName=name)
                client.describe_continuous_backups(TableName=name)
                if write:
                    client.update_table(TableName=name, DeletionProtectionEnabled=True)
                    client.update_continuous_backups(
                        TableName=name,
                        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
                    )

        state.reset()
        base_harden = _timed(lambda: calls_alone(True), tables)
        base_duplicate = _timed(lambda: calls_alone(False), tables)
        base_throttled = state.stats()["totals"]["throttled"]
    return {
        "guard_harden_ms": hardening,
        "guard_duplicate_ms": duplicate,
        "baseline_harden_ms": base_harden,
        "baseline_duplicate_ms": base_duplicate,
        "harden_calls_per_event": harden_calls["calls"] / tables,
        "throttled": harden_calls["throttled"],
        "baseline_throttled": base_throttled,
    }


def cold_import(runs: int) -> dict[str, float]:
    def once(command: Sequence[str]) -> float:
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        return time.perf_counter() - started

    for command in IMPORTS.values():  # warm the file cache and .pyc files
        once(command)
    times: dict[str, list[float]] = {name: [] for name in IMPORTS}
    for _ in range(runs):
        for name, command in IMPORTS.items():
            times[name].append(once(command))
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_guard", description=__doc__)
    parser.add_argument("--tables", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)

    figures = per_event(args.tables, args.latency_ms)
    print(f"# {args.tables} events, one per unprotected table, {args.latency_ms:g} ms per call")
    print(
        f"harden event     guard {figures['guard_harden_ms']:7.1f} ms   "
        f"calls alone {figures['baseline_harden_ms']:7.1f} ms   "
        f"{figures['guard_harden_ms'] / figures['baseline_harden_ms']:.2f}x   "
        f"({figures['harden_calls_per_event']:g} calls/event, {figures['throttled']} throttled)"
    )
    print(
        f"duplicate event  guard {figures['guard_duplicate_ms']:7.1f} ms   "
        f"calls alone {figures['baseline_duplicate_ms']:7.1f} ms   "
        f"{figures['guard_duplicate_ms'] / figures['baseline_duplicate_ms']:.2f}x"
    )
    print(
        f"quota floor      {1000 / PITR_READ_QUOTA:.1f} ms per event: a DescribeContinuousBackups "
        f"at AWS's {PITR_READ_QUOTA:g}/s (calls alone: {figures['baseline_throttled']} throttled)"
    )
    medians = cold_import(args.runs)
    for name, median in medians.items():
        print(f"{name:<25} median {median:7.1f} ms over {args.runs} runs")
    ratio = medians["import remediation.guard"] / medians["import boto3"]
    verdict = "MET" if ratio <= 1.3 else "MISSED"
    print(f"cold import: the guard is {ratio:.2f}x import boto3 (target <= 1.3x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
