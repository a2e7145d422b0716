"""The journal runtime's OrchestrationContext and its task table.

Semantics match `runtime.direct` (the reference the differential tests compare with):
task ids from a counter kept in the checkpoint; `current_utc_datetime` is the journaled
time of the event being processed; `new_uuid()` is uuid5 of the instance id and a
counter; boundary values are JSON; `when_all` reports the lowest-index failure once all
children completed; `when_any` completes with the first child to complete in journal
order (ties to the lowest index).
"""

from __future__ import annotations

import os
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from runtime.api import (
    OrchestrationContext,
    OrchestrationError,
    RetryPolicy,
    Task,
    TaskFailedError,
    activity_name,
    deterministic_uuid,
    orchestrator_name,
)
from runtime.boundary_types import rebuild_result, to_json
from runtime.clock import iso, parse_iso
from runtime.entities import critical
from runtime.entities.critical import CriticalSection
from runtime.entities.ids import EntityId, InvalidEntityId
from runtime.limits import INT_BOUND, admitted_scalar, check_value
from runtime.machine import Outcome
from runtime.values import json_copy


def boundary(value: Any, what: str) -> Any:
    """A copy of `value`, as it would come back from JSON; `NotJSONError` naming `what` and
    the place inside it if it is not a plain JSON value (DESIGN.md: a tuple is refused,
    with a hint to use a list, as `runtime.direct` refuses it) or exceeds a limit of
    `runtime.limits` (nesting, lone surrogates, integer digits). Dataclass instances (and
    pydantic models) are encoded as JSON objects first (`runtime.boundary_types`)."""
    if type(value) is int:  # the usual activity input or result: tested here, no call
        if -INT_BOUND < value < INT_BOUND:
            return value
    elif admitted_scalar(value):
        return value  # nothing to walk, copy or refuse
    value = to_json(value)
    check_value(value, what)
    return json_copy(value)


def policy_to_json(policy: RetryPolicy | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    return {
        "max_attempts": policy.max_attempts,
        "first_retry_interval": policy.first_retry_interval.total_seconds(),
        "backoff_coefficient": policy.backoff_coefficient,
        "max_retry_interval": _secs(policy.max_retry_interval),
        "retry_timeout": _secs(policy.retry_timeout),
    }


def policy_from_json(data: dict[str, Any] | None) -> RetryPolicy | None:
    if data is None:
        return None
    return RetryPolicy(
        data["max_attempts"], timedelta(seconds=data["first_retry_interval"]),
        data["backoff_coefficient"], _delta(data["max_retry_interval"]),
        _delta(data["retry_timeout"]),
    )


def _secs(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds()


def _delta(secs: float | None) -> timedelta | None:
    return None if secs is None else timedelta(seconds=secs)


@dataclass
class TaskState:
    """One task in the instance's table: what it is, and how it ended once it has."""

    id: int
    kind: str  # activity, sub_orchestration, timer, event, when_all, when_any, event_timeout
    name: str | None = None
    input: Any = None
    children: tuple[int, ...] = ()
    retry: RetryPolicy | None = None
    attempt: int = 1
    first_at: str | None = None  # when the task was scheduled (retry_timeout counts from it)
    fire_at: str | None = None  # a timer's fire time, or when the next retry attempt runs
    child_id: str | None = None  # sub-orchestration instance id
    target: str | None = None  # entity tasks: the entity id
    at: str | None = None  # a scheduled entity signal: deliver no earlier than this
    released: bool = False  # a lock task whose critical section was released
    done: bool = False
    seen: bool = False  # the orchestrator was handed its outcome (Task.is_completed)
    value: Any = None
    error: dict[str, Any] | None = None
    seq: int | None = None  # journal seq of the record that completed it
    ts: str | None = None  # and that record's time
    started: bool = field(default=False, compare=False)  # work begun in this process
    handle: Task[Any] | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind}
        # written out, not a loop of getattr: every checkpoint writes its live tasks
        if self.name is not None:
            out["name"] = self.name
        if self.input is not None:
            out["input"] = self.input
        if self.child_id is not None:
            out["child_id"] = self.child_id
        if self.first_at is not None:
            out["first_at"] = self.first_at
        if self.fire_at is not None:
            out["fire_at"] = self.fire_at
        if self.target is not None:
            out["target"] = self.target
        if self.at is not None:
            out["at"] = self.at
        if self.children:
            out["children"] = list(self.children)
        if self.retry is not None:
            out["retry"] = policy_to_json(self.retry)
            out["attempt"] = self.attempt
        if self.seen:
            out["seen"] = True
        if self.released:
            out["released"] = True
        if self.done:
            out["done"] = {"seq": self.seq, "ts": self.ts}
            if self.error is not None:
                out["done"]["error"] = self.error
            else:
                out["done"]["value"] = self.value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskState:
        t = cls(data["id"], data["kind"], data.get("name"), data.get("input"),
                tuple(data.get("children", ())), policy_from_json(data.get("retry")),
                data.get("attempt", 1), data.get("first_at"), data.get("fire_at"),
                data.get("child_id"), data.get("target"), data.get("at"),
                bool(data.get("released", False)))
        t.seen = bool(data.get("seen", False))
        done = data.get("done")
        if done is not None:
            t.done, t.seq, t.ts = True, done["seq"], done["ts"]
            t.error, t.value = done.get("error"), done.get("value")
        return t


def event_timeout_error(name: str | None, seconds: Any) -> TimeoutError:
    """What `await ctx.wait_for_external_event(name, timeout=...)` raises when the timer
    wins (the same text in both runtimes)."""
    return TimeoutError(f"no event {name!r} arrived within {timedelta(seconds=seconds)}")


def failure_details(exc: BaseException) -> str:
    """The traceback of an orchestrator's exception from the machine's frame on (the
    runtime's own frames above it left out); compiled machines carry the source's line
    numbers, so it names the user's lines. A failed task's remote traceback follows."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_RUNTIME_DIR):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    if isinstance(exc, TaskFailedError) and exc.details:
        text += f"\n{exc.task_name or 'the task'} failed remotely:\n{exc.details}"
    return text


_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def error_json(error: TaskFailedError) -> dict[str, Any]:
    return {"message": error.message, "error_type": error.error_type,
            "details": error.details, "task_name": error.task_name}


def error_from_json(data: dict[str, Any]) -> TaskFailedError:
    return TaskFailedError(data["message"], error_type=data["error_type"],
                           details=data.get("details"), task_name=data.get("task_name"))


class TaskTable:
    """The tasks of one generation of an instance, with group outcomes derived on demand."""

    def __init__(self) -> None:
        self.tasks: dict[int, TaskState] = {}
        self.next_id = 0

    def new(self, kind: str, **fields: Any) -> TaskState:
        state = TaskState(self.next_id, kind, **fields)
        self.tasks[state.id] = state
        self.next_id += 1
        return state

    def handle(self, task_id: int) -> Task[Any]:
        """The one Task object for `task_id` (frames decode their handles through this)."""
        state = self.tasks.get(task_id)
        if state is None:
            raise OrchestrationError(f"the frame refers to task {task_id}, which the checkpoint lacks")
        if state.handle is None:
            state.handle = Task(state.id, state.kind, state.name, state.input,
                                tuple(self.handle(c) for c in state.children), self._view)
        return state.handle

    def _view(self, task: Task[Any]) -> tuple[bool, Any, BaseException | None]:
        state = self.tasks.get(task.id)
        if state is None or not state.seen:
            return False, None, None
        out = self._outcome(task.id)
        return True, out.value, out.error

    def completion(self, task_id: int) -> tuple[int, str] | None:
        """(seq, ts) of the record that completed the task; None while it is pending."""
        t = self.tasks[task_id]
        if t.kind == "when_all":
            marks = [self.completion(c) for c in t.children]
            if any(m is None for m in marks):
                return None
            return max((m for m in marks if m is not None), default=(-1, ""))
        if t.kind in ("when_any", "event_timeout"):
            found: list[tuple[int, str]] = []
            for child in t.children:
                mark = self.completion(child)
                if mark is not None:
                    found.append(mark)
            return min(found) if found else None
        if not t.done:
            return None
        assert t.seq is not None and t.ts is not None
        return t.seq, t.ts

    def outcome(self, task_id: int) -> Outcome:
        """A fresh outcome of a completed task (a new copy for every await), as it is
        delivered to the orchestrator: the task, and what its outcome shows complete (a
        when_all's children, a when_any's winner), count as seen from now on; an event
        awaited with a timeout that timed out stops listening."""
        t = self.tasks[task_id]
        t.seen = True
        if t.kind == "when_all":
            for child in t.children:
                self.outcome(child)
        elif t.kind in ("when_any", "event_timeout"):
            winner = t.children[self._first(t)]
            self.tasks[winner].seen = True
            event = self.tasks[t.children[0]]
            if t.kind == "event_timeout" and winner != event.id and not event.done:
                timer = self.tasks[winner]
                assert timer.seq is not None and timer.ts is not None
                # after the timer in journal order, so the timer stays the winner
                complete(event, timer.seq + 1, timer.ts, error={
                    "message": "timed out", "error_type": "TimeoutError", "details": None,
                    "task_name": event.name})
        return self._outcome(task_id)

    def _first(self, t: TaskState) -> int:
        """The index of the group's child that completed first (ties: the lowest index)."""
        best: tuple[int, int] | None = None
        for index, child in enumerate(t.children):
            mark = self.completion(child)
            if mark is not None and (best is None or mark[0] < best[0]):
                best = (mark[0], index)
        assert best is not None
        return best[1]

    def _outcome(self, task_id: int) -> Outcome:
        t = self.tasks[task_id]
        if t.kind == "when_all":
            for child in t.children:
                out = self._outcome(child)
                if out.error is not None:
                    return out
            return Outcome(value=[self._outcome(c).value for c in t.children])
        if t.kind == "when_any":
            return Outcome(value=self.handle(t.children[self._first(t)]))
        if t.kind == "event_timeout":
            if self._first(t) == 0:
                return self._outcome(t.children[0])
            return Outcome(error=event_timeout_error(t.name, t.input))
        if t.error is not None:
            return Outcome(error=error_from_json(t.error))
        return Outcome(value=rebuild_result(t.kind, t.name, json_copy(t.value)))

    def live(self, roots: Iterable[int]) -> list[TaskState]:
        """Tasks a checkpoint must keep: pending ones, `roots`, and their children."""
        keep: set[int] = set()
        stack = [t.id for t in self.tasks.values() if (not t.done and t.kind not in (
            "when_all", "when_any", "event_timeout")) or (t.kind == "lock" and not t.released)]
        stack.extend(roots)
        while stack:
            tid = stack.pop()
            if tid in keep or tid not in self.tasks:
                continue
            keep.add(tid)
            stack.extend(self.tasks[tid].children)
        return [self.tasks[i] for i in sorted(keep)]


def _ignore(task: TaskState) -> None:
    """`JournalContext.on_new` when nobody is told of new tasks."""


class JournalContext(OrchestrationContext):
    """What a machine sees while the executor runs one of its steps."""

    def __init__(self, instance_id: str, table: TaskTable, now: datetime,
                 buffered: dict[str, deque[tuple[Any, int, str]]], next_uuid: int = 0, *,
                 input: Any = None, parent_id: str | None = None,
                 on_new: Callable[[TaskState], None] | None = None) -> None:
        self._instance_id = instance_id
        self._input = input
        self._parent_id = parent_id
        self.table = table
        self.now = now
        self.buffered = buffered
        self.next_uuid = next_uuid
        self.custom_status: Any = None
        self.continued: tuple[Any] | None = None
        self.on_new: Callable[[TaskState], None] = on_new if on_new is not None else _ignore

    @property
    def instance_id(self) -> str:
        return self._instance_id

    @property
    def parent_instance_id(self) -> str | None:
        return self._parent_id

    @property
    def current_utc_datetime(self) -> datetime:
        return self.now

    def get_input(self) -> Any:
        return json_copy(self._input)

    def _new(self, kind: str, **fields: Any) -> Task[Any]:
        state = self.table.new(kind, **fields)
        self.on_new(state)
        return self.table.handle(state.id)

    def call_activity(self, activity: Callable[..., Any] | str, input: Any = None, *,
                      retry: RetryPolicy | None = None) -> Task[Any]:
        name = activity_name(activity)
        data = boundary(input, f"input of activity {name}")
        return self._new("activity", name=name, input=data, retry=retry, first_at=iso(self.now))

    def call_sub_orchestrator(self, orchestrator: Callable[..., Any] | str, input: Any = None, *,
                              instance_id: str | None = None,
                              retry: RetryPolicy | None = None) -> Task[Any]:
        name = orchestrator_name(orchestrator)
        critical.check_sub_orchestration(self._active(), name)
        data = boundary(input, f"input of sub-orchestration {name}")
        child = instance_id if instance_id is not None else f"{self._instance_id}:{self.table.next_id}"
        return self._new("sub_orchestration", name=name, input=data, retry=retry,
                         first_at=iso(self.now), child_id=child)

    def create_timer(self, fire_at: datetime) -> Task[None]:
        if not isinstance(fire_at, datetime) or fire_at.tzinfo is None:
            raise OrchestrationError(f"create_timer needs a timezone-aware datetime, got {fire_at!r}")
        return self._new("timer", input=fire_at.isoformat(), fire_at=iso(fire_at),
                         first_at=iso(self.now))

    def wait_for_external_event(self, name: str, *, timeout: timedelta | None = None) -> Task[Any]:
        seconds = check_timeout(name, timeout)
        task = self._new("event", name=name, first_at=iso(self.now))
        queue = self.buffered.get(name)
        if queue:
            data, seq, ts = queue.popleft()
            if not queue:
                del self.buffered[name]
            complete(self.table.tasks[task.id], seq, ts, value=data)
        if seconds is None:
            return task
        timer = self.sleep(timedelta(seconds=seconds))
        return self._new("event_timeout", name=name, input=seconds,
                         children=(task.id, timer.id))

    def when_all(self, tasks: Iterable[Task[Any]]) -> Task[list[Any]]:
        return self._group("when_all", tasks)

    def when_any(self, tasks: Iterable[Task[Any]]) -> Task[Task[Any]]:
        return self._group("when_any", tasks)

    def _group(self, kind: str, tasks: Iterable[Task[Any]]) -> Task[Any]:
        children = tuple(tasks)
        for child in children:
            if not isinstance(child, Task) or self.table.tasks.get(child.id) is None:
                raise OrchestrationError(
                    f"{kind} takes tasks from this context, got {type(child).__name__}")
        return self._new(kind, children=tuple(c.id for c in children))

    # -- entities ----------------------------------------------------------------------

    def call_entity(self, entity_id: str, operation: str, input: Any = None) -> Task[Any]:
        target = entity_target(entity_id, operation)
        active = self._active()
        critical.check_call(active, target, active is not None and any(
            t.kind == "entity_call" and t.target == target and not t.seen
            for t in self.table.tasks.values()))
        data = boundary(input, f"input of operation {operation!r} of entity {target}")
        return self._new("entity_call", name=operation, input=data, target=target,
                         first_at=iso(self.now))

    def signal_entity(self, entity_id: str, operation: str, input: Any = None, *,
                      at: datetime | None = None) -> None:
        target = entity_target(entity_id, operation)
        critical.check_signal(self._active(), target)
        if at is not None and (not isinstance(at, datetime) or at.tzinfo is None):
            raise OrchestrationError(f"signal_entity(at=...) needs a timezone-aware datetime, "
                                     f"got {at!r}")
        data = boundary(input, f"input of operation {operation!r} of entity {target}")
        # a task of the journal's (sent with the checkpoint, completed once posted), but
        # not the caller's: a signal is one-way (`OrchestrationContext.signal_entity`)
        self._new("entity_signal", name=operation, input=data, target=target,
                  at=iso(at) if at is not None else None, first_at=iso(self.now))

    def lock_entities(self, *entity_ids: str) -> CriticalSection:
        return CriticalSection(critical.sorted_ids(entity_ids))

    def _active(self) -> critical.Active | None:
        for t in self.table.tasks.values():
            if t.kind == "lock" and not t.released:
                return critical.Active(frozenset(t.input), t.seen)  # granted: awaited
        return None

    def _acquire(self, cs: CriticalSection) -> Task[None]:
        if cs.lock_task is not None:
            raise OrchestrationError(f"{cs!r}: acquire() may be called once")
        critical.check_acquire(self._active(), cs.ids)
        task: Task[None] = self._new("lock", input=list(cs.ids), first_at=iso(self.now))
        cs.lock_task = task.id
        return task

    def _release(self, cs: CriticalSection) -> None:
        lock = self.table.tasks.get(cs.lock_task) if cs.lock_task is not None else None
        if lock is None or lock.released:
            return
        lock.released = True
        self._new("unlock", name=str(lock.id), input=list(lock.input), first_at=iso(self.now))

    def new_uuid(self) -> str:
        value = deterministic_uuid(self._instance_id, self.next_uuid)
        self.next_uuid += 1
        return value

    def set_custom_status(self, value: Any) -> None:
        self.custom_status = boundary(value, "custom status")

    def continue_as_new(self, input: Any = None) -> None:
        self.continued = (boundary(input, "continue_as_new input"),)


def entity_target(entity_id: str, operation: str) -> str:
    """The id of the entity an orchestration calls or signals, checked (`InvalidEntityId`,
    a ValueError, naming the value)."""
    target = EntityId.parse(entity_id)
    if not isinstance(operation, str) or not operation:
        raise InvalidEntityId(f"invalid operation name {operation!r} for entity {target}")
    return str.__str__(target)


def check_timeout(name: str, timeout: timedelta | None) -> float | None:
    """`timeout` in seconds, or None; refuses what is not a positive timedelta."""
    if timeout is None:
        return None
    if not isinstance(timeout, timedelta) or timeout <= timedelta(0):
        raise OrchestrationError(
            f"wait_for_external_event({name!r}, timeout=...) needs a positive timedelta, "
            f"got {timeout!r}")
    return timeout.total_seconds()


def complete(t: TaskState, seq: int, ts: str, *, value: Any = None,
             error: dict[str, Any] | None = None) -> None:
    t.done, t.seq, t.ts, t.value, t.error = True, seq, ts, value, error


def later(a: datetime, ts: str) -> datetime:
    if not ts:  # a group with no children completes without a record
        return a
    when = parse_iso(ts)
    return when if when > a else a


# The built-in durable HTTP orchestrator and activity must be registered wherever
# orchestrations run, also in a worker that resumes one it did not start.
import runtime.durable_http  # noqa: E402, F401
