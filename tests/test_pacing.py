"""Client-side pacing keeps a run under the quotas: no throttled call, where unpaced draws many.

Against bench/sim_endpoint.py, which enforces DescribeContinuousBackups' 10 calls/s (scaled up here
to keep the test short) with a server-side token bucket holding only a tenth of a second of burst.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.sim_endpoint import SimEndpoint, SimState
from remediation.aws import DEFAULT_RATES
from tests.cli_process import run_cli
from tests.servers import aws_env

SCALE = 10.0  # DescribeContinuousBackups: 100 calls/s
TABLES = 150


@pytest.fixture
def sim() -> Iterator[SimEndpoint]:
    state = SimState(scale=SCALE, burst_seconds=0.1)
    with SimEndpoint(state, latency=0.005) as endpoint:
        state.seed(TABLES)
        state.reset()
        yield endpoint


def test_default_pacing_scaled_to_the_quota_draws_no_throttle(sim: SimEndpoint) -> None:
    pace = [f"--rate={op}={rate * SCALE:g}" for op, rate in DEFAULT_RATES.items()]
    result = run_cli(["harden", "--force", "--json", *pace], aws_env(sim.url))
    assert result.returncode == 0, result.stderr
    stats = sim.state.stats()
    assert stats["operations"]["DescribeContinuousBackups"]["calls"] == 2 * TABLES
    assert stats["totals"]["throttled"] == 0
    assert stats["tables"] == {"count": TABLES, "deletion_protection": TABLES, "pitr": TABLES}


def test_without_pacing_the_same_run_is_throttled(sim: SimEndpoint) -> None:
    unpaced = ["--rate=DescribeContinuousBackups=100000", "--rate=UpdateContinuousBackups=100000"]
    result = run_cli(["harden", "--force", "--json", *unpaced], aws_env(sim.url))
    assert result.returncode == 0, result.stderr  # botocore retried every throttle
    assert sim.state.stats()["operations"]["DescribeContinuousBackups"]["throttled"] > 0
