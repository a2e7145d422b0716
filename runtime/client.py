"""`Client(store)`: start, inspect and manage instances of a store.

`store` is a directory, a `postgresql://` URL or a Backend (`runtime.backends`). The
client never appends to a running instance's journal: it posts messages to the
instance's inbox for whoever holds its claim. When nobody does, it claims the instance
itself and journals control messages at once, so `terminate` works without a worker.
"""

from __future__ import annotations

import builtins
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from runtime.backends import Backend, open_backend
from runtime.backends.base import FINAL, NewInstance, Query
from runtime.clock import Clock, iso
from runtime.context import boundary
from runtime.engine import Engine, create_instance, created_data
from runtime.ids import validate_id
from runtime.limits import check_text
from runtime.machine import MachineDef, user_view

ENDED = set(FINAL.values())


class UnknownInstance(LookupError):
    pass


class Client:
    def __init__(self, store: Path | str | Backend | None = None) -> None:
        self.backend = open_backend(store)

    def start(self, mdef: MachineDef, input: Any = None, *, instance_id: str | None = None) -> str:
        """Create an instance (Pending until a worker runs it); returns its id."""
        instance_id = validate_id(instance_id) if instance_id is not None else uuid.uuid4().hex
        data = boundary(input, f"input of orchestrator {mdef.name}")
        if not create_instance(self.backend, mdef, data, instance_id, iso(Clock().now())):
            raise ValueError(f"instance {instance_id} already exists")
        return instance_id

    def start_many(self, mdef: MachineDef, inputs: Iterable[Any], *,
                   instance_ids: Iterable[str] | None = None) -> list[str]:
        """Create one instance per input, durable together (two syncs in all, where `start`
        costs two each); returns their ids. With `instance_ids` (one per input), none is
        created if one of them is invalid, repeated or already exists; an id that another
        client creates meanwhile is reported after the others are created."""
        values = [boundary(v, f"input {i} of orchestrator {mdef.name}") for i, v in enumerate(inputs)]
        if instance_ids is None:
            ids = [uuid.uuid4().hex for _ in values]
        else:
            ids = [validate_id(i) for i in instance_ids]
            if len(ids) != len(values):
                raise ValueError(f"{len(ids)} instance ids for {len(values)} inputs")
            twice = [i for i, n in Counter(ids).items() if n > 1]
            if twice:
                raise ValueError(f"instance id {twice[0]} is given twice")
            taken = [i for i in ids if self.backend.exists(i)]
            if taken:
                raise ValueError(f"instance {taken[0]} already exists")
        ts = iso(Clock().now())
        created = self.backend.create_many(
            [NewInstance(i, ts, created_data(mdef, v, ts)) for i, v in zip(ids, values, strict=True)])
        if len(created) != len(ids):
            made = set(created)
            lost = [i for i in ids if i not in made]
            raise ValueError(f"instance {lost[0]} already exists (created meanwhile by another "
                             f"client); the other {len(created)} were created")
        return ids

    def status(self, instance_id: str, *, history: bool = False,
               all_variables: bool = False) -> dict[str, Any]:
        """The status document, with Durable Functions' field names (`history`: with
        `historyEvents`, as `history` gives them)."""
        doc = self.backend.status(validate_id(instance_id))
        if doc is None:
            raise UnknownInstance(f"no instance {instance_id} in {self.backend.spec}")
        out = {k: doc[k] for k in ("name", "instanceId", "runtimeStatus", "input", "output",
                                   "customStatus", "createdTime", "lastUpdatedTime")}
        if doc.get("error"):
            out["output"] = f"{doc['error']['type']}: {doc['error']['message']}"
        if history:
            out["historyEvents"] = self.history(instance_id, all_variables=all_variables)
        return out

    def history(self, instance_id: str, *, all_variables: bool = False) -> list[dict[str, Any]]:
        """Every record: kind, timestamp, data. Checkpoints show the frame's variables as
        the user wrote them (`runtime.machine.user_view`), or with `all_variables` every
        saved slot, the compiler's temporaries and their `hidden` map included."""
        self._known(instance_id)
        events = [{"seq": r.seq, "eventType": r.kind, "timestamp": r.ts, **r.data}
                  for r in self.backend.history(instance_id)]
        return events if all_variables else [user_view(e) for e in events]

    def wait(self, instance_id: str, timeout: float | None = None) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            doc = self.status(instance_id)
            if doc["runtimeStatus"] in ENDED:
                return doc
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"instance {instance_id} still {doc['runtimeStatus']}")
            time.sleep(0.02)

    def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        check_text(name, "event name")
        self._known(instance_id)
        body = {"type": "event", "name": name, "data": boundary(data, f"data of event {name}")}
        self.backend.post(instance_id, body)
        self._apply_if_idle(instance_id)

    def terminate(self, instance_id: str, reason: Any = None) -> None:
        self._control(instance_id, "terminate", reason)

    def suspend(self, instance_id: str, reason: Any = None) -> None:
        self._control(instance_id, "suspend", reason)

    def resume(self, instance_id: str, reason: Any = None) -> None:
        self._control(instance_id, "resume", reason)

    def _control(self, instance_id: str, kind: str, reason: Any) -> None:
        reason = boundary(reason, f"reason to {kind} {instance_id}")
        self._known(instance_id)
        self.backend.post(instance_id, {"type": kind, "reason": reason})
        self._apply_if_idle(instance_id)

    def _apply_if_idle(self, instance_id: str) -> None:
        """No worker holds the instance: journal its control messages now (no steps run)."""
        engine = Engine(self.backend, machines=lambda name: None)
        try:
            if engine.adopt_passive(instance_id) is not None:
                engine.poll_inboxes()
        finally:
            engine.close()

    def purge(self, instance_id: str) -> None:
        """Delete an ended instance and its history."""
        doc = self.status(instance_id)
        if doc["runtimeStatus"] not in ENDED:
            raise ValueError(f"instance {instance_id} is {doc['runtimeStatus']}; "
                             "terminate it before purging")
        self.backend.purge(instance_id)

    def purge_where(self, *, status: set[str] | None = None,
                    before: datetime | None = None) -> list[str]:
        """Purge ended instances by status and created time (before `before`); returns
        the ids purged. Instances not ended are never purged."""
        gone = []
        for doc in self.list(status=status or ENDED, before=before):
            if doc["runtimeStatus"] in ENDED:
                self.purge(doc["instanceId"])
                gone.append(doc["instanceId"])
        return gone

    def list(self, *, status: set[str] | None = None, before: datetime | None = None,
             after: datetime | None = None) -> list[dict[str, Any]]:
        """Status documents, filtered by runtime status and created time (every page of
        `query`)."""
        out = []
        token: str | None = None
        while True:
            page = self.backend.query(Query(
                statuses=frozenset(status) if status else None, created_from=after,
                created_to=before, top=1000, continuation=token))
            for row in page.items:
                with contextlib.suppress(UnknownInstance):  # purged meanwhile
                    out.append(self.status(row.instance_id))
            token = page.continuation
            if token is None:
                return out

    def query(self, query: Query) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """One page of status documents matching `query`, and the next page's token."""
        page = self.backend.query(query)
        docs = []
        for row in page.items:
            with contextlib.suppress(UnknownInstance):
                docs.append(self.status(row.instance_id))
        return docs, page.continuation

    def _known(self, instance_id: str) -> None:
        if not self.backend.exists(validate_id(instance_id)):
            raise UnknownInstance(f"no instance {instance_id} in {self.backend.spec}")
