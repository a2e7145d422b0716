"""Connecting to a PostgreSQL store, with one-line errors and reconnection.

`connect(url)` opens one psycopg connection or raises `StoreUnreachable` (the server did
not answer: worth retrying) or `StoreRefused` (it answered no: bad role or password,
missing database: retrying will not help). Both messages are one line naming the store
by its masked URL.

`Reconnector` is for long-running processes (workers, servers): it hands out a live
connection, and when the server goes away it retries with exponential backoff (0.1 s to
2 s) and says so on one line at most every `report_every` seconds, until the server is
back. Whether a transaction that was cut off committed is unknown to the client; callers
therefore drop what they held in memory and reread it from the database after a
reconnection (runtime/backends/postgres/backend.py), which is what makes "no step lost
or doubled" hold across a server restart.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from typing import Any

import psycopg

from runtime.backends.postgres.url import StoreURL

#: libpq's words for "the server answered, and said no" (sqlstate is not set on
#: connection failures, so the message is all there is).
_REFUSALS = (
    "does not exist",  # role or database
    "authentication failed",
    "no pg_hba.conf entry",
    "password is required",
    "permission denied",
)


#: libpq's words for a server that has no connection slot free right now
_BUSY = ("too many clients", "remaining connection slots are reserved")
BUSY_WAIT = 5.0  # seconds


class StoreUnreachable(Exception):
    """The PostgreSQL server did not answer (down, wrong host or port, network)."""


class StoreRefused(Exception):
    """The server answered and refused: unknown role, wrong password, missing database."""


def connect(url: StoreURL, *, autocommit: bool = False, timeout: float = 10.0) -> psycopg.Connection[
        tuple[Any, ...]]:
    """A new connection to the store's database (autocommit off unless asked)."""
    deadline = time.monotonic() + BUSY_WAIT
    while True:
        try:
            return psycopg.connect(url.conninfo, autocommit=autocommit,
                                   connect_timeout=max(1, round(timeout)),
                                   application_name="tether", options=session_options(url))
        except psycopg.OperationalError as exc:
            # A full server is a moment's trouble (others' connections come and go):
            # worth a few seconds of retrying even for a command that fails fast.
            if not any(w in str(exc) for w in _BUSY) or time.monotonic() > deadline:
                raise connect_error(url, exc) from None
            time.sleep(0.2)


def session_options(url: StoreURL) -> str:
    """Server settings for every session: a transaction left open and idle for longer
    than the lease is ended by the server (`idle_in_transaction_session_timeout`). A
    worker frozen (SIGSTOP, a paused VM) between a transaction's statements would
    otherwise keep its row locks for as long as it stays frozen, and every other worker's
    claim (`FOR UPDATE SKIP LOCKED`) would skip its instances although their leases ran
    out. The frozen worker's next statement then finds its connection gone, reconnects
    and finds its fence moved."""
    return f"-c idle_in_transaction_session_timeout={max(1, round(url.lease * 1000))}"


def connect_error(url: StoreURL, exc: BaseException) -> StoreUnreachable | StoreRefused:
    """The one-line error for a failed connection attempt."""
    reason = libpq_reason(exc)
    if any(word in reason for word in _BUSY):
        return StoreUnreachable(f"PostgreSQL at {url} has no connection slot free: {reason} "
                                "(raise max_connections, or use fewer connections)")
    if any(word in reason for word in _REFUSALS):
        if re.search(r'database ".*" does not exist', reason):
            return StoreRefused(f"cannot open PostgreSQL store {url}: {reason} "
                                "(create it with createdb, or name another database in the URL)")
        return StoreRefused(f"PostgreSQL refused the connection to {url}: {reason}")
    return StoreUnreachable(f"cannot reach PostgreSQL at {url}: {reason}")


def libpq_reason(exc: BaseException) -> str:
    """The informative part of a libpq error, on one line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # libpq puts a hint on its own line ("Is the server running on that host...?")
    text = "; ".join([*lines[:1], *(line[:1].lower() + line[1:] for line in lines[1:])])
    text = text.removeprefix("connection failed: ")
    # 'connection to server at "h", port 5432 failed: FATAL:  role "x" does not exist'
    match = re.search(r"failed: (?:FATAL:\s+)?(.*)", text)
    if match and text.startswith("connection to server"):
        text = match.group(1)
    text = text.removeprefix("FATAL:").strip()
    return re.sub(r"\s+", " ", text).rstrip(".") or type(exc).__name__


def is_disconnect(exc: BaseException, conn: psycopg.Connection[tuple[Any, ...]] | None) -> bool:
    """Whether `exc` means the connection is gone (server down or restarted, network),
    as opposed to an error in what we asked for."""
    if isinstance(exc, StoreUnreachable):
        return True
    if isinstance(exc, psycopg.Error) and conn is not None and (conn.closed or conn.broken):
        return True  # whatever its class: 25P03, a session the server ended as idle, is not operational
    if not isinstance(exc, psycopg.OperationalError):
        return False
    if conn is None:
        return True
    # admin_shutdown, crash_shutdown, cannot_connect_now: the server is going away
    return exc.sqlstate in ("57P01", "57P02", "57P03", "08000", "08003", "08006")


class Reconnector:
    """A connection that comes back: `get()` returns a live one, reconnecting with backoff
    while the server is unreachable and reporting that at most once per `report_every`."""

    def __init__(self, url: StoreURL, *, autocommit: bool = False,
                 report: Callable[[str], None] | None = None, report_every: float = 5.0,
                 on_connect: Callable[[psycopg.Connection[tuple[Any, ...]]], None] | None = None,
                 ) -> None:
        self.url = url
        self.autocommit = autocommit
        self.report = report
        self.report_every = report_every
        self.on_connect = on_connect
        self.conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._last_report = 0.0
        self._closed = False

    def get(self, *, give_up: Callable[[], bool] | None = None) -> psycopg.Connection[
            tuple[Any, ...]]:
        """A live connection; blocks (retrying) while the server is unreachable. A refusal
        (bad role, missing database) is raised at once; `give_up()` true ends the wait with
        the last StoreUnreachable."""
        if self.conn is not None and not self.conn.closed and not self.conn.broken:
            return self.conn
        self.drop()
        delay, warned = 0.1, False
        while True:
            try:
                conn = connect(self.url, autocommit=self.autocommit)
                if self.on_connect is not None:
                    self.on_connect(conn)
            except (StoreUnreachable, psycopg.OperationalError) as exc:  # the latter: lost
                if self._closed or (give_up is not None and give_up()):  # again in on_connect
                    raise exc if isinstance(exc, StoreUnreachable) else connect_error(self.url, exc) from None
                reason = str(exc) if isinstance(exc, StoreUnreachable) else (
                    f"cannot reach PostgreSQL at {self.url}: {libpq_reason(exc)}")
                warned = self._say(f"warning: {reason}; retrying") or warned
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if warned:
                self._say(f"reconnected to PostgreSQL at {self.url}", force=True)
            self.conn = conn
            return conn

    def drop(self) -> None:
        """Forget the current connection (closing it); the next `get` reconnects."""
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
            self.conn = None

    def close(self) -> None:
        self._closed = True
        self.drop()

    def _say(self, line: str, *, force: bool = False) -> bool:
        """Report `line` unless a line went out less than `report_every` ago; whether it did."""
        now = time.monotonic()
        if self.report is not None and (force or now - self._last_report >= self.report_every):
            self.report(line)
            self._last_report = now
            return True
        return False
