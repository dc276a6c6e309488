"""The guard's EventBridge pattern, judged by AWS's own matcher (Event Ruler), on CloudTrail records
shaped as AWS documents them (tests/events/), `replicaUpdates` arrays included.

Each case says whether the rule must deliver the event; one JVM judges every case of a pattern.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediation.guard_events import DEFAULT_PATTERN_QUOTA, event_pattern, pattern_json
from tests import event_ruler, pulumi_cli
from tests.guard_support import sample, with_table
from tests.servers import moto_server

Event = dict[str, Any]


def _edited(name: str, edit: Callable[[Event], None]) -> Event:
    event = sample(name)
    edit(event)
    return event


def _request(event: Event) -> dict[str, Any]:
    request: dict[str, Any] = event["detail"]["requestParameters"]
    return request


def _pitr_on(event: Event) -> None:
    _request(event)["pointInTimeRecoverySpecification"] = {"pointInTimeRecoveryEnabled": True}


def _period(days: int) -> Callable[[Event], None]:
    def edit(event: Event) -> None:
        spec = _request(event)["pointInTimeRecoverySpecification"]
        spec["recoveryPeriodInDays"] = days

    return edit


def _throughput_only(event: Event) -> None:
    del _request(event)["deletionProtectionEnabled"]
    _request(event)["billingMode"] = "PAY_PER_REQUEST"


def _replica_delete_then_create(event: Event) -> None:
    _request(event)["replicaUpdates"] = [
        {"delete": {"regionName": "eu-west-1"}},
        {"create": {"regionName": "us-west-2", "kMSMasterKeyId": "alias/sentinel"}},
    ]


def _replica_update_only(event: Event) -> None:
    _request(event)["replicaUpdates"] = [
        {"update": {"regionName": "eu-west-1", "tableClassOverride": "STANDARD"}}
    ]


def _arn_in(partition: str) -> Callable[[Event], None]:
    def edit(event: Event) -> None:
        _request(event)["tableName"] = (
            f"arn:{partition}:dynamodb:us-gov-west-1:123456789012:table/sentinel-requests"
        )

    return edit


def _refused_for_another_reason(event: Event) -> None:
    event["detail"]["errorCode"] = "ResourceInUseException"
    event["detail"]["errorMessage"] = "Attempt to change a resource which is still in use"


def _data_plane(event: Event) -> None:
    detail = event["detail"]
    detail["eventName"] = "PutItem"
    detail["eventCategory"] = "Data"
    detail["managementEvent"] = False
    detail["requestParameters"] = {"tableName": "sentinel-requests", "key": {"id": "r-1"}}
    detail["responseElements"] = None


def _read_only(event: Event) -> None:
    event["detail"]["eventName"] = "DescribeTable"
    event["detail"]["readOnly"] = True
    event["detail"]["responseElements"] = None


def _failed(event: Event) -> None:
    event["detail"]["errorCode"] = "AccessDeniedException"
    event["detail"]["errorMessage"] = "User is not authorized to perform this action"
    event["detail"]["responseElements"] = None


def _another_source(event: Event) -> None:
    event["detail"]["eventSource"] = "dax.amazonaws.com"


# name -> (event, matched with a minimum of 14 days, matched without a minimum)
CASES: dict[str, tuple[Event, bool, bool]] = {
    # what the guard acts on
    "create-table": (sample("create-table"), True, True),
    "import-table": (sample("import-table"), True, True),
    "restore-table-from-backup": (sample("restore-table-from-backup"), True, True),
    "restore-table-to-point-in-time": (sample("restore-table-to-point-in-time"), True, True),
    "update-table-deletion-protection-off": (
        sample("update-table-deletion-protection-off"),
        True,
        True,
    ),
    "update-table-by-arn": (sample("update-table-by-arn"), True, True),
    "update-table-by-arn-in-govcloud": (
        _edited("update-table-deletion-protection-off", _arn_in("aws-us-gov")),
        True,
        True,
    ),
    "update-table-replica-create": (sample("update-table-replica-create"), True, True),
    "update-table-replica-delete-then-create": (
        _edited("update-table-replica-create", _replica_delete_then_create),
        True,
        True,
    ),
    "update-continuous-backups-pitr-off": (
        sample("update-continuous-backups-pitr-off"),
        True,
        True,
    ),
    "update-continuous-backups-period-lowered": (
        sample("update-continuous-backups-period-lowered"),
        True,
        False,
    ),
    "delete-table": (sample("delete-table"), True, True),
    "delete-table-refused": (sample("delete-table-refused"), True, True),
    "put-resource-policy": (sample("put-resource-policy"), True, True),
    "delete-resource-policy": (sample("delete-resource-policy"), True, True),
    # what it leaves out
    "update-table-access-denied": (sample("update-table-access-denied"), False, False),
    "deletion-protection-turned-on": (sample("update-table-by-guard"), False, False),
    "update-table-throughput-only": (
        _edited("update-table-deletion-protection-off", _throughput_only),
        False,
        False,
    ),
    "update-table-replica-delete": (sample("update-table-replica-delete"), False, False),
    "update-table-replica-update": (
        _edited("update-table-replica-create", _replica_update_only),
        False,
        False,
    ),
    "pitr-turned-on": (_edited("update-continuous-backups-pitr-off", _pitr_on), False, False),
    "period-at-the-minimum": (
        _edited("update-continuous-backups-period-lowered", _period(14)),
        False,
        False,
    ),
    "delete-table-refused-for-another-reason": (
        _edited("delete-table-refused", _refused_for_another_reason),
        False,
        False,
    ),
    "delete-table-failed": (_edited("delete-table", _failed), False, False),
    "create-table-failed": (_edited("create-table", _failed), False, False),
    "put-resource-policy-failed": (_edited("put-resource-policy", _failed), False, False),
    "put-item-data-plane": (_edited("create-table", _data_plane), False, False),
    "describe-table-read-only": (_edited("create-table", _read_only), False, False),
    "another-event-source": (_edited("create-table", _another_source), False, False),
}


def _answers(pattern: dict[str, Any], events: dict[str, Event]) -> dict[str, bool]:
    names = sorted(events)
    return dict(zip(names, event_ruler.matches(pattern, [events[n] for n in names]), strict=True))


@pytest.mark.parametrize("days", [14, None])
def test_event_ruler_delivers_exactly_the_events_that_may_leave_a_table_unprotected(
    days: int | None,
) -> None:
    event_ruler.require()
    expected = {name: case[1] if days else case[2] for name, case in CASES.items()}
    events = {name: case[0] for name, case in CASES.items()}
    assert _answers(event_pattern("sentinel-", days), events) == expected


@pytest.mark.parametrize("days", [14, None])
def test_event_ruler_delivers_nothing_about_a_table_outside_the_prefix(days: int | None) -> None:
    event_ruler.require()
    matched = {name: case[0] for name, case in CASES.items() if case[1]}
    elsewhere = {n: with_table(copy.deepcopy(e), "billing-ledger") for n, e in matched.items()}
    # A name that holds the prefix without starting with it is outside it too.
    inside = {f"{n}-in": with_table(copy.deepcopy(e), "x-sentinel-x") for n, e in matched.items()}
    assert not any(_answers(event_pattern("sentinel-", days), elsewhere | inside).values())
    # ...and a longer prefix leaves out the tables of a shorter one.
    assert not any(_answers(event_pattern("sentinel-prod-", days), matched).values())


# -- the size EventBridge counts ------------------------------------------------------------------

LONGEST_PREFIX = 32


@pytest.mark.parametrize("days", [None, 1, 35])
def test_the_submitted_pattern_fits_eventbridges_default_quota_for_any_prefix_up_to_32(
    days: int | None,
) -> None:
    for length in range(1, LONGEST_PREFIX + 1):
        # The longest names the prefix can hold: every character counts once in each copy.
        prefix = ("sentinel-" * 4)[:length]
        submitted = pattern_json(prefix, days)
        assert json.loads(submitted) == event_pattern(prefix, days)
        assert len(submitted) <= DEFAULT_PATTERN_QUOTA, (prefix, len(submitted))


def test_a_32_character_prefix_still_matches_and_leaves_out_like_the_default() -> None:
    event_ruler.require()
    prefix = "acme-prod-eu-central-1-sentinel-"
    assert len(prefix) == LONGEST_PREFIX
    events = {
        name: with_table(copy.deepcopy(case[0]), f"{prefix}requests")
        for name, case in CASES.items()
    }
    expected = {name: case[1] for name, case in CASES.items()}
    assert _answers(event_pattern(prefix, 14), events) == expected


# -- the refusal, as the real Pulumi CLI shows it ------------------------------------------------


def _preview(tmp_path: Path, config: dict[str, str]) -> pulumi_cli.Run:
    """`pulumi preview` of the project's program on the real CLI, with the guard on."""
    cli, why_not = pulumi_cli.locate()
    if cli is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs the real Pulumi CLI: {why_not}", pytrace=False)
        pytest.skip(why_not)
    with moto_server() as server:
        space = pulumi_cli.Workspace(cli, tmp_path, server.url)
        space.init({"runtimeGuard": "true", **config})
        return space.preview(pack=False)


def _refusal(preview: pulumi_cli.Run, words: str) -> str:
    assert preview.code != 0
    assert "Traceback" not in preview.output
    assert "TableGuard" not in preview.output
    lines = [line.strip() for line in preview.output.splitlines() if words in line]
    assert lines, preview.output
    return lines[-1]


def test_a_preview_over_the_declared_quota_fails_with_one_line_and_declares_no_guard(
    tmp_path: Path,
) -> None:
    prefix = "acme-" + "x" * 154 + "-"  # a legal table-name prefix whose pattern is over 2,048
    config = {"prefix": prefix, "runtimeGuardMinRecoveryDays": "14"}
    assert _refusal(_preview(tmp_path, config), "pattern size") == (
        f"error: the guard's EventBridge pattern for prefix {prefix!r} is "
        f"{len(pattern_json(prefix, 14))} characters, over the account's event pattern size quota "
        f"of 2048 (runtimeGuardEventPatternQuota): raise it in Service Quotas (Amazon EventBridge, "
        f'"Event pattern size", up to 4096) and declare the new value, or use a shorter prefix'
    )


def test_a_preview_with_a_reservation_the_recheck_mapping_would_fill_fails_with_one_line(
    tmp_path: Path,
) -> None:
    preview = _preview(tmp_path, {"runtimeGuardReservedConcurrency": "2"})
    line = _refusal(preview, "runtimeGuardReservedConcurrency")
    assert line.startswith("error: runtimeGuardReservedConcurrency must be a whole number of at")
    assert line.endswith("got '2'")
