"""The pack's overhead on the real Pulumi CLI: `pulumi preview` of 100 tables, with and without.

    python -m bench.bench_pulumi [--tables 100] [--runs 5]

A generated program declares N DynamoDB tables (every other one a `sentinel-` table declared
unprotected, so the pack remediates half of them) on a file:// backend and a local moto_server,
with the stand-in AWS provider. `pulumi preview --policy-pack policy_pack` and a plain
`pulumi preview` run alternately, `--runs` times each, in the same run; the median of the
pairs' ratios is printed beside the imitation engine's ratio for the same tables (bench_pack's
paired timing of Remediate and Analyze through our pack and an empty one). Target: <= 1.25x.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bench import bench_pack
from tests.analyzer_engine import PACK_DIR, AnalyzerEngine, Resource
from tests.pulumi_cli import Workspace, engine_line, locate
from tests.servers import moto_server

RATIO_TARGET = 1.25

PROGRAM = """\
import pulumi_aws as aws

for index in range({count}):
    prefix = "sentinel-" if index % 2 == 0 else "orders-"
    aws.dynamodb.Table(
        f"t{{index}}",
        name=f"{{prefix}}{{index}}",
        billing_mode="PAY_PER_REQUEST",
        hash_key="id",
        attributes=[aws.dynamodb.TableAttributeArgs(name="id", type="S")],
    )
"""


def _imitation(count: int) -> float:
    """The imitation engine's ratio (our pack / an empty pack) for the same tables."""
    batch = [
        Resource(
            "aws:dynamodb/table:Table",
            f"t{i}",
            {
                "name": f"{'sentinel-' if i % 2 == 0 else 'orders-'}{i}",
                "billingMode": "PAY_PER_REQUEST",
                "hashKey": "id",
                "attributes": [{"name": "id", "type": "S"}],
            },
        )
        for i in range(count)
    ]
    with (
        AnalyzerEngine(PACK_DIR) as ours,
        AnalyzerEngine(bench_pack.BASELINE_DIR) as baseline,
    ):
        ours.run(batch[:10])
        baseline.run(batch[:10])
        seconds = bench_pack.paired(ours, baseline, batch)
    return seconds["ours"] / seconds["baseline"]


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_pulumi", description=__doc__)
    parser.add_argument("--tables", type=int, default=100, metavar="N")
    parser.add_argument("--runs", type=int, default=5, metavar="N")
    args = parser.parse_args(argv)
    cli, why = locate()
    out.write(engine_line(cli) + "\n")
    if cli is None:
        out.write(f"skipped: {why}\n")
        return 0
    times: dict[str, list[float]] = {"with the pack": [], "without": []}
    with tempfile.TemporaryDirectory() as tmp, moto_server() as server:
        source = Path(tmp) / "source"
        source.mkdir()
        (source / "Pulumi.yaml").write_text(
            "name: bench-tables\nruntime:\n  name: python\n  options:\n    virtualenv: .venv\n"
        )
        (source / "__main__.py").write_text(PROGRAM.format(count=args.tables))
        space = Workspace(cli, Path(tmp) / "run", server.url, source=source)
        space.init({})
        space.preview()  # warm: the first run pays for cold caches
        for index in range(args.runs):
            order = [True, False] if index % 2 == 0 else [False, True]
            for pack in order:
                started = time.perf_counter()
                run = space.preview(pack=pack)
                elapsed = time.perf_counter() - started
                if run.code != 0:
                    out.write(f"error: pulumi preview exited {run.code}:\n{run.output}")
                    return 1
                times["with the pack" if pack else "without"].append(elapsed)
    medians = {name: statistics.median(values) for name, values in times.items()}
    # Each pair ran back to back, so the median of the pairs' ratios is the least load-sensitive.
    ratio = statistics.median(
        ours / base for ours, base in zip(times["with the pack"], times["without"], strict=True)
    )
    imitation = _imitation(args.tables)
    out.write(
        f"pulumi preview of {args.tables} tables (half of them unprotected Sentinel tables), "
        f"median of {args.runs} runs each, alternating\n"
    )
    for name, median in medians.items():
        runs = " ".join(f"{t:.2f}" for t in times[name])
        out.write(f"  {name:14} {median:7.2f} s   (runs: {runs})\n")
    verdict = "MET" if ratio <= RATIO_TARGET else "MISSED"
    out.write(
        f"  real CLI ratio     {ratio:5.2f}x  median of the pairs "
        f"(target <= {RATIO_TARGET}x: {verdict})\n"
        f"  imitation engine   {imitation:5.2f}x  (bench_pack's paired Remediate+Analyze, "
        "our pack / an empty pack, same tables)\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
