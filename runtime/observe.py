"""What the engine reports as it runs instances, and who listens.

The engine calls `emit(event)` at a few points: an instance starts running or ends,
a step has run, an activity attempt starts or ends, a timer or event wait begins or
is over, a worker starts. Subscribers (`runtime.logs`, `runtime.metrics`,
`runtime.tracing`) turn events into log lines, Prometheus series and OpenTelemetry
spans; the engine knows none of them.

Guarantees: an event is emitted once per occurrence in the process where it happened,
after the journal records that it happened are durable (a step's event after its
checkpoint's group commit is not waited for: a crash before it re-runs the step, which
then emits again, as the step really ran twice). No replay exists, so no event is
ever emitted for work merely being restored. A subscriber that raises is logged once
per subscriber and never disturbs the engine.

Events carry what a subscriber needs and nothing the engine would have to compute only
for them: times are `time.time()` seconds, durations seconds, ids as journaled. They are
plain slotted dataclasses, not frozen ones (whose fields are set through
`object.__setattr__`: three events per step cost a 1,000-step chain a tenth of its
time): a subscriber reads an event and never changes it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("tether.observe")


@dataclass(slots=True)
class Event:
    instance_id: str
    orchestration: str
    #: the instance's trace context as journaled (a W3C traceparent), if tracing is on
    trace: dict[str, Any] | None = field(default=None, kw_only=True)


@dataclass(slots=True)
class WorkerStarted:
    store: str
    concurrency: int
    orchestrations: tuple[str, ...] = ()


@dataclass(slots=True)
class InstanceStarted(Event):
    """A worker took an instance: its first run, or a resume after a crash or restart
    (`resumed`)."""

    resumed: bool = False
    created: float = 0.0  # when the instance was created


@dataclass(slots=True)
class InstanceEnded(Event):
    status: str = "Completed"  # Completed, Failed, Terminated or ContinuedAsNew
    error: str | None = None  # `Type: message` when Failed
    created: float = 0.0
    ended: float = 0.0


@dataclass(slots=True)
class StepRan(Event):
    step: str = ""  # the machine's step label
    started: float = 0.0
    seconds: float = 0.0
    error: str | None = None  # the step raised out of the orchestrator


@dataclass(slots=True)
class ActivityStarted(Event):
    task: int = 0
    activity: str = ""
    attempt: int = 1
    started: float = 0.0


@dataclass(slots=True)
class ActivityEnded(Event):
    task: int = 0
    activity: str = ""
    attempt: int = 1
    started: float = 0.0
    seconds: float = 0.0
    error: str | None = None  # `Type: message` when the attempt raised


@dataclass(slots=True)
class WaitEnded(Event):
    """A durable timer fired, or an awaited external event arrived."""

    task: int = 0
    kind: str = "timer"  # "timer" or "event"
    name: str = ""  # the event's name, or the timer's fire time
    started: float = 0.0  # when the wait was journaled
    ended: float = 0.0


Subscriber = Callable[[Any], None]
# A tuple replaced on every change, so `emit` (a few times per step) iterates it as is.
_subscribers: tuple[Subscriber, ...] = ()
_broken: set[int] = set()
_lock = threading.Lock()


#: Set by `runtime.tracing.enable()`: (the parent's trace context or None, renew=...) ->
#: the trace context of a new instance (journaled in its `created` record).
_trace_context: Callable[..., dict[str, Any]] | None = None
_installed = False
_env_checked = False


def install_defaults() -> None:
    """Subscribe the log lines and the process metrics (both cheap); the engine calls
    this once. Tracing is subscribed by `runtime.tracing.enable()`."""
    global _installed
    if _installed:
        return
    _installed = True
    from runtime.logs import log_event
    from runtime.metrics import PROCESS

    subscribe(log_event)
    subscribe(PROCESS)
    _enable_from_env()


def _enable_from_env() -> None:
    """`TETHER_OTEL=1`: trace without a line of code (e.g. under opentelemetry-instrument)."""
    global _env_checked
    if _env_checked:
        return
    _env_checked = True
    import os

    if os.environ.get("TETHER_OTEL") == "1":
        from runtime.tracing import enable

        enable()


def new_trace(parent: dict[str, Any] | None = None, *,
              renew: bool = False) -> dict[str, Any] | None:
    """The trace context to journal with a new instance (None: tracing is off); `renew`:
    the next generation of the instance whose context `parent` is (continue_as_new)."""
    _enable_from_env()
    hook = _trace_context
    return hook(parent, renew=renew) if hook is not None else None


def set_trace_context(hook: Callable[..., dict[str, Any]] | None) -> None:
    global _trace_context
    _trace_context = hook


def subscribe(subscriber: Subscriber) -> Subscriber:
    """Add a subscriber (idempotent); returns it, so it can be used as a decorator."""
    global _subscribers
    with _lock:
        if subscriber not in _subscribers:
            _subscribers = (*_subscribers, subscriber)
    return subscriber


def unsubscribe(subscriber: Subscriber) -> None:
    global _subscribers
    with _lock:
        _subscribers = tuple(s for s in _subscribers if s != subscriber)


def emit(event: Any) -> None:
    """Hand `event` to every subscriber; their errors are logged, never raised."""
    for subscriber in _subscribers:
        try:
            subscriber(event)
        except Exception:
            if id(subscriber) not in _broken:
                _broken.add(id(subscriber))
                log.exception("observer %r failed on %s; its later failures are not logged",
                              subscriber, type(event).__name__)
