"""`Client.clean_entities()` removing an empty entity while a sender posts to it, on every
backend: the removal and the post are atomic with each other (`Backend.remove_idle`;
files: the inbox folder's flock, shared by posts, taken alone by the removal;
PostgreSQL: the instance row, locked by the UPDATE an entity's post wakes it with (the
message inserted only if it found the row) and FOR UPDATE by the
removal, with the inbox looked at in the removal's transaction), and a post that finds
the entity removed creates it again (`post_to_entity`). So a signal sent at the moment
the entity is removed is applied, never lost.

The race is made to happen: the removal's last step before deleting (the file store's
`purge`, the PostgreSQL statements that delete) starts the sender in another thread and
gives it time to post. Before the fix that post landed in the inbox the removal then
deleted."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from runtime.client import Client
from tests.entities.support import settle

WAIT = 0.6  # seconds the removal lets the sender run before it goes on


class RacingSender:
    """Signals `+1` to the entity from another client, once, when `go` is called."""

    def __init__(self, store: str, entity_id: str) -> None:
        self.store, self.entity_id = store, entity_id
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def go(self) -> None:
        if self.thread is not None:
            return
        self.thread = threading.Thread(target=self._send, daemon=True)
        self.thread.start()
        self.thread.join(WAIT)  # done before the removal goes on, or waiting for it

    def _send(self) -> None:
        try:
            with Client(self.store) as client:
                client.signal_entity(self.entity_id, "add", 1)
        except BaseException as exc:  # reported by the test
            self.error = exc


def hook_the_removal(client: Client, sender: RacingSender, monkeypatch: pytest.MonkeyPatch,
                     kind: str) -> None:
    backend: Any = client.backend
    if kind == "file":
        store = backend.store
        real = store.purge

        def purge(instance_id: str) -> None:
            sender.go()
            real(instance_id)

        monkeypatch.setattr(store, "purge", purge)
        return
    queries = backend.q

    class Hooked:
        def __getattr__(self, name: str) -> Any:
            if name == "delete_instance":  # read right before the DELETEs run
                sender.go()
            return getattr(queries, name)

    monkeypatch.setattr(backend, "q", Hooked())


def test_a_signal_racing_the_removal_of_an_empty_entity_is_applied(
        stores: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store = stores("race")
    entity_id = "@counter@raced"
    with Client(store) as client:
        client.signal_entity(entity_id, "delete")  # an entity with no state: removable
        settle(store)
        assert client.entity(entity_id) is not None
        sender = RacingSender(store, entity_id)
        hook_the_removal(client, sender, monkeypatch, stores.kind)
        client.clean_entities()
        assert sender.thread is not None, "the removal never reached its last step"
        sender.thread.join(10)
        assert not sender.thread.is_alive()
        assert sender.error is None, f"the racing signal failed: {sender.error!r}"
    monkeypatch.undo()
    settle(store)
    with Client(store) as client:
        assert client.entity_state(entity_id) == {"value": 1}, "the racing signal was lost"


def test_an_entity_that_changed_after_it_was_listed_is_kept(stores: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The state is looked at again under the claim: an entity listed as empty that a
    worker gave a state to before the removal claimed it keeps it."""
    store = stores("kept")
    entity_id = "@counter@late"
    with Client(store) as client:
        client.signal_entity(entity_id, "delete")
        settle(store)
        listed = client.entities

        def entities_then_a_batch(**kwargs: Any) -> Any:
            page = listed(**kwargs)
            client.signal_entity(entity_id, "add", 3)
            settle(store)  # applied after the listing, before the removal
            return page

        monkeypatch.setattr(client, "entities", entities_then_a_batch)
        assert client.clean_entities() == {"removedEmpty": 0, "releasedLocks": 0}
        monkeypatch.undo()
        assert client.entity_state(entity_id) == {"value": 3}
