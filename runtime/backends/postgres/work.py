"""Activity work items in a PostgreSQL store: any worker with capacity runs them.

- `enqueue` stages rows of `work_items` on the owner's claim; they appear with the
  owner's next commit (so an activity is handed out only by a step that is durable),
  once per (instance, generation, task, attempt) whatever the retries.
- `take` claims visible items with a lease: `UPDATE ... WHERE id IN (SELECT ... FOR
  UPDATE SKIP LOCKED LIMIT n)`; workers never wait on each other's rows, and an item
  whose taker died becomes visible again when its lease runs out (the attempt runs again:
  at least once). Items of instances the taker owns are retired instead (`own`): the
  owner runs them as its own attempts, with no `finish` and no inbox round trip.
- `pending` tells a new owner which attempts the queue still has (queued, leased, or
  answered in the inbox), so it waits for them rather than running them a second time.
- `finish` deletes the item (only if this taker still holds it) and inserts the result
  into the owner's inbox in the same transaction, then notifies: the result is recorded
  once, or not at all by a taker that lost the item.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runtime.backends.base import Claim, Message, WorkItem, WorkQueue
from runtime.backends.postgres import schema
from runtime.backends.postgres.claim import PostgresClaim, dump
from runtime.backends.postgres.queries import NO_FLUSH, WAKE
from runtime.backends.postgres.wakeups import WORK

#: seconds between result reads while no notification came (a missed one costs this much)
ASK_EVERY = 1.0

if TYPE_CHECKING:
    from runtime.backends.postgres.backend import PostgresBackend
    from runtime.backends.postgres.sessions import Conn


class PostgresWorkQueue(WorkQueue):
    def __init__(self, backend: PostgresBackend) -> None:
        self.backend = backend
        s = f'"{backend.schema}"'
        # Take up to n visible items: those of instances this process owns are retired
        # at once (`own`: the owner runs them as its own attempts, recorded by its own
        # commits), the others are leased. The owned instances' rows are locked FOR SHARE,
        # so a claim by a new owner is ordered before or after this statement: before,
        # and its items are leased like anyone's; after, and the new owner's `pending`
        # no longer finds them (it runs them itself) instead of waiting for a result
        # nobody will send.
        # A take is an ownership write, committed without waiting for its WAL flush
        # (`NO_FLUSH`, as claims are): a server crash that undoes it puts the items back
        # in the queue, where they are taken again (at least once); the owner's flushed
        # step commit, the only place a result is recorded, flushes it too (one WAL).
        self._take = (
            f"WITH {NO_FLUSH}, picked AS (SELECT id, instance_id FROM {s}.work_items"
            " WHERE visible_at <= now() AND (owner IS NULL OR lease_until < now())"
            " ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED),"
            f" mine AS (SELECT i.id FROM {s}.instances i WHERE i.owner = %(me)s"
            " AND i.id IN (SELECT instance_id FROM picked) FOR SHARE),"
            f" retired AS (DELETE FROM {s}.work_items w USING picked p WHERE w.id = p.id"
            " AND p.instance_id IN (SELECT id FROM mine) RETURNING w.id, w.instance_id,"
            " w.generation, w.task_id, w.attempt, w.name, w.input, true AS own),"
            f" leased AS (UPDATE {s}.work_items w SET owner = %(me)s,"
            " lease_until = now() + %(lease)s * interval '1 second' FROM picked p"
            " WHERE w.id = p.id AND p.instance_id NOT IN (SELECT id FROM mine)"
            " RETURNING w.id, w.instance_id, w.generation, w.task_id, w.attempt, w.name,"
            " w.input, false AS own)"
            " SELECT t.* FROM (SELECT * FROM retired UNION ALL SELECT * FROM leased) t"
            " CROSS JOIN nf")
        self._pending = (
            f"SELECT task_id, attempt FROM {s}.work_items WHERE instance_id = %s"
            " AND generation = %s"
            " UNION SELECT (body->>'task')::int, (body->>'attempt')::int"
            f" FROM {s}.inbox WHERE instance_id = %s AND name LIKE 'result-%%'"
            " AND (body->>'generation')::int = %s")
        # Retire the item if we still hold it and, only then, post its result and wake
        # the owner: one statement, so one transaction in autocommit.
        self._finish = (
            f"WITH gone AS (DELETE FROM {s}.work_items WHERE id = %s AND owner = %s RETURNING id),"
            f" posted AS (INSERT INTO {s}.inbox (instance_id, name, body)"
            " SELECT %s, %s, %s::json FROM gone ON CONFLICT DO NOTHING),"
            f" woke AS (UPDATE {s}.instances SET ready_at = {WAKE}"
            " WHERE id = %s AND EXISTS (SELECT 1 FROM gone)),"
            " note AS (SELECT pg_notify(%s, %s) WHERE EXISTS (SELECT 1 FROM gone))"
            " SELECT count(*), (SELECT count(*) FROM note) FROM gone")
        # `finish` of many items: the rows still ours are retired, and only theirs are
        # posted; each owner is woken once.
        self._finish_many = (
            "WITH f AS (SELECT * FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[])"
            " AS f(id, instance_id, name, body)),"
            f" gone AS (DELETE FROM {s}.work_items w USING f WHERE w.id = f.id"
            " AND w.owner = %s RETURNING f.instance_id, f.name, f.body),"
            f" posted AS (INSERT INTO {s}.inbox (instance_id, name, body)"
            " SELECT instance_id, name, body::json FROM gone ON CONFLICT DO NOTHING),"
            f" woke AS (UPDATE {s}.instances SET ready_at = now()"
            " WHERE id IN (SELECT instance_id FROM gone) AND (ready_at IS NULL OR ready_at > now())),"
            " note AS (SELECT pg_notify(%s, t) FROM (SELECT DISTINCT instance_id AS t FROM gone) d)"
            " SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM note)")
        self._results = (f"SELECT instance_id, name, body FROM {s}.inbox"
                         " WHERE instance_id = ANY(%s) AND name LIKE 'result-%%' ORDER BY seq")
        self._results_mark: tuple[int, int] = (-1, -1)
        self._results_at = 0.0
        self._renew = (f"UPDATE {s}.work_items SET lease_until = now() + %s * interval '1 second'"
                       " WHERE id = ANY(%s) AND owner = %s")
        self._abandon = (f"WITH back AS (UPDATE {s}.work_items SET owner = NULL,"
                         " lease_until = NULL WHERE id = ANY(%s) AND owner = %s RETURNING id),"
                         " note AS (SELECT pg_notify(%s, %s) WHERE EXISTS (SELECT 1 FROM back))"
                         " SELECT (SELECT count(*) FROM note)")

    def enqueue(self, claim: Claim, items: Sequence[WorkItem]) -> None:
        assert isinstance(claim, PostgresClaim)
        claim.staged.work.extend(items)

    def take(self, limit: int, lease_seconds: float) -> list[WorkItem]:
        if limit <= 0:
            return []
        owner = self.backend.owner

        def op(conn: Conn) -> list[WorkItem]:
            rows = conn.execute(self._take, {"me": owner, "lease": lease_seconds,
                                             "limit": limit}).fetchall()
            return [WorkItem(instance_id=r[1], generation=r[2], task=r[3], attempt=r[4],
                             name=r[5], input=r[6], token=r[0], own=r[7]) for r in sorted(rows)]

        # Repeatable: items leased by a COMMIT that was cut off are ours (owner) but not
        # returned; their lease runs out and they are taken again (at least once). Own
        # items retired by it are restarted from the checkpoint by whoever owns the
        # instance next, like any attempt of the owner's that ran in a process that died.
        items: list[WorkItem] = self.backend._conn_run(op, transaction=False)
        return items

    def pending(self, instance_id: str, generation: int) -> set[tuple[int, int]]:
        rows = self.backend._read(lambda c: c.execute(
            self._pending, (instance_id, generation, instance_id, generation)).fetchall())
        return {(int(r[0]), int(r[1])) for r in rows if r[0] is not None and r[1] is not None}

    def results(self, instance_ids: Sequence[str]) -> list[tuple[str, Message]]:
        """One query for every instance's results, skipped while no notification came
        since the last one (every `finish` notifies the owner) and under ASK_EVERY ago."""
        if not instance_ids:
            return []
        mark = self.backend._wakeups().any_mark()
        if (mark[0] >= 0 and mark == self._results_mark
                and time.monotonic() - self._results_at < ASK_EVERY):
            return []
        self._results_mark, self._results_at = mark, time.monotonic()
        rows = self.backend._read(lambda c: c.execute(self._results, (list(instance_ids),)).fetchall())
        return [(r[0], Message(r[1], r[2])) for r in rows]

    def queued_mark(self) -> Any:
        """The store's count of "work" notifications (wakeups.py), or None while the
        listener is not live (nothing may be taken as known)."""
        mark = self.backend._wakeups().work_mark()
        return None if mark[0] < 0 else mark

    def renew(self, items: Sequence[WorkItem], lease_seconds: float) -> None:
        """Extend the leases of items still running (long activities)."""
        tokens = [i.token for i in items]
        if tokens:
            self.backend._conn_run(lambda c: c.execute(
                self._renew, (lease_seconds, tokens, self.backend.owner)))

    def abandon(self, items: Sequence[WorkItem]) -> None:
        tokens = [i.token for i in items]
        if tokens:
            channel = schema.channel(self.backend.schema)
            self.backend._conn_run(lambda c: c.execute(
                self._abandon, (tokens, self.backend.owner, channel, WORK)), transaction=False)

    def finish_many(self, done: Sequence[tuple[WorkItem, dict[str, Any]]]) -> None:
        """One statement for every (item, outcome): retired if still ours, its result
        posted, its owner woken and notified (one flushed commit, not one per item)."""
        if len(done) == 1:
            self.finish(*done[0])
            return
        if not done:
            return
        params = ([item.token for item, _ in done], [item.instance_id for item, _ in done],
                  [result_message_id(item) for item, _ in done],
                  [dump({"type": "result", **outcome}) for _, outcome in done],
                  self.backend.owner, schema.channel(self.backend.schema))
        # Repeatable as `finish` is: a retry after a cut-off COMMIT finds the items gone
        # and posts nothing; the unique message names keep each result single.
        self.backend._conn_run(lambda c: c.execute(self._finish_many, params).fetchone(),
                               transaction=False)
        for item, _ in done:
            self.backend._quiet.pop(item.instance_id, None)

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
