"""Reading an instance without its lock: its status document and the account of its
activity executions. Safe while another process appends: reading stops at the first
incomplete record."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from runtime.instance import FINAL
from runtime.journal import JournalError, iter_records, recover
from runtime.store import Store


def read_status(store: Store, instance_id: str) -> dict[str, Any] | None:
    """The status document of an instance, read without its lock; None if it is unknown."""
    try:
        opened, _, _ = recover(store.folder(instance_id))
    except (JournalError, OSError):
        return None
    created = opened.first
    c = created.data
    status, output, error, custom = "Pending", None, None, None
    last = created.ts
    if opened.checkpoint is not None:
        cp = opened.checkpoint.data
        status = "Suspended" if cp.get("suspended") else "Running"
        custom = cp.get("custom_status")
        last = opened.checkpoint.ts
    for rec in opened.tail:
        last = rec.ts
        if rec.kind == "suspended":
            status = "Suspended"
        elif rec.kind == "resumed":
            status = "Running" if opened.checkpoint is not None else "Pending"
        elif rec.kind in FINAL:
            status = FINAL[rec.kind]
            output, error = rec.data.get("output"), rec.data.get("error")
            custom = rec.data.get("custom_status", custom)
    return {"name": c.get("name"), "instanceId": instance_id, "runtimeStatus": status,
            "input": c.get("input"), "output": output, "customStatus": custom,
            "createdTime": c.get("created", created.ts), "lastUpdatedTime": last,
            "error": error, "attempt": c.get("attempt", 1), "parent": c.get("parent")}


def activity_calls_of(folder: Path) -> list[tuple[str, Any]]:
    """(name, input) of each activity execution in this generation's journal, by task id."""
    activities: dict[int, tuple[str, Any]] = {}
    children: dict[int, str] = {}
    attempts: dict[int, int] = {}
    tail: list[tuple[str, Any]] = []
    for rec in iter_records(folder):
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
        elif (folder.parent / children[task_id] / "journal").exists():
            out.extend(all_activity_calls(folder.parent / children[task_id]))
    return out + tail


def all_activity_calls(folder: Path) -> list[tuple[str, Any]]:
    """Activity calls of every generation of an instance (and of its sub-orchestrations)."""
    out: list[tuple[str, Any]] = []
    with contextlib.suppress(FileNotFoundError):
        seen: set[int] = set()
        for line in (folder / "generations.jsonl").read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                gen = json.loads(line)
                if gen["generation"] not in seen:
                    seen.add(gen["generation"])
                    out.extend((name, data) for name, data in gen["calls"])
    return out + activity_calls_of(folder)
