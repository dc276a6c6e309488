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
    assert stats["operations"]["DescribeContinuousBackups"]["calls"] == TABLES  # no read-back
    assert stats["totals"]["throttled"] == 0
    assert stats["tables"] == {"count": TABLES, "deletion_protection": TABLES, "pitr": TABLES}


def test_without_pacing_the_same_run_is_throttled(sim: SimEndpoint) -> None:
    unpaced = ["--rate=DescribeContinuousBackups=100000"]
    result = run_cli(["harden", "--force", "--json", *unpaced], aws_env(sim.url))
    assert result.returncode == 0, result.stderr  # botocore retried every throttle
    assert sim.state.stats()["operations"]["DescribeContinuousBackups"]["throttled"] > 0


def test_pitr_writes_are_paced_only_as_control_plane_calls_and_a_throttle_is_absorbed() -> None:
    # Were UpdateContinuousBackups paced at its read twin's 10/s, a 10/s quota on it would never
    # throttle. It has no documented quota, so it goes at the control plane's pace; give the
    # simulation one anyway, and botocore's retries absorb every throttle it draws.
    state = SimState(
        scale=SCALE,
        # Half the read's quota, a burst of five: the first wave of writes alone exceeds it, so
        # the throttle shows even on a loaded machine that cannot send 100 writes a second.
        quotas={"DescribeContinuousBackups": 10.0, "UpdateContinuousBackups": 5.0},
        burst_seconds=0.1,
    )
    with SimEndpoint(state, latency=0.005) as sim:
        state.seed(30)
        state.reset()
        pace = [f"--rate={op}={rate * SCALE:g}" for op, rate in DEFAULT_RATES.items()]
        result = run_cli(["harden", "--force", "--json", *pace], aws_env(sim.url))
        stats = sim.state.stats()
    assert result.returncode == 0, result.stderr
    assert result.json()["succeeded"] == 30
    assert stats["operations"]["UpdateContinuousBackups"]["throttled"] > 0
    assert stats["operations"]["DescribeContinuousBackups"]["throttled"] == 0
    assert stats["tables"] == {"count": 30, "deletion_protection": 30, "pitr": 30}
