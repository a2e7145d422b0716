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

The per-step kinds (`StepRan`, `ActivityStarted`, `ActivityEnded`, three a step) cost
nothing when nobody listens: the engine first calls `step_ran`, `attempt_started` or
`attempt_ended` with plain values, which count them in the process's tally (the metrics,
`runtime.metrics.PROCESS`: plain ints, rendered at scrape time) and say whether any
subscriber wants the event; only then is it built and emitted. Subscribers that want
those kinds only sometimes (the log lines, at DEBUG) subscribe with a `wants(kind,
failed)` test (`subscribe(..., wants=...)`), asked at each such event; the others (a
tracer, a user's) want every event. The tally sees the per-step kinds only through
those calls, never through `emit`, so each is counted once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

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
#: `wants(kind, failed)`: does a subscriber want this per-step event (`StepRan`,
#: `ActivityStarted`, `ActivityEnded`; `failed`: the step or attempt raised)?
Wants = Callable[[type, bool], bool]
# Tuples replaced on every change, so `emit` (a few times per step) iterates them as is.
_subscribers: tuple[Subscriber, ...] = ()  # every subscriber, in order
_eager: tuple[Subscriber, ...] = ()  # those that want every per-step event
_gated: tuple[Wants, ...] = ()  # the `wants` of the others
_single: Wants | None = None  # the only `wants` to ask, when there is one and no eager one
_wants: dict[Subscriber, Wants] = {}
_broken: set[int] = set()
_lock = threading.Lock()


class Tally(Protocol):
    """What counts the per-step kinds in this process (`runtime.metrics.PROCESS`)."""

    def step(self, orchestration: str, seconds: float) -> None: ...

    def attempt(self, activity: str) -> None: ...

    def attempt_ended(self, activity: str, seconds: float, failed: bool) -> None: ...


_tally: Tally | None = None


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
    from runtime.logs import log_event, wants
    from runtime.metrics import PROCESS

    global _tally
    _tally = PROCESS  # the per-step kinds (`step_ran`, ...)
    subscribe(log_event, wants=wants)
    subscribe(PROCESS, wants=never)  # the other kinds: instances started and ended
    _enable_from_env()


def never(kind: type, failed: bool) -> bool:
    """The `wants` of a subscriber that takes no per-step event (never asked)."""
    return False


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


def subscribe(subscriber: Subscriber, *, wants: Wants | None = None) -> Subscriber:
    """Add a subscriber (idempotent); returns it, so it can be used as a decorator.
    `wants`: asked before each per-step event is built (see the module docstring);
    without it the subscriber gets every event."""
    with _lock:
        if subscriber not in _subscribers:
            _wants.pop(subscriber, None)
            if wants is not None:
                _wants[subscriber] = wants
            _changed((*_subscribers, subscriber))
    return subscriber


def unsubscribe(subscriber: Subscriber) -> None:
    with _lock:
        _wants.pop(subscriber, None)
        _changed(tuple(s for s in _subscribers if s != subscriber))


def _changed(subscribers: tuple[Subscriber, ...]) -> None:
    global _subscribers, _eager, _gated, _single
    _subscribers = subscribers
    _eager = tuple(s for s in subscribers if s not in _wants)
    _gated = tuple(w for s in subscribers if (w := _wants.get(s)) is not None and w is not never)
    _single = _gated[0] if len(_gated) == 1 and not _eager else None  # (the defaults: the logs)


# The three below run once per step each: the test of the subscribers written out in each
# (no helper call; with the defaults, one `wants` to ask), `try` costs nothing until a
# `wants` raises (then the event is built, and `emit` logs the subscriber's failure once).


def step_ran(orchestration: str, seconds: float, failed: bool) -> bool:
    """Count a step in the tally; True if a subscriber wants its `StepRan` (the caller
    then builds and emits it)."""
    if _tally is not None:
        _tally.step(orchestration, seconds)
    try:
        if _single is not None:
            return _single(StepRan, failed)
        if _eager:
            return True
        for wants in _gated:
            if wants(StepRan, failed):
                return True
    except Exception:
        return True
    return False


def attempt_started(activity: str) -> bool:
    """Count an activity attempt's start; True if a subscriber wants its `ActivityStarted`."""
    if _tally is not None:
        _tally.attempt(activity)
    try:
        if _single is not None:
            return _single(ActivityStarted, False)
        if _eager:
            return True
        for wants in _gated:
            if wants(ActivityStarted, False):
                return True
    except Exception:
        return True
    return False


def attempt_ended(activity: str, seconds: float, failed: bool) -> bool:
    """Count an attempt's end; True if a subscriber wants its `ActivityEnded`."""
    if _tally is not None:
        _tally.attempt_ended(activity, seconds, failed)
    try:
        if _single is not None:
            return _single(ActivityEnded, failed)
        if _eager:
            return True
        for wants in _gated:
            if wants(ActivityEnded, failed):
                return True
    except Exception:
        return True
    return False


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
