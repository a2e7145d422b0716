"""The engine on PostgreSQL's work queue (runtime/engine/distributed.py), step by step:
a new owner leaves an attempt another live worker holds under lease to that worker; an
owner runs its own queued attempts itself (no `finish`, no inbox round trip); it asks the
queue only when woken, not at every step; and it forgets a released instance."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import compiler
from runtime.backends.postgres.work import PostgresWorkQueue
from runtime.clock import Clock, iso
from runtime.engine import Engine, create_instance
from runtime.engine.distributed import ASK_EVERY
from tests.backends.pg import pg_schema, pg_url

__all__ = ["pg_schema", "pg_url"]

psycopg = pytest.importorskip("psycopg")

SOURCE = '''
from tether import activity, orchestrator

@activity
def queue_nap(i):
    return i * 10

@orchestrator
async def queue_fan(ctx, n):
    return sum(await ctx.when_all([ctx.call_activity(queue_nap, i) for i in range(n)]))

@orchestrator
async def queue_chain(ctx, n):
    total = 0
    for _ in range(n):
        total = await ctx.call_activity(queue_nap, total)
    return total
'''
module = compiler.load_source(SOURCE, "queue_engine.py", "_tether_queue_engine")
FAN = module.queue_fan.__tether_machine__
CHAIN = module.queue_chain.__tether_machine__


@pytest.fixture
def open_store(pg_url: str) -> Iterator[Any]:
    """`open_store(lease=None)`: a new backend object (a worker of its own) on the store."""
    from runtime.backends.postgres import open_postgres

    made: list[Any] = []

    def make(lease: float | None = None) -> Any:
        backend = open_postgres(pg_url + (f"&lease={lease}" if lease is not None else ""))
        backend.ensure()
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def sql(url: str, schema: str, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        cur = conn.execute(statement.format(s=f'"{schema}"'))
        return cur.fetchall() if cur.description else []


def test_a_new_owner_waits_for_the_attempt_a_live_worker_holds(
        open_store: Any, pg_url: str, pg_schema: str) -> None:
    first, other, heir = open_store(), open_store(), open_store()
    create_instance(first, FAN, 3, "f", iso(Clock().now()))
    ran: list[tuple[str, int]] = []
    gate = threading.Event()

    def nap(who: str) -> Any:
        def run(i: int) -> int:
            ran.append((who, i))
            gate.wait(30)
            return i * 10
        return run

    # The first owner runs one attempt itself and queues the other two (one slot).
    dead = Engine(first, concurrency=1, activities={"queue_nap": nap("first")})
    assert dead.adopt("f") is not None
    dead.pool._flush()  # type: ignore[attr-defined]
    (held,) = other.work_queue().take(1, 30)  # a live worker holds one under lease
    # The first owner dies: its claim's lease runs out, nothing of it is released.
    sql(pg_url, pg_schema, "UPDATE {s}.instances SET lease_until = now() - interval '1 second'")
    engine = Engine(heir, concurrency=4, activities={"queue_nap": nap("heir")})
    try:
        assert engine.adopt("f") is not None
        gate.set()
        done = threading.Thread(target=lambda: other.work_queue().finish(
            held, {"generation": held.generation, "task": held.task, "attempt": held.attempt,
                   "value": held.input * 10}))
        done.start()
        assert engine.run(lambda: engine.instances["f"].ended)
        done.join(30)
        assert engine.instances["f"].output == 30
    finally:
        engine.close()
        dead.pool.close(wait=False)
    heir_ran = sorted(i for who, i in ran if who == "heir")
    assert held.input not in heir_ran, f"the heir ran {held.input} that a live worker held"
    assert len(heir_ran) == 2  # the first owner's own attempt, and the one still queued
    results = [r.data["task"] for r in heir.history("f") if r.kind == "result"]
    assert sorted(results) == sorted(set(results)) and len(results) == 3


def test_an_owner_runs_its_own_queued_attempts_without_the_round_trips(
        open_store: Any, pg_url: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = open_store()
    create_instance(backend, FAN, 12, "own", iso(Clock().now()))
    finished: list[int] = []
    monkeypatch.setattr(PostgresWorkQueue, "finish",
                        lambda self, item, outcome: finished.append(item.task))
    engine = Engine(backend, concurrency=2)
    try:
        assert engine.adopt("own") is not None
        assert engine.run(lambda: engine.instances["own"].ended)
        assert engine.instances["own"].output == sum(i * 10 for i in range(12))
        assert engine.pool.remote == {}  # type: ignore[attr-defined]
    finally:
        engine.close()
    assert finished == []  # each went from the queue straight to a local slot
    assert sql(pg_url, pg_schema, "SELECT count(*) FROM {s}.work_items") == [(0,)]
    results = [r.data["task"] for r in backend.history("own") if r.kind == "result"]
    assert sorted(results) == list(range(12))


def test_a_chain_asks_the_queue_only_when_woken(
        open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = open_store()
    create_instance(backend, CHAIN, 60, "c", iso(Clock().now()))
    asked: list[int] = []
    take = PostgresWorkQueue.take

    def counted(self: Any, limit: int, lease_seconds: float) -> Any:
        asked.append(limit)
        return take(self, limit, lease_seconds)

    monkeypatch.setattr(PostgresWorkQueue, "take", counted)
    engine = Engine(backend)
    try:
        assert engine.adopt("c") is not None
        # Until the store's listener is live the queue is asked at every step, by design
        # (`queued_mark` is None: nothing may be taken as known). It connects in
        # milliseconds; under the suite's load, later than the whole chain is the likely
        # cause of 51 asks for 60 steps seen once. Wait for it: the rule under test is the live one.
        limit = time.monotonic() + 30
        while backend.work_queue().queued_mark() is None:
            assert time.monotonic() < limit, "the store's listener never went live"
            time.sleep(0.01)
        asked.clear()
        started = time.monotonic()
        assert engine.run(lambda: engine.instances["c"].ended)
    finally:
        engine.close()
    # 60 steps took well under ASK_EVERY per step: the queue was asked a few times, not
    # once per step (the step's second round trip before); plus once per ASK_EVERY of
    # the run, which a loaded machine stretches (21 asks in a run of about 20 s)
    allowed = 20 + (time.monotonic() - started) / ASK_EVERY
    assert len(asked) < allowed, f"asked the queue {len(asked)} times for 60 steps"


def test_a_released_instance_is_forgotten_by_the_pool(open_store: Any) -> None:
    backend = open_store()
    create_instance(backend, FAN, 6, "gone", iso(Clock().now()))
    engine = Engine(backend, concurrency=1)
    try:
        assert engine.adopt("gone") is not None
        assert engine.run(lambda: engine.instances["gone"].ended)
        pool: Any = engine.pool
        pool.delivered.setdefault("gone", set()).add("result-0-1-1")  # as if one came back
        engine.release("gone")
        assert "gone" not in pool.delivered
        assert not any(key[0] == "gone" for key in pool.remote)
        assert pool.inflight == 0
    finally:
        engine.close()


def test_short_queued_attempts_are_taken_ahead_and_outcomes_finished_together(
        open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slot that frees starts an attempt taken ahead: the queue is asked about once per
    two attempts at `concurrency` 2, not once per attempt (a round trip between one
    attempt's end and the next one's start)."""
    backend = open_store()
    create_instance(backend, FAN, 40, "ahead", iso(Clock().now()))
    asked: list[int] = []
    take = PostgresWorkQueue.take

    def counted(self: Any, limit: int, lease_seconds: float) -> Any:
        got = take(self, limit, lease_seconds)
        asked.append(len(got))
        return got

    monkeypatch.setattr(PostgresWorkQueue, "take", counted)
    engine = Engine(backend, concurrency=2)
    try:
        assert engine.adopt("ahead") is not None
        assert engine.run(lambda: engine.instances["ahead"].ended)
        assert engine.instances["ahead"].output == sum(i * 10 for i in range(40))
    finally:
        engine.close()
    assert sum(asked) == 38  # every queued attempt taken once (2 ran in the first slots)
    fetching = [n for n in asked if n]
    assert len(fetching) <= 25, f"{len(fetching)} takes for 38 queued attempts: {asked}"


def test_outcomes_of_instances_whose_claims_were_all_taken_are_dropped_together(
        open_store: Any, pg_url: str, pg_schema: str) -> None:
    """Regression (found by the PostgreSQL kill soak's SIGSTOP round, the worker exited 1
    with `KeyError`): the outcomes of two instances collected in one batch, both claims
    taken over meanwhile. The first one's stage met the fence, `lose_all` dropped every
    lost claim, and the second one was then looked up in `engine.instances` by key."""
    backend = open_store()
    now = iso(Clock().now())
    create_instance(backend, CHAIN, 2, "a", now)
    create_instance(backend, CHAIN, 2, "b", now)
    gate = threading.Event()

    def gated(i: int) -> int:
        gate.wait(30)
        return i * 10

    engine = Engine(backend, concurrency=4)
    engine.overrides["queue_nap"] = gated
    try:
        assert engine.adopt("a") is not None and engine.adopt("b") is not None
        assert engine.run(lambda: engine.pool.inflight == 2)
        # another worker claims both (what a lapsed lease lets it do): the fence moves
        sql(pg_url, pg_schema, "UPDATE {s}.instances SET fence = fence + 1,"
            " owner = 'another-worker' WHERE id IN ('a', 'b')")
        # the heartbeat thread has found the first lost so far (`lose_all` asks about all)
        engine.instances["a"].claim.lost = True  # type: ignore[union-attr]
        gate.set()
        done: Any = engine.pool.done
        deadline = time.monotonic() + 30
        while done.qsize() < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert done.qsize() == 2  # both outcomes wait: the next collect takes them together
        assert engine.run(lambda: not engine.instances)  # both dropped, no KeyError
    finally:
        gate.set()
        engine.close()
    assert sql(pg_url, pg_schema, "SELECT count(*) FROM {s}.journal WHERE kind = 'result'") \
        == [(0,)]  # neither outcome was written through the lost claims
