"""The Sentinel program under mocks, and its resources through the real pack as preview and up."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediation.controls import DELETION_PROTECTION, PITR
from remediation.pulumi_policies import TABLE
from tests.analyzer_engine import (
    PACK_DIR,
    PROJECT,
    ROOT,
    AnalyzerEngine,
    Resource,
    capture_program,
    unprotect,
)

NAMES = ["sentinel-requests", "sentinel-breakglass", "sentinel-sessions"]
PROTECTION_KEYS = {"deletionProtectionEnabled", "pointInTimeRecovery"}


def without_protection(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k not in PROTECTION_KEYS}


def gsis(resource: Resource) -> dict[str, tuple[str, str]]:
    """Index name -> (hash key, range key)."""
    result = {}
    for index in resource.props["globalSecondaryIndexes"]:
        keys = {k["keyType"]: k["attributeName"] for k in index["keySchemas"]}
        assert index["projectionType"] == "ALL"
        result[index["name"]] = (keys["HASH"], keys["RANGE"])
    return result


@pytest.fixture(scope="module")
def program() -> list[Resource]:
    return capture_program()


@pytest.fixture(scope="module")
def unprotected() -> list[Resource]:
    """The same program with a transform turning protection off registered before it."""
    return capture_program(transforms=[unprotect])


@pytest.fixture(scope="module")
def preview() -> Iterator[AnalyzerEngine]:
    with AnalyzerEngine(dry_run=True) as engine:
        yield engine


@pytest.fixture(scope="module")
def up() -> Iterator[AnalyzerEngine]:
    with AnalyzerEngine(dry_run=False) as engine:
        yield engine


def test_the_program_should_declare_sentinels_three_tables_protected(
    program: list[Resource],
) -> None:
    # Registration order is up to the SDK's event loop; the set is what counts.
    assert sorted((r.type, r.props["name"]) for r in program) == sorted((TABLE, n) for n in NAMES)
    for resource in program:
        props = resource.props
        assert props["deletionProtectionEnabled"] is True
        assert props["pointInTimeRecovery"] == {"enabled": True}
        assert (props["billingMode"], props["hashKey"]) == ("PAY_PER_REQUEST", "id")
        assert props["ttl"] == {"attributeName": "ttl", "enabled": True}
        assert props["serverSideEncryption"] == {"enabled": True}
        declared = {a["name"] for a in props["attributes"]}
        used = {"id"} | {key for pair in gsis(resource).values() for key in pair}
        assert declared == used and {a["type"] for a in props["attributes"]} == {"S"}


def test_the_program_should_carry_sentinels_indexes(program: list[Resource]) -> None:
    by_name = {r.props["name"]: gsis(r) for r in program}
    created = "created_at"
    assert by_name["sentinel-requests"] == {
        "gsi-requester": ("requester", created),
        "gsi-status": ("status", created),
        "gsi-profile": ("profile", created),
    }
    assert by_name["sentinel-breakglass"] == {
        "gsi-invoker": ("invoker", created),
        "gsi-status": ("status", created),
        "gsi-profile": ("profile", created),
    }
    assert by_name["sentinel-sessions"] == {
        "gsi-user": ("user", created),
        "gsi-status": ("status", created),
        "gsi-profile": ("profile", created),
        "gsi-server-instance": ("server_instance_id", "status"),
    }


def test_the_program_should_declare_its_tables_with_pulumis_protect_unless_configured_off(
    program: list[Resource],
) -> None:
    assert all(r.protect for r in program)
    throwaway = capture_program(config={f"{PROJECT}:protect": "false"})
    assert len(throwaway) == 3 and not any(r.protect for r in throwaway)


def test_source_protection_off_should_declare_the_tables_without_either_protection() -> None:
    resources = capture_program(config={f"{PROJECT}:sourceProtection": "false"})
    assert len(resources) == 3
    assert all(not PROTECTION_KEYS & set(r.props) and r.protect for r in resources)


def test_a_stack_config_prefix_should_rename_the_tables() -> None:
    resources = capture_program(config={f"{PROJECT}:prefix": "acme-sentinel-"})
    assert sorted(r.props["name"] for r in resources) == sorted(f"acme-{n}" for n in NAMES)


def test_the_pack_prefix_should_follow_the_stacks_prefix_only_when_configured(
    tmp_path: Path,
) -> None:
    stack_config = {f"{PROJECT}:prefix": "acme-sentinel-"}
    resources = capture_program(config=stack_config, transforms=[unprotect])
    with AnalyzerEngine(stack_config=stack_config) as default:
        untouched = default.run(resources)
    assert all(not s.changed and len(s.not_applicable) == 4 for s in untouched.steps)
    config = tmp_path / "acme.json"
    prefix = {"prefix": "acme-sentinel-"}
    config.write_text(json.dumps({DELETION_PROTECTION.id: prefix, PITR.id: prefix}))
    with AnalyzerEngine(stack_config=stack_config, policy_config=config) as retargeted:
        fixed = retargeted.run(resources)
    assert all(s.remediated["deletionProtectionEnabled"] is True for s in fixed.steps)
    assert fixed.diagnostics == ()


def test_the_protected_program_should_pass_the_pack_untouched(
    program: list[Resource], preview: AnalyzerEngine
) -> None:
    report = preview.run(program)
    assert report.diagnostics == ()
    assert all(s.remediations == () and not s.changed for s in report.steps)


def test_preview_should_mark_every_unprotected_table_and_change_nothing_else(
    unprotected: list[Resource], preview: AnalyzerEngine
) -> None:
    report = preview.run(unprotected)
    assert len(report.steps) == 3
    for step in report.steps:
        assert {r.policy for r in step.remediations} == {DELETION_PROTECTION.id, PITR.id}
        assert without_protection(step.remediated) == without_protection(step.inputs)


def test_advisory_preview_should_list_two_violations_per_unprotected_table(
    unprotected: list[Resource],
) -> None:
    with AnalyzerEngine(policy_config=PACK_DIR / "config" / "advisory.json") as engine:
        report = engine.run(unprotected)
    assert sorted(s.inputs["name"] for s in report.steps) == sorted(NAMES)
    for step in report.steps:
        name = step.inputs["name"]
        assert not step.changed
        assert sorted(d.policy for d in step.diagnostics) == sorted(
            [DELETION_PROTECTION.id, PITR.id]
        )
        assert all(f"{name}: " in d.message and "Fix: " in d.message for d in step.diagnostics)


def test_up_should_return_protected_inputs_that_pass_analysis(
    unprotected: list[Resource], up: AnalyzerEngine
) -> None:
    assert not up.dry_run
    report = up.run(unprotected)
    for step in report.steps:
        assert step.remediated["deletionProtectionEnabled"] is True
        assert step.remediated["pointInTimeRecovery"] == {"enabled": True}
        assert step.diagnostics == ()
    assert report.stack_diagnostics == () and not report.blocked


def test_mandatory_should_block_the_unprotected_program_only(
    program: list[Resource], unprotected: list[Resource]
) -> None:
    with AnalyzerEngine(policy_config=PACK_DIR / "config" / "mandatory.json") as engine:
        assert engine.run(unprotected).blocked
        assert not engine.run(program).blocked


def test_harden_at_source_should_protect_the_tables_before_the_pack_sees_them(
    preview: AnalyzerEngine,
) -> None:
    resources = capture_program(
        config={f"{PROJECT}:hardenAtSource": "true"}, transforms=[unprotect]
    )
    assert all(r.props["deletionProtectionEnabled"] is True for r in resources)
    report = preview.run(resources)
    assert report.diagnostics == () and all(s.remediations == () for s in report.steps)


def test_harden_at_source_should_leave_the_excluded_tables_as_declared() -> None:
    config = {
        f"{PROJECT}:hardenAtSource": "true",
        f"{PROJECT}:exclude": json.dumps(["sentinel-s*"]),
    }
    resources = {
        r.props["name"]: r.props for r in capture_program(config=config, transforms=[unprotect])
    }
    assert resources["sentinel-sessions"]["deletionProtectionEnabled"] is False
    assert resources["sentinel-requests"]["deletionProtectionEnabled"] is True
    assert resources["sentinel-breakglass"]["deletionProtectionEnabled"] is True


def test_the_preview_script_should_show_remediations_and_violations() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.preview", "--imitation"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = result.stdout
    first = out.splitlines()[0]
    assert "imitation of the analyzer protocol" in first
    assert out.count("~ dynamodb-deletion-protection remediated") == 3
    assert 'pointInTimeRecovery: (not set) => {"enabled": true}' in out
    assert "sentinel-requests: Deletion Protection is off" in out
    assert "Blocked: yes: the preview fails" in out
