"""Throwaway PostgreSQL databases for the benchmarks and the PostgreSQL soak tests.

    with scratch_database("bench") as url:   # postgresql://.../tether_bench_1a2b3c4d
        ...

Owns: creating a database with a unique name on the server named by `server_url()`
(`TETHER_PG_SERVER`, default the local server over TCP), handing back its URL, and dropping
it afterwards, even when the server was restarted in between (`WITH (FORCE)` ends the
sessions that workers left behind). Nothing else here knows about tether.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg

SERVER_ENV = "TETHER_PG_SERVER"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    """The maintenance database's URL: where scratch databases are created from."""
    return os.environ.get(SERVER_ENV, DEFAULT_SERVER)


def with_database(url: str, database: str) -> str:
    """`url` naming `database` instead of its own (query string kept)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def server_answers(url: str | None = None, timeout: float = 2.0) -> bool:
    try:
        with psycopg.connect(url or server_url(), connect_timeout=max(1, int(timeout))):
            return True
    except psycopg.OperationalError:
        return False


def wait_for_server(url: str | None = None, timeout: float = 60.0) -> None:
    """Block until the server accepts connections; raise TimeoutError after `timeout` s."""
    limit = time.monotonic() + timeout
    while not server_answers(url):
        if time.monotonic() > limit:
            raise TimeoutError(f"PostgreSQL at {url or server_url()} still down after {timeout} s")
        time.sleep(0.2)


@contextmanager
def scratch_database(purpose: str) -> Iterator[str]:
    """A new, empty database named `tether_<purpose>_<random>`; dropped on exit."""
    name = f"tether_{purpose}_{secrets.token_hex(4)}"
    admin = server_url()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin, name)
    finally:
        wait_for_server(admin)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


RESTART_ENV = "TETHER_PG_RESTART"


def restart_server() -> None:
    """Restart the server and wait until it answers.

    `TETHER_PG_RESTART`, when set, is the shell command that restarts the server named by
    `TETHER_PG_SERVER` (a private cluster, so that a soak never restarts a server others
    use: docs/benchmarks.md shows one with `pg_ctl`); otherwise the local cluster under
    /etc/postgresql is restarted with `pg_ctlcluster` (CI's). Both wait for the shutdown
    and the start; sessions open at that moment are cut, which is what the soak wants its
    workers to live through."""
    command = os.environ.get(RESTART_ENV)
    if command:
        subprocess.run(command, shell=True, check=True, capture_output=True)
    else:
        versions = sorted(os.listdir("/etc/postgresql"))
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[0], "main",
                        "restart"], check=True, capture_output=True)
    wait_for_server()
