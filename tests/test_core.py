"""The core is pure: states in, decisions out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from remediation import core
from remediation.controls import DELETION_PROTECTION, PITR
from remediation.core import AwsError, Reading, Requirement, TableState

ON = Reading(True)
OFF = Reading(False)
DENIED = Reading(
    None, AwsError("dynamodb:DescribeContinuousBackups", "AccessDeniedException", "no")
)


def protected(name: str = "sentinel-requests") -> TableState:
    """The compliant baseline: each test changes one field."""
    return TableState(name=name, deletion_protection=ON, pitr=ON, status="ACTIVE")


def test_a_table_with_both_protections_misses_nothing() -> None:
    assert core.missing(protected()) == ()
    assert core.is_protected(protected())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"deletion_protection": OFF}, (DELETION_PROTECTION,)),
        ({"pitr": OFF}, (PITR,)),
        ({"deletion_protection": OFF, "pitr": OFF}, (DELETION_PROTECTION, PITR)),
        ({"pitr": DENIED}, (PITR,)),
        ({"deletion_protection": core.UNREAD}, (DELETION_PROTECTION,)),
    ],
)
def test_missing_lists_every_control_not_provably_on(
    change: dict[str, Reading], expected: tuple[object, ...]
) -> None:
    assert core.missing(replace(protected(), **change)) == expected


def test_no_pitr_requirement_ignores_pitr_entirely() -> None:
    state = replace(protected(), pitr=core.UNREAD)
    assert core.missing(state, Requirement(controls=(DELETION_PROTECTION,))) == ()


@pytest.mark.parametrize(
    ("days", "minimum", "short"),
    [
        (7, 14, True),
        (14, 14, False),
        (35, 35, False),
        (1, None, False),
        (None, 1, True),  # not known: never taken for AWS's 35
        (None, None, False),  # no minimum: the period does not matter
    ],
)
def test_a_recovery_period_below_the_minimum_counts_as_missing_pitr(
    days: int | None, minimum: int | None, short: bool
) -> None:
    state = replace(protected(), pitr_recovery_days=days)
    requirement = Requirement(min_recovery_days=minimum)
    assert (core.missing(state, requirement) == (PITR,)) is short


def test_an_unknown_period_under_a_minimum_is_reported_unknown_and_planned_to_the_minimum() -> None:
    state = replace(protected(), pitr_recovery_days=None)
    requirement = Requirement(min_recovery_days=14)
    assert not core.is_protected(state, requirement)
    (change,) = core.plan([state], requirement).changes
    assert (change.enable, change.unknown, change.recovery_days) == ((PITR,), (PITR,), 14)
    assert core.state_json(state, requirement)["pitr_recovery_period_days"] is None


@pytest.mark.parametrize(
    ("pitr", "days", "verdict"),
    [
        (ON, 14, core.PeriodWrite.ENOUGH),
        (ON, 30, core.PeriodWrite.ENOUGH),  # raised meanwhile: never lowered to 14
        (ON, 7, core.PeriodWrite.RAISE),
        (ON, None, core.PeriodWrite.UNKNOWN),
        (OFF, None, core.PeriodWrite.TURN_ON),
        (DENIED, None, core.PeriodWrite.TURN_ON),
    ],
)
def test_a_period_write_is_judged_again_on_the_read_just_before_it(
    pitr: Reading, days: int | None, verdict: core.PeriodWrite
) -> None:
    fresh = replace(protected(), pitr=pitr, pitr_recovery_days=days)
    assert core.period_write(fresh, 14) is verdict


@pytest.mark.parametrize("days", [0, 36, -1])
def test_requirement_refuses_a_recovery_period_aws_does_not_allow(days: int) -> None:
    with pytest.raises(ValueError, match="1 to 35 days"):
        Requirement(min_recovery_days=days)


def test_plan_sorts_tables_and_separates_changes_protected_and_unreadable() -> None:
    gone = TableState(
        name="sentinel-a",
        error=AwsError("dynamodb:DescribeTable", "ResourceNotFoundException", "gone"),
    )
    states = [
        replace(protected("sentinel-c"), pitr=OFF),
        protected("sentinel-b"),
        gone,
        replace(protected("sentinel-d"), deletion_protection=OFF, pitr=DENIED),
    ]
    plan = core.plan(states)
    assert [c.table for c in plan.changes] == ["sentinel-c", "sentinel-d"]
    assert plan.changes[0].enable == (PITR,)
    assert plan.changes[1].enable == (DELETION_PROTECTION, PITR)
    assert plan.changes[1].unknown == (PITR,)
    assert plan.protected == ("sentinel-b",)
    assert plan.unreadable == (gone,)


def test_plan_only_ever_enables_what_is_not_already_on() -> None:
    states = [
        replace(protected("sentinel-a"), pitr=OFF),
        replace(protected("sentinel-b"), deletion_protection=OFF),
        replace(protected("sentinel-c"), pitr=DENIED),
        protected("sentinel-d"),
    ]
    by_name = {s.name: s for s in states}
    plan = core.plan(states)
    assert [c.table for c in plan.changes] == ["sentinel-a", "sentinel-b", "sentinel-c"]
    for change in plan.changes:
        for control in change.enable:
            assert by_name[change.table].reading(control).enabled is not True


def test_select_is_case_sensitive_sorted_and_deduplicated() -> None:
    names = ["sentinel-b", "Sentinel-x", "other", "sentinel-a", "sentinel-b", "xsentinel-c"]
    assert core.select(names) == ["sentinel-a", "sentinel-b"]
    assert core.select(names, "Sentinel-") == ["Sentinel-x"]


def test_changed_controls_are_only_those_read_back_on_that_were_not_on() -> None:
    before = replace(protected(), deletion_protection=OFF, pitr=DENIED)
    after = replace(protected(), pitr=DENIED)
    assert core.changed_controls(before, after) == (DELETION_PROTECTION,)


@pytest.mark.parametrize(
    ("was", "now", "changed"),
    # Only a period known on both sides can be said to have risen.
    [(7, 14, True), (14, 14, False), (None, 35, False), (7, None, False), (7, 35, True)],
)
def test_a_pitr_period_read_back_longer_counts_as_a_pitr_change(
    was: int | None, now: int | None, changed: bool
) -> None:
    before = replace(protected(), pitr_recovery_days=was)
    after = replace(protected(), pitr_recovery_days=now)
    assert (PITR in core.changed_controls(before, after)) is changed


def test_outcome_with_an_error_is_a_failure_even_if_the_table_reads_protected() -> None:
    error = AwsError("dynamodb:UpdateTable", "AccessDeniedException", "no")
    failed = core.Outcome(protected(), protected(), (), {DELETION_PROTECTION.id: error})
    ok = core.Outcome(protected(), protected())
    pending = core.Outcome(replace(protected(), pitr=OFF), replace(protected(), pitr=OFF))
    assert core.summarize([failed, ok, pending]) == core.Summary(
        total=3, succeeded=1, failed=1, pending=1
    )


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("sentinel-requests", core.TableRef("sentinel-requests")),
        ("a.b_c-9", core.TableRef("a.b_c-9")),
        (
            "arn:aws:dynamodb:eu-west-1:123456789012:table/sentinel-requests",
            core.TableRef("sentinel-requests", "eu-west-1", "123456789012"),
        ),
        (
            "arn:aws-us-gov:dynamodb:us-gov-west-1:123456789012:table/sentinel-x",
            core.TableRef("sentinel-x", "us-gov-west-1", "123456789012"),
        ),
    ],
)
def test_parse_table_ref_accepts_names_and_table_arns(text: str, ref: core.TableRef) -> None:
    assert core.parse_table_ref(text) == ref


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ab",
        "x" * 256,
        "bad name",
        "sentinel/requests",
        "arn:aws:dynamodb:us-east-1:123456789012:table/sentinel-x/stream/2024",
        "arn:aws:s3:::bucket",
        "arn:aws:dynamodb:us-east-1:12345:table/sentinel-x",
        "arn:aws:dynamodb:us-east-1:123456789012:table/ab",
    ],
)
def test_parse_table_ref_rejects_what_is_neither_a_name_nor_a_table_arn(text: str) -> None:
    with pytest.raises(core.InvalidTableRef):
        core.parse_table_ref(text)


@pytest.mark.parametrize(
    ("days", "minimum", "pitr", "expected"),
    [
        (7, 14, ON, 14),  # on and short: raised to the minimum
        (30, 14, ON, None),  # longer: never lowered, nothing sent
        (None, 14, OFF, None),  # off: turned on with AWS's 35 days
        (None, 14, DENIED, None),  # unknown: enabling sends no period, AWS keeps 35
        (7, None, ON, None),  # no minimum asked
    ],
)
def test_a_pitr_change_carries_a_period_only_to_raise_a_short_one(
    days: int | None, minimum: int | None, pitr: Reading, expected: int | None
) -> None:
    state = replace(protected(), pitr=pitr, pitr_recovery_days=days)
    plan = core.plan([state], Requirement(min_recovery_days=minimum))
    recovery = plan.changes[0].recovery_days if plan.changes else None
    assert recovery == expected


@pytest.mark.parametrize(
    ("exclude", "selected", "excluded"),
    [
        ((), ["sentinel-a", "sentinel-scratch-1", "sentinel-scratch-2"], []),
        (("sentinel-scratch-*",), ["sentinel-a"], ["sentinel-scratch-1", "sentinel-scratch-2"]),
        (("*-1", "sentinel-a"), ["sentinel-scratch-2"], ["sentinel-a", "sentinel-scratch-1"]),
        (("Sentinel-*",), ["sentinel-a", "sentinel-scratch-1", "sentinel-scratch-2"], []),
    ],
)
def test_a_selection_is_the_prefix_less_excluded_globs(
    exclude: tuple[str, ...], selected: list[str], excluded: list[str]
) -> None:
    names = ["sentinel-scratch-2", "other", "sentinel-a", "sentinel-scratch-1", "sentinel-a"]
    selection = core.Selection("sentinel-", exclude)
    assert selection.partition(names) == (selected, excluded)
    assert [n for n in names if selection.matches(n)] == [n for n in names if n in selected]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("sentinel-requests", None),
        ("billing-ledger", core.LeftAlone.OUTSIDE_PREFIX),
        ("Sentinel-requests", core.LeftAlone.OUTSIDE_PREFIX),  # the prefix is case-sensitive
        ("sentinel-scratch-1", core.LeftAlone.EXCLUDED),
        ("scratch-sentinel-x", core.LeftAlone.OUTSIDE_PREFIX),  # outside first, then excluded
    ],
)
def test_the_selection_says_why_it_leaves_a_table_alone_and_the_pack_says_the_same(
    name: str, reason: core.LeftAlone | None
) -> None:
    from remediation.pulumi_props import left_alone_message

    selection = core.Selection("sentinel-", ("sentinel-scratch-*", "scratch-*"))
    assert selection.left_alone(name) is reason
    assert selection.matches(name) is (reason is None)
    message = left_alone_message(name, selection)
    if reason is None:
        assert message is None
    elif reason is core.LeftAlone.OUTSIDE_PREFIX:
        assert message == f"table {name!r} does not start with 'sentinel-'"
    else:
        assert message == f"table {name!r} is excluded (exclude: 'sentinel-scratch-*', 'scratch-*')"
    # The guard logs the reason's value as it always has.
    assert reason is None or reason.value in {"outside the prefix", "excluded"}
