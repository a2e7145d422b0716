"""`PostgresBackend.generation_ended` in one statement: the instance's status and its
current generation's number and incarnation (record 0 of that generation, the `created`
record, by its primary key), where the default `Backend.generation_ended` reads the
status and then the whole generation's history to look at its first record. Entities
ask it about the senders they may forget (runtime/engine/entities.py) and the lock
holders they may release; the rule itself is `base.ended_for_good`, shared with every
backend. Reads committed rows only, so a True is durable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.backends.base import ended_for_good

if TYPE_CHECKING:
    from runtime.backends.postgres.backend import PostgresBackend
    from runtime.backends.postgres.sessions import Conn


def statement(schema: str) -> str:
    s = f'"{schema}"'
    return (f"SELECT i.status, i.generation, j.data->>'incarnation' FROM {s}.instances i"
            f" LEFT JOIN {s}.journal j ON j.instance_id = i.id AND j.generation = i.generation"
            " AND j.seq = 0 WHERE i.id = %s")


def generation_ended(backend: PostgresBackend, instance_id: str, generation: int,
                     incarnation: str | None) -> bool:
    sql = statement(backend.schema)

    def op(conn: Conn) -> Any:
        return conn.execute(sql, (instance_id,)).fetchone()

    row = backend._read(op)
    if row is None:
        return True  # gone (purged)
    status, current, current_incarnation = row
    return ended_for_good(status, int(current), current_incarnation, generation, incarnation)
