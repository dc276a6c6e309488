"""The guard's re-checks: a table not ready yet (CREATING, not visible yet) comes back through
the SQS delay queue that feeds the same function, within a horizon."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from remediation import core
from remediation.guard_events import Malformed, Target, optional_str, required_str

RECHECK_HORIZON_SECONDS = 24 * 3600
"""How long a table not ready is re-checked: restores and imports of large tables take hours."""

NOT_FOUND_HORIZON_SECONDS = 15 * 60
"""How long a table a CreateTable, Restore* or ImportTable just made may be missing from
DescribeTable (eventually consistent) before it counts as gone; a new replica gets the full
horizon, since it appears in its region only as its creation goes on."""

RECHECK_FIRST_DELAY = 5
SQS_MAX_DELAY = 900
"""SQS's maximum DelaySeconds: re-checks start 5 s apart and double up to 15 minutes."""

RECHECK_ACTION = "sqs:SendMessage"
"""The one non-DynamoDB action the handler calls besides sns:Publish (only with alerts)."""


@dataclass(frozen=True)
class Recheck:
    """One look at a table, from an event or from a re-check message; what the message carries."""

    target: Target
    event: str
    event_id: str | None
    who: str | None
    since: float
    """Epoch seconds of the first look: the horizons count from it."""
    attempt: int = 0
    """Re-checks made before this one."""
    event_time: str | None = None
    """The event's own time (CloudTrail's eventTime), carried for the Security Hub finding."""
    source: str | None = None
    """The event's sourceIPAddress, carried for the finding's RemoteIpDetails."""

    def next(self) -> Recheck:
        return replace(self, attempt=self.attempt + 1)

    def delay(self) -> int:
        """Seconds before this re-check: 5, 10, 20, ... up to SQS's 900 (the first look: 0)."""
        if self.attempt == 0:
            return 0
        return int(min(SQS_MAX_DELAY, RECHECK_FIRST_DELAY * 2 ** min(self.attempt - 1, 10)))

    def body(self) -> str:
        target = {
            "region": self.target.region,
            "table": self.target.table,
            "replica": self.target.replica,
            "new": self.target.new,
        }
        fields = {
            "event": self.event,
            "event_id": self.event_id,
            "who": self.who,
            "since": self.since,
            "attempt": self.attempt,
            "event_time": self.event_time,
            "source": self.source,
        }
        return json.dumps({"guard": "sentinel-dynamodb", "recheck": target | fields})

    @classmethod
    def from_body(cls, text: object) -> Recheck:
        """The re-check in an SQS message body; raises Malformed."""
        try:
            document = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            document = None
        found = document.get("recheck") if isinstance(document, dict) else None
        if not isinstance(found, dict):
            raise Malformed("the SQS message is not a guard re-check")
        since, attempt = found.get("since"), found.get("attempt")
        if not isinstance(since, int | float) or not isinstance(attempt, int) or attempt < 0:
            raise Malformed("the re-check has no valid since or attempt")
        try:
            ref = core.parse_table_ref(required_str(found, "table"))
        except core.InvalidTableRef as exc:
            raise Malformed(str(exc)) from None
        target = Target(
            required_str(found, "region"),
            ref.name,
            replica=found.get("replica") is True,
            new=found.get("new") is True,
        )
        return cls(
            target,
            required_str(found, "event"),
            optional_str(found.get("event_id")),
            optional_str(found.get("who")),
            float(since),
            attempt,
            optional_str(found.get("event_time")),
            optional_str(found.get("source")),
        )


def sqs_bodies(event: object) -> list[object] | None:
    """The bodies of an SQS event's records, or None when the event is not from SQS."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        return None
    if not all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records):
        return None
    return [r.get("body") for r in records]


__all__ = [
    "NOT_FOUND_HORIZON_SECONDS",
    "RECHECK_ACTION",
    "RECHECK_FIRST_DELAY",
    "RECHECK_HORIZON_SECONDS",
    "SQS_MAX_DELAY",
    "Recheck",
    "sqs_bodies",
]
