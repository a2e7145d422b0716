"""The plain driver: run an orchestrator as an ordinary `async def` against a fake context.

This is the reference semantics tether's differential tests hold the compiled, journaled
runtime to, and a testing utility for users (`tether.testing.run_direct`). Nothing is
journaled and nothing is compiled: the coroutine yields each awaited `Task`, and the driver
sends back its result or throws its `TaskFailedError`.

Semantics (the journal runtime implements the same; keep the two identical):

- Task ids come from a counter in creation order, starting at 0 in each generation; group
  tasks (`when_all`, `when_any`) take ids too.
- Activities run eagerly and synchronously when scheduled (async ones with `asyncio.run`).
  Inputs, results, custom status and the orchestration's input and output cross a JSON
  boundary (`runtime.values.check_json`: plain JSON values only, no tuples) and are copied.
  A non-JSON activity input raises `NotJSONError` at the `call_activity`; a non-JSON result
  fails the task (error type `NotJSONError`); a non-JSON output fails the run. An activity exception becomes `TaskFailedError(str(exc),
  error_type=type(exc).__name__, details=<traceback>, task_name=<activity name>)`; a failed
  attempt with a `RetryPolicy` waits `delay_before(n)` on the virtual clock (like a timer)
  and runs again, until `max_attempts` or `retry_timeout` (measured from the first attempt).
  An unregistered activity fails its task with error type `OrchestrationError`.
- The clock is virtual. `current_utc_datetime` is the time of the event being processed:
  `start`, then the fire time of each fired timer and the end time of each ended
  sub-orchestration (never earlier than the clock already is).
- While the orchestrator waits on a task that is not complete, the driver processes one
  event at a time until it is: first a timer (or retry wait) already due (earliest
  `fire_at`, then lowest id); else a sub-orchestration that has ended by now (lowest id);
  else the next external event from `events`, delivered to the earliest-created pending
  `wait_for_external_event` of that name or buffered for a later one; else it moves the
  clock to the earliest future timer or sub-orchestration end. With nothing left, the
  run ends as "Stuck".
- `when_all` completes once every child completed: with the children's results in task
  order, or with the lowest-index failed child's error. `when_any` completes as soon as a
  child has completed, with that child Task; children that completed by the same event
  (activities scheduled together) tie, and the lowest index wins.
- Awaiting a task again gives its result again (a fresh copy, as a journal decodes it).
- `new_uuid()` is `uuid5(NAMESPACE_URL, f"{instance_id}:{n}")`, n counting from 0 in each
  generation.
- `continue_as_new(input)`: when the orchestrator returns, the run starts over with the
  new input, the same instance id, no tasks and the external events not yet consumed
  (delivered and buffered ones included); each generation's input is recorded.
- Sub-orchestrations run to their end when scheduled, recursively, on a clock starting
  at the parent's current time (a retry's: its fire time), with no external events,
  under `instance_id` or `f"{parent_id}:{task_id}"`. Their activity calls go into the
  same call list. The parent sees the child's end as an event at the child's end time
  (the time of the last event the child processed, across its `continue_as_new`
  generations), also when the child's clock never moved. So after
  `await ctx.call_sub_orchestrator(child)` the parent's clock is the child's end time,
  and `when_any` of a child and a timer takes whichever comes first in time.
- One rule for a single instant (issue 4): the parent's due timers fire before the ends
  of its sub-orchestrations are processed, and sub-orchestrations that ended at the same
  instant are processed one at a time, lowest task id first (so a `when_any` over them
  takes the lowest id, whatever its index). A child's end is a message the child sends
  once it has processed its own events of that instant, so it reaches the parent after
  the parent's own timers of that instant; the journal runtime holds children's
  outcomes until everything else due at the instant is done, then delivers them so.
- A failed child fails its task with the child's error type and message; with a
  `RetryPolicy` the next attempt waits `delay_before(n)` from the failed attempt's end
  (`retry_timeout` measured from the first attempt's start). A stuck child never
  completes its task.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import traceback
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from runtime import limits, values
from runtime.api import (
    REGISTRY,
    OrchestrationContext,
    OrchestrationError,
    RetryPolicy,
    Task,
    TaskFailedError,
    activity_name,
    deterministic_uuid,
    orchestrator_name,
)
from runtime.boundary_types import rebuild_input, rebuild_result, to_json, typed_activity
from runtime.context import check_timeout, entity_target, event_timeout_error
from runtime.entities import critical
from runtime.entities.critical import CriticalSection
from runtime.entities.direct import DirectEntities
from runtime.machine import Frame, MachineDef, Outcome, Return

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)
MAX_GENERATIONS = 100
MAX_AWAITS = 100_000


@dataclass
class DirectResult:
    """How a direct run ended. `error` is (type name, message) when status is "Failed"."""

    status: str
    output: Any = None
    error: tuple[str, str] | None = None
    activity_calls: list[tuple[str, Any]] = field(default_factory=list)
    custom_status: Any = None
    instance_id: str = "direct"
    generations: list[Any] = field(default_factory=list)
    waiting_on: str | None = None
    ended_at: datetime | None = None  # the virtual time of the last event processed
    entities: dict[str, Any] = field(default_factory=dict)  # every entity's state at the end


def json_copy(value: Any, what: str) -> Any:
    """A fresh copy of `value`, which must be a plain JSON value once dataclasses and
    pydantic models are encoded (`NotJSONError` naming `what` otherwise, or past a limit of
    `runtime.limits`): what a journal would give back."""
    value = to_json(value)
    limits.check_value(value, what)
    return values.json_copy(value)


def _copy_value(value: Any) -> Any:
    # Values are JSON-clean by now, except that group results may hold Task handles,
    # which keep their identity.
    if isinstance(value, list):
        return [_copy_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy_value(v) for k, v in value.items()}
    return value


def _accepts_input(fn: Callable[..., Any], skip: int) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())[skip:]
    except (TypeError, ValueError):
        return True
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params
    )


@dataclass
class _Pending:
    """Work for a virtual time: a timer, the next attempt of a retry, or (`child`) the
    end of a sub-orchestration, which the parent processes after its due timers."""

    fire_at: datetime
    task_id: int
    fire: Callable[[], None]
    child: bool = False


# What one attempt gave: its outcome and, for a sub-orchestration, its end time (None:
# complete at once, as activities do); None for a stuck sub-orchestration.
_Attempt = tuple[Outcome, datetime | None] | None


class DirectContext(OrchestrationContext):
    """The fake context: schedules and completes tasks on a virtual clock, eagerly."""

    def __init__(
        self, instance_id: str, *, activities: Mapping[str, Callable[..., Any]],
        events: deque[tuple[str, Any]], start: datetime, calls: list[tuple[str, Any]],
        compiled: bool = False, input: Any = None, parent_id: str | None = None,
        entities: DirectEntities | None = None,
    ) -> None:
        self.compiled = compiled
        self.entities = entities if entities is not None else DirectEntities()
        self._targets: dict[int, str] = {}  # entity calls: task id -> entity id
        self._lock: tuple[frozenset[str], int] | None = None  # held: ids, lock task
        self._instance_id = instance_id
        self._input = input
        self._parent_id = parent_id
        self._seen: set[int] = set()
        self._handed: dict[int, Outcome] = {}
        self._activities = activities
        self._events = events
        self._now = start
        self.calls = calls
        self._next_id = 0
        self._uuids = 0
        self._outcomes: dict[int, Outcome] = {}
        self.tasks: dict[int, Task[Any]] = {}
        self._groups: list[Task[Any]] = []
        self._pending: list[_Pending] = []
        self._waiters: dict[str, list[Task[Any]]] = {}
        self._buffered: dict[str, deque[Any]] = {}
        self.custom_status: Any = None
        self.continued: tuple[Any] | None = None
        self.closed = False

    # -- the OrchestrationContext face -------------------------------------------------

    @property
    def instance_id(self) -> str:
        return self._instance_id

    @property
    def parent_instance_id(self) -> str | None:
        return self._parent_id

    @property
    def current_utc_datetime(self) -> datetime:
        return self._now

    def get_input(self) -> Any:
        return values.json_copy(self._input)

    def call_activity(
        self, activity: Callable[..., Any] | str, input: Any = None, *,
        retry: RetryPolicy | None = None,
    ) -> Task[Any]:
        name = activity_name(activity)
        data = json_copy(input, f"input of activity {name}")
        task = self._new_task("activity", name, data)
        if not self.closed:
            self._attempt(task, lambda: (self._run_activity(name, data), None), retry,
                          self._now, 1)
        return task

    def call_sub_orchestrator(
        self, orchestrator: Callable[..., Any] | str, input: Any = None, *,
        instance_id: str | None = None, retry: RetryPolicy | None = None,
    ) -> Task[Any]:
        name = orchestrator_name(orchestrator)
        critical.check_sub_orchestration(self._active(), name)
        data = json_copy(input, f"input of sub-orchestration {name}")
        task = self._new_task("sub_orchestration", name, data)
        child_id = instance_id if instance_id is not None else f"{self._instance_id}:{task.id}"
        target = _resolve(orchestrator, self.compiled)
        if not self.closed:
            self._attempt(task, lambda: self._run_child(target, name, data, child_id), retry,
                          self._now, 1)
        return task

    def create_timer(self, fire_at: datetime) -> Task[None]:
        if not isinstance(fire_at, datetime) or fire_at.tzinfo is None:
            raise OrchestrationError(
                f"create_timer needs a timezone-aware datetime, got {fire_at!r}"
            )
        task: Task[None] = self._new_task("timer", None, fire_at.isoformat())
        self._pending.append(_Pending(fire_at, task.id, lambda: self._complete(task, Outcome())))
        return task

    def wait_for_external_event(self, name: str, *, timeout: timedelta | None = None) -> Task[Any]:
        seconds = check_timeout(name, timeout)
        task = self._new_task("event", name, None)
        buffered = self._buffered.get(name)
        if buffered:
            self._complete(task, Outcome(value=buffered.popleft()))
        else:
            self._waiters.setdefault(name, []).append(task)
        if seconds is None:
            return task
        timer = self.sleep(timedelta(seconds=seconds))
        group = self._new_task("event_timeout", name, seconds, (task, timer))
        self._groups.append(group)
        self._settle_groups()
        return group

    def when_all(self, tasks: Iterable[Task[Any]]) -> Task[list[Any]]:
        return self._group("when_all", tasks)

    def when_any(self, tasks: Iterable[Task[Any]]) -> Task[Task[Any]]:
        return self._group("when_any", tasks)

    # -- entities (in memory: runtime.entities.direct) ----------------------------------

    def call_entity(self, entity_id: str, operation: str, input: Any = None) -> Task[Any]:
        target = entity_target(entity_id, operation)
        active = self._active()
        critical.check_call(active, target, active is not None and any(
            t == target and i not in self._seen for i, t in self._targets.items()))
        data = json_copy(input, f"input of operation {operation!r} of entity {target}")
        task = self._new_task("entity_call", operation, data)
        self._targets[task.id] = target
        if not self.closed:
            out = self.entities.call(target, operation, data)
            if out.error is not None:
                self._complete(task, Outcome(error=TaskFailedError(
                    out.error["message"], error_type=out.error["type"],
                    details=out.error.get("details"), task_name=f"{target} {operation}")))
            else:
                self._complete(task, Outcome(value=out.value))
        return task

    def signal_entity(self, entity_id: str, operation: str, input: Any = None, *,
                      at: datetime | None = None) -> None:
        target = entity_target(entity_id, operation)
        critical.check_signal(self._active(), target)
        if at is not None and (not isinstance(at, datetime) or at.tzinfo is None):
            raise OrchestrationError(f"signal_entity(at=...) needs a timezone-aware datetime, "
                                     f"got {at!r}")
        data = json_copy(input, f"input of operation {operation!r} of entity {target}")
        task: Task[None] = self._new_task("entity_signal", operation, data)
        if not self.closed:
            self.entities.signal(target, operation, data, at, self._now)
            self._complete(task, Outcome())
        # one-way: the task keeps the ids in step with the journal runtime's, and the
        # caller gets nothing to await (`OrchestrationContext.signal_entity`)

    def lock_entities(self, *entity_ids: str) -> CriticalSection:
        return CriticalSection(critical.sorted_ids(entity_ids))

    def _active(self) -> critical.Active | None:
        if self._lock is None:
            return None
        return critical.Active(self._lock[0], self._lock[1] in self._seen)  # granted: awaited

    def _acquire(self, cs: CriticalSection) -> Task[None]:
        if cs.lock_task is not None:
            raise OrchestrationError(f"{cs!r}: acquire() may be called once")
        critical.check_acquire(self._active(), cs.ids)
        task: Task[None] = self._new_task("lock", None, list(cs.ids))
        cs.lock_task = task.id
        self._lock = (frozenset(cs.ids), task.id)
        self._complete(task, Outcome())
        return task

    def _release(self, cs: CriticalSection) -> None:
        if self._lock is not None and self._lock[1] == cs.lock_task:
            self._lock = None
            self._complete(self._new_task("unlock", str(cs.lock_task), list(cs.ids)), Outcome())

    def new_uuid(self) -> str:
        value = deterministic_uuid(self._instance_id, self._uuids)
        self._uuids += 1
        return value

    def set_custom_status(self, value: Any) -> None:
        self.custom_status = json_copy(value, "custom status")

    def continue_as_new(self, input: Any = None) -> None:
        self.continued = (json_copy(input, "continue_as_new input"),)

    # -- driving -----------------------------------------------------------------------

    def outcome(self, task: Task[Any]) -> Outcome | None:
        """`task`'s outcome as the program is handed it, or None while it is not complete:
        one object per task, so a second await gives what the first gave (mutations
        included), as in Python. As in the journal runtime (`TaskTable.outcome`), the task
        and what its outcome shows complete count as seen from now on, and an event
        awaited with a timeout that timed out stops listening."""
        if task.id not in self._outcomes:
            return None
        self._mark_seen(task)
        return self._delivered(task)

    def _mark_seen(self, task: Task[Any]) -> None:
        self._seen.add(task.id)
        if task.kind == "when_all":
            for child in task.children:
                self._mark_seen(child)
        elif task.kind in ("when_any", "event_timeout"):
            winner = self._first(task)
            self._seen.add(winner.id)
            event = task.children[0]
            if task.kind == "event_timeout" and winner is not event:
                waiters = self._waiters.get(event.name or "", [])
                if event in waiters:
                    waiters.remove(event)
                    self._outcomes[event.id] = Outcome(error=event_timeout_error(
                        event.name, task.input))

    def _first(self, group: Task[Any]) -> Task[Any]:
        """The child of a when_any / event_timeout that completed first."""
        winner = self._outcomes[group.id].value if group.kind == "when_any" else None
        if isinstance(winner, Task):
            return winner
        return group.children[0] if self._outcomes[group.id].error is None else group.children[1]

    def _delivered(self, task: Task[Any]) -> Outcome:
        """The one outcome the program is handed for `task`: a result rebuilt from the
        activity's or sub-orchestrator's annotations (`runtime.boundary_types`)."""
        handed = self._handed.get(task.id)
        if handed is not None:
            return handed
        out = self._outcomes[task.id]
        if task.kind == "when_all" and out.error is None:
            handed = Outcome(value=[self._delivered(c).value for c in task.children])
        elif task.kind in ("when_any", "event_timeout", "timer", "event") or out.error is not None:
            handed = out
        else:
            handed = Outcome(value=rebuild_result(task.kind, task.name, out.value))
        self._handed[task.id] = handed
        return handed

    def _view(self, task: Task[Any]) -> tuple[bool, Any, BaseException | None]:
        if task.id not in self._seen:
            return False, None, None
        out = self._delivered(task)
        return True, out.value, out.error

    def wait(self, task: Task[Any]) -> Outcome | None:
        """Process events until `task` completes; None if it never can (stuck)."""
        while task.id not in self._outcomes:
            if not self._process_one_event():
                return None
        return self.outcome(task)

    def undelivered_events(self) -> deque[tuple[str, Any]]:
        """Events not yet consumed: buffered ones first, then those not yet delivered."""
        left: deque[tuple[str, Any]] = deque()
        for name, items in self._buffered.items():
            left.extend((name, data) for data in items)
        left.extend(self._events)
        return left

    def _process_one_event(self) -> bool:
        due = [p for p in self._pending if p.fire_at <= self._now]
        if due:  # timers first, then ended sub-orchestrations (see the module docstring)
            self._fire(min(due, key=lambda p: (p.child, p.fire_at, p.task_id)))
            return True
        if self._events:
            name, data = self._events.popleft()
            waiters = self._waiters.get(name)
            if waiters:
                self._complete(waiters.pop(0), Outcome(value=data))
            else:
                self._buffered.setdefault(name, deque()).append(data)
            return True
        if self._pending:
            self._now = max(self._now, min(p.fire_at for p in self._pending))
            return True
        return False

    def _fire(self, pending: _Pending) -> None:
        self._pending.remove(pending)
        self._now = max(self._now, pending.fire_at)
        pending.fire()

    # -- tasks -------------------------------------------------------------------------

    def _new_task(
        self, kind: str, name: str | None, input: Any, children: tuple[Task[Any], ...] = (),
    ) -> Task[Any]:
        task: Task[Any] = Task(self._next_id, kind, name, input, children, self._view)
        self.tasks[task.id] = task
        self._next_id += 1
        return task

    def _group(self, kind: str, tasks: Iterable[Task[Any]]) -> Task[Any]:
        children = tuple(tasks)
        for child in children:
            if not isinstance(child, Task):
                raise OrchestrationError(
                    f"{kind} takes tasks from this context, got {type(child).__name__}"
                )
        task = self._new_task(kind, None, None, children)
        self._groups.append(task)
        self._settle_groups()
        return task

    def _complete(self, task: Task[Any], outcome: Outcome) -> None:
        self._outcomes[task.id] = outcome
        self._settle_groups()

    def _settle_groups(self) -> None:
        # Groups are created after their children, so one pass in creation order settles
        # nested groups bottom-up within the same event.
        for group in list(self._groups):
            outcome = self._group_outcome(group)
            if outcome is not None:
                self._groups.remove(group)
                self._outcomes[group.id] = outcome

    def _group_outcome(self, group: Task[Any]) -> Outcome | None:
        done = [self._outcomes.get(child.id) for child in group.children]
        if group.kind == "event_timeout":
            if done[0] is not None:
                return done[0]
            if done[1] is not None:
                return Outcome(error=event_timeout_error(group.name, group.input))
            return None
        if group.kind == "when_any":
            for child, out in zip(group.children, done, strict=True):
                if out is not None:
                    return Outcome(value=child)
            return None
        if any(out is None for out in done):
            return None
        for out in done:
            assert out is not None
            if out.error is not None:
                return Outcome(error=out.error)
        return Outcome(value=[out.value for out in done if out is not None])

    def _attempt(
        self, task: Task[Any], run: Callable[[], _Attempt], retry: RetryPolicy | None,
        first_at: datetime, attempt: int,
    ) -> None:
        ran = run()
        if ran is None:  # a stuck sub-orchestration: its task never completes
            return
        outcome, ended_at = ran

        def settle() -> None:
            self._settle(task, outcome, run, retry, first_at, attempt)

        if ended_at is None:
            settle()
        else:
            self._pending.append(_Pending(ended_at, task.id, settle, child=True))

    def _settle(
        self, task: Task[Any], outcome: Outcome, run: Callable[[], _Attempt],
        retry: RetryPolicy | None, first_at: datetime, attempt: int,
    ) -> None:
        """Complete `task` with the attempt's outcome, or schedule the next attempt."""
        if outcome.error is None or retry is None or attempt >= retry.max_attempts:
            self._complete(task, outcome)
            return
        fire_at = self._now + retry.delay_before(attempt + 1)
        if retry.retry_timeout is not None and fire_at - first_at > retry.retry_timeout:
            self._complete(task, outcome)
            return
        self._pending.append(_Pending(
            fire_at, task.id, lambda: self._attempt(task, run, retry, first_at, attempt + 1),
        ))

    def _run_activity(self, name: str, data: Any) -> Outcome:
        self.calls.append((name, _copy_value(data)))
        fn = self._activities.get(name)
        if fn is None:
            entry = REGISTRY.activities.get(name)
            if entry is None:
                return Outcome(error=TaskFailedError(
                    f"no activity named {name!r} is registered",
                    error_type="OrchestrationError", task_name=name,
                ))
            fn = entry.fn
        try:
            result = fn(values.json_copy(data)) if _accepts_input(fn, 0) else fn()
            if inspect.iscoroutine(result):
                result = asyncio.run(result)
            return Outcome(value=json_copy(result, f"result of activity {name}"))
        except Exception as exc:
            return Outcome(error=TaskFailedError(
                str(exc), error_type=type(exc).__name__, details=traceback.format_exc(),
                task_name=name,
            ))

    def _run_child(self, target: _Target | None, name: str, data: Any, child_id: str) -> _Attempt:
        if target is None:
            return Outcome(error=TaskFailedError(
                f"no orchestrator named {name!r} is registered",  # as the journal runtime says
                error_type="OrchestrationError", task_name=name,
            )), self._now
        child = _run(target, data, activities=self._activities, events=deque(),
                     start=self._now, instance_id=child_id, calls=self.calls,
                     parent_id=self._instance_id, entities=self.entities)
        ended_at = child.ended_at if child.ended_at is not None else self._now
        if child.status == "Completed":
            return Outcome(value=child.output), ended_at
        if child.status == "Failed" and child.error is not None:
            error_type, message = child.error
            return Outcome(error=TaskFailedError(message, error_type=error_type,
                                                 task_name=name)), ended_at
        return None


_Target = Callable[..., Any] | MachineDef


def _resolve(ref: Callable[..., Any] | str | MachineDef, compiled: bool) -> _Target | None:
    """The plain coroutine function, or the compiled machine, that `ref` names."""
    if isinstance(ref, MachineDef):
        return ref if compiled else _resolve(ref.name, compiled)
    if not isinstance(ref, str):
        mdef = getattr(ref, "__tether_machine__", None)
        if compiled and isinstance(mdef, MachineDef):
            return mdef
        if not compiled and inspect.iscoroutinefunction(ref):
            return ref
    entry = REGISTRY.orchestrators.get(orchestrator_name(ref))
    if entry is None:
        return None
    target = entry.machine if compiled else entry.fn
    return target if isinstance(target, MachineDef) or callable(target) else None


def run_direct(
    orchestrator_fn: Callable[..., Coroutine[Any, Any, Any]] | str | MachineDef,
    input: Any = None,
    *,
    activities: Mapping[str, Callable[..., Any]] | None = None,
    events: Sequence[tuple[str, Any]] = (),
    start: datetime = DEFAULT_START,
    instance_id: str = "direct",
    entities: DirectEntities | None = None,
) -> DirectResult:
    """Run an `@orchestrator async def` to its end as plain Python against `DirectContext`.

    `activities` overrides registered activities by name. Given a compiled `MachineDef`,
    runs the machine instead, on the same context, its frame saved and restored through
    the frame codec at every suspension (sub-orchestrations then run compiled).
    Entities live in memory (`runtime.entities.direct`): `entities` shares them between
    runs; the result's `entities` are their states once every scheduled signal applied.
    """
    target = _resolve(orchestrator_fn, isinstance(orchestrator_fn, MachineDef))
    if target is None:
        raise OrchestrationError(f"no orchestrator named {orchestrator_fn!r} is registered")
    overrides = {name: typed_activity(fn) for name, fn in (activities or {}).items()}
    store = entities if entities is not None else DirectEntities()
    result = _run(target, input, activities=overrides, events=deque(events),
                  start=start, instance_id=instance_id, calls=[], entities=store)
    store.flush()
    result.entities = store.states()
    return result


def _run(
    target: _Target, input: Any, *, activities: Mapping[str, Callable[..., Any]],
    events: deque[tuple[str, Any]], start: datetime, instance_id: str,
    calls: list[tuple[str, Any]], parent_id: str | None = None,
    entities: DirectEntities | None = None,
) -> DirectResult:
    result = DirectResult("Running", activity_calls=calls, instance_id=instance_id,
                          ended_at=start)
    name = target.name if isinstance(target, MachineDef) else target.__name__
    try:
        current = json_copy(input, f"input of orchestrator {name}")
    except values.NotJSONError as exc:
        return _failed(result, exc)
    now = start
    while True:
        result.generations.append(current)
        ctx = DirectContext(instance_id, activities=activities, events=events, start=now,
                            calls=calls, compiled=isinstance(target, MachineDef),
                            input=current, parent_id=parent_id, entities=entities)
        token = critical.running_in(ctx)
        if isinstance(target, MachineDef):
            _drive_machine(target, current, ctx, result)
        elif _accepts_input(target, 1):
            _drive(target(ctx, rebuild_input(values.json_copy(current), target)), ctx, result)
        else:
            _drive(target(ctx), ctx, result)
        critical.reset(token)
        ctx._lock = None  # a generation's locks end with it, however it ends
        result.custom_status = ctx.custom_status
        result.ended_at = ctx.current_utc_datetime
        if result.status != "Completed" or ctx.continued is None:
            return result
        if len(result.generations) >= MAX_GENERATIONS:
            return _failed(result, OrchestrationError(
                f"continue_as_new ran {MAX_GENERATIONS} generations; stopping the direct run"
            ))
        current = ctx.continued[0]
        events = ctx.undelivered_events()
        now = ctx.current_utc_datetime
        result.output = None


def _completed(result: DirectResult, value: Any) -> None:
    try:
        result.output = json_copy(value, "orchestration output")
    except values.NotJSONError as exc:
        _failed(result, exc)
        return
    result.status = "Completed"


def _drive(coro: Coroutine[Any, Any, Any], ctx: DirectContext, result: DirectResult) -> None:
    """Send results into / throw errors into `coro` until it returns, fails or is stuck."""
    to_send = Outcome()
    for _ in range(MAX_AWAITS):
        try:
            if to_send.error is not None:
                awaited = coro.throw(to_send.error)
            else:
                awaited = coro.send(to_send.value)
        except StopIteration as stop:
            _completed(result, stop.value)
            return
        except Exception as exc:
            _failed(result, exc)
            return
        if not isinstance(awaited, Task):
            to_send = Outcome(error=TypeError(
                f"await of {type(awaited).__name__} value: an orchestrator may only await "
                "tasks from its context (call_activity, create_timer, when_all, ...)"
            ))
            continue
        outcome = ctx.wait(awaited)
        if outcome is None:
            result.status = "Stuck"
            result.waiting_on = repr(awaited)
            _abandon(coro, ctx)
            return
        to_send = outcome
    _failed(result, OrchestrationError(f"more than {MAX_AWAITS} awaits; stopping the direct run"))
    _abandon(coro, ctx)


def _drive_machine(mdef: MachineDef, input: Any, ctx: DirectContext, result: DirectResult) -> None:
    """Call the machine until it returns, fails or is stuck; only the frame survives a
    suspension, saved and restored through the frame codec as a checkpoint would be."""
    frame = Frame(input=input)
    for _ in range(MAX_AWAITS):
        try:
            step = mdef.fn(ctx, frame)
        except Exception as exc:
            _failed(result, exc)
            return
        if isinstance(step, Return):
            _completed(result, step.value)
            return
        outcome = ctx.wait(step.task)
        if outcome is None:
            result.status = "Stuck"
            result.waiting_on = repr(step.task)
            return
        try:
            frame = _checkpoint_and_restore(frame, ctx, mdef)
        except values.FrameValueError as exc:
            _failed(result, exc)
            return
        frame.deliver(outcome)
    _failed(result, OrchestrationError(f"more than {MAX_AWAITS} awaits; stopping the direct run"))

def _checkpoint_and_restore(frame: Frame, ctx: DirectContext, mdef: MachineDef) -> Frame:
    """The frame as a resumed process sees it: slots through the frame codec and JSON."""
    encoded = values.encode_slots(frame.slots, describe=mdef.describe)
    saved = json.loads(json.dumps(encoded, sort_keys=True))
    slots = values.decode_slots(saved, lambda task_id: ctx.tasks[task_id])
    return Frame(state=frame.state, slots=slots, input=values.json_copy(frame.input),
                 awaiting=frame.awaiting)


def _abandon(coro: Coroutine[Any, Any, Any], ctx: DirectContext) -> None:
    # Closing runs the program's `finally` clauses; with the context closed they schedule
    # nothing. A `finally` that awaits makes close() raise and leaves the coroutine
    # suspended one level further out, so close again until it is done (otherwise the
    # garbage collector closes it later and prints "Exception ignored").
    ctx.closed = True
    for _ in range(MAX_AWAITS):
        try:
            coro.close()
        except RuntimeError:
            continue
        return


def _failed(result: DirectResult, exc: Exception) -> DirectResult:
    result.status = "Failed"
    result.output = None
    result.error = (type(exc).__name__, str(exc))
    return result

