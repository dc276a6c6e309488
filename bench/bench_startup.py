"""CLI start-up: `python -m remediation harden --help` beside `python -c "import boto3"`.

The CLI imports boto3 only once its arguments are good, so asking for help costs less than the
import alone. Target: within 1.3x of `import boto3`. Each command runs `--runs` times, alternating,
and the medians are compared.

    python -m bench.bench_startup --runs 15
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "import boto3": [sys.executable, "-c", "import boto3"],
    "harden --help": [sys.executable, "-m", "remediation", "harden", "--help"],
}


def _once(command: Sequence[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    for command in COMMANDS.values():  # warm the file cache and .pyc files
        _once(command)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, command in COMMANDS.items():
            times[name].append(_once(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"{name:<14} median {median * 1000:7.1f} ms over {args.runs} runs")
    ratio = medians["harden --help"] / medians["import boto3"]
    verdict = "MET" if ratio <= 1.3 else "MISSED"
    print(f"start-up: harden --help is {ratio:.2f}x import boto3 (target <= 1.3x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
