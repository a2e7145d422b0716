"""`PostgresBackend.post_many`: many inbox messages in one transaction, sent as one
pipeline (psycopg pipeline mode: the statements go out together and the server's answers
come back together, a constant number of round trips however many messages, where
`post` costs one or more per message), as `Client.signal_entities` sends them.

Each message is still its own statement, the same one `post` runs, so everything `post`
guarantees holds per message: an entity's message goes in with `Queries.post_entity`,
which inserts it only if the entity's row is there and locks that row (so a concurrent
`remove_idle` either sees the message or removed the row first, and the message's
answer is None: "entity gone"); an orchestration's with `Queries.post`. The statements
run in the order of the instances' ids (stable, so one instance's messages keep their
order): two batches lock the rows they wake in one order and cannot deadlock each
other. Repeatable after a lost COMMIT: every message has its own new id, and the insert
skips an id that exists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runtime.backends.postgres import schema
from runtime.backends.postgres.claim import dump, new_message_id
from runtime.ids import validate_id

if TYPE_CHECKING:
    from psycopg import Cursor

    from runtime.backends.postgres.backend import PostgresBackend
    from runtime.backends.postgres.sessions import Conn


def post_many(backend: PostgresBackend,
              items: Sequence[tuple[str, dict[str, Any]]]) -> list[str | None]:
    """The messages (instance id, body) posted together; their ids in the order given,
    None for a message to an entity that is not there (any more)."""
    if not items:
        return []
    channel = schema.channel(backend.schema)
    rows = []
    for instance_id, body in items:
        validate_id(instance_id)
        rows.append((instance_id, new_message_id(), dump(body)))
    order = sorted(range(len(rows)), key=lambda n: rows[n][0])  # stable: FIFO per instance

    def op(conn: Conn) -> list[str | None]:
        q = backend.q
        cursors: dict[int, Cursor[tuple[Any, ...]]] = {}
        with conn.pipeline(), conn.transaction():
            for n in order:
                instance_id, message_id, data = rows[n]
                if instance_id.startswith("@"):
                    cursors[n] = conn.execute(q.post_entity, (instance_id, message_id, data,
                                                              channel, instance_id))
                else:
                    conn.execute(q.post, (instance_id, message_id, data, instance_id, channel,
                                          instance_id))
        # the pipeline has synced: every answer is here
        out: list[str | None] = []
        for n, (_, message_id, _) in enumerate(rows):
            cur = cursors.get(n)
            found = cur.fetchone() if cur is not None else (1,)
            out.append(message_id if found and found[0] else None)
        return out

    ids: list[str | None] = backend._conn_run(op, transaction=False)
    for instance_id, _ in items:  # ours: no need to wait for the notification
        backend._quiet.pop(instance_id, None)
    return ids
