"""Messages to owned instances: external events (one at a time, to the earliest waiter,
or buffered), control messages (terminate, suspend, resume) and entity results
(`entity_calls`), read from the backend's inbox, plus `run_inline`'s list of events. A message is acknowledged with the records it
caused, so the backend deletes it only once they are durable; an event redelivered after
a crash is recognised by its id (`event` records carry `msg`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.backends.base import Message

if TYPE_CHECKING:
    from runtime.backends.base import Record
    from runtime.engine.core import Engine
    from runtime.instance import Instance


def deliver_events(engine: Engine) -> bool:
    """Journal one waiting event for each blocked instance; True if any was delivered."""
    records: dict[str, list[Record]] = {}
    for inst in list(engine.instances.values()):
        if not inst.blocked():
            continue
        feed = engine.feeds.get(inst.id)
        if feed and inst.events_in < len(feed):
            name, data = feed[inst.events_in]
            records[inst.id] = engine.append(inst, "event", {"name": name, "data": data})
            continue
        message = _next_inbox_event(inst)
        if message is not None:
            records[inst.id] = engine.append(inst, "event", {
                "name": message.body["name"], "data": message.body.get("data"),
                "msg": message.id})
            if inst.claim is not None:
                inst.claim.ack([message.id])  # deleted once the event is durable
    if not records:
        return False
    engine.commit(records)
    return True


def _next_inbox_event(inst: Instance) -> Message | None:
    for message in inst.pending_events:
        if message.id in inst.consumed:  # journaled before a crash: only delete it
            assert inst.claim is not None
            inst.claim.ack([message.id])
            continue
        return message
    return None


def poll_inboxes(engine: Engine) -> None:
    """Read every owned instance's inbox: control messages act now, events queue up."""
    from runtime.engine.children import check_child
    from runtime.engine.entity_calls import deliver_results

    for entity_id, ent in engine.entities.items():  # applied by the next round's batches
        if ent.broken is None and engine.backend.inbox(entity_id):
            engine.entity_dirty.add(entity_id)
    for inst in list(engine.instances.values()):
        if inst.ended or inst.claim is None:
            inst.pending_events = []
            continue
        inbox = engine.backend.inbox(inst.id)
        if not inbox:
            inst.pending_events = []
            continue
        events: list[Message] = []
        results: list[Message] = []
        acted = False
        for message in inbox:
            kind = message.body.get("type")
            if kind == "event":
                events.append(message)
                continue
            if kind == "entity_result":  # journaled below, acknowledged with its record
                results.append(message)
                continue
            if kind == "result":  # an activity outcome from the work queue (distributed.py)
                engine.pool.deliver(inst, message)
                continue
            inst.claim.ack([message.id])  # deleted with the records it causes
            acted = True
            if kind == "sub_done":
                check_child(engine, inst, message.body.get("task"))
            else:
                control(engine, inst, kind, message.body)
            if inst.ended:
                break
        inst.pending_events = events
        if results and not inst.ended:
            deliver_results(engine, inst, results)
        if acted and inst.claim is not None:
            engine.backend.commit([inst.claim])  # acknowledged with no record of their own


def control(engine: Engine, inst: Instance, kind: Any, body: dict[str, Any]) -> None:
    from runtime.engine.stepping import finish

    if inst.ended:
        return
    if kind == "terminate":
        finish(engine, inst, "terminated", output=body.get("reason"))
    elif kind == "suspend" and not inst.suspended:
        engine.commit({inst.id: engine.append(inst, "suspended", {"reason": body.get("reason")})})
    elif kind == "resume" and inst.suspended:
        engine.commit({inst.id: engine.append(inst, "resumed", {"reason": body.get("reason")})})
