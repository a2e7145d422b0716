"""Wake-ups: LISTEN on the store's channel, so a waiting worker starts at once.

Whoever makes work for others (a new instance, a message, a work item, an activity
result) calls `pg_notify(channel, ...)` inside its transaction; PostgreSQL delivers it at
commit, to every listener. `Listener` keeps one connection in LISTEN on a thread of its
own and sets `event`; the engine's idle wait returns when it is set. Notifications are a
hint, never the only path: the engine still polls (a notification sent while the
listener was reconnecting is lost, so a reconnection sets `event` too).
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from psycopg import sql

from runtime.backends.postgres.connection import Reconnector
from runtime.backends.postgres.schema import channel
from runtime.backends.postgres.url import StoreURL


class Listener:
    """One LISTEN connection on a thread of its own. Besides waking a waiter (`event`),
    it remembers which instances were named by a notification since their inbox was last
    read (`dirty`), so `PostgresBackend.inbox` can skip reading an inbox known to be
    empty. `epoch` counts (re)connections: notifications may have been missed before
    each, so what was known empty before it is not any more."""

    def __init__(self, url: StoreURL) -> None:
        self.event = threading.Event()
        self.live = False  # LISTENing now: notifications are being received
        self.epoch = 0
        self.dirty: set[str] = set()
        self._lock = threading.Lock()
        self._url = url
        self._stop = threading.Event()
        self._rc = Reconnector(url, autocommit=True, on_connect=self._listen)
        self._thread = threading.Thread(target=self._loop, name="tether-pg-listen", daemon=True)
        self._thread.start()

    def _listen(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel(self._url.schema))))
        with self._lock:
            self.epoch += 1
            self.live = True
        self.event.set()  # anything sent while we were not listening: poll once

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self._rc.get(give_up=self._stop.is_set)
                for note in conn.notifies(timeout=0.5):
                    with self._lock:
                        self.dirty.add(note.payload)
                    self.event.set()
                    if self._stop.is_set():
                        break
            except Exception:  # lost connection, or stopping: reconnect unless stopping
                self.live = False
                self._rc.drop()
                if self._stop.wait(0.2):
                    break
        self.live = False
        self._rc.close()

    def known_quiet(self, instance_id: str, epoch: int) -> bool:
        """No notification named `instance_id` since `epoch` began (and we still listen)."""
        with self._lock:
            return self.live and self.epoch == epoch and instance_id not in self.dirty

    def reading(self, instance_id: str) -> int:
        """About to read the inbox of `instance_id`: forget it was named; the epoch now."""
        with self._lock:
            self.dirty.discard(instance_id)
            return self.epoch if self.live else -1

    def mark(self, instance_id: str) -> None:
        with self._lock:
            self.dirty.add(instance_id)

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a notification; whether one came."""
        got = self.event.wait(timeout)
        self.event.clear()
        return got

    def stop(self) -> None:
        """Stop without waiting (the thread closes its connection on its way out)."""
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
