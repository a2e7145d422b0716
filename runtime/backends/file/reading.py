"""The file backend's readers: an instance's status document, and the activity calls of
its finished generations, read without its lock. Safe while another process appends: reading stops at the first
incomplete record."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from runtime.backends.base import DAMAGED, FINAL
from runtime.backends.file.folders import Store
from runtime.backends.file.journal import JournalError, NoJournal, Opened, recover


def read_status(store: Store, instance_id: str) -> dict[str, Any] | None:
    """The status document of an instance, read without its lock; None if it is unknown.
    A damaged journal gives a document with runtimeStatus "Damaged" and `damage`."""
    folder = store.folder(instance_id)
    try:
        opened, _, _ = recover(folder)
    except NoJournal:
        return None
    except JournalError as exc:
        return damaged_status(instance_id, str(exc))
    except IsADirectoryError:
        return damaged_status(instance_id, f"instance {instance_id}: {folder / 'journal'} is a "
                              "directory, not a journal")
    except OSError as exc:
        return damaged_status(instance_id, f"instance {instance_id}: cannot read "
                              f"{exc.filename or folder}: {exc.strerror or exc}")
    return status_of(instance_id, opened)


def damaged_status(instance_id: str, damage: str) -> dict[str, Any]:
    return {"name": None, "instanceId": instance_id, "runtimeStatus": DAMAGED, "input": None,
            "output": None, "customStatus": None, "createdTime": None,
            "lastUpdatedTime": None, "error": {"type": "InstanceDamaged", "message": damage},
            "attempt": 1, "parent": None, "damage": damage, "owes": False}


def status_of(instance_id: str, opened: Opened) -> dict[str, Any]:
    """The status document of what `recover` found (`owes`: fire-and-forget work owed
    after the end, not yet sent)."""
    created = opened.first
    c = created.data
    status, output, error, custom = "Pending", None, None, None
    last = created.ts
    owed: set[str] = {o["key"] for o in c.get("outbox", [])}
    if opened.checkpoint is not None:
        cp = opened.checkpoint.data
        status = "Suspended" if cp.get("suspended") else "Running"
        custom = cp.get("custom_status")
        last = opened.checkpoint.ts
        owed = {o["key"] for o in cp.get("outbox", [])}
    for rec in opened.tail:
        last = rec.ts
        if rec.kind == "suspended":
            status = "Suspended"
        elif rec.kind == "resumed":
            status = "Running" if opened.checkpoint is not None else "Pending"
        elif rec.kind == "sent":
            owed.discard(rec.data.get("key", ""))
        elif rec.kind in FINAL:
            status = FINAL[rec.kind]
            output, error = rec.data.get("output"), rec.data.get("error")
            custom = rec.data.get("custom_status", custom)
            owed.update(o["key"] for o in rec.data.get("outbox", []))
    return {"name": c.get("name"), "instanceId": instance_id, "runtimeStatus": status,
            "input": c.get("input"), "output": output, "customStatus": custom,
            "createdTime": c.get("created", created.ts), "lastUpdatedTime": last,
            "error": error, "attempt": c.get("attempt", 1), "parent": c.get("parent"),
            "owes": bool(owed)}


def earlier_calls(folder: Path) -> list[tuple[str, Any]]:
    """Activity calls of the instance's finished generations (`generations.jsonl`; a
    line with generation -1 holds a retried child's earlier attempts)."""
    out: list[tuple[str, Any]] = []
    with contextlib.suppress(FileNotFoundError):
        seen: set[int] = set()
        for line in (folder / "generations.jsonl").read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                gen = json.loads(line)
                if gen["generation"] not in seen:
                    seen.add(gen["generation"])
                    out.extend((name, data) for name, data in gen["calls"])
    return out
