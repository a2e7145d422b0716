"""An entity's scheduler: which delivered messages run now, in what order, exactly once.

Pure functions over a `Scheduler` value, so the rules are tested without a store; the
runtime keeps the value in the entity's journal (one record per batch) and does the I/O.

Messages an entity receives (`Message.kind`):

- `op`: an operation from a sender. `sender` is who sent it (an orchestration generation
  or an entity, each with its incarnation, as runtime.entities.senders writes them, or
  `client`), `seq` its position in that sender's stream to
  this entity (task ids for orchestrations, a counter for entities), `key` an
  idempotency key for clients. `reply` says whether the sender waits for the result.
- `lock`: a critical section's request (`request` names it, `sender` is the holding
  orchestration, `entities` the sorted ids, `position` this entity's place among them,
  `reply_to` where the grant goes).
- `unlock`: the end of a critical section (or the holder gave up while still waiting).

Guarantees (each tested against a model in tests/entities/test_scheduler.py):

- **Exactly once.** A message from an orchestration or entity whose `seq` is not above the
  last one applied from that sender is a duplicate (a resend after a crash) and is
  dropped; a client message whose `key` was applied within the key window is dropped.
- **FIFO per sender.** Senders send in `seq` order and each send is durable before the
  next, so arrival order per sender is `seq` order; the scheduler keeps arrival order,
  except that operations from others wait behind a lock.
- **One at a time.** Operations run in the order `step` returns them; the runtime
  applies them as one batch (runtime.entities.operations), each rolled back alone.
- **Bounded memory.** `last_seq` holds one entry per sender; the runtime drops those of
  orchestration generations that can never send again (`forget`; the rule is in
  runtime/engine/entities.py and docs/entities.md), so it does not grow with every
  orchestration that ever sent.
- **Locks.** While locked, only the holder's operations run; others queue, in arrival
  order, and run once the lock is released. A lock request for a locked entity waits in
  the same queue. Granting a lock forwards the request to the next entity of the sorted
  set, or tells the holder when this is the last one; ids are taken in sorted order, so
  two critical sections can never wait for each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["CLIENT_KEY_WINDOW", "Message", "Outgoing", "Scheduler", "forget", "regrant", "step"]

CLIENT_KEY_WINDOW = 10_000  # client idempotency keys remembered per entity (oldest dropped)


@dataclass(frozen=True)
class Message:
    kind: str  # "op", "lock" or "unlock"
    sender: str = ""
    seq: int | None = None
    key: str | None = None
    operation: str = ""
    input: Any = None
    reply: bool = False
    reply_to: dict[str, Any] | None = None  # where the result goes: instance, task, generation
    request: str = ""  # lock and unlock: the critical section
    entities: tuple[str, ...] = ()  # lock: the sorted ids of the critical section
    position: int = 0  # lock: this entity's index in `entities`

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        for name in ("sender", "seq", "key", "operation", "input", "reply", "reply_to",
                     "request", "position"):
            value = getattr(self, name)
            # seq 0 is a real position (an orchestration's first task): kept, or the
            # message would lose its dedupe key
            if value not in (None, "", False, 0) or (
                    name in ("input", "seq") and value is not None):
                data[name] = value
        if self.entities:
            data["entities"] = list(self.entities)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        fields = {k: v for k, v in data.items() if k != "entities"}
        return cls(**fields, entities=tuple(data.get("entities", ())))


@dataclass(frozen=True)
class Outgoing:
    """A message the scheduler asks the runtime to send: a lock forwarded to the next
    entity (`to` an entity id) or granted (`to` the holder instance)."""

    to: str
    kind: str  # "lock" (forward) or "lock_granted"
    message: Message


@dataclass(frozen=True)
class Scheduler:
    """What the entity remembers besides its state."""

    last_seq: dict[str, int] = field(default_factory=dict)  # sender -> last seq applied
    client_keys: tuple[str, ...] = ()  # client keys applied, oldest first
    lock: Message | None = None  # the granted lock request
    queue: tuple[Message, ...] = ()  # waiting behind the lock, in arrival order

    def to_json(self) -> dict[str, Any]:
        return {"last_seq": dict(self.last_seq), "client_keys": list(self.client_keys),
                "lock": self.lock.to_json() if self.lock else None,
                "queue": [m.to_json() for m in self.queue]}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Scheduler:
        if not data:
            return cls()
        lock = data.get("lock")
        return cls(dict(data.get("last_seq", {})), tuple(data.get("client_keys", ())),
                   Message.from_json(lock) if lock else None,
                   tuple(Message.from_json(m) for m in data.get("queue", ())))

    @property
    def locked_by(self) -> str | None:
        """The orchestration generation holding the lock (its sender identity), if any."""
        return self.lock.sender if self.lock else None


def step(sched: Scheduler, arrived: list[Message],
         entity_id: str) -> tuple[Scheduler, list[Message], list[Outgoing]]:
    """Take newly `arrived` messages: the scheduler after them, the operations to apply
    now (in order) and the lock messages to send."""
    runnable: list[Message] = []
    out: list[Outgoing] = []
    last = dict(sched.last_seq)
    keys = list(sched.client_keys)
    key_set = set(keys)
    lock = sched.lock
    queue = list(sched.queue)

    def fresh(m: Message) -> bool:
        """Not seen before (and remembered as seen from now on)."""
        if m.key is not None:
            if m.key in key_set:
                return False
            keys.append(m.key)
            key_set.add(m.key)
            return True
        if m.seq is not None and m.sender:
            if m.seq <= last.get(m.sender, -1):
                return False
            last[m.sender] = m.seq
        return True

    def admit(m: Message) -> None:
        nonlocal lock
        nonlocal queue
        if m.kind == "unlock":
            if lock is not None and lock.request == m.request:
                lock = None
                drain()
            else:  # gave up while waiting: its request leaves the queue
                queue = [q for q in queue if not (q.kind == "lock" and q.request == m.request)]
            return
        if lock is not None and m.sender != lock.sender:
            queue.append(m)
            return
        if lock is not None and m.kind == "lock":  # the holder asks again: already granted
            return
        if m.kind == "lock":
            lock = m
            out.append(_grant(m, entity_id))
            return
        runnable.append(m)

    def drain() -> None:
        nonlocal queue
        waiting, queue = queue, []
        for m in waiting:
            admit(m)

    for m in arrived:
        if fresh(m):
            admit(m)
    if len(keys) > CLIENT_KEY_WINDOW:
        keys = keys[-CLIENT_KEY_WINDOW:]
    after = replace(sched, last_seq=last, client_keys=tuple(keys), lock=lock, queue=tuple(queue))
    return after, runnable, out


def forget(sched: Scheduler, senders: Iterable[str]) -> Scheduler:
    """The scheduler without the last seqs of `senders` (orchestration generations that
    can never send again: runtime.engine.entities says when), except the lock holder's and
    those with messages waiting behind the lock."""
    keep = {m.sender for m in sched.queue} | ({sched.lock.sender} if sched.lock else set())
    gone = set(senders) - keep
    if not gone & sched.last_seq.keys():
        return sched
    return replace(sched, last_seq={k: v for k, v in sched.last_seq.items() if k not in gone})


def regrant(sched: Scheduler, m: Message, entity_id: str) -> Outgoing | None:
    """For a lock request that is the very one holding this entity's lock (its holder
    resumed and sent it again): its grant or forward, to be sent again (receivers
    deduplicate it); None for any other message."""
    if m.kind != "lock" or sched.lock is None or sched.lock.request != m.request:
        return None
    return _grant(sched.lock, entity_id)


def _grant(m: Message, entity_id: str) -> Outgoing:
    nxt = m.position + 1
    if nxt < len(m.entities):
        return Outgoing(m.entities[nxt], "lock", replace(m, position=nxt))
    holder = (m.reply_to or {}).get("instance", m.sender)
    return Outgoing(str(holder), "lock_granted", m)
