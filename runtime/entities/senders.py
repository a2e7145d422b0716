"""Who sent an entity message: the sender identities entities deduplicate by.

An entity remembers, per sender, the last sequence number it applied (runtime.entities.
scheduler), so a sender's identity must name one stream of messages and never two. An
id alone does not: an orchestration instance purged and created again under its id
starts its task ids (its seqs) at 0 again, and so does an entity that `clean_entities`
removed and a later message created again. So the identity carries the **incarnation**
of the sender: a random token written into the `created` record of every new instance
(and every new generation of one) and kept by everything that continues it (a resume, a
rewind, an entity's journal compaction), as Durable Functions' execution id does.

- an orchestration generation: `instance:generation/incarnation`
- an entity: `@name@key/incarnation`
- a client: `client` (deduplicated by idempotency key instead)

`/` is in no instance id, so the incarnation splits off unambiguously, and the part
before it is what older tethers wrote (`instance:generation`, `@name@key`): a record
with no incarnation (a journal written before incarnations) keeps its old identity, and
its messages are deduplicated exactly as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

__all__ = ["INCARNATION", "Sender", "incarnation_of", "new_incarnation", "of_entity",
           "of_orchestration", "parse"]

#: the `created` record's field holding the incarnation
INCARNATION = "incarnation"
SEPARATOR = "/"


def new_incarnation() -> str:
    """A token no other instance of any id shares (64 random bits; `os.urandom`, not
    `uuid`, which a warm `tether` command does not import: tests/cli/test_startup_imports.py)."""
    return os.urandom(8).hex()


def incarnation_of(created: dict[str, Any]) -> str | None:
    """The incarnation a `created` record's data names; None in an older journal."""
    value = created.get(INCARNATION)
    return value if isinstance(value, str) and value else None


def _with(base: str, incarnation: str | None) -> str:
    return base if incarnation is None else f"{base}{SEPARATOR}{incarnation}"


def of_orchestration(instance_id: str, generation: int, incarnation: str | None) -> str:
    return _with(f"{instance_id}:{generation}", incarnation)


def of_entity(entity_id: str, incarnation: str | None) -> str:
    return _with(entity_id, incarnation)


@dataclass(frozen=True)
class Sender:
    instance_id: str  # the orchestration instance, or the entity id
    generation: int | None  # None for an entity
    incarnation: str | None  # None when written without one

    @property
    def is_entity(self) -> bool:
        return self.generation is None


def parse(sender: str) -> Sender | None:
    """The parts of a sender identity; None for a client or anything else."""
    base, sep, incarnation = sender.partition(SEPARATOR)
    inc = incarnation if sep else None
    if base.startswith("@"):
        return Sender(base, None, inc)
    instance_id, _, generation = base.rpartition(":")
    if not instance_id or not generation.isdigit():
        return None
    return Sender(instance_id, int(generation), inc)
