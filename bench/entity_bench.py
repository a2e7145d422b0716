"""Entity throughput on both backends (results in docs/benchmarks.md, "Entities").

    .venv/bin/python bench/entity_bench.py [--runs 3] [--backends file,postgres] [--scale 1]

Each measurement runs `--runs` times on a fresh store and prints the median (and the
range); the file and PostgreSQL runs of one measurement are taken side by side in one
process, so their ratio is fair on a shared, noisy machine.

- signals, one entity: one `Client` sends 10,000 `add` signals to one counter (send),
  then one worker applies them all and goes idle (apply); operations per second of each,
  and end to end.
- calls, one entity: one orchestration awaits `ctx.call_entity(counter, "add", 1)` 10,000
  times in a loop, run by one worker from start to Completed; calls per second.
- 3,000 signals over 1,000 entities (Azure/azure-functions-durable-extension#1093 took
  over an hour): the client sends 3 signals to each of 1,000 counters, a worker applies
  them; seconds from the first send to idle (goal: under 3 s on the file backend).
  Measured twice: one `signal_entity` call per signal (`spread`), and the 3,000 in one
  `Client.signal_entities` call (`spread-batch`: durable together, one inbox message
  per entity), since a client that has many signals to send sends them so.
- the same for one entity: 10,000 signals in one `signal_entities` call (`signals-batch`).
- lock round trip: one orchestration runs `async with ctx.lock_entities(a, b)` around one
  call, 200 times; milliseconds per iteration, and the same loop without the lock, so the
  difference is what locking and unlocking two entities costs.

`--scale 0.1` divides every count by ten, for a quick try.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import compiler
from bench.scratch_store import scratch_store
from runtime.client import Client
from runtime.worker import Worker

SOURCE = """
from tether import EntityId, entity, orchestrator


@entity
class Counter:
    def __init__(self):
        self.value = 0

    def add(self, amount):
        self.value += amount
        return self.value


@orchestrator
async def bench_calls(ctx, n):
    counter = EntityId("counter", "called")
    for _ in range(n):
        await ctx.call_entity(counter, "add", 1)
    return await ctx.call_entity(counter, "add", 0)


@orchestrator
async def bench_locked(ctx, n):
    a = EntityId("counter", "lock-a")
    b = EntityId("counter", "lock-b")
    for _ in range(n):
        async with ctx.lock_entities(a, b):
            await ctx.call_entity(a, "add", 1)
    return n


@orchestrator
async def bench_unlocked(ctx, n):
    a = EntityId("counter", "lock-a")
    for _ in range(n):
        await ctx.call_entity(a, "add", 1)
    return n
"""
module = compiler.load_source(SOURCE, "bench_entities.py", "_bench_entities")


def drain(store: str) -> float:
    """Seconds one worker takes to do everything queued and go idle."""
    started = time.perf_counter()
    Worker(store, concurrency=4).serve(until_idle=True)
    return time.perf_counter() - started


def signals_one_entity(store: str, n: int) -> dict[str, float]:
    from tether import EntityId

    client = Client(store)
    target = EntityId("counter", "signalled")
    started = time.perf_counter()
    for _ in range(n):
        client.signal_entity(target, "add", 1)
    sent = time.perf_counter() - started
    applied = drain(store)
    assert client.entity_state(target) == {"value": n}, client.entity_state(target)
    client.close()
    return {"send/s": n / sent, "apply/s": n / applied, "end to end/s": n / (sent + applied)}


def signals_batch_one_entity(store: str, n: int) -> dict[str, float]:
    from tether import EntityId

    client = Client(store)
    target = EntityId("counter", "signalled")
    started = time.perf_counter()
    client.signal_entities([(target, "add", 1)] * n)
    sent = time.perf_counter() - started
    applied = drain(store)
    assert client.entity_state(target) == {"value": n}, client.entity_state(target)
    client.close()
    return {"send/s": n / sent, "apply/s": n / applied, "end to end/s": n / (sent + applied)}


def calls_one_entity(store: str, n: int) -> dict[str, float]:
    client = Client(store)
    client.start(module.bench_calls.__tether_machine__, n, instance_id="calls")
    took = drain(store)
    doc = client.status("calls")
    assert doc["output"] == n, doc
    client.close()
    return {"calls/s": n / took}


def spread_signals(store: str, entities: int, per_entity: int) -> dict[str, float]:
    from tether import EntityId

    client = Client(store)
    started = time.perf_counter()
    for round_ in range(per_entity):
        for i in range(entities):
            client.signal_entity(EntityId("counter", f"e{i}"), "add", 1,
                                 key=f"r{round_}-e{i}")
    sent = time.perf_counter() - started
    applied = drain(store)
    docs, cursor = client.entities(limit=1000)
    assert cursor is None or len(docs) == 1000
    assert client.entity_state(EntityId("counter", f"e{entities - 1}")) == {"value": per_entity}
    client.close()
    return {"send s": sent, "apply s": applied, "total s": sent + applied}


def spread_signals_batch(store: str, entities: int, per_entity: int) -> dict[str, float]:
    from tether import EntityId

    client = Client(store)
    started = time.perf_counter()
    client.signal_entities([(EntityId("counter", f"e{i}"), "add", 1, None, f"r{round_}-e{i}")
                            for round_ in range(per_entity) for i in range(entities)])
    sent = time.perf_counter() - started
    applied = drain(store)
    for i in (0, entities // 2, entities - 1):
        state = client.entity_state(EntityId("counter", f"e{i}"))
        assert state == {"value": per_entity}, state
    client.close()
    return {"send s": sent, "apply s": applied, "total s": sent + applied}


def lock_round_trip(store: str, n: int) -> dict[str, float]:
    client = Client(store)
    client.start(module.bench_locked.__tether_machine__, n, instance_id="locked")
    locked = drain(store)
    client.start(module.bench_unlocked.__tether_machine__, n, instance_id="unlocked")
    unlocked = drain(store)
    assert client.status("locked")["output"] == n
    state = client.entity_state("@counter@lock-a")
    assert state == {"value": 2 * n}, state
    doc = client.entity("@counter@lock-a")
    assert doc is not None and doc["lockedBy"] is None
    client.close()
    return {"locked ms/iter": 1000 * locked / n, "unlocked ms/iter": 1000 * unlocked / n,
            "lock+unlock ms": 1000 * (locked - unlocked) / n}


def measure(name: str, kinds: list[str], runs: int,
            work: Callable[[str], dict[str, float]]) -> None:
    by_kind: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    for _ in range(runs):
        for kind in kinds:  # side by side: one run of each kind in turn
            with scratch_store(kind, "entities") as store:
                by_kind[kind].append(work(store))
    for kind in kinds:
        results = by_kind[kind]
        cells = []
        for metric in results[0]:
            values = [r[metric] for r in results]
            cells.append(f"{metric} {_fmt(statistics.median(values))} "
                         f"({_fmt(min(values))}-{_fmt(max(values))})")
        print(f"{name:<28} {kind:<9} " + ", ".join(cells), flush=True)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="file,postgres")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--only", default="signals,signals-batch,calls,spread,spread-batch,lock")
    args = parser.parse_args(argv)
    kinds = args.backends.split(",")
    only = set(args.only.split(","))

    def scaled(n: int) -> int:
        return max(1, int(n * args.scale))

    plan: list[tuple[str, str, Callable[[str], dict[str, float]]]] = [
        ("signals", f"{scaled(10_000)} signals, 1 entity",
         lambda s: signals_one_entity(s, scaled(10_000))),
        ("signals-batch", f"{scaled(10_000)} signals, 1 ent., batch",
         lambda s: signals_batch_one_entity(s, scaled(10_000))),
        ("calls", f"{scaled(10_000)} calls, 1 entity",
         lambda s: calls_one_entity(s, scaled(10_000))),
        ("spread", f"{scaled(3_000)} signals, {scaled(1_000)} ent.",
         lambda s: spread_signals(s, scaled(1_000), 3)),
        ("spread-batch", f"{scaled(3_000)} sig., {scaled(1_000)} ent., batch",
         lambda s: spread_signals_batch(s, scaled(1_000), 3)),
        ("lock", f"lock 2 entities x{scaled(200)}",
         lambda s: lock_round_trip(s, scaled(200))),
    ]
    for key, name, work in plan:
        if key in only:
            measure(name, kinds, args.runs, work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
