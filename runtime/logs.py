"""Log lines under the `tether` logger hierarchy, with structured fields.

Loggers: `tether.worker` (a worker started), `tether.instance` (an instance started,
resumed, ended, failed), `tether.activity` (attempts: failures at INFO, the others at
DEBUG), `tether.step` (DEBUG), `tether.http` (the embedded worker). Every record of an
instance carries the fields `instance_id` and `orchestration`, and, where they apply,
`task`, `activity`, `attempt`, `status`, `seconds` (in `record.__dict__`, as logging's
`extra=` puts them), so a JSON or logfmt handler of the user's shows them as fields.

`configure(level, fmt)` is what `tether worker --log-level --log-format` does: one
handler on `tether` writing to stderr, `text` (`time LEVEL logger message key=value...`)
or `json` (one object per line). Library users configure logging as they like instead.

No replay-safe logger is needed for orchestrator code: tether never re-runs an
orchestrator's code from the top, so a `logging` call in an orchestrator runs once per
step execution, and again only for the one step a crash interrupted (docs/observability.md).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from runtime.observe import (
    ActivityEnded,
    ActivityStarted,
    InstanceEnded,
    InstanceStarted,
    StepRan,
    WaitEnded,
    WorkerStarted,
)

#: The structured fields a record may carry, in the order text lines show them.
FIELDS = ("instance_id", "orchestration", "task", "activity", "attempt", "status",
          "seconds", "store")
FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error")

_worker = logging.getLogger("tether.worker")
_instance = logging.getLogger("tether.instance")
_activity = logging.getLogger("tether.activity")
_step = logging.getLogger("tether.step")
_wait = logging.getLogger("tether.wait")
_DEBUG, _INFO = logging.DEBUG, logging.INFO  # (one global lookup, not two, per step's events)


def wants(kind: type, failed: bool) -> bool:
    """`runtime.observe`'s test before a per-step event is built: does a line of it
    reach a handler at the level it would be logged at (DEBUG; a failed attempt INFO)?"""
    if kind is StepRan:
        return _step.isEnabledFor(_DEBUG)
    return _activity.isEnabledFor(_INFO if failed else _DEBUG)


def log_event(event: Any) -> None:
    """The observer subscriber: one engine event, at most one log line. The DEBUG lines
    of steps and attempts (several per step) are not built unless their logger logs them;
    those kinds are tested first, by exact type (events are final classes)."""
    kind = type(event)
    if kind is ActivityStarted:
        if _activity.isEnabledFor(logging.DEBUG):
            _log(_activity, logging.DEBUG, f"activity {event.activity} attempt "
                 f"{event.attempt} started", event, task=event.task, activity=event.activity,
                 attempt=event.attempt)
    elif kind is ActivityEnded:
        failed = event.error is not None
        level = logging.INFO if failed else logging.DEBUG
        if _activity.isEnabledFor(level):
            text = (f"activity {event.activity} attempt {event.attempt} "
                    + (f"failed: {event.error}" if failed else "completed"))
            _log(_activity, level, text, event, task=event.task, activity=event.activity,
                 attempt=event.attempt, seconds=round(event.seconds, 6))
    elif kind is StepRan:
        if _step.isEnabledFor(logging.DEBUG):
            _log(_step, logging.DEBUG, f"step {event.step or '?'} ran", event,
                 seconds=round(event.seconds, 6))
    elif isinstance(event, InstanceStarted):
        what = "resumed" if event.resumed else "started"
        _log(_instance, logging.INFO, f"instance {event.instance_id} ({event.orchestration}) "
             f"{what}", event)
    elif isinstance(event, InstanceEnded):
        how = {"Completed": "completed", "Terminated": "was terminated",
               "ContinuedAsNew": "continued as new"}.get(event.status, "failed")
        text = f"instance {event.instance_id} ({event.orchestration}) {how}"
        if event.error:
            text += f": {event.error}"
        _log(_instance, logging.INFO, text, event, status=event.status,
             seconds=round(event.ended - event.created, 6))
    elif isinstance(event, WaitEnded):
        _log(_wait, logging.DEBUG, f"{event.kind} {event.name} arrived", event, task=event.task)
    elif isinstance(event, WorkerStarted):
        names = ", ".join(event.orchestrations) or "none registered"
        _worker.info("worker started on %s (concurrency %d; orchestrations: %s)", event.store,
                     event.concurrency, names, extra={"store": event.store})


def _log(logger: logging.Logger, level: int, text: str, event: Any, **fields: Any) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, text, extra={"instance_id": event.instance_id,
                                       "orchestration": event.orchestration, **fields})


class TextFormatter(logging.Formatter):
    """`2026-12-01T20:00:00.123Z INFO tether.instance message instance_id=... ...`"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s %(message)s",
                         "%Y-%m-%dT%H:%M:%S")
        import time

        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        message = record.getMessage()
        # the fields the message does not already show (the id and name usually are)
        extra = " ".join(f"{k}={_logfmt(v)}" for k in FIELDS
                         if (v := record.__dict__.get(k)) is not None and str(v) not in message)
        return f"{line} {extra}" if extra else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `ts`, `level`, `logger`, `message`, then the fields."""

    def __init__(self) -> None:
        super().__init__()
        import time

        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key in FIELDS:
            if record.__dict__.get(key) is not None:
                out[key] = record.__dict__[key]
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def _logfmt(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (" " in text or '"' in text or not text) else text


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time of each record (a test's capture,
    or a stream replaced after configuration), never to a stream closed since."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure(level: str = "info", fmt: str = "text", stream: Any = None) -> logging.Handler:
    """One stderr handler on the `tether` logger at `level`, in `fmt` (text or json);
    replaces the handler an earlier call installed. Returns the handler."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: use text or json")
    if level.lower() not in LEVELS:
        raise ValueError(f"log level {level!r}: use {', '.join(LEVELS)}")
    root = logging.getLogger("tether")
    for old in [h for h in root.handlers if getattr(h, "tether_cli", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream) if stream is not None else _Stderr()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.tether_cli = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False  # the CLI's handler is the one; no duplicate via the root logger
    return handler


def unconfigure(handler: logging.Handler) -> None:
    """Undo `configure`: remove its handler, and the level and propagation it set."""
    root = logging.getLogger("tether")
    root.removeHandler(handler)
    root.setLevel(logging.NOTSET)
    root.propagate = True
