"""Wake-ups: LISTEN on the store's channel, one connection per process and store.

Whoever makes work for others (a new instance, a message, a work item, an activity
result) calls `pg_notify(channel, instance id or "new"/"work")` inside its transaction;
PostgreSQL delivers it at commit, to every listener. `Listener` keeps one connection in
LISTEN on a thread of its own and hands each notification to every `Subscription` (one
per backend object): it wakes `wait_for_work` and marks the instance, so
`PostgresBackend.inbox` knows which inboxes may have changed. Notifications are a hint,
never the only path: an inbox known empty is read again after a second anyway, the work
queue is asked again every second even when no "work" notification came (work.py), and a
(re)connection invalidates everything known (notifications sent while the listener was
away are lost).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import psycopg
from psycopg import sql

from runtime.backends.postgres.connection import Reconnector
from runtime.backends.postgres.schema import channel
from runtime.backends.postgres.url import StoreURL

#: the payload of a notification that work items were queued or handed back
WORK = "work"


class Listener:
    """One LISTEN connection per process and database, on a thread of its own, for every
    store (schema: channel) of that database that a backend object of the process uses
    (`subscribe`): connections are a server's scarcest resource. Each notification is
    handed to the subscriptions of its channel. `epoch` counts (re)connections:
    notifications may have been missed before each."""

    def __init__(self, url: StoreURL) -> None:
        self.live = False  # connected and LISTENing: notifications are being received
        self.epoch = 0
        self.channels: dict[str, set[Subscription]] = {}
        self.listened: set[str] = set()  # channels LISTENed on the current connection
        self.lock = threading.RLock()  # re-entrant, as _listeners_lock
        self._stop = threading.Event()
        self._rc = Reconnector(url, autocommit=True, on_connect=self._connected)
        self._thread = threading.Thread(target=self._loop, name="tether-pg-listen", daemon=True)
        self._thread.start()

    def _connected(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        with self.lock:
            self.listened = set()
            self.epoch += 1
        self._listen_new(conn)
        self.live = True

    def _listen_new(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        with self.lock:
            new = [c for c in self.channels if c not in self.listened]
        for name in new:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(name)))
        with self.lock:
            self.listened.update(new)
            woken = [sub for name in new for sub in self.channels.get(name, ())]
        for sub in woken:
            sub.event.set()  # anything sent before we listened: poll once

    def _loop(self) -> None:
        while not self._stop.is_set():
            drop_orphans()  # here, on our own thread, holding nothing
            try:
                conn = self._rc.get(give_up=self._stop.is_set)
                self._listen_new(conn)  # channels subscribed since the last round
                for note in conn.notifies(timeout=0.2):
                    with self.lock:
                        subs = list(self.channels.get(note.channel, ()))
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

    def __init__(self, listener: Listener, channel: str) -> None:
        self.listener = listener
        self.channel = channel
        self.event = threading.Event()
        self.dirty: set[str] = set()
        # notifications that work items were queued (or handed back): `work_seen` lets
        # the work queue skip its query while nothing new was queued (work.py)
        self.work_notes = 0
        self.notes = 0  # every notification (`any_mark`)
        self.since = time.monotonic()
        self._lock = threading.RLock()  # re-entrant, as _listeners_lock

    @property
    def live(self) -> bool:
        return self.listener.live and self.channel in self.listener.listened

    def wait_live(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a subscription made less than a second ago to
        go live (a new listener connects in milliseconds); whether it is live."""
        deadline = min(self.since + 1.0, time.monotonic() + timeout)
        while not self.live and time.monotonic() < deadline:
            time.sleep(0.002)
        return self.live

    def notified(self, payload: str) -> None:
        with self._lock:
            if payload == WORK:  # (an instance may be named "work" too: marked as well)
                self.work_notes += 1
            self.notes += 1
            self.dirty.add(payload)
        self.event.set()

    def work_mark(self) -> tuple[int, int]:
        """Where the notifications of queued work stand now ((-1, -1) while not
        listening: nothing may be taken as known)."""
        with self._lock:
            return (self.listener.epoch, self.work_notes) if self.live else (-1, -1)

    def any_mark(self) -> tuple[int, int]:
        """Where all notifications stand now ((-1, -1) while not listening)."""
        with self._lock:
            return (self.listener.epoch, self.notes) if self.live else (-1, -1)

    def known_quiet(self, instance_id: str, epoch: int) -> bool:
        """No notification named `instance_id` since `epoch` began (and we still listen)."""
        with self._lock:
            return self.live and self.listener.epoch == epoch and instance_id not in self.dirty

    def reading(self, instance_id: str) -> int:
        """About to read the inbox of `instance_id`: forget it was named; the epoch now
        (-1 while not listening: nothing may be taken as known)."""
        with self._lock:
            self.dirty.discard(instance_id)
        return self.listener.epoch if self.live else -1

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a notification; whether one came."""
        got = self.event.wait(timeout)
        self.event.clear()
        return got

    def close(self) -> None:
        unsubscribe(self)

    def close_later(self) -> None:
        """Unsubscribe soon: what a collected backend's finalizer calls. A finalizer runs
        wherever a garbage collection happens, on any thread, holding whatever locks that
        thread holds (this module's, for one): taking a lock there deadlocked a worker
        (the listener thread, holding its lock, collected a backend whose finalizer waited
        for `_listeners_lock`, held by a thread waiting for the listener's lock). So it
        only queues the subscription, without a lock; the listener thread and the next
        `subscribe` drop what is queued."""
        _orphans.append(self)


_listeners: dict[str, Listener] = {}
_listeners_lock = threading.RLock()
#: subscriptions of collected backends, to drop (`close_later`); deque appends and pops
#: are atomic, so the finalizer needs no lock
_orphans: deque[Subscription] = deque()


def drop_orphans() -> None:
    """Unsubscribe what `close_later` queued (never from a finalizer)."""
    while True:
        try:
            sub = _orphans.popleft()
        except IndexError:
            return
        unsubscribe(sub)


def subscribe(url: StoreURL) -> Subscription:
    """A subscription to the store's channel on the process's listener for its database
    (started if need be; a new channel is LISTENed within a fifth of a second)."""
    drop_orphans()
    with _listeners_lock:
        listener = _listeners.get(url.conninfo)
        if listener is None:
            listener = _listeners[url.conninfo] = Listener(url)
        sub = Subscription(listener, channel(url.schema))
        with listener.lock:
            listener.channels.setdefault(sub.channel, set()).add(sub)
        return sub


def unsubscribe(sub: Subscription) -> None:
    """Drop a subscription; the last one stops its listener (a channel nobody follows
    any more stays LISTENed until then: harmless)."""
    with _listeners_lock:
        listener = sub.listener
        with listener.lock:
            subs = listener.channels.get(sub.channel, set())
            subs.discard(sub)
            if not subs:
                listener.channels.pop(sub.channel, None)
            last = not listener.channels
        if last:
            listener.stop()
            for key, known in list(_listeners.items()):
                if known is listener:
                    del _listeners[key]
