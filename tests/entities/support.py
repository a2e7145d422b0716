"""Driving entity runs in tests: compiling orchestration programs, running instances to
their ends with simulated crashes, and letting every entity apply what it was sent."""

from __future__ import annotations

import itertools
import sys
import types
from collections.abc import Iterable
from typing import Any

from runtime.backends import open_backend
from runtime.backends.base import Backend, Query
from runtime.clock import VirtualClock, parse_iso
from runtime.engine import Engine, SimulatedCrash, run_inline
from runtime.engine import entities as engine_entities
from runtime.machine import MachineDef
from tests.entities import kinds  # noqa: F401  (registers the entities)

_names = itertools.count()
MAX_RESUMES = 500


def load(source: str) -> tuple[types.ModuleType, types.ModuleType]:
    """`source` imported as written (plain) and compiled."""
    import compiler

    plain = types.ModuleType(f"_tether_ent_plain_{next(_names)}")
    sys.modules[plain.__name__] = plain
    exec(compile(source, "prog.py", "exec"), plain.__dict__)
    return plain, compiler.load_source(source, "prog.py", f"_tether_ent_compiled_{next(_names)}")


def machine(module: types.ModuleType, name: str) -> MachineDef:
    mdef = getattr(module, name).__tether_machine__
    assert isinstance(mdef, MachineDef)
    return mdef


def entity_ids(backend: Backend) -> list[str]:
    ids: list[str] = []
    token: str | None = None
    while True:
        page = backend.query(Query(id_prefix="@", top=1000, continuation=token, entities=True))
        ids += [row.instance_id for row in page.items]
        token = page.continuation
        if token is None:
            return ids


def settle(store: Any, *, crash_after: int | None = None) -> int:
    """Let every entity of the store apply what it was sent (scheduled signals too, on a
    virtual clock); with `crash_after`, crash after that many writes and start over.
    Returns the number of crashes."""
    crashes = 0
    for _ in range(MAX_RESUMES):
        backend = open_backend(store)
        engine = Engine(backend, clock=VirtualClock(), crash_after_writes=crash_after)
        try:
            for entity_id in entity_ids(backend):
                engine.adopt(entity_id, blocking=True)
            while True:
                engine.poll_inboxes()
                if engine.entity_work():
                    continue
                if engine_entities.settled(engine):
                    deadline = engine.next_deadline()
                    if deadline is None:
                        break
                    engine.clock.advance_to(parse_iso(deadline))
            assert not engine.errors, engine.errors
            return crashes
        except SimulatedCrash:
            crashes += 1
            crash_after = None
        finally:
            engine.close(wait=False)
            backend.close()
    raise AssertionError("entities never settled")


def run_journaled(mdef: MachineDef, input: Any, store: Any, crash_after: int | None,
                  *, instance_id: str = "orch") -> tuple[Any, int]:
    """Run to the end with a crash after `crash_after` writes (once), then settle the
    entities. Returns ((status, output, error), crashes)."""
    crashes = 0
    crash = crash_after
    for _ in range(MAX_RESUMES):
        try:
            result = run_inline(mdef, input, store=store, instance_id=instance_id,
                                crash_after_writes=crash)
        except SimulatedCrash:
            crashes += 1
            crash = None
            continue
        settle(store)
        return (result.status, result.output, result.error), crashes
    raise AssertionError("no end")


def with_state(found: dict[str, Any]) -> dict[str, Any]:
    """The entities that have a state (a store also holds entities only ever locked)."""
    return {k: v for k, v in found.items() if v is not None}


def states(store: Any) -> dict[str, Any]:
    """Every entity's state, by id, as a client reads it (entities without one left out)."""
    from runtime.client import Client

    with Client(store) as client:
        docs: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page, cursor = client.entities(limit=1000, cursor=cursor)
            docs += page
            if cursor is None:
                break
        return {d["id"]: d["state"] for d in sorted(docs, key=lambda d: d["id"]) if d["exists"]}


def locked(store: Any, ids: Iterable[str]) -> dict[str, Any]:
    from runtime.client import Client

    with Client(store) as client:
        return {i: (client.entity(i) or {}).get("lockedBy") for i in ids}
