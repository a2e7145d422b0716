"""`pg_url`: a scratch PostgreSQL database for one test, reached over TCP, dropped after it.

The server is `TETHER_PG_SERVER` (default `postgresql://postgres@127.0.0.1:5432/postgres`;
bench/pg_scratch.py). Tests here are skipped, with the reason, when psycopg or the
PostgreSQL backend is missing or no server answers; under `CI=true` they fail instead, so
CI cannot pass by skipping.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator

import pytest


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and the PostgreSQL tests cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture
def pg_url() -> Iterator[str]:
    try:
        importlib.import_module("psycopg")
        importlib.import_module("runtime.backends.postgres")
    except ImportError as exc:
        _unavailable(f"PostgreSQL backend not importable: {exc}")
    from bench.pg_scratch import scratch_database, server_answers, server_url

    if not server_answers():
        _unavailable(f"no PostgreSQL server answers at {server_url()}")
    with scratch_database("test") as url:
        yield url
