"""Fire and forget: work an orchestration scheduled and never awaited, owed after its
generation ended (docs/runtime.md). The final record lists it (`outbox`); whoever holds
the instance runs each entry until a `sent` record names it, after a crash too."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.context import TaskState

if TYPE_CHECKING:
    from runtime.engine.core import Engine
    from runtime.instance import Instance


def owed(inst: Instance) -> list[dict[str, Any]]:
    """Outbox entries for what the generation scheduled and never awaited: activities
    not complete, and children the final step scheduled (earlier ones exist already)."""
    fresh = {t.id for t in inst.unsaved}
    out = []
    for t in inst.table.tasks.values():
        if t.done or (t.kind != "activity" and not (
                t.kind == "sub_orchestration" and t.id in fresh)):
            continue
        entry = {"key": f"{inst.generation}:{t.id}", "kind": t.kind, "name": t.name,
                 "input": t.input}
        if t.child_id is not None:
            entry["child_id"] = t.child_id
        out.append(entry)
    return out


def send_outbox(engine: Engine, inst: Instance) -> None:
    """Start the owed work (once per process; a `sent` record ends each entry)."""
    from runtime.engine.children import start_child

    records: list[tuple[str, dict[str, Any]]] = []
    for key, entry in list(inst.outbox.items()):
        if key in engine.sending.get(inst.id, ()):
            continue
        gen, task_id = (int(part) for part in key.split(":"))
        t = inst.table.tasks.get(task_id) if gen == inst.generation else None
        if t is not None and t.started and not t.done and t.fire_at is None:
            continue  # running (or held) in this process: its outcome sends it
        engine.sending.setdefault(inst.id, set()).add(key)
        if entry["kind"] == "activity":
            send_activity(engine, inst, key, entry)
            continue
        child = TaskState(task_id, "sub_orchestration", entry["name"], entry["input"],
                          child_id=entry.get("child_id"))
        start_child(engine, inst, child)
        records.append(("sent", {"key": key}))
    if records:
        engine.commit({inst.id: engine.append_many(inst, records)})


def send_activity(engine: Engine, inst: Instance, key: str, entry: dict[str, Any]) -> None:
    from runtime.engine.activities import lookup

    if engine.pool.full():
        engine.pool.held.append(lambda: resume_owed(engine, inst.id, key))
        return
    name = entry["name"]
    engine.pool.start((inst.id, inst.generation, -1, 0), name, lookup(engine, name),
                      entry["input"], outbox=key)


def resume_owed(engine: Engine, instance_id: str, key: str) -> None:
    """A held-back outbox attempt: still owed by the instance as it is now (it may
    have been released, or continued as new and carried the entry)?"""
    inst = engine.instances.get(instance_id)
    if inst is not None and key in inst.outbox:
        send_activity(engine, inst, key, inst.outbox[key])
