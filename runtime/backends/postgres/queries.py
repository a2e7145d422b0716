"""The SQL of the PostgreSQL backend, one attribute per statement, with the store's
schema filled in (a checked identifier: url.SCHEMA_NAME, quoted).

Most writes are one statement each (data-modifying CTEs): in autocommit a statement is
a transaction of its own, so a step group, a claim with its load, a creation batch or a
post costs one round trip. `pg_notify` CTEs are plain SELECTs, which PostgreSQL runs
only when referenced, so each final SELECT references its `note`.
"""

from __future__ import annotations

#: a CTE (named `nf`, which the statement must reference to run it) that commits the
#: statement's transaction without waiting for its WAL to reach the disk: for writes that
#: a server crash may undo without harm (claims, releases, lease renewals), never for
#: records, messages or work items. WAL is one sequence: the next flushed commit of
#: anyone makes it durable too.
NO_FLUSH = "nf AS (SELECT set_config('synchronous_commit', 'off', true))"
SET_NO_FLUSH = "SET LOCAL synchronous_commit = off"
#: what a message does to its instance's row: ready now, unless it is ready earlier. The
#: UPDATE must touch the row even when the instance looks ready already (claimed: its
#: `ready_at` is in the past), so that it waits for a release that holds the row's lock
#: and then sees that release's `ready_at` (NULL, or a wake time). Skipping the UPDATE for
#: a ready-looking row lost messages: the release, whose snapshot predates the message,
#: cleared `ready_at`, and no worker offered the instance again (regression test in
#: tests/backends/test_postgres_backend.py, "lands during a release").
WAKE = "least(coalesce(ready_at, now()), now())"


class Queries:
    """The SQL of the backend, with the store's schema filled in (it is a checked
    identifier: url.SCHEMA_NAME)."""

    def __init__(self, schema_name: str) -> None:
        s = f'"{schema_name}"'
        self.create_instances = (
            "WITH n AS (SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[],"
            " %b::text[], %b::text[], %b::text[], %b::int[], %b::int[], %b::text[])"
            " AS n(id, name, cts, ts, input, parent, parent_id, attempt, generation, data)),"
            f" made AS (INSERT INTO {s}.instances (id, name, status, created_ts, created_at,"
            " updated_ts, updated_at, ready_at, input, parent, parent_id, attempt, generation) "
            "SELECT id, name, 'Pending', cts, cts::timestamptz, ts, ts::timestamptz, now(),"
            " input::json, parent::json, parent_id, attempt, generation FROM n"
            " ON CONFLICT (id) DO NOTHING RETURNING id),"
            f" records AS (INSERT INTO {s}.journal (instance_id, generation, seq, kind, ts, data)"
            " SELECT n.id, n.generation, 0, 'created', n.ts, n.data::json FROM n"
            " WHERE n.id IN (SELECT id FROM made)),"
            f" earlier AS (INSERT INTO {s}.generations (instance_id, generation, data)"
            " SELECT e.id, -1, e.data::json FROM unnest(%b::text[], %b::text[]) AS e(id, data)"
            " WHERE e.id IN (SELECT id FROM made)),"
            " note AS (SELECT pg_notify(%s, 'new'))"
            " SELECT id, (SELECT count(*) FROM note) FROM made")
        self.insert_record = (f"INSERT INTO {s}.journal (instance_id, generation, seq, kind, ts, data)"
                              " VALUES (%s, %s, %s, %s, %s, %s::json)")
        self.created_texts = (f"SELECT instance_id, data::text FROM {s}.journal"
                              " WHERE instance_id = ANY(%s) AND seq = 0")
        self.exists = f"SELECT 1 FROM {s}.instances WHERE id = %s"
        self.existing = f"SELECT id FROM {s}.instances WHERE id = ANY(%s)"
        # Claim and load in one statement: the fenced UPDATE, then the rows a resume
        # needs (record 0, the last checkpoint, what follows it). Committed without
        # waiting for the WAL flush (`NO_FLUSH`, docs/backends.md): a claim lost to a
        # server crash only moves the fence back, which the owner's first (flushed)
        # step commit detects as FenceLost; a flushed commit makes it durable with it.
        self.claim = (
            f"WITH {NO_FLUSH}, c AS (UPDATE {s}.instances SET owner = %s,"
            " lease_until = now() + %s * interval '1 second', fence = fence + 1 "
            f"WHERE id = (SELECT id FROM {s}.instances WHERE id = %s"
            " AND (owner IS NULL OR owner = %s OR lease_until < now()) FOR UPDATE SKIP LOCKED) "
            "RETURNING id, fence, generation, head_seq, next_seq) "
            "SELECT c.fence, c.generation, c.next_seq, j.seq, j.kind, j.ts, j.data,"
            # and, for an entity with no checkpoint (a new one: its first batch reads it),
            # its id's tombstone (`removed_memory`), saving that read its round trip
            " c.head_seq IS NULL AND c.id LIKE '@%%', CASE WHEN c.head_seq IS NULL AND"
            f" c.id LIKE '@%%' THEN (SELECT t.memory::text FROM {s}.removed_entities t"
            " WHERE t.id = c.id) END"
            " FROM c CROSS JOIN nf"
            # Two index ranges, not `seq = 0 OR seq >= head_seq`: PostgreSQL answers that
            # OR by reading every record of the generation and filtering (resume cost grew
            # with the history; tests/postgres/test_resume_cost.py).
            " LEFT JOIN LATERAL (SELECT seq, kind, ts, data FROM"
            f" {s}.journal WHERE instance_id = c.id AND generation = c.generation AND seq = 0"
            f" UNION ALL SELECT seq, kind, ts, data FROM {s}.journal WHERE instance_id = c.id"
            " AND generation = c.generation AND seq >= greatest(coalesce(c.head_seq, 1), 1)"
            ") j ON true ORDER BY j.seq")
        # `claim` of many instances in one statement (`claim_many`): the same fenced
        # UPDATE and the same two index ranges per claimed row; rows held by others are
        # skipped (SKIP LOCKED, or a live lease), missing ids simply match nothing.
        self.claim_many = (
            f"WITH {NO_FLUSH}, c AS (UPDATE {s}.instances SET owner = %s,"
            " lease_until = now() + %s * interval '1 second', fence = fence + 1 "
            f"WHERE id IN (SELECT id FROM {s}.instances WHERE id = ANY(%s)"
            " AND (owner IS NULL OR owner = %s OR lease_until < now()) ORDER BY id"
            " FOR UPDATE SKIP LOCKED) "
            "RETURNING id, fence, generation, head_seq, next_seq) "
            # and whether its inbox holds anything (`PostgresBackend.claim_many`)
            "SELECT c.id, c.fence, c.generation, c.next_seq, j.seq, j.kind, j.ts, j.data,"
            f" EXISTS (SELECT 1 FROM {s}.inbox m WHERE m.instance_id = c.id)"
            " FROM c CROSS JOIN nf"
            " LEFT JOIN LATERAL (SELECT seq, kind, ts, data FROM"
            f" {s}.journal WHERE instance_id = c.id AND generation = c.generation AND seq = 0"
            f" UNION ALL SELECT seq, kind, ts, data FROM {s}.journal WHERE instance_id = c.id"
            " AND generation = c.generation AND seq >= greatest(coalesce(c.head_seq, 1), 1)"
            ") j ON true ORDER BY c.id, j.seq")
        self.lock_own = f"SELECT 1 FROM {s}.instances WHERE id = %s AND fence = %s FOR UPDATE"
        # One group commit: every part comes in one JSON document (`g`: [rows, records,
        # acks, work, sends], each a list of arrays), not as 27 array parameters, which
        # psycopg dumped element by element (an eighth of a millisecond per step). As
        # `jsonb`, parsed once: a `json` value is text, parsed again by every `->` and
        # `->>` (the whole document once per part, each element once per field: 1.7 ms
        # a group of 16 claims, 1.35 ms as jsonb). Every JSON payload inside is a string
        # (`dump`'s ASCII text), which jsonb keeps exactly as written.
        self.step = (
            "WITH g AS (SELECT %b::jsonb AS doc),"
            " v AS (SELECT e->>0 AS id, (e->>1)::bigint AS fence, (e->>2)::int AS next_seq,"
            " (e->>3)::int AS head_seq, e->>4 AS status, e->>5 AS output, e->>6 AS error,"
            " e->>7 AS custom_status, e->>8 AS updated FROM g, jsonb_array_elements(g.doc->0) e),"
            f" ok AS (UPDATE {s}.instances i SET next_seq = v.next_seq,"
            " head_seq = coalesce(v.head_seq, i.head_seq), status = v.status,"
            " output = v.output::json, error = v.error::json,"
            " custom_status = v.custom_status::json, updated_ts = coalesce(v.updated, i.updated_ts),"
            " updated_at = coalesce(v.updated::timestamptz, i.updated_at)"
            " FROM v WHERE i.id = v.id AND i.fence = v.fence RETURNING i.id),"
            f" records AS (INSERT INTO {s}.journal (instance_id, generation, seq, kind, ts, data)"
            " SELECT e->>0, (e->>1)::int, (e->>2)::int, e->>3, e->>4, (e->>5)::json"
            " FROM g, jsonb_array_elements(g.doc->1) e WHERE e->>0 IN (SELECT id FROM ok)),"
            f" acks AS (DELETE FROM {s}.inbox m USING g, jsonb_array_elements(g.doc->2) a"
            " WHERE m.instance_id = a->>0 AND m.name = a->>1 AND a->>0 IN (SELECT id FROM ok)),"
            f" work AS (INSERT INTO {s}.work_items (instance_id, generation, task_id, attempt,"
            " name, input) SELECT w->>0, (w->>1)::int, (w->>2)::int, (w->>3)::int, w->>4,"
            " (w->>5)::json FROM g, jsonb_array_elements(g.doc->3) w"
            " WHERE w->>0 IN (SELECT id FROM ok) ON CONFLICT DO NOTHING),"
            # Messages to other instances (`Claim.send`), in the step's transaction; to
            # existing instances only. Waking a target always takes its row's lock (see
            # WAKE), never for a row `ok` updates (one statement must not update a row twice).
            " s AS (SELECT m->>0 AS sender, m->>1 AS target, m->>2 AS name, m->>3 AS body"
            " FROM g, jsonb_array_elements(g.doc->4) m WHERE m->>0 IN (SELECT id FROM ok)),"
            f" sent AS (INSERT INTO {s}.inbox (instance_id, name, body)"
            " SELECT s.target, s.name, s.body::json FROM s"
            f" WHERE EXISTS (SELECT 1 FROM {s}.instances t WHERE t.id = s.target)"
            " ON CONFLICT DO NOTHING),"
            f" woke AS (UPDATE {s}.instances t SET ready_at = {WAKE}"
            " WHERE t.id IN (SELECT target FROM s) AND t.id NOT IN (SELECT id FROM v)),"
            " told AS (SELECT pg_notify(%s, target) FROM (SELECT DISTINCT target FROM s) d),"
            " note AS (SELECT pg_notify(%s, 'work') WHERE %s)"
            # `note` and `told` are plain SELECTs: only evaluated when referenced.
            " SELECT id, (SELECT count(*) FROM note), (SELECT count(*) FROM told) FROM ok")
        self.seqs = f"SELECT id, next_seq, fence FROM {s}.instances WHERE id = ANY(%s)"
        self.generation_of = f"SELECT generation FROM {s}.instances WHERE id = %s"
        # `release` of claims, in one transaction of two statements (one round trip in
        # a pipeline, after the group's records if any). `ready_at` after it: NULL for a
        # finished instance, its wake time for one that sleeps, now for the others;
        # messages already there make it ready now. Lock the rows still ours
        # first, so that a post() that bumped ready_at before us is committed and seen
        # by the second statement's snapshot (READ COMMITTED), as `release` does; then
        # drop the results nobody awaits (finished) and clear the lease. The UPDATE's
        # EXISTS cannot see the DELETE of its own statement, so it leaves out the
        # messages that DELETE drops.
        self.lock_many = (f"SELECT i.id FROM {s}.instances i JOIN unnest(%b::text[], %b::bigint[])"
                          " AS h(id, fence) ON i.id = h.id AND i.fence = h.fence"
                          " ORDER BY i.id FOR UPDATE OF i")
        waiting = (f"EXISTS (SELECT 1 FROM {s}.inbox w WHERE w.instance_id = i.id"
                   " AND NOT (%(finished)s AND w.name LIKE 'result-%%'))")
        self.release_many = (
            "WITH h AS (SELECT * FROM unnest(%(ids)b::text[], %(fences)b::bigint[]) AS h(id, fence)),"
            f" dropped AS (DELETE FROM {s}.inbox m USING h, {s}.instances o WHERE %(finished)s"
            " AND m.instance_id = h.id AND m.name LIKE 'result-%%' AND o.id = h.id"
            " AND o.fence = h.fence)"
            f" UPDATE {s}.instances i SET owner = NULL, lease_until = NULL, ready_at = CASE"
            f" WHEN %(finished)s AND NOT {waiting} THEN NULL"
            f" WHEN %(wake)s::timestamptz IS NOT NULL AND NOT {waiting} THEN %(wake)s::timestamptz"
            " ELSE least(coalesce(ready_at, now()), now()) END"
            " FROM h WHERE i.id = h.id AND i.fence = h.fence")
        # Holders of this machine (`owners.machine_prefix()`), of one instance or of any
        # claim or work item.
        self.local_holders = (
            f"SELECT DISTINCT owner FROM {s}.instances WHERE (%s::text IS NULL OR id = %s)"
            " AND owner LIKE %s AND lease_until > now()"
            f" UNION SELECT owner FROM {s}.work_items WHERE %s::text IS NULL"
            " AND owner LIKE %s AND lease_until > now()")
        self.free_owner = (
            f"UPDATE {s}.instances SET owner = NULL, lease_until = NULL WHERE owner = %s",
            f"UPDATE {s}.work_items SET owner = NULL, lease_until = NULL WHERE owner = %s")
        self.renew = (f"WITH {NO_FLUSH} UPDATE {s}.instances i"
                      " SET lease_until = now() + %s * interval '1 second'"
                      " FROM unnest(%b::text[], %b::bigint[]) AS h(id, fence), nf"
                      " WHERE i.id = h.id AND i.fence = h.fence AND i.owner = %s RETURNING i.id")
        self.runnable = (
            f"SELECT id FROM {s}.instances WHERE ready_at IS NOT NULL AND ready_at <= now()"
            " AND coalesce(lease_until, '-infinity'::timestamptz) < now() AND id <> ALL(%s)"
            # in `instances_free` order: never claimed or released first, then lapsed
            " ORDER BY coalesce(lease_until, '-infinity'::timestamptz) LIMIT %s")
        self.insert_generation = (f"INSERT INTO {s}.generations (instance_id, generation, data)"
                                  " VALUES (%s, %s, %s::json) ON CONFLICT DO NOTHING")
        self.delete_records = f"DELETE FROM {s}.journal WHERE instance_id = %s AND generation = %s"
        self.new_generation = (
            f"UPDATE {s}.instances SET generation = %s, next_seq = 1, head_seq = NULL,"
            " status = 'Pending', input = %s::json, output = NULL, error = NULL,"
            " custom_status = NULL, updated_ts = %s, updated_at = %s::timestamptz WHERE id = %s")
        self.post = (
            f"WITH m AS (INSERT INTO {s}.inbox (instance_id, name, body)"
            " VALUES (%s, %s, %s::json) ON CONFLICT DO NOTHING),"
            f" w AS (UPDATE {s}.instances SET ready_at = {WAKE} WHERE id = %s),"
            " note AS (SELECT pg_notify(%s, %s)) SELECT count(*) FROM note")
        self.inbox = f"SELECT name, body FROM {s}.inbox WHERE instance_id = %s ORDER BY seq"
        self.status = (f"SELECT name, status, input, output, custom_status, created_ts,"
                       f" updated_ts, error, attempt, parent FROM {s}.instances WHERE id = %s")
        self.history = (f"SELECT seq, kind, ts, data FROM {s}.journal WHERE instance_id = %s"
                        f" AND generation = (SELECT generation FROM {s}.instances WHERE id = %s)"
                        " ORDER BY seq")
        self.generations = (f"SELECT data FROM {s}.generations WHERE instance_id = %s"
                            " ORDER BY generation")
        # An instance's rows (`remove_idle` deletes these too, and keeps a tombstone);
        # `purge` drops the tombstone as well
        self.delete_instance = tuple(f"DELETE FROM {s}.{table} WHERE {column} = %s"
                                     for table, column in (
            ("journal", "instance_id"), ("generations", "instance_id"), ("inbox", "instance_id"),
            ("work_items", "instance_id"), ("instances", "id")))
        self.purge = (*self.delete_instance, f"DELETE FROM {s}.removed_entities WHERE id = %s")
        self.keep_removed = (f"INSERT INTO {s}.removed_entities (id, memory) VALUES (%s, %s::json)"
                             " ON CONFLICT (id) DO UPDATE SET memory = excluded.memory,"
                             " removed_at = now()")
        self.drop_removed = f"DELETE FROM {s}.removed_entities WHERE id = %s"
        self.removed_memory = f"SELECT memory::text FROM {s}.removed_entities WHERE id = %s"
        # An entity's post (`Backend.remove_idle` may remove an idle one at any moment):
        # the UPDATE that wakes the instance locks its row, which a removal's FOR UPDATE
        # waits for and which waits for a removal; and the message is inserted only if
        # that UPDATE found the row. No row (removed): nothing is inserted and the first
        # column is 0 (InstanceGone). The row always takes the lock and is ready now
        # unless it is ready earlier, as every message's wake-up does.
        self.post_entity = (
            f"WITH w AS (UPDATE {s}.instances SET ready_at = least(coalesce(ready_at, now()),"
            " now()) WHERE id = %s RETURNING id),"
            f" m AS (INSERT INTO {s}.inbox (instance_id, name, body)"
            " SELECT w.id, %s, %s::json FROM w ON CONFLICT DO NOTHING),"
            " note AS (SELECT pg_notify(%s, %s))"
            " SELECT (SELECT count(*) FROM w), (SELECT count(*) FROM note)")
        # `remove_idle`, in one transaction: lock the claimed row (waiting for posts under
        # way), then, in a new statement that sees what they committed, the inbox
        self.lock_for_removal = (f"SELECT 1 FROM {s}.instances WHERE id = %s AND fence = %s"
                                 " FOR UPDATE")
        self.has_inbox = f"SELECT EXISTS (SELECT 1 FROM {s}.inbox WHERE instance_id = %s)"
