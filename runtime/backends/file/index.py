"""The file backend's index: one SQLite table of every instance's id, name, status and
times, so that finding the live instances and answering a query never reads the
instances that do not match.

    <store>/index.sqlite   (and its -wal / -shm files)

The journals are the truth; the index is derived from them and may lag behind them,
never run ahead, in a way a worker repairs:

- a row is inserted (live, Pending) *before* the instance's folder is renamed into
  `instances/`, so no instance exists unindexed; a row whose folder never came (the
  client died in between) is dropped by `recover` or once it is old;
- a row changes after the records that change the status are durable, so after a crash
  a row may say Running for an instance whose journal has ended: it is still live, a
  worker claims it, sees the end and updates the row. Those changes are batched: kept
  in memory and written in one transaction at most every FLUSH_EVERY seconds (and before
  this process reads the index, and on close), because every SQLite transaction dirties
  a few pages that the journals' next syncfs(2) has to write too (one per step made the
  1,000-step chain 20% slower). Other processes see them that much later;
- `wake` is set when a worker releases an instance that sleeps (`Backend.release(...,
  wake_at=)`): `live` offers it from then on, or once a message clears it (`wake_up`,
  after the message is in place; the releaser looks at the inbox after setting it, so
  one of the two sees the other);
- SQLite runs in WAL mode with `synchronous=NORMAL`: a commit is not fsynced, which is
  safe from corruption and may lose the last changes at a power cut; `recover` (run by
  every worker at start) re-adds instances missing from the index and drops rows whose
  folder is gone. An index that cannot be opened is rebuilt from the journals;
- on a store that cannot be written (a read-only file system) it is opened read-only
  (`_connect_read_only`), so every read works and every write is refused with EROFS.

Python's sqlite3 module is the maintained, standard way to get an indexed, multi-process
safe table; times are ISO 8601 UTC strings, which sort as the times do.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runtime.backends.base import ENDED_STATUSES, BackendUnavailable, Page, Query, Summary
from runtime.clock import parse_iso

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    live INTEGER NOT NULL,
    wake TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS by_created ON instances (created, id);
CREATE INDEX IF NOT EXISTS by_status ON instances (status, created, id);
CREATE INDEX IF NOT EXISTS by_name_status ON instances (name, status, created, id);
CREATE INDEX IF NOT EXISTS live_ids ON instances (id) WHERE live = 1;
CREATE INDEX IF NOT EXISTS orchestrations_by_created ON instances (created, id)
    WHERE substr(id, 1, 1) <> '@';
CREATE INDEX IF NOT EXISTS orchestrations_by_status ON instances (status, created, id)
    WHERE substr(id, 1, 1) <> '@';
"""
#: the `Query.entities` filters: the partial indexes above name the first term exactly
#: (SQLite uses a partial index only for a query that repeats its WHERE term); entity
#: ids are the primary key's range ['@', 'A'): instance ids have no '@' at all
ORCHESTRATIONS_ONLY = "substr(id, 1, 1) <> '@'"
ENTITIES_ONLY = "id >= '@' AND id < 'A'"
MAX_TOP = 1000
FLUSH_EVERY = 0.5  # seconds between writes of batched row changes
# 2: times in the fixed-width form of `sortable`; 3: `wake`. Older indexes are rebuilt
VERSION = 3


def sortable(when: str | datetime) -> str:
    """A time as fixed-width ISO 8601 UTC (`2026-01-01T00:00:00.000000Z`): records carry
    `isoformat` text, which leaves out a zero fraction, so "...:31Z" would sort after
    "...:31.5Z"; the index keeps times in this form, which sorts as the times do."""
    if isinstance(when, str):
        if not when:
            return ""
        try:
            when = parse_iso(when)
        except ValueError:
            return str(when)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Index:
    """The index of one store; thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.lock = threading.Lock()
        # batched changes: id -> [new status or None, updated or None, finished]
        self.pending: dict[str, list[Any]] = {}
        self.last_flush = 0.0
        self.read_only = read_only  # every write raises BackendUnavailable (EROFS)
        if read_only:
            self.db, self.fresh = self._connect_read_only()
            return
        self.fresh = not path.exists()
        try:
            self.db = self._connect()
        except sqlite3.DatabaseError:  # damaged: it is only derived, so start over
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{path}{suffix}").unlink()
            self.fresh = True
            self.db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        with _as_os_error(self.path):
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                 check_same_thread=False)
            # No sync while the schema is made (a new file's switch to WAL alone took four
            # fdatasyncs, the whole creation 3-6 ms of a new store's first run): what a
            # power cut could tear then is an index with no rows, which is found unreadable
            # or of another version and made again, as any damaged index is (`__init__`)
            db.execute("PRAGMA synchronous=OFF")
            db.execute("PRAGMA journal_mode=WAL")
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if version != VERSION:  # new, or made by another tether: derived, so made again
                db.execute("BEGIN IMMEDIATE")
                try:
                    # asked again under the lock: another process may have made it meanwhile
                    (version,) = db.execute("PRAGMA user_version").fetchone()
                    if version != VERSION:
                        db.execute("DROP TABLE IF EXISTS instances")
                        for statement in SCHEMA.split(";"):
                            if statement.strip():
                                db.execute(statement)
                        db.execute(f"PRAGMA user_version = {VERSION}")
                        self.fresh = True
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            else:
                db.executescript(SCHEMA)
            db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _connect_read_only(self) -> tuple[sqlite3.Connection, bool]:
        """The index of a store on a read-only file system, which no one can change
        while it stays so: (connection, fresh). WAL mode needs `-shm` written even to
        read, so the file is opened `immutable` when every commit is in it (no `-wal`
        left, as after the last writer closed it), else `mode=ro` (which reads a `-wal`
        whose `-shm` exists); failing both, or if it is missing, damaged or of another
        version, an index in memory is filled from the journals (fresh: the caller
        fills it), which is what the index is derived from anyway."""
        wal = Path(f"{self.path}-wal")
        mode = "immutable=1" if not wal.exists() or wal.stat().st_size == 0 else "mode=ro"
        if self.path.exists():
            try:
                db = sqlite3.connect(f"{self.path.absolute().as_uri()}?{mode}", uri=True,
                                     isolation_level=None, check_same_thread=False)
                (version,) = db.execute("PRAGMA user_version").fetchone()
                db.execute("SELECT count(*) FROM instances WHERE live = 1").fetchone()
                if version == VERSION:
                    return db, False
                db.close()
            except sqlite3.Error:
                pass
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        db.executescript(SCHEMA)
        return db, True

    def fill(self, rows: Iterable[tuple[str, str, str, str, str, bool]]) -> None:
        """Rows of an index kept in memory (a read-only store's): `put`, which refuses."""
        with self.lock:
            _put_rows(self.db, rows)

    def close(self) -> None:
        self.flush()
        with self.lock:
            self.db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            cause = OSError(errno.EROFS, os.strerror(errno.EROFS), str(self.path))
            raise BackendUnavailable(f"{self.path}: {os.strerror(errno.EROFS)}") from cause
        with self.lock, _as_os_error(self.path):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:  # a failed COMMIT (a full disk) leaves it open
                    self.db.execute("ROLLBACK")
                raise

    # -- writes -----------------------------------------------------------------------

    def insert_new(self, rows: Sequence[tuple[str, str, str]]) -> set[str]:
        """Rows (id, name, created) for instances about to be created, live and Pending;
        the ids that had no row (only those may be dropped by `drop` if creation fails)."""
        added: set[str] = set()
        with self._write() as db:
            for instance_id, name, created in rows:
                when = sortable(created)
                cur = db.execute(
                    "INSERT OR IGNORE INTO instances VALUES (?, ?, 'Pending', ?, ?, 1, NULL)",
                    (instance_id, name, when, when))
                if cur.rowcount:
                    added.add(instance_id)
        return added

    def put(self, rows: Iterable[tuple[str, str, str, str, str, bool]]) -> None:
        """Insert or replace rows (id, name, status, created, updated, live)."""
        with self._write() as db:
            _put_rows(db, rows)

    def update(self, instance_id: str, *, status: str | None = None, updated: str = "",
               finished: bool = False) -> None:
        """A change of an existing row, batched (see the module docstring): a new status,
        the time of its last record, or `finished` (no longer live)."""
        with self.lock:
            entry = self.pending.get(instance_id)
            if entry is None:
                self.pending[instance_id] = [status, updated or None, finished]
            else:
                if status is not None:
                    entry[0] = status
                if updated:
                    entry[1] = updated  # made sortable by `flush`: once per batch, not per step
                entry[2] = entry[2] or finished
        if time.monotonic() - self.last_flush > FLUSH_EVERY:
            self.flush()

    def changed(self, instance_id: str, status: str | None, updated: str) -> None:
        """`update` of a commit's records (a new status or None, and the time of the
        last; never `finished`), positional: once per commit of every instance."""
        with self.lock:
            entry = self.pending.get(instance_id)
            if entry is None:
                self.pending[instance_id] = [status, updated, False]
            else:
                if status is not None:
                    entry[0] = status
                entry[1] = updated
        if time.monotonic() - self.last_flush > FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Write the batched changes, in one transaction."""
        with self.lock:
            pending, self.pending = self.pending, {}
            self.last_flush = time.monotonic()
        if not pending:
            return
        with self._write() as db:
            db.executemany(
                "UPDATE instances SET status = coalesce(?, status), "
                "updated = coalesce(?, updated), live = CASE WHEN ? THEN 0 ELSE live END "
                "WHERE id = ?",
                [(status, sortable(updated) if updated else None, finished, i)
                 for i, (status, updated, finished) in pending.items()])

    def revive(self, instance_id: str) -> None:
        """The instance may have work again (restarted, rewound): live, if it was not."""
        with self._write() as db:
            db.execute("UPDATE instances SET live = 1 WHERE id = ? AND live = 0", (instance_id,))

    def revive_many(self, instance_ids: Sequence[str]) -> None:
        """`revive` of many instances, in one transaction."""
        if not instance_ids:
            return
        with self._write() as db:
            db.executemany("UPDATE instances SET live = 1 WHERE id = ? AND live = 0",
                           [(i,) for i in instance_ids])

    def sleep(self, instance_id: str, wake: str | None) -> None:
        """Offer the instance to `live` only from `wake` on (None: at once). Written at
        once, not batched: a message posted meanwhile must find it (`wake_up`)."""
        with self._write() as db:
            db.execute("UPDATE instances SET wake = ? WHERE id = ?",
                       (sortable(wake) if wake is not None else None, instance_id))

    def wake_up(self, instance_id: str) -> None:
        """A message arrived: offer the instance now if it sleeps (a read when it does not)."""
        with self.lock:
            row = self.db.execute("SELECT wake FROM instances WHERE id = ?",
                                  (instance_id,)).fetchone()
        if row is not None and row[0] is not None:
            self.sleep(instance_id, None)

    def wake_up_many(self, instance_ids: Iterable[str]) -> None:
        """`wake_up` of many instances: the reads, then one transaction for those asleep."""
        with self.lock:
            asleep = [i for i in instance_ids if (row := self.db.execute(
                "SELECT wake FROM instances WHERE id = ?", (i,)).fetchone()) is not None
                and row[0] is not None]
        if asleep:
            with self._write() as db:
                db.executemany("UPDATE instances SET wake = NULL WHERE id = ?",
                               [(i,) for i in asleep])

    def drop(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        with self.lock:
            for i in ids:
                self.pending.pop(i, None)
        with self._write() as db:
            db.executemany("DELETE FROM instances WHERE id = ?", [(i,) for i in ids])

    # -- reads ------------------------------------------------------------------------

    def live(self, limit: int, skip: set[str]) -> list[str]:
        """Live instances, but not those asleep until later (`sleep`)."""
        self.flush()
        now = sortable(datetime.now(UTC))
        with self.lock:
            rows = self.db.execute("SELECT id FROM instances WHERE live = 1"
                                   " AND (wake IS NULL OR wake <= ?) ORDER BY id", (now,))
            out: list[str] = []
            for (instance_id,) in rows:
                if instance_id not in skip:
                    out.append(instance_id)
                    if len(out) >= limit:
                        break
            return out

    def row(self, instance_id: str) -> tuple[str, str, str, str, bool] | None:
        """(name, status, created, updated, live) of one instance."""
        self.flush()
        with self.lock:
            found = self.db.execute(
                "SELECT name, status, created, updated, live FROM instances WHERE id = ?",
                (instance_id,)).fetchone()
        return None if found is None else (found[0], found[1], found[2], found[3], bool(found[4]))

    def ids(self) -> set[str]:
        self.flush()
        with self.lock:
            return {i for (i,) in self.db.execute("SELECT id FROM instances")}

    def query(self, q: Query) -> Page:
        if not 1 <= q.top <= MAX_TOP:
            raise ValueError(f"top must be 1-{MAX_TOP}, not {q.top}")
        where, args = _filters(q)
        after, order = ("<", " DESC") if q.newest_first else (">", "")
        if q.continuation is not None:
            created, last_id = decode_token(q.continuation)
            where.append(f"(created {after} ? OR (created = ? AND id {after} ?))")
            args += [created, created, last_id]
        self.flush()
        sql = ("SELECT id, name, status, created, updated FROM instances"
               + (" WHERE " + " AND ".join(where) if where else "")
               + f" ORDER BY created{order}, id{order} LIMIT ?")
        with self.lock:
            rows = self.db.execute(sql, [*args, q.top + 1]).fetchall()
        items = [Summary(*row) for row in rows[:q.top]]
        more = len(rows) > q.top
        token = encode_token(items[-1].created, items[-1].instance_id) if more else None
        return Page(items, token)


def _put_rows(db: sqlite3.Connection,
              rows: Iterable[tuple[str, str, str, str, str, bool]]) -> None:
    """`put`'s statement, which `fill` shares (one place to follow the schema)."""
    db.executemany("INSERT OR REPLACE INTO instances VALUES (?, ?, ?, ?, ?, ?, NULL)",
                   [(i, n, s, sortable(c), sortable(u), int(live))
                    for i, n, s, c, u, live in rows])


#: SQLite's result codes for what is the disk's doing, as the OSError the journals meet
_DISK_ERRORS = {
    sqlite3.SQLITE_FULL: errno.ENOSPC,
    sqlite3.SQLITE_READONLY: errno.EROFS,
    sqlite3.SQLITE_IOERR: errno.EIO,
}


@contextlib.contextmanager
def _as_os_error(path: Path) -> Iterator[None]:
    """A full, read-only or failing disk is the store's trouble (BackendUnavailable, which
    the engine, the CLI and HTTP treat as such), caused by the OSError the same disk gives
    a journal, not sqlite3.OperationalError, which no caller expects."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        code = _DISK_ERRORS.get(getattr(exc, "sqlite_errorcode", -1) & 0xFF)
        if code is None:
            raise
        cause = OSError(code, os.strerror(code), str(path))
        raise BackendUnavailable(f"{path}: {os.strerror(code)}") from cause


def _filters(q: Query) -> tuple[list[str], list[object]]:
    where: list[str] = []
    args: list[object] = []
    # With an id prefix the primary key's range is the narrowest index whatever else is
    # asked (`+column` keeps SQLite from choosing another index for that term): a name or
    # status that most rows share would otherwise be scanned in full.
    plus = "+" if q.id_prefix else ""
    if q.entities is not None:
        where.append(ENTITIES_ONLY if q.entities else ORCHESTRATIONS_ONLY)
    if q.statuses is not None:
        where.append(f"{plus}status IN ({', '.join('?' * len(q.statuses))})"
                     if q.statuses else "0")
        args += sorted(q.statuses)
    if q.name is not None:
        where.append(f"{plus}name = ?")
        args.append(q.name)
    if q.id_prefix:
        # a range, not LIKE: ids may hold `_`, and the primary key answers a range
        where.append("id >= ? AND id < ?")
        args += [q.id_prefix, q.id_prefix + "\U0010ffff"]
    for column, low, high in (("created", q.created_from, q.created_to),
                              ("updated", q.updated_from, q.updated_to)):
        if low is not None:
            where.append(f"{column} >= ?")
            args.append(sortable(low))
        if high is not None:
            where.append(f"{column} < ?")
            args.append(sortable(high))
    return where, args


def encode_token(created: str, instance_id: str) -> str:
    raw = json.dumps([created, instance_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created, instance_id = json.loads(raw)
        if isinstance(created, str) and isinstance(instance_id, str):
            return created, instance_id
    except (ValueError, TypeError):
        pass
    raise ValueError(f"invalid continuation token {token!r}")


def is_live(status: str) -> bool:
    return status not in ENDED_STATUSES and status != "Damaged"
