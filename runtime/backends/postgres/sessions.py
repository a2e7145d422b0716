"""Connections of one backend object: a small pool, each connection coming back after
a loss.

psycopg connections may be shared between threads, but a transaction may not; so every
operation borrows a connection of its own for its duration (`run`), from a pool of at
most `POOL_SIZE` per process and database, shared by every backend object of the
process (a schema is only a name in the SQL): the engine's thread, the heartbeat, an
HTTP server's many request threads, and the many short-lived backends of a test run
share them, instead of holding one each (a server's connection slots are its scarcest
resource, shared by every worker and client). Connections are in autocommit mode;
multi-statement operations run in an explicit transaction.

`Sessions.run(op, verify=...)` runs `op(conn)`. When the connection is lost meanwhile,
the outcome of a COMMIT in flight is unknown to the client; after reconnecting,
`verify(conn)` looks at the database to tell whether `op` took effect (its value then)
or not (None: `op` runs again). An `op` without `verify` must be safe to repeat (a
read, or writes made idempotent by a unique key). This is how a restarted server
neither loses nor doubles a step.

Before the store was reached once, an unreachable server fails at once
(`StoreUnreachable`: a command exits 2 with one line), or after `patience` seconds of
retrying for a long-running process (a worker started while the server restarts);
afterwards the operation waits, retrying with backoff and saying so on one line every
few seconds.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

from runtime.backends.postgres.connection import Reconnector, is_disconnect
from runtime.backends.postgres.url import StoreURL

T = TypeVar("T")
Conn = psycopg.Connection[tuple[Any, ...]]


POOL_SIZE = 8


class Pool:
    """At most `size` connections to one database, lent one operation at a time."""

    def __init__(self, url: StoreURL, size: int) -> None:
        self.url = url
        self.size = size
        self.idle: list[Reconnector] = []  # last returned first: its connection is warm
        self.made = 0
        self.cond = threading.Condition()

    def borrow(self) -> Reconnector:
        with self.cond:
            while not self.idle and self.made >= self.size:
                self.cond.wait()
            if self.idle:
                return self.idle.pop()
            self.made += 1
        return Reconnector(self.url, autocommit=True)

    def give_back(self, rc: Reconnector) -> None:
        with self.cond:
            self.idle.append(rc)
            self.cond.notify()


_pools: dict[tuple[str, float], Pool] = {}  # by database and lease (`session_options`)
_pools_lock = threading.Lock()


def pool_for(url: StoreURL) -> Pool:
    with _pools_lock:
        key = (url.conninfo, url.lease)
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = Pool(url, POOL_SIZE)
        return pool


class Sessions:
    """One backend object's way to the process's pool for its database."""

    def __init__(self, url: StoreURL, report: Callable[[str], None] | None) -> None:
        self.url = url
        self.report = report
        self.reached = False  # connected once: from then on, wait for the server
        self.patience = 0.0  # seconds to wait for an unreachable server before `reached`
        self._first_try: float | None = None
        self._pool = pool_for(url)

    def run(self, op: Callable[[Conn], T], verify: Callable[[Conn], T | None] | None = None,
            *, transaction: bool = True) -> T:
        """`op(conn)` on a borrowed connection, in one transaction, surviving lost
        connections (module docstring). `transaction=False` for an `op` of one statement,
        which autocommit makes a transaction of its own: one round trip, not three."""
        rc = self._pool.borrow()
        rc.report, rc.url = self.report, self.url  # messages name this backend's store
        try:
            unsure = False
            rollbacks = 0
            while True:
                conn = rc.get(give_up=self._give_up)
                self.reached = True
                try:
                    if unsure and verify is not None:
                        done = verify(conn)
                        if done is not None:
                            return done
                    if not transaction:
                        return op(conn)
                    with conn.transaction():
                        return op(conn)
                except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                    # a deadlock (two step groups each waking a row the other holds) or a
                    # serialization failure: the server rolled the whole transaction
                    # back, so running it again is safe
                    rollbacks += 1
                    time.sleep(min(0.2, 0.005 * rollbacks) * random.random())
                except psycopg.Error as exc:
                    if not is_disconnect(exc, conn):
                        raise
                    rc.drop()
                    unsure = True
        finally:
            self._pool.give_back(rc)

    def _give_up(self) -> bool:
        if self.reached:
            return False
        if self._first_try is None:
            self._first_try = time.monotonic()
        return time.monotonic() - self._first_try >= self.patience

    def close(self) -> None:
        """Nothing to free: the connections are the process's, shared by every backend
        object on this database (they close with the process)."""
