"""Several `tether worker` processes on one store, SIGKILLed at random moments: every
instance ends with the plain-Python result, no result is journaled twice, every activity
runs at least once, and the repeated executions stay within what the kills can explain.

The harness is bench/kill_soak.py (run by hand for the numbers in docs/benchmarks.md); the
tests at the bottom check that its checks catch what they claim to.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.kill_soak import (
    WIDTH,
    Planned,
    Reference,
    Rounds,
    Soak,
    Tally,
    execution_problems,
    plain_runs,
    plan,
    run_soak,
)
from runtime.backends.file.journal import iter_records
from runtime.client import Client


def test_workers_killed_at_random_finish_every_instance(tmp_path: Path) -> None:
    report, found = run_soak(tmp_path, Soak(instances=30, kills=2, workers=2, seed=1))
    assert found == []
    assert report.landed >= 1, "no kill hit a running worker: the test proved nothing"
    assert report.distinct == sum(len(ref.keys) for ref in plain_runs(plan(30)).values())
    assert report.repeated == report.executions - report.distinct


@pytest.mark.soak
def test_soak_many_kills(tmp_path: Path) -> None:
    report, found = run_soak(tmp_path, Soak(instances=200, kills=30, workers=3, seed=2))
    assert found == []
    assert report.landed >= 20


def test_plain_runs_cover_every_shape_with_unique_keys() -> None:
    reference = plain_runs(plan(10))
    keys = [k for ref in reference.values() for k in ref.keys]
    assert len(keys) == len(set(keys))
    assert {json.loads(k)[1] for k in keys} == {
        "chain", "seed", "fan", "sum", "loop", "try", "finally", "cleanup", "nap"}
    assert sum(json.loads(k)[1] == "fan" for k in reference["k1"].keys) == 100
    # guarded(5): odd inputs fail; each `finally` appends 2 * len(out) + 1; the `finally`
    # after `return out` appends to the very list being returned.
    assert reference["k3"].output == [0, 3, "ValueError", 7, 2, 11, "ValueError", 15, 4, 19, 11]


# -- the checks themselves, on made-up logs ------------------------------------------------

PLANNED = [Planned("a", "soak_chain", 1), Planned("b", "soak_fan_out", 1)]
REFERENCE = {"a": Reference(None, ('["a", 0]', '["a", 1]')),
             "b": Reference(None, tuple(f'["b", {i}]' for i in range(WIDTH["soak_fan_out"] + 1)))}


def check(runs: dict[str, list[str]], killed: tuple[str, ...] = ("r0.w0", "r0.w1")) -> list[str]:
    everything = {k: ["final.w0"] for ref in REFERENCE.values() for k in ref.keys}
    tally = Tally({**everything, **runs})
    return execution_problems(PLANNED, REFERENCE, tally, Rounds(1, 1, list(killed)))


def test_a_clean_log_passes() -> None:
    assert check({'["a", 0]': ["r0.w0", "final.w0"]}) == []
    assert check({'["b", 3]': ["r0.w0", "r0.w1", "final.w0"]}) == []


def test_an_execution_lost_by_a_worker_never_killed_is_a_problem() -> None:
    assert check({'["a", 0]': ["final.w1", "final.w0"]}) == [
        "final.w1 was never killed, yet lost 1 executions of a"]


def test_one_worker_running_a_task_twice_is_a_problem() -> None:
    found = check({'["a", 1]': ["r0.w0", "r0.w0", "final.w0"]})
    assert found[0].startswith('["a", 1]: executed twice by one worker')


def test_a_kill_losing_more_than_the_instance_has_outstanding_is_a_problem() -> None:
    assert check({'["a", 0]': ["r0.w0", "final.w0"], '["a", 1]': ["r0.w0", "final.w0"]}) == [
        "r0.w0 lost 2 executions of a, more than the 1 a soak_chain can have outstanding"]
    fan = {f'["b", {i}]': ["r0.w1", "final.w0"] for i in range(WIDTH["soak_fan_out"])}
    assert check(fan) == []
    assert len(check({**fan, '["b", 100]': ["r0.w1", "final.w0"]})) == 1


def test_a_worker_losing_more_than_its_concurrency_is_a_problem() -> None:
    fan = {f'["b", {i}]': ["r0.w1", "final.w0"] for i in range(5)}
    everything = {k: ["final.w0"] for ref in REFERENCE.values() for k in ref.keys}
    tally = Tally({**everything, **fan})
    assert execution_problems(PLANNED, REFERENCE, tally, Rounds(1, 1, ["r0.w1"]), 5) == []
    assert execution_problems(PLANNED, REFERENCE, tally, Rounds(1, 1, ["r0.w1"]), 4) == [
        "r0.w1 lost 5 executions, more than the 4 it may have started and not journaled"]


def test_an_activity_never_run_or_not_in_the_plain_run_is_a_problem() -> None:
    tally = Tally({'["a", 0]': ["final.w0"], '["a", 9]': ["final.w0"]})
    found = execution_problems(PLANNED[:1], {"a": REFERENCE["a"]}, tally, Rounds())
    assert found == ['1 activities never executed, e.g. ["a", 1]',
                     '1 activities the plain run does not call, e.g. ["a", 9]']


# -- how many executions one kill can cost -------------------------------------------------

FAN = '''
from tether import activity, orchestrator

@activity
def kill_mark(i):
    return i

@orchestrator
async def kill_fan(ctx, n):
    return sum(await ctx.when_all([ctx.call_activity(kill_mark, i) for i in range(n)]))
'''


def test_a_kill_can_repeat_at_most_concurrency_activities(tmp_path: Path) -> None:
    import compiler
    from runtime.backends.file import FileBackend
    from runtime.executor import Engine

    module = compiler.load_source(FAN, "kill_fan.py", "_tether_kill_fan")
    executed: list[int] = []

    def mark(i: int) -> int:
        executed.append(i)
        return i

    Client(tmp_path).start(module.kill_fan.__tether_machine__, 100, instance_id="fan")
    engine = Engine(FileBackend(tmp_path), concurrency=2, activities={"kill_mark": mark})
    try:
        engine.adopt("fan")  # checkpoints the fan-out and starts its 100 activities
        # The engine thread is busy elsewhere (here: not looping) while the pool works,
        # as it is during a scan that adopts many instances, or a slow fsync.
        engine.pool.close(wait=True)
        journaled = sum(r.kind == "result" for r in iter_records(tmp_path / "instances" / "fan"))
        # A SIGKILL now re-runs every execution whose result is not in the journal.
        assert len(executed) - journaled <= 2
    finally:
        engine.close()


def test_what_the_last_round_found_is_reported_on_the_way_out(tmp_path: Path) -> None:
    """Regression (the PostgreSQL soak's SIGSTOP round): a worker woken past its lease
    lost every claim in the round it woke in (`Engine.lose` adds the fence's line to
    `engine.errors`), was idle at once and exited `--until-idle` before its next scan,
    the only place that printed them: it never said it had lost its claims."""
    from runtime.worker import Worker

    lines: list[str] = []
    worker = Worker(tmp_path / "store", report=lines.append)
    scan = worker.scan

    def scan_then_lose() -> None:  # the claims are lost after the last scan reported
        scan()
        worker.engine.errors.append("instance p1: another worker claimed it")

    worker.scan = scan_then_lose  # type: ignore[method-assign]
    worker.serve(until_idle=True)
    assert lines == ["error: instance p1: another worker claimed it"]
