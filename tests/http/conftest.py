"""A real uvicorn server on a loopback port, serving examples/async_http_api.py."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from runtime.http import create_app
from tests.backends.support import Stores
from tether.commands.serve_cmd import graph_drawer
from tether.loader import load

EXAMPLE = Path(__file__).parents[2] / "examples" / "async_http_api.py"


@dataclass
class Server:
    url: str
    store: Path | str  # a directory (file backend) or a URL (PostgreSQL)
    http: httpx.Client

    def poll(self, instance_id: str, timeout: float = 20.0) -> httpx.Response:
        deadline = time.monotonic() + timeout
        while True:
            r = self.http.get(f"/api/instances/{instance_id}")
            if r.status_code != 202 or time.monotonic() > deadline:
                return r
            time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_server(store: Path | str, source: Path = EXAMPLE, **options: Any) -> Iterator[Server]:
    machines = load(str(source)).orchestrators()
    options.setdefault("draw_graph", graph_drawer({name: source for name in machines}))
    app = create_app(store, machines, **options)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=10) as http:
        yield Server(url, store, http)
    server.should_exit = True
    thread.join(10)


def _store(stores: Stores) -> Path | str:
    spec = stores()
    return Path(spec) if stores.kind == "file" else spec


@pytest.fixture
def server(stores: Stores) -> Iterator[Server]:
    """Served with a worker, on each backend (the `stores` parameter)."""
    yield from run_server(_store(stores), worker=True)


@pytest.fixture
def passive(stores: Stores) -> Iterator[Server]:
    """No worker: instances stay Pending, so running-state answers are stable."""
    yield from run_server(_store(stores), worker=False)
