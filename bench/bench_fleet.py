"""The CLI across regions and accounts on the simulated endpoint, beside a baseline in the same run.

Every (account, region) of `sim_endpoint.py` has its own tables and its own quotas, as in AWS, and
its STS answers AssumeRole into any account. Two scenarios:

- regions:  4 regions x 250 tables, PITR status (`--dry-run`) under a 10/s DescribeContinuousBackups
            quota per region. One region's quota floor is 250 / 10 = 25 s (at scale 1); the four
            regions in one run must take at most 1.2x that floor, with no throttled call. The run
            of one region alone is printed beside it.
- accounts: 25 accounts x 4 regions = 100 account-regions x 10 tables at 20 ms a call, hardened
            (`--force`) in one run through `--role-arn` per account, against the same CLI run
            one account-region after another (`--role-arn A --region R`, as an operator loops by
            hand today). Target: at least 10x faster.

    python -m bench.bench_fleet                    # regions at quotas x2, accounts at x10
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.sim_endpoint import ACCOUNT_ID, SimEndpoint, SimState, client_env
from remediation.aws import DEFAULT_RATES

ROOT = Path(__file__).resolve().parent.parent
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2")
PITR_READ_QUOTA = 10.0


def _cli(url: str, args: Sequence[str], scale: float) -> float:
    pace = [f"--rate={op}={rate * scale:g}" for op, rate in DEFAULT_RATES.items()]
    command = [sys.executable, "-m", "remediation", "harden", "--json", *pace, *args]
    started = time.perf_counter()
    process = subprocess.run(command, cwd=ROOT, env=client_env(url), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args[:6])}... exited {process.returncode}: {process.stderr}")
    return elapsed


def _throttled(endpoint: SimEndpoint) -> int:
    return sum(
        int(place.stats()["totals"]["throttled"]) + int(place.stats()["totals"]["limit_exceeded"])
        for place in endpoint.places().values()
    )


def _reset(endpoint: SimEndpoint) -> None:
    for place in endpoint.places().values():
        place.reset()


def regions(args: argparse.Namespace) -> str:
    state = SimState(scale=args.scale)
    with SimEndpoint(state, latency=args.latency_ms / 1000) as endpoint:
        for region in REGIONS:
            endpoint.place(ACCOUNT_ID, region).seed(args.tables)
        floor = args.tables / (PITR_READ_QUOTA * args.scale)
        print(
            f"# regions: {len(REGIONS)} x {args.tables} tables, {args.latency_ms:g} ms a call, "
            f"DescribeContinuousBackups {PITR_READ_QUOTA * args.scale:g}/s per region "
            f"(quotas x{args.scale:g}); one region's floor {floor:.2f} s"
        )
        print(f"{'run':<22} {'wall s':>8} {'/floor':>8} {'throttled':>9}")
        runs = {}
        for name, flags in (
            ("one region", ["--region", REGIONS[0]]),
            (f"{len(REGIONS)} regions, one run", [f for r in REGIONS for f in ("--region", r)]),
        ):
            _reset(endpoint)
            seconds = _cli(endpoint.url, ["--dry-run", *flags], args.scale)
            throttled = _throttled(endpoint)
            runs[name] = (seconds, throttled)
            print(f"{name:<22} {seconds:8.2f} {seconds / floor:7.3f}x {throttled:9d}", flush=True)
    seconds, throttled = runs[f"{len(REGIONS)} regions, one run"]
    ratio = seconds / floor
    verdict = "MET" if ratio <= 1.2 and throttled == 0 else "MISSED"
    return (
        f"regions: {len(REGIONS)} regions in {ratio:.3f}x one region's floor (target <= 1.2x), "
        f"{throttled} throttled (target 0): {verdict}"
    )


def accounts(args: argparse.Namespace) -> str:
    members = [f"{100000000000 + i:012d}" for i in range(args.accounts)]
    roles = [f"arn:aws:iam::{account}:role/SentinelHarden" for account in members]
    state = SimState(scale=args.scale)
    with SimEndpoint(state, latency=args.latency_ms / 1000) as endpoint:

        def seed() -> None:
            for account in members:
                for region in REGIONS:
                    endpoint.place(account, region).seed(args.per_target)
            _reset(endpoint)

        targets = len(members) * len(REGIONS)
        print(
            f"# accounts: {len(members)} accounts x {len(REGIONS)} regions = {targets} "
            f"account-regions x {args.per_target} tables, {args.latency_ms:g} ms a call, "
            f"quotas x{args.scale:g}, hardened (--force)"
        )
        seed()
        pairs = [(role, region) for role in roles for region in REGIONS]
        sample = pairs[: args.baseline_sample or len(pairs)]
        started = time.perf_counter()
        for role, region in sample:
            _cli(endpoint.url, ["--force", "--role-arn", role, "--region", region], args.scale)
        # Every account-region is the same size, so a sample of them scales to all of them.
        one_by_one = (time.perf_counter() - started) * len(pairs) / len(sample)
        base_throttled = _throttled(endpoint)
        measured = "" if len(sample) == len(pairs) else f" (measured on {len(sample)}, scaled)"
        print(
            f"{'one after another':<22} {one_by_one:8.2f} s  throttled {base_throttled}{measured}"
        )
        seed()
        reach = [f for role in roles for f in ("--role-arn", role)]
        every = [f for region in REGIONS for f in ("--region", region)]
        ours = _cli(endpoint.url, ["--force", *reach, *every], args.scale)
        throttled = _throttled(endpoint)
        protected = sum(
            t["deletion_protection"] and t["pitr"]
            for place in endpoint.places().values()
            for t in place.tables()
        )
        print(f"{'one run':<22} {ours:8.2f} s  throttled {throttled}  protected {protected}")
    speedup = one_by_one / ours
    verdict = "MET" if speedup >= 10 and throttled == 0 else "MISSED"
    return (
        f"accounts: one run {speedup:.1f}x faster than one account-region after another "
        f"(target >= 10x), {throttled} throttled: {verdict}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_fleet", description=__doc__)
    parser.add_argument(
        "--scale",
        type=float,
        default=None,
        help=(
            "multiplies every quota (default: 2 for regions, whose 2,000 calls must not outrun "
            "this machine's CPU, and 10 for accounts, whose baseline is 100 runs)"
        ),
    )
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--tables", type=int, default=250, help="per region (regions scenario)")
    parser.add_argument("--accounts", type=int, default=25)
    parser.add_argument("--per-target", type=int, default=10, help="tables per account-region")
    parser.add_argument("--only", choices=("regions", "accounts"))
    parser.add_argument(
        "--baseline-sample",
        type=int,
        default=0,
        metavar="N",
        help="run the one-after-another baseline on N account-regions and scale (0: all)",
    )
    args = parser.parse_args(argv)
    verdicts = []
    if args.only in (None, "regions"):
        verdicts.append(regions(argparse.Namespace(**{**vars(args), "scale": args.scale or 2.0})))
        print()
    if args.only in (None, "accounts"):
        verdicts.append(accounts(argparse.Namespace(**{**vars(args), "scale": args.scale or 10.0})))
        print()
    for line in verdicts:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
