"""A claim on one instance in a PostgreSQL store: its fence and what it has staged.

Staging only keeps records in memory (with their sequence numbers), the messages they
consume, the messages they send to other instances and the work items they hand out; `PostgresBackend.commit` writes all of that,
for many claims, in one transaction whose first statement locks the claims' rows and
checks their fences (`instances.fence`). A claim whose fence moved (its lease ran out
and another worker claimed the instance) is refused as a whole: none of its staged
rows is written, so a frozen worker that wakes up cannot add to a history that has
moved on.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from runtime.backends.base import Claim, FenceLost, Loaded, Record, WorkItem
from runtime.backends.postgres.status import StatusFold
from runtime.ids import validate_id

#: `PostgresClaim.tombstone` when the claim's statement did not read it
UNASKED = object()


def new_message_id() -> str:
    """An inbox message's id: unique, ordered by time (as the file backend's names)."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"


def dump(value: Any) -> str:
    """A JSON value as the text stored in a `json` column (exact, ASCII, no NaN)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


@dataclass
class Staged:
    """What a claim will write at its next commit."""

    records: list[Record] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # each record's data as stored (`dump`)
    acks: list[str] = field(default_factory=list)
    work: list[WorkItem] = field(default_factory=list)
    sends: list[tuple[str, str, str]] = field(default_factory=list)  # (target, id, body)

    def __bool__(self) -> bool:
        return bool(self.records or self.acks or self.work or self.sends)


class PostgresClaim(Claim):
    def __init__(self, instance_id: str, fence: int, generation: int,
                 loaded: Loaded, next_seq: int, fold: StatusFold,
                 new_generation: Callable[[PostgresClaim, dict[str, Any], str,
                                           Sequence[tuple[str, Any]]], Loaded]) -> None:
        self.instance_id = instance_id
        self.fence = fence
        self.generation = generation
        self._loaded = loaded
        self._next_seq = next_seq
        self.fold = fold
        self.head_seq: int | None = None  # a checkpoint staged since the last commit
        self.staged = Staged()
        self.staged_at: float | None = None  # monotonic time of the oldest staged record
        self.released = False
        self.lost = False  # another worker claimed the instance: every use is FenceLost
        self.thread = 0  # the thread that took it (claims belong to it)
        self._new_generation = new_generation
        #: the id's tombstone (its text, or None) as the claim's statement read it for an
        #: entity with no checkpoint; UNASKED otherwise (`PostgresBackend.removed_memory`)
        self.tombstone: str | object | None = UNASKED

    @property
    def loaded(self) -> Loaded:
        return self._loaded

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def stage(self, items: Sequence[tuple[str, dict[str, Any]]], ts: str) -> list[Record]:
        self._check_usable()
        out: list[Record] = []
        texts: list[str] = []
        for kind, data in items:
            rec = Record(self._next_seq, kind, ts, data)
            # refuse a value PostgreSQL could not store before it is staged; the text is
            # what the commit writes (encoded once)
            texts.append(dump(data))
            self._next_seq += 1
            out.append(rec)
            self.fold.apply(rec)
            if kind == "checkpoint":
                self.head_seq = rec.seq
        self.staged.records.extend(out)
        self.staged.texts.extend(texts)
        if out and self.staged_at is None:
            self.staged_at = time.monotonic()
        return out

    def ack(self, message_ids: Iterable[str]) -> None:
        self._check_usable()
        self.staged.acks.extend(message_ids)

    def send(self, target_instance_id: str, body: dict[str, Any]) -> str:
        self._check_usable()
        validate_id(target_instance_id)
        message_id = new_message_id()
        self.staged.sends.append((target_instance_id, message_id, dump(body)))
        return message_id

    def new_generation(self, data: dict[str, Any], ts: str,
                       calls: Sequence[tuple[str, Any]]) -> Loaded:
        self._check_usable()
        return self._new_generation(self, data, ts, calls)

    def reset(self, loaded: Loaded, generation: int, next_seq: int, fold: StatusFold) -> None:
        """After a new generation was committed: start over from its `created` record."""
        self._loaded, self.generation = loaded, generation
        self._next_seq = next_seq
        self.fold, self.head_seq, self.staged = fold, None, Staged()
        self.staged_at = None

    def committed(self) -> None:
        self.head_seq = None
        self.staged = Staged()
        self.staged_at = None

    def _check_usable(self) -> None:
        if self.lost:
            raise FenceLost(f"instance {self.instance_id}: another worker claimed it "
                            "(its lease ran out)", [self.instance_id])
        if self.released:
            raise RuntimeError(f"the claim on {self.instance_id} was released")
