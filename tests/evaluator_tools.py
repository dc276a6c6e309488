"""Where the real evaluators the tests judge with live, and what a test does when one is missing.

`make test-tools` installs them all (tests/node, tests/eventruler, tests/.evaluators); each wrapper
module (iam_simulator, event_ruler, ocsf_schema, junit_xsd) says in `missing()` why it cannot run.
A test that needs one calls the wrapper's `require()`: locally it skips with that reason, under
CI=true it fails, because CI starts from `make test` and a missing evaluator there is a broken
build, never a pass (the same rule as the real Pulumi CLI in tests/test_pulumi_cli.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
TOOLS = TESTS / ".evaluators"
"""Files `make test-tools` extracts from registry packages (gitignored)."""


def require(why_not: str) -> None:
    """Return if the evaluator is there; else skip the test with why_not, or fail under CI=true."""
    if not why_not:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {why_not} (run `make test-tools`)", pytrace=False)
    pytest.skip(f"{why_not} (run `make test-tools`)")
