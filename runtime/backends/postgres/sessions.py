"""Connections of one backend object: one per thread, each coming back after a loss.

psycopg connections may be shared between threads, but a transaction may not: so each
thread that uses the backend (the engine's, a server's request threads, the heartbeat)
gets a connection of its own, in autocommit mode with explicit transactions.

`Sessions.run(op, verify=...)` runs `op(conn)` in one transaction. When the connection
is lost meanwhile, the outcome of a COMMIT in flight is unknown to the client; after
reconnecting, `verify(conn)` looks at the database to tell whether `op` took effect
(its value then) or not (None: `op` runs again). An `op` without `verify` must be safe
to repeat (a read, or writes made idempotent by a unique key). This is how a restarted
server neither loses nor doubles a step.

Before the store was reached once, an unreachable server fails at once
(`StoreUnreachable`: a command exits 2 with one line); afterwards the thread waits,
retrying with backoff and saying so on one line every few seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

from runtime.backends.postgres.connection import Reconnector, is_disconnect
from runtime.backends.postgres.url import StoreURL

T = TypeVar("T")
Conn = psycopg.Connection[tuple[Any, ...]]


class Sessions:
    def __init__(self, url: StoreURL, report: Callable[[str], None] | None) -> None:
        self.url = url
        self.report = report
        self.reached = False  # connected once: from then on, wait for the server
        self._local = threading.local()
        self._all: list[Reconnector] = []
        self._lock = threading.Lock()

    def connection(self) -> Conn:
        """This thread's live connection."""
        rc: Reconnector | None = getattr(self._local, "rc", None)
        if rc is None:
            rc = Reconnector(self.url, autocommit=True, report=self.report)
            self._local.rc = rc
            with self._lock:
                self._all.append(rc)
        conn = rc.get(give_up=lambda: not self.reached)
        self.reached = True
        return conn

    def lost(self) -> None:
        """Forget this thread's connection (after an error that broke it)."""
        rc: Reconnector | None = getattr(self._local, "rc", None)
        if rc is not None:
            rc.drop()

    def run(self, op: Callable[[Conn], T], verify: Callable[[Conn], T | None] | None = None,
            *, transaction: bool = True) -> T:
        """`op(conn)` in one transaction, surviving lost connections (module docstring).
        `transaction=False` for an `op` of one statement, which autocommit makes a
        transaction of its own: one round trip instead of three (BEGIN, it, COMMIT)."""
        unsure = False
        while True:
            conn = self.connection()
            try:
                if unsure and verify is not None:
                    done = verify(conn)
                    if done is not None:
                        return done
                if not transaction:
                    return op(conn)
                with conn.transaction():
                    return op(conn)
            except psycopg.Error as exc:
                if not is_disconnect(exc, conn):
                    raise
                self.lost()
                unsure = True

    def close(self) -> None:
        """Close every thread's connection; a later use connects again."""
        with self._lock:
            for rc in self._all:
                rc.drop()
