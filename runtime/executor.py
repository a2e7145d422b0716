"""The executor: drives compiled machines on a store.

One thread owns every instance this process has locked. It runs machine steps,
checkpoints at suspensions, hands activities to a thread pool (sync ones directly,
async ones under `asyncio.run`), journals what comes back and delivers it. Each round:

1. journal the activity outcomes that arrived (a result, or a `retry` timer when a
   RetryPolicy allows another attempt), fsync every journal touched once (group commit),
   then apply the records and advance the instances;
2. fire due timers (the virtual clock only when no activity is in flight, as in
   `runtime.direct`): a `timer` record per timer, then a retry attempt starts;
3. deliver one external event to each instance that waits (inbox, or `run_inline`'s
   list), and apply control messages (terminate, suspend, resume);
4. with nothing to do: move the virtual clock to the next timer, or wait.

A record is fsynced before the instance acts on it; a checkpoint is not (it reaches
the disk with the next fsync; losing it re-runs one deterministic step).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import inspect
import json
import os
import queue
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from runtime.api import REGISTRY, OrchestrationError, TaskFailedError
from runtime.boundary_types import typed_activity
from runtime.clock import Clock, VirtualClock, iso, parse_iso
from runtime.context import JournalContext, TaskState, boundary, error_json, failure_details
from runtime.instance import FINAL, Instance, VersionMismatchError
from runtime.journal import Journal, JournalError, Record, iter_records, sync_all
from runtime.machine import MachineDef, Return
from runtime.reading import activity_calls_of, all_activity_calls, read_status
from runtime.store import Lock, Store, validate_id
from runtime.values import FrameValueError, NotJSONError, encode_slots

__all__ = ["Engine", "RunResult", "SimulatedCrash", "VersionMismatchError", "run_inline"]

POLL = 0.05  # seconds between inbox and store scans when idle
INLINE_BELOW = 0.001  # a sync activity this quick may run on the engine thread (see _start_pending)


class SimulatedCrash(Exception):
    """`crash_after_writes` was reached: the store is left as a killed process leaves it."""


@dataclass
class RunResult:
    status: str  # a runtime status, or "Stuck" when nothing can ever complete (virtual clock)
    output: Any = None
    error: tuple[str, str] | None = None  # (error type name, message)
    instance_id: str = ""
    custom_status: Any = None
    folder: Path | None = None  # the instance's folder in the store
    # sub-orchestrations still running when the run ended (started and never awaited):
    # they stay in the store, and a worker finishes them
    unfinished: list[str] = field(default_factory=list)

    @functools.cached_property
    def activity_calls(self) -> list[tuple[str, Any]]:
        """(name, input) of every activity execution, read from the journals when first
        asked (retries and re-runs after crashes included; children's calls in place)."""
        return all_activity_calls(self.folder) if self.folder is not None else []


@dataclass
class _Done:
    """An activity attempt finished (sent from a pool thread to the engine thread)."""

    instance: str
    generation: int
    task: int
    attempt: int
    value: Any = None
    error: TaskFailedError | None = None
    name: str = ""
    seconds: float = 0.0  # how long the attempt ran
    outbox: str = ""  # the instance's outbox key, for fire-and-forget work owed after its end


@dataclass(frozen=True)
class _ChildEnd:
    """A sub-orchestration's outcome, held for its parent until `_deliver_children`."""

    generation: int  # the parent's generation that started the child
    attempt: int
    at: str  # when the child ended, as records carry time: the parent hears of it no earlier
    value: Any = None
    error: TaskFailedError | None = None


def machine_for(name: str) -> MachineDef | None:
    entry = REGISTRY.orchestrators.get(name)
    machine = entry.machine if entry is not None else None
    return machine if isinstance(machine, MachineDef) else None


def _accepts_input(fn: Callable[..., Any]) -> bool:
    try:
        return _signature_takes_input(fn)
    except TypeError:  # an unhashable callable: not cached
        return _signature_takes_input.__wrapped__(fn)


@functools.lru_cache(maxsize=1024)
def _signature_takes_input(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
               for p in params)


def run_activity(name: str, fn: Callable[..., Any] | None,
                 data: Any) -> tuple[Any, TaskFailedError | None, bool]:
    """Run one attempt; an exception becomes TaskFailedError(message, type, traceback).
    The flag says whether the activity was async (its coroutine ran under `asyncio.run`)."""
    if fn is None:
        return None, TaskFailedError(f"no activity named {name!r} is registered",
                                     error_type="OrchestrationError", task_name=name), False
    was_async = False
    try:
        result = fn(data) if _accepts_input(fn) else fn()
        if inspect.iscoroutine(result):
            was_async = True
            result = asyncio.run(result)
        return boundary(result, f"result of activity {name}"), None, was_async
    except Exception as exc:
        return None, TaskFailedError(str(exc), error_type=type(exc).__name__,
                                     details=traceback.format_exc(), task_name=name), was_async


class Engine:
    """Runs the instances this process owns (see the module docstring)."""

    def __init__(self, store: Store, *, clock: Clock | None = None,
                 activities: Mapping[str, Callable[..., Any]] | None = None,
                 concurrency: int = 16, crash_after_writes: int | None = None,
                 machines: Callable[[str], MachineDef | None] = machine_for,
                 inline_below: float = INLINE_BELOW) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.store = store
        self.clock = clock or Clock()
        self.overrides = dict(activities or {})
        self.machines = machines
        self.crash_after = crash_after_writes
        self.writes = 0
        self.instances: dict[str, Instance] = {}
        self.locks: dict[str, Lock] = {}
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="tether-activity")
        self.done: queue.SimpleQueue[_Done] = queue.SimpleQueue()
        self.inflight = 0  # attempts started and not yet collected, at most `concurrency`
        self.concurrency = concurrency
        self.held: deque[Callable[[], None]] = deque()  # attempts waiting for a free slot
        self.timers: list[tuple[str, str, int, int]] = []  # (fire_at, instance, task, generation)
        self.feeds: dict[str, list[tuple[str, Any]]] = {}  # run_inline events by instance
        self.errors: list[str] = []  # instances that could not be loaded, reported once
        self.last_poll = 0.0
        self.inline_below = inline_below
        self.ending: list[Instance] | None = None  # ended in this group commit, not yet synced
        self.quick: set[str] = set()  # sync activities that always ran under inline_below
        self.slow: set[str] = set()  # ... and those that did not
        self.child_ends: dict[str, dict[int, _ChildEnd]] = {}  # held outcomes, by parent and task
        self.sending: dict[str, set[str]] = {}  # outbox keys started here, by instance

    # -- owning instances ---------------------------------------------------------------

    def adopt(self, instance_id: str, *, blocking: bool = False) -> Instance | None:
        """Lock and load an instance; None if another process holds it."""
        if instance_id in self.instances:
            return self.instances[instance_id]
        lock = self.store.lock(instance_id, blocking=blocking)
        if lock is None:
            return None
        try:
            journal = Journal.open(self.store.folder(instance_id))
            name = journal.opened.first.data.get("name", "")
            mdef = self.machines(name)
            inst = Instance.restore(instance_id, journal, mdef)
        except BaseException:
            lock.release()
            raise
        if mdef is None and not inst.ended:
            journal.close()
            lock.release()
            raise OrchestrationError(f"instance {instance_id}: no orchestrator named {name!r} is registered")
        self.instances[instance_id] = inst
        self.locks[instance_id] = lock
        if inst.ended:
            self._ended(inst)
        else:
            self._start_pending(inst)
            self.advance(inst)
            if inst.outbox and not inst.ended:  # owed by the generation before
                self._send_outbox(inst)
        return inst

    def adopt_passive(self, instance_id: str) -> Instance | None:
        """Lock and load an instance to journal control messages, without running steps
        (the client uses this when no worker holds the instance)."""
        lock = self.store.lock(instance_id, blocking=False)
        if lock is None:
            return None
        try:
            inst = Instance.restore(instance_id, Journal.open(self.store.folder(instance_id)), None)
        except BaseException:
            lock.release()
            raise
        inst.passive = True
        self.instances[instance_id] = inst
        self.locks[instance_id] = lock
        return inst

    def release(self, instance_id: str) -> None:
        self.sending.pop(instance_id, None)
        inst = self.instances.pop(instance_id, None)
        if inst is not None and inst.journal is not None:
            inst.journal.close()
        lock = self.locks.pop(instance_id, None)
        if lock is not None:
            lock.release()

    def close(self, *, wait: bool = True) -> None:
        for instance_id in list(self.instances):
            self.release(instance_id)
        self.pool.shutdown(wait=wait, cancel_futures=True)

    # -- journal writes -----------------------------------------------------------------

    def _append(self, inst: Instance, kind: str, data: dict[str, Any]) -> Record:
        return self._append_many(inst, [(kind, data)])[0]

    def _append_many(self, inst: Instance, items: list[tuple[str, dict[str, Any]]]) -> list[Record]:
        """Records in one write (one write too for `crash_after_writes`)."""
        assert inst.journal is not None
        recs = inst.journal.append_many(items, iso(self._now(inst)))
        self.writes += 1
        if self.crash_after is not None and self.writes >= self.crash_after:
            raise SimulatedCrash(f"simulated crash after {self.writes} journal writes")
        return recs

    def _now(self, inst: Instance) -> Any:
        now = self.clock.now()
        return now if now > inst.now else inst.now

    def _sync(self, insts: Iterable[Instance]) -> None:
        """Make the journals durable (several at once: group commit, journal.sync_all)."""
        sync_all(i.journal for i in insts if i.journal is not None)

    # -- stepping -----------------------------------------------------------------------

    def advance(self, inst: Instance) -> None:
        """Run steps while the awaited task is complete; checkpoint when it blocks."""
        if inst.passive:
            return
        while inst.ready():
            if inst.awaiting is None:
                inst.status = "Running"
            else:
                mark = inst.table.completion(inst.awaiting)
                assert mark is not None
                inst.now = inst.time_of(mark[1])
                inst.frame.deliver(inst.table.outcome(inst.awaiting))
            if not self._step(inst):
                return
        if not inst.ended and inst.awaiting is not None and inst.unsaved_step:
            self._checkpoint(inst)

    def _step(self, inst: Instance) -> bool:
        """One machine call; False once the instance ended or started a new generation."""
        assert inst.mdef is not None
        ctx = JournalContext(inst.id, inst.table, inst.now, inst.buffered, inst.next_uuid,
                             input=inst.input, parent_id=(inst.parent or {}).get("id"))
        ctx.custom_status = inst.custom_status
        ctx.continued = (inst.continued[0],) if inst.continued is not None else None
        ctx.on_new = inst.unsaved.append
        try:
            step = inst.mdef.fn(ctx, inst.frame)
        except Exception as exc:
            inst.custom_status = ctx.custom_status
            self._finish(inst, "failed", error={"type": type(exc).__name__, "message": str(exc),
                                                "details": failure_details(exc)})
            return False
        inst.next_uuid, inst.custom_status = ctx.next_uuid, ctx.custom_status
        inst.continued = [ctx.continued[0]] if ctx.continued is not None else None
        if isinstance(step, Return):
            if ctx.continued is not None:
                self._continue_as_new(inst, ctx.continued[0])
                return False
            try:
                output = boundary(step.value, "orchestration output")
            except NotJSONError as exc:
                self._finish(inst, "failed", error={"type": "NotJSONError", "message": str(exc)})
                return False
            self._finish(inst, "completed", output=output)
            return False
        inst.awaiting = step.task.id
        inst.unsaved_step = True
        return True

    def _checkpoint(self, inst: Instance) -> None:
        referenced: set[int] = set()
        try:
            slots = encode_slots(inst.frame.slots, referenced,
                                 describe=inst.mdef.describe if inst.mdef else None)
        except FrameValueError as exc:
            self._finish(inst, "failed", error={"type": "FrameValueError", "message": str(exc)})
            return
        self._append(inst, "checkpoint", inst.checkpoint_data(slots, referenced))
        inst.checkpointed, inst.unsaved_step = True, False
        inst.unsaved = []
        inst.consumed.clear()
        if inst.status == "Pending":
            inst.status = "Running"
        self._start_pending(inst)

    def _start_pending(self, inst: Instance) -> None:
        if not inst.checkpointed or inst.passive or inst.ended:
            return
        activities: list[TaskState] = []
        for t in list(inst.table.tasks.values()):
            if t.done or t.started:
                continue
            if t.kind == "activity":
                activities.append(t)
            elif t.kind == "timer":
                t.started = True
                assert t.fire_at is not None
                heapq.heappush(self.timers, (t.fire_at, inst.id, t.id, inst.generation))
            elif t.kind == "sub_orchestration":
                self._start_child(inst, t)
        lone = len(activities) == 1 and not self.inflight and len(self.instances) == 1
        for t in activities:
            self._start_activity(inst, t, inline=lone)

    def _start_activity(self, inst: Instance, t: TaskState, *, inline: bool = False) -> None:
        """Run an attempt on the pool; or, when `inline` (the engine has nothing else to
        do) and the activity is sync and has always been quick, right here on the engine
        thread, which saves two thread hand-offs per step of a sequential chain."""
        t.started = True
        if t.fire_at is not None:  # waiting for a retry attempt
            heapq.heappush(self.timers, (t.fire_at, inst.id, t.id, inst.generation))
            return
        assert t.name is not None
        fn = self.overrides.get(t.name)
        if fn is None and t.name in REGISTRY.activities:
            fn = REGISTRY.activities[t.name].fn
        if self.inflight >= self.concurrency:
            # Start no more than `concurrency` at once: an attempt started is one a kill
            # would repeat until its result is journaled.
            instance_id, generation, task_id = inst.id, inst.generation, t.id
            self.held.append(lambda: self._resume_held(instance_id, generation, task_id))
            return
        key = (inst.id, inst.generation, t.id, t.attempt)
        self.inflight += 1
        if inline and t.name in self.quick and t.name not in self.slow:
            self._run_attempt(key, t.name, fn, t.input, inline=True)
        else:
            self.pool.submit(self._run_attempt, key, t.name, fn, t.input)

    def _start_held(self) -> None:
        """Start held-back attempts while fewer than `concurrency` are in flight."""
        while self.held and self.inflight < self.concurrency:
            self.held.popleft()()

    def _resume_held(self, instance_id: str, generation: int, task_id: int) -> None:
        inst = self.instances.get(instance_id)
        if inst is None:
            return
        key = f"{generation}:{task_id}"
        if inst.generation != generation:  # continued as new meanwhile: owed, or dropped
            if key in inst.outbox:
                self._send_activity(inst, key, inst.outbox[key])
            return
        t = inst.table.tasks.get(task_id)
        if t is not None and not t.done and (key in inst.outbox or not inst.ended):
            self._start_activity(inst, t)

    # -- fire and forget: work owed after an instance's generation ended ----------------------

    def _owed(self, inst: Instance) -> list[dict[str, Any]]:
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

    def _send_outbox(self, inst: Instance) -> None:
        """Start the owed work (once per process; a `sent` record ends each entry)."""
        records: list[tuple[str, dict[str, Any]]] = []
        for key, entry in list(inst.outbox.items()):
            if key in self.sending.get(inst.id, ()):
                continue
            gen, task_id = (int(part) for part in key.split(":"))
            t = inst.table.tasks.get(task_id) if gen == inst.generation else None
            if t is not None and t.started and not t.done and t.fire_at is None:
                continue  # running (or held) in this process: its outcome sends it
            self.sending.setdefault(inst.id, set()).add(key)
            if entry["kind"] == "activity":
                self._send_activity(inst, key, entry)
                continue
            child = TaskState(task_id, "sub_orchestration", entry["name"], entry["input"],
                              child_id=entry.get("child_id"))
            self._start_child(inst, child)
            records.append(("sent", {"key": key}))
        if records:
            self._commit({inst.id: self._append_many(inst, records)})

    def _send_activity(self, inst: Instance, key: str, entry: dict[str, Any]) -> None:
        if self.inflight >= self.concurrency:
            self.held.append(lambda: self._resume_owed(inst.id, key))
            return
        name = entry["name"]
        fn = self.overrides.get(name)
        if fn is None and name in REGISTRY.activities:
            fn = REGISTRY.activities[name].fn
        self.inflight += 1
        self.pool.submit(self._run_attempt, (inst.id, inst.generation, -1, 0), name, fn,
                         entry["input"], outbox=key)

    def _resume_owed(self, instance_id: str, key: str) -> None:
        """A held-back outbox attempt: still owed by the instance as it is now (it may
        have been released, or continued as new and carried the entry)?"""
        inst = self.instances.get(instance_id)
        if inst is not None and key in inst.outbox:
            self._send_activity(inst, key, inst.outbox[key])

    def _run_attempt(self, key: tuple[str, int, int, int], name: str,
                     fn: Callable[..., Any] | None, data: Any, *, inline: bool = False,
                     outbox: str = "") -> None:
        """Run one attempt (on a pool thread, or inline) and queue its outcome for the
        engine thread."""
        start = time.perf_counter()
        try:
            value, error, was_async = run_activity(name, fn, data)
        except BaseException as exc:
            if inline:  # Ctrl-C or exit on the engine thread stops the engine, as anywhere
                raise
            # on a pool thread (a bug in run_activity, or SystemExit): still report an outcome
            value, error, was_async = None, TaskFailedError(str(exc), error_type=type(exc).__name__), True
        # async activities always run on the pool (asyncio.run needs a thread without a loop)
        seconds = float("inf") if was_async else time.perf_counter() - start
        self.done.put(_Done(*key, value=value, error=error, name=name, seconds=seconds,
                            outbox=outbox))

    # -- outcomes ---------------------------------------------------------------------------

    def collect(self, timeout: float | None) -> bool:
        """Journal the activity outcomes that arrived (waiting up to `timeout` for one)."""
        batch: list[_Done] = []
        try:
            batch.append(self.done.get(timeout=timeout) if timeout else self.done.get_nowait())
        except queue.Empty:
            return False
        while True:
            try:
                batch.append(self.done.get_nowait())
            except queue.Empty:
                if not self.clock.virtual:
                    break
                # Virtual time: everything in flight or held back finishes "at once", as
                # activities do in runtime.direct, so the batch (and its journal order) is
                # not a race.
                self.inflight -= len(batch)
                self._start_held()
                self.inflight += len(batch)
                if len(batch) >= self.inflight:
                    break
                batch.append(self.done.get())
        self.inflight -= len(batch)
        for d in batch:
            (self.quick if d.seconds < self.inline_below else self.slow).add(d.name)
        batch.sort(key=lambda d: (d.instance, d.task))
        items: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for d in batch:
            inst = self.instances.get(d.instance)
            owed = d.outbox or f"{d.generation}:{d.task}"
            if inst is not None and owed in inst.outbox and (d.outbox or inst.ended
                                                             or inst.generation != d.generation):
                # fire and forget, after the end: the outcome only says it ran
                sent: dict[str, Any] = {"key": owed}
                if d.error is not None:
                    sent["error"] = error_json(d.error)
                items.setdefault(inst.id, []).append(("sent", sent))
                continue
            if inst is None or inst.ended or inst.generation != d.generation:
                continue
            t = inst.table.tasks.get(d.task)
            if t is None or t.done or t.attempt != d.attempt:
                continue
            tie = inst.journal.next_seq if inst.journal else 0
            items.setdefault(inst.id, []).append(self._outcome(inst, t, d.value, d.error, tie))
        # An instance's outcomes that arrived together are one event: one write, so a
        # crash cannot leave half of the group (when_any's winner depends on the group).
        records = {i: self._append_many(self.instances[i], group) for i, group in items.items()}
        self._commit(records)
        self._start_held()
        return True

    def _outcome_record(self, inst: Instance, t: TaskState, value: Any,
                        error: TaskFailedError | None) -> Record:
        return self._append(inst, *self._outcome(inst, t, value, error))

    def _outcome(self, inst: Instance, t: TaskState, value: Any, error: TaskFailedError | None,
                 tie: int | None = None) -> tuple[str, dict[str, Any]]:
        """A `result`, or a `retry` when the policy allows another attempt. Results that
        arrived together share `tie` (the seq of the first): `when_any` treats them as
        completed by one event, and the lowest index wins."""
        extra = {} if tie is None else {"tie": tie}
        if error is not None and t.retry is not None and t.attempt < t.retry.max_attempts:
            now = self._now(inst)
            fire_at = now + t.retry.delay_before(t.attempt + 1)
            first = parse_iso(t.first_at) if t.first_at else now
            timeout = t.retry.retry_timeout
            if timeout is None or fire_at - first <= timeout:
                return "retry", {"task": t.id, "attempt": t.attempt + 1,
                                 "fire_at": iso(fire_at), "error": error_json(error)}
        if error is not None:
            return "result", {"task": t.id, "error": error_json(error), **extra}
        return "result", {"task": t.id, "value": value, **extra}

    def _commit(self, records: dict[str, list[Record]], *, synced: bool = False) -> None:
        """fsync the touched journals once, then apply and advance (group commit). The
        instances that end meanwhile are made durable together at the end, before their
        parents hear of it (`_finish`)."""
        insts = [self.instances[i] for i in records]
        if not synced:
            self._sync(insts)
        outermost = self.ending is None
        if outermost:
            self.ending = []
        try:
            for inst in insts:
                for rec in records[inst.id]:
                    inst.apply(rec)
                self._start_pending(inst)
                self.advance(inst)
        finally:
            if outermost:
                ended, self.ending = self.ending or [], None
        if outermost and ended:
            self._sync(ended)
            for inst in ended:
                self._ended(inst)

    # -- timers -------------------------------------------------------------------------------

    def fire_due(self) -> bool:
        """Fire every due timer and retry wait; with none due, deliver held outcomes of
        ended sub-orchestrations (`_deliver_children`). False if there was nothing to do."""
        if (self.clock.virtual and self.inflight) or not (self.timers or self.child_ends):
            return False
        now = iso(self.clock.now())
        records: dict[str, list[Record]] = {}
        fired = False
        while self.timers and self.timers[0][0] <= now:
            fire_at, instance_id, task_id, generation = heapq.heappop(self.timers)
            inst = self.instances.get(instance_id)
            if inst is None or inst.ended or inst.generation != generation:
                continue
            t = inst.table.tasks.get(task_id)
            if t is None or t.done or t.fire_at != fire_at:
                continue
            fired = True
            if t.kind == "timer":
                records.setdefault(inst.id, []).append(self._append(inst, "timer", {"task": t.id}))
            else:  # a retry wait is over: the next attempt runs (no record needed)
                t.fire_at = None
                if t.kind == "sub_orchestration":
                    self._start_child(inst, t, start=self._now(inst))
                else:
                    self._start_activity(inst, t)
        if records:
            self._commit(records)
        return fired or self._deliver_children()

    def next_deadline(self) -> str | None:
        """The next timer's fire time, or the end time of a held child if earlier (after
        a restart, a child may have ended later than the clock)."""
        ends = [end.at for held in self.child_ends.values() for end in held.values()]
        child = min(ends) if ends else None
        while self.timers:
            fire_at, instance_id, task_id, generation = self.timers[0]
            inst = self.instances.get(instance_id)
            t = inst.table.tasks.get(task_id) if inst is not None else None
            if (inst is not None and not inst.ended and inst.generation == generation
                    and t is not None and not t.done and t.fire_at == fire_at):
                return fire_at if child is None or fire_at < child else child
            heapq.heappop(self.timers)
        return child

    # -- events and control messages ------------------------------------------------------------

    def deliver_events(self) -> bool:
        """Journal one waiting event for each blocked instance; True if any was delivered."""
        records: dict[str, list[Record]] = {}
        discard: list[tuple[str, str]] = []
        for inst in list(self.instances.values()):
            if not inst.blocked():
                continue
            feed = self.feeds.get(inst.id)
            if feed and inst.events_in < len(feed):
                name, data = feed[inst.events_in]
                records[inst.id] = [self._append(inst, "event", {"name": name, "data": data})]
                continue
            message = self._next_inbox_event(inst)
            if message is not None:
                msg_name, body = message
                records[inst.id] = [self._append(inst, "event", {
                    "name": body["name"], "data": body.get("data"), "msg": msg_name})]
                discard.append((inst.id, msg_name))
        if not records:
            return False
        self._sync(self.instances[i] for i in records)  # before the inbox copies go
        for instance_id, msg_name in discard:
            self.store.discard(instance_id, msg_name)
        self._commit(records, synced=True)
        return True

    def _next_inbox_event(self, inst: Instance) -> tuple[str, dict[str, Any]] | None:
        for msg_name, body in inst.pending_events:
            if msg_name in inst.consumed:
                self.store.discard(inst.id, msg_name)
                continue
            return msg_name, body
        return None

    def poll_inboxes(self) -> None:
        """Read every owned instance's inbox: control messages act now, events queue up."""
        for inst in list(self.instances.values()):
            if inst.ended or not self.store.has_inbox(inst.id):
                inst.pending_events = []
                continue
            events: list[tuple[str, dict[str, Any]]] = []
            for msg_name, body in self.store.inbox(inst.id):
                kind = body.get("type")
                if kind == "event":
                    events.append((msg_name, body))
                elif kind == "sub_done":
                    self.store.discard(inst.id, msg_name)
                    self._check_child(inst, body.get("task"))
                else:
                    self._control(inst, kind, body)
                    self.store.discard(inst.id, msg_name)
                if inst.ended:
                    break
            inst.pending_events = events

    def _control(self, inst: Instance, kind: Any, body: dict[str, Any]) -> None:
        if inst.ended:
            return
        if kind == "terminate":
            self._finish(inst, "terminated", output=body.get("reason"))
        elif kind == "suspend" and not inst.suspended:
            self._commit({inst.id: [self._append(inst, "suspended", {"reason": body.get("reason")})]})
        elif kind == "resume" and inst.suspended:
            self._commit({inst.id: [self._append(inst, "resumed", {"reason": body.get("reason")})]})

    # -- ending, continuing, children ------------------------------------------------------------

    def _finish(self, inst: Instance, kind: str, *, output: Any = None,
                error: dict[str, Any] | None = None) -> None:
        data: dict[str, Any] = {"custom_status": inst.custom_status}
        if kind == "failed":
            data["error"] = error
        else:
            data["output"] = output
        unsaved = [{"name": t.name, "input": t.input} for t in inst.unsaved if t.kind == "activity"]
        if unsaved:
            data["unsaved_calls"] = unsaved
        owed = self._owed(inst) if kind != "terminated" else []
        if owed:
            data["outbox"] = owed
        rec = self._append(inst, kind, data)
        inst.apply(rec)
        if self.ending is not None:  # inside a group commit: synced with the group
            self.ending.append(inst)
            return
        self._sync([inst])
        self._ended(inst)

    def _ended(self, inst: Instance) -> None:
        """The instance's end is durable: tell its parent, and send what it owes."""
        self._notify_parent(inst)
        if inst.outbox:
            self._send_outbox(inst)

    def _continue_as_new(self, inst: Instance, new_input: Any) -> None:
        """Start the next generation: a fresh journal (same id), unconsumed events carried."""
        assert inst.journal is not None and inst.mdef is not None
        folder = inst.journal.folder
        calls = activity_calls_of(folder) + [
            (t.name or "", t.input) for t in inst.unsaved if t.kind == "activity"]
        line = json.dumps({"generation": inst.generation, "input": inst.input,
                           "calls": [list(c) for c in calls]})
        with open(folder / "generations.jsonl", "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        carry = [[name, data] for name, q in inst.buffered.items() for data, _, _ in q]
        data = {"name": inst.name, "input": new_input, "graph_hash": inst.mdef.graph_hash,
                "source": inst.mdef.source, "parent": inst.parent, "attempt": inst.attempt,
                "generation": inst.generation + 1, "carry": carry,
                "events_in": inst.events_in, "start": iso(inst.now)}
        owed = list(inst.outbox.values()) + self._owed(inst)  # fire and forget: carried over
        if owed:
            data["outbox"] = owed
        for t in inst.table.tasks.values():  # running here: their outcomes send them
            if t.kind == "activity" and t.started and not t.done and t.fire_at is None:
                self.sending.setdefault(inst.id, set()).add(f"{inst.generation}:{t.id}")
        staging = folder / "next"
        staging.mkdir(exist_ok=True)
        Journal.create(staging, iso(self._now(inst)), data).close()
        inst.journal.close()
        os.replace(staging / "journal", folder / "journal")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / "head")
        os.rmdir(staging)
        self.writes += 1
        journal = Journal.open(folder)
        fresh = Instance.restore(inst.id, journal, inst.mdef)
        fresh.pending_events = inst.pending_events
        self.instances[inst.id] = fresh
        if self.crash_after is not None and self.writes >= self.crash_after:
            raise SimulatedCrash(f"simulated crash after {self.writes} journal writes")
        self.advance(fresh)
        if fresh.outbox and not fresh.ended:
            self._send_outbox(fresh)

    def _start_child(self, parent: Instance, t: TaskState, start: datetime | None = None) -> None:
        """Create and run the child of sub-orchestration `t`, on a clock from `start` (a
        retry's fire time; default: the parent's time)."""
        t.started = True
        if t.fire_at is not None:  # waiting for a retry attempt: fire_due starts it
            heapq.heappush(self.timers, (t.fire_at, parent.id, t.id, parent.generation))
            return
        assert t.child_id is not None and t.name is not None
        child_id = t.child_id
        begin = iso(start if start is not None else parent.now)
        mdef = self.machines(t.name)
        if mdef is None:
            self._hold(parent, t, begin, error=TaskFailedError(
                f"no orchestrator named {t.name!r} is registered",
                error_type="OrchestrationError", task_name=t.name))
            return
        try:
            validate_id(child_id)
        except ValueError as exc:
            self._hold(parent, t, begin, error=TaskFailedError(
                str(exc), error_type="OrchestrationError", task_name=t.name))
            return
        data = {"name": t.name, "input": t.input, "graph_hash": mdef.graph_hash,
                "source": mdef.source,
                "parent": {"id": parent.id, "task": t.id, "generation": parent.generation},
                "attempt": t.attempt, "generation": 0, "start": begin}
        if not self.store.create(child_id, begin, data) and self._stale_child(
                child_id, t.attempt, parent.generation):
            earlier = self._earlier_attempts(child_id, parent.generation)
            self._purge_stale(child_id)
            self.store.create(child_id, begin, data)
            if earlier:
                # as a generations.jsonl line, which all_activity_calls reads; -1: no real
                # generation, so this attempt's own generations are still counted
                line = json.dumps({"generation": -1, "input": None,
                                   "calls": [list(c) for c in earlier]})
                with open(self.store.folder(child_id) / "generations.jsonl", "a",
                          encoding="utf-8") as fh:
                    fh.write(line + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
        if child_id not in self.instances:
            try:
                self.adopt(child_id)
            except (JournalError, VersionMismatchError, OrchestrationError) as exc:
                self.errors.append(str(exc))
        self._check_child(parent, t.id)

    def _purge_stale(self, instance_id: str) -> None:
        """Purge a stale child, and first the sub-orchestrations it started: a new
        incarnation starts them under the same ids, attempts and generations, and would
        take the old ones for its own (regression 014). Children first, so that after a
        crash in between the child is still there, still stale, and purged again."""
        for kid in self._children_of(instance_id):
            self._purge_stale(kid)
        if instance_id in self.instances:
            self.release(instance_id)  # our own lock would block the purge's
        lock = self.store.lock(instance_id, blocking=True)
        if lock is not None:
            self.store.purge(instance_id)
            lock.release()

    def adopt_descendants(self, instance_id: str) -> None:
        """Adopt every sub-orchestration below `instance_id` that no one else runs."""
        stack = [instance_id]
        while stack:
            for kid in self._children_of(stack.pop()):
                if kid not in self.instances:
                    try:
                        self.adopt(kid)
                    except (JournalError, VersionMismatchError, OrchestrationError) as exc:
                        self.errors.append(str(exc))
                stack.append(kid)

    def _children_of(self, instance_id: str) -> list[str]:
        """The sub-orchestrations `instance_id` started that the store still holds: those
        its journal names and those with a default id (`{instance_id}:{task}`, also from
        earlier generations), each only if its `created` record names it as the parent."""
        named: set[str] = set()
        with contextlib.suppress(OSError, JournalError):
            for rec in iter_records(self.store.folder(instance_id)):
                if rec.kind == "checkpoint":
                    named.update(t["child_id"] for t in rec.data["tasks"] if t.get("child_id"))
        named.update(i for i in self.store.ids() if i.startswith(f"{instance_id}:"))
        kids = []
        for kid in sorted(named):
            try:
                first = next(iter_records(self.store.folder(kid)))
            except (StopIteration, OSError, JournalError):
                continue
            if (first.data.get("parent") or {}).get("id") == instance_id:
                kids.append(kid)
        return kids

    def _earlier_attempts(self, child_id: str, generation: int) -> list[tuple[str, Any]]:
        """Activity calls of the stale `child_id` when it is an earlier attempt of this
        parent generation's task (purging it must not lose them: every execution counts,
        as for a retried activity); none when it is an earlier parent generation's, whose
        calls the parent's generations.jsonl holds."""
        folder = self.store.folder(child_id)
        try:
            first = next(iter_records(folder))
        except (StopIteration, OSError, JournalError):
            return []
        if (first.data.get("parent") or {}).get("generation", 0) != generation:
            return []
        return all_activity_calls(folder)

    def _stale_child(self, child_id: str, attempt: int, generation: int) -> bool:
        """Is the existing `child_id` left from an earlier attempt or parent generation?"""
        if child_id in self.instances:
            child = self.instances[child_id]
            origin = (child.attempt, (child.parent or {}).get("generation", 0))
            if origin == (attempt, generation):
                return False
            self.release(child_id)
            return True
        try:
            first = next(iter_records(self.store.folder(child_id)))
        except (StopIteration, OSError):
            return False
        parent = first.data.get("parent") or {}
        return (int(first.data.get("attempt", 1)), parent.get("generation", 0)) != (attempt, generation)

    def _check_child(self, parent: Instance, task_id: Any) -> None:
        """If the child of sub-orchestration `task_id` has ended, hold its outcome for
        `_deliver_children`."""
        t = parent.table.tasks.get(task_id) if isinstance(task_id, int) else None
        if t is None or t.done or t.kind != "sub_orchestration" or t.child_id is None:
            return
        child = self.instances.get(t.child_id)
        if child is not None and self.ending and child in self.ending:
            return  # its end is not durable yet: the group's sync notifies the parent
        status = read_status(self.store, t.child_id) if child is None else _status_of(child)
        if status is None or status["runtimeStatus"] not in FINAL.values():
            return
        if status.get("attempt", 1) != t.attempt or (
                (status.get("parent") or {}).get("generation", 0) != parent.generation):
            return
        at = child.last_update if child is not None else status["lastUpdatedTime"]
        if status["runtimeStatus"] == "Completed":
            self._hold(parent, t, at, value=status["output"])
            return
        err = status.get("error") or {"type": "Terminated", "message": "terminated"}
        if status["runtimeStatus"] == "Terminated":
            err = {"type": "Terminated", "message": f"sub-orchestration {t.child_id} was terminated"}
        self._hold(parent, t, at, error=TaskFailedError(err["message"], error_type=err["type"],
                                                        task_name=t.name))

    def _hold(self, parent: Instance, t: TaskState, at: str, *, value: Any = None,
              error: TaskFailedError | None = None) -> None:
        self.child_ends.setdefault(parent.id, {})[t.id] = _ChildEnd(
            parent.generation, t.attempt, at, value, error)

    def _deliver_children(self) -> bool:
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
        now = iso(self.clock.now())
        due = {parent_id: [task_id for task_id, end in held.items() if end.at <= now]
               for parent_id, held in self.child_ends.items()}
        due = {parent_id: task_ids for parent_id, task_ids in due.items() if task_ids}
        if not due:
            return False
        waiting: set[str] = set()  # ancestors of a parent with a due outcome
        for parent_id in due:
            inst = self.instances.get(parent_id)
            while inst is not None and inst.parent is not None and inst.parent["id"] not in waiting:
                waiting.add(inst.parent["id"])
                inst = self.instances.get(inst.parent["id"])
        records: dict[str, list[Record]] = {}
        for parent_id in [p for p in due if p not in waiting]:
            held = self.child_ends[parent_id]
            task_id = min(due[parent_id])
            end = held.pop(task_id)
            if not held:
                del self.child_ends[parent_id]
            parent = self.instances.get(parent_id)
            t = parent.table.tasks.get(task_id) if parent is not None else None
            if (parent is None or parent.ended or parent.generation != end.generation
                    or t is None or t.done or t.attempt != end.attempt):
                continue
            records[parent_id] = [self._outcome_record(parent, t, end.value, end.error)]
        if records:
            self._commit(records)
        return True

    def _notify_parent(self, inst: Instance) -> None:
        if inst.parent is None:
            return
        parent = self.instances.get(inst.parent["id"])
        if parent is not None:
            self._check_child(parent, inst.parent["task"])
            return
        if self.store.exists(inst.parent["id"]):
            status = read_status(self.store, inst.parent["id"])
            if status is not None and status["runtimeStatus"] not in FINAL.values():
                self.store.post(inst.parent["id"], {"type": "sub_done", "task": inst.parent["task"],
                                                    "child": inst.id})

    # -- the loop --------------------------------------------------------------------------------

    def run(self, until: Callable[[], bool], on_idle: Callable[[], None] | None = None) -> bool:
        """Work until `until()`; False if nothing can ever progress (virtual clock, stuck)."""
        while not until():
            if self.collect(None) or self.fire_due():
                continue
            if time.monotonic() - self.last_poll > POLL or not self.inflight:
                self.last_poll = time.monotonic()
                self.poll_inboxes()
                if on_idle is not None:
                    on_idle()
                if until():
                    break
                if self.deliver_events():
                    continue
            if self.inflight:
                self.collect(self._wait_time())
                continue
            deadline = self.next_deadline()
            if self.clock.virtual:
                if deadline is None:
                    return False
                self.clock.advance_to(parse_iso(deadline))
                continue
            self.collect(self._wait_time())
        return True

    def _wait_time(self) -> float:
        deadline = self.next_deadline()
        if deadline is None or self.clock.virtual:
            return POLL
        left = (parse_iso(deadline) - self.clock.now()).total_seconds()
        return max(0.001, min(POLL, left))


def _status_of(inst: Instance) -> dict[str, Any]:
    return {"runtimeStatus": inst.status, "output": inst.output, "error": inst.error,
            "attempt": inst.attempt, "parent": inst.parent}


# -- in-process runs ---------------------------------------------------------------------------


def created_data(mdef: MachineDef, input: Any, ts: str) -> dict[str, Any]:
    """The `created` record of a new top-level instance."""
    return {"name": mdef.name, "input": input, "graph_hash": mdef.graph_hash,
            "source": mdef.source, "parent": None, "generation": 0, "start": ts}


def create_instance(store: Store, mdef: MachineDef, input: Any, instance_id: str, ts: str) -> bool:
    return store.create(instance_id, ts, created_data(mdef, input, ts))


def run_inline(
    mdef: MachineDef, input: Any = None, *, store: Path | str, instance_id: str | None = None,
    activities: Mapping[str, Callable[..., Any]] | None = None,
    events: Sequence[tuple[str, Any]] = (), clock: Clock | None = None,
    crash_after_writes: int | None = None, concurrency: int = 16,
) -> RunResult:
    """Run (or resume, when the id exists) an instance to its end in this process.

    `activities` overrides registered activities by name. `events` are delivered one at a
    time while the instance waits (as `runtime.direct` does); on resume, those already
    journaled are skipped. The clock defaults to a virtual one, so timers never sleep;
    under it, sub-orchestrations the instance started and no longer waits for are run to
    their ends too (as `runtime.direct` runs them). Under a real clock the run returns
    when the instance ends, and `RunResult.unfinished` names the children still running.
    `crash_after_writes=n` raises SimulatedCrash right after the n-th journal write.
    """
    st = Store(store)
    st.ensure()
    clock = clock if clock is not None else VirtualClock()
    instance_id = validate_id(instance_id) if instance_id is not None else uuid.uuid4().hex
    if activities is not None:  # overrides rebuild dataclass inputs as registered ones do
        activities = {name: typed_activity(fn) for name, fn in activities.items()}
    engine = Engine(st, clock=clock, activities=activities, concurrency=concurrency,
                    crash_after_writes=crash_after_writes,
                    machines=lambda name: mdef if name == mdef.name else machine_for(name))
    crashed = False
    try:
        if not st.exists(instance_id):
            create_instance(st, mdef, boundary(input, f"input of orchestrator {mdef.name}"),
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
            if not root.ended or root.outbox:
                return False
            return not clock.virtual or all(
                other.ended and not other.outbox for other in engine.instances.values())

        progressed = engine.run(finished)
        inst = engine.instances[instance_id]
        unfinished = sorted(i for i, other in engine.instances.items()
                            if i != instance_id and not other.ended)
    except SimulatedCrash:
        crashed = True
        raise
    finally:
        engine.close(wait=not crashed)
    folder = st.folder(instance_id)
    error = (inst.error["type"], inst.error["message"]) if inst.error else None
    status = inst.status if progressed or inst.ended else "Stuck"
    output = inst.output if inst.status != "Terminated" else None
    return RunResult(status, output, error, instance_id, inst.custom_status, folder, unfinished)
