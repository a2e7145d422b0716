"""What a removed entity leaves behind: its tombstone, the memory of its senders.

An entity deduplicates what it receives by what it remembers of its senders (runtime.
entities.scheduler): the last seq applied per orchestration generation or entity, and
the idempotency keys applied (client keys, and the keys of scheduled signals). A sender
re-sends its last batch's messages whenever it is adopted again (runtime/engine/
entities.py), so that memory must outlive the entity: `Client.clean_entities` removes
an entity with no state, and the one a later message creates under the same id must
still drop the repeats of what the removed one applied.

So a removal keeps the memory (`memory_of`) as the id's tombstone (`Backend.
remove_idle`), in the removal's own atomic step, replacing any earlier tombstone, and
the next incarnation starts from it (`restored`) at its first batch, read under its
claim (`Backend.removed_memory`): while an incarnation exists, no removal can write the
id's tombstone but its own, so what it reads is what every earlier incarnation applied
(an incarnation starts from its predecessor's memory, so each tombstone holds all the
earlier ones' but what the usual pruning dropped). A memory that is empty is no
tombstone (None): nothing to keep.

The tombstone is `{"last_seq": {sender: seq}, "client_keys": [key, ...]}`: as big as
that memory was (a few dozen bytes per sender and per key; the keys are at most
`scheduler.CLIENT_KEY_WINDOW`), and kept for as long as the id has none of its own,
that is forever unless `Backend.purge` drops it (docs/entities.md).
"""

from __future__ import annotations

from typing import Any

from runtime.entities.scheduler import Scheduler

__all__ = ["memory_of", "restored"]


def memory_of(sched: Scheduler) -> dict[str, Any] | None:
    """What a removal keeps of an entity with this scheduler; None when it remembers no
    sender (no tombstone is needed)."""
    if not sched.last_seq and not sched.client_keys:
        return None
    return {"last_seq": dict(sched.last_seq), "client_keys": list(sched.client_keys)}


def restored(memory: Any) -> Scheduler:
    """The scheduler an entity created anew starts with, given its id's tombstone (None:
    a fresh one). Entries of another shape (a tombstone written by hand) are skipped."""
    if not isinstance(memory, dict):
        return Scheduler()
    seqs = memory.get("last_seq")
    keys = memory.get("client_keys")
    last = {str(k): v for k, v in seqs.items()
            if isinstance(v, int) and not isinstance(v, bool)} if isinstance(seqs, dict) else {}
    kept = tuple(k for k in keys if isinstance(k, str)) if isinstance(keys, list) else ()
    return Scheduler(last_seq=last, client_keys=kept)
