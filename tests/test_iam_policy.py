"""Least privilege: the IAM policies list exactly what the CLI calls, scoped to the prefix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from remediation import controls
from tests.cli_process import ROOT, UNPACED, run_cli
from tests.conftest import TableFactory
from tests.fault_proxy import FaultProxy
from tests.servers import MotoServer, aws_env

TABLE_RESOURCE = "arn:aws:dynamodb:*:*:table/sentinel-*"
WRITE_ACTIONS = {control.write_action for control in controls.ALL}
POLICIES = {
    # name: (policy file, the actions it must list, the run it must suffice for, its exit status)
    "full": (ROOT / "docs" / "iam-policy.json", controls.iam_actions(), ["--force"], 0),
    "no-pitr": (
        ROOT / "docs" / "iam-policy-no-pitr.json",
        controls.iam_actions((controls.DELETION_PROTECTION,)),
        ["--force", "--no-pitr"],
        0,
    ),
    "check": (
        ROOT / "docs" / "iam-policy-check.json",
        controls.iam_actions(writes=False),
        ["--check"],
        1,  # sentinel-a is unprotected: --check says so and writes nothing
    ),
}


def allowed(path: Path) -> dict[str, set[str]]:
    """Action -> resources the policy allows it on."""
    document: dict[str, Any] = json.loads(path.read_text())
    result: dict[str, set[str]] = {}
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"]
        for action in statement["Action"]:
            result.setdefault(action, set()).update(
                [resources] if isinstance(resources, str) else resources
            )
    return result


@pytest.mark.parametrize("which", POLICIES)
def test_policy_lists_exactly_the_actions_the_controls_declare(which: str) -> None:
    path, needed, _, _ = POLICIES[which]
    policy = allowed(path)
    assert set(policy) == set(needed)
    assert policy.pop(controls.DISCOVERY_ACTION) == {"*"}  # ListTables cannot be scoped
    assert all(resources == {TABLE_RESOURCE} for resources in policy.values())


@pytest.mark.parametrize("which", POLICIES)
def test_a_full_run_calls_only_what_the_policy_allows(
    which: str, server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    path, _, flags, status = POLICIES[which]
    server_table("sentinel-a")
    server_table("sentinel-b", deletion_protection=True)
    server_table("other")
    result = run_cli(["harden", *flags, *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == status, result.stderr
    called = {f"dynamodb:{op}" for op in fault_proxy.operations()}
    assert called == set(allowed(path)), "the run must need every action listed, and no other"
    touched = {table for _, table in fault_proxy.table_counts() if table is not None}
    assert touched == {"sentinel-a", "sentinel-b"}


def test_check_calls_no_write_action_even_where_every_protection_is_missing(
    server: MotoServer, server_table: TableFactory, fault_proxy: FaultProxy
) -> None:
    server_table("sentinel-a")
    result = run_cli(["harden", "--check", "--json", *UNPACED], aws_env(fault_proxy.url))
    assert result.returncode == 1
    assert result.json()["tables"][0]["result"] == "unprotected"
    called = {f"dynamodb:{op}" for op in fault_proxy.operations()}
    assert called and not called & WRITE_ACTIONS
