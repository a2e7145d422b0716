"""Sub-orchestrations: creating a child, recognising a stale one, holding a child's end
until its parent may hear of it, and telling a parent that is not in this process (a
`sub_done` message sent with the child's final record: `Claim.send`).

A child is an instance of its own (`f"{parent}:{task}"` unless `instance_id=` is
given) whose `created` record names its parent `{id, task, generation}` and `attempt`.
A child's end reaches its parent as an event at the child's end time: it is held
(`ChildEnd`) and journaled by `deliver_children` once no timer of the parent is due,
one per parent at a time, lowest task id first, deepest parents first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runtime import observe
from runtime.api import OrchestrationError, TaskFailedError
from runtime.backends.base import (
    ENDED_STATUSES,
    BackendError,
    NewInstance,
    Query,
    Record,
)
from runtime.clock import iso
from runtime.context import TaskState
from runtime.entities.senders import INCARNATION, new_incarnation
from runtime.ids import validate_id
from runtime.instance import VersionMismatchError

if TYPE_CHECKING:
    from runtime.engine.core import Engine
    from runtime.instance import Instance


@dataclass(frozen=True)
class ChildEnd:
    """A sub-orchestration's outcome, held for its parent until `deliver_children`."""

    generation: int  # the parent's generation that started the child
    attempt: int
    at: str  # when the child ended, as records carry time: the parent hears of it no earlier
    value: Any = None
    error: TaskFailedError | None = None


def _first(engine: Engine, instance_id: str) -> Record | None:
    try:
        return next(iter(engine.backend.history(instance_id)), None)
    except (OSError, BackendError):
        return None


def start_child(engine: Engine, parent: Instance, t: TaskState,
                start: datetime | None = None) -> None:
    """Create and run the child of sub-orchestration `t`, on a clock from `start` (a
    retry's fire time; default: the parent's time)."""
    t.started = True
    if t.fire_at is not None:  # waiting for a retry attempt: fire_due starts it
        engine.timers.push(t.fire_at, parent.id, t.id, parent.generation)
        return
    assert t.child_id is not None and t.name is not None
    child_id = t.child_id
    begin = iso(start if start is not None else parent.now)
    mdef = engine.machines(t.name)
    if mdef is None:
        hold(engine, parent, t, begin, error=TaskFailedError(
            f"no orchestrator named {t.name!r} is registered",
            error_type="OrchestrationError", task_name=t.name))
        return
    try:
        validate_id(child_id)
    except ValueError as exc:
        hold(engine, parent, t, begin, error=TaskFailedError(
            str(exc), error_type="OrchestrationError", task_name=t.name))
        return
    data = {"name": t.name, "input": t.input, "graph_hash": mdef.graph_hash,
            "source": mdef.source,
            "parent": {"id": parent.id, "task": t.id, "generation": parent.generation},
            "attempt": t.attempt, "generation": 0, "start": begin,
            INCARNATION: new_incarnation()}  # who it is as a sender to entities
    trace = observe.new_trace(parent.trace)  # the child's spans nest under the parent's
    if trace is not None:
        data["trace"] = trace
    try:
        created = engine.backend.create(NewInstance(child_id, begin, data))
    except BackendError as exc:  # the store's trouble (a full disk), not the parent's step:
        # the parent is broken (released, tried again by a later worker), never Failed
        engine.fail(parent, f"instance {parent.id}: cannot create sub-orchestration "
                            f"{child_id}: {exc}")
        return
    if not created:
        squatter = not_ours(engine, parent, t, child_id)
        if squatter is not None:
            hold(engine, parent, t, begin, error=TaskFailedError(
                squatter, error_type="OrchestrationError", task_name=t.name))
            return
        if stale_child(engine, child_id, t.attempt, parent.generation):
            earlier = earlier_attempts(engine, child_id, parent.generation)
            purge_stale(engine, child_id)
            engine.backend.create(NewInstance(child_id, begin, data, earlier_calls=earlier))
    if child_id not in engine.instances:
        try:
            engine.adopt(child_id)
        except (BackendError, VersionMismatchError, OrchestrationError) as exc:
            engine.errors.append(str(exc))
    check_child(engine, parent, t.id)


def not_ours(engine: Engine, parent: Instance, t: TaskState, child_id: str) -> str | None:
    """Why the existing instance `child_id` is not the parent's child (None if it is one,
    perhaps of an earlier attempt or generation): a parent adopts only a child whose
    `created` record names it, and in its generation this very task (issue 17: an
    instance created under a child's id must not feed its parent a result)."""
    first = _first(engine, child_id)
    if first is None:
        return (f"sub-orchestration id {child_id} is taken by an instance that cannot be "
                "read; choose another instance_id or purge it")
    origin = first.data.get("parent") or {}
    if origin.get("id") != parent.id or (
            origin.get("generation", 0) == parent.generation and origin.get("task") != t.id):
        return (f"sub-orchestration id {child_id} is taken by an instance that {parent.id} "
                f"did not start for this task; choose another instance_id or purge it")
    return None


def purge_stale(engine: Engine, instance_id: str) -> None:
    """Purge a stale child, and first the sub-orchestrations it started: a new
    incarnation starts them under the same ids, attempts and generations, and would
    take the old ones for its own (regression 014). Children first, so that after a
    crash in between the child is still there, still stale, and purged again."""
    for kid in children_of(engine, instance_id):
        purge_stale(engine, kid)
    if instance_id in engine.instances:
        engine.release(instance_id)  # our own claim would block the purge's
    engine.backend.purge(instance_id)


def adopt_descendants(engine: Engine, instance_id: str) -> None:
    """Adopt every sub-orchestration below `instance_id` that no one else runs."""
    stack = [instance_id]
    while stack:
        for kid in children_of(engine, stack.pop()):
            if kid not in engine.instances:
                try:
                    engine.adopt(kid)
                except (BackendError, VersionMismatchError, OrchestrationError) as exc:
                    engine.errors.append(str(exc))
            stack.append(kid)


def children_of(engine: Engine, instance_id: str) -> list[str]:
    """The sub-orchestrations `instance_id` started that the store still holds: those
    its journal names and those with a default id (`{instance_id}:{task}`, also from
    earlier generations), each only if its `created` record names it as the parent."""
    named: set[str] = set()
    try:
        for rec in engine.backend.history(instance_id):
            if rec.kind == "checkpoint":
                named.update(t["child_id"] for t in rec.data["tasks"] if t.get("child_id"))
    except (OSError, BackendError):
        pass
    token: str | None = None
    while True:
        page = engine.backend.query(Query(id_prefix=f"{instance_id}:", top=1000,
                                          continuation=token))
        named.update(s.instance_id for s in page.items)
        token = page.continuation
        if token is None:
            break
    kids = []
    for kid in sorted(named):
        first = _first(engine, kid)
        if first is not None and (first.data.get("parent") or {}).get("id") == instance_id:
            kids.append(kid)
    return kids


def earlier_attempts(engine: Engine, child_id: str, generation: int) -> list[tuple[str, Any]]:
    """Activity calls of the stale `child_id` when it is an earlier attempt of this
    parent generation's task (purging it must not lose them: every execution counts,
    as for a retried activity); none when it is an earlier parent generation's, whose
    calls the parent's finished generations hold."""
    first = _first(engine, child_id)
    if first is None or (first.data.get("parent") or {}).get("generation", 0) != generation:
        return []
    return engine.backend.activity_calls(child_id)


def stale_child(engine: Engine, child_id: str, attempt: int, generation: int) -> bool:
    """Is the existing `child_id` left from an earlier attempt or parent generation?"""
    if child_id in engine.instances:
        child = engine.instances[child_id]
        origin = (child.attempt, (child.parent or {}).get("generation", 0))
        if origin == (attempt, generation):
            return False
        engine.release(child_id)
        return True
    first = _first(engine, child_id)
    if first is None:
        return False
    parent = first.data.get("parent") or {}
    return (int(first.data.get("attempt", 1)), parent.get("generation", 0)) != (attempt, generation)


def _status_of(inst: Instance) -> dict[str, Any]:
    return {"runtimeStatus": inst.status, "output": inst.output, "error": inst.error,
            "attempt": inst.attempt, "parent": inst.parent, "lastUpdatedTime": inst.last_update}


def check_child(engine: Engine, parent: Instance, task_id: Any) -> None:
    """If the child of sub-orchestration `task_id` has ended, hold its outcome for
    `deliver_children`."""
    t = parent.table.tasks.get(task_id) if isinstance(task_id, int) else None
    if t is None or t.done or t.kind != "sub_orchestration" or t.child_id is None:
        return
    child = engine.instances.get(t.child_id)
    if child is not None and engine.ending and child in engine.ending:
        return  # its end is not durable yet: the group's commit notifies the parent
    status = engine.backend.status(t.child_id) if child is None else _status_of(child)
    if status is None or status["runtimeStatus"] not in ENDED_STATUSES:
        return
    origin = status.get("parent") or {}
    if status.get("attempt", 1) != t.attempt or origin.get("generation", 0) != parent.generation \
            or origin.get("id") != parent.id or origin.get("task") != t.id:
        return  # not this task's child (stale, or not the parent's at all: `not_ours`)
    at = status["lastUpdatedTime"]
    if status["runtimeStatus"] == "Completed":
        hold(engine, parent, t, at, value=status["output"])
        return
    err = status.get("error") or {"type": "Terminated", "message": "terminated"}
    if status["runtimeStatus"] == "Terminated":
        err = {"type": "Terminated", "message": f"sub-orchestration {t.child_id} was terminated"}
    hold(engine, parent, t, at, error=TaskFailedError(err["message"], error_type=err["type"],
                                                      task_name=t.name))


def hold(engine: Engine, parent: Instance, t: TaskState, at: str, *, value: Any = None,
         error: TaskFailedError | None = None) -> None:
    engine.child_ends.setdefault(parent.id, {})[t.id] = ChildEnd(
        parent.generation, t.attempt, at, value, error)


def deliver_children(engine: Engine) -> bool:
    """Journal one held sub-orchestration outcome (lowest task id) for each parent with
    none held below it; False if none was held.

    A child's end reaches its parent as an event after the parent's own due timers, and
    children that ended at the same instant one at a time, lowest task id first (the
    rule in `runtime.direct`'s docstring). fire_due calls this once no timer is due
    (and, on the virtual clock, no activity is in flight), so every child that ends at
    this instant has ended, or holds an outcome below it, before its parent hears of
    any; holding also keeps a child's end from being journaled in the middle of a
    group commit that has records of its parent not yet applied.
    """
    from runtime.engine.activities import outcome_record

    now = iso(engine.clock.now())
    due = {parent_id: [task_id for task_id, end in held.items() if end.at <= now]
           for parent_id, held in engine.child_ends.items()}
    due = {parent_id: task_ids for parent_id, task_ids in due.items() if task_ids}
    if not due:
        return False
    waiting: set[str] = set()  # ancestors of a parent with a due outcome
    for parent_id in due:
        inst = engine.instances.get(parent_id)
        while inst is not None and inst.parent is not None and inst.parent["id"] not in waiting:
            waiting.add(inst.parent["id"])
            inst = engine.instances.get(inst.parent["id"])
    records: dict[str, list[Record]] = {}
    for parent_id in [p for p in due if p not in waiting]:
        held = engine.child_ends[parent_id]
        task_id = min(due[parent_id])
        end = held.pop(task_id)
        if not held:
            del engine.child_ends[parent_id]
        parent = engine.instances.get(parent_id)
        t = parent.table.tasks.get(task_id) if parent is not None else None
        if (parent is None or parent.ended or parent.generation != end.generation
                or t is None or t.done or t.attempt != end.attempt):
            continue
        records[parent_id] = outcome_record(engine, parent, t, end.value, end.error)
    if records:
        engine.commit(records)
    return True


def tell_parent(engine: Engine, inst: Instance) -> bool:
    """Stage the message that tells a parent held by no one here that `inst` ended
    (`Claim.send`: made durable by the commit of the end itself); True if staged."""
    if inst.parent is None or inst.parent["id"] in engine.instances or inst.claim is None:
        return False
    status = engine.backend.status(inst.parent["id"])
    if status is None or status["runtimeStatus"] in ENDED_STATUSES:
        return False
    inst.claim.send(inst.parent["id"], {"type": "sub_done", "task": inst.parent["task"],
                                        "child": inst.id})
    inst.parent_told = True
    return True


def notify_parent(engine: Engine, inst: Instance) -> None:
    """The end of `inst` is durable: a parent this process holds hears of it now; one
    held elsewhere was sent a message with the end (`tell_parent`), or, where a crash
    may keep the end without its message (`Backend.atomic_sends` False: files), is sent
    one now by whoever adopts the ended instance."""
    if inst.parent is None:
        return
    parent = engine.instances.get(inst.parent["id"])
    if parent is not None:
        check_child(engine, parent, inst.parent["task"])
        return
    if inst.parent_told or engine.backend.atomic_sends:
        return  # sent with the end, in its transaction
    if tell_parent(engine, inst):
        assert inst.claim is not None
        engine.backend.commit([inst.claim])
