"""`PostgresBackend.post_many`: many inbox messages in one transaction (one WAL flush and
one round trip per statement batch, where `post` commits each on its own), as
`Client.signal_entities` sends them. Repeatable after a lost COMMIT: every message has
its own new id, and the insert skips an id that exists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runtime.backends.postgres import schema
from runtime.backends.postgres.claim import dump, new_message_id
from runtime.ids import validate_id

if TYPE_CHECKING:
    from runtime.backends.postgres.backend import PostgresBackend
    from runtime.backends.postgres.sessions import Conn


def post_many(backend: PostgresBackend,
              items: Sequence[tuple[str, dict[str, Any]]]) -> list[str | None]:
    """The messages (instance id, body) posted together, in order; their ids, None for a
    message to an entity that is not there (any more): an entity's message goes in with
    `Queries.post_entity`, which inserts it only if the entity's row is there (and locks
    it, so a concurrent `remove_idle` either sees the message or removed the row first)."""
    if not items:
        return []
    channel = schema.channel(backend.schema)
    rows = []
    for instance_id, body in items:
        validate_id(instance_id)
        rows.append((instance_id, new_message_id(), dump(body)))

    def op(conn: Conn) -> list[str | None]:
        q = backend.q
        out: list[str | None] = []
        with conn.cursor() as cur:
            for instance_id, message_id, data in rows:
                if instance_id.startswith("@"):
                    found = cur.execute(q.post_entity, (instance_id, message_id, data, channel,
                                                        instance_id)).fetchone()
                    out.append(message_id if found and found[0] else None)
                else:
                    cur.execute(q.post, (instance_id, message_id, data, instance_id, channel,
                                         instance_id))
                    out.append(message_id)
        return out

    ids: list[str | None] = backend._conn_run(op)
    for instance_id, _ in items:  # ours: no need to wait for the notification
        backend._quiet.pop(instance_id, None)
    return ids
