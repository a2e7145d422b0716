"""Group commits of many instances on PostgreSQL's work queue (runtime/engine/distributed.py):
the outcomes of quick attempts still running when the first one arrives share its group
commit, instead of one commit each a moment later. Each result is recorded once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import compiler
from runtime.backends.postgres.backend import PostgresBackend
from runtime.clock import Clock, iso
from runtime.engine import Engine, create_instance, distributed
from tests.backends.pg import pg_schema, pg_url

__all__ = ["pg_schema", "pg_url"]

psycopg = pytest.importorskip("psycopg")

SOURCE = '''
from tether import activity, orchestrator

@activity
def groups_inc(x):
    return x + 1

@orchestrator
async def groups_chain(ctx, n):
    total = 0
    for _ in range(n):
        total = await ctx.call_activity(groups_inc, total)
    return total
'''
module = compiler.load_source(SOURCE, "groups_engine.py", "_tether_groups_engine")
CHAIN = module.groups_chain.__tether_machine__
INSTANCES, STEPS, SLOTS = 32, 3, 8


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    """An engine holding INSTANCES chains of STEPS quick steps, at SLOTS slots."""
    from runtime.backends.postgres import open_postgres

    backend = open_postgres(pg_url)
    backend.ensure()
    now = iso(Clock().now())
    for i in range(INSTANCES):
        create_instance(backend, CHAIN, STEPS, f"g{i}", now)
    # quick by any machine's measure (a loaded one can stretch a microsecond's attempt
    # past the default millisecond)
    made = Engine(backend, concurrency=SLOTS, inline_below=0.05)
    try:
        for i in range(INSTANCES):
            assert made.adopt(f"g{i}") is not None
        yield made
    finally:
        made.close()
        backend.close()


def run_all(engine: Engine) -> None:
    assert engine.run(lambda: all(i.ended for i in engine.instances.values()))
    for i in range(INSTANCES):
        assert engine.instances[f"g{i}"].output == STEPS
        results = [r.data["task"] for r in engine.backend.history(f"g{i}") if r.kind == "result"]
        assert len(results) == len(set(results)) == STEPS  # each recorded once


def test_quick_outcomes_share_a_group_commit(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    groups: list[int] = []
    commit_op = PostgresBackend._commit_op

    def counted(self: Any, conn: Any, claims: Any) -> Any:
        groups.append(sum(1 for c in claims for r in c.staged.records if r.kind == "result"))
        return commit_op(self, conn, claims)

    monkeypatch.setattr(PostgresBackend, "_commit_op", counted)
    monkeypatch.setattr(distributed, "GATHER", 0.5, raising=False)  # a loaded machine's threads
    run_all(engine)
    results = [n for n in groups if n]
    assert sum(results) == INSTANCES * STEPS
    # at most SLOTS attempts run at once: 12 groups of 8 results. A group committed as
    # soon as its first outcome arrived held fewer (15 groups, of 1-8, before `_gather`)
    assert len(results) <= INSTANCES * STEPS // SLOTS + 1, results
