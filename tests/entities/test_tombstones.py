"""An entity removed by `clean_entities` keeps a tombstone: what it applied from its
senders (runtime.entities.tombstones), so the entity created again under its id drops
their repeats. On every backend:

- the tombstone outlives several incarnations, and one removed before its first batch
  (it had only what it started from) keeps it too;
- a client's idempotency key applied before the removal is still recognised after it;
- `Backend.purge` forgets the tombstone: a live sender's re-send is then applied again,
  as to an id never seen (docs/entities.md says why purge does that);
- the backend keeps exactly the memory it was given, replaces it at the next removal,
  drops it when given None, and keeps it when the removal does not happen;
- a clean sends the removed entity's last batch's messages again first (a crash may
  have kept them from going out, and no adoption comes once the entity is gone).
"""

from __future__ import annotations

from typing import Any

from runtime.backends import open_backend
from runtime.client import Client
from runtime.engine import entities as engine_entities
from runtime.entities import tombstones
from runtime.entities.ids import EntityId
from runtime.entities.scheduler import Scheduler
from tests.entities.support import settle

SINK = "@counter@sink"


def forwarded_then_removed(store: str) -> None:
    """@counter@source forwards 5 to the sink, which is then deleted and removed: the
    source's last batch is the forward, re-sent whenever the source is adopted."""
    with Client(store) as client:
        client.signal_entity("@counter@source", "forward", {"to": SINK, "amount": 5})
        settle(store)
        assert client.entity_state(SINK) == {"value": 5}
        client.signal_entity(SINK, "delete")
        settle(store)
        assert client.clean_entities()["removedEmpty"] == 1


def sink_state(store: str) -> Any:
    with Client(store) as client:
        doc = client.entity(SINK)
        return None if doc is None or not doc["exists"] else doc["state"]


def tombstone(store: str) -> Any:
    backend = open_backend(store)
    try:
        return backend.removed_memory(SINK)
    finally:
        backend.close()


def test_the_tombstone_outlives_an_incarnation_that_never_heard_from_the_sender(
        stores: Any) -> None:
    store = stores("twice")
    forwarded_then_removed(store)
    with Client(store) as client:  # a second sink, from a client, gone again
        client.signal_entity(SINK, "add", 1)
        settle(store)
        assert client.entity_state(SINK) == {"value": 1}
        client.signal_entity(SINK, "delete")
        settle(store)
        assert client.clean_entities()["removedEmpty"] == 1
    remembered = tombstones.restored(tombstone(store)).last_seq
    assert [s.split("/")[0] for s in remembered] == ["@counter@source"]
    settle(store)  # the source adopted again: its forward is re-sent to a third sink
    assert sink_state(store) is None


def test_an_entity_removed_before_its_first_batch_keeps_the_tombstone(stores: Any) -> None:
    """Created (as a first message's `ensure` does) and removed before any batch: what
    it remembers is what it would have started from, the tombstone, which stays."""
    store = stores("unborn")
    forwarded_then_removed(store)
    before = tombstone(store)
    assert before is not None
    backend = open_backend(store)
    try:
        engine_entities.ensure(backend, EntityId.parse(SINK), "2026-01-01T00:00:00Z")
    finally:
        backend.close()
    with Client(store) as client:
        assert client.clean_entities()["removedEmpty"] == 1
    assert tombstone(store) == before
    settle(store)
    assert sink_state(store) is None


def test_a_client_key_applied_before_the_removal_is_still_known(stores: Any) -> None:
    store = stores("keys")
    with Client(store) as client:
        client.signal_entity(SINK, "add", 5, key="once")
        client.signal_entity(SINK, "delete")
        settle(store)
        assert client.clean_entities()["removedEmpty"] == 1
        client.signal_entity(SINK, "add", 5, key="once")  # a retry of the first
        client.signal_entity(SINK, "add", 2, key="other")
        settle(store)
        assert client.entity_state(SINK) == {"value": 2}


def test_purge_forgets_the_tombstone(stores: Any) -> None:
    store = stores("purged")
    forwarded_then_removed(store)
    backend = open_backend(store)
    try:
        assert backend.removed_memory(SINK) is not None
        assert backend.purge(SINK) is False  # no instance; its tombstone goes all the same
        assert backend.removed_memory(SINK) is None
    finally:
        backend.close()
    settle(store)  # as to an id never seen: the source's re-sent forward is applied
    assert sink_state(store) == {"value": 5}
    backend = open_backend(store)
    try:  # and the purge of a live entity drops the tombstone it started from
        with Client(store) as client:
            client.signal_entity(SINK, "delete")
            settle(store)
            assert client.clean_entities()["removedEmpty"] == 1
            client.signal_entity(SINK, "add", 1)
        assert backend.removed_memory(SINK) is not None
        assert backend.purge(SINK) is True
        assert backend.removed_memory(SINK) is None
    finally:
        backend.close()


def test_the_backend_keeps_replaces_and_drops_what_it_is_given(stores: Any) -> None:
    store = stores("contract")
    entity_id = EntityId.parse("@counter@t")
    backend = open_backend(store)
    try:
        memory = {"last_seq": {"@counter@x/ab": 3}, "client_keys": ["k"]}
        for given in (memory, {"last_seq": {"o:0/cd": 7}, "client_keys": []}, None):
            engine_entities.ensure(backend, entity_id, "2026-01-01T00:00:00Z")
            claim = backend.claim(entity_id)
            assert claim is not None
            assert backend.remove_idle(claim, given) is True
            assert not backend.exists(entity_id)
            assert backend.removed_memory(entity_id) == given
        engine_entities.ensure(backend, entity_id, "2026-01-01T00:00:00Z")
        claim = backend.claim(entity_id)
        assert claim is not None
        assert backend.remove_idle(claim, memory) is True
        # a removal that does not happen (a message waits) leaves the tombstone as it was
        engine_entities.ensure(backend, entity_id, "2026-01-01T00:00:00Z")
        backend.post(entity_id, {"type": "entity", "message": {"kind": "op", "operation": "get"}})
        claim = backend.claim(entity_id)
        assert claim is not None
        assert backend.remove_idle(claim, None) is False
        assert backend.exists(entity_id)
        assert backend.removed_memory(entity_id) == memory
        assert backend.removed_memory("@counter@never") is None
    finally:
        backend.close()


def test_memory_round_trips_and_tolerates_a_bad_tombstone() -> None:
    sched = Scheduler(last_seq={"a:0/x": 4}, client_keys=("k1", "k2"))
    assert tombstones.memory_of(Scheduler()) is None
    back = tombstones.restored(tombstones.memory_of(sched))
    assert (back.last_seq, back.client_keys) == (sched.last_seq, sched.client_keys)
    assert tombstones.restored(None) == Scheduler()
    odd = tombstones.restored({"last_seq": {"a": "x", "b": True, "c": 2}, "client_keys": [1, "k"]})
    assert (odd.last_seq, odd.client_keys) == ({"c": 2}, ("k",))


def test_a_removal_sends_what_the_last_batch_may_not_have_sent(stores: Any) -> None:
    """An entity whose last batch committed and whose process died before it sent that
    batch's messages sends them again when it is next adopted; a clean that removes it
    first is its last chance. Before, the clean removed it and they were lost (the sink
    never got its 5; an orchestration's call never got its result, and with the
    tombstone its re-sent call would now be dropped as a repeat)."""
    from runtime.entities.scheduler import Message

    store = stores("unsent")
    source = EntityId.parse("@counter@source")
    ts = "2026-01-01T00:00:00Z"
    signal = Message("op", sender=f"{source}/{'ab' * 8}", seq=0, operation="add", input=5)
    last = {"entity": "counter", "exists": False, "state": None,
            "scheduler": Scheduler().to_json(), "next_seq": 1, "deferred": [],
            "outgoing": [{"to": SINK, "body": {"type": "entity", "message": signal.to_json(),
                                                "at": None}}],
            "consumed": [], "ops": 1, "applied": 1, "modified": ts}
    backend = open_backend(store)
    try:  # the batch committed, then the process died before its sends
        engine_entities.ensure(backend, source, ts)
        claim = backend.claim(source)
        assert claim is not None
        claim.stage([("checkpoint", last)], ts)
        backend.release(claim, finished=True)
    finally:
        backend.close()
    with Client(store) as client:
        assert client.clean_entities()["removedEmpty"] == 1
        assert client.entity(str.__str__(source)) is None
        settle(store)
        assert client.entity_state(SINK) == {"value": 5}
