"""Workers release instances that only wait (runtime/engine/idle.py), on both backends.

Real `tether worker` processes: an instance sleeping on a timer is released by its
worker with the timer's fire time and holds no claim; the worker is SIGKILLed, another
one started later fires the timer, not before its time; an instance sleeping an hour
holds no lease while its worker runs; one waiting for an event is woken by it."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from runtime.backends import open_backend
from runtime.client import Client
from runtime.clock import parse_iso
from tests.backends.support import Stores

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
from datetime import timedelta
from tether import orchestrator

@orchestrator
async def nap(ctx, seconds):
    start = ctx.current_utc_datetime
    await ctx.sleep(timedelta(seconds=seconds))
    return [start.isoformat(), ctx.current_utc_datetime.isoformat()]

@orchestrator
async def hark(ctx, n):
    return await ctx.wait_for_external_event("go")
"""


@contextmanager
def worker(folder: Path, store: str) -> Iterator[subprocess.Popen[bytes]]:
    """A `tether worker` on `store`, serving once it says it started; its log (debug:
    it shows what it started, resumed and fired) goes to worker.err."""
    log = folder / "worker.err"
    log.write_bytes(b"")
    proc = subprocess.Popen([sys.executable, "-m", "tether.cli", "worker", "flows.py",
                             "--store", store, "--log-level", "debug"], cwd=folder,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.DEVNULL, stderr=log.open("ab"))
    try:
        wait_for("a started worker", lambda: b"worker started" in log.read_bytes()
                 or proc.poll() is not None)
        assert proc.poll() is None, log.read_text()[-2000:]
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=60)
        err = log.read_text()
        assert proc.returncode in (0, -signal.SIGTERM, -signal.SIGKILL), err[-2000:]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60,
             say: Callable[[], str] = lambda: "") -> Any:
    limit = time.monotonic() + timeout
    while not (got := check()):
        assert time.monotonic() < limit, f"not {what} after {timeout} s {say()}"
        time.sleep(0.05)
    return got


def holder(stores: Stores, store: str, instance_id: str) -> Callable[[], bool]:
    """Is the instance claimed by anyone? (files: its folder's flock; PostgreSQL: a
    live lease), probed without taking it."""
    if stores.kind == "postgres":
        schema = stores.made[-1]

        def leased() -> bool:
            row = stores.conn.execute(
                f'SELECT owner IS NOT NULL AND lease_until > now() FROM "{schema}".instances'
                " WHERE id = %s", (instance_id,)).fetchone()
            return bool(row and row[0])
        return leased

    def locked() -> bool:
        fd = os.open(Path(store) / "instances" / instance_id, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops our probe's lock, if it got it
        return False
    return locked


@pytest.fixture
def setup(stores: Stores, tmp_path: Path) -> tuple[str, Path, Client, Any]:
    store = stores()
    (tmp_path / "flows.py").write_text(PROGRAM)
    from tether.loader import load

    flows = load(str(tmp_path / "flows.py"))
    return store, tmp_path, Client(store), flows


def status(client: Client, instance_id: str) -> str:
    return str((client.status(instance_id) or {}).get("runtimeStatus"))


def test_a_timer_fires_on_another_worker_after_its_worker_is_killed(
        setup: tuple[str, Path, Client, Any], stores: Stores) -> None:
    store, folder, client, flows = setup
    held = holder(stores, store, "t")
    with worker(folder, store) as a:
        client.start(flows.machine("nap"), 8, instance_id="t")
        wait_for("running", lambda: status(client, "t") == "Running",
                 say=lambda: f"{client.status('t')}; {(folder / 'worker.err').read_text()}")
        wait_for("released by its worker", lambda: not held())
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=30)
    assert status(client, "t") == "Running"
    with worker(folder, store):
        wait_for("completed", lambda: status(client, "t") == "Completed")
    start, end = (parse_iso(at) for at in client.status("t")["output"])
    assert end - start >= timedelta(seconds=8)  # never before its fire time


def test_an_instance_sleeping_an_hour_holds_no_lease(
        setup: tuple[str, Path, Client, Any], stores: Stores) -> None:
    store, folder, client, flows = setup
    held = holder(stores, store, "h")
    with worker(folder, store) as a:
        client.start(flows.machine("nap"), 3600, instance_id="h")
        wait_for("running", lambda: status(client, "h") == "Running")
        wait_for("released by its worker", lambda: not held())
        backend = open_backend(store)
        assert backend.runnable(10) == []  # not offered before its hour is up
        if stores.kind == "postgres":
            (ready_at, lease) = stores.conn.execute(
                f'SELECT ready_at, lease_until FROM "{stores.made[-1]}".instances'
                " WHERE id = 'h'").fetchone()
            assert lease is None and ready_at > parse_iso(
                client.status("h")["createdTime"]) + timedelta(minutes=59)
        time.sleep(1.5)  # several of the worker's polls: it does not take it back
        assert not held() and a.poll() is None
        backend.close()


def test_an_event_wakes_an_instance_released_to_wait_for_it(
        setup: tuple[str, Path, Client, Any], stores: Stores) -> None:
    store, folder, client, flows = setup
    held = holder(stores, store, "e")
    with worker(folder, store):
        client.start(flows.machine("hark"), None, instance_id="e")
        wait_for("running", lambda: status(client, "e") == "Running")
        wait_for("released by its worker", lambda: not held())
        client.raise_event("e", "go", {"n": 7})
        wait_for("completed", lambda: status(client, "e") == "Completed")
    assert client.status("e")["output"] == {"n": 7}
