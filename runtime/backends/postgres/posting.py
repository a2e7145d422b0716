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


def post_many(backend: PostgresBackend, items: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    """The messages (instance id, body) posted together, in order; their ids."""
    if not items:
        return []
    rows = []
    channel = schema.channel(backend.schema)
    for instance_id, body in items:
        validate_id(instance_id)
        rows.append((instance_id, new_message_id(), dump(body), instance_id, channel,
                     instance_id))

    def op(conn: Conn) -> list[str]:
        with conn.cursor() as cur:
            cur.executemany(backend.q.post, rows)
        return [r[1] for r in rows]

    ids: list[str] = backend._conn_run(op)
    for instance_id, _ in items:  # ours: no need to wait for the notification
        backend._quiet.pop(instance_id, None)
    return ids
