"""The `backend` fixture: every test that takes it runs once per backend.

`file`: a store directory in a temporary folder. `postgres`: a fresh schema in the
database named by `TETHER_TEST_POSTGRES` (default: the local server's `test` database),
dropped after the test. The PostgreSQL run is skipped, with the reason, when
`runtime.backends.postgres` or psycopg is missing or no server answers; under `CI=true`
a missing server fails instead, so CI cannot pass by skipping.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.backends.base import Backend

BACKENDS = ["file", "postgres"]
POSTGRES_URL = os.environ.get("TETHER_TEST_POSTGRES", "postgresql:///test")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and the PostgreSQL backend cannot run: {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def postgres_backend() -> Iterator[Backend]:
    """A PostgreSQL backend on a schema of its own, dropped afterwards.

    The backend module provides `open_postgres(url, *, schema=None)`; the schema is
    created here and handed to it."""
    try:
        module = importlib.import_module("runtime.backends.postgres")
        psycopg = importlib.import_module("psycopg")
    except ImportError as exc:
        _unavailable(f"PostgreSQL backend not importable: {exc}")
        raise AssertionError("unreachable") from None
    schema = f"tether_test_{uuid.uuid4().hex[:12]}"
    try:
        conn = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:  # psycopg.OperationalError and friends
        _unavailable(f"no PostgreSQL server answers at {POSTGRES_URL}: {exc}".splitlines()[0])
        raise AssertionError("unreachable") from None
    with conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        backend = module.open_postgres(POSTGRES_URL, schema=schema)
        try:
            backend.ensure()
            yield backend
        finally:
            backend.close()
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextlib.contextmanager
def make_backend(kind: str, tmp_path: Path) -> Iterator[Backend]:
    if kind == "file":
        from runtime.backends.file import FileBackend

        backend = FileBackend(tmp_path / "store")
        backend.ensure()
        try:
            yield backend
        finally:
            backend.close()
    else:
        with postgres_backend() as backend:
            yield backend


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend(backend_kind: str, tmp_path: Path) -> Iterator[Backend]:
    with make_backend(backend_kind, tmp_path) as b:
        yield b
