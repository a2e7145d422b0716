"""Restart and rewind: running an instance again, from the start or from a checkpoint.

`restart(backend, id)` starts the instance's orchestration again with the same input:
under a new id (the default), or under the same id once the instance has ended, as the
next generation of its journal (one atomic step of the backend, as `continue_as_new`
takes: there is no moment when the id is free, so a crash leaves either the ended
instance or the restarted one). The orchestration is named by the instance's own
`created` record (name, graph hash, source), so the client needs no code: a worker that
serves the orchestration runs it.

`rewind(backend, id)` takes a Failed instance back to the checkpoint before the step
that failed: one record, a copy of that checkpoint (with `rewound` saying from where and
why), appended and committed under the instance's claim. The last checkpoint is what an
instance resumes from, so the next worker continues from there with the same variables;
the work that checkpoint listed and that had not completed (the failed activity, say)
runs again, and what completed after it (the failure) is left behind in the history,
except the outcomes of entity operations (`entity_outcomes`): those were applied once
and are journaled again after the copy, so an entity call is never sent for an answer
twice (a failed operation's error included: it is the operation's outcome, as exactly
once has it). A crash before the commit leaves the instance Failed; after it, rewound.
Nothing is replayed and nothing before the checkpoint runs again.

An instance that failed inside a critical section (`async with ctx.lock_entities(...)`:
the checkpoint holds a lock, or waits for one) is not rewound (`NotRewindable`, naming
the instance and the entities). Its generation released every lock as it failed
(runtime.engine.entity_calls.end_generation), the orphaned-lock release counts a Failed
holder as ended, and other senders may have changed those entities since: resumed
inside the section it would call them without the locks, and the isolation the section
promises would be gone. Taking the locks again on rewind would need the section's
reads to run again too, which a resume from a checkpoint does not do; so it is
restarted instead, as `restart` does, from the top with the same input.
"""

from __future__ import annotations

import uuid
from typing import Any

from runtime.backends.base import Backend, Record
from runtime.clock import Clock, iso
from runtime.entities.senders import INCARNATION, new_incarnation
from runtime.ids import validate_id

ENDED = ("Completed", "Failed", "Terminated")


class NotRewindable(ValueError):
    """The instance is not Failed, or failed before its first checkpoint."""


class StillRunning(ValueError):
    """A restart under the same id of an instance that has not ended."""


def restart(backend: Backend, instance_id: str, *, new_instance_id: bool = True,
            new_id: str | None = None) -> str:
    """Start the instance's orchestration again with its input; returns the id run."""
    from runtime.backends.base import NewInstance

    doc = _status(backend, instance_id)
    first = _first(backend, instance_id)
    ts = iso(Clock().now())
    data: dict[str, Any] = {k: first.data[k] for k in ("name", "input", "graph_hash", "source")
                            if k in first.data}
    # a new incarnation: the restarted run is a new sender to entities (its task ids
    # start at 0 again), whether under a new id or as the next generation of this one
    data.update({"parent": None, "start": ts, "restarted": {"from": instance_id},
                 INCARNATION: new_incarnation()})
    if new_instance_id:
        target = validate_id(new_id) if new_id is not None else uuid.uuid4().hex
        if not backend.create(NewInstance(target, ts, {**data, "generation": 0})):
            raise ValueError(f"instance {target} already exists")
        return target
    if doc["runtimeStatus"] not in ENDED:
        raise StillRunning(f"instance {instance_id} is {doc['runtimeStatus']}; restart it under "
                           "a new id, or terminate it first")
    claim = backend.claim(instance_id, wait=True)
    if claim is None:  # pragma: no cover - wait=True blocks until the claim is free
        raise StillRunning(f"instance {instance_id} is held by a worker; try again")
    try:
        backend.revive(instance_id)
        loaded = claim.loaded
        generation = int(loaded.first.data.get("generation", 0)) + 1
        from runtime.accounting import generation_calls

        # the ended generation's activity executions, kept for its account
        calls = generation_calls(backend, instance_id)
        claim.new_generation({**data, "generation": generation}, ts, calls)
    finally:
        backend.release(claim)  # not finished: a worker runs the new generation
    return instance_id


def rewind(backend: Backend, instance_id: str, reason: Any = None) -> int:
    """Take a Failed instance back to the checkpoint before its failed step; returns the
    sequence number of that checkpoint."""
    doc = _status(backend, instance_id)
    if doc["runtimeStatus"] != "Failed":
        raise NotRewindable(f"instance {instance_id} is {doc['runtimeStatus']}; only a Failed "
                            "instance can be rewound")
    claim = backend.claim(instance_id, wait=True)
    if claim is None:  # pragma: no cover
        raise NotRewindable(f"instance {instance_id} is held by a worker; try again")
    try:
        records = list(backend.history(instance_id))
        failed = next((r for r in reversed(records) if r.kind == "failed"), None)
        if failed is None or records[-1].kind != "failed":
            raise NotRewindable(f"instance {instance_id} is not Failed")
        before = [r for r in records if r.kind == "checkpoint" and r.seq < failed.seq]
        if not before:
            raise NotRewindable(f"instance {instance_id} failed in its first step, before any "
                                "checkpoint: restart it instead")
        checkpoint = before[-1]
        held = held_locks(checkpoint)
        if held:
            raise NotRewindable(
                f"instance {instance_id} failed inside a critical section on "
                f"{', '.join(held)}: its locks were released when it failed and others may "
                "have changed those entities since, so it cannot resume inside the section; "
                f"restart it instead (tether restart {instance_id})")
        kept = entity_outcomes(checkpoint, records, failed.seq)
        backend.revive(instance_id)  # first: see Backend.revive
        data = {**checkpoint.data, "rewound": {"to": checkpoint.seq, "failed": failed.seq,
                                               "error": failed.data.get("error"),
                                               "reason": reason}}
        claim.stage([("checkpoint", data), *(("result", r.data) for r in kept)],
                    iso(Clock().now()))
        backend.commit([claim])
    finally:
        backend.release(claim)  # not finished: the next worker resumes the checkpoint
    return checkpoint.seq


#: entity tasks: applied by the entity exactly once, so never sent again for an answer
ENTITY_TASKS = ("entity_call", "entity_signal", "lock", "unlock")


def entity_outcomes(checkpoint: Record, records: list[Record], failed_seq: int) -> list[Record]:
    """The `result` records, between the checkpoint and the failure, of the entity tasks
    the checkpoint was waiting for: the rewind journals them again after its copy of the
    checkpoint, so the instance resumes with them. Each operation was applied once and
    its entity drops a re-sent message as a repeat, answering nothing; left behind with
    the failure, the rewound instance would wait for that answer for ever."""
    waiting = {t.get("id") for t in checkpoint.data.get("tasks", [])
               if isinstance(t, dict) and t.get("kind") in ENTITY_TASKS and "done" not in t}
    return [r for r in records if checkpoint.seq < r.seq < failed_seq and r.kind == "result"
            and r.data.get("task") in waiting]


def held_locks(checkpoint: Record) -> list[str]:
    """The entities of the critical sections a checkpoint is inside (a lock task not
    released: granted, or still asked for), sorted."""
    held: set[str] = set()
    for task in checkpoint.data.get("tasks", []):
        if isinstance(task, dict) and task.get("kind") == "lock" and not task.get("released"):
            held.update(str(i) for i in task.get("input") or [])
    return sorted(held)


def _status(backend: Backend, instance_id: str) -> dict[str, Any]:
    from runtime.client import UnknownInstance

    doc = backend.status(validate_id(instance_id))
    if doc is None:
        raise UnknownInstance(f"no instance {instance_id}")
    return doc


def _first(backend: Backend, instance_id: str) -> Record:
    for rec in backend.history(instance_id):
        return rec
    raise ValueError(f"instance {instance_id} has no readable history")
