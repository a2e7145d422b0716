"""Two outcomes of one activity attempt that arrive in one batch are recorded once.

Where attempts also run on other workers (the PostgreSQL work queue), a new owner runs a
pending attempt again while the result of the earlier run comes back through the inbox:
both can reach `collect` together. The PostgreSQL kill soak found results recorded
twice this way; here the pool is made to hand over every outcome twice, on every backend.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import compiler
from runtime.backends.base import Backend
from runtime.clock import VirtualClock, iso
from runtime.engine import Engine, create_instance

SOURCE = '''
from tether import activity, orchestrator

@activity
def dup_double(x):
    return x * 2

@orchestrator
async def dup_flow(ctx, n):
    a = await ctx.call_activity(dup_double, n)
    b, c = await ctx.when_all([ctx.call_activity(dup_double, a), ctx.call_activity(dup_double, 1)])
    return [a, b, c]
'''


def test_an_outcome_delivered_twice_in_one_batch_is_one_result(backend: Backend) -> None:
    module = compiler.load_source(SOURCE, "dup.py", "_tether_dup_outcomes")
    machine = module.dup_flow.__tether_machine__
    clock = VirtualClock()
    backend.ensure()
    create_instance(backend, machine, 5, "dup-1", iso(clock.now()))
    engine = Engine(backend, clock=clock)
    take = engine.pool.take

    def twice(timeout: float | None, virtual: bool) -> list[Any]:
        batch = take(timeout, virtual)
        return batch + [dataclasses.replace(d) for d in batch]

    engine.pool.take = twice  # type: ignore[method-assign]
    try:
        inst = engine.adopt("dup-1", blocking=True)
        assert inst is not None
        engine.run(lambda: engine.instances["dup-1"].ended)
        assert engine.instances["dup-1"].output == [10, 20, 2]
    finally:
        engine.close()
    results = [r.data["task"] for r in backend.history("dup-1") if r.kind == "result"]
    assert sorted(results) == sorted(set(results)) and len(results) == 3
