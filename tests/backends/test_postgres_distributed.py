"""Activities through PostgreSQL's work queue (runtime/engine/distributed.py): attempts
beyond a worker's free slots are handed to any worker, and the runs still equal the
plain `async def` runs, crashed at every write or not; and two worker processes split
a fan-out between them (each process logs the attempts it ran)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends.pg import pg_schema, pg_url
from tests.differential.harness import check_case, compiled_module, plain_module

__all__ = ["pg_schema", "pg_url"]

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = '''
from tether import OrchestrationContext, TaskFailedError, activity, orchestrator

@activity
def square(n: int) -> int:
    return n * n

@activity
def flaky(n: int) -> int:
    if n % 3 == 0:
        raise ValueError(f"no multiples of three: {n}")
    return n

@orchestrator
async def spread(ctx: OrchestrationContext, size: int) -> dict:
    squares = await ctx.when_all([ctx.call_activity(square, i) for i in range(size)])
    first = await ctx.when_any([ctx.call_activity(square, i) for i in range(3)])
    failed = []
    tasks = [ctx.call_activity(flaky, i) for i in range(size)]  # failures cross the queue too
    for i, task in enumerate(tasks):
        try:
            await task
        except TaskFailedError as exc:
            failed.append([i, exc.error_type])
    return {"sum": sum(squares), "first": await first, "failed": failed}
'''


@pytest.fixture
def two_slots(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every engine gets two local slots; counts the attempts that went through the queue
    (queued; one process alone takes its own back and runs them as its own attempts)."""
    from runtime.backends.postgres.work import PostgresWorkQueue
    from runtime.engine import distributed

    queued: list[int] = []
    init = distributed.DistributedPool.__init__
    enqueue = PostgresWorkQueue.enqueue

    def small(self: Any, engine: Any, work: Any, concurrency: int, inline_below: float) -> None:
        init(self, engine, work, 2, inline_below)

    def counted(self: Any, claim: Any, items: Any) -> None:
        queued.extend(item.task for item in items)
        enqueue(self, claim, items)

    monkeypatch.setattr(distributed.DistributedPool, "__init__", small)
    monkeypatch.setattr(PostgresWorkQueue, "enqueue", counted)
    yield queued


def test_queued_attempts_give_the_plain_result_crashed_at_every_write(
        pg_url: str, two_slots: list[int]) -> None:
    plain, compiled = plain_module(PROGRAM), compiled_module(PROGRAM)
    n = 0

    def store(name: str) -> str:  # a fresh schema per run of the case
        nonlocal n
        n += 1
        return _schema_url(pg_url, n)

    try:
        tried = check_case(plain, compiled, "spread", 8, [], store, max_crash_points=400)
    finally:
        _drop_numbered(pg_url, n)
    assert tried >= 5  # every crash point up to the last write
    assert len(two_slots) > 50, "the fan-outs did not go through the work queue"


def _schema_url(pg_url: str, n: int) -> str:
    base, schema = pg_url.split("?schema=")
    return f"{base}?schema={schema}_{n}"


def _drop_numbered(pg_url: str, n: int) -> None:
    from tests.backends.pg import drop_schema

    schema = pg_url.split("?schema=")[1]
    for i in range(1, n + 1):
        drop_schema(f"{schema}_{i}")


def test_two_worker_processes_split_a_fan_out(pg_url: str, tmp_path: Path) -> None:
    flow = tmp_path / "flow.py"
    flow.write_text(textwrap.dedent('''
        import os, time
        from tether import OrchestrationContext, activity, orchestrator

        @activity
        def work(n: int) -> int:
            time.sleep(0.05)
            with open(os.environ["TETHER_TEST_LOG"], "a") as fh:
                fh.write(f"{os.getpid()} {n}\\n")
            return n * 2

        @orchestrator
        async def fan(ctx: OrchestrationContext, size: int) -> int:
            return sum(await ctx.when_all([ctx.call_activity(work, i) for i in range(size)]))
    '''))
    log = tmp_path / "executions.log"
    env = {**os.environ, "TETHER_TEST_LOG": str(log), "PYTHONPATH": str(ROOT)}
    tether = [sys.executable, "-m", "tether.cli"]
    subprocess.run([*tether, "start", f"{flow}:fan", "--input", "120", "--id", "f",
                    "--store", pg_url], check=True, env=env, capture_output=True)
    workers = [subprocess.Popen([*tether, "worker", str(flow), "--store", pg_url,
                                 "--concurrency", "3"], env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
               for _ in range(2)]
    try:
        deadline = time.monotonic() + 120
        status = ""
        while '"Completed"' not in status:
            assert time.monotonic() < deadline, f"not completed: {status}"
            time.sleep(0.2)
            status = subprocess.run([*tether, "status", "f", "--store", pg_url], env=env,
                                    capture_output=True, text=True).stdout
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(10)
    assert '"output": 14280' in status
    lines = [line.split() for line in log.read_text().splitlines()]
    by_process: dict[str, int] = {}
    for pid, _ in lines:
        by_process[pid] = by_process.get(pid, 0) + 1
    assert sorted(int(n) for _, n in lines) == list(range(120))  # each ran once, here
    assert len(by_process) == 2 and min(by_process.values()) >= 20, by_process
