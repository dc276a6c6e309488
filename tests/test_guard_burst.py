"""A burst: 200 events on 50 tables through one warm guard, against bench/sim_endpoint.py, which
enforces AWS's quotas with server-side token buckets holding a tenth of a second of burst. The
paced burst runs at three times AWS's quotas, to keep it short (unpaced, an idle machine's guard
reads PITR about twice as fast as that). The unpaced contrast runs under a quota of 2 reads a
second, which any machine's unpaced guard exceeds, however busy.

Each event is only a trigger, so each costs one read of each protection; a table is written only
for what it lacks, once, however many events name it. The guard's own pacing (SENTINEL_RATES, set
by TableGuard from its reserved concurrency) keeps the burst under the quotas.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from bench.sim_endpoint import SimEndpoint, SimState
from remediation import guard
from remediation.aws import DEFAULT_RATES
from tests.guard_support import Context, guard_environment, sample, with_table

SCALE = 3.0  # DescribeContinuousBackups: 30 calls/s
TABLES = 50
KINDS = [
    "create-table",
    "update-table-deletion-protection-off",
    "update-continuous-backups-pitr-off",
    "update-table-deletion-protection-off",  # delivered twice
]


@pytest.fixture
def sim() -> Iterator[SimEndpoint]:
    state = SimState(scale=SCALE, burst_seconds=0.1)
    with SimEndpoint(state, latency=0.002) as endpoint:
        yield endpoint


def burst(names: list[str]) -> list[dict[str, Any]]:
    events = [with_table(sample(kind), name) for name in names for kind in KINDS]
    random.Random(10).shuffle(events)  # the same table's events arrive apart, as in life
    return events


def run_burst(
    sim: SimEndpoint, monkeypatch: pytest.MonkeyPatch, rates: str, count: int = 200
) -> dict[str, Any]:
    names = sim.state.seed(TABLES, deletion_protection_fraction=0.5, pitr_fraction=0.3)
    sim.state.reset()
    guard_environment(monkeypatch, sim.url, rates=rates)
    events = burst(names)
    assert len(events) == 200
    for event in events[:count]:
        guard.handler(event, Context())
    return sim.state.stats()


def test_a_burst_of_200_events_on_50_tables_makes_only_the_calls_they_need_and_no_throttle(
    sim: SimEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    paced = ",".join(f"{op}={rate * SCALE:g}" for op, rate in DEFAULT_RATES.items())
    before = sim.state.seed(TABLES, deletion_protection_fraction=0.5, pitr_fraction=0.3)
    lacking_dp = TABLES - sum(t["deletion_protection"] for t in sim.state.tables())
    lacking_pitr = TABLES - sum(t["pitr"] for t in sim.state.tables())
    assert len(before) == TABLES and lacking_dp == 25 and lacking_pitr == 35
    stats = run_burst(sim, monkeypatch, paced)
    operations = {op: s["calls"] for op, s in stats["operations"].items()}
    assert stats["totals"]["throttled"] == stats["totals"]["limit_exceeded"] == 0
    assert stats["totals"]["errors"] == 0
    assert operations == {
        "ListTables": 0,
        "UpdateTable": lacking_dp,
        "UpdateContinuousBackups": lacking_pitr,
        # one read per event; each write's answer is its read-back
        "DescribeTable": 200,
        "DescribeContinuousBackups": 200,
        # no guardrail configured, and no policy event: the table policy is never asked about
        "GetResourcePolicy": 0,
        "PutResourcePolicy": 0,
    }
    assert stats["tables"] == {"count": TABLES, "deletion_protection": TABLES, "pitr": TABLES}


def test_the_same_burst_unpaced_is_throttled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unpaced = "DescribeContinuousBackups=100000,UpdateContinuousBackups=100000,*=100000"
    state = SimState(quotas={"DescribeContinuousBackups": 2.0}, burst_seconds=0.1)
    with SimEndpoint(state, latency=0.002) as sim:
        # Three events suffice: each throttle then costs botocore's backoff, up to seconds apiece.
        stats = run_burst(sim, monkeypatch, unpaced, count=3)
    assert stats["operations"]["DescribeContinuousBackups"]["throttled"] > 0
