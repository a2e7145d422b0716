"""What a blocked `tether run` waits for, said once on stderr.

`tether run` works an instance to its end in-process; when the instance waits for an
external event or a far timer, the command just sits there. `WaitReporter` watches the
instance's journal from a side thread (reads only: journals are append-only and readers
need no lock) and, once nothing has been appended for `quiet` seconds, prints what the
last checkpoint awaits that has not completed since: event names (with the
`tether raise-event` line to send one), timers (with their fire time), activities and
sub-orchestrations still running. It prints again only when that changes.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any, TextIO


def describe_wait(instance_id: str, records: Iterable[Any]) -> str | None:
    """One line saying what the instance waits for, from its journal records (objects with
    `kind` and `data`); None when it waits for nothing (or has ended)."""
    checkpoint: dict[str, Any] | None = None
    done: set[int] = set()
    for rec in records:
        if rec.kind == "checkpoint":
            checkpoint, done = rec.data, set()
        elif rec.kind in ("completed", "failed", "terminated", "continued_as_new"):
            checkpoint = None
        elif isinstance(rec.data.get("task"), int):
            done.add(rec.data["task"])
    if checkpoint is None:
        return None
    tasks = {t["id"]: t for t in checkpoint.get("tasks", [])}
    pending = [t for t in _leaves(checkpoint.get("awaiting"), tasks)
               if t["id"] not in done and "done" not in t]
    if not pending:
        return None
    parts = []
    events = sorted({t["name"] for t in pending if t["kind"] == "event"})
    for name in events:
        parts.append(f"event {name!r} (tether raise-event {instance_id} {name} --data JSON)")
    timers = sorted(t["fire_at"] for t in pending if t["kind"] == "timer" and t.get("fire_at"))
    if timers:
        parts.append(f"a timer at {timers[0]}")
    for kind, label in (("activity", "activity"), ("sub_orchestration", "sub-orchestration")):
        names = sorted({t.get("name") or "?" for t in pending if t["kind"] == kind})
        if names:
            parts.append(f"{label} {', '.join(names)}")
    step = checkpoint.get("label")
    where = f" at {step}" if step else ""
    return f"waiting: instance {instance_id}{where} waits for " + "; ".join(parts)


def _leaves(task_id: Any, tasks: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    task = tasks.get(task_id) if isinstance(task_id, int) else None
    if task is None:
        return []
    if task["kind"] in ("when_all", "when_any") or task.get("children"):
        out: list[dict[str, Any]] = []
        for child in task.get("children", []):
            out.extend(_leaves(child, tasks))
        return out
    return [task]


class WaitReporter:
    """Prints `describe_wait` for one instance whenever it changes after a quiet spell."""

    def __init__(self, instance_id: str, read: Callable[[], list[Any]], *,
                 quiet: float = 1.0, out: TextIO | None = None) -> None:
        self.instance_id = instance_id
        self.read = read
        self.quiet = quiet
        self.out = out or sys.stderr
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="tether-wait", daemon=True)

    def __enter__(self) -> WaitReporter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        seen, said = -1, None
        while not self._stop.wait(self.quiet):
            try:
                records = self.read()
            except Exception:  # not created yet, a torn tail being written, a store hiccup:
                continue       # this is a courtesy; the run itself reports real problems
            if len(records) != seen:  # still moving: wait for a quiet spell
                seen = len(records)
                continue
            line = describe_wait(self.instance_id, records)
            if line is not None and line != said:
                print(line, file=self.out, flush=True)
            said = line
