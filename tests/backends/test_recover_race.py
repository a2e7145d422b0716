"""A worker starting while a client creates an instance must not lose it.

Found by issue 14's embedding tests (intermittently, a TetherApp whose first client
start also starts the worker): `FileBackend.create_many` indexes an instance before its
folder exists, and `recover()` (run by every `Worker.serve`) drops index rows without a
folder, so a creation in flight loses its row and the instance stays Pending, invisible
to `runnable`. Now `recover()` drops only rows older than STALE_ROW (a creation in flight
is young); the embedding also creates before starting its worker."""

from __future__ import annotations

from pathlib import Path

from runtime.backends.file import FileBackend
from runtime.clock import Clock, iso


def test_recover_during_a_create_keeps_the_instance_runnable(tmp_path: Path) -> None:
    client, worker = FileBackend(tmp_path), FileBackend(tmp_path)
    client.ensure()
    ts = iso(Clock().now())  # a creation in flight is one happening now
    data = {"name": "chain", "input": None, "graph_hash": "h", "source": "s",
            "parent": None, "generation": 0, "start": ts}
    client.index().insert_new([("x-1", "chain", ts)])  # create_many's first half
    worker.recover()  # a worker starting meanwhile
    client.store.create_many([("x-1", ts, data)])  # and its second half
    assert "x-1" in worker.runnable(10)
