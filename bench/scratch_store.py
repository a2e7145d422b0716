"""A throwaway store of either kind, for the benches that run on both backends.

    with scratch_store("file", "entities") as store:        # .../tether-entities-bench-x/store
    with scratch_store("postgres", "entities") as store:    # postgresql://.../tether_entities_...

Owns only the choice: a directory in a temporary folder, or a scratch database
(bench/pg_scratch.py, imported only when one is asked for, so a file-only run needs no
psycopg). Both are gone when the block ends.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_store(kind: str, name: str) -> Iterator[str]:
    """`kind` "file": a store directory in a temporary folder; anything else: a scratch
    PostgreSQL database's URL. `name` goes into the folder's or the database's name."""
    if kind == "file":
        with tempfile.TemporaryDirectory(prefix=f"tether-{name}-bench-") as folder:
            yield str(Path(folder) / "store")
        return
    from bench.pg_scratch import scratch_database

    with scratch_database(name) as url:
        yield url
