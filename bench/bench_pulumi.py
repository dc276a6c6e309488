"""The pack's overhead on the real Pulumi CLI, against an empty pack (bench/empty_pack), one run.

    python -m bench.bench_pulumi [--tables 100 1000] [--export-tables 1000] [--runs 3]

1. `pulumi preview` of a generated program of N tables (every other one a `sentinel-` table
   declared unprotected, so the pack remediates half of them), `--policy-pack policy_pack` and
   `--policy-pack bench/empty_pack` alternately, `--runs` times each.
2. `pulumi policy analyze --file` of a `pulumi stack export` of 1,000 deployed tables (half of
   them Sentinel's): the export of a real two-table stack, up with the pack, its table resources
   repeated under new names and URNs; the same alternation. Once as deployed (every Sentinel
   table protected: the audit's usual answer), once with every Sentinel table's outputs drifted
   (deletion protection off: a violation per Sentinel table to report).

On a file:// backend and a local moto_server, with the stand-in AWS provider. Each ratio is the
median of the pairs' ratios (the pairs ran back to back, so load hits both alike), printed beside
the imitation engine's ratio for the same tables (bench_pack's paired Remediate and Analyze).
Target: <= 1.25x.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from bench import bench_pack
from tests.analyzer_engine import PACK_DIR, AnalyzerEngine, Resource
from tests.pulumi_cli import Run, Workspace, engine_line, locate
from tests.servers import moto_server

RATIO_TARGET = 1.25
EMPTY_PACK = bench_pack.BASELINE_DIR

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


def _workspace(cli: Path, tmp: Path, url: str, count: int) -> Workspace:
    source = tmp / f"source-{count}"
    source.mkdir()
    (source / "Pulumi.yaml").write_text(
        "name: bench-tables\nruntime:\n  name: python\n  options:\n    virtualenv: .venv\n"
    )
    (source / "__main__.py").write_text(PROGRAM.format(count=count))
    space = Workspace(cli, tmp / f"run-{count}", url, source=source)
    space.init({})
    return space


def _alternate(runs: int, command: Callable[[Path], Run]) -> dict[str, list[float]]:
    """`command` with our pack and with the empty one, back to back, in alternating order."""
    times: dict[str, list[float]] = {"our pack": [], "empty pack": []}
    command(PACK_DIR)  # warm: the first run pays for cold caches
    for index in range(runs):
        order = [PACK_DIR, EMPTY_PACK] if index % 2 == 0 else [EMPTY_PACK, PACK_DIR]
        for pack in order:
            started = time.perf_counter()
            run = command(pack)
            elapsed = time.perf_counter() - started
            if run.code not in (0, 1) or "Policies:" not in run.output:
                raise RuntimeError(f"pulumi {' '.join(run.args)} exited {run.code}:\n{run.output}")
            times["our pack" if pack == PACK_DIR else "empty pack"].append(elapsed)
    return times


def _export(space: Workspace, tmp: Path, count: int, *, drifted: bool) -> Path:
    """A stack export of `count` deployed tables: a real two-table stack's, tables repeated;
    `drifted`, every Sentinel table's outputs say deletion protection is off."""
    state = json.loads(space.run("stack", "export", check=True).stdout)
    resources = state["deployment"]["resources"]
    tables = [r for r in resources if r["type"] == "aws:dynamodb/table:Table"]
    made: list[dict[str, Any]] = [r for r in resources if r not in tables]
    for index in range(count):
        table = copy.deepcopy(tables[index % len(tables)])
        old = table["outputs"]["name"]
        name = f"{old.rsplit('-', 1)[0]}-{index}"
        table["urn"] = table["urn"].rsplit("::", 1)[0] + f"::t{index}"
        table["id"] = name
        for bag in (table["inputs"], table["outputs"]):
            bag["name"] = name
        table["outputs"]["arn"] = table["outputs"]["arn"].replace(old, name)
        if drifted and name.startswith("sentinel-"):
            table["outputs"]["deletionProtectionEnabled"] = False
        made.append(table)
    state["deployment"]["resources"] = made
    path = tmp / f"export-{count}{'-drifted' if drifted else ''}.json"
    path.write_text(json.dumps(state))
    return path


def _report(out: TextIO, title: str, times: dict[str, list[float]], imitation: float) -> None:
    ratio = statistics.median(
        ours / base for ours, base in zip(times["our pack"], times["empty pack"], strict=True)
    )
    out.write(f"{title}, median of {len(times['our pack'])} runs each, alternating\n")
    for name, values in times.items():
        runs = " ".join(f"{t:.2f}" for t in values)
        out.write(f"  {name:14} {statistics.median(values):7.2f} s   (runs: {runs})\n")
    verdict = "MET" if ratio <= RATIO_TARGET else "MISSED"
    out.write(
        f"  real CLI ratio     {ratio:5.2f}x  median of the pairs "
        f"(target <= {RATIO_TARGET}x: {verdict})\n"
        f"  imitation engine   {imitation:5.2f}x  (bench_pack's paired Remediate+Analyze, "
        "our pack / an empty pack, same tables)\n"
    )


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_pulumi", description=__doc__)
    parser.add_argument("--tables", type=int, nargs="*", default=[100, 1000], metavar="N")
    parser.add_argument("--export-tables", type=int, default=1000, metavar="N")
    parser.add_argument("--runs", type=int, default=3, metavar="N")
    args = parser.parse_args(argv)
    cli, why = locate()
    out.write(engine_line(cli) + "\n")
    if cli is None:
        out.write(f"skipped: {why}\n")
        return 0
    with tempfile.TemporaryDirectory() as folder, moto_server() as server:
        tmp = Path(folder)
        for count in args.tables:
            space = _workspace(cli, tmp, server.url, count)
            times = _alternate(
                args.runs, lambda pack, s=space: s.run("preview", "--policy-pack", str(pack))
            )
            title = f"pulumi preview of {count} tables (half of them unprotected Sentinel tables)"
            _report(out, title, times, _imitation(count))
        small = _workspace(cli, tmp, server.url, 2)
        if small.up().code != 0:
            out.write("error: pulumi up of the two-table stack failed\n")
            return 1
        imitation = _imitation(args.export_tables)
        for drifted in (False, True):
            export = _export(small, tmp, args.export_tables, drifted=drifted)
            times = _alternate(
                args.runs,
                lambda pack, e=export: small.run(
                    "policy", "analyze", "--policy-pack", str(pack), "--file", str(e)
                ),
            )
            reported = f"each Sentinel one drifted: {args.export_tables // 2} reported"
            state = reported if drifted else "all protected"
            title = (
                f"pulumi policy analyze --file of {args.export_tables} deployed tables "
                f"(half of them Sentinel's, {state})"
            )
            _report(out, title, times, imitation)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
