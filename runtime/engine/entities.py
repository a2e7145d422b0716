"""Entities in the engine: owning an entity, applying its queued operations in batches,
and sending what a batch produced.

An entity lives in the store as an instance whose id is its `@name@key` (created by the
first message sent to it: `ensure`). Its `created` record names the entity
(`{"name": "@counter", "entity": "counter"}`); every later record is a `checkpoint`
holding the whole entity after one batch:

    {"entity", "exists", "state", "scheduler", "next_seq", "deferred", "outgoing",
     "consumed", "ops", "applied", "modified"}

so a resume reads one record, whatever the history's length; every `COMPACT_AT` records
the journal starts a new generation whose `created` record holds the same (`snapshot`),
so reading an entity's history stays cheap too. Messages reach an entity's
inbox as `{"type": "entity", "message": <scheduler.Message>, "at": <iso or null>}`, or
several of those, in order, as `{"type": "entity", "batch": [...]}` (a client's
`signal_entities`: `send_many`).

One batch (`run_batch`): read the inbox, hold back messages scheduled for later
(`deferred`, deduplicated by their key, since they apply out of order), run
`scheduler.step` (exactly once, FIFO, locks), apply the runnable operations with
`apply_batch` (each failure rolled back alone), and stage ONE record with the new state,
the scheduler and every message the batch sends (results to callers, lock grants and
forwards, signals, orchestrations to start), acknowledging the inbox messages it
consumed. All entities with work in a round are committed together (group commit);
only then are their messages sent (`send_outgoing`). A crash before the commit loses
the batch and its messages stay in the inbox; a crash after it re-sends the last
record's messages when the entity is adopted again, and every receiver deduplicates
(entities by sender and seq, orchestrations by task, starts by instance id). A message
the last batch consumed but the crash left in the inbox is recognised by its id
(`consumed`) and only acknowledged: so a client signal without a key is applied once too.

An entity created anew (no batch in its journal yet) starts from its id's tombstone,
read under its claim (`Backend.removed_memory`): what an entity `Client.clean_entities`
removed under that id had applied, so a re-sent message it applied is dropped here too
(runtime.entities.tombstones).

A batch of nothing but repeats writes no record (it only acknowledges them); if one of
them is the lock holder asking again, the grant or forward is sent again. Before a batch
reads its inbox it may look up senders that ended for good, and forgets their seqs after
the batch (`ended_senders`: the rule, and why it is safe).

A lock held by an orchestration generation that has ended (or was purged) is released
when the entity sees it (at adoption, and whenever others wait behind the lock), and by
`Client.clean_entities`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runtime.api import OrchestrationError
from runtime.backends.base import (
    ENDED_STATUSES,
    Backend,
    BackendError,
    Claim,
    FenceLost,
    InstanceGone,
    Loaded,
    NewInstance,
    Record,
)
from runtime.clock import iso, parse_iso
from runtime.entities import senders, tombstones
from runtime.entities.define import ENTITIES, EntityDef
from runtime.entities.ids import EntityId, is_entity_id
from runtime.entities.operations import EntityState, Operation, apply_batch
from runtime.entities.scheduler import Message, Outgoing, Scheduler, forget, regrant, step
from runtime.ids import new_instance_id

if TYPE_CHECKING:
    from runtime.engine.core import Engine

#: records after which an entity's journal is compacted into a new generation
COMPACT_AT = 256
#: senders an entity remembers before it looks for ended ones to forget (`ended_senders`)
SEQ_KEEP = 64
#: senders looked at per batch once there are more than SEQ_KEEP
SEQ_CHECKS = 8

__all__ = ["Entity", "adopt", "created_data", "ensure", "holder_ended", "loaded_records",
           "next_deadline", "run_entities", "send", "send_before_removal", "send_many", "sender_memory",
           "settled"]


@dataclass
class Entity:
    """An entity this process owns (its claim), as its last record says."""

    id: EntityId
    claim: Claim
    defn: EntityDef
    state: EntityState = field(default_factory=EntityState)
    sched: Scheduler = field(default_factory=Scheduler)
    next_seq: int = 0  # this entity's next seq as a sender (signals it sends)
    deferred: list[dict[str, Any]] = field(default_factory=list)  # {"at", "key", "message"}
    outgoing: list[dict[str, Any]] = field(default_factory=list)  # the last record's messages
    consumed: list[str] = field(default_factory=list)  # inbox messages the last record took
    applied: int = 0  # operations applied, all batches
    modified: str = ""
    incarnation: str | None = None  # the `created` record's (runtime.entities.senders)
    broken: str | None = None
    ended = False  # what the worker asks of what it adopts
    outbox: dict[str, Any] = field(default_factory=dict)

    def record(self, ops: int, now: str) -> dict[str, Any]:
        return {"entity": self.defn.name, "exists": self.state.exists, "state": self.state.value,
                "scheduler": self.sched.to_json(), "next_seq": self.next_seq,
                "deferred": self.deferred, "outgoing": self.outgoing,
                "consumed": self.consumed, "ops": ops,
                "applied": self.applied, "modified": now}


def created_data(entity_id: EntityId, ts: str, incarnation: str | None) -> dict[str, Any]:
    """The `created` record of an entity's instance: a new entity gets a new incarnation
    (`senders.new_incarnation()`); a compaction keeps the one it has (None in an entity
    created before incarnations, which stays as it was)."""
    data: dict[str, Any] = {"name": f"@{entity_id.name}", "entity": entity_id.name,
                            "input": None, "parent": None, "generation": 0, "start": ts}
    if incarnation is not None:
        data[senders.INCARNATION] = incarnation
    return data


def ensure(backend: Backend, entity_id: EntityId, ts: str) -> None:
    """Create the entity's instance if it does not exist (before a message is posted)."""
    if not backend.exists(entity_id):
        backend.create(NewInstance(str.__str__(entity_id), ts,
                                   created_data(entity_id, ts, senders.new_incarnation())))


def send(engine: Engine | None, backend: Backend, target: str, body: dict[str, Any],
         ts: str) -> None:
    """Post one message to an entity or an orchestration instance, durably.

    The one place entity traffic is posted (a backend with `Claim.send` can stage it with
    the sender's records instead). An entity is created first if need be; an
    orchestration that no longer exists is skipped (its caller ended and was purged).
    Within an engine, a target it owns is looked at in the next round."""
    if is_entity_id(target):
        entity_id = EntityId.parse(target)
        post_to_entity(backend, entity_id, body, ts)
        backend.revive(target)  # released as idle (`release_idle`): offered again
        if engine is not None:
            engine.entity_dirty.add(target)
            if target not in engine.entities:
                try_adopt(engine, entity_id)
        return
    if not backend.exists(target):
        return
    backend.post(target, body)
    if engine is not None and target in engine.instances:
        engine.inbox_dirty.add(target)


#: times `post_to_entity` creates the entity again after a removal took it away
POST_ATTEMPTS = 5


def post_to_entity(backend: Backend, entity_id: EntityId, body: dict[str, Any],
                   ts: str) -> None:
    """Create the entity if need be and post to it. `Client.clean_entities` may remove an
    idle entity between the two (`Backend.remove_idle`, atomic with `post`): then the
    post raises `InstanceGone`, delivered nothing, and the entity is created again."""
    for attempt in range(POST_ATTEMPTS):
        ensure(backend, entity_id, ts)
        try:
            backend.post(str.__str__(entity_id), body)
            return
        except InstanceGone:
            if attempt == POST_ATTEMPTS - 1:
                raise


def send_many(backend: Backend, items: list[tuple[EntityId, dict[str, Any]]], ts: str) -> None:
    """`send` of many messages to entities from outside an engine (a client's
    `signal_entities`), durable together: the entities that do not exist yet are created
    in one `create_many`; the messages for one entity go in one inbox message, in the
    order given (`bodies` unpacks it), all posted by one `post_many`; the entities are
    revived in one write. One inbox message per entity keeps the files to write, and to
    delete once applied, at one per entity however many signals it gets. An entity that
    `clean_entities` removed in between gets its message through `post_to_entity`."""
    if not items:
        return
    by_target: dict[str, list[dict[str, Any]]] = {}
    ids: dict[str, EntityId] = {}
    for target, body in items:
        by_target.setdefault(str.__str__(target), []).append(body)
        ids[str.__str__(target)] = target
    new = [i for i, t in ids.items() if not backend.exists(t)]
    if new:
        backend.create_many([NewInstance(i, ts, created_data(ids[i], ts, senders.new_incarnation()))
                             for i in new])
    posts = [(i, batch[0] if len(batch) == 1 else {"type": "entity", "batch": batch})
             for i, batch in by_target.items()]
    names = backend.post_many(posts)
    backend.revive_many(list(by_target))
    for (i, body), name in zip(posts, names, strict=True):
        if name is None:  # removed by `clean_entities` since it was created: again
            post_to_entity(backend, ids[i], body, ts)
            backend.revive(i)


def try_adopt(engine: Engine, entity_id: EntityId) -> None:
    """Run the entity here if no one else does (so `run_inline` serves the entities its
    orchestration uses); a failure is reported once."""
    if entity_id in engine.entity_refused:
        return
    try:
        if adopt(engine, entity_id) is None:
            engine.entity_refused.add(entity_id)  # held elsewhere: its owner serves it
    except (BackendError, OrchestrationError) as exc:
        engine.entity_refused.add(entity_id)
        engine.errors.append(str(exc))


def adopt(engine: Engine, instance_id: str, *, blocking: bool = False) -> Entity | None:
    """Claim and load an entity; None if another process holds it. Its last record's
    messages are sent again (receivers deduplicate)."""
    if instance_id in engine.entities:
        return engine.entities[instance_id]
    entity_id = EntityId.parse(instance_id)
    claim = engine.backend.claim(instance_id, wait=blocking)
    if claim is None:
        return None
    try:
        ent = _restore(engine.backend, entity_id, claim)
    except BaseException:
        engine.backend.release(claim)
        raise
    engine.entities[instance_id] = ent
    engine.entity_refused.discard(instance_id)
    engine.entity_dirty.add(instance_id)
    send_outgoing(engine, ent)
    return ent


def _restore(backend: Backend, entity_id: EntityId, claim: Claim) -> Entity:
    loaded = claim.loaded
    name = str(loaded.first.data.get("entity", entity_id.name))
    defn = ENTITIES.get(name)
    if defn is None:
        known = ", ".join(sorted(ENTITIES)) or "none"
        raise OrchestrationError(f"entity {entity_id}: no entity named {name!r} is registered "
                                 f"in this process (registered: {known})")
    ent = Entity(entity_id, claim, defn, modified=loaded.first.ts,
                 incarnation=senders.incarnation_of(loaded.first.data))
    d = last_snapshot(loaded_records(loaded))
    if d is None:  # no batch yet: it remembers what the entity removed before it applied
        ent.sched = tombstones.restored(backend.removed_memory(entity_id))
    else:
        ent.state = EntityState(bool(d.get("exists")), d.get("state"))
        ent.sched = Scheduler.from_json(d.get("scheduler"))
        ent.next_seq = int(d.get("next_seq", 0))
        ent.deferred = list(d.get("deferred", []))
        ent.outgoing = list(d.get("outgoing", []))
        ent.consumed = list(d.get("consumed", []))
        ent.applied = int(d.get("applied", 0))
        ent.modified = str(d.get("modified", ent.modified))
    return ent


def loaded_records(loaded: Loaded) -> list[Record]:
    """The records a claim loaded, in order (`created`, the last checkpoint, the rest)."""
    return [loaded.first, *([loaded.checkpoint] if loaded.checkpoint else []), *loaded.tail]


def sender_memory(backend: Backend, entity_id: str, loaded: Loaded) -> Any:
    """What the claimed entity remembers of its senders (`tombstones.memory_of`: what a
    removal keeps), as its last batch left it; before its first batch, what it starts
    from: its id's tombstone, read as `_restore` reads it."""
    d = last_snapshot(loaded_records(loaded))
    if d is None:
        return backend.removed_memory(entity_id)
    return tombstones.memory_of(Scheduler.from_json(d.get("scheduler")))


def last_snapshot(records: Iterable[Record]) -> dict[str, Any] | None:
    """The entity as its last batch left it (a `checkpoint`, or the `snapshot` a
    compacted journal starts with); None before its first batch."""
    found: dict[str, Any] | None = None
    for rec in records:
        if rec.kind == "checkpoint":
            found = rec.data
        elif rec.kind == "created" and rec.data.get("snapshot"):
            found = rec.data["snapshot"]
    return found


def release(engine: Engine, instance_id: str, *, finished: bool = False) -> None:
    ent = engine.entities.pop(instance_id, None)
    engine.entity_dirty.discard(instance_id)
    if ent is not None:
        try:
            engine.backend.release(ent.claim, finished=finished)
        except FenceLost as exc:
            engine.errors.append(str(exc))


def release_idle(engine: Engine) -> list[str]:
    """Give up the entities with nothing to do (no message, no lock, nothing deferred), so
    that a worker does not hold every entity it ever served; a message posted later makes
    the entity runnable again (`send` revives it). Returns their ids."""
    gone = []
    for instance_id, ent in list(engine.entities.items()):
        if ent.deferred or ent.sched.lock is not None or ent.sched.queue:
            continue
        if engine.backend.inbox(instance_id):
            continue
        release(engine, instance_id, finished=True)
        if engine.backend.inbox(instance_id):  # posted meanwhile: offered again
            engine.backend.revive(instance_id)
        gone.append(instance_id)
    return gone


# -- running batches -----------------------------------------------------------------------


def run_entities(engine: Engine) -> bool:
    """One batch for every owned entity with work (inbox messages, due deferred ones, an
    orphaned lock); True if any batch was applied."""
    dirty = [engine.entities[i] for i in sorted(engine.entity_dirty) if i in engine.entities]
    engine.entity_dirty.clear()
    if not dirty:
        return False
    staged: list[Entity] = []
    for ent in dirty:
        if ent.broken is None and run_batch(engine, ent):
            staged.append(ent)
    if not staged:
        return False
    try:
        engine.backend.commit([e.claim for e in staged])
    except FenceLost as exc:
        for ent in staged:
            if not exc.instance_ids or ent.id in exc.instance_ids:
                engine.entities.pop(ent.id, None)
        engine.errors.append(str(exc))
        return True
    for ent in staged:
        send_outgoing(engine, ent)
        if ent.claim.next_seq >= COMPACT_AT:
            compact(engine, ent)
    return True


def compact(engine: Engine, ent: Entity) -> None:
    """Start a new generation of the entity's journal holding only its last record."""
    ts = iso(engine.clock.now())
    data = {**created_data(ent.id, ts, ent.incarnation), "snapshot": ent.record(0, ent.modified)}
    try:
        ent.claim.new_generation(data, ts, [])
    except FenceLost as exc:
        engine.entities.pop(ent.id, None)
        engine.errors.append(str(exc))
    except BackendError as exc:
        engine.errors.append(f"entity {ent.id}: cannot compact its journal: {exc}")


def bodies(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The entity messages one inbox message carries, in order: itself, or the signals a
    client's `send_many` put together (`{"type": "entity", "batch": [body, ...]}`)."""
    batch = body.get("batch")
    if batch is None:
        return [body]
    return [b for b in batch if isinstance(b, dict)] if isinstance(batch, list) else []


def run_batch(engine: Engine, ent: Entity) -> bool:
    """Stage one batch for `ent` (see the module docstring); False if it had nothing to do."""
    now = engine.clock.now()
    ended = ended_senders(engine, ent)  # looked at before the inbox is read: see there
    messages = engine.backend.inbox(ent.id)
    acked: list[str] = []
    arrived: list[Message] = []
    deferred = list(ent.deferred)
    waiting = {d["key"] for d in deferred}
    seen = set(ent.consumed)
    for message in messages:
        acked.append(message.id)
        if message.id in seen:
            continue  # the last batch applied it; a crash kept it in the inbox
        for body in bodies(message.body):
            try:
                msg = Message.from_json(body["message"])
            except (KeyError, TypeError, ValueError):
                continue  # not an entity message: acknowledged, dropped
            at = body.get("at")
            if at:  # applied out of order, so deduplicated by key (sender and seq)
                key = msg.key if msg.key is not None else f"{msg.sender}#{msg.seq}"
                if key not in waiting and key not in ent.sched.client_keys:
                    deferred.append({"at": at, "key": key, "message": msg.to_json()})
                    waiting.add(key)
                continue
            arrived.append(msg)
    due = sorted((d for d in deferred if parse_iso(d["at"]) <= now), key=lambda d: d["at"])
    for d in due:
        deferred.remove(d)
        msg = Message.from_json(d["message"])
        arrived.append(Message(**{**msg.__dict__, "seq": None, "key": d["key"]}))
    orphan = ent.sched.lock is not None and (arrived or ent.sched.queue) and holder_ended(
        engine.backend, ent.sched.lock.sender)
    if orphan and ent.sched.lock is not None:
        arrived.append(Message("unlock", request=ent.sched.lock.request))
    if not arrived and deferred == ent.deferred:
        if acked:
            ent.claim.ack(acked)
            engine.backend.commit([ent.claim])
        return False
    sched, runnable, lock_out = step(ent.sched, arrived, ent.id)
    sched = forget(sched, ended)
    if not runnable and not lock_out and sched == ent.sched and deferred == ent.deferred:
        # only duplicates (resends after a crash): nothing to journal, so they are just
        # acknowledged. A checkpoint here would be the first write of every resume of a
        # caller that re-sends, which a crash at that write then repeats forever (029).
        ent.claim.ack(acked)
        engine.backend.commit([ent.claim])
        # The holder asking again for the lock it holds here (it resumed without the
        # grant): the grant or the forward is sent again, so a forward posted before a
        # crash to an entity that no process runs reaches it again, and it is run (the
        # explicit example of tests/entities/test_differential.py's contending test).
        ts = iso(now)
        for m in arrived:
            again = regrant(ent.sched, m, ent.id)
            if again is not None:
                resent = lock_message(ent, again)
                try:
                    send(engine, engine.backend, resent["to"], resent["body"], ts)
                except BackendError as exc:
                    engine.errors.append(f"entity {ent.id}: cannot send to {resent['to']}: {exc}")
        return False
    state, outcomes = apply_batch(ent.defn, ent.id, ent.state,
                                  [Operation(m.operation, m.input) for m in runnable])
    ts = iso(now)
    outgoing: list[dict[str, Any]] = []
    for m, out in zip(runnable, outcomes, strict=True):
        # the operation's signals first: a caller that hears the result and then sends
        # to the same entity comes after them
        for action in out.actions:
            if action.kind == "signal":
                signal = Message("op", sender=senders.of_entity(ent.id, ent.incarnation),
                                 seq=ent.next_seq,
                                 operation=action.operation or "", input=action.input)
                ent.next_seq += 1
                outgoing.append({"to": str.__str__(action.target), "body": {
                    "type": "entity", "message": signal.to_json(),
                    "at": iso(action.at) if isinstance(action.at, datetime) else None}})
            else:
                outgoing.append({"to": action.instance_id or new_instance_id(),
                                 "start": {"name": action.target, "input": action.input}})
        if m.reply and m.reply_to:
            result: dict[str, Any] = {"type": "entity_result", "task": m.reply_to.get("task"),
                                    "generation": m.reply_to.get("generation", 0),
                                    "entity": str.__str__(ent.id)}
            if m.reply_to.get("incarnation") is not None:  # the caller checks it is its own
                result["incarnation"] = m.reply_to["incarnation"]
            if out.error is not None:
                result["error"] = {"message": out.error["message"], "error_type": out.error["type"],
                                 "details": out.error.get("details"),
                                 "task_name": f"{ent.id} {m.operation}"}
            else:
                result["value"] = out.value
            outgoing.append({"to": m.reply_to.get("instance", ""), "body": result})
    outgoing += [lock_message(ent, o) for o in lock_out]
    outgoing += [lock_message(ent, o) for m in arrived  # a holder's repeat: see above
                 if (o := regrant(ent.sched, m, ent.id)) is not None]
    ent.sched, ent.state, ent.deferred, ent.outgoing = sched, state, deferred, outgoing
    ent.consumed = acked
    ent.applied += len(runnable)
    ent.modified = ts
    try:
        ent.claim.stage([("checkpoint", ent.record(len(runnable), ts))], ts)
    except BackendError as exc:
        ent.broken = str(exc)
        engine.errors.append(f"entity {ent.id}: {exc}")
        return False
    ent.claim.ack(acked)
    engine.count_write()
    return True


def ended_senders(engine: Engine, ent: Entity) -> list[str]:
    """Senders the entity may forget after this batch (`scheduler.forget`).

    An orchestration generation (`instance:generation/incarnation`) sends every message it will ever
    send before its end is durable: entity tasks are posted as they start (durable on
    return) and the rest by `entity_calls.end_generation`, before the final record. So
    once `Backend.generation_ended` says it ended, all its messages are in the inbox,
    or were consumed already. This is asked BEFORE the batch reads the inbox, so the
    batch sees every message of those senders (and drops repeats with their seqs still
    known); after it, none can come, and their seqs can go. A Failed generation is kept
    (a rewind may make it send again), as are entities and clients (clients are
    deduplicated by key, in a window of their own). Only once more than SEQ_KEEP senders
    are known, and SEQ_CHECKS of them per batch, the oldest first; one that is still
    running goes to the back of the line."""
    last = ent.sched.last_seq
    if len(last) <= SEQ_KEEP:
        return []
    ended: list[str] = []
    alive: list[str] = []
    for who in list(last)[:SEQ_CHECKS]:
        sender = senders.parse(who)
        if sender is None or sender.generation is None:
            alive.append(who)  # an entity (or a sender of a kind not forgotten)
            continue
        try:
            done = engine.backend.generation_ended(sender.instance_id, sender.generation,
                                                   incarnation=sender.incarnation)
        except (BackendError, ValueError):
            done = False
        (ended if done else alive).append(who)
    if alive:  # to the back of the line (order does not count in a snapshot's equality)
        rest = {k: v for k, v in last.items() if k not in alive}
        ent.sched = replace(ent.sched, last_seq={**rest, **{k: last[k] for k in alive}})
    return ended


def lock_message(ent: Entity, o: Outgoing) -> dict[str, Any]:
    """The message a lock step sends: the request forwarded to the next entity, or the
    grant told to the holder."""
    if o.kind == "lock":
        return {"to": o.to, "body": {"type": "entity", "message": o.message.to_json()}}
    reply = o.message.reply_to or {}
    body: dict[str, Any] = {  # the lock is granted: tell the holder
        "type": "entity_result", "task": reply.get("task"),
        "generation": reply.get("generation", 0), "entity": str.__str__(ent.id),
        "value": None}
    if reply.get("incarnation") is not None:
        body["incarnation"] = reply["incarnation"]
    return {"to": o.to, "body": body}


def send_outgoing(engine: Engine, ent: Entity) -> None:
    """Send the last record's messages (again, after a crash: receivers deduplicate)."""
    from runtime.engine.core import machine_for
    from runtime.engine.inline import create_instance

    ts = iso(engine.clock.now())
    for out in ent.outgoing:
        try:
            if "start" in out:
                mdef = machine_for(out["start"]["name"])
                if mdef is None:
                    engine.errors.append(f"entity {ent.id}: no orchestrator named "
                                         f"{out['start']['name']!r} is registered; not started")
                    continue
                if not engine.backend.exists(out["to"]):
                    create_instance(engine.backend, mdef, out["start"]["input"], out["to"], ts)
                continue
            send(engine, engine.backend, out["to"], out["body"], ts)
        except BackendError as exc:  # the store's trouble: sent again when adopted again
            engine.errors.append(f"entity {ent.id}: cannot send to {out['to']}: {exc}")


def send_before_removal(backend: Backend, outgoing: list[dict[str, Any]], ts: str) -> bool:
    """Send an entity's last batch's messages again before `Client.clean_entities` removes
    it: a crash between that batch's commit and its sends left them unsent, and only an
    adoption would have sent them, which never comes once the entity is gone. Receivers
    deduplicate, as for an adoption's re-send. False (keep the entity, for a worker to
    adopt) if an orchestration it starts does not exist yet: only a process that has the
    orchestrator's definition can start it. A store error goes to the caller."""
    for out in outgoing:
        if "start" in out:
            if not backend.exists(out["to"]):
                return False
            continue
        send(None, backend, out["to"], out["body"], ts)
    return True


def holder_ended(backend: Backend, holder: str) -> bool:
    """Has the orchestration generation `holder` (a sender identity: runtime.entities.
    senders) ended in any way, Failed included (or gone, or replaced by a later generation
    or by a new instance under its id)? A rewind never takes a Failed holder back into
    its critical section (runtime.rewind refuses it), so its locks can go."""
    sender = senders.parse(holder)
    if sender is None or sender.generation is None:
        return False
    try:
        doc = backend.status(sender.instance_id)
        if doc is None:
            return True
        if doc["runtimeStatus"] in ENDED_STATUSES:
            return True
        # running: ended only if what runs is a later generation or another incarnation
        return backend.generation_ended(sender.instance_id, sender.generation,
                                        incarnation=sender.incarnation)
    except BackendError:
        return False


def next_deadline(engine: Engine) -> str | None:
    """The earliest time a deferred message of an owned entity is due."""
    times = [d["at"] for ent in engine.entities.values() for d in ent.deferred]
    return min(times, key=parse_iso) if times else None


def due(engine: Engine) -> None:
    """Mark the entities whose deferred messages are due as having work."""
    now = engine.clock.now()
    for instance_id, ent in engine.entities.items():
        if any(parse_iso(d["at"]) <= now for d in ent.deferred):
            engine.entity_dirty.add(instance_id)


def settled(engine: Engine) -> bool:
    """Does every owned entity have nothing to do now (inbox empty, nothing deferred is
    due; `next_deadline` says when the next one is)?"""
    now = engine.clock.now()
    return not engine.entity_dirty and all(
        not any(parse_iso(d["at"]) <= now for d in ent.deferred)
        and not engine.backend.inbox(ent.id)
        for ent in engine.entities.values() if ent.broken is None)
