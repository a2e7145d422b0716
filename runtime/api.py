"""The authoring API: what orchestrator and activity code sees.

Contract (DESIGN.md "Authoring API"): `@orchestrator` marks `async def name(ctx[, input])`,
`@activity` marks a sync or async function of one optional input; both register under
the function's name (or `name=`). `OrchestrationContext` is the abstract face of a
running orchestration; the journal runtime (`runtime.executor`) and the direct driver
(`runtime.direct`, used for differential tests) implement it.

A `Task` is a handle on durable work. Every task an orchestration creates gets an id
from a counter kept in the frame, so ids are fixed by the program and never by the
order in which work completes. Awaiting a task inside a plain (uncompiled) coroutine
yields the task to the driver; compiled machines never use `__await__`: the compiler
turns each `await` into a suspension the runtime resumes.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

if TYPE_CHECKING:
    from runtime.durable_http import HttpResponse
    from runtime.entities.critical import CriticalSection
    from runtime.machine import Frame, Step

T = TypeVar("T")
R = TypeVar("R")
I = TypeVar("I")  # noqa: E741  (an activity's input type)
P = ParamSpec("P")


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and how far apart, a failed activity or sub-orchestration is retried."""

    max_attempts: int
    first_retry_interval: timedelta
    backoff_coefficient: float = 1.0
    max_retry_interval: timedelta | None = None
    retry_timeout: timedelta | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        if self.first_retry_interval <= timedelta(0):
            raise ValueError(
                f"RetryPolicy.first_retry_interval must be positive, got {self.first_retry_interval}"
            )
        if self.backoff_coefficient < 1.0:
            raise ValueError(
                f"RetryPolicy.backoff_coefficient must be >= 1.0, got {self.backoff_coefficient}"
            )

    def delay_before(self, attempt: int) -> timedelta:
        """The wait before attempt number `attempt` (2 is the first retry)."""
        delay = self.first_retry_interval * (self.backoff_coefficient ** (attempt - 2))
        if self.max_retry_interval is not None and delay > self.max_retry_interval:
            return self.max_retry_interval
        return delay


class TaskFailedError(Exception):
    """An activity or sub-orchestration failed; raised at the `await` of its task."""

    def __init__(
        self, message: str, *, error_type: str = "Exception", details: str | None = None,
        task_name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.details = details
        self.task_name = task_name

    def __str__(self) -> str:
        where = f"{self.task_name} failed: " if self.task_name else ""
        return f"{where}{self.error_type}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_task_failed, (self.message, self.error_type, self.details, self.task_name))


def _rebuild_task_failed(
    message: str, error_type: str, details: str | None, task_name: str | None
) -> TaskFailedError:
    return TaskFailedError(message, error_type=error_type, details=details, task_name=task_name)


class OrchestrationError(Exception):
    """Misuse of the authoring API, reported with the value at fault."""


# How a task looks to the orchestrator that made it: (completed, value, error), where
# "completed" means the orchestrator has seen it complete (see `Task.is_completed`).
TaskView = Callable[["Task[Any]"], tuple[bool, Any, BaseException | None]]


class Task(Generic[T]):
    """A handle on durable work: an activity call, timer, event, sub-orchestration or group.

    `kind` is one of: activity, sub_orchestration, timer, event, when_all, when_any,
    event_timeout (an event awaited with a timeout). Await it for its result; once the
    orchestrator has seen it complete, `result`, `is_completed` and `is_faulted` answer
    as in Durable Functions.
    """

    __slots__ = ("_view", "children", "id", "input", "kind", "name")

    def __init__(
        self, id: int, kind: str, name: str | None = None, input: Any = None,
        children: tuple[Task[Any], ...] = (), view: TaskView | None = None,
    ) -> None:
        self.id = id
        self.kind = kind
        self.name = name
        self.input = input
        self.children = children
        self._view = view

    def __await__(self) -> Generator[Task[T], Any, T]:
        # Plain (uncompiled) execution: the driver receives the task and sends back its
        # result, or throws TaskFailedError into the coroutine.
        result: T = yield self
        return result

    def __repr__(self) -> str:
        label = f" {self.name}" if self.name else ""
        return f"<Task {self.id} {self.kind}{label}>"

    # A task is its id within its orchestration: a handle restored from a checkpoint equals
    # the handle `when_any` hands back for the same work.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Task):
            return NotImplemented
        return self.id == other.id and self.kind == other.kind

    def __hash__(self) -> int:
        return hash((self.id, self.kind))

    def _seen(self) -> tuple[bool, Any, BaseException | None]:
        if self._view is None:
            return False, None, None
        return self._view(self)

    @property
    def is_completed(self) -> bool:
        """True once the orchestrator has seen this task complete: it was awaited, or it is
        the task `when_any` returned, or a child of a `when_all` that was awaited. (Work
        that finished but was not yet awaited is not "completed" here, so the answer is the
        same in every run, crashed and resumed or not.)"""
        return self._seen()[0]

    @property
    def is_faulted(self) -> bool:
        """True if the completed task failed; `OrchestrationError` if it has not completed."""
        error = self._completed("is_faulted")[2]
        return error is not None

    @property
    def result(self) -> T:
        """The completed task's result (its error raised if it failed), as Durable
        Functions' `Task.result`; `OrchestrationError` if it has not completed."""
        _, value, error = self._completed("result")
        if error is not None:
            raise error
        result: T = value
        return result

    def _completed(self, what: str) -> tuple[bool, Any, BaseException | None]:
        seen = self._seen()
        if not seen[0]:
            raise OrchestrationError(
                f"{self!r}.{what}: the task has not completed yet; await it (or a "
                "when_any/when_all over it) first"
            )
        return seen


def deterministic_uuid(instance_id: str, n: int) -> str:
    """The n-th `new_uuid()` of an instance (n from 0 in each generation), as a string like
    Durable Functions' and durabletask's: the same after a crash, and the same in
    `runtime.direct` as in the journal runtime."""
    from uuid import NAMESPACE_URL, uuid5  # uuid imports platform: not for `tether status`

    return str(uuid5(NAMESPACE_URL, f"{instance_id}:{n}"))


class OrchestrationContext:
    """What an orchestrator can do. Every method is deterministic by construction.

    Typed for the IDE: `ctx.call_activity(f, x)` is a `Task[R]` for an activity `f`
    returning `R` (or awaitable of `R`), and `x` must be what `f` takes; the same for
    `call_sub_orchestrator`. A name (`str`) instead of a function gives `Task[Any]`.
    """

    @property
    def instance_id(self) -> str:
        """This instance's id."""
        raise NotImplementedError

    @property
    def parent_instance_id(self) -> str | None:
        """The id of the instance that started this one as a sub-orchestration, else None."""
        raise NotImplementedError

    @property
    def current_utc_datetime(self) -> datetime:
        """The time of the event being processed (journaled, so identical after a crash)."""
        raise NotImplementedError

    @property
    def is_replaying(self) -> bool:
        """Always False: tether resumes from checkpoints and never replays."""
        return False

    def get_input(self) -> Any:
        """This generation's input, as the orchestrator's input parameter receives it."""
        raise NotImplementedError

    @overload
    def call_activity(self, activity: Callable[[], Awaitable[R]], input: None = None, *,
                      retry: RetryPolicy | None = None) -> Task[R]: ...
    @overload
    def call_activity(self, activity: Callable[[], R], input: None = None, *,
                      retry: RetryPolicy | None = None) -> Task[R]: ...
    @overload
    def call_activity(self, activity: Callable[[I], Awaitable[R]], input: I, *,
                      retry: RetryPolicy | None = None) -> Task[R]: ...
    @overload
    def call_activity(self, activity: Callable[[I], R], input: I, *,
                      retry: RetryPolicy | None = None) -> Task[R]: ...
    @overload
    def call_activity(self, activity: str, input: Any = None, *,
                      retry: RetryPolicy | None = None) -> Task[Any]: ...

    def call_activity(
        self, activity: Callable[..., Any] | str, input: Any = None, *,
        retry: RetryPolicy | None = None,
    ) -> Task[Any]:
        """Schedule activity `activity` (an `@activity` function or its name) with `input`;
        with `retry`, failed attempts run again as the policy says."""
        raise NotImplementedError

    @overload
    def call_sub_orchestrator(
        self, orchestrator: Callable[[Any], Awaitable[R]], input: None = None, *,
        instance_id: str | None = None, retry: RetryPolicy | None = None,
    ) -> Task[R]: ...
    @overload
    def call_sub_orchestrator(
        self, orchestrator: Callable[[Any, I], Awaitable[R]], input: I, *,
        instance_id: str | None = None, retry: RetryPolicy | None = None,
    ) -> Task[R]: ...
    @overload
    def call_sub_orchestrator(  # a compiled machine, as emitted modules refer to one
        self, orchestrator: Callable[[Any, Frame], Step], input: Any = None, *,
        instance_id: str | None = None, retry: RetryPolicy | None = None,
    ) -> Task[Any]: ...
    @overload
    def call_sub_orchestrator(
        self, orchestrator: str, input: Any = None, *,
        instance_id: str | None = None, retry: RetryPolicy | None = None,
    ) -> Task[Any]: ...

    def call_sub_orchestrator(
        self, orchestrator: Callable[..., Any] | str, input: Any = None, *,
        instance_id: str | None = None, retry: RetryPolicy | None = None,
    ) -> Task[Any]:
        """Start `orchestrator` as a child instance (id `instance_id`, else derived from this
        instance's id and the task's); its output is the task's result."""
        raise NotImplementedError

    def create_timer(self, fire_at: datetime) -> Task[None]:
        """A durable timer firing at `fire_at` (timezone-aware)."""
        raise NotImplementedError

    def sleep(self, delay: timedelta) -> Task[None]:
        """A durable timer firing `delay` after `current_utc_datetime`."""
        return self.create_timer(self.current_utc_datetime + delay)

    def wait_for_external_event(self, name: str, *, timeout: timedelta | None = None) -> Task[Any]:
        """The next event named `name` sent to this instance (its data is the result).

        With `timeout`, awaiting the task raises `TimeoutError` if no such event arrived
        within `timeout` of now (a race of the event and a durable timer); the event
        listener is then dropped, so a later event of that name waits for the next
        `wait_for_external_event`."""
        raise NotImplementedError

    def when_all(self, tasks: Iterable[Task[T]]) -> Task[list[T]]:
        """Completes once every task has: their results in task order, or the error of
        the lowest-index failed task (Durable Functions' `task_all`)."""
        raise NotImplementedError

    def when_any(self, tasks: Iterable[Task[T]]) -> Task[Task[T]]:
        """Completes with the first of `tasks` to complete (Durable Functions' `task_any`)."""
        raise NotImplementedError

    def call_http(
        self, method: str, url: str, content: str | bytes | None = None,
        headers: Mapping[str, str] | None = None, *, asynchronous_patterns: bool = True,
    ) -> Task[HttpResponse]:
        """A durable HTTP request (Durable Functions' `call_http`): done by a built-in
        activity with httpx; a `202` answer with a `Location` header is polled with GET on
        durable timers (`Retry-After` seconds apart, else 5 s) until it answers otherwise,
        unless `asynchronous_patterns` is False. The result is an `HttpResponse`."""
        from runtime.durable_http import call_http

        return call_http(self, method, url, content, headers, asynchronous_patterns)

    def call_entity(self, entity_id: str, operation: str, input: Any = None) -> Task[Any]:
        """Run `operation` on the entity `entity_id` (an `EntityId`, or `@name@key`) with
        `input`: the task's result is the operation's result, or `TaskFailedError` with
        the entity's error type and message (the failed operation's changes rolled back)."""
        raise NotImplementedError

    def signal_entity(self, entity_id: str, operation: str, input: Any = None, *,
                      at: datetime | None = None) -> None:
        """Send `operation` to the entity one way (applied no earlier than `at`). Sent
        exactly once, also across crashes, and journaled as a step of its own (history,
        step graph), but there is nothing to wait for: as in Durable Functions it returns
        nothing, `await ctx.signal_entity(...)` is a compile error (DET007) and it is no
        task for `when_all`; `await ctx.call_entity(...)` waits for an operation."""
        raise NotImplementedError

    def lock_entities(self, *entity_ids: str) -> CriticalSection:
        """A critical section over the entities (`async with ctx.lock_entities(a, b):`):
        their locks are taken in id order, held across awaits and released on every exit;
        meanwhile other senders' operations on them wait."""
        raise NotImplementedError

    def new_uuid(self) -> str:
        """A deterministic UUID string (the same after a crash): uuid5 of the instance id
        and a counter, as Durable Functions' `new_uuid()`."""
        raise NotImplementedError

    def set_custom_status(self, value: Any) -> None:
        """Publish a JSON value in the status document's `customStatus`."""
        raise NotImplementedError

    def continue_as_new(self, input: Any = None) -> None:
        """When the orchestrator returns, start this instance over with `input` (eternal
        orchestrations); the history of the ended generation is kept."""
        raise NotImplementedError


@dataclass
class ActivityDef:
    name: str
    fn: Callable[..., Any]
    takes_input: bool
    is_async: bool


@dataclass
class OrchestratorDef:
    """A registered orchestrator: its source function and, once compiled, its machine."""

    name: str
    fn: Callable[..., Any] | None
    takes_input: bool
    module: str
    machine: Any = None  # runtime.machine.MachineDef, set by compiled modules


@dataclass
class Registry:
    activities: dict[str, ActivityDef] = field(default_factory=dict)
    orchestrators: dict[str, OrchestratorDef] = field(default_factory=dict)


REGISTRY = Registry()


def _takes_input(fn: Callable[..., Any], skip: int) -> bool:
    params = list(inspect.signature(fn).parameters.values())[skip:]
    positional = [
        p for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if len(positional) > 1:
        raise OrchestrationError(
            f"{fn.__qualname__} takes {len(positional)} inputs; "
            "activities and orchestrators take at most one (pass a dict or list)"
        )
    return bool([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])


@overload
def activity(fn: Callable[P, R], *, name: str | None = None) -> Callable[P, R]: ...
@overload
def activity(fn: None = None, *, name: str | None = None
             ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def activity(fn: Callable[P, R] | None = None, *, name: str | None = None) -> Any:
    """Register a sync or async function of one optional input as an activity (under its
    name, or `name=`). The function is returned unchanged: call it through
    `ctx.call_activity(fn, input)` from orchestrators, directly from anywhere else."""

    def register(f: Callable[P, R]) -> Callable[P, R]:
        from runtime.boundary_types import typed_activity  # it needs REGISTRY from here

        key = name or f.__name__
        REGISTRY.activities[key] = ActivityDef(
            key, typed_activity(f), _takes_input(f, 0), inspect.iscoroutinefunction(f)
        )
        f.__tether_activity__ = key  # type: ignore[attr-defined]
        return f

    return register(fn) if fn is not None else register


@overload
def orchestrator(fn: Callable[P, R], *, name: str | None = None) -> Callable[P, R]: ...
@overload
def orchestrator(fn: None = None, *, name: str | None = None
                 ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def orchestrator(fn: Callable[P, R] | None = None, *, name: str | None = None) -> Any:
    """Register `async def name(ctx[, input])` as an orchestrator (under its name, or
    `name=`). `tether` compiles it into a resumable machine when it loads the module;
    imported as plain Python it still runs under `tether.testing.run_direct`."""

    def register(f: Callable[P, R]) -> Callable[P, R]:
        if not _is_async(f):
            raise OrchestrationError(f"@orchestrator needs an `async def`; {f.__qualname__} is not")
        key = name or f.__name__
        existing = REGISTRY.orchestrators.get(key)
        entry = OrchestratorDef(key, f, _takes_input(f, 1), f.__module__)
        if existing is not None and existing.machine is not None:
            entry.machine = existing.machine
        REGISTRY.orchestrators[key] = entry
        f.__tether_orchestrator__ = key  # type: ignore[attr-defined]
        return f

    return register(fn) if fn is not None else register


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn)


def activity_name(ref: Callable[..., Any] | str) -> str:
    """The registered name of an activity given as a function or a name."""
    if isinstance(ref, str):
        return ref
    key = getattr(ref, "__tether_activity__", None)
    if key is None:
        raise OrchestrationError(
            f"{getattr(ref, '__qualname__', ref)!r} is not an @activity; decorate it or pass its name"
        )
    return str(key)


def orchestrator_name(ref: Callable[..., Any] | str) -> str:
    """The registered name of an orchestrator given as a function, machine or name."""
    if isinstance(ref, str):
        return ref
    key = getattr(ref, "__tether_orchestrator__", None)
    if key is None:
        raise OrchestrationError(
            f"{getattr(ref, '__qualname__', ref)!r} is not an @orchestrator; decorate it or pass its name"
        )
    return str(key)
