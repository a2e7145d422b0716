"""`AsyncClient(store)`: the `Client`'s methods for async code (ASGI routes, asyncio apps).

Every call that touches the store (a create is fsynced; a read is file or database
I/O) runs `Client`'s method in a worker thread (`anyio.to_thread`, the pool Starlette
uses), so an `async def` route never blocks its event loop on an fsync or a database
round trip. Waiting (`wait`, `wait_for_completion_or_create_check_status_response`)
polls with `anyio.sleep`, holding no thread between polls. The URL helpers do no I/O
and are plain methods, as in Durable Functions.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread

from runtime.backends import Backend
from runtime.backends.base import Query
from runtime.client import ENDED, Client, Orchestration

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from runtime.http.responses import ManagementUrls

T = TypeVar("T")


class AsyncClient:
    """`Client`, awaitable; `AsyncClient(client=...)` shares an existing `Client`."""

    def __init__(self, store: Path | str | Backend | None = None, *,
                 http: ManagementUrls | None = None, client: Client | None = None) -> None:
        """`store` as `Client` takes it (None: `$TETHER_STORE` or `.tether`)."""
        if client is None:
            client = Client(store, http=http)
        self.sync = client

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))

    async def start(self, orchestration: Orchestration, input: Any = None, *,
                    instance_id: str | None = None) -> str:
        """`Client.start`: create an instance; returns its id."""
        return await self._run(self.sync.start, orchestration, input, instance_id=instance_id)

    async def start_many(self, orchestration: Orchestration, inputs: Iterable[Any], *,
                         instance_ids: Iterable[str] | None = None) -> list[str]:
        """`Client.start_many`."""
        return await self._run(self.sync.start_many, orchestration, list(inputs),
                               instance_ids=None if instance_ids is None else list(instance_ids))

    async def status(self, instance_id: str, *, history: bool = False,
                     all_variables: bool = False) -> dict[str, Any]:
        """`Client.status`: the status document."""
        return await self._run(self.sync.status, instance_id, history=history,
                               all_variables=all_variables)

    async def history(self, instance_id: str, *,
                      all_variables: bool = False) -> list[dict[str, Any]]:
        """`Client.history`."""
        return await self._run(self.sync.history, instance_id, all_variables=all_variables)

    async def list(self, *, status: set[str] | None = None, before: datetime | None = None,
                   after: datetime | None = None, top: int | None = None,
                   newest_first: bool = False) -> list[dict[str, Any]]:
        """`Client.list`."""
        return await self._run(self.sync.list, status=status, before=before, after=after,
                               top=top, newest_first=newest_first)

    async def close(self) -> None:
        """`Client.close`: free the backend's resources."""
        await self._run(self.sync.close)

    async def query(self, query: Query) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """`Client.query`: one page of status documents and the next page's token."""
        return await self._run(self.sync.query, query)

    async def wait(self, instance_id: str, timeout: float | None = None,
                   poll: float = 0.05) -> dict[str, Any]:
        """The status document once the instance has ended; `TimeoutError` after
        `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            doc = await self.status(instance_id)
            if doc["runtimeStatus"] in ENDED:
                return doc
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"instance {instance_id} still {doc['runtimeStatus']}")
            await anyio.sleep(poll)

    async def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        """`Client.raise_event`."""
        await self._run(self.sync.raise_event, instance_id, name, data)

    async def terminate(self, instance_id: str, reason: Any = None) -> None:
        """`Client.terminate`."""
        await self._run(self.sync.terminate, instance_id, reason)

    async def suspend(self, instance_id: str, reason: Any = None) -> None:
        """`Client.suspend`."""
        await self._run(self.sync.suspend, instance_id, reason)

    async def resume(self, instance_id: str, reason: Any = None) -> None:
        """`Client.resume`."""
        await self._run(self.sync.resume, instance_id, reason)

    async def purge(self, instance_id: str) -> None:
        """`Client.purge`."""
        await self._run(self.sync.purge, instance_id)

    async def purge_where(self, *, status: set[str] | None = None,
                          before: datetime | None = None) -> builtins.list[str]:
        """`Client.purge_where`."""
        return await self._run(self.sync.purge_where, status=status, before=before)

    async def restart(self, instance_id: str, *, new_instance_id: bool = True,
                      new_id: str | None = None) -> str:
        """`Client.restart`."""
        return await self._run(self.sync.restart, instance_id, new_instance_id=new_instance_id,
                               new_id=new_id)

    async def rewind(self, instance_id: str, reason: Any = None) -> None:
        """`Client.rewind`."""
        await self._run(self.sync.rewind, instance_id, reason)

    # -- entities (runtime.entity_client) ------------------------------------------------

    async def signal_entity(self, entity_id: str, operation: str, input: Any = None, *,
                            at: datetime | None = None, key: str | None = None) -> None:
        """`Client.signal_entity`."""
        await self._run(self.sync.signal_entity, entity_id, operation, input, at=at, key=key)

    async def signal_entities(self, signals: Iterable[Any]) -> int:
        """`Client.signal_entities`."""
        return await self._run(self.sync.signal_entities, list(signals))

    async def entity(self, entity_id: str) -> dict[str, Any] | None:
        """`Client.entity`."""
        return await self._run(self.sync.entity, entity_id)

    async def entity_state(self, entity_id: str) -> Any:
        """`Client.entity_state` (`UnknownEntity` when the entity has no state)."""
        return await self._run(self.sync.entity_state, entity_id)

    async def entities(self, *, name: str | None = None, limit: int = 100,
                       cursor: str | None = None) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """`Client.entities`: one page of entities and the next page's cursor."""
        return await self._run(self.sync.entities, name=name, limit=limit, cursor=cursor)

    async def clean_entities(self) -> dict[str, int]:
        """`Client.clean_entities`."""
        return await self._run(self.sync.clean_entities)

    async def metrics(self) -> dict[str, Any]:
        """`Client.metrics`."""
        return await self._run(self.sync.metrics)

    # -- Durable Functions' HTTP helpers --------------------------------------------------

    def create_http_management_payload(self, instance_id: str, *,
                                       origin: str = "") -> dict[str, str]:
        """`Client.create_http_management_payload` (no I/O)."""
        return self.sync.create_http_management_payload(instance_id, origin=origin)

    def create_check_status_response(self, request: Request, instance_id: str) -> Response:
        """`Client.create_check_status_response` (no I/O)."""
        return self.sync.create_check_status_response(request, instance_id)

    async def wait_for_completion_or_create_check_status_response(
            self, request: Request, instance_id: str, timeout: float = 10.0,
            retry_interval: float = 1.0) -> Response:
        """`Client.wait_for_completion_or_create_check_status_response`, polling without
        holding a thread."""
        from runtime.http.responses import completion_response

        deadline = time.monotonic() + timeout
        while True:
            answer = completion_response(await self.status(instance_id))
            if answer is not None:
                return answer
            left = deadline - time.monotonic()
            if left <= 0:
                return self.create_check_status_response(request, instance_id)
            await anyio.sleep(min(retry_interval, left))
