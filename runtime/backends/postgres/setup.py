"""Opening a PostgreSQL store: parse its URL, connect, create or migrate its tables.

`initialize(spec)` is what `tether db init` and a backend's first use do. Every failure a
user can cause (malformed URL, unreachable server, refused login, missing database,
tables of a newer tether) is a `StoreError` whose message is one line naming the store
by its masked URL.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from runtime.backends.postgres import schema
from runtime.backends.postgres.connection import (
    StoreRefused,
    StoreUnreachable,
    connect,
    libpq_reason,
)
from runtime.backends.postgres.url import StoreURL, StoreURLError, parse


class StoreError(Exception):
    """A PostgreSQL store cannot be used; the message is one line naming its URL."""


@dataclass(frozen=True)
class Initialized:
    url: StoreURL
    found: int | None  # the version found (None: the schema was created now)
    version: int  # the version now


def initialize(spec: str | StoreURL) -> Initialized:
    """Create the store's schema, or migrate it to this tether's version."""
    url = checked_url(spec)
    try:
        with connect(url) as conn:
            found, version = schema.ensure(conn, url.schema, url.masked)
    except (StoreUnreachable, StoreRefused, schema.SchemaTooNew) as exc:
        raise StoreError(str(exc)) from None
    except psycopg.Error as exc:
        raise StoreError(f"cannot set up the PostgreSQL store {url}: {libpq_reason(exc)}") from None
    return Initialized(url, found, version)


def checked_url(spec: str | StoreURL) -> StoreURL:
    if isinstance(spec, StoreURL):
        return spec
    try:
        return parse(spec)
    except StoreURLError as exc:
        raise StoreError(str(exc)) from None
