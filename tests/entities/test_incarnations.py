"""An id used twice (issue 12, "An id used twice"): a sender's identity carries the
incarnation of its instance (`runtime.entities.senders`), so an entity that remembers a
sender's sequence numbers does not take the messages of a new instance created under the
same id (and generation) for repeats of the old one's. On every backend:

- an orchestration instance purged and created again under its id: its calls are applied
  (before, the entity dropped them as repeats, and the call never returned);
- an entity removed by `clean_entities` and created again: the signals it sends are
  applied (before, its sequence numbers restarted at 0 and the receiver dropped them);
- a lock held by a purged instance is released (its holder has ended) even though an
  instance of the same id and generation runs again;
- senders written without an incarnation (journals of an older tether) are read as
  before;
- a signal re-sent to an entity removed and created again since is dropped (the removal
  kept what the entity applied: runtime.entities.tombstones).
"""

from __future__ import annotations

from typing import Any

from runtime.backends import open_backend
from runtime.client import Client
from runtime.engine import entities as engine_entities
from runtime.engine import run_inline
from runtime.entities import senders
from runtime.entities.scheduler import Message, Scheduler
from tests.entities.support import load, machine, settle

PROGRAMS = '''
from tether import orchestrator


@orchestrator
async def caller(ctx, n):
    return await ctx.call_entity("@counter@twice", "add", n)


@orchestrator
async def waiter(ctx, n):
    await ctx.call_entity("@counter@twice", "add", n)
    return await ctx.wait_for_external_event("go")


@orchestrator
async def hold(ctx, n):
    async with ctx.lock_entities("@counter@held"):
        await ctx.call_entity("@counter@held", "add", n)
        await ctx.wait_for_external_event("go")
    return n
'''


def scheduler_of(store: Any, entity_id: str) -> Scheduler:
    backend = open_backend(store)
    try:
        snap = engine_entities.last_snapshot(backend.history(entity_id)) or {}
    finally:
        backend.close()
    return Scheduler.from_json(snap.get("scheduler"))


def test_an_instance_purged_and_created_again_is_a_new_sender(stores: Any) -> None:
    _, compiled = load(PROGRAMS)
    store = stores("purged")
    first = run_inline(machine(compiled, "caller"), 1, store=store, instance_id="again")
    assert (first.status, first.output) == ("Completed", 1)
    with Client(store) as client:
        client.purge("again")
    second = run_inline(machine(compiled, "caller"), 10, store=store, instance_id="again")
    # before the fix the entity took the call for a repeat of the first instance's and
    # dropped it: the call never returned
    assert (second.status, second.output) == ("Completed", 11)
    with Client(store) as client:
        assert client.entity_state("@counter@twice") == {"value": 11}
    remembered = [senders.parse(s) for s in scheduler_of(store, "@counter@twice").last_seq]
    assert [(s.instance_id, s.generation) for s in remembered if s] == [("again", 0)] * 2


def test_an_entity_removed_and_created_again_is_a_new_sender(stores: Any) -> None:
    store = stores("cleaned")
    forward = {"to": "@counter@target", "amount": 1}
    with Client(store) as client:
        client.signal_entity("@counter@source", "forward", forward)
        settle(store)
        client.signal_entity("@counter@source", "delete")
        settle(store)
        assert client.clean_entities()["removedEmpty"] == 1  # the source, with no state
        assert client.entity("@counter@source") is None
        client.signal_entity("@counter@source", "forward", {**forward, "amount": 5})
        settle(store)
        # before the fix the new source's first signal had seq 0 again, and the target
        # dropped it as a repeat of the old source's
        assert client.entity_state("@counter@target") == {"value": 6}


def test_the_lock_of_a_purged_holder_is_released_though_its_id_runs_again(
        stores: Any) -> None:
    _, compiled = load(PROGRAMS)
    store = stores("holder")
    assert run_inline(machine(compiled, "hold"), 1, store=store,
                      instance_id="h").status == "Stuck"  # holds the lock, waits for "go"
    backend = open_backend(store)
    try:
        backend.purge("h")  # as a store restored from a backup might lose it
    finally:
        backend.close()
    assert run_inline(machine(compiled, "waiter"), 2, store=store,
                      instance_id="h").status == "Stuck"  # the same id, generation 0, running
    with Client(store) as client:
        client.signal_entity("@counter@held", "add", 100)
        settle(store)
        # the holder's end is seen as soon as someone waits behind its lock
        assert client.entity_state("@counter@held") == {"value": 101}
        assert (client.entity("@counter@held") or {})["lockedBy"] is None


def test_a_sender_written_without_an_incarnation_is_read_as_before(stores: Any) -> None:
    """Journals of an older tether: `instance:generation`, no incarnation; a repeat of
    such a message is still dropped and a new one applied."""
    store = stores("old")
    old = Message("op", sender="legacy:0", seq=3, operation="add", input=1)
    backend = open_backend(store)
    try:
        engine_entities.ensure(backend, engine_entities.EntityId.parse("@counter@old"),
                               "2026-01-01T00:00:00Z")
        for message in (old, old, Message("op", sender="legacy:0", seq=4, operation="add",
                                          input=10)):
            backend.post("@counter@old", {"type": "entity", "message": message.to_json()})
    finally:
        backend.close()
    settle(store)
    with Client(store) as client:
        assert client.entity_state("@counter@old") == {"value": 11}
    assert scheduler_of(store, "@counter@old").last_seq == {"legacy:0": 4}
    parsed = senders.parse("legacy:0")
    assert parsed is not None
    assert (parsed.instance_id, parsed.generation, parsed.incarnation) == ("legacy", 0, None)


def test_sender_identities_parse_back() -> None:
    made = senders.of_orchestration("a:b:7", 3, "0f1e")
    assert made == "a:b:7:3/0f1e"
    parsed = senders.parse(made)
    assert parsed is not None
    assert (parsed.instance_id, parsed.generation, parsed.incarnation) == ("a:b:7", 3, "0f1e")
    entity = senders.parse(senders.of_entity("@counter@k:1", "77"))
    assert entity is not None
    assert (entity.instance_id, entity.generation, entity.incarnation) == ("@counter@k:1",
                                                                           None, "77")
    assert senders.parse("client") is None
    assert senders.of_orchestration("x", 0, None) == "x:0"


def test_a_signal_re_sent_to_an_entity_removed_since_is_not_applied_again(stores: Any) -> None:
    """Found by test_differential's rounds (PostgreSQL, then here on both backends):
    @counter@source forwards 5 to @counter@sink, which applies it; the sink is deleted
    and removed by a clean; the next process to adopt the source re-sends its last
    batch's signal (for a crash between its commit and its send), and the new sink
    applied it: 5 applied twice in all. Now the removal keeps the sink's memory of its
    senders (its tombstone), and the sink created again by the re-send drops it."""
    store = stores("resent")
    with Client(store) as client:
        client.signal_entity("@counter@source", "forward", {"to": "@counter@sink", "amount": 5})
        settle(store)
        assert client.entity_state("@counter@sink") == {"value": 5}
        client.signal_entity("@counter@sink", "delete")
        settle(store)
        assert client.clean_entities()["removedEmpty"] == 1  # the sink
    settle(store)  # adopts the source again: its last batch's signal is re-sent
    with Client(store) as client:
        # the re-send created the sink again, and it dropped the repeat: no state (it
        # was 5, applied a second time, before the fix), so a clean removes it again
        doc = client.entity("@counter@sink")
        assert doc is not None and (doc["exists"], doc["state"]) == (False, None)
        assert client.clean_entities()["removedEmpty"] == 1
