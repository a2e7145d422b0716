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
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


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


class Task(Generic[T]):
    """A handle on durable work: an activity call, timer, event, sub-orchestration or group.

    `kind` is one of: activity, sub_orchestration, timer, event, when_all, when_any.
    """

    __slots__ = ("children", "id", "input", "kind", "name")

    def __init__(
        self, id: int, kind: str, name: str | None = None, input: Any = None,
        children: tuple[Task[Any], ...] = (),
    ) -> None:
        self.id = id
        self.kind = kind
        self.name = name
        self.input = input
        self.children = children

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


def deterministic_uuid(instance_id: str, n: int) -> UUID:
    """The n-th `new_uuid()` of an instance (n from 0 in each generation): the same after a
    crash, and the same in `runtime.direct` as in the journal runtime."""
    return uuid5(NAMESPACE_URL, f"{instance_id}:{n}")


class OrchestrationContext:
    """What an orchestrator can do. Every method is deterministic by construction."""

    @property
    def instance_id(self) -> str:
        raise NotImplementedError

    @property
    def current_utc_datetime(self) -> datetime:
        """The time of the event being processed (journaled, so identical after a crash)."""
        raise NotImplementedError

    @property
    def is_replaying(self) -> bool:
        """Always False: tether resumes from checkpoints and never replays."""
        return False

    def call_activity(
        self, activity: Callable[..., Any] | str, input: Any = None, *,
        retry: RetryPolicy | None = None,
    ) -> Task[Any]:
        raise NotImplementedError

    def call_sub_orchestrator(
        self, orchestrator: Callable[..., Any] | str, input: Any = None, *,
        instance_id: str | None = None, retry: RetryPolicy | None = None,
    ) -> Task[Any]:
        raise NotImplementedError

    def create_timer(self, fire_at: datetime) -> Task[None]:
        raise NotImplementedError

    def sleep(self, delay: timedelta) -> Task[None]:
        return self.create_timer(self.current_utc_datetime + delay)

    def wait_for_external_event(self, name: str) -> Task[Any]:
        raise NotImplementedError

    def when_all(self, tasks: Iterable[Task[Any]]) -> Task[list[Any]]:
        raise NotImplementedError

    def when_any(self, tasks: Iterable[Task[Any]]) -> Task[Task[Any]]:
        raise NotImplementedError

    def new_uuid(self) -> UUID:
        raise NotImplementedError

    def set_custom_status(self, value: Any) -> None:
        raise NotImplementedError

    def continue_as_new(self, input: Any = None) -> None:
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


def activity(fn: F | None = None, *, name: str | None = None) -> Any:
    """Register a sync or async function of one optional input as an activity."""

    def register(f: F) -> F:
        key = name or f.__name__
        REGISTRY.activities[key] = ActivityDef(
            key, f, _takes_input(f, 0), inspect.iscoroutinefunction(f)
        )
        f.__tether_activity__ = key  # type: ignore[attr-defined]
        return f

    return register(fn) if fn is not None else register


def orchestrator(fn: F | None = None, *, name: str | None = None) -> Any:
    """Register `async def name(ctx[, input])` as an orchestrator."""

    def register(f: F) -> F:
        if not inspect.iscoroutinefunction(f):
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
