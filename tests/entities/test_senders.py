"""An entity's per-sender sequence map stays bounded (issue 12, "Sequence map growth"):
on every backend, the seqs of orchestration generations that can never send again
(completed, terminated, continued as new, purged) are forgotten; those of generations
that may still send (running, or failed, since a rewind takes a failed one back) are
kept; and a repeat of a forgotten sender's message that was already in the inbox when
its end was seen is still recognised."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.backends import open_backend
from runtime.client import Client
from runtime.engine import entities as engine_entities
from runtime.engine import run_inline
from runtime.entities import senders
from runtime.entities.scheduler import Message, Scheduler, forget
from tests.entities.support import load, machine, settle

PROGRAMS = '''
from tether import orchestrator


@orchestrator
async def caller(ctx, n):
    await ctx.call_entity("@counter@s", "add", n)
    return n


@orchestrator
async def failing(ctx, n):
    await ctx.call_entity("@counter@s", "add", n)
    raise ValueError("no")


@orchestrator
async def waiting(ctx, n):
    await ctx.call_entity("@counter@s", "add", n)
    return await ctx.wait_for_external_event("go")


@orchestrator
async def again(ctx, n):
    await ctx.call_entity("@counter@s", "add", n)
    if n > 1:
        ctx.continue_as_new(n - 1)
    return n
'''


def last_seq(store: Any) -> dict[str, int]:
    backend = open_backend(store)
    try:
        snap = engine_entities.last_snapshot(backend.history("@counter@s")) or {}
    finally:
        backend.close()
    return dict(Scheduler.from_json(snap.get("scheduler")).last_seq)


def by_generation(last: dict[str, int]) -> dict[str, int]:
    """`last_seq` keyed by `instance:generation`, the incarnation left out (each of these
    tests creates every id once)."""
    return {who.partition(senders.SEPARATOR)[0]: seq for who, seq in last.items()}


def test_senders_that_can_never_send_again_are_forgotten(
        stores: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_entities, "SEQ_KEEP", 0)  # look at every sender, every batch
    monkeypatch.setattr(engine_entities, "SEQ_CHECKS", 100)
    _, compiled = load(PROGRAMS)
    store = stores("s")
    for i in range(3):
        assert run_inline(machine(compiled, "caller"), 1, store=store,
                          instance_id=f"done{i}").status == "Completed"
    assert run_inline(machine(compiled, "failing"), 10, store=store,
                      instance_id="failed").status == "Failed"
    assert run_inline(machine(compiled, "waiting"), 100, store=store,
                      instance_id="running").status == "Stuck"  # waits for "go"
    assert run_inline(machine(compiled, "again"), 2, store=store,  # adds 2, then 1
                      instance_id="twice").status == "Completed"
    with Client(store) as client:
        client.signal_entity("@counter@s", "add", 1000)  # a batch after they ended
    settle(store)
    assert sorted(by_generation(last_seq(store))) == ["failed:0", "running:0"]
    with Client(store) as client:
        assert client.entity_state("@counter@s") == {"value": 3 + 10 + 100 + 3 + 1000}


def test_a_repeat_already_queued_when_the_end_is_seen_is_still_dropped(
        stores: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _, compiled = load(PROGRAMS)
    store = stores("r")
    assert run_inline(machine(compiled, "caller"), 5, store=store,
                      instance_id="c").status == "Completed"
    [(who, seq)] = last_seq(store).items()
    assert who.startswith("c:0/")  # the generation's identity, with its incarnation
    # the message again, as a crash before the caller journaled the send would repeat it
    repeat = Message("op", sender=who, seq=seq, operation="add", input=5)
    backend = open_backend(store)
    try:
        backend.post("@counter@s", {"type": "entity", "message": repeat.to_json(), "at": None})
    finally:
        backend.close()
    monkeypatch.setattr(engine_entities, "SEQ_KEEP", 0)
    monkeypatch.setattr(engine_entities, "SEQ_CHECKS", 100)
    with Client(store) as client:
        client.signal_entity("@counter@s", "add", 1)  # the batch with the repeat
        settle(store)
        assert client.entity_state("@counter@s") == {"value": 6}
    assert "c:0" not in by_generation(last_seq(store))


def test_below_the_threshold_nothing_is_looked_up(stores: Any) -> None:
    _, compiled = load(PROGRAMS)
    store = stores("t")
    run_inline(machine(compiled, "caller"), 1, store=store, instance_id="c")
    with Client(store) as client:
        client.signal_entity("@counter@s", "add", 1)
    settle(store)
    assert "c:0" in by_generation(last_seq(store))  # one sender: far below SEQ_KEEP


def test_forget_keeps_the_lock_holder_and_those_queued_behind_it() -> None:
    lock = Message("lock", sender="h:0", seq=1, request="h:0:1", entities=("@e@a",))
    queued = Message("op", sender="q:0", seq=3, operation="add")
    sched = Scheduler(last_seq={"h:0": 1, "q:0": 3, "x:0": 2, "y:1": 4}, lock=lock,
                      queue=(queued,))
    after = forget(sched, ["h:0", "q:0", "x:0", "gone:0"])
    assert after.last_seq == {"h:0": 1, "q:0": 3, "y:1": 4}
    assert forget(sched, ["gone:0"]) is sched


def test_generation_ended_asks_the_store_once(stores: Any) -> None:
    """PostgreSQL answers `generation_ended` with one statement (its override), where
    the default reads the status and then the whole generation's history; every
    backend gives the same answers (base.ended_for_good)."""
    _, compiled = load(PROGRAMS)
    store = stores("g")
    assert run_inline(machine(compiled, "caller"), 1, store=store,
                      instance_id="done").status == "Completed"
    assert run_inline(machine(compiled, "waiting"), 1, store=store,
                      instance_id="live").status == "Stuck"
    backend = open_backend(store)
    try:
        incarnations = {i: senders.incarnation_of(next(iter(backend.history(i))).data)
                        for i in ("done", "live")}
        assert all(incarnations.values())
        asked: list[str] = []
        if stores.kind == "postgres":
            backend.history = lambda i: asked.append(i) or iter(())  # type: ignore[method-assign]
        ended = backend.generation_ended
        assert ended("done", 0, incarnation=incarnations["done"])
        assert not ended("live", 0, incarnation=incarnations["live"])
        assert ended("live", 0, incarnation="another")  # a new instance under the id
        assert ended("live", 0)  # a sender without one: an older instance of the id
        assert not ended("live", 1, incarnation=incarnations["live"])
        assert ended("gone", 0, incarnation="x")
        assert asked == []  # PostgreSQL: the history was never read
    finally:
        backend.close()
