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
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from runtime.backends import Backend, open_backend
from runtime.backends.base import DAMAGED, FINAL, InstanceDamaged, NewInstance, Query
from runtime.clock import Clock, iso
from runtime.entity_client import EntityClient, UnknownEntity
from runtime.ids import new_instance_id, validate_id, validate_new_id

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from runtime.http.responses import ManagementUrls
    from runtime.machine import MachineDef

__all__ = ["Client", "InstanceEnded", "NotAnOrchestration", "UnknownEntity", "UnknownInstance",
           "machine_of"]

ENDED = set(FINAL.values())
#: What `Client.start` takes: a compiled machine, the `@orchestrator` function, or its name.
#: (A string at run time: `runtime.machine`, which brings the authoring API, is imported
#: by the calls that start instances, never by `tether status`.)
Orchestration: TypeAlias = "MachineDef | Callable[..., Any] | str"


def machine_of(ref: Orchestration) -> MachineDef:
    """The compiled machine of an orchestrator given as a machine, function or name."""
    from runtime.machine import MachineDef

    if isinstance(ref, MachineDef):
        return ref
    from runtime.api import REGISTRY, orchestrator_name

    name = orchestrator_name(ref)
    entry = REGISTRY.orchestrators.get(name)
    if entry is None:
        raise ValueError(f"no orchestrator named {name!r} is registered; found: "
                         + (", ".join(sorted(REGISTRY.orchestrators)) or "none"))
    if not isinstance(entry.machine, MachineDef):
        raise ValueError(f"orchestrator {name!r} is not compiled: load its module with "
                         "tether.loader.load(PATH) (or `tether compile`) before starting it")
    return entry.machine


def _boundary(value: Any, what: str) -> Any:
    # the JSON check and frame types: imported on first use, so `tether status` stays quick
    from runtime.context import boundary

    return boundary(value, what)


class UnknownInstance(LookupError):
    pass


class NotAnOrchestration(UnknownInstance):
    """The id names an entity (`@name@key`), which the orchestration calls (status,
    events, terminate, purge, ...) do not act on: one line saying what to use instead
    (CLI: exit 2; HTTP: 404). `entity_id` and `action` say which and why."""

    def __init__(self, entity_id: str, action: str, hint: str) -> None:
        super().__init__(f"{entity_id} is an entity, not an orchestration instance: "
                         f"{action}; {hint}")
        self.entity_id = entity_id
        self.action = action


class InstanceEnded(ValueError):
    """The instance has ended: an event sent to it would never be read (HTTP: 410)."""


class Client(EntityClient):
    """Start, inspect and manage the instances of one store (see the module docstring);
    entities with the methods of `runtime.entity_client.EntityClient`."""

    def __init__(self, store: Path | str | Backend | None = None, *,
                 http: ManagementUrls | None = None) -> None:
        """`http` says where tether's HTTP API is mounted, for the URLs of
        `create_check_status_response` and friends (default: at the root, no key)."""
        self.backend = open_backend(store)
        self._http = http  # built on first use: the CLI never imports Starlette for it

    def close(self) -> None:
        """Free the backend's resources (a PostgreSQL store's connections); the client
        reopens them if used again."""
        self.backend.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def http(self) -> ManagementUrls:
        """Where tether's HTTP API is mounted: the base of the management URLs."""
        if self._http is None:
            from runtime.http.responses import ManagementUrls

            self._http = ManagementUrls()
        return self._http

    def start(self, orchestration: Orchestration, input: Any = None, *,
              instance_id: str | None = None) -> str:
        """Create an instance (Pending until a worker runs it); returns its id.
        `orchestration` is the `@orchestrator` function, its name or its compiled machine."""
        from runtime.engine import create_instance  # the engine: not for `tether status`

        mdef = machine_of(orchestration)
        instance_id = validate_new_id(instance_id) if instance_id is not None else new_instance_id()
        data = _boundary(input, f"input of orchestrator {mdef.name}")
        if not create_instance(self.backend, mdef, data, instance_id, iso(Clock().now())):
            raise ValueError(f"instance {instance_id} already exists")
        return instance_id

    def start_many(self, orchestration: Orchestration, inputs: Iterable[Any], *,
                   instance_ids: Iterable[str] | None = None) -> list[str]:
        """Create one instance per input, durable together (two syncs in all, where `start`
        costs two each); returns their ids. With `instance_ids` (one per input), none is
        created if one of them is invalid, repeated or already exists; an id that another
        client creates meanwhile is reported after the others are created."""
        from runtime.engine import created_data

        mdef = machine_of(orchestration)
        values = [_boundary(v, f"input {i} of orchestrator {mdef.name}")
                  for i, v in enumerate(inputs)]
        if instance_ids is None:
            ids = [new_instance_id() for _ in values]
        else:
            ids = [validate_new_id(i) for i in instance_ids]
            if len(ids) != len(values):
                raise ValueError(f"{len(ids)} instance ids for {len(values)} inputs")
            twice = [i for i, n in Counter(ids).items() if n > 1]
            if twice:
                raise ValueError(f"instance id {twice[0]} is given twice")
            taken = self.backend.existing(ids)  # one query on PostgreSQL, not one per id
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
        `historyEvents`, as `history` gives them). An entity's id is refused
        (`NotAnOrchestration`): `entity(id)` reads an entity."""
        self._orchestration(validate_id(instance_id), "it has no orchestration status",
                            f"`tether entity get {instance_id}` (Client.entity) shows it")
        doc = self.backend.status(instance_id)
        if doc is None:
            raise UnknownInstance(f"no instance {instance_id} in {self.backend.spec}")
        out = {k: doc[k] for k in ("name", "instanceId", "runtimeStatus", "input", "output",
                                   "customStatus", "createdTime", "lastUpdatedTime")}
        if doc.get("error"):
            out["output"] = f"{doc['error']['type']}: {doc['error']['message']}"
            out["failureDetails"] = {"errorType": doc["error"]["type"],
                                     "errorMessage": doc["error"]["message"],
                                     "stackTrace": doc["error"].get("details")}
        if history and doc["runtimeStatus"] != DAMAGED:
            out["historyEvents"] = self.history(instance_id, all_variables=all_variables)
        return out

    def history(self, instance_id: str, *, all_variables: bool = False) -> list[dict[str, Any]]:
        """Every record: kind, timestamp, data. Checkpoints show the frame's variables as
        the user wrote them (`runtime.machine.user_view`), or with `all_variables` every
        saved slot, the compiler's temporaries and their `hidden` map included."""
        self._known(instance_id)
        doc = self.backend.status(instance_id)
        if doc is not None and doc["runtimeStatus"] == DAMAGED:
            raise InstanceDamaged(doc.get("damage") or f"instance {instance_id} is damaged")
        events = [{"seq": r.seq, "eventType": r.kind, "timestamp": r.ts, **r.data}
                  for r in self.backend.history(instance_id)]
        if all_variables:
            return events
        from runtime.machine import user_view

        return [user_view(e) for e in events]

    def wait(self, instance_id: str, timeout: float | None = None) -> dict[str, Any]:
        """The status document once the instance has ended; `TimeoutError` after `timeout`
        seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            doc = self.status(instance_id)
            if doc["runtimeStatus"] in ENDED:
                return doc
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"instance {instance_id} still {doc['runtimeStatus']}")
            time.sleep(0.02)

    def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        """Send event `name` to a running instance; `InstanceEnded` once it has ended."""
        from runtime.limits import check_text

        check_text(name, "event name")
        self._orchestration(validate_id(instance_id), f"event {name!r} was not sent",
                            "entities take operations: `tether entity signal`")
        self._known(instance_id)
        doc = self.backend.status(instance_id)
        if doc is not None and doc["runtimeStatus"] in ENDED:
            raise InstanceEnded(f"instance {instance_id} is {doc['runtimeStatus']}; "
                                f"event {name!r} was not sent")
        body = {"type": "event", "name": name, "data": _boundary(data, f"data of event {name}")}
        self._usable(instance_id)
        self.backend.post(instance_id, body)  # delivered by whoever runs the instance

    def terminate(self, instance_id: str, reason: Any = None) -> None:
        """End a running instance as Terminated, with `reason`."""
        self._control(instance_id, "terminate", reason)

    def suspend(self, instance_id: str, reason: Any = None) -> None:
        """Pause a running instance until `resume`."""
        self._control(instance_id, "suspend", reason)

    def resume(self, instance_id: str, reason: Any = None) -> None:
        """Continue a suspended instance."""
        self._control(instance_id, "resume", reason)

    def _control(self, instance_id: str, kind: str, reason: Any) -> None:
        reason = _boundary(reason, f"reason to {kind} {instance_id}")
        self._orchestration(validate_id(instance_id), f"`{kind}` does not apply to it",
                            "entities take operations: `tether entity signal`")
        self._usable(instance_id)
        self.backend.post(instance_id, {"type": kind, "reason": reason})
        self._apply_if_idle(instance_id)

    def _apply_if_idle(self, instance_id: str) -> None:
        """No worker holds the instance: journal its control messages now (no steps run)."""
        from runtime.engine import Engine

        engine = Engine(self.backend, machines=lambda name: None)
        try:
            if engine.adopt_passive(instance_id) is not None:
                engine.poll_inboxes()
        finally:
            engine.close()

    def purge(self, instance_id: str) -> None:
        """Delete an ended instance and its history (not an entity: `NotAnOrchestration`)."""
        self._orchestration(validate_id(instance_id), "it is not purged",
                            "`tether entity clean` (Client.clean_entities) removes an entity "
                            "with no state; signal it `delete` to drop its state")
        doc = self.status(instance_id)
        if doc["runtimeStatus"] not in ENDED | {DAMAGED}:
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
             after: datetime | None = None, top: int | None = None,
             newest_first: bool = False) -> builtins.list[dict[str, Any]]:
        """Status documents of the orchestration instances, filtered by runtime status and
        created time, oldest first (`newest_first`: the other way), at most `top`. The
        filter and the order come from the backend's index (`query`); only the documents
        returned are read. Entities are not listed here: `entities()` lists them."""
        rows = []
        token: str | None = None
        while True:
            page = self.backend.query(Query(
                statuses=frozenset(status) if status else None, created_from=after,
                created_to=before, top=1000, continuation=token))
            rows += page.items
            token = page.continuation
            if token is None:
                break
        if newest_first:
            rows.reverse()
        out = []
        for row in rows if top is None else rows[:top]:
            with contextlib.suppress(UnknownInstance):  # purged meanwhile
                out.append(self.status(row.instance_id))
        return out

    def query(self, query: Query) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """One page of status documents matching `query`, and the next page's token
        (orchestrations only unless `query.entities` says otherwise; an entity's row
        comes back as its `entity()` document)."""
        page = self.backend.query(query)
        docs = []
        for row in page.items:
            if row.instance_id.startswith("@"):
                doc = self.entity(row.instance_id)
                if doc is not None:
                    docs.append(doc)
                continue
            with contextlib.suppress(UnknownInstance):
                docs.append(self.status(row.instance_id))
        return docs, page.continuation

    def restart(self, instance_id: str, *, new_instance_id: bool = True,
                new_id: str | None = None) -> str:
        """Start the instance's orchestration again with the same input; returns the id:
        a new one (`new_id`, or generated), or with `new_instance_id=False` the same id,
        once the instance has ended (its next generation). See `runtime.rewind`."""
        from runtime.rewind import restart

        self._orchestration(validate_id(instance_id), "it cannot be restarted",
                            "entities take operations: `tether entity signal`")
        return restart(self.backend, instance_id, new_instance_id=new_instance_id,
                       new_id=new_id)

    def rewind(self, instance_id: str, reason: Any = None) -> None:
        """Take a Failed instance back to the checkpoint before its failed step; the next
        worker runs it from there with the same variables. See `runtime.rewind`."""
        from runtime.rewind import rewind

        self._orchestration(validate_id(instance_id), "it cannot be rewound",
                            "entities take operations: `tether entity signal`")
        rewind(self.backend, instance_id, _boundary(reason, f"reason to rewind {instance_id}"))

    def metrics(self) -> dict[str, Any]:
        """What `/metrics` serves, as numbers: the store's `instances` by runtime status
        and `queueDepth`, and the counters of the engines in this process (`steps`,
        `activity_attempts`, `activity_failures`, `instances_started`, `instances_ended`)."""
        from runtime.metrics import PROCESS, store_snapshot

        return {**store_snapshot(self), **PROCESS.totals()}

    # -- Durable Functions' HTTP helpers, for a user's own routes ------------------------

    def create_http_management_payload(self, instance_id: str, *,
                                       origin: str = "") -> dict[str, str]:
        """The management URLs of an instance (Durable Functions' field names); paths
        only unless `origin` (`scheme://host[:port]`) is given."""
        return self.http.payload(origin, validate_id(instance_id))

    def create_check_status_response(self, request: Request, instance_id: str) -> Response:
        """`202` with `Location`, `Retry-After` and the management payload, addressed as
        `request` addressed this server: what a user's starter route returns."""
        return self.http.check_status_response(request, validate_id(instance_id))

    def wait_for_completion_or_create_check_status_response(
            self, request: Request, instance_id: str, timeout: float = 10.0,
            retry_interval: float = 1.0) -> Response:
        """The instance's outcome if it ends within `timeout` seconds (`200` with the
        output, or the status document: `200` Terminated, `500` Failed), else
        `create_check_status_response`. Blocks: async routes use `AsyncClient`."""
        from runtime.http.responses import completion_response

        deadline = time.monotonic() + timeout
        while True:
            answer = completion_response(self.status(instance_id))
            if answer is not None:
                return answer
            left = deadline - time.monotonic()
            if left <= 0:
                return self.create_check_status_response(request, instance_id)
            time.sleep(min(retry_interval, left))

    def _usable(self, instance_id: str) -> None:
        """Refuse, before anything is posted, a message no one could ever act on."""
        self._known(instance_id)
        doc = self.backend.status(instance_id)
        if doc is not None and doc["runtimeStatus"] == DAMAGED:
            raise InstanceDamaged(doc.get("damage") or f"instance {instance_id} is damaged")

    @staticmethod
    def _orchestration(instance_id: str, action: str, hint: str) -> None:
        """Refuse an entity's id (`@name@key`, which no orchestration id can be) where an
        orchestration instance is meant, before the store is asked."""
        if instance_id.startswith("@"):
            raise NotAnOrchestration(instance_id, action, hint)

    def _known(self, instance_id: str) -> None:
        if not self.backend.exists(validate_id(instance_id)):
            raise UnknownInstance(f"no instance {instance_id} in {self.backend.spec}")
