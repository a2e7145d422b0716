"""Connections of one backend object: a small pool, each connection coming back after
a loss.

psycopg connections may be shared between threads, but a transaction may not; so every
operation borrows a connection of its own for its duration (`run`), from a pool of at
most `size` (4): the engine's thread, the heartbeat, and an HTTP server's many request
threads share them, instead of holding one each (a server's connection slots are its
scarcest resource, shared by every worker and client). Connections are in autocommit
mode; multi-statement operations run in an explicit transaction.

`Sessions.run(op, verify=...)` runs `op(conn)`. When the connection is lost meanwhile,
the outcome of a COMMIT in flight is unknown to the client; after reconnecting,
`verify(conn)` looks at the database to tell whether `op` took effect (its value then)
or not (None: `op` runs again). An `op` without `verify` must be safe to repeat (a
read, or writes made idempotent by a unique key). This is how a restarted server
neither loses nor doubles a step.

Before the store was reached once, an unreachable server fails at once
(`StoreUnreachable`: a command exits 2 with one line); afterwards the operation waits,
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
    def __init__(self, url: StoreURL, report: Callable[[str], None] | None, *,
                 size: int = 4) -> None:
        self.url = url
        self.report = report
        self.size = size
        self.reached = False  # connected once: from then on, wait for the server
        self._idle: list[Reconnector] = []  # last returned first: its connection is warm
        self._made = 0
        self._cond = threading.Condition()

    def run(self, op: Callable[[Conn], T], verify: Callable[[Conn], T | None] | None = None,
            *, transaction: bool = True) -> T:
        """`op(conn)` on a borrowed connection, in one transaction, surviving lost
        connections (module docstring). `transaction=False` for an `op` of one statement,
        which autocommit makes a transaction of its own: one round trip, not three."""
        rc = self._borrow()
        try:
            unsure = False
            while True:
                conn = rc.get(give_up=lambda: not self.reached)
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
                except psycopg.Error as exc:
                    if not is_disconnect(exc, conn):
                        raise
                    rc.drop()
                    unsure = True
        finally:
            self._give_back(rc)

    def _borrow(self) -> Reconnector:
        with self._cond:
            while not self._idle and self._made >= self.size:
                self._cond.wait()
            if self._idle:
                return self._idle.pop()
            self._made += 1
        return Reconnector(self.url, autocommit=True, report=self.report)

    def _give_back(self, rc: Reconnector) -> None:
        with self._cond:
            self._idle.append(rc)
            self._cond.notify()

    def close(self) -> None:
        """Close the idle connections; a later use opens new ones (a closed backend may
        be used again)."""
        with self._cond:
            for rc in self._idle:
                rc.drop()
