"""Policy pack overhead: N resources, Remediate then Analyze, through our pack and a do-nothing one.

    python -m bench.bench_pack [--resources 5000]

Both packs run side by side, driven by the same test engine (`tests.analyzer_engine`) over real
gRPC with the same resources, as the engine does it: per resource Remediate, then Analyze on the
remediated inputs; AnalyzeStack at the end. Timing is paired: each resource goes through both packs
back to back, in alternating order, so load on the machine hits both alike. Targets: per-resource
time within 1.2x of the baseline's, and pack start-up (process start to GetAnalyzerInfo's answer)
under 1 s.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from tests.analyzer_engine import (
    PACK_DIR,
    AnalyzerEngine,
    Resource,
    capture_program,
    secret,
    unprotect,
)

BASELINE_DIR = Path(__file__).resolve().parent / "empty_pack"
RATIO_TARGET = 1.2
STARTUP_TARGET = 1.0


def resources(count: int) -> list[Resource]:
    """A stack heavy in DynamoDB: in every 10 resources, 1 unprotected Sentinel table (remediated),
    1 protected one, 1 table of another app and 7 other resources."""
    unprotected = capture_program(transforms=[unprotect])[0]
    protected = capture_program()[0]
    others: list[tuple[str, dict[str, Any]]] = [
        (
            "aws:dynamodb/table:Table",
            {"name": "orders", "hashKey": "id", "billingMode": "PAY_PER_REQUEST"},
        ),
        ("aws:s3/bucket:Bucket", {"bucket": "sentinel-audit-logs", "tags": {"team": "sentinel"}}),
        ("aws:iam/role:Role", {"name": "sentinel-server", "assumeRolePolicy": secret("{}")}),
        ("aws:lambda/function:Function", {"name": "sentinel-api", "runtime": "provided.al2023"}),
        ("aws:apigateway/restApi:RestApi", {"name": "sentinel", "description": "Sentinel API"}),
        ("aws:cloudwatch/logGroup:LogGroup", {"name": "/sentinel/server", "retentionInDays": 90}),
        ("aws:sqs/queue:Queue", {"name": "sentinel-events", "visibilityTimeoutSeconds": 30}),
        ("aws:kms/key:Key", {"description": "sentinel", "enableKeyRotation": True}),
    ]
    templates = [
        (unprotected.type, dict(unprotected.props)),
        (protected.type, dict(protected.props)),
        *others,
    ]
    made = []
    for index in range(count):
        type_, props = templates[index % len(templates)]
        props = dict(props)
        if "name" in props and props["name"].startswith("sentinel-") and "hashKey" in props:
            props["name"] = f"{props['name']}-{index}"
        made.append(Resource(type_, f"r{index}", props))
    return made


def _one(engine: AnalyzerEngine, resource: Resource) -> tuple[float, Resource]:
    started = time.perf_counter()
    _, remediated, _ = engine.remediate(resource)
    engine.analyze(resource, remediated)
    return time.perf_counter() - started, Resource(resource.type, resource.name, remediated)


def paired(
    ours: AnalyzerEngine, baseline: AnalyzerEngine, batch: Sequence[Resource]
) -> dict[str, float]:
    """Seconds each pack took for the whole batch, AnalyzeStack included."""
    total = {"ours": 0.0, "baseline": 0.0}
    final: dict[str, list[Resource]] = {"ours": [], "baseline": []}
    engines = [("ours", ours), ("baseline", baseline)]
    for index, resource in enumerate(batch):
        for name, engine in engines if index % 2 == 0 else reversed(engines):
            seconds, remediated = _one(engine, resource)
            total[name] += seconds
            final[name].append(remediated)
    for name, engine in engines:
        started = time.perf_counter()
        engine.analyze_stack(final[name])
        total[name] += time.perf_counter() - started
    return total


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_pack", description=__doc__)
    parser.add_argument("--resources", type=int, default=5000, metavar="N")
    args = parser.parse_args(argv)
    batch = resources(args.resources)

    with AnalyzerEngine(PACK_DIR) as ours, AnalyzerEngine(BASELINE_DIR) as baseline:
        report = ours.run(batch[:50])  # warm both processes and channels
        baseline.run(batch[:50])
        remediated = sum(bool(s.remediations) for s in report.steps)
        seconds = paired(ours, baseline, batch)
        startup = {"ours": ours.startup_seconds, "baseline": baseline.startup_seconds}

    per = {name: total / args.resources * 1e6 for name, total in seconds.items()}
    ratio = per["ours"] / per["baseline"]
    out.write(
        f"{args.resources} resources, Remediate then Analyze each, AnalyzeStack at the end; "
        "timed in pairs\n"
        "  mix: per 10 resources 1 unprotected Sentinel table (remediated), 1 protected one,\n"
        f"  1 table of another app, 7 other resources ({remediated} of the first 50 remediated)\n"
        f"  our pack      {per['ours']:8.1f} us/resource   start-up {startup['ours']:.3f} s\n"
        f"  empty pack    {per['baseline']:8.1f} us/resource   "
        f"start-up {startup['baseline']:.3f} s\n"
        f"  ratio         {ratio:8.2f}x  (target <= {RATIO_TARGET}x: "
        f"{'met' if ratio <= RATIO_TARGET else 'MISSED'})\n"
        f"  start-up      {startup['ours']:.3f} s  (target < {STARTUP_TARGET} s: "
        f"{'met' if startup['ours'] < STARTUP_TARGET else 'MISSED'})\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
