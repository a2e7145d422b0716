"""OpenTelemetry traces of instances (the optional extra `tether[otel]`).

`enable()` (or `TETHER_OTEL=1` in the environment) subscribes to the engine's events
(`runtime.observe`) and emits, through the globally configured tracer provider:

- one span per instance (`orchestration NAME`), from its creation to its end;
- one per step (`NAME step`), per activity attempt (`activity NAME`, current while the
  activity runs, so the user's own spans inside it nest under it), per timer (`timer`)
  and per awaited external event (`event NAME`), each a child of its instance's span;
- a sub-orchestration's instance span is a child of its parent's instance span; a
  top-level instance's is a child of whatever span was current where it was started
  (a request handler's, typically).

Carried across processes and crashes: when an instance is created, its trace context
(trace id, its instance span's id, its parent's) is journaled in the `created` record. A
worker that resumes it after a crash, in any process, parents its spans on that journaled
context, so a resumed instance continues its trace. Each span is emitted once, when the
thing it describes has ended, with start and end times taken from the journal where a
crash could lose them; the instance span is emitted by whichever process ends the
instance, with the journaled span id (the SDK's tracer lets us choose it; with another
provider the instance span gets an id of its own and its children point at the
journaled one). No replay means no span is ever emitted for restoring work: only a step
a crash interrupted runs, and so is traced, twice.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from runtime import observe
from runtime.observe import ActivityEnded, ActivityStarted, InstanceEnded, StepRan, WaitEnded

_forced = threading.local()
_open: dict[tuple[str, int, int, int], tuple[Any, Any]] = {}  # attempt -> (span, token)
_lock = threading.Lock()


def enable() -> None:
    """Trace instances through the global OpenTelemetry tracer provider."""
    import opentelemetry.trace  # noqa: F401 (fail here, in one line, without the extra)

    observe.set_trace_context(new_context)
    observe.subscribe(on_event)


def disable() -> None:
    observe.set_trace_context(None)
    observe.unsubscribe(on_event)


# -- the journaled context ---------------------------------------------------------------


def _traceparent(trace_id: int, span_id: int, flags: int) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"


def _parse(traceparent: str | None) -> tuple[int, int, int] | None:
    if not traceparent:
        return None
    try:
        _, trace_id, span_id, flags = traceparent.split("-")
        return int(trace_id, 16), int(span_id, 16), int(flags, 16)
    except ValueError:
        return None


def _span_id() -> int:
    return random.getrandbits(64) or 1


def new_context(parent: dict[str, Any] | None, *, renew: bool = False) -> dict[str, Any]:
    """The trace context of a new instance: a child of `parent`'s instance span (a
    sub-orchestration), else of the caller's current span, else a new trace. With
    `renew`, `parent` is the context of the instance's previous generation
    (continue_as_new): same trace and parent, a new instance span."""
    from opentelemetry import trace

    if renew and parent is not None:
        own = _parse(parent.get("traceparent"))
        if own is not None:
            return {"traceparent": _traceparent(own[0], _span_id(), own[2]),
                    "parent": parent.get("parent")}
    up = _parse(parent.get("traceparent")) if parent else None
    if up is None:
        current = trace.get_current_span().get_span_context()
        if current.is_valid:
            up = (current.trace_id, current.span_id, int(current.trace_flags))
    if up is None:
        return {"traceparent": _traceparent(random.getrandbits(128) or 1, _span_id(), 1),
                "parent": None}
    return {"traceparent": _traceparent(up[0], _span_id(), up[2]),
            "parent": _traceparent(*up)}


def _context_of(traceparent: str | None) -> Any:
    """An OpenTelemetry Context whose current span is the (remote) `traceparent`."""
    from opentelemetry import trace
    from opentelemetry.context import Context

    parsed = _parse(traceparent)
    if parsed is None:
        return Context()
    span = trace.NonRecordingSpan(trace.SpanContext(
        parsed[0], parsed[1], is_remote=True, trace_flags=trace.TraceFlags(parsed[2])))
    return trace.set_span_in_context(span, Context())


# -- spans ---------------------------------------------------------------------------------


class _ChosenIds:
    """The SDK's id generator, except that the next ids may be chosen (the instance
    span's journaled id)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def generate_span_id(self) -> int:
        chosen = getattr(_forced, "span_id", None)
        return int(chosen) if chosen is not None else int(self.inner.generate_span_id())

    def generate_trace_id(self) -> int:
        chosen = getattr(_forced, "trace_id", None)
        return int(chosen) if chosen is not None else int(self.inner.generate_trace_id())

    def is_trace_id_random(self) -> bool:
        return bool(getattr(self.inner, "is_trace_id_random", lambda: True)())


def _tracer() -> Any:
    from opentelemetry import trace

    tracer: Any = trace.get_tracer("tether")
    delegate: Any = getattr(tracer, "_tracer", tracer)  # the global proxy, once a provider is set
    ids = getattr(delegate, "id_generator", None)
    if ids is not None and not isinstance(ids, _ChosenIds):
        delegate.id_generator = _ChosenIds(ids)
    return tracer


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _attributes(event: Any, **more: Any) -> dict[str, Any]:
    return {"tether.instance_id": event.instance_id,
            "tether.orchestration": event.orchestration,
            **{k: v for k, v in more.items() if v is not None}}


def _error(span: Any, error: str | None) -> None:
    if error is not None:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, error))


def on_event(event: Any) -> None:
    """The observer subscriber: one event in, at most one span ended."""
    trace = event.trace if hasattr(event, "trace") else None
    if trace is None:
        return  # created while tracing was off
    own = trace.get("traceparent")
    if isinstance(event, InstanceEnded):
        _instance_span(event, trace)
    elif isinstance(event, StepRan):
        span = _tracer().start_span(f"{event.orchestration} step", context=_context_of(own),
                                    start_time=_ns(event.started),
                                    attributes=_attributes(event, **{"tether.step": event.step}))
        _error(span, event.error)
        span.end(end_time=_ns(event.started + event.seconds))
    elif isinstance(event, ActivityStarted):
        _start_attempt(event, own)
    elif isinstance(event, ActivityEnded):
        _end_attempt(event)
    elif isinstance(event, WaitEnded):
        name = "timer" if event.kind == "timer" else f"event {event.name}"
        span = _tracer().start_span(name, context=_context_of(own), start_time=_ns(event.started),
                                    attributes=_attributes(event, **{"tether.task": event.task}))
        span.end(end_time=_ns(max(event.ended, event.started)))


def _instance_span(event: InstanceEnded, trace: dict[str, Any]) -> None:
    parsed = _parse(trace.get("traceparent"))
    tracer = _tracer()
    if parsed is not None:
        _forced.trace_id, _forced.span_id = parsed[0], parsed[1]
    try:
        span = tracer.start_span(f"orchestration {event.orchestration}",
                                 context=_context_of(trace.get("parent")),
                                 start_time=_ns(event.created),
                                 attributes=_attributes(event, **{"tether.status": event.status}))
    finally:
        _forced.trace_id = _forced.span_id = None
    _error(span, event.error)
    span.end(end_time=_ns(max(event.ended, event.created)))


def _start_attempt(event: ActivityStarted, own: str | None) -> None:
    from opentelemetry import context, trace

    span = _tracer().start_span(f"activity {event.activity}", context=_context_of(own),
                                start_time=_ns(event.started), attributes=_attributes(
                                    event, **{"tether.task": event.task,
                                              "tether.attempt": event.attempt}))
    token = context.attach(trace.set_span_in_context(span))  # the activity's own spans nest
    with _lock:
        _open[event.instance_id, event.task, event.attempt, threading.get_ident()] = (span, token)


def _end_attempt(event: ActivityEnded) -> None:
    from opentelemetry import context

    with _lock:
        found = _open.pop((event.instance_id, event.task, event.attempt, threading.get_ident()),
                          None)
    if found is None:
        return
    span, token = found
    context.detach(token)
    _error(span, event.error)
    span.end(end_time=_ns(event.started + event.seconds))
