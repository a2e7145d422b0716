"""The PostgreSQL store's tables, and migrating them (docs/backends.md, "PostgreSQL").

Everything lives in one PostgreSQL schema (default `tether`, `?schema=` in the URL):

- `schema_version`: one row, the version of these tables. `ensure(conn, schema)` creates
  the schema on first use and applies the migrations a newer tether brings, in one
  transaction; tables of a *newer* tether than this one are refused with one line
  (`SchemaTooNew`), before anything is read or written.
- `instances`: one row per instance, the hot row: status and the status document's
  fields, `ready_at` (when it next has something to do: due timer, new message; NULL when
  it waits for nothing that is due or has ended), and the lease: `owner`, `lease_until`,
  `fence` (bumped by every claim; every write of an owner carries it).
- `journal`: the records of docs/journal.md, insert-only, primary key (instance,
  generation, seq): a second writer's append of the same seq fails instead of forking the
  history. `instances.head_seq` names the last checkpoint, so opening reads the first
  record, that checkpoint and what follows it, whatever the history's length.
- `generations`: one row per finished generation (continue_as_new) with its activity
  calls, as the file store's `generations.jsonl`.
- `inbox`: messages for an instance (events, terminate/suspend/resume, a child's end,
  activity results from other workers), unique (instance, name) so a retried delivery
  lands once; `visible_at` delays a message.
- `work_items`: activity attempts any worker may run, claimed with a lease (SKIP LOCKED),
  unique (instance, generation, task, attempt) so each attempt is queued once.
- `removed_entities` (version 5): one row per entity id that `remove_idle` removed, its
  tombstone: the memory of its senders (runtime.entities.tombstones), written in the
  transaction that deletes the entity's rows, read by the entity created anew, dropped
  by `purge`.

Record bodies are `json`, not `jsonb`: the frame encoding relies on key order, and `json`
keeps the text as written.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

#: (version, DDL). A migration is applied once, in order, in the transaction that bumps
#: `schema_version`; released migrations never change, new ones are appended.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, """
CREATE TABLE {s}.instances (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    status        text NOT NULL,
    generation    integer NOT NULL DEFAULT 0,
    parent_id     text,
    parent        json,
    attempt       integer NOT NULL DEFAULT 1,
    created_ts    text NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_ts    text NOT NULL,
    updated_at    timestamptz NOT NULL,
    ready_at      timestamptz,
    owner         text,
    lease_until   timestamptz,
    fence         bigint NOT NULL DEFAULT 0,
    head_seq      integer,
    next_seq      integer NOT NULL DEFAULT 1,
    input         json,
    output        json,
    custom_status json,
    error         json
);
CREATE INDEX instances_ready ON {s}.instances (ready_at) WHERE ready_at IS NOT NULL;
CREATE INDEX instances_created ON {s}.instances (created_at, id);
CREATE INDEX instances_status ON {s}.instances (status, created_at, id);
CREATE INDEX instances_name ON {s}.instances (name, created_at, id);
CREATE INDEX instances_updated ON {s}.instances (updated_at, id);
CREATE INDEX instances_id_prefix ON {s}.instances (id text_pattern_ops);
CREATE INDEX instances_parent ON {s}.instances (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX instances_owner ON {s}.instances (owner) WHERE owner IS NOT NULL;

CREATE TABLE {s}.journal (
    instance_id text NOT NULL,
    generation  integer NOT NULL,
    seq         integer NOT NULL,
    kind        text NOT NULL,
    ts          text NOT NULL,
    data        json NOT NULL,
    PRIMARY KEY (instance_id, generation, seq)
);

CREATE TABLE {s}.generations (
    instance_id text NOT NULL,
    generation  integer NOT NULL,
    data        json NOT NULL,
    PRIMARY KEY (instance_id, generation)
);

CREATE TABLE {s}.inbox (
    seq         bigserial PRIMARY KEY,
    instance_id text NOT NULL,
    name        text NOT NULL,
    body        json NOT NULL,
    visible_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (instance_id, name)
);

CREATE TABLE {s}.work_items (
    id          bigserial PRIMARY KEY,
    instance_id text NOT NULL,
    generation  integer NOT NULL,
    task_id     integer NOT NULL,
    attempt     integer NOT NULL,
    name        text NOT NULL,
    input       json,
    visible_at  timestamptz NOT NULL DEFAULT now(),
    owner       text,
    lease_until timestamptz,
    UNIQUE (instance_id, generation, task_id, attempt)
);
CREATE INDEX work_items_ready ON {s}.work_items (visible_at, id);
ALTER TABLE {s}.inbox SET (autovacuum_vacuum_scale_factor = 0.01);
ALTER TABLE {s}.work_items SET (autovacuum_vacuum_scale_factor = 0.01);
"""),
    # Runnable = live (ready_at set) and not leased: an index on the lease of live
    # instances only, so a worker's poll does not walk the instances others hold.
    (2, """
CREATE INDEX instances_free ON {s}.instances ((coalesce(lease_until, '-infinity'::timestamptz)))
    WHERE ready_at IS NOT NULL;
"""),
    # Orchestration listings leave entities (ids `@name@key`) out: indexes of the
    # orchestrations only, so a page of them never walks the entities (`reads.query`).
    (3, """
CREATE INDEX instances_orchestrations_created ON {s}.instances (created_at, id)
    WHERE id NOT LIKE '@%';
CREATE INDEX instances_orchestrations_status ON {s}.instances (status, created_at, id)
    WHERE id NOT LIKE '@%';
"""),
    # A step's UPDATE of its row changes no indexed column any more (the step no longer
    # renews the lease; `updated_at` loses its index, which no query needs: pages are
    # read in creation order), so it is a heap-only update (HOT) where the page has
    # room, which the fillfactor leaves: one WAL record instead of twelve per step.
    (4, """
DROP INDEX {s}.instances_updated;
ALTER TABLE {s}.instances SET (fillfactor = 70);
"""),
    # The tombstones of removed entities (`remove_idle`): what each remembered of its
    # senders, so that the entity created anew under the id drops their repeats.
    (5, """
CREATE TABLE {s}.removed_entities (
    id         text PRIMARY KEY,
    memory     json NOT NULL,
    removed_at timestamptz NOT NULL DEFAULT now()
);
"""),
)

VERSION = MIGRATIONS[-1][0]


class SchemaTooNew(Exception):
    """The store's tables were made by a newer tether than this one."""


def channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel of a store: one per schema."""
    return f"tether_{schema}"


def current_version(conn: psycopg.Connection[tuple[Any, ...]], schema: str) -> int | None:
    """The store's schema version; None if tether's tables are not there yet."""
    row = conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s"
        " AND table_name = 'schema_version'", (schema,)).fetchone()
    if row is None:
        return None
    got = conn.execute(sql.SQL("SELECT max(version) FROM {}.schema_version").format(
        sql.Identifier(schema))).fetchone()
    return int(got[0]) if got is not None and got[0] is not None else 0


def ensure(conn: psycopg.Connection[tuple[Any, ...]], schema: str, where: str) -> tuple[int | None, int]:
    """Create or migrate the store's tables; (version found, version now).

    `where` names the store in messages (its masked URL). Safe to run from many processes
    at once: the first creates, the others find the tables (a creation race is retried).
    """
    for attempt in range(3):
        try:
            with conn.transaction():
                return _ensure_once(conn, schema, where)
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateSchema,
                psycopg.errors.DuplicateTable, psycopg.errors.DuplicateObject):
            # Another process created the schema or a table between our check and ours.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _ensure_once(conn: psycopg.Connection[tuple[Any, ...]], schema: str, where: str) -> tuple[int | None, int]:
    s = sql.Identifier(schema)
    found = current_version(conn, schema)
    if found is not None and found > VERSION:
        raise SchemaTooNew(
            f"the PostgreSQL store {where} has schema version {found}, newer than this "
            f"tether's {VERSION}: upgrade tether (pip install -U 'tether[postgres]')")
    if found == VERSION:
        return found, VERSION
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.schema_version ("
                         "version integer NOT NULL, "
                         "migrated_at timestamptz NOT NULL DEFAULT now())").format(s))
    # Serialise concurrent migrators on the version table itself (no advisory locks).
    conn.execute(sql.SQL("LOCK TABLE {}.schema_version IN EXCLUSIVE MODE").format(s))
    now = current_version(conn, schema) or 0
    if now > VERSION:
        raise SchemaTooNew(
            f"the PostgreSQL store {where} has schema version {now}, newer than this "
            f"tether's {VERSION}: upgrade tether (pip install -U 'tether[postgres]')")
    for version, ddl in MIGRATIONS:
        if version > now:
            conn.execute(sql.SQL(ddl).format(s=s))
            conn.execute(sql.SQL("INSERT INTO {}.schema_version (version) VALUES (%s)").format(s),
                         (version,))
    return found, VERSION
