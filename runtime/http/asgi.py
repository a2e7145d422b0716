"""tether inside a user's ASGI app: the worker runs however the API is mounted.

Starlette runs the lifespan of the application the server was given and of no app
mounted inside it, so a worker started only by `create_app`'s own lifespan never starts
when the API is mounted below a prefix: instances stay Pending. Here the worker is a
`WorkerThread` that any of three things starts, whichever comes first:

1. a lifespan: `create_app`'s own (the app is the server's app), or `TetherApp.lifespan`,
   which the user passes to `FastAPI(lifespan=...)` or enters inside their own lifespan;
2. the first HTTP request that reaches the mounted API;
3. the first instance a `TetherApp.client` starts (a user's own starter route).

Cases 2 and 3 mean the user forgot the lifespan: the worker starts anyway and one
WARNING line (logger `tether.http`) says so and how to fix it. Started without a
lifespan, nothing tells the worker when the server stops, so it is stopped at interpreter
exit; a crash-safe store loses nothing either way.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.async_client import AsyncClient
from runtime.backends import Backend
from runtime.client import Client, Orchestration
from runtime.http.responses import ManagementUrls
from runtime.machine import MachineDef

log = logging.getLogger("tether.http")

#: How long stopping waits for the worker to finish the step it is in.
STOP_WAIT = 10.0


class WorkerThread:
    """One worker for a store, in a daemon thread; `start` is idempotent."""

    def __init__(self, store: Path | str | Backend, *, concurrency: int = 16) -> None:
        self.store = store
        self.concurrency = concurrency
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop: threading.Event | None = None
        self.by_lifespan = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, *, late: str | None = None) -> bool:
        """Start the worker unless it runs; True if this call started it. `late` says
        what started it when no lifespan did: it is logged as a warning."""
        with self._lock:
            if self.running:
                return False
            from runtime.worker import Worker, supervise

            # supervised: a worker that dies is restarted, or takes the server down loudly
            # (issue 17), never leaving it answering 202 for instances nothing runs
            stop = self._stop = threading.Event()
            self._thread = threading.Thread(
                target=supervise, name="tether-worker", daemon=True,
                args=(lambda: Worker(self.store, concurrency=self.concurrency), stop))
            self._thread.start()
        if late is not None:
            log.warning("tether started its worker on %s, because no lifespan started it "
                        "(Starlette does not run a mounted app's lifespan); pass "
                        "lifespan=TetherApp.lifespan to your FastAPI or Starlette app to start "
                        "it with the server", late)
            atexit.register(self.stop)
        return True

    def stop(self, wait: float = STOP_WAIT) -> None:
        with self._lock:
            thread, stop = self._thread, self._stop
            self._thread = self._stop = None
        if thread is not None and stop is not None:
            stop.set()
            thread.join(wait)

    @asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """Run the worker while the server runs (a Starlette/FastAPI lifespan)."""
        started = self.start()
        try:
            yield
        finally:
            if started:
                await run_in_threadpool(self.stop)


class StartOnFirstRequest:
    """ASGI middleware: the first HTTP request starts the worker if no lifespan did."""

    def __init__(self, app: ASGIApp, worker: WorkerThread) -> None:
        self.app = app
        self.worker = worker
        self.checked = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.checked and scope["type"] == "http":
            self.checked = True
            root = scope.get("root_path", "") or "/"
            self.worker.start(late=f"the first request to {root}")
        await self.app(scope, receive, send)


class _StartingClient(AsyncClient):
    """The embedding's client: starting an instance makes sure a worker will run it."""

    def __init__(self, client: Client, worker: WorkerThread | None) -> None:
        super().__init__(client=client)
        self.worker = worker

    def _ensure_worker(self) -> None:
        if self.worker is not None and not self.worker.running:
            self.worker.start(late="the first instance its client started")

    # The instance is created before the worker starts: a worker starting while an
    # instance is being created could miss it (see the report of issue 14).
    async def start(self, orchestration: Orchestration, input: Any = None, *,
                    instance_id: str | None = None) -> str:
        created = await super().start(orchestration, input, instance_id=instance_id)
        self._ensure_worker()
        return created

    async def start_many(self, orchestration: Orchestration, inputs: Any, *,
                         instance_ids: Any = None) -> list[str]:
        created = await super().start_many(orchestration, inputs, instance_ids=instance_ids)
        self._ensure_worker()
        return created


class TetherApp:
    """tether's HTTP API, its worker and an `AsyncClient`, for mounting in a user's app.

        tether = TetherApp(".tether", load("workflows.py").orchestrators())
        app = FastAPI(lifespan=tether.lifespan)
        tether.mount(app)                      # the API below /tether

        @app.post("/orders")
        async def order(request: Request) -> Response:
            instance_id = await tether.client.start(process_order, await request.json())
            return tether.client.create_check_status_response(request, instance_id)

    `lifespan` may also be entered inside the user's own: `async with tether.lifespan():`.
    The other keywords are `create_app`'s.
    """

    def __init__(self, store: Path | str | Backend, machines: Mapping[str, MachineDef], *,
                 prefix: str = "/tether", worker: bool = True, api_key: str | None = None,
                 **options: Any) -> None:
        from runtime.http.app import create_app

        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError(f"prefix must start with / and not end with one: {prefix!r}")
        self.prefix = prefix
        self.worker = WorkerThread(store) if worker else None
        self.app = create_app(store, machines, api_key=api_key, worker=self.worker or False,
                               **options)
        self.client: AsyncClient = _StartingClient(
            Client(store, http=ManagementUrls(prefix, api_key)), self.worker)

    def lifespan(self, app: Any = None) -> AbstractAsyncContextManager[None]:
        """The worker's lifespan: `FastAPI(lifespan=tether.lifespan)`."""
        if self.worker is None:
            return _nothing()
        return self.worker.lifespan(app)

    def mount(self, parent: Any) -> None:
        """`parent.mount(prefix, app)`: the API below the prefix of this `TetherApp`."""
        parent.mount(self.prefix, self.app)


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield
