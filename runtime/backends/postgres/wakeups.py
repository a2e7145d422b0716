"""Wake-ups: LISTEN on the store's channel, one connection per process and store.

Whoever makes work for others (a new instance, a message, a work item, an activity
result) calls `pg_notify(channel, instance id or "new"/"work")` inside its transaction;
PostgreSQL delivers it at commit, to every listener. `Listener` keeps one connection in
LISTEN on a thread of its own and hands each notification to every `Subscription` (one
per backend object): it wakes `wait_for_work` and marks the instance, so
`PostgresBackend.inbox` knows which inboxes may have changed. Notifications are a hint,
never the only path: an inbox known empty is read again after a second anyway, and a
(re)connection invalidates everything known (notifications sent while the listener was
away are lost).
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
    """One LISTEN connection on a thread of its own, shared by every backend object of
    this process on the same store (`subscribe`): connections are a server's scarcest
    resource. Each notification is handed to every `Subscription`. `epoch` counts
    (re)connections: notifications may have been missed before each."""

    def __init__(self, url: StoreURL) -> None:
        self.live = False  # LISTENing now: notifications are being received
        self.epoch = 0
        self.subscriptions: set[Subscription] = set()
        self.lock = threading.Lock()
        self._url = url
        self._stop = threading.Event()
        self._rc = Reconnector(url, autocommit=True, on_connect=self._listen)
        self._thread = threading.Thread(target=self._loop, name="tether-pg-listen", daemon=True)
        self._thread.start()

    def _listen(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel(self._url.schema))))
        with self.lock:
            self.epoch += 1
            self.live = True
            subs = list(self.subscriptions)
        for sub in subs:
            sub.event.set()  # anything sent while we were not listening: poll once

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self._rc.get(give_up=self._stop.is_set)
                for note in conn.notifies(timeout=0.5):
                    with self.lock:
                        subs = list(self.subscriptions)
                    for sub in subs:
                        sub.notified(note.payload)
                    if self._stop.is_set():
                        break
            except Exception:  # lost connection, or stopping: reconnect unless stopping
                self.live = False
                self._rc.drop()
                if self._stop.wait(0.2):
                    break
        self.live = False
        self._rc.close()

    def stop(self) -> None:
        """Stop without waiting (the thread closes its connection on its way out)."""
        self._stop.set()


class Subscription:
    """One backend object's view of the shared listener: which instances were named by
    a notification since their inbox was last read (`PostgresBackend.inbox` skips
    reading an inbox known to be empty), and an event for `wait`."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.event = threading.Event()
        self.dirty: set[str] = set()
        self._lock = threading.Lock()

    @property
    def live(self) -> bool:
        return self.listener.live

    def notified(self, payload: str) -> None:
        with self._lock:
            self.dirty.add(payload)
        self.event.set()

    def known_quiet(self, instance_id: str, epoch: int) -> bool:
        """No notification named `instance_id` since `epoch` began (and we still listen)."""
        with self._lock:
            return (self.listener.live and self.listener.epoch == epoch
                    and instance_id not in self.dirty)

    def reading(self, instance_id: str) -> int:
        """About to read the inbox of `instance_id`: forget it was named; the epoch now
        (-1 while not listening: nothing may be taken as known)."""
        with self._lock:
            self.dirty.discard(instance_id)
        return self.listener.epoch if self.listener.live else -1

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a notification; whether one came."""
        got = self.event.wait(timeout)
        self.event.clear()
        return got

    def close(self) -> None:
        unsubscribe(self)


_listeners: dict[tuple[str, str], Listener] = {}
_listeners_lock = threading.Lock()


def subscribe(url: StoreURL) -> Subscription:
    """A subscription to the process's listener on this store, started if need be."""
    with _listeners_lock:
        key = (url.conninfo, url.schema)
        listener = _listeners.get(key)
        if listener is None:
            listener = _listeners[key] = Listener(url)
        sub = Subscription(listener)
        with listener.lock:
            listener.subscriptions.add(sub)
        return sub


def unsubscribe(sub: Subscription) -> None:
    """Drop a subscription; the last one stops its listener."""
    with _listeners_lock:
        listener = sub.listener
        with listener.lock:
            listener.subscriptions.discard(sub)
            last = not listener.subscriptions
        if last:
            listener.stop()
            for key, known in list(_listeners.items()):
                if known is listener:
                    del _listeners[key]
