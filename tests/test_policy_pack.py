"""The real policy pack process, driven over gRPC the way the Pulumi engine drives it."""

from __future__ import annotations

import json
import os
import re
import site
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from pulumi.runtime.proto import analyzer_pb2

from remediation.controls import ALL, DELETION_PROTECTION, GUARDRAIL, PITR
from remediation.pulumi_meta import FSBP, policy_url
from remediation.pulumi_policies import (
    NATIVE_GLOBAL_TABLE,
    NATIVE_TABLE,
    PACK_NAME,
    PROTECT_POLICY,
    TABLE,
    TABLE_REPLICA,
    deployed_policy_name,
)
from tests.analyzer_engine import (
    PACK_DIR,
    ROOT,
    UNKNOWN,
    AnalyzerEngine,
    PolicyConfigError,
    Report,
    Resource,
    is_secret,
    secret,
)

DP, PITR_ID = DELETION_PROTECTION.id, PITR.id
DP_DEPLOYED, PITR_DEPLOYED = (deployed_policy_name(c) for c in (DELETION_PROTECTION, PITR))
TABLE_POLICIES = (DP, PITR_ID, PROTECT_POLICY, DP_DEPLOYED, PITR_DEPLOYED)
"""Every policy that judges a table, each with the same `prefix` and `exclude` keys."""
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/{}"


def table(
    name: str | None = "sentinel-requests", logical: str = "requests", **props: Any
) -> Resource:
    """An unprotected aws.dynamodb.Table as the engine sends it; props override or add."""
    base: dict[str, Any] = {
        "billingMode": "PAY_PER_REQUEST",
        "hashKey": "id",
        "attributes": [{"name": "id", "type": "S"}],
        "tags": secret({"owner": "sentinel"}),
        "__defaults": ["region"],
    }
    if name is not None:
        base["name"] = name
    base.update(props)
    return Resource(TABLE, logical, base)


PROTECTED: dict[str, Any] = {
    "deletionProtectionEnabled": True,
    "pointInTimeRecovery": {"enabled": True},
}


def write_config(directory: Path, name: str, config: dict[str, Any]) -> Path:
    path = directory / name
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def pack() -> Iterator[AnalyzerEngine]:
    """The pack as `pulumi preview --policy-pack policy_pack` runs it: default config."""
    with AnalyzerEngine() as engine:
        yield engine


@pytest.fixture(scope="module")
def advisory() -> Iterator[AnalyzerEngine]:
    with AnalyzerEngine(policy_config=PACK_DIR / "config" / "advisory.json") as engine:
        yield engine


@pytest.fixture(scope="module")
def mandatory() -> Iterator[AnalyzerEngine]:
    with AnalyzerEngine(policy_config=PACK_DIR / "config" / "mandatory.json") as engine:
        yield engine


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalyzerEngine]:
    """Prefix `acme-` for both policies and a 14-day minimum PITR period."""
    config = {DP: {"prefix": "acme-"}, PITR_ID: {"prefix": "acme-", "minRecoveryPeriodDays": 14}}
    path = write_config(tmp_path_factory.mktemp("config"), "acme.json", config)
    with AnalyzerEngine(policy_config=path) as engine:
        yield engine


@pytest.fixture(scope="module")
def excluding(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalyzerEngine]:
    """Both policies leave `sentinel-scratch-*` and `sentinel-load-test` alone."""
    exclude = {"exclude": ["sentinel-scratch-*", "sentinel-load-test"]}
    config = {name: exclude for name in TABLE_POLICIES}
    path = write_config(tmp_path_factory.mktemp("config"), "exclude.json", config)
    with AnalyzerEngine(policy_config=path) as engine:
        yield engine


def policies_of(report: Report, name: str) -> set[str]:
    return {r.policy for r in report.step(name).remediations}


# --- the pack as the engine sees it -------------------------------------------------------------


def test_the_pack_should_print_only_its_port_on_stdout(pack: AnalyzerEngine) -> None:
    pack.run([table()])
    assert pack.first_line.isdigit()
    assert pack.stdout_after_port == ""


def test_the_pack_should_describe_one_policy_per_control(pack: AnalyzerEngine) -> None:
    assert pack.handshake_code in (grpc.StatusCode.OK, grpc.StatusCode.UNIMPLEMENTED)
    assert pack.plugin_version
    assert pack.info.name == PACK_NAME and pack.info.supportsConfig
    infos = {p.name: p for p in pack.info.policies}
    assert list(infos) == [*TABLE_POLICIES, GUARDRAIL.id]
    for control in ALL:
        info = infos[control.id]
        assert info.description == control.description
        assert info.remediation_steps == control.remediation
        for name in (control.id, deployed_policy_name(control)):
            info = infos[name]
            assert info.url == policy_url(name)
            assert info.severity == analyzer_pb2.PolicySeverity.Value(
                f"POLICY_SEVERITY_{control.severity}"
            )
            assert (info.framework.name, info.framework.reference) == (FSBP, control.aws_control)
            assert {"sentinel", "dynamodb"} <= set(info.tags)
            assert info.remediation_steps
    assert infos[PROTECT_POLICY].url == policy_url(PROTECT_POLICY)
    assert not infos[PROTECT_POLICY].HasField("framework")
    # The pack remediates by default; the `protect` advisory and the stack policies keep their
    # own levels.
    assert {name: c.level for name, c in pack.config.items()} == {
        DP: "remediate",
        PITR_ID: "remediate",
        PROTECT_POLICY: "advisory",
        DP_DEPLOYED: "mandatory",
        PITR_DEPLOYED: "mandatory",
        GUARDRAIL.id: "advisory",
    }
    assert all(pack.config[name].properties == {"prefix": "sentinel-"} for name in TABLE_POLICIES)


# --- Pulumi's own `protect` option: an advisory ----------------------------------------------


def unprotected_by_pulumi(resource: Resource) -> Resource:
    return Resource(resource.type, resource.name, resource.props, protect=False)


def test_a_table_declared_without_protect_should_get_the_advisory_and_nothing_else(
    pack: AnalyzerEngine,
) -> None:
    report = pack.run([unprotected_by_pulumi(table(**PROTECTED))])
    step = report.step("requests")
    assert [(d.policy, d.level) for d in step.diagnostics] == [(PROTECT_POLICY, "advisory")]
    assert "sentinel-requests" in step.diagnostics[0].message
    assert "protect=True" in step.diagnostics[0].message
    assert step.remediations == () and not step.changed and not report.blocked


def test_a_table_declared_with_protect_or_not_ours_should_get_no_advisory(
    pack: AnalyzerEngine,
) -> None:
    foreign = unprotected_by_pulumi(table("billing-ledger", "ledger", **PROTECTED))
    report = pack.run([table(**PROTECTED), foreign])
    assert report.diagnostics == ()


def test_the_protect_advisory_level_should_be_configurable(tmp_path: Path) -> None:
    config = write_config(tmp_path, "protect.json", {PROTECT_POLICY: "mandatory"})
    with AnalyzerEngine(policy_config=config) as engine:
        report = engine.run([unprotected_by_pulumi(table(**PROTECTED))])
    assert [(d.policy, d.level) for d in report.diagnostics] == [(PROTECT_POLICY, "mandatory")]
    assert report.blocked


# --- what preview marks and up fixes ------------------------------------------------------------


def test_remediate_should_protect_an_unprotected_table_and_change_nothing_else(
    pack: AnalyzerEngine,
) -> None:
    report = pack.run([table()])
    step = report.step("requests")
    assert policies_of(report, "requests") == {DP, PITR_ID}
    assert step.remediated == {**step.inputs, **PROTECTED}
    assert is_secret(step.remediated["tags"]) and step.remediated["__defaults"] == ["region"]
    assert step.diagnostics == () and not report.blocked


def test_a_protected_table_should_pass_untouched(pack: AnalyzerEngine) -> None:
    report = pack.run([table(**PROTECTED)])
    step = report.step("requests")
    assert step.remediations == () and not step.changed and report.diagnostics == ()


def test_advisory_should_list_violations_that_name_table_missing_and_fix(
    advisory: AnalyzerEngine,
) -> None:
    report = advisory.run([table()])
    step = report.step("requests")
    assert step.remediations == () and not step.changed and not report.blocked
    by_policy = {d.policy: d for d in step.diagnostics}
    assert set(by_policy) == {DP, PITR_ID}
    for control in ALL:
        diagnostic = by_policy[control.id]
        assert diagnostic.level == "advisory"
        assert diagnostic.message.startswith(control.description)
        assert "sentinel-requests:" in diagnostic.message
        assert f"{control.label} is off" in diagnostic.message
        assert (
            f'Fix: aws.dynamodb.Table("requests", ..., {control.pulumi_fix})' in diagnostic.message
        )


def test_mandatory_should_block_an_unprotected_table_and_pass_a_protected_one(
    mandatory: AnalyzerEngine,
) -> None:
    blocked = mandatory.run([table()])
    assert blocked.blocked and blocked.step("requests").remediations == ()
    assert {d.level for d in blocked.diagnostics} == {"mandatory"}
    assert not mandatory.run([table(**PROTECTED)]).blocked


def test_a_prefix_override_should_retarget_the_policies(acme: AnalyzerEngine) -> None:
    report = acme.run([table("acme-requests", "acme"), table("sentinel-requests", "sentinel")])
    assert policies_of(report, "acme") == {DP, PITR_ID}
    sentinel = report.step("sentinel")
    assert not sentinel.changed
    assert {p for p, _ in sentinel.not_applicable} == {DP, PITR_ID}
    assert all("does not start with 'acme-'" in reason for _, reason in sentinel.not_applicable)


def test_an_excluded_table_should_be_not_applicable_and_left_as_declared(
    excluding: AnalyzerEngine,
) -> None:
    scratch_replica = Resource(
        TABLE_REPLICA, "scratch-eu", {"globalTableArn": ARN.format("sentinel-scratch-7")}
    )
    report = excluding.run(
        [
            table("sentinel-scratch-7", "scratch"),
            table("sentinel-load-test", "load"),
            table("sentinel-load-test-2", "load2"),  # a glob without * matches the name only
            table("sentinel-requests", "requests"),
            scratch_replica,
        ]
    )
    for name in ("scratch", "load", "scratch-eu"):
        step = report.step(name)
        assert not step.changed and step.remediations == ()
        assert {p for p, _ in step.not_applicable} == {DP, PITR_ID}
        reasons = [reason for _, reason in step.not_applicable]
        assert all("is excluded (exclude: 'sentinel-scratch-*'" in r for r in reasons)
    assert policies_of(report, "load2") == {DP, PITR_ID}
    assert policies_of(report, "requests") == {DP, PITR_ID}
    assert report.diagnostics == ()


def test_an_excluded_table_should_raise_no_violation_even_when_mandatory(
    tmp_path: Path,
) -> None:
    exclude = {"enforcementLevel": "mandatory", "exclude": ["sentinel-scratch-*"]}
    config = {name: exclude for name in TABLE_POLICIES}
    path = write_config(tmp_path, "mandatory-exclude.json", config)
    with AnalyzerEngine(policy_config=path) as engine:
        excluded = engine.run([table("sentinel-scratch-1", "scratch")])
        kept = engine.run([table("sentinel-requests", "requests")])
    assert not excluded.blocked and excluded.diagnostics == ()
    assert kept.blocked


def test_a_minimum_recovery_period_should_be_enforced_and_fixed(acme: AnalyzerEngine) -> None:
    short = {"enabled": True, "recoveryPeriodInDays": 7}
    report = acme.run(
        [table("acme-t", "t", deletionProtectionEnabled=True, pointInTimeRecovery=short)]
    )
    step = report.step("t")
    assert policies_of(report, "t") == {PITR_ID}
    assert step.remediated["pointInTimeRecovery"] == {"enabled": True, "recoveryPeriodInDays": 14.0}
    assert report.diagnostics == ()


@pytest.mark.parametrize(
    ("config", "error"),
    [
        (
            {PITR_ID: {"minRecoveryPeriodDays": 36}},
            f"{PITR_ID}: 36 is greater than the maximum of 35",
        ),
        ({PITR_ID: {"minRecoveryPeriodDays": 0}}, f"{PITR_ID}: 0 is less than the minimum of 1"),
        ({PITR_ID: {"minRecoveryPeriodDays": 7.5}}, f"{PITR_ID}: 7.5 is not of type 'integer'"),
        ({DP: {"prefix": ""}}, f"{DP}: ''"),  # jsonschema words this one per version
        ({DP: {"exclude": "sentinel-x-*"}}, f"{DP}: 'sentinel-x-*' is not of type 'array'"),
        ({PITR_ID: {"exclude": [""]}}, f"{PITR_ID}: ''"),
        ({PITR_ID: {"exclude": [7]}}, f"{PITR_ID}: 7 is not of type 'string'"),
    ],
)
def test_a_config_outside_the_schema_should_be_refused_like_the_cli(
    tmp_path: Path, config: dict[str, Any], error: str
) -> None:
    engine = AnalyzerEngine(policy_config=write_config(tmp_path, "bad.json", config))
    with pytest.raises(PolicyConfigError, match=re.escape(error)):
        engine.start()
    assert engine.closed


def test_all_in_a_config_file_should_set_every_policys_level(advisory: AnalyzerEngine) -> None:
    assert {c.level for name, c in advisory.config.items() if name != "all"} == {"advisory"}


# --- resource types -----------------------------------------------------------------------------


def test_every_replica_of_a_table_should_be_protected_on_its_own(pack: AnalyzerEngine) -> None:
    replicas: list[dict[str, Any]] = [
        {"regionName": "eu-west-1", "deletionProtectionEnabled": True, "pointInTimeRecovery": True},
        {"regionName": "us-west-2", "kmsKeyArn": secret("arn:aws:kms:us-west-2:1:key/k")},
    ]
    report = pack.run([table(replicas=replicas, **PROTECTED)])
    after = report.step("requests").remediated["replicas"]
    assert after[0] == replicas[0]
    assert after[1] == {
        **replicas[1],
        "deletionProtectionEnabled": True,
        "pointInTimeRecovery": True,
    }
    assert report.diagnostics == ()


def test_advisory_should_name_the_replica_region_in_its_violation(advisory: AnalyzerEngine) -> None:
    replicas = [{"regionName": "us-west-2", "pointInTimeRecovery": True}]
    report = advisory.run([table(replicas=replicas, **PROTECTED)])
    (diagnostic,) = report.resource_diagnostics
    (deployed,) = report.stack_diagnostics
    assert deployed.policy == DP_DEPLOYED and deployed.level == "advisory"
    assert "sentinel-requests replica in us-west-2: the deployed state has" in deployed.message
    assert diagnostic.policy == DP
    assert (
        "sentinel-requests replica in us-west-2: Deletion Protection is off" in diagnostic.message
    )
    assert 'TableReplicaArgs(region_name="us-west-2", ..., deletion_protection_enabled=True)' in (
        diagnostic.message
    )


def test_a_table_replica_resource_should_be_protected(pack: AnalyzerEngine) -> None:
    replica = Resource(
        TABLE_REPLICA, "sessions-eu", {"globalTableArn": ARN.format("sentinel-sessions")}
    )
    report = pack.run([replica])
    assert report.step("sessions-eu").remediated == {
        "globalTableArn": ARN.format("sentinel-sessions"),
        "deletionProtectionEnabled": True,
        "pointInTimeRecovery": True,
    }
    assert report.diagnostics == ()


def test_an_aws_native_table_should_be_protected(pack: AnalyzerEngine) -> None:
    native = Resource(
        NATIVE_TABLE,
        "breakglass",
        {"tableName": "sentinel-breakglass", "pointInTimeRecoverySpecification": {}},
    )
    report = pack.run([native])
    assert report.step("breakglass").remediated == {
        "tableName": "sentinel-breakglass",
        "deletionProtectionEnabled": True,
        "pointInTimeRecoverySpecification": {"pointInTimeRecoveryEnabled": True},
    }
    assert report.diagnostics == ()


def native_global_table(*replicas: dict[str, Any], name: str = "sentinel-ledger") -> Resource:
    """An aws-native GlobalTable (AWS::DynamoDB::GlobalTable) as the engine sends it."""
    return Resource(
        NATIVE_GLOBAL_TABLE,
        "ledger",
        {
            "tableName": name,
            "billingMode": "PAY_PER_REQUEST",
            "attributeDefinitions": [{"attributeName": "id", "attributeType": "S"}],
            "keySchema": [{"attributeName": "id", "keyType": "HASH"}],
            "replicas": list(replicas),
        },
    )


NATIVE_REPLICA_PROTECTED: dict[str, Any] = {
    "deletionProtectionEnabled": True,
    "pointInTimeRecoverySpecification": {"pointInTimeRecoveryEnabled": True},
}


def test_every_replica_of_an_aws_native_global_table_should_be_protected(
    pack: AnalyzerEngine,
) -> None:
    east = {"region": "us-east-1", **NATIVE_REPLICA_PROTECTED}
    west = {"region": "eu-west-1", "tableClass": "STANDARD"}
    report = pack.run([native_global_table(east, west)])
    after = report.step("ledger").remediated
    assert after["replicas"] == [east, {**west, **NATIVE_REPLICA_PROTECTED}]
    assert after["tableName"] == "sentinel-ledger"
    assert report.diagnostics == ()


def test_advisory_should_name_the_global_table_replica_and_its_fix(
    advisory: AnalyzerEngine,
) -> None:
    east = {"region": "us-east-1", **NATIVE_REPLICA_PROTECTED}
    west = {"region": "eu-west-1", "deletionProtectionEnabled": True}
    report = advisory.run([native_global_table(east, west)])
    (diagnostic,) = report.resource_diagnostics
    assert diagnostic.policy == PITR_ID
    assert "sentinel-ledger replica in eu-west-1: PITR is off" in diagnostic.message
    assert (
        'GlobalTableReplicaSpecificationArgs(region="eu-west-1", ..., '
        "point_in_time_recovery_specification=aws_native.dynamodb."
        "GlobalTablePointInTimeRecoverySpecificationArgs(point_in_time_recovery_enabled=True)"
    ) in diagnostic.message


def test_a_global_table_replica_keeping_too_few_days_should_be_raised(
    acme: AnalyzerEngine,
) -> None:
    short = {
        "region": "eu-west-1",
        "deletionProtectionEnabled": True,
        "pointInTimeRecoverySpecification": {
            "pointInTimeRecoveryEnabled": True,
            "recoveryPeriodInDays": 7,
        },
    }
    default = {"region": "us-east-1", **NATIVE_REPLICA_PROTECTED}  # unset: AWS's 35
    report = acme.run([native_global_table(default, short, name="acme-ledger")])
    after = report.step("ledger").remediated["replicas"]
    assert after[0] == default
    assert after[1]["pointInTimeRecoverySpecification"] == {
        "pointInTimeRecoveryEnabled": True,
        "recoveryPeriodInDays": 14,
    }


def test_a_global_table_outside_the_prefix_should_be_not_applicable(pack: AnalyzerEngine) -> None:
    report = pack.run([native_global_table({"region": "us-east-1"}, name="billing-ledger")])
    step = report.step("ledger")
    assert not step.changed and step.remediations == ()
    assert step.not_applicable


def test_other_resources_should_pass_untouched_and_unremarked(pack: AnalyzerEngine) -> None:
    bucket = Resource("aws:s3/bucket:Bucket", "logs", {"bucket": "sentinel-logs"})
    report = pack.run([bucket])
    step = report.step("logs")
    assert step.remediations == () and step.diagnostics == () and step.not_applicable == ()


# --- edges --------------------------------------------------------------------------------------


def test_an_auto_named_table_should_be_judged_by_its_logical_name(pack: AnalyzerEngine) -> None:
    report = pack.run([table(None, "sentinel-auto"), table(None, "auto")])
    assert policies_of(report, "sentinel-auto") == {DP, PITR_ID}
    assert report.step("auto").remediations == () and not report.step("auto").changed


def test_the_name_input_should_win_over_the_logical_name(pack: AnalyzerEngine) -> None:
    report = pack.run([table("audit-log", "sentinel-looking")])
    assert not report.step("sentinel-looking").changed


def test_a_computed_name_should_be_reported_as_not_judged_by_both_calls(
    pack: AnalyzerEngine,
) -> None:
    report = pack.run([table(UNKNOWN, "requests")])
    step = report.step("requests")
    assert not step.changed
    remediation_notes = {r.policy: r.diagnostic for r in step.remediations}
    analysis_notes = {d.policy: d for d in step.diagnostics}
    assert set(remediation_notes) == set(analysis_notes) == {DP, PITR_ID}
    for control in ALL:
        for text in (remediation_notes[control.id], analysis_notes[control.id].message):
            assert "'requests' could not be judged: its name (name)" in text
            assert control.label in text and control.pulumi_fix in text
        assert analysis_notes[control.id].level == "advisory"
    assert not report.blocked


def test_a_computed_name_on_a_protected_table_should_need_no_judgement(
    pack: AnalyzerEngine,
) -> None:
    report = pack.run([table(UNKNOWN, "requests", **PROTECTED)])
    assert report.diagnostics == () and report.step("requests").remediations == ()


def test_a_computed_replica_arn_should_be_reported_as_not_judged(pack: AnalyzerEngine) -> None:
    report = pack.run([Resource(TABLE_REPLICA, "sessions-eu", {"globalTableArn": UNKNOWN})])
    (diagnostic, _) = report.step("sessions-eu").diagnostics
    assert "could not be judged: its name (globalTableArn)" in diagnostic.message


def test_a_computed_protection_should_be_set_on_up_and_not_judged_when_advisory(
    pack: AnalyzerEngine, advisory: AnalyzerEngine
) -> None:
    resource = table(deletionProtectionEnabled=UNKNOWN, pointInTimeRecovery={"enabled": True})
    fixed = pack.run([resource]).step("requests")
    assert fixed.remediated["deletionProtectionEnabled"] is True and fixed.diagnostics == ()
    report = advisory.run([resource])
    (diagnostic,) = report.resource_diagnostics
    assert diagnostic.policy == DP and diagnostic.level == "advisory"
    # The deployed state (here the planned outputs, as during a preview) is not judged either.
    (stack,) = report.stack_diagnostics
    assert stack.policy == DP_DEPLOYED and stack.level == "advisory"
    assert "was not judged" in stack.message
    assert "sentinel-requests could not be judged: deletionProtectionEnabled" in diagnostic.message


def test_an_unknown_replica_list_should_be_reported_as_not_judged(pack: AnalyzerEngine) -> None:
    report = pack.run([table(replicas=UNKNOWN, **PROTECTED)])
    notes = [r.diagnostic for r in report.step("requests").remediations]
    assert notes and all("sentinel-requests replicas could not be judged" in n for n in notes)
    assert {d.level for d in report.diagnostics} == {"advisory"}


def test_the_benchmark_should_run_both_packs_and_print_the_ratio() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.bench_pack", "--resources", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "our pack" in result.stdout and "empty pack" in result.stdout
    assert "ratio" in result.stdout and "start-up" in result.stdout


# --- the staged pack for `pulumi policy publish` ------------------------------------------------


def test_the_staged_pack_should_serve_with_nothing_but_its_own_folder(tmp_path: Path) -> None:
    staged = tmp_path / "policy_pack"
    subprocess.run(
        ["make", "-s", "pack-dist", f"PACK_DIST={staged}"], cwd=ROOT, check=True, timeout=60
    )
    assert "virtualenv: venv" in (staged / "PulumiPolicy.yaml").read_text()
    # -S skips site-packages' .pth files, the project's editable install among them; the
    # dependencies stay importable through PYTHONPATH, as from the pack's own venv.
    python = [sys.executable, "-S"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(site.getsitepackages())}
    elsewhere = subprocess.run(
        [*python, "-c", "import remediation"], cwd=tmp_path, env=env, capture_output=True
    )
    assert b"No module named 'remediation'" in elsewhere.stderr
    with AnalyzerEngine(staged, python=python, env=env) as engine:
        report = engine.run([table()])
    assert policies_of(report, "requests") == {DP, PITR_ID}
    assert report.step("requests").remediated == {**to_inputs(table()), **PROTECTED}


def to_inputs(resource: Resource) -> dict[str, Any]:
    return dict(resource.props)
