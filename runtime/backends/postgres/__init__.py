"""The PostgreSQL backend: a store in one PostgreSQL schema, shared by workers on many
machines (docs/backends.md, "PostgreSQL"). Needs psycopg 3: `pip install 'tether[postgres]'`.

- `url.py`: store URLs (`postgresql://...?schema=NAME`), checked and masked
- `connection.py`: connecting with one-line errors; reconnecting with backoff
- `schema.py`: the tables and their migrations
- `setup.py`: opening a store (`tether db init`, first use)
- `backend.py`: the Backend (claims, group commit, messages, reads); `claim.py`,
  `status.py`, `reads.py`, `queries.py` (the SQL), `owners.py` (who holds a claim),
  `work.py` (activity work items), `sessions.py` (a connection
  per thread, surviving restarts), `wakeups.py` (LISTEN/NOTIFY)
"""

from __future__ import annotations

from collections.abc import Callable

from runtime.backends.postgres.backend import PostgresBackend

__all__ = ["PostgresBackend", "open_postgres"]


def open_postgres(url: str, *, schema: str | None = None,
                  report: Callable[[str], None] | None = None) -> PostgresBackend:
    """The backend of the store at `url` (`schema`, when given, overrides `?schema=`).
    Connects lazily: `ensure()` (or the first use) reaches the server and creates or
    migrates the tables. Raises BackendUnavailable for a malformed URL."""
    if schema is not None:
        url = f"{url}{'&' if '?' in url else '?'}schema={schema}"
    return PostgresBackend(url, report=report)
