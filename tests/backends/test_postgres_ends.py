"""An end that owes nothing rides along on PostgreSQL (`Backend.ends_ride_along`): the
final record of an instance with no parent, no outbox and no entity traffic is made
durable by the next group commit or by its release, not by a commit of its own; a crash
before then runs the last step again and doubles nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import compiler
from runtime.clock import Clock, iso
from runtime.engine import Engine, create_instance
from tests.backends.pg import pg_schema, pg_url

__all__ = ["pg_schema", "pg_url"]

psycopg = pytest.importorskip("psycopg")

SOURCE = '''
from tether import activity, orchestrator

@activity
def ends_inc(x):
    return x + 1

@orchestrator
async def ends_chain(ctx, n):
    total = 0
    for _ in range(n):
        total = await ctx.call_activity(ends_inc, total)
    return total

@orchestrator
async def ends_parent(ctx, n):
    return await ctx.call_sub_orchestrator(ends_chain, n)
'''
module = compiler.load_source(SOURCE, "ends_engine.py", "_tether_ends_engine")
CHAIN = module.ends_chain.__tether_machine__
PARENT = module.ends_parent.__tether_machine__


@pytest.fixture
def open_store(pg_url: str) -> Iterator[Any]:
    from runtime.backends.postgres import open_postgres

    made: list[Any] = []

    def make() -> Any:
        backend = open_postgres(pg_url)
        backend.ensure()
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def count_steps(backend: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the group-commit statements `backend` sends, from now on (in a list of one)."""
    counted = [0]
    real = psycopg.Connection.execute

    def execute(conn: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        if query == backend.q.step:
            counted[0] += 1
        return real(conn, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", execute)
    return counted


def test_an_end_that_owes_nothing_costs_no_commit_of_its_own(
        open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    backend, reader = open_store(), open_store()
    create_instance(backend, CHAIN, 3, "c", iso(Clock().now()))
    engine = Engine(backend)
    steps = count_steps(backend, monkeypatch)
    try:
        assert engine.adopt("c") is not None
        assert engine.run(lambda: engine.instances["c"].ended)
        assert steps[0] == 3  # one per result; the end is staged (it was a 4th commit)
    finally:
        engine.close()  # the release commits the end in its own transaction
    assert steps[0] == 4
    status = reader.status("c")
    assert status is not None and status["runtimeStatus"] == "Completed" and status["output"] == 3
    assert [r.kind for r in reader.history("c")][-1] == "completed"


def test_an_end_with_a_parent_is_committed_before_the_parent_hears(
        open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = open_store()
    create_instance(backend, PARENT, 2, "p", iso(Clock().now()))
    engine = Engine(backend)
    try:
        assert engine.adopt("p") is not None
        assert engine.run(lambda: engine.instances["p"].ended)
        child = next(i for i in engine.instances if i != "p")
        assert [r.kind for r in backend.history(child)][-1] == "completed"  # durable already
        assert engine.instances["p"].output == 2
    finally:
        engine.close()


def test_a_crash_before_the_end_is_durable_runs_the_last_step_again_only(
        open_store: Any, pg_url: str, pg_schema: str) -> None:
    first, heir = open_store(), open_store()
    create_instance(first, CHAIN, 3, "c", iso(Clock().now()))
    ran: list[int] = []

    def inc(x: int) -> int:
        ran.append(x)
        return x + 1

    dead = Engine(first, activities={"ends_inc": inc})
    assert dead.adopt("c") is not None
    assert dead.run(lambda: dead.instances["c"].ended)
    # the process dies with the end staged: nothing released, its lease runs out
    with psycopg.connect(pg_url.split("?")[0], autocommit=True) as conn:
        conn.execute(f'UPDATE "{pg_schema}".instances SET lease_until = now() - interval \'1 s\'')
    assert [r.kind for r in heir.history("c")][-1] != "completed"
    engine = Engine(heir, activities={"ends_inc": inc})
    try:
        assert engine.adopt("c") is not None
        assert engine.run(lambda: engine.instances["c"].ended)
        assert engine.instances["c"].output == 3
    finally:
        engine.close()
        dead.pool.close(wait=False)
    assert ran == [0, 1, 2]  # every result was durable: no activity ran again
    kinds = [r.kind for r in heir.history("c")]
    assert kinds.count("result") == 3 and kinds.count("completed") == 1
