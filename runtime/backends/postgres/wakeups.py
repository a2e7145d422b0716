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
    def __init__(self, url: StoreURL) -> None:
        self.event = threading.Event()
        self._url = url
        self._stop = threading.Event()
        self._rc = Reconnector(url, autocommit=True, on_connect=self._listen)
        self._thread = threading.Thread(target=self._loop, name="tether-pg-listen", daemon=True)
        self._thread.start()

    def _listen(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel(self._url.schema))))
        self.event.set()  # anything sent while we were not listening: poll once

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self._rc.get(give_up=self._stop.is_set)
                for _ in conn.notifies(timeout=0.5, stop_after=1):
                    self.event.set()
            except Exception:  # lost connection, or stopping: reconnect unless stopping
                self._rc.drop()
                if self._stop.wait(0.2):
                    return

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a notification; whether one came."""
        got = self.event.wait(timeout)
        self.event.clear()
        return got

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._rc.close()
