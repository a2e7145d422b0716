"""`Client.signal_entities` on every backend: many signals durable together, applied as
if sent one at a time in the order given (compared with a plain-Python model), once per
idempotency key, and refused as a whole when one of them is bad."""

from __future__ import annotations

import random
from typing import Any

import pytest

from runtime.async_client import AsyncClient
from runtime.client import Client
from runtime.entities.errors import UnknownEntity
from runtime.entity_client import EntitySignal
from tests.entities.support import entity_ids, settle


def model(signals: list[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    """The counters as applying the signals one after the other leaves them."""
    states: dict[str, dict[str, int]] = {}
    for target, op, value in signals:
        state = states.setdefault(target, {"value": 0})
        state["value"] = value if op == "set" else state["value"] + value
    return states


def test_a_batch_applies_as_the_signals_one_by_one(stores: Any) -> None:
    rng = random.Random(12)
    # `set` and `add` interleaved on a few counters: any reordering within one entity
    # (FIFO per sender) changes the end state
    signals = [(f"@counter@m{rng.randrange(7)}", rng.choice(["set", "add", "add"]),
                rng.randrange(1, 50)) for _ in range(120)]
    store = stores("m")
    with Client(store) as client:
        assert client.signal_entities(signals[:50]) == 50
        client.signal_entities([EntitySignal(t, op, v) for t, op, v in signals[50:]])
        # queued: every signal counts, though one entity's signals share a message
        target = signals[0][0]
        assert client.entity(target)["queueLength"] == sum(1 for s in signals if s[0] == target)
        settle(store)
        for target, state in model(signals).items():
            assert client.entity_state(target) == state, target


def test_a_retried_batch_with_keys_is_applied_once(stores: Any) -> None:
    store = stores("k")
    batch = [("@counter@k1", "add", 5, None, "req-1"), ("@counter@k2", "add", 7, None, "req-2"),
             ("@counter@k1", "add", 1, None, "req-3")]
    with Client(store) as client:
        client.signal_entities(batch)
        client.signal_entities(batch)  # a client retrying after a lost answer
        settle(store)
        client.signal_entities(batch)  # and once more after it was applied
        settle(store)
        assert client.entity_state("@counter@k1") == {"value": 6}
        assert client.entity_state("@counter@k2") == {"value": 7}


@pytest.mark.parametrize(("bad", "error", "names"), [
    (("@counter", "add", 1), ValueError, "@counter"),
    (("@counter@x", "nosuch", 1), ValueError, "nosuch"),
    (("@counter@x", "add", {1, 2}), ValueError, "input of operation 'add'"),
    (("@nosuch@x", "add", 1), UnknownEntity, "nosuch"),
    (("@counter@x",), ValueError, "signal 1"),
    ("@counter@x add", ValueError, "signal 1"),
])
def test_one_bad_signal_refuses_the_batch_and_sends_nothing(
        stores: Any, bad: Any, error: type[Exception], names: str) -> None:
    store = stores("b")
    with Client(store) as client:
        with pytest.raises(error) as info:
            client.signal_entities([("@counter@ok", "add", 1), bad])
        message = str(info.value)
        assert "\n" not in message and names in message and "signal 1" in message
        assert entity_ids(client.backend) == []  # not even the good one's entity


def test_the_async_client_sends_a_batch(stores: Any) -> None:
    import anyio

    store = stores("a")

    async def main() -> int:
        client = AsyncClient(store)
        try:
            return await client.signal_entities([("@counter@a", "add", 2)] * 3)
        finally:
            await client.close()

    assert anyio.run(main) == 3
    settle(store)
    with Client(store) as client:
        assert client.entity_state("@counter@a") == {"value": 6}


def test_post_many_keeps_each_inbox_in_the_order_given(stores: Any) -> None:
    from runtime.backends import open_backend
    from runtime.clock import Clock, iso
    from runtime.engine.entities import ensure
    from runtime.entities.ids import EntityId

    backend = open_backend(stores("p"))
    try:
        backend.ensure()
        ts = iso(Clock().now())
        for key in ("a", "b"):
            ensure(backend, EntityId("counter", key), ts)
        items = [(f"@counter@{'ab'[i % 2]}", {"n": i}) for i in range(40)]  # in threads
        ids = backend.post_many(items)
        assert len(set(ids)) == 40
        for key in ("a", "b"):
            got = [m.body["n"] for m in backend.inbox(f"@counter@{key}")]
            assert got == [n for t, body in items if t.endswith(key) for n in [body["n"]]]
    finally:
        backend.close()


def test_post_many_to_a_removed_entity_delivers_nothing_and_says_none(stores: Any) -> None:
    """Regression (found merging signal_entities with the race-free clean): a batch post
    to an entity that `clean_entities` removed meanwhile must deliver nothing to it (the
    file backend raised for the whole batch; PostgreSQL inserted a message no instance
    would ever read) and say so (None), so the sender creates the entity again."""
    from runtime.backends import open_backend
    from runtime.clock import Clock, iso
    from runtime.engine.entities import ensure
    from runtime.entities.ids import EntityId

    backend = open_backend(stores("r"))
    try:
        backend.ensure()
        ensure(backend, EntityId("counter", "here"), iso(Clock().now()))
        names = backend.post_many([("@counter@gone", {"n": 1}), ("@counter@here", {"n": 2}),
                                   ("@counter@gone", {"n": 3})])
        assert names[0] is None and names[2] is None and names[1] is not None
        assert [m.body for m in backend.inbox("@counter@here")] == [{"n": 2}]
        assert backend.inbox("@counter@gone") == []
        assert not backend.exists("@counter@gone")
    finally:
        backend.close()


def test_a_batch_to_an_entity_removed_after_it_was_created_still_applies(
        stores: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other half: `send_many` creates what is missing, a clean removes it before the
    post, and the signal is applied all the same (the entity is created again)."""
    from runtime.engine import entities as engine_entities

    store = stores("s")
    real = engine_entities.NewInstance
    with Client(store) as client:
        created: list[str] = []

        def create_then_lose(*args: Any, **kwargs: Any) -> Any:
            item = real(*args, **kwargs)
            created.append(item.instance_id)
            return item

        monkeypatch.setattr(engine_entities, "NewInstance", create_then_lose)
        real_post_many = client.backend.post_many

        def removed_first(items: Any) -> Any:
            for instance_id in created:  # as a clean would: the new, empty entity goes
                claim = client.backend.claim(instance_id)
                assert claim is not None and client.backend.remove_idle(claim, None)
            created.clear()
            return real_post_many(items)

        monkeypatch.setattr(client.backend, "post_many", removed_first)
        assert client.signal_entities([("@counter@lost", "add", 5),
                                       ("@counter@lost", "add", 2)]) == 2
        monkeypatch.undo()
        settle(store)
        assert client.entity_state("@counter@lost") == {"value": 7}


def server_syncs(backend: Any, send: Any) -> tuple[Any, list[int]]:
    """`send()`'s result and, per connection use, how often the server said it was ready
    for the next query (libpq's trace): the round trips a PostgreSQL call waits for, a
    count the machine's load does not move."""
    import tempfile

    from psycopg import pq

    counts: list[int] = []
    real = backend.sessions.run

    def traced(op: Any, verify: Any = None, *, transaction: bool = True) -> Any:
        def wrapped(conn: Any) -> Any:
            with tempfile.TemporaryFile() as trace:
                conn.pgconn.trace(trace.fileno())
                conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
                try:
                    return op(conn)
                finally:
                    conn.pgconn.untrace()
                    trace.seek(0)
                    counts.append(trace.read().count(b"ReadyForQuery"))
        return real(wrapped, verify, transaction=transaction)

    backend.sessions.run = traced
    try:
        return send(), counts
    finally:
        del backend.sessions.run


@pytest.mark.parametrize("backend_kind", ["postgres"], indirect=True)
def test_post_many_on_postgres_waits_for_the_server_a_constant_number_of_times(
        stores: Any) -> None:
    """One pipeline for the whole batch (before: a round trip per message), keeping
    each entity's None for "entity gone" and the order of one instance's messages."""
    from runtime.backends import open_backend
    from runtime.engine import entities as engine_entities
    from runtime.entities.ids import EntityId

    store = stores("p")
    backend = open_backend(store)
    try:
        ids = [f"@counter@p{n}" for n in range(40)]
        for entity_id in ids:
            engine_entities.ensure(backend, EntityId.parse(entity_id), "2026-01-01T00:00:00Z")
        gone = "@counter@never"  # no row: its message is not posted
        items = [(i, {"type": "entity", "message": {"kind": "op", "sender": "client",
                                                      "operation": "add", "input": 1}})
                 for i in [*reversed(ids), gone, ids[0]]]
        names, small = server_syncs(backend, lambda: backend.post_many(items[:3]))
        names, large = server_syncs(backend, lambda: backend.post_many(items))
        assert small == large and len(large) == 1, (small, large)
        assert [n is None for n in names] == [i == gone for i, _ in items]
        assert [m.id for m in backend.inbox(ids[0])] == [names[-3], names[-1]]  # in order
    finally:
        backend.close()
