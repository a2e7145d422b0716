"""The client's entity API: signalling entities, reading them, listing them, cleaning up.

`Client` (and `AsyncClient`, its awaitable mirror) take these methods from
`EntityClient`; the CLI, the HTTP API and the dashboard are built on exactly these
signatures:

- `signal_entity(entity_id, operation, input=None, *, at=None, key=None) -> None`: one-way,
  durable on return. A retried call with the same `key` is applied once (the entity
  remembers the last `scheduler.CLIENT_KEY_WINDOW` keys); without a key the signal is
  applied once as well (a redelivered inbox message is recognised by its id).
- `signal_entities(signals) -> int`: many signals (`EntitySignal`s, or tuples in its
  order), durable together on return with a constant number of syncs: the fast way for
  a client to send many (bench/entity_bench.py).
- `entity(entity_id) -> dict | None`: `{"id", "name", "key", "exists", "state",
  "queueLength", "lockedBy", "lastModifiedTime"}` as the last committed batch left it
  (None: no such entity in the store).
- `entity_state(entity_id) -> Any`: the last committed state; `UnknownEntity` when the
  entity has none.
- `entities(*, name=None, limit=100, cursor=None) -> (list of entity dicts, next cursor)`.
- `clean_entities() -> {"removedEmpty": n, "releasedLocks": m}`.

Bad input (a malformed id, an unknown entity name or operation, an input that is not
JSON, a naive `at`) is refused with a `ValueError` (or `UnknownEntity`) of one line
naming the value, before anything is posted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from runtime.backends.base import BackendError, Query
from runtime.clock import Clock, iso
from runtime.entities.errors import UnknownEntity

if TYPE_CHECKING:
    from runtime.backends import Backend
    from runtime.entities.ids import EntityId

# The ids, the scheduler and uuid are imported where they are used: `Client` is imported
# by `tether status`, which must not load the frame codec (runtime.values) they bring.

__all__ = ["EntityClient", "EntitySignal", "UnknownEntity"]

MAX_KEY = 200  # characters of an idempotency key


class EntitySignal(NamedTuple):
    """One signal of `signal_entities` (a plain tuple in this order does as well)."""

    entity_id: str
    operation: str
    input: Any = None
    at: datetime | None = None
    key: str | None = None


class EntityClient:
    """The entity methods of `Client` (see the module docstring)."""

    backend: Backend

    def signal_entity(self, entity_id: str, operation: str, input: Any = None, *,
                      at: datetime | None = None, key: str | None = None) -> None:
        """Send `operation` with `input` to the entity, applied once (no earlier than `at`)."""
        from runtime.engine.entities import send

        target, body = self._signal(entity_id, operation, input, at, key)
        send(None, self.backend, target, body, iso(Clock().now()))

    def signal_entities(self, signals: Iterable[EntitySignal | Sequence[Any]]) -> int:
        """`signal_entity` of many signals, each an `EntitySignal` (or a tuple in its order:
        entity id, operation, input, at, key), durable together on return with a constant
        number of syncs where `signal_entity` costs two or more each; returns how many were
        sent. They are applied as if sent one after the other in the order given (FIFO per
        entity). Every signal is checked first: a bad one is refused, naming its position,
        and none is sent. Not atomic: after a store error some may have been sent, so a
        retry should carry idempotency keys."""
        from runtime.engine.entities import send_many

        checked = []
        for n, signal in enumerate(signals):
            if isinstance(signal, (str, bytes)) or not isinstance(signal, Sequence) or not (
                    2 <= len(signal) <= 5):
                raise ValueError(f"signal {n}: expected (entity id, operation[, input, at, "
                                 f"key]), got {signal!r}")
            entity_id, operation, input, at, key = (*signal, None, None, None)[:5]
            try:
                checked.append(self._signal(entity_id, operation, input, at, key))
            except (ValueError, LookupError) as exc:  # one line, with the signal's position
                raise type(exc)(f"signal {n}: {exc}") from None
        send_many(self.backend, checked, iso(Clock().now()))
        return len(checked)

    def _signal(self, entity_id: str, operation: str, input: Any, at: datetime | None,
                key: str | None) -> tuple[EntityId, dict[str, Any]]:
        """The checked target and message body of one client signal (ValueError or
        UnknownEntity, one line naming the value, for bad input)."""
        import uuid

        from runtime.context import boundary
        from runtime.entities.ids import EntityId
        from runtime.entities.scheduler import Message

        target = EntityId.parse(entity_id)
        self._check_operation(target, operation)
        data = boundary(input, f"input of operation {operation!r} of entity {target}")
        if at is not None and (not isinstance(at, datetime) or at.tzinfo is None):
            raise ValueError(f"signal_entity(at=...) needs a timezone-aware datetime, got {at!r}")
        if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY):
            raise ValueError(f"invalid idempotency key {key!r}: use 1-{MAX_KEY} characters")
        if at is not None and key is None:  # scheduled: deduplicated by key when it applies
            key = f"client:{uuid.uuid4().hex}"
        message = Message("op", sender="client", key=key, operation=operation, input=data)
        return target, {"type": "entity", "message": message.to_json(),
                        "at": iso(at) if at is not None else None}

    def entity(self, entity_id: str) -> dict[str, Any] | None:
        """The entity as its last committed batch left it; None if the store has none."""
        from runtime.engine.entities import bodies, last_snapshot
        from runtime.entities.ids import EntityId
        from runtime.entities.scheduler import Scheduler

        target = EntityId.parse(entity_id)
        try:
            records = list(self.backend.history(target))
        except BackendError:
            if not self.backend.exists(target):
                return None
            raise
        if not records:
            return None
        snap = last_snapshot(records) or {}
        sched = Scheduler.from_json(snap.get("scheduler"))
        waiting = len(sched.queue) + len(snap.get("deferred", []))
        with contextlib.suppress(BackendError):
            waiting += sum(len(bodies(m.body)) for m in self.backend.inbox(target))
        holder = sched.locked_by
        return {"id": str.__str__(target), "name": target.name, "key": target.key,
                "exists": bool(snap.get("exists", False)), "state": snap.get("state"),
                "queueLength": waiting,
                "lockedBy": holder.rpartition(":")[0] if holder else None,
                "lastModifiedTime": snap.get("modified", records[0].ts)}

    def entity_state(self, entity_id: str) -> Any:
        """The entity's last committed state; `UnknownEntity` if it has none."""
        from runtime.entities.ids import EntityId

        doc = self.entity(entity_id)
        if doc is None or not doc["exists"]:
            raise UnknownEntity(f"entity {EntityId.parse(entity_id)} has no state in "
                                f"{self.backend.spec}")
        return doc["state"]

    def entities(self, *, name: str | None = None, limit: int = 100,
                 cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of entities (all, or those named `name`) in creation order, and the
        cursor of the next page (None on the last)."""
        from runtime.entities.ids import NAME

        if name is not None and (not isinstance(name, str) or not NAME.fullmatch(name.lower())):
            raise ValueError(f"invalid entity name {name!r}: use 1-64 characters of a-z 0-9 _ . -")
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValueError(f"limit must be 1-1000, not {limit!r}")
        prefix = f"@{name.lower()}@" if name is not None else "@"
        page = self.backend.query(Query(id_prefix=prefix, top=limit, continuation=cursor,
                                        entities=True))
        docs = []
        for row in page.items:
            doc = self.entity(row.instance_id)
            if doc is not None:
                docs.append(doc)
        return docs, page.continuation

    def clean_entities(self) -> dict[str, int]:
        """Release the locks whose holder no longer runs, and remove the entities with no
        state, no lock and nothing queued (Durable Functions' `CleanEntityStorage`)."""
        from runtime.engine.entities import holder_ended, send
        from runtime.entities.scheduler import Message, Scheduler

        removed = released = 0
        cursor: str | None = None
        ts = iso(Clock().now())
        while True:
            docs, cursor = self.entities(limit=1000, cursor=cursor)
            for doc in docs:
                snap = self._snapshot(doc["id"])
                sched = Scheduler.from_json(snap.get("scheduler"))
                if sched.lock is not None and holder_ended(self.backend, sched.lock.sender):
                    unlock = Message("unlock", request=sched.lock.request)
                    send(None, self.backend, doc["id"], {"type": "entity",
                                                         "message": unlock.to_json()}, ts)
                    released += 1
                elif (not doc["exists"] and sched.lock is None and doc["queueLength"] == 0
                      and self._remove_if_idle(doc["id"])):
                    removed += 1
            if cursor is None:
                return {"removedEmpty": removed, "releasedLocks": released}

    # -- helpers ---------------------------------------------------------------------------

    def _snapshot(self, entity_id: str) -> dict[str, Any]:
        from runtime.engine.entities import last_snapshot

        return last_snapshot(self.backend.history(entity_id)) or {}

    def _remove_if_idle(self, entity_id: str) -> bool:
        """Remove an empty entity nobody runs now (a worker holding it keeps it): under
        its claim, its last record must still say no state, no lock, nothing queued or
        deferred, and `Backend.remove_idle` removes it only with an empty inbox, atomic
        with any `post` racing it (which then creates it again: `post_to_entity`). The
        removal keeps what it remembers of its senders as the id's tombstone
        (runtime.entities.tombstones), so the entity created again drops the repeats of
        what this one applied; before it, the messages of its last batch are sent again,
        as its next adoption would have (`send_before_removal`)."""
        from runtime.engine.entities import (
            last_snapshot,
            loaded_records,
            send_before_removal,
            sender_memory,
        )
        from runtime.entities.scheduler import Scheduler

        claim = self.backend.claim(entity_id)
        if claim is None:
            return False
        try:
            snap = last_snapshot(loaded_records(claim.loaded)) or {}
            sched = Scheduler.from_json(snap.get("scheduler"))
            idle = not (snap.get("exists") or sched.lock is not None or sched.queue
                        or snap.get("deferred"))
            # what the last batch sent, sent again: it may not have gone out (a crash)
            idle = idle and send_before_removal(self.backend, list(snap.get("outgoing", [])),
                                                iso(Clock().now()))
            memory = sender_memory(self.backend, entity_id, claim.loaded) if idle else None
        except BaseException:
            self.backend.release(claim)
            raise
        if not idle:
            self.backend.release(claim)  # changed since it was listed: kept
            return False
        return self.backend.remove_idle(claim, memory)

    def _check_operation(self, target: EntityId, operation: str) -> None:
        from runtime.entities.define import ENTITIES

        if not isinstance(operation, str) or not operation:
            raise ValueError(f"invalid operation name {operation!r} for entity {target}")
        defn = ENTITIES.get(target.name)
        if defn is None:
            page = self.backend.query(Query(id_prefix=f"@{target.name}@", top=1, entities=True))
            if not page.items:
                known = ", ".join(sorted(ENTITIES)) or "none"
                raise UnknownEntity(f"no entity named {target.name!r} is registered, and "
                                    f"{self.backend.spec} has none (registered: {known})")
            return
        if defn.form == "class" and operation not in defn.operations:
            raise ValueError(f"entity {target.name!r} has no operation {operation!r}; its "
                             f"operations: {', '.join(defn.operations)}")
