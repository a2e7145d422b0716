"""Routes of the async-HTTP-API pattern, management endpoints and the dashboard."""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from runtime.client import ENDED, Client, UnknownInstance
from runtime.clock import parse_iso
from runtime.machine import MachineDef
from runtime.store import InvalidInstanceId, Store, validate_id
from runtime.worker import Worker

#: (store, instance id, orchestrator name) -> the step graph as SVG coloured by progress,
#: or None when it cannot be drawn. Supplied by the caller: the runtime never imports the
#: compiler (DESIGN.md "Layout"), and `tether serve` passes one built on tether.graphing.
GraphDrawer = Callable[[Path, str, str], "bytes | None"]

MiB = 1024 * 1024
RETRY_AFTER = "1"
_DASHBOARD = Path(__file__).with_name("dashboard.html")


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(store: Path | str, machines: Mapping[str, MachineDef], *,
               api_key: str | None = None, max_body: int = MiB,
               worker: bool = False, draw_graph: GraphDrawer | None = None) -> Starlette:
    """An ASGI app serving `store`; `worker=True` also runs its instances in a thread."""
    client = Client(store)
    api = _Api(client, machines, api_key, max_body, draw_graph)
    routes = [
        Route("/", api.dashboard, methods=["GET"]),
        Route("/api/orchestrators/{name}", api.start, methods=["POST"]),
        Route("/api/orchestrators/{name}/{instance_id}", api.start, methods=["POST"]),
        Route("/api/instances", api.list, methods=["GET"]),
        Route("/api/instances/{instance_id}", api.status, methods=["GET"]),
        Route("/api/instances/{instance_id}", api.purge, methods=["DELETE"]),
        Route("/api/instances/{instance_id}/graph", api.graph, methods=["GET"]),
        Route("/api/instances/{instance_id}/raiseEvent/{event}", api.raise_event, methods=["POST"]),
        Route("/api/instances/{instance_id}/{action:str}", api.control, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=_worker_lifespan(Store(store)) if worker else None)


def _worker_lifespan(store: Store) -> Callable[[Starlette], Any]:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        w = Worker(store)
        thread = threading.Thread(target=w.serve, name="tether-worker", daemon=True)
        thread.start()
        try:
            yield
        finally:
            w.stop.set()
            await run_in_threadpool(thread.join, 10)
    return lifespan


def _guarded(handler: Callable[[_Api, Request], Any]) -> Callable[[_Api, Request], Any]:
    """Key check first, then map our errors to one-line JSON answers."""
    async def wrapped(self: _Api, request: Request) -> Response:
        try:
            self.check_key(request)
            result: Response = await handler(self, request)
            return result
        except HTTPError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except (InvalidInstanceId, UnknownInstance) as exc:
            code = 400 if isinstance(exc, InvalidInstanceId) else 404
            return JSONResponse({"error": str(exc).strip("'\"")}, status_code=code)
    return wrapped


class _Api:
    def __init__(self, client: Client, machines: Mapping[str, MachineDef],
                 api_key: str | None, max_body: int, draw_graph: GraphDrawer | None) -> None:
        self.client = client
        self.draw_graph = draw_graph
        self.machines = machines
        self.api_key = api_key
        self.max_body = max_body

    def check_key(self, request: Request) -> None:
        if not self.api_key:
            return
        given = request.headers.get("x-tether-key") or request.query_params.get("code") or ""
        if not hmac.compare_digest(given.encode(), self.api_key.encode()):
            raise HTTPError(401, "missing or wrong API key (x-tether-key header or code parameter)")

    async def body(self, request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise HTTPError(413, f"body over {self.max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise HTTPError(413, f"body over {self.max_body} bytes")
            chunks.append(chunk)
        raw = b"".join(chunks)
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HTTPError(400, f"malformed JSON body: {exc}") from None

    def urls(self, request: Request, instance_id: str) -> dict[str, str]:
        base = str(request.base_url).rstrip("/") + f"/api/instances/{instance_id}"
        key = f"?code={self.api_key}" if self.api_key else ""
        amp = "&" if key else "?"
        return {
            "id": instance_id,
            "statusQueryGetUri": base + key,
            "sendEventPostUri": base + "/raiseEvent/{eventName}" + key,
            "terminatePostUri": base + "/terminate" + key + amp + "reason={text}",
            "purgeHistoryDeleteUri": base + key,
            "suspendPostUri": base + "/suspend" + key + amp + "reason={text}",
            "resumePostUri": base + "/resume" + key + amp + "reason={text}",
        }

    async def dashboard(self, request: Request) -> Response:
        return HTMLResponse(_DASHBOARD.read_text(encoding="utf-8"))

    @_guarded
    async def start(self, request: Request) -> Response:
        name = request.path_params["name"]
        mdef = self.machines.get(name)
        if mdef is None:
            raise HTTPError(404, f"no orchestrator named {name!r}; found: "
                            + (", ".join(sorted(self.machines)) or "none"))
        given = request.path_params.get("instance_id")
        instance_id = validate_id(given) if given is not None else None
        data = await self.body(request)
        try:
            instance_id = await run_in_threadpool(self.client.start, mdef, data,
                                                  instance_id=instance_id)
        except ValueError as exc:  # id taken, or input not a JSON value
            raise HTTPError(409 if "already exists" in str(exc) else 400, str(exc)) from None
        urls = self.urls(request, instance_id)
        return JSONResponse(urls, status_code=202, headers={
            "Location": urls["statusQueryGetUri"], "Retry-After": RETRY_AFTER})

    @_guarded
    async def status(self, request: Request) -> Response:
        instance_id = validate_id(request.path_params["instance_id"])
        history = request.query_params.get("showHistory", "").lower() == "true"
        doc = await run_in_threadpool(self.client.status, instance_id, history=history)
        if doc["runtimeStatus"] in ENDED:
            return JSONResponse(doc, status_code=200)
        return JSONResponse(doc, status_code=202, headers={
            "Location": self.urls(request, instance_id)["statusQueryGetUri"],
            "Retry-After": RETRY_AFTER})

    @_guarded
    async def graph(self, request: Request) -> Response:
        instance_id = validate_id(request.path_params["instance_id"])
        doc = await run_in_threadpool(self.client.status, instance_id)
        svg = None
        if self.draw_graph is not None:
            svg = await run_in_threadpool(self.draw_graph, self.client.store.root, instance_id,
                                          doc["name"])
        if svg is None:
            raise HTTPError(404, f"no step graph for orchestrator {doc['name']}")
        return Response(svg, media_type="image/svg+xml")

    @_guarded
    async def raise_event(self, request: Request) -> Response:
        instance_id = validate_id(request.path_params["instance_id"])
        data = await self.body(request)
        doc = await run_in_threadpool(self.client.status, instance_id)
        if doc["runtimeStatus"] in ENDED:
            raise HTTPError(410, f"instance {instance_id} is {doc['runtimeStatus']}")
        try:
            await run_in_threadpool(self.client.raise_event, instance_id,
                                    request.path_params["event"], data)
        except ValueError as exc:
            raise HTTPError(400, str(exc)) from None
        return Response(status_code=202)

    @_guarded
    async def control(self, request: Request) -> Response:
        instance_id = validate_id(request.path_params["instance_id"])
        action = request.path_params["action"]
        if action not in ("terminate", "suspend", "resume"):
            raise HTTPError(404, f"no action {action!r}; use terminate, suspend or resume")
        reason = request.query_params.get("reason")
        doc = await run_in_threadpool(self.client.status, instance_id)
        if doc["runtimeStatus"] in ENDED:
            raise HTTPError(410, f"instance {instance_id} is {doc['runtimeStatus']}")
        await run_in_threadpool(getattr(self.client, action), instance_id, reason)
        return Response(status_code=202)

    @_guarded
    async def purge(self, request: Request) -> Response:
        instance_id = validate_id(request.path_params["instance_id"])
        try:
            await run_in_threadpool(self.client.purge, instance_id)
        except ValueError as exc:  # still running
            raise HTTPError(409, str(exc)) from None
        return JSONResponse({"instancesDeleted": 1})

    @_guarded
    async def list(self, request: Request) -> Response:
        q = request.query_params
        statuses = {s for v in q.getlist("runtimeStatus") for s in v.split(",") if s} or None
        after = _time(q.get("createdTimeFrom"), "createdTimeFrom")
        before = _time(q.get("createdTimeTo"), "createdTimeTo")
        top = q.get("top")
        if top is not None and not (top.isdigit() and int(top) > 0):
            raise HTTPError(400, f"top must be a positive integer, not {top!r}")
        docs = await run_in_threadpool(self.client.list, status=statuses, before=before,
                                       after=after)
        docs.sort(key=lambda d: d["createdTime"], reverse=True)
        return JSONResponse(docs[:int(top)] if top else docs)


def _time(text: str | None, what: str) -> datetime | None:
    if not text:
        return None
    try:
        when = parse_iso(text)
    except ValueError:
        raise HTTPError(400, f"{what} is not an ISO 8601 time: {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
