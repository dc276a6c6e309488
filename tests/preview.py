"""`python -m tests.preview [--up | --imitation]`: what `pulumi preview --policy-pack` reports.

With the real Pulumi CLI (on PATH, or built by `make pulumi-cli`), the Sentinel program runs with
`sourceProtection: false` on a file:// backend and a local moto_server, through the CLI, the
real policy pack process and the stand-in AWS provider; `--up` then runs `pulumi up` and a
second preview. Without a CLI, the program's resources, captured under Pulumi's mocks with
protection stripped by a stack transform, go through the real policy pack process driven over
gRPC by `tests.analyzer_engine`. The first line says which engine ran.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from tests.analyzer_engine import PACK_DIR, AnalyzerEngine, Report, capture_program, unprotect
from tests.conftest import protection
from tests.pulumi_cli import Run, Workspace, engine_line, locate
from tests.servers import dynamodb_client, moto_server

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


def _real(cli: Path, up: bool, out: TextIO) -> int:
    config = PACK_DIR / "config"
    runs: list[tuple[str, ...]] = [
        (),
        ("--policy-pack-config", str(config / "advisory.json")),
        ("--policy-pack-config", str(config / "mandatory.json")),
    ]
    with tempfile.TemporaryDirectory() as tmp, moto_server() as server:
        space = Workspace(cli, Path(tmp), server.url)
        space.init({"sourceProtection": "false"})
        out.write("Stack config: sourceProtection: false (the tables declared unprotected)\n\n")
        for args in runs:
            _show_run(space.preview(*args), out)
        if up:
            _show_run(space.up(), out)
            client = dynamodb_client(server.url)
            out.write("Read back from moto_server with boto3 (deletion protection, PITR):\n")
            for name in sorted(client.list_tables()["TableNames"]):
                out.write(f"  {name}: {protection(client, name)}\n")
            out.write("\n")
            _show_run(space.preview(), out)
    return 0


def _show_run(run: Run, out: TextIO) -> None:
    shown = " ".join(a.replace(str(PACK_DIR.parent) + "/", "") for a in run.args)
    out.write(f"$ pulumi {shown}\n{run.stdout}{run.stderr}(exit status {run.code})\n\n")


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = sys.argv[1:] if argv is None else argv
    cli, why = (None, "--imitation asked for it") if "--imitation" in args else locate()
    out.write(engine_line(cli) + "\n")
    if cli is not None:
        return _real(cli, "--up" in args, out)
    out.write(f"({why})\n")
    if "--up" in args:
        out.write(
            "(`pulumi up` runs only on the real CLI: `make pulumi-cli` builds it, "
            "then run this again)\n"
        )
    resources = sorted(capture_program(transforms=[unprotect]), key=lambda r: r.name)
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
