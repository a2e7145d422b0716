"""Orchestrations talking to entities: sending calls, signals, lock requests and unlocks,
journaling what comes back, and releasing every lock when a generation ends.

Entity tasks (`runtime.context.JournalContext.call_entity` and friends) are sent when the
checkpoint that lists them is staged (`start_pending`), and sent again whenever the
instance is restored with them pending: the sender is `instance:generation/incarnation`
(runtime.entities.senders) and the seq the task id, so the entity applies each one once
however often it arrives, and a new instance under a purged one's id is a new sender. A step is
deterministic, so a step run again after a crash sends the same messages under the same
task ids.

- `entity_call`: completed by the entity's `entity_result` message (value, or error).
- `lock`: sent to the first entity of the sorted set, forwarded from entity to entity;
  completed by the last one's grant (an `entity_result` too).
- `entity_signal`, `unlock`: one-way; completed by a `result` record once posted
  (`journal_sent`), so a restore does not send them again needlessly and the checkpoint
  does not keep them.

When a generation ends in any way (completed, failed, continued as new, terminated), its
signals and unlocks not sent yet are sent, and every lock it still holds or asked for is
released (`end_generation`), before the final record is written: a crash before that
record runs the last step again, which sends the same messages again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.backends.base import BackendError, Message, Record
from runtime.clock import iso
from runtime.context import TaskState
from runtime.engine import entities
from runtime.entities import senders
from runtime.entities.scheduler import Message as EntityMessage

if TYPE_CHECKING:
    from runtime.engine.core import Engine
    from runtime.instance import Instance

KINDS = ("entity_call", "entity_signal", "lock", "unlock")
ONE_WAY = ("entity_signal", "unlock")


def sender(inst: Instance) -> str:
    """The generation's identity as a sender (runtime.entities.senders)."""
    return senders.of_orchestration(inst.id, inst.generation, inst.incarnation)


def reply_address(inst: Instance, task_id: int) -> dict[str, Any]:
    """Where an entity sends a task's result: the instance, the task, and the generation
    and incarnation it must be of (`deliver_results` drops a result for another)."""
    reply_to: dict[str, Any] = {"instance": inst.id, "task": task_id,
                                "generation": inst.generation}
    if inst.incarnation is not None:
        reply_to["incarnation"] = inst.incarnation
    return reply_to


def messages_for(inst: Instance, t: TaskState, *, reply: bool = True,
                 seq: int | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(target, body) of the messages task `t` sends."""
    who, n = sender(inst), t.id if seq is None else seq
    reply_to = reply_address(inst, t.id)
    if t.kind in ("entity_call", "entity_signal"):
        call = t.kind == "entity_call" and reply
        msg = EntityMessage("op", sender=who, seq=n, operation=t.name or "", input=t.input,
                            reply=call, reply_to=reply_to if call else None)
        return [(t.target or "", {"type": "entity", "message": msg.to_json(), "at": t.at})]
    ids = list(t.input or [])
    if t.kind == "lock":
        msg = EntityMessage("lock", sender=who, seq=n, request=f"{who}:{t.id}",
                            entities=tuple(ids), reply_to=reply_to)
        return [(ids[0], {"type": "entity", "message": msg.to_json()})]
    request = f"{who}:{t.name}"  # unlock: its name is the lock task's id
    return [(i, {"type": "entity", "message": EntityMessage(
        "unlock", sender=who, seq=n, request=request).to_json()}) for i in ids]


def send_task(engine: Engine, inst: Instance, t: TaskState) -> None:
    """Send an entity task's messages (from `start_pending`)."""
    t.started = True
    ts = iso(engine.now(inst))
    try:
        for target, body in messages_for(inst, t):
            entities.send(engine, engine.backend, target, body, ts)
    except BackendError as exc:  # the store's trouble: the instance is retried later
        engine.fail(inst, f"instance {inst.id}: cannot send to entity {t.target or t.input}: {exc}")
        return
    if t.kind in ONE_WAY:
        engine.entity_sent.setdefault(inst.id, []).append((inst.generation, t.id))


def journal_sent(engine: Engine) -> bool:
    """Complete the one-way entity tasks sent since the last round (one write per
    instance); True if any record was written."""
    if not engine.entity_sent:
        return False
    sent, engine.entity_sent = engine.entity_sent, {}
    records: dict[str, list[Record]] = {}
    for instance_id, tasks in sent.items():
        inst = engine.instances.get(instance_id)
        if inst is None or inst.ended:
            continue
        items = [("result", {"task": task_id, "value": None}) for gen, task_id in tasks
                 if gen == inst.generation and task_id in inst.table.tasks
                 and not inst.table.tasks[task_id].done]
        if items:
            records[instance_id] = engine.append_many(inst, items)
    if not records:
        return False
    engine.commit(records)
    return True


def deliver_results(engine: Engine, inst: Instance, messages: list[Message]) -> None:
    """Journal entity results (`entity_result` messages) for `inst`, acknowledged with
    their records; a result for a task already complete, or of another generation, is
    only acknowledged, as is one for an earlier instance of the same id (its incarnation
    differs: an entity that re-sends its last batch's results after a restart must not
    answer a new instance created under the purged one's id)."""
    if inst.claim is None:
        return
    items: list[tuple[str, dict[str, Any]]] = []
    taken: set[int] = set()
    for message in messages:
        inst.claim.ack([message.id])
        body = message.body
        task_id = body.get("task")
        t = inst.table.tasks.get(task_id) if isinstance(task_id, int) else None
        if (t is None or t.done or t.kind not in ("entity_call", "lock") or t.id in taken
                or body.get("generation", 0) != inst.generation
                or body.get("incarnation") != inst.incarnation):
            continue  # (an incarnation: for an instance purged since, or of an older id)
        taken.add(t.id)
        data: dict[str, Any] = {"task": t.id}
        if body.get("error") is not None:
            data["error"] = body["error"]
        else:
            data["value"] = body.get("value")
        items.append(("result", data))
    if items:
        engine.commit({inst.id: engine.append_many(inst, items)})
    else:
        engine.backend.commit([inst.claim])


def read_results(engine: Engine) -> bool:
    """Read the inboxes of owned instances an entity of this process just answered."""
    if not engine.inbox_dirty:
        return False
    dirty, engine.inbox_dirty = engine.inbox_dirty, set()
    for instance_id in sorted(dirty):
        inst = engine.instances.get(instance_id)
        if inst is None or inst.ended or inst.claim is None:
            continue
        found = [m for m in engine.backend.inbox(instance_id)
                 if m.body.get("type") == "entity_result"]
        if found:
            deliver_results(engine, inst, found)
    return True


def end_generation(engine: Engine, inst: Instance, kind: str) -> None:
    """The generation ends (`kind`: completed, failed, terminated, continued): send its
    one-way tasks not sent yet (not when terminated) and release every lock it holds or
    waits for."""
    ts = iso(engine.now(inst))
    out: list[tuple[str, dict[str, Any]]] = []
    for t in sorted(inst.table.tasks.values(), key=lambda t: t.id):
        if t.kind not in KINDS or t.kind == "lock" or t.done:
            continue  # locks: withdrawn below
        if kind != "terminated" and not t.started:
            out += messages_for(inst, t, reply=False)
    seq = inst.table.next_id  # above every task id of the generation
    for t in inst.table.tasks.values():
        if t.kind == "lock" and not t.released:
            t.released = True
            unlock = TaskState(seq, "unlock", name=str(t.id), input=list(t.input or []))
            out += messages_for(inst, unlock)
            seq += 1
    for target, body in out:
        try:
            entities.send(engine, engine.backend, target, body, ts)
        except BackendError as exc:
            engine.errors.append(f"instance {inst.id}: cannot send to entity {target}: {exc}")
