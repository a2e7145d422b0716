"""One instance in memory: rebuilt from its journal, changed only by applying records.

`Instance.restore` reads the `created` record, the last checkpoint and the records
after it (never the whole history) and applies those records in order. The executor
applies live records through the same `apply`, so what a worker knows after a crash
is exactly what it knew before: the records, not the timing.

Invariant the executor keeps: a checkpoint reflects every record before it in the
journal, so the records after the last checkpoint are all that is left to apply.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runtime.backends.base import ENDED_STATUSES, Claim, Message, Record
from runtime.backends.base import FINAL as FINAL
from runtime.clock import iso, parse_iso
from runtime.context import TaskState, TaskTable, complete, later
from runtime.entities.senders import incarnation_of
from runtime.machine import Frame, MachineDef
from runtime.values import decode_slots


class VersionMismatchError(Exception):
    """The instance was started by a machine whose graph differs from the loaded one."""


@dataclass
class Instance:
    id: str
    name: str
    input: Any
    graph_hash: str
    created: str
    generation: int = 0
    parent: dict[str, Any] | None = None  # {"id": parent instance, "task": task id}
    attempt: int = 1  # which attempt of the parent's (retried) sub-orchestration this is
    mdef: MachineDef | None = None
    claim: Claim | None = None  # the right to run it and append to its journal
    table: TaskTable = field(default_factory=TaskTable)
    frame: Frame = field(default_factory=Frame)
    awaiting: int | None = None  # None: the first step has not run
    now: datetime = field(default_factory=lambda: parse_iso("2026-01-01T00:00:00Z"))
    next_uuid: int = 0
    buffered: dict[str, deque[tuple[Any, int, str]]] = field(default_factory=dict)
    custom_status: Any = None
    # continue_as_new's input once the orchestrator asked for it: kept in the checkpoint, as
    # a `finally` that awaits may still run before the orchestrator returns
    continued: list[Any] | None = None
    suspended: bool = False
    status: str = "Pending"
    output: Any = None
    error: dict[str, Any] | None = None
    events_in: int = 0  # external events journaled, all generations
    consumed: set[str] = field(default_factory=set)  # inbox messages journaled since the checkpoint
    unsaved: list[TaskState] = field(default_factory=list)  # tasks created since the checkpoint
    last_update: str = ""
    step_label: str | None = None
    checkpointed: bool = False
    passive: bool = False  # loaded only to journal control messages (no machine)
    broken: str | None = None  # why the engine stopped running it (one line), see Engine.fail
    unsaved_step: bool = False  # stepped since the last checkpoint
    pending_events: list[Message] = field(default_factory=list)  # inbox events not yet journaled
    parent_told: bool = False  # its end was sent to a parent held elsewhere (Claim.send)
    # Work the orchestration scheduled and never awaited, owed after its generation ended
    # (fire and forget: activities still to run, children still to create), by key
    # "<generation>:<task>"; each is done once a `sent` record names it.
    outbox: dict[str, dict[str, Any]] = field(default_factory=dict)
    trace: dict[str, Any] | None = None  # the trace context journaled at creation (tracing)
    # the `created` record's incarnation: part of its identity as a sender to entities
    # (runtime.entities.senders); None in a journal written before incarnations
    incarnation: str | None = None

    @property
    def ended(self) -> bool:
        return self.status in ENDED_STATUSES

    @classmethod
    def restore(cls, instance_id: str, claim: Claim, mdef: MachineDef | None, *,
                frame: bool = True) -> Instance:
        """The instance as its records say. `frame=False` leaves the checkpoint's frame
        undecoded (for journaling control messages only: a frame that no longer decodes,
        say a class that cannot be imported, must not stop a terminate)."""
        opened = claim.loaded
        c = opened.first.data
        inst = cls(instance_id, c["name"], c.get("input"), c.get("graph_hash", ""),
                   opened.first.ts, c.get("generation", 0), c.get("parent"),
                   c.get("attempt", 1), mdef, claim)
        inst.now = parse_iso(c.get("start", opened.first.ts))
        inst.events_in = c.get("events_in", 0)
        inst.last_update = opened.first.ts
        for name, data in c.get("carry", []):
            inst.buffered.setdefault(name, deque()).append((data, 0, opened.first.ts))
        inst.outbox = {o["key"]: o for o in c.get("outbox", [])}  # owed by the last generation
        inst.trace = c.get("trace")
        inst.incarnation = incarnation_of(c)
        inst.frame = Frame(input=inst.input)
        if opened.checkpoint is not None:
            inst._load_checkpoint(opened.checkpoint, frame=frame)
        for rec in opened.tail:
            inst.apply(rec)
        if not inst.ended:
            inst.check_version()
        return inst

    def check_version(self) -> None:
        mdef = self.mdef
        if mdef is None or mdef.graph_hash == self.graph_hash:
            return
        if self.awaiting is None:
            where = "the instance has not taken its first step"
            missing = "which the new graph also starts with"
        else:
            where = f"the journal's next step is s{self.frame.state}"
            if self.step_label:
                where += f" ({self.step_label})"
            info = mdef.step(self.frame.state)
            label = f"{info.label}, line {info.line}" if info is not None else None
            missing = ("which the new graph lacks" if label is None else
                       f"which the new graph has as ({label}), possibly with other meaning")
        raise VersionMismatchError(
            f"instance {self.id} was started by {self.name}() with graph {self.graph_hash}; "
            f"{mdef.source} now compiles to {mdef.graph_hash}\n"
            f"  {where}, {missing}\n"
            "  finish or terminate the instance before deploying, "
            "or register the old module as a version"
        )

    def _load_checkpoint(self, rec: Record, *, frame: bool = True) -> None:
        d = rec.data
        self.checkpointed = True
        self.table = TaskTable()
        for item in d["tasks"]:
            state = TaskState.from_json(item)
            self.table.tasks[state.id] = state
        self.table.next_id = d["next_task"]
        self.outbox = {o["key"]: o for o in d.get("outbox", [])}
        slots = decode_slots(d["slots"], self.table.handle) if frame else {}
        self.frame = Frame(state=d["step"], slots=slots)
        self.awaiting = d["awaiting"]
        self.frame.awaiting = self.table.handle(d["awaiting"])
        self.next_uuid = d["next_uuid"]
        self.now = parse_iso(d["now"])
        self.buffered = {name: deque((v, s, t) for v, s, t in items)
                         for name, items in d.get("buffered", {}).items()}
        self.custom_status = d.get("custom_status")
        self.continued = d.get("continued")
        self.suspended = d.get("suspended", False)
        self.events_in = d.get("events_in", 0)
        self.step_label = d.get("label")
        self.status = "Suspended" if self.suspended else "Running"
        self.last_update = rec.ts

    def checkpoint_data(self, slots: dict[str, Any], referenced: set[int]) -> dict[str, Any]:
        assert self.awaiting is not None
        live = self.table.live(referenced | {self.awaiting})
        self.table.tasks = {t.id: t for t in live}
        info = self.mdef.step(self.frame.state) if self.mdef is not None else None
        data: dict[str, Any] = {
            "step": self.frame.state, "slots": slots, "awaiting": self.awaiting,
            "next_task": self.table.next_id, "next_uuid": self.next_uuid, "now": iso(self.now),
            "tasks": [t.to_json() for t in live],
            "buffered": {n: [list(e) for e in q] for n, q in self.buffered.items() if q},
            "custom_status": self.custom_status, "suspended": self.suspended,
            "events_in": self.events_in,
        }
        if self.continued is not None:
            data["continued"] = self.continued
        if self.outbox:
            data["outbox"] = list(self.outbox.values())
        if self.mdef is not None and (hidden := self.mdef.hidden_in(slots)):
            data["hidden"] = hidden  # compiler temporaries: `tether history` shows user locals
        if info is not None:
            data["label"] = f"{info.label}, line {info.line}"
            self.step_label = data["label"]
        return data

    # -- records ---------------------------------------------------------------------------

    def apply(self, rec: Record) -> None:
        """Change the in-memory state as `rec` says (live, or replaying the tail)."""
        d, kind = rec.data, rec.kind
        self.last_update = rec.ts
        task = self.table.tasks.get(d["task"]) if "task" in d else None
        if kind == "result":
            if task is not None and not task.done:
                complete(task, d.get("tie", rec.seq), rec.ts, value=d.get("value"),
                         error=d.get("error"))
        elif kind == "retry":
            if task is not None and not task.done:
                task.attempt, task.fire_at, task.started = d["attempt"], d["fire_at"], False
        elif kind == "timer":
            if task is not None and not task.done:
                complete(task, rec.seq, rec.ts)
        elif kind == "event":
            self._event(rec)
        elif kind == "suspended":
            self.suspended, self.status = True, "Suspended"
        elif kind == "resumed":
            self.suspended = False
            self.status = "Running" if self.checkpointed else "Pending"
        elif kind == "sent":
            self.outbox.pop(d["key"], None)
        elif kind in FINAL:
            self.status = FINAL[kind]
            self.output = d.get("output")
            self.error = d.get("error")
            self.outbox.update((o["key"], o) for o in d.get("outbox", []))
            if "custom_status" in d:
                self.custom_status = d["custom_status"]

    def _event(self, rec: Record) -> None:
        d = rec.data
        self.events_in += 1
        if d.get("msg"):
            self.consumed.add(d["msg"])
        waiters = [t for t in self.table.tasks.values()
                   if t.kind == "event" and t.name == d["name"] and not t.done]
        if waiters:
            complete(min(waiters, key=lambda t: t.id), rec.seq, rec.ts, value=d.get("data"))
        else:
            self.buffered.setdefault(d["name"], deque()).append((d.get("data"), rec.seq, rec.ts))

    # -- what the executor asks ---------------------------------------------------------

    def ready(self) -> bool:
        """Can the machine take a step now?"""
        if self.ended or self.suspended or self.broken:
            return False
        return self.awaiting is None or self.table.completion(self.awaiting) is not None

    def blocked(self) -> bool:
        """Waiting for something other than its own next step (events may be delivered)."""
        return not self.ended and not self.suspended and not self.broken and not self.ready()

    def time_of(self, ts: str) -> datetime:
        return later(self.now, ts)
