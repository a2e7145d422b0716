"""Fixtures that run a test once per backend (imported by tests/conftest.py).

`backend`: a fresh, empty Backend. `stores`: a factory of fresh stores, each given as
what users name a store with (a directory path for `file`, a `postgresql://...?schema=`
URL for `postgres`), for tests that need several (the differential harness: one per
crash point) or pass the store to the CLI. `file`: directories in a temporary folder.
`postgres`: fresh schemas in the database named by `TETHER_TEST_POSTGRES` (default: the
local server's `test` database), dropped after the test. The PostgreSQL run is skipped, with the reason, when
`runtime.backends.postgres` or psycopg cannot be imported, or when no server answers;
under `CI=true` a missing server fails instead, so CI cannot pass by skipping it.
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.backends.base import Backend

BACKENDS = ["file", "postgres"]
POSTGRES_URL = os.environ.get("TETHER_TEST_POSTGRES", "postgresql:///test")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and the PostgreSQL backend cannot run: {reason}")
    pytest.skip(reason)


class Stores:
    """Fresh stores of one kind; `close` drops the PostgreSQL schemas made."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        self.made: list[str] = []
        self.conn: Any = None
        if kind == "postgres":
            try:
                importlib.import_module("runtime.backends.postgres")
                psycopg = importlib.import_module("psycopg")
            except ImportError as exc:  # not merged in, or psycopg missing: never a CI pass
                pytest.skip(f"PostgreSQL backend not importable: {exc}")
            try:
                self.conn = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
            except Exception as exc:  # psycopg.OperationalError and friends
                _unavailable(f"no PostgreSQL server answers at {POSTGRES_URL}: "
                             f"{str(exc).splitlines()[0] if str(exc) else exc!r}")

    def __call__(self, name: str = "store") -> str:
        """A new, empty store's name (a path or a URL), unique within the test."""
        if self.kind == "file":
            return str(self.tmp_path / name)
        schema = f"tether_test_{uuid.uuid4().hex[:12]}"
        self.made.append(schema)
        sep = "&" if "?" in POSTGRES_URL else "?"
        return f"{POSTGRES_URL}{sep}schema={schema}"

    def close(self) -> None:
        if self.conn is None:
            return
        with self.conn:
            for schema in self.made:
                self.conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def stores(backend_kind: str, tmp_path: Path) -> Iterator[Stores]:
    made = Stores(backend_kind, tmp_path)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def backend(stores: Stores) -> Iterator[Backend]:
    from runtime.backends import open_backend

    b = open_backend(stores())
    b.ensure()
    try:
        yield b
    finally:
        b.close()
