"""`run_inline`: run or resume one instance to its end in this process (docs/runtime.md,
"In-process runs"), on any backend."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime import observe
from runtime.backends import Backend, open_backend
from runtime.backends.base import InstanceUnusable, NewInstance
from runtime.boundary_types import typed_activity
from runtime.clock import Clock, VirtualClock, iso
from runtime.context import boundary
from runtime.engine.core import Engine, SimulatedCrash, machine_for
from runtime.entities.senders import INCARNATION, new_incarnation
from runtime.ids import new_instance_id, validate_id, validate_new_id
from runtime.machine import MachineDef


@dataclass
class RunResult:
    status: str  # a runtime status, or "Stuck" when nothing can ever complete (virtual clock)
    output: Any = None
    error: tuple[str, str] | None = None  # (error type name, message)
    instance_id: str = ""
    custom_status: Any = None
    backend: Backend | None = None  # where the instance lives
    owned: bool = False  # `run_inline` opened `backend` itself: closed after each use
    # sub-orchestrations still running when the run ended (started and never awaited):
    # they stay in the store, and a worker finishes them
    unfinished: list[str] = field(default_factory=list)

    @functools.cached_property
    def activity_calls(self) -> list[tuple[str, Any]]:
        """(name, input) of every activity execution, read from the store when first
        asked (retries and re-runs after crashes included; children's calls in place)."""
        if self.backend is None:
            return []
        try:
            return self.backend.activity_calls(self.instance_id)
        finally:
            if self.owned:  # reopened on demand (a PostgreSQL backend reconnects)
                self.backend.close()


def created_data(mdef: MachineDef, input: Any, ts: str) -> dict[str, Any]:
    """The `created` record of a new top-level instance (with its trace context when
    tracing is on: the caller's current span is its parent)."""
    data = {"name": mdef.name, "input": input, "graph_hash": mdef.graph_hash,
            "source": mdef.source, "parent": None, "generation": 0, "start": ts,
            INCARNATION: new_incarnation()}  # who it is as a sender to entities
    trace = observe.new_trace(None)
    if trace is not None:
        data["trace"] = trace
    return data


def create_instance(backend: Backend, mdef: MachineDef, input: Any, instance_id: str,
                    ts: str) -> bool:
    return backend.create(NewInstance(instance_id, ts, created_data(mdef, input, ts)))


def run_inline(
    mdef: MachineDef, input: Any = None, *, store: Path | str | Backend,
    instance_id: str | None = None,
    activities: Mapping[str, Callable[..., Any]] | None = None,
    events: Sequence[tuple[str, Any]] = (), clock: Clock | None = None,
    crash_after_writes: int | None = None, concurrency: int = 16,
) -> RunResult:
    """Run (or resume, when the id exists) an instance to its end in this process.

    `store` is a directory, a URL or a Backend. `activities` overrides registered
    activities by name. `events` are delivered one at a time while the instance waits (as
    `runtime.direct` does); on resume, those already journaled are skipped. The clock
    defaults to a virtual one, so timers never sleep; under it, sub-orchestrations the
    instance started and no longer waits for are run to their ends too (as
    `runtime.direct` runs them). Under a real clock the run returns when the instance
    ends, and `RunResult.unfinished` names the children still running.
    `crash_after_writes=n` raises SimulatedCrash right after the n-th journal write.
    """
    owned = not isinstance(store, Backend)  # opened here: closed here, even after a crash
    backend = open_backend(store)
    backend.ensure()
    clock = clock if clock is not None else VirtualClock()
    instance_id = validate_id(instance_id) if instance_id is not None else new_instance_id()
    if activities is not None:  # overrides rebuild dataclass inputs as registered ones do
        activities = {name: typed_activity(fn) for name, fn in activities.items()}
    engine = Engine(backend, clock=clock, activities=activities, concurrency=concurrency,
                    crash_after_writes=crash_after_writes,
                    machines=lambda name: mdef if name == mdef.name else machine_for(name))
    crashed = False
    try:
        if not backend.exists(instance_id):
            validate_new_id(instance_id)
            create_instance(backend, mdef, boundary(input, f"input of orchestrator {mdef.name}"),
                            instance_id, iso(clock.now()))
        engine.feeds[instance_id] = list(events)
        inst = engine.adopt(instance_id, blocking=True)
        assert inst is not None
        if clock.virtual and inst.now > clock.now():
            clock.advance_to(inst.now)
        if clock.virtual and inst.ended:  # resumed after its end: its children may not be
            engine.adopt_descendants(instance_id)

        def finished() -> bool:
            # ended, done with the work it scheduled and never awaited, and under the
            # virtual clock (where waiting costs nothing) its abandoned children ended too
            root = engine.instances[instance_id]
            if root.broken:
                return True
            if not root.ended or root.outbox:
                return False
            return not clock.virtual or all(
                other.ended and not other.outbox for other in engine.instances.values())

        progressed = engine.run(finished)
        inst = engine.instances[instance_id]
        if inst.broken:
            raise InstanceUnusable(inst.broken)
        unfinished = sorted(i for i, other in engine.instances.items()
                            if i != instance_id and not other.ended)
    except SimulatedCrash:
        crashed = True
        raise
    finally:
        # a terminated instance's activities still running are of no use: do not wait
        try:
            engine.close(wait=not crashed and engine.instances.get(instance_id) is not None
                         and engine.instances[instance_id].status != "Terminated")
        finally:
            if owned:
                backend.close()
    error = (inst.error["type"], inst.error["message"]) if inst.error else None
    status = inst.status if progressed or inst.ended else "Stuck"
    output = inst.output if inst.status != "Terminated" else None
    return RunResult(status, output, error, instance_id, inst.custom_status, backend, owned,
                     unfinished)
