"""The account of an instance's activity executions, read from its records through any
backend: what the differential tests compare with `runtime.direct`, and what
`continue_as_new` keeps of a finished generation (`Claim.new_generation`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from runtime.backends.base import FINAL, Backend, Record


def generation_calls(backend: Backend, instance_id: str) -> list[tuple[str, Any]]:
    """(name, input) of each activity execution in the current generation, by task id;
    a sub-orchestration's executions (all its generations) stand where it was started."""
    return account(backend.history(instance_id), backend.exists, backend.activity_calls)


def account(records: Iterable[Record], exists: Callable[[str], bool],
            calls_of: Callable[[str], list[tuple[str, Any]]]) -> list[tuple[str, Any]]:
    """The account of one generation from its `records`: activities by task id (repeated
    once per retry), a sub-orchestration's calls (`calls_of(child)`, if `exists(child)`)
    in its task's place, then the final step's. Every backend reads it this way."""
    activities: dict[int, tuple[str, Any]] = {}
    children: dict[int, str] = {}
    attempts: dict[int, int] = {}
    tail: list[tuple[str, Any]] = []
    for rec in records:
        if rec.kind == "checkpoint":
            for t in rec.data["tasks"]:
                if t["kind"] == "activity":
                    activities.setdefault(t["id"], (t.get("name", ""), t.get("input")))
                elif t["kind"] == "sub_orchestration" and t.get("child_id"):
                    children.setdefault(t["id"], t["child_id"])
        elif rec.kind == "retry":
            attempts[rec.data["task"]] = rec.data["attempt"]
        elif rec.kind in FINAL:
            tail = [(c["name"], c["input"]) for c in rec.data.get("unsaved_calls", [])]
    out: list[tuple[str, Any]] = []
    for task_id in sorted(activities.keys() | children.keys()):
        if task_id in activities:
            out.extend([activities[task_id]] * attempts.get(task_id, 1))
        elif exists(children[task_id]):
            out.extend(calls_of(children[task_id]))
    return out + tail
