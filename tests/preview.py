"""`python -m tests.preview`: what `pulumi preview --policy-pack policy_pack` reports, sans CLI.

The sample program is the Sentinel program (`__main__.py`) with protection stripped by a stack
transform. Its resources, captured under Pulumi's mocks, go through the real policy pack process,
driven over gRPC by `tests.analyzer_engine` in the engine's order, once per enforcement setting.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from tests.analyzer_engine import PACK_DIR, AnalyzerEngine, Report, capture_program, unprotect

_ABSENT = object()


def _show(value: Any) -> str:
    return "(not set)" if value is _ABSENT else json.dumps(value, sort_keys=True)


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    keys = sorted(k for k in {*before, *after} if before.get(k, _ABSENT) != after.get(k, _ABSENT))
    return [f"{k}: {_show(before.get(k, _ABSENT))} => {_show(after.get(k, _ABSENT))}" for k in keys]


def _remediations(report: Report, out: TextIO) -> None:
    for step in report.steps:
        out.write(f"  {step.resource.type}  {step.resource.name}\n")
        props = step.inputs
        for remediation in step.remediations:
            if remediation.diagnostic:
                out.write(f"    ! {remediation.policy}: {remediation.diagnostic}\n")
                continue
            new = remediation.properties or props
            changes = "; ".join(_diff(props, new)) or "no change"
            out.write(f"    ~ {remediation.policy} remediated: {changes}\n")
            props = new
        untouched = sorted(k for k in step.inputs if step.inputs[k] == step.remediated.get(k))
        out.write(f"    = unchanged: {', '.join(untouched)}\n")


def _violations(report: Report, out: TextIO) -> None:
    for step in report.steps:
        for diagnostic in step.diagnostics:
            message = diagnostic.message.splitlines()[-1]
            out.write(f"  {diagnostic.level:9} {diagnostic.policy}\n              {message}\n")


def main(out: TextIO = sys.stdout) -> int:
    resources = sorted(capture_program(transforms=[unprotect]), key=lambda r: r.name)
    out.write(
        "This drives the policy pack over the Pulumi engine's analyzer protocol (gRPC, "
        "tests/analyzer_engine.py), not the Pulumi CLI, which is not installed here.\n"
    )
    out.write(
        "Sample program: __main__.py with protection stripped "
        f"({len(resources)} tables), as `pulumi preview` registers it.\n\n"
    )

    with AnalyzerEngine() as engine:
        report = engine.run(resources)
        # The CLI reports the version PulumiPolicy.yaml declares.
        yaml = (PACK_DIR / "PulumiPolicy.yaml").read_text()
        version = re.search(r"^version:\s*(\S+)", yaml, re.MULTILINE)
        out.write(
            f"$ pulumi preview --policy-pack policy_pack\n"
            f"Policy pack {engine.info.name}@v{version[1] if version else '?'}, every policy at "
            f"'{engine.config[engine.info.policies[0].name].level}' (the default): "
            "the preview shows what `pulumi up` will change.\n"
        )
        _remediations(report, out)
        out.write(f"  Blocked: {'yes' if report.blocked else 'no'}\n\n")

    for name in ("advisory", "mandatory"):
        config = PACK_DIR / "config" / f"{name}.json"
        with AnalyzerEngine(policy_config=config) as engine:
            report = engine.run(resources)
        out.write(
            "$ pulumi preview --policy-pack policy_pack "
            f"--policy-pack-config policy_pack/config/{name}.json\n"
            "Nothing is changed; each table is reported instead:\n"
        )
        _violations(report, out)
        verdict = "yes: the preview fails" if report.blocked else "no: warnings only"
        out.write(f"  Blocked: {verdict}\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
