"""A fresh PostgreSQL store per test: a schema of its own, dropped afterwards.

The server is `$TETHER_TEST_POSTGRES` (default `postgresql:///test`, the local socket).
When psycopg is missing or no server answers, tests that need one are skipped with the
reason, except under `CI=true`, where that fails them: CI must run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

SERVER = os.environ.get("TETHER_TEST_POSTGRES", "postgresql:///test")


def unavailable() -> str | None:
    """Why PostgreSQL tests cannot run here, or None if they can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'tether[postgres]')"
    try:
        psycopg.connect(SERVER, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL server answers at {SERVER}: {str(exc).strip().splitlines()[0]}"
    return None


def require_server() -> None:
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and PostgreSQL tests cannot run: {reason}")
    pytest.skip(reason)


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def drop_schema(schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """The name of a schema no other test uses (not created yet); dropped afterwards."""
    require_server()
    name = f"t_{uuid.uuid4().hex[:16]}"
    try:
        yield name
    finally:
        drop_schema(name)


@pytest.fixture
def pg_url(pg_schema: str) -> str:
    """A store URL on a fresh schema."""
    return with_schema(SERVER, pg_schema)
