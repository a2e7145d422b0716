"""The client's entity API on every backend: signals applied once (keys), reading,
listing with cursors, cleaning, and one clear error for every bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runtime.client import Client
from runtime.entities.errors import UnknownEntity
from tests.entities.support import settle


def test_signals_with_one_key_are_applied_once(stores: Any) -> None:
    store = stores("k")
    with Client(store) as client:
        for _ in range(3):  # a client retrying one request
            client.signal_entity("@counter@k", "add", 5, key="req-1")
        client.signal_entity("@counter@k", "add", 1, key="req-2")
        client.signal_entity("@counter@k", "add", 10)  # no key: applied once too
        client.signal_entity("@counter@k", "add", 10)
        settle(store)
        client.signal_entity("@counter@k", "add", 5, key="req-1")  # after it applied
        settle(store)
        assert client.entity_state("@counter@k") == {"value": 26}


def test_a_crash_after_a_batch_commits_applies_nothing_twice(stores: Any) -> None:
    store = stores("c")
    with Client(store) as client:
        for i in range(5):
            client.signal_entity("@counter@c", "add", i + 1)
    for crash in (1, 2, 3):
        settle(store, crash_after=crash)
    with Client(store) as client:
        assert client.entity_state("@counter@c") == {"value": 15}


def test_entity_reports_state_queue_and_lock(stores: Any) -> None:
    store = stores("e")
    with Client(store) as client:
        assert client.entity("@counter@none") is None
        with pytest.raises(UnknownEntity, match="@counter@none"):
            client.entity_state("@counter@none")
        client.signal_entity("@Counter@e", "add", 2)  # names are case-insensitive
        doc = client.entity("@counter@e")
        assert doc is not None
        assert (doc["id"], doc["name"], doc["key"], doc["exists"]) == ("@counter@e", "counter", "e", False)
        assert doc["queueLength"] == 1 and doc["lockedBy"] is None
        settle(store)
        doc = client.entity("@counter@e")
        assert doc is not None and doc["exists"] and doc["state"] == {"value": 2}
        assert doc["queueLength"] == 0 and doc["lastModifiedTime"].endswith("Z")


def test_scheduled_signals_apply_at_their_time(stores: Any) -> None:
    store = stores("s")
    with Client(store) as client:
        later = datetime.now(UTC) + timedelta(days=30)
        client.signal_entity("@counter@s", "set", 7, at=later)
        client.signal_entity("@counter@s", "add", 1)
        doc = client.entity("@counter@s")
        assert doc is not None and doc["queueLength"] == 2
        settle(store)  # a virtual clock: moves to the scheduled time
        assert client.entity_state("@counter@s") == {"value": 7}


def test_entities_pages_with_a_cursor_and_filters_by_name(stores: Any) -> None:
    store = stores("p")
    with Client(store) as client:
        for i in range(5):
            client.signal_entity(f"@counter@p{i}", "add", i)
        client.signal_entity("@purse@x", "deposit", 1)
        settle(store)
        seen: list[str] = []
        cursor: str | None = None
        while True:
            page, cursor = client.entities(name="counter", limit=2, cursor=cursor)
            assert len(page) <= 2
            seen += [d["id"] for d in page]
            if cursor is None:
                break
        assert sorted(seen) == [f"@counter@p{i}" for i in range(5)]
        everything, last = client.entities()
        assert last is None and len(everything) == 6


def test_clean_removes_empty_entities(stores: Any) -> None:
    store = stores("x")
    with Client(store) as client:
        client.signal_entity("@counter@gone", "delete")
        client.signal_entity("@counter@kept", "add", 1)
        settle(store)
        assert client.clean_entities() == {"removedEmpty": 1, "releasedLocks": 0}
        assert client.entity("@counter@gone") is None
        assert client.entity_state("@counter@kept") == {"value": 1}
        assert client.clean_entities() == {"removedEmpty": 0, "releasedLocks": 0}


BAD = [
    (("@counter", "add", 1), ValueError, "has no key"),
    (("@counter@a b", "add", 1), ValueError, "invalid entity key 'a b'"),
    (("@nosuch@a", "add", 1), UnknownEntity, "no entity named 'nosuch'"),
    (("@counter@a", "ad", 1), ValueError, "has no operation 'ad'"),
    (("@counter@a", "add", {1, 2}), ValueError, "input of operation 'add' of entity @counter@a"),
    (("@counter@a", "", 1), ValueError, "invalid operation name ''"),
]


@pytest.mark.parametrize(("args", "error", "text"), BAD, ids=[b[2] for b in BAD])
def test_bad_input_is_one_clear_error_and_sends_nothing(stores: Any, args: tuple[Any, ...],
                                                        error: type[Exception], text: str) -> None:
    store = stores("b")
    with Client(store) as client:
        with pytest.raises(error) as caught:
            client.signal_entity(*args)
        assert text in str(caught.value) and "\n" not in str(caught.value)
        assert client.entities() == ([], None)


def test_naive_times_and_bad_keys_are_refused(stores: Any) -> None:
    with Client(stores("n")) as client:
        with pytest.raises(ValueError, match="timezone-aware"):
            client.signal_entity("@counter@a", "add", 1, at=datetime(2030, 1, 1))
        with pytest.raises(ValueError, match="invalid idempotency key ''"):
            client.signal_entity("@counter@a", "add", 1, key="")
        with pytest.raises(ValueError, match="limit must be 1-1000"):
            client.entities(limit=0)
        assert client.entities() == ([], None)


def test_async_client_mirrors_the_entity_api(stores: Any) -> None:
    import anyio

    from runtime.async_client import AsyncClient

    store = stores("a")

    async def main() -> None:
        client = AsyncClient(store)
        await client.signal_entity("@counter@a", "add", 3, key="once")
        await client.signal_entity("@counter@a", "add", 3, key="once")
        settle(store)
        assert await client.entity_state("@counter@a") == {"value": 3}
        assert (await client.entity("@counter@a") or {})["exists"] is True
        page, _ = await client.entities(name="counter")
        assert [d["id"] for d in page] == ["@counter@a"]
        assert await client.clean_entities() == {"removedEmpty": 0, "releasedLocks": 0}
        await client.close()

    anyio.run(main)


def test_one_batch_applies_every_queued_signal_with_one_journal_write(stores: Any) -> None:
    store = stores("g")
    with Client(store) as client:
        for _ in range(50):
            client.signal_entity("@counter@g", "add", 1)
        client.signal_entity("@counter@g", "fail", 1)  # fails alone, rolled back
        client.signal_entity("@counter@g", "add", 1)
        before = len(client.history("@counter@g"))
        settle(store)
        after = client.history("@counter@g")
        assert len(after) == before + 1
        assert after[-1]["eventType"] == "checkpoint" and after[-1]["ops"] == 52
        assert client.entity_state("@counter@g") == {"value": 51}


def test_a_worker_serves_entities_and_lets_idle_ones_go(stores: Any) -> None:
    from runtime.worker import Worker

    store = stores("w")
    with Client(store) as client:
        for _ in range(20):
            client.signal_entity("@counter@w", "add", 1)
        client.signal_entity("@counter@v", "add", 5)
        Worker(store, report=lambda line: None).serve(until_idle=True)  # returns once idle
        assert client.entity_state("@counter@w") == {"value": 20}
        assert client.entity_state("@counter@v") == {"value": 5}
        client.signal_entity("@counter@v", "add", 1)  # released as idle: offered again
        Worker(store, report=lambda line: None).serve(until_idle=True)
        assert client.entity_state("@counter@v") == {"value": 6}
