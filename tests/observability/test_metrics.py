"""The process metrics count every step and attempt exactly (several engines on several
threads at once included), and the per-step events are built only for the subscribers
that want them (`runtime.observe`): a quiet log, and the metrics, build none."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from runtime import observe
from runtime.engine import run_inline
from runtime.metrics import PROCESS
from tether.loader import load

SRC = '''
from tether import OrchestrationContext, activity, orchestrator


@activity
def work(i: int) -> int:
    if i < 0:
        raise ValueError(f"negative {i}")
    return i + 1


@orchestrator
async def counted(ctx: OrchestrationContext, n: int) -> int:
    total = 0
    for i in range(n):
        total = await ctx.call_activity(work, total)
    return total


@orchestrator
async def failing(ctx: OrchestrationContext) -> int:
    return await ctx.call_activity(work, -1)
'''


@pytest.fixture
def flows(tmp_path: Path) -> Any:
    path = tmp_path / "flows_metrics.py"
    path.write_text(SRC)
    return load(str(path))


PER_STEP = (observe.StepRan, observe.ActivityStarted, observe.ActivityEnded)


def _series() -> dict[tuple[str, tuple[str, ...]], int]:
    with PROCESS.lock:
        counts, hists = PROCESS._read()
    for (metric, name), (bins, _) in hists.items():
        counts[f"{metric}_count", (name,)] = sum(bins)
    return counts


def _delta(before: dict[Any, int], after: dict[Any, int], metric: str, *labels: str) -> int:
    return after.get((metric, labels), 0) - before.get((metric, labels), 0)


def test_steps_and_attempts_are_counted_exactly(flows: Any, tmp_path: Path) -> None:
    before = _series()
    assert run_inline(flows.machine("counted"), 7, store=tmp_path / "a").output == 7
    run_inline(flows.machine("failing"), None, store=tmp_path / "b")
    after = _series()
    assert _delta(before, after, "steps", "counted") == 8  # 7 awaits, then the return
    assert _delta(before, after, "step_seconds_count", "counted") == 8
    assert _delta(before, after, "activity_attempts", "work") == 8
    assert _delta(before, after, "activity_seconds_count", "work") == 8
    assert _delta(before, after, "activity_failures", "work") == 1
    assert _delta(before, after, "instances_ended", "counted", "Completed") == 1
    assert _delta(before, after, "instances_ended", "failing", "Failed") == 1


def test_engines_on_many_threads_lose_no_count(flows: Any, tmp_path: Path) -> None:
    """Each thread counts in its own shard: none overwrites another's, a scrape sums them."""
    before = _series()
    totals_before = PROCESS.totals()
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            for j in range(3):
                run_inline(flows.machine("counted"), 20, store=tmp_path / f"t{k}-{j}")
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    after = _series()
    assert _delta(before, after, "steps", "counted") == 4 * 3 * 21
    assert _delta(before, after, "activity_attempts", "work") == 4 * 3 * 20
    assert _delta(before, after, "activity_seconds_count", "work") == 4 * 3 * 20
    totals = PROCESS.totals()
    assert totals["steps"] - totals_before["steps"] == 4 * 3 * 21


def test_per_step_events_go_only_to_those_that_want_them(flows: Any, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    quiet: list[Any] = []
    eager: list[Any] = []
    failed_only: list[Any] = []

    def quiet_one(event: Any) -> None:
        quiet.append(event)

    def eager_one(event: Any) -> None:
        eager.append(event)

    def failures(event: Any) -> None:
        failed_only.append(event)

    caplog.set_level(logging.INFO, logger="tether")  # no DEBUG lines: logs want none
    observe.subscribe(quiet_one, wants=observe.never)
    observe.subscribe(failures, wants=lambda kind, failed: failed)
    try:
        run_inline(flows.machine("counted"), 2, store=tmp_path / "a")
        assert not [e for e in quiet if isinstance(e, PER_STEP)]
        # nothing failed: not one per-step event built
        assert not [e for e in failed_only if isinstance(e, PER_STEP)]
        assert [type(e) for e in quiet] == [observe.InstanceStarted, observe.InstanceEnded]
        run_inline(flows.machine("failing"), None, store=tmp_path / "b")
        ended = [e for e in failed_only if isinstance(e, PER_STEP)]
        assert [(type(e), e.error) for e in ended] == [  # the attempt, and the step it failed
            (observe.ActivityEnded, "ValueError: negative -1"),
            (observe.StepRan, "TaskFailedError: work failed: ValueError: negative -1")]
        observe.subscribe(eager_one)
        run_inline(flows.machine("counted"), 2, store=tmp_path / "c")
    finally:
        for subscriber in (quiet_one, eager_one, failures):
            observe.unsubscribe(subscriber)
    steps = [e for e in eager if isinstance(e, observe.StepRan)]
    assert [(e.orchestration, e.error) for e in steps] == [("counted", None)] * 3
    assert all(e.step and e.seconds >= 0 and e.started > 0 for e in steps)
    started = [e for e in eager if isinstance(e, observe.ActivityStarted)]
    assert [(e.activity, e.attempt) for e in started] == [("work", 1)] * 2
    assert not [r for r in caplog.records if r.name in ("tether.step", "tether.activity")
                and r.levelno < logging.INFO]
