"""The one bounded pool a fleet run's calls share: every target's discovery, reads and writes
take turns on it, so that N account-regions take about the time of the largest one."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from remediation import aws

Lane = tuple[str | None, str]
"""The target a task belongs to (fleet's TargetKey): tasks of one lane run in their order."""


@dataclass
class Task:
    lane: Lane
    work: Callable[[], Any]
    then: Callable[[Any], Iterable[Task]]
    """Runs on the calling thread with the result; returns follow-up tasks."""
    urgent: bool = False
    counted: bool = True


@dataclass
class Tally:
    done: int = 0
    total: int = 0


def run(
    initial: Iterable[Task],
    tally: Tally,
    progress: aws.ProgressCallback | None,
    workers: int,
    cancel: threading.Event,
) -> None:
    """Run tasks on one bounded pool, at most `workers` at a time, handing the next free
    worker to the next target in turn (discovery pages first): a target waiting on its own
    pacer never holds every worker while other targets have work.

    On KeyboardInterrupt (or any error): cancel (no new calls), wait for calls in flight,
    keep what they finished, and re-raise.
    """
    lanes: OrderedDict[Lane, deque[Task]] = OrderedDict()
    urgent: deque[Task] = deque()
    running: dict[Future[Any], Task] = {}

    def add(task: Task) -> None:
        (urgent if task.urgent else lanes.setdefault(task.lane, deque())).append(task)

    def take() -> Task | None:
        if urgent:
            return urgent.popleft()
        while lanes:
            lane, queue = next(iter(lanes.items()))
            if not queue:
                del lanes[lane]
                continue
            lanes.move_to_end(lane)
            return queue.popleft()
        return None

    def finish(future: Future[Any], task: Task) -> None:
        follow = list(task.then(future.result()))
        if task.counted:
            tally.done += 1
        # An account just reached is discovered before the next role is assumed: its
        # urgent follow-ups go ahead of the reaches still queued, in their own order.
        urgent.extendleft(reversed([t for t in follow if t.urgent]))
        for next_task in follow:
            if not next_task.urgent:
                add(next_task)
        if task.counted and progress:
            progress(tally.done, tally.total)

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        for first in initial:
            add(first)
        while True:
            while len(running) < workers:
                task = take()
                if task is None:
                    break
                running[pool.submit(task.work)] = task
            if not running:
                break
            done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                finish(future, running.pop(future))
    except BaseException:
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        for future, task in running.items():
            if not future.cancelled() and future.exception() is None:
                task.then(future.result())
        raise
    pool.shutdown(wait=True)


def attempt(fn: Callable[[], Any]) -> Any:
    """The call's answer, or the AwsError it failed with: a task's result either way."""
    try:
        return fn()
    except aws.CallFailed as exc:
        return exc.error


__all__ = ["Lane", "Tally", "Task", "attempt", "run"]
