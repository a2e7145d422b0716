"""Folding journal records into the `instances` row's status columns.

The file backend reads a status by opening the journal; here the owner keeps the status
columns of `instances` in step with the records it commits (in the same transaction),
so a status, a list page or a query is one indexed row read. `StatusFold` applies the
same rules the file backend's reader does (docs/journal.md, "Kinds"): Pending until the
first checkpoint, Running (or Suspended) after it, and the final record's status,
output, error and custom status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.backends.base import Record

FINAL = {"completed": "Completed", "failed": "Failed", "terminated": "Terminated"}


@dataclass
class StatusFold:
    """The status columns of one instance, as its records so far say."""

    status: str = "Pending"
    output: Any = None
    error: Any = None
    custom_status: Any = None
    updated: str = ""
    checkpointed: bool = False

    @classmethod
    def of(cls, records: list[Record]) -> StatusFold:
        fold = cls()
        for rec in records:
            fold.apply(rec)
        return fold

    def apply(self, rec: Record) -> None:
        kind, data = rec.kind, rec.data
        self.updated = rec.ts
        if kind == "created":
            self.status, self.output, self.error, self.custom_status = "Pending", None, None, None
            self.checkpointed = False
        elif kind == "checkpoint":
            self.checkpointed = True
            self.status = "Suspended" if data.get("suspended") else "Running"
            self.custom_status = data.get("custom_status")
        elif kind == "suspended":
            self.status = "Suspended"
        elif kind == "resumed":
            self.status = "Running" if self.checkpointed else "Pending"
        elif kind in FINAL:
            self.status = FINAL[kind]
            self.output, self.error = data.get("output"), data.get("error")
            self.custom_status = data.get("custom_status", self.custom_status)

    @property
    def ended(self) -> bool:
        return self.status in FINAL.values()
