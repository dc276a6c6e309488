"""EventBridge pattern matching by AWS's own matcher, Event Ruler (Maven Central).

`matches(pattern, events)` starts one JVM running tests/eventruler (a Machine holding the pattern,
each event matched with rulesForJSONEvent, Ruler's array-consistent matcher) and returns one bool
per event. The Event Ruler version is pinned in tests/eventruler/pom.xml; `make test-tools` builds
the jar and copies its dependencies into tests/eventruler/target/lib.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from tests.evaluator_tools import TESTS
from tests.evaluator_tools import require as _require

PROJECT = TESTS / "eventruler"
JAR = PROJECT / "target" / "eventruler-cli.jar"
LIB = PROJECT / "target" / "lib"
MAIN = "sentinel.eventruler.Main"


class PatternError(ValueError):
    """Event Ruler refused the pattern (or an event), with its reason."""


def missing() -> str:
    """Why the matcher cannot run here, or "" when it can."""
    if shutil.which("java") is None:
        return "Event Ruler needs `java` on PATH"
    if not JAR.exists() or not any(LIB.glob("event-ruler-*.jar")):
        return "Event Ruler needs tests/eventruler/target (mvn package)"
    return ""


def require() -> None:
    _require(missing())


def matches(pattern: Mapping[str, Any] | str, events: Sequence[Mapping[str, Any]]) -> list[bool]:
    """For each event, whether the EventBridge pattern matches it."""
    why_not = missing()
    if why_not:
        raise PatternError(why_not)
    if isinstance(pattern, str):
        pattern = json.loads(pattern)  # a string pattern must be JSON, as EventBridge wants it
    done = subprocess.run(
        ["java", "-cp", f"{JAR}:{LIB}/*", MAIN],
        input=json.dumps({"pattern": pattern, "events": list(events)}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise PatternError(done.stderr.strip() or f"Event Ruler exited {done.returncode}")
    result: list[bool] = json.loads(done.stdout)["matches"]
    if len(result) != len(events):
        raise PatternError(f"Event Ruler answered {len(result)} of {len(events)} events")
    return result
