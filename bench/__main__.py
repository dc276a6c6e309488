"""`make bench`: every benchmark, each printing its figures beside its baseline and a ratio."""

from __future__ import annotations

import sys

from bench import (
    bench_cli,
    bench_fleet,
    bench_guard,
    bench_guardrail,
    bench_pack,
    bench_pulumi,
    bench_scale,
    bench_startup,
)


def main() -> int:
    print("== CLI start-up ==", flush=True)
    bench_startup.main([])
    print("\n== Policy pack overhead ==", flush=True)
    bench_pack.main([])
    print("\n== Policy pack overhead on the real Pulumi CLI ==", flush=True)
    bench_pulumi.main([])
    print("\n== The CLI at 1,000 tables ==", flush=True)
    bench_cli.main([])
    print("\n== Regions and accounts ==", flush=True)
    bench_fleet.main([])
    print("\n== An organization's scale ==", flush=True)
    bench_scale.main([])
    print("\n== The runtime guard ==", flush=True)
    bench_guard.main([])
    print("\n== The guardrail on 1,000 tables ==", flush=True)
    bench_guardrail.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
