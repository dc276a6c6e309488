"""The CLI at N tables against a simulated DynamoDB, beside the Go original's sequential pattern.

Both run as subprocesses against the same in-memory endpoint (bench/sim_endpoint.py) with a set
latency per call and AWS's quotas enforced, on the same freshly seeded tables, in the same run:

- status:   baseline reads every table; ours is `harden --dry-run`
- harden:   baseline hardens table by table; ours is `harden --force`
- no-pitr:  baseline reads both protections and writes deletion protection (the Go original under
            --no-pitr); ours is `harden --force --no-pitr`

The quota floor is the least time AWS allows: the DescribeContinuousBackups calls the run must make
(one per table: the reads; the answer to each write is its read-back, so none follows a write) at
10 per second, times the scale. Targets at N = 1,000 and 20 ms: status and harden (every table
lacking PITR) within 1.15x of that read floor with no throttled call; no-pitr at least 8x faster
than the baseline.

    python -m bench.bench_cli --tables 1000 --latency-ms 20 --scale 10
    python -m bench.bench_cli --scenario harden --scale 1     # at AWS's own quotas
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.sim_endpoint import CONTROL_PLANE_RATE, SimEndpoint, SimState
from remediation.aws import DEFAULT_RATES

ROOT = Path(__file__).resolve().parent.parent
PITR_READ_QUOTA = 10.0  # DescribeContinuousBackups calls per second per account and region
SCENARIOS = ("status", "harden", "no-pitr")


@dataclass
class Run:
    scenario: str
    who: str
    seconds: float
    calls: int
    throttled: int
    protected_after: tuple[int, int]
    floor: float | None

    def line(self) -> str:
        floor = f"{self.floor:8.2f}" if self.floor else "       -"
        ratio = f"{self.seconds / self.floor:6.3f}x" if self.floor else "      -"
        dp, pitr = self.protected_after
        return (
            f"{self.scenario:<8} {self.who:<9} {self.seconds:9.2f} {self.calls:7d} "
            f"{self.throttled:9d} {floor} {ratio}   dp={dp} pitr={pitr}"
        )


def _env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def _timed(command: Sequence[str]) -> float:
    started = time.perf_counter()
    process = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if process.returncode not in (0,):
        raise SystemExit(
            f"{' '.join(command[:5])}... exited {process.returncode}: {process.stderr}"
        )
    return elapsed


def _measure(
    endpoint: SimEndpoint,
    scenario: str,
    who: str,
    command: Sequence[str],
    args: argparse.Namespace,
    floor: float | None,
) -> Run:
    state = endpoint.state
    state.seed(args.tables, "sentinel-", args.protected_fraction)
    state.reset()
    seconds = _timed(command)
    stats = state.stats()
    totals = stats["totals"]
    return Run(
        scenario=scenario,
        who=who,
        seconds=seconds,
        calls=totals["calls"],
        throttled=totals["throttled"] + totals["limit_exceeded"],
        protected_after=(stats["tables"]["deletion_protection"], stats["tables"]["pitr"]),
        floor=floor,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_cli", description=__doc__)
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--scale", type=float, default=10.0, help="multiplies AWS's quotas")
    parser.add_argument("--protected-fraction", type=float, default=0.0)
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="run only this scenario (repeatable; default: all three)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args(argv)

    n = args.tables
    pitr_rate = PITR_READ_QUOTA * args.scale
    floors = {"status": n / pitr_rate, "harden": n / pitr_rate, "no-pitr": None}
    endpoint_args = ["--region", "us-east-1"]
    # Our CLI's own default pacing, scaled like the simulated quotas.
    pace = [f"--rate={op}={rate * args.scale:g}" for op, rate in DEFAULT_RATES.items()]
    assert DEFAULT_RATES["*"] < CONTROL_PLANE_RATE
    ours = {
        "status": ["--dry-run"],
        "harden": ["--force"],
        "no-pitr": ["--force", "--no-pitr"],
    }
    baseline = {"status": ["--read-only"], "harden": [], "no-pitr": ["--no-pitr"]}

    runs: list[Run] = []
    state = SimState(scale=args.scale)
    with SimEndpoint(state, latency=args.latency_ms / 1000) as endpoint:
        print(
            f"# {n} tables, {args.latency_ms:g} ms per call, quotas x{args.scale:g} "
            f"(DescribeContinuousBackups {pitr_rate:g}/s), "
            f"{args.protected_fraction:.0%} already protected"
        )
        print(
            f"{'scenario':<8} {'run':<9} {'wall s':>9} {'calls':>7} {'throttled':>9} "
            f"{'floor s':>8} {'/floor':>7}"
        )
        for scenario in args.scenario or SCENARIOS:
            base_cmd = [
                sys.executable,
                "-m",
                "bench.baseline",
                "--endpoint-url",
                endpoint.url,
                *baseline[scenario],
            ]
            our_cmd = [
                sys.executable,
                "-m",
                "remediation",
                "harden",
                "--endpoint-url",
                endpoint.url,
                *endpoint_args,
                *pace,
                "--json",
                *ours[scenario],
            ]
            floor = floors[scenario]
            for who, command in (("baseline", base_cmd), ("ours", our_cmd)):
                run = _measure(endpoint, scenario, who, command, args, floor)
                runs.append(run)
                print(run.line(), flush=True)
    print()
    verdicts = _verdicts(runs)
    for line in verdicts:
        print(line)
    if args.json:
        document: dict[str, Any] = {
            "args": vars(args),
            "runs": [run.__dict__ for run in runs],
            "verdicts": verdicts,
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
    return 0


def _verdicts(runs: list[Run]) -> list[str]:
    by = {(r.scenario, r.who): r for r in runs}
    lines = []
    for scenario in ("status", "harden"):
        if (scenario, "ours") not in by:
            continue
        ours = by[(scenario, "ours")]
        base = by[(scenario, "baseline")]
        assert ours.floor is not None
        ratio = ours.seconds / ours.floor
        ok = ratio <= 1.15 and ours.throttled == 0
        lines.append(
            f"{scenario}: ours {ratio:.3f}x the quota floor (target <= 1.15x), "
            f"{ours.throttled} throttled (target 0), {base.seconds / ours.seconds:.1f}x faster "
            f"than the baseline: {'MET' if ok else 'MISSED'}"
        )
    if ("no-pitr", "ours") not in by:
        return lines
    ours, base = by[("no-pitr", "ours")], by[("no-pitr", "baseline")]
    speedup = base.seconds / ours.seconds
    lines.append(
        f"no-pitr: ours {speedup:.1f}x faster than the baseline (target >= 8x), "
        f"{ours.throttled} throttled: {'MET' if speedup >= 8 and ours.throttled == 0 else 'MISSED'}"
    )
    return lines


if __name__ == "__main__":
    sys.exit(main())
