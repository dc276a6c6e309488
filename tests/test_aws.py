"""The AWS adapter on moto in-process: discovery, status, hardening (the seed's Task 1 list)."""

from __future__ import annotations

from typing import Any

import pytest

from remediation import aws, core
from remediation.controls import ALL, DELETION_PROTECTION, PITR
from tests.conftest import TableFactory, protection
from tests.inject import answer_with_error, record_calls

FAST = aws.Settings(region="us-east-1", rates={}, wait_timeout=1)


@pytest.fixture
def hardener(mocked_aws: Any) -> aws.Hardener:
    client, _ = aws.make_client(FAST)
    return aws.Hardener(client, FAST)


def harden(hardener: aws.Hardener, names: list[str], controls: tuple[Any, ...] = ALL) -> list[Any]:
    states = {name: hardener.read(name, controls) for name in names}
    plan = core.plan(states.values(), core.Requirement(controls=controls))
    return [hardener.apply(states[change.table], change) for change in plan.changes]


def test_discovery_lists_every_page_and_select_keeps_the_prefix(
    hardener: aws.Hardener, table: TableFactory
) -> None:
    wanted = [table(f"sentinel-t{i:03d}") for i in range(130)]
    table("other-requests")
    table("Sentinel-upper")
    calls = record_calls(hardener._client)
    assert sorted(hardener.discover(core.Selection("sentinel-"))) == sorted(wanted)
    assert calls == [("ListTables", "")] * 2
    assert sorted(hardener.discover(core.Selection(""))) == sorted(
        [*wanted, "other-requests", "Sentinel-upper"]
    )


@pytest.mark.parametrize(
    ("deletion_protection", "pitr"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_read_reports_each_protection_state(
    hardener: aws.Hardener, table: TableFactory, deletion_protection: bool, pitr: bool
) -> None:
    name = table("sentinel-requests", deletion_protection=deletion_protection, pitr=pitr)
    state = hardener.read(name, ALL)
    assert state.deletion_protection == core.Reading(deletion_protection)
    assert state.pitr.enabled is pitr
    assert state.arn is not None and state.arn.endswith(":table/sentinel-requests")
    assert state.status == "ACTIVE"


def test_hardening_enables_both_protections(
    hardener: aws.Hardener, table: TableFactory, mocked_aws: Any
) -> None:
    name = table("sentinel-requests")
    [outcome] = harden(hardener, [name])
    assert outcome.changed == (DELETION_PROTECTION, PITR)
    assert outcome.errors == {}
    assert protection(mocked_aws, name) == (True, True)


def test_hardening_is_idempotent_on_protected_tables(
    hardener: aws.Hardener, table: TableFactory, mocked_aws: Any
) -> None:
    name = table("sentinel-requests", deletion_protection=True, pitr=True)
    assert harden(hardener, [name]) == []
    assert protection(mocked_aws, name) == (True, True)


@pytest.mark.parametrize(
    ("state", "changed"),
    [({"deletion_protection": True}, (PITR,)), ({"pitr": True}, (DELETION_PROTECTION,))],
)
def test_hardening_enables_only_the_missing_protection(
    hardener: aws.Hardener,
    table: TableFactory,
    mocked_aws: Any,
    state: dict[str, bool],
    changed: tuple[Any, ...],
) -> None:
    name = table("sentinel-breakglass", **state)
    [outcome] = harden(hardener, [name])
    assert outcome.changed == changed
    assert protection(mocked_aws, name) == (True, True)


def test_batch_hardening_returns_a_result_per_table_in_order(
    hardener: aws.Hardener, table: TableFactory, mocked_aws: Any
) -> None:
    names = [table(f"sentinel-{i}", deletion_protection=i % 2 == 0) for i in range(8)]
    outcomes = harden(hardener, names)
    assert [o.name for o in outcomes] == names
    assert all(protection(mocked_aws, n) == (True, True) for n in names)


def test_no_pitr_neither_reads_nor_writes_pitr(
    hardener: aws.Hardener, table: TableFactory, mocked_aws: Any
) -> None:
    name = table("sentinel-sessions")
    calls = record_calls(hardener._client)
    [outcome] = harden(hardener, [name], (DELETION_PROTECTION,))
    assert outcome.changed == (DELETION_PROTECTION,)
    assert protection(mocked_aws, name) == (True, False)
    assert calls == [("DescribeTable", name), ("UpdateTable", name)]  # the answer is the read-back


def test_access_denied_on_pitr_read_is_unknown_not_disabled(
    hardener: aws.Hardener, table: TableFactory
) -> None:
    name = table("sentinel-requests", pitr=True)
    answer_with_error(hardener._client, "DescribeContinuousBackups", "AccessDeniedException")
    state = hardener.read(name, ALL)
    assert state.pitr.enabled is None
    assert state.pitr.error is not None
    assert state.pitr.error.code == "AccessDeniedException"
    assert state.pitr.error.action == "dynamodb:DescribeContinuousBackups"


def test_a_table_deleted_after_discovery_is_reported_on_that_table(
    hardener: aws.Hardener, table: TableFactory, mocked_aws: Any
) -> None:
    names = [table("sentinel-a"), table("sentinel-b")]
    states = {name: hardener.read(name, ALL) for name in names}
    mocked_aws.delete_table(TableName="sentinel-a")
    plan = core.plan(states.values())
    outcomes = [hardener.apply(states[change.table], change) for change in plan.changes]
    gone, kept = outcomes
    # What AWS answers each write for a missing table.
    assert {k: e.code for k, e in gone.errors.items()} == {
        DELETION_PROTECTION.id: "ResourceNotFoundException",
        PITR.id: "TableNotFoundException",
    }
    assert kept.errors == {}
    assert protection(mocked_aws, "sentinel-b") == (True, True)


def test_a_missing_table_reads_as_unreadable(hardener: aws.Hardener, mocked_aws: Any) -> None:
    state = hardener.read("sentinel-nope", ALL)
    assert state.error is not None
    assert state.error.code == "ResourceNotFoundException"


def test_pacer_spaces_calls_evenly_without_a_burst() -> None:
    now = [100.0]
    pacer = aws.Pacer(10.0, clock=lambda: now[0])
    delays = [pacer.reserve() for _ in range(5)]
    assert delays == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    now[0] += 1.0
    assert pacer.reserve() == pytest.approx(0.0)
