"""Pacing: calls spaced evenly to AWS's quotas, and the backoff between retries of our own."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable


class Pacer:
    """Spaces calls evenly at `rate` per second across threads, with no initial burst."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self._interval = 1.0 / rate
        self._clock = clock
        self._next = -math.inf
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take the next slot; return how long the caller must wait for it."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self._interval
            return slot - now


def _backoff(attempt: int) -> float:
    """Full-jitter exponential backoff: 0.25 s doubling, capped at 5 s."""
    cap: float = min(5.0, 0.25 * 2**attempt)
    return random.uniform(0.5, 1.0) * cap
