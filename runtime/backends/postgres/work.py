"""Activity work items in a PostgreSQL store: any worker with capacity runs them.

- `enqueue` stages rows of `work_items` on the owner's claim; they appear with the
  owner's next commit (so an activity is handed out only by a step that is durable),
  once per (instance, generation, task, attempt) whatever the retries.
- `take` claims visible items with a lease: `UPDATE ... WHERE id IN (SELECT ... FOR
  UPDATE SKIP LOCKED LIMIT n)`; workers never wait on each other's rows, and an item
  whose taker died becomes visible again when its lease runs out (the attempt runs again:
  at least once).
- `finish` deletes the item (only if this taker still holds it) and inserts the result
  into the owner's inbox in the same transaction, then notifies: the result is recorded
  once, or not at all by a taker that lost the item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runtime.backends.base import Claim, WorkItem, WorkQueue
from runtime.backends.postgres import schema
from runtime.backends.postgres.claim import PostgresClaim, dump

if TYPE_CHECKING:
    from runtime.backends.postgres.backend import PostgresBackend
    from runtime.backends.postgres.sessions import Conn


class PostgresWorkQueue(WorkQueue):
    def __init__(self, backend: PostgresBackend) -> None:
        self.backend = backend
        s = f'"{backend.schema}"'
        self._take = (
            f"UPDATE {s}.work_items SET owner = %s, lease_until = now() + %s * interval '1 second' "
            f"WHERE id IN (SELECT id FROM {s}.work_items WHERE visible_at <= now()"
            " AND (owner IS NULL OR lease_until < now()) ORDER BY id LIMIT %s"
            " FOR UPDATE SKIP LOCKED) "
            "RETURNING id, instance_id, generation, task_id, attempt, name, input")
        # Retire the item if we still hold it and, only then, post its result and wake
        # the owner: one statement, so one transaction in autocommit.
        self._finish = (
            f"WITH gone AS (DELETE FROM {s}.work_items WHERE id = %s AND owner = %s RETURNING id),"
            f" posted AS (INSERT INTO {s}.inbox (instance_id, name, body)"
            " SELECT %s, %s, %s::json FROM gone ON CONFLICT DO NOTHING),"
            f" woke AS (UPDATE {s}.instances SET ready_at = now()"
            " WHERE id = %s AND (ready_at IS NULL OR ready_at > now())"
            " AND EXISTS (SELECT 1 FROM gone)),"
            " note AS (SELECT pg_notify(%s, %s) WHERE EXISTS (SELECT 1 FROM gone))"
            " SELECT count(*), (SELECT count(*) FROM note) FROM gone")
        self._renew = (f"UPDATE {s}.work_items SET lease_until = now() + %s * interval '1 second'"
                       " WHERE id = ANY(%s) AND owner = %s")
        self._abandon = (f"UPDATE {s}.work_items SET owner = NULL, lease_until = NULL"
                         " WHERE id = ANY(%s) AND owner = %s")

    def enqueue(self, claim: Claim, items: Sequence[WorkItem]) -> None:
        assert isinstance(claim, PostgresClaim)
        claim.staged.work.extend(items)

    def take(self, limit: int, lease_seconds: float) -> list[WorkItem]:
        if limit <= 0:
            return []
        owner = self.backend.owner

        def op(conn: Conn) -> list[WorkItem]:
            rows = conn.execute(self._take, (owner, lease_seconds, limit)).fetchall()
            return [WorkItem(instance_id=r[1], generation=r[2], task=r[3], attempt=r[4],
                             name=r[5], input=r[6], token=r[0]) for r in sorted(rows)]

        # Repeatable: items taken by a COMMIT that was cut off are ours (owner) but not
        # returned; their lease runs out and they are taken again (at least once).
        items: list[WorkItem] = self.backend._conn_run(op)
        return items

    def renew(self, items: Sequence[WorkItem], lease_seconds: float) -> None:
        """Extend the leases of items still running (long activities)."""
        tokens = [i.token for i in items]
        if tokens:
            self.backend._conn_run(lambda c: c.execute(
                self._renew, (lease_seconds, tokens, self.backend.owner)))

    def abandon(self, items: Sequence[WorkItem]) -> None:
        tokens = [i.token for i in items]
        if tokens:
            self.backend._conn_run(lambda c: c.execute(self._abandon, (tokens, self.backend.owner)))

    def finish(self, item: WorkItem, outcome: dict[str, Any]) -> None:
        owner, channel = self.backend.owner, schema.channel(self.backend.schema)
        name = result_message_id(item)
        body = dump({"type": "result", **outcome})

        def op(conn: Conn) -> bool:
            row = conn.execute(self._finish, (item.token, owner, item.instance_id, name, body,
                                              item.instance_id, channel, item.instance_id)).fetchone()
            return row is not None and row[0] == 1  # 0: lost the item; its new taker's counts

        # Repeatable: after a cut-off COMMIT the item is gone (by us or by another taker)
        # and the retry does nothing; the unique message name keeps the result single.
        self.backend._conn_run(op, transaction=False)
        self.backend._quiet.pop(item.instance_id, None)  # an owner in this process: read it now


def result_message_id(item: WorkItem) -> str:
    """The inbox id of an attempt's result: one per (generation, task, attempt)."""
    return f"result-{item.generation}-{item.task}-{item.attempt}"
