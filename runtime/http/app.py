"""Routes of the async-HTTP-API pattern, management endpoints and the dashboard.

Every request passes `_Gate` before routing: with an API key set, every path except
`PUBLIC` (the dashboard page, which holds no data) needs the key, so a route added later
is guarded without anyone remembering to. Handlers raise; `_HANDLERS` turn every error
into one JSON line `{"error": ...}`.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import re
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.api import OrchestrationError
from runtime.backends import Backend
from runtime.backends.base import BackendError
from runtime.client import ENDED, Client, NotAnOrchestration, UnknownInstance
from runtime.clock import parse_iso
from runtime.http import live, queries
from runtime.http.answers import NOSNIFF, JSONAnswer, NoSniff
from runtime.http.asgi import StartOnFirstRequest, WorkerThread
from runtime.http.openapi import document
from runtime.http.responses import RETRY_AFTER, ManagementUrls, origin_of
from runtime.ids import InvalidInstanceId, validate_id
from runtime.limits import MalformedJSON, parse_json
from runtime.machine import MachineDef
from runtime.metrics import PROMETHEUS_TEXT, metrics_exposition
from runtime.values import NotJSONError

#: (backend, instance id, orchestrator name) -> the step graph as SVG coloured by progress,
#: or None when it cannot be drawn. Supplied by the caller: the runtime never imports the
#: compiler (DESIGN.md "Layout"), and `tether serve` passes one built on tether.graphing.
GraphDrawer = Callable[[Backend, str, str], "bytes | None"]

MiB = 1024 * 1024
#: how long counts per status are reused (seconds)
COUNTS_TTL = 2.0
#: The dashboard's files: the same static text for everyone, with no instance,
#: orchestrator or key in them; their data comes from /api calls, which need the key.
_STATIC = Path(__file__).parent
_DASHBOARD_FILES = {"/": ("dashboard.html", "text/html; charset=utf-8"),
                    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
                    "/instance.js": ("instance.js", "text/javascript; charset=utf-8"),
                    "/entities.js": ("entities.js", "text/javascript; charset=utf-8"),
                    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8")}
#: Paths answered without the API key: the dashboard's files.
PUBLIC = frozenset(_DASHBOARD_FILES)
RUNTIME_STATUSES = queries.RUNTIME_STATUSES
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(store: Path | str | Backend, machines: Mapping[str, MachineDef], *,
               api_key: str | None = None, max_body: int = MiB,
               worker: bool | WorkerThread = False, draw_graph: GraphDrawer | None = None,
               hosts: Collection[str] | None = None) -> Starlette:
    """An ASGI app serving `store` (a directory, a URL or a Backend, see
    `runtime.backends.open_backend`); `worker=True` also runs its instances in a thread,
    started by the app's lifespan or, mounted in another app (whose server does not run
    this one's lifespan), by the first request (see `runtime.http.asgi`).

    `hosts`, when given, are the only host names requests may address (the Host header,
    port aside): a web page that rebinds its own name to 127.0.0.1 is then refused.
    """
    if api_key == "":
        raise ValueError("api_key is empty: pass None to serve without a key")
    api = _Api(Client(store), machines, api_key, max_body, draw_graph)
    routes = [
        *(_route(path, GET=api.dashboard) for path in _DASHBOARD_FILES),
        # issue 15: the dashboard's counts and live updates
        _route("/api/statusCounts", GET=api.counts),
        _route("/api/events", GET=api.events),
        _route("/api/orchestrators/{name}", POST=api.start),
        _route("/api/orchestrators/{name}/{instance_id}", POST=api.start),
        _route("/api/instances", GET=api.list, DELETE=api.purge_many),
        _route("/api/instances/{instance_id}", GET=api.status, DELETE=api.purge),
        _route("/api/instances/{instance_id}/graph", GET=api.graph),
        _route("/api/instances/{instance_id}/raiseEvent/{event}", POST=api.raise_event),
        _route("/api/instances/{instance_id}/restart", POST=api.restart),  # issue 14
        _route("/api/instances/{instance_id}/rewind", POST=api.rewind),  # issue 14
        _route("/api/instances/{instance_id}/{action:str}", POST=api.control),
        *_entity_routes(api),  # issue 12
        # issue 14: the description of this table, and Prometheus metrics
        _route("/api/openapi.json", GET=api.openapi),
        _route("/metrics", GET=api.metrics),
    ]
    runner = WorkerThread(store) if worker is True else worker or None
    middleware = [Middleware(NoSniff), Middleware(_Gate, api_key=api_key, hosts=hosts)]
    if runner is not None:
        middleware.insert(1, Middleware(StartOnFirstRequest, worker=runner))
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=_HANDLERS,
                    lifespan=runner.lifespan if runner is not None else None)
    app.state.tether_worker = runner  # the WorkerThread (None without a worker)
    return app


Handler = Callable[[Request], Awaitable[Response]]


def _entity_routes(api: _Api) -> list[Route]:
    # imported here: runtime.http.entities builds on this module's helpers
    from runtime.http.entities import entity_routes

    return entity_routes(api)


def _route(path: str, **by_method: Handler) -> Route:
    """One route per path, so a `405` lists every method the path answers in `Allow`."""
    async def endpoint(request: Request) -> Response:
        return await by_method["GET" if request.method == "HEAD" else request.method](request)
    return Route(path, endpoint, methods=list(by_method))


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONAnswer:
    # NOSNIFF here too: a 500 is written by Starlette outside the middleware (NoSniff)
    return JSONAnswer({"error": message}, status_code=status, headers={**NOSNIFF, **(headers or {})})


class _Gate:
    """Refuses, before routing: requests addressed to a host name not in `hosts` (DNS
    rebinding), state-changing requests a browser sends from another origin (cross-site
    request forgery against a server that has no key), and requests without the key
    (outside PUBLIC)."""

    def __init__(self, app: ASGIApp, api_key: str | None,
                 hosts: Collection[str] | None) -> None:
        self.app = app
        self.api_key = api_key
        self.hosts = None if hosts is None else frozenset(h.lower() for h in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(Request(scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, request: Request) -> Response | None:
        host = request.headers.get("host", "")
        if self.hosts is not None and _hostname(host) not in self.hosts:
            return _error(400, f"host {host!r} is not served here; use "
                               + " or ".join(sorted(self.hosts)))
        origin = request.headers.get("origin")
        if (request.method in _UNSAFE and origin is not None
                and urlsplit(origin).netloc != request.headers.get("host")):
            return _error(403, f"cross-origin {request.method} from {origin} refused")
        if self.api_key is None or _route_path(request.scope) in PUBLIC:
            return None
        given = request.headers.get("x-tether-key") or request.query_params.get("code") or ""
        if not hmac.compare_digest(given.encode(), self.api_key.encode()):
            what = "wrong" if given else "missing"
            return _error(401, f"{what} API key: send it in the x-tether-key header or the "
                               "code parameter")
        return None


def _hostname(host: str) -> str:
    """The name in a Host header, without the port ("[::1]:7071" -> "::1")."""
    try:
        return urlsplit(f"//{host}").hostname or ""
    except ValueError:  # "[zz": not a host at all
        return ""


def _route_path(scope: Scope) -> str:
    """The path below where the app is mounted (scope["path"] includes root_path)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root):] or "/"
    return path


class _Api:
    def __init__(self, client: Client, machines: Mapping[str, MachineDef],
                 api_key: str | None, max_body: int, draw_graph: GraphDrawer | None) -> None:
        self.client = client
        self.draw_graph = draw_graph
        self.machines = machines
        self.api_key = api_key
        self.max_body = max_body
        self.files = {path: ((_STATIC / name).read_bytes(), kind)
                      for path, (name, kind) in _DASHBOARD_FILES.items()}
        self.page_headers = _page_headers()
        self.feed = live.ChangeFeed(lambda: live.store_version(client))
        self.counts_cache: dict[queries.InstanceQuery, tuple[float, dict[str, int]]] = {}
        self.openapi_doc = document(api_key=api_key is not None, version=_version())
        self.metrics_text = metrics_exposition(client)

    async def body(self, request: Request) -> Any:
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_body:
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
            return parse_json(raw, "the request body")
        except MalformedJSON as exc:
            raise HTTPError(400, f"malformed JSON body: {exc}") from None
        except NotJSONError as exc:  # past a limit of runtime.limits, which it names
            raise HTTPError(400, str(exc)) from None

    def urls(self, request: Request, instance_id: str) -> dict[str, str]:
        # root_path, not base_url: mounted below a prefix, the URLs keep the prefix
        return ManagementUrls(request.scope.get("root_path", ""), self.api_key).payload(
            origin_of(request), instance_id)

    async def restart(self, request: Request) -> Response:
        """Durable Functions' restart: a new id unless restartWithNewInstanceId=false."""
        q = _query(request, "restartWithNewInstanceId")
        instance_id = validate_id(request.path_params["instance_id"])
        new_id = q.get("restartWithNewInstanceId")
        fresh = new_id is None or _flag(new_id, "restartWithNewInstanceId")
        from runtime.rewind import StillRunning

        try:
            started = await run_in_threadpool(self.client.restart, instance_id,
                                              new_instance_id=fresh)
        except StillRunning as exc:
            raise HTTPError(409, str(exc)) from None
        return ManagementUrls(request.scope.get("root_path", ""), self.api_key) \
            .check_status_response(request, started)

    async def rewind(self, request: Request) -> Response:
        q = _query(request, "reason")
        instance_id = validate_id(request.path_params["instance_id"])
        from runtime.rewind import NotRewindable

        try:
            await run_in_threadpool(self.client.rewind, instance_id, q.get("reason"))
        except NotRewindable as exc:
            raise HTTPError(409, str(exc)) from None
        return Response(status_code=202)

    async def openapi(self, request: Request) -> Response:
        _query(request)
        return JSONAnswer(self.openapi_doc)

    async def metrics(self, request: Request) -> Response:
        _query(request)
        text = await run_in_threadpool(self.metrics_text)
        return Response(text, media_type=PROMETHEUS_TEXT)

    async def dashboard(self, request: Request) -> Response:
        # the page's own parameters (?instance=, ?status=, ?code=) are read by its script
        body, kind = self.files[_route_path(request.scope)]
        return Response(body, media_type=kind, headers=self.page_headers)

    async def start(self, request: Request) -> Response:
        _query(request)
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
        except (ValueError, OrchestrationError) as exc:  # id taken, or input not JSON
            raise HTTPError(409 if "already exists" in str(exc) else 400, str(exc)) from None
        urls = self.urls(request, instance_id)
        return JSONAnswer(urls, status_code=202, headers={
            "Location": urls["statusQueryGetUri"], "Retry-After": RETRY_AFTER})

    async def status(self, request: Request) -> Response:
        q = _query(request, "showHistory")
        instance_id = validate_id(request.path_params["instance_id"])
        history = _flag(q.get("showHistory"), "showHistory")
        doc = await run_in_threadpool(self.client.status, instance_id, history=history)
        if doc["runtimeStatus"] in ENDED:
            return JSONAnswer(doc, status_code=200)
        return JSONAnswer(doc, status_code=202, headers={
            "Location": self.urls(request, instance_id)["statusQueryGetUri"],
            "Retry-After": RETRY_AFTER})

    async def graph(self, request: Request) -> Response:
        _query(request)
        instance_id = validate_id(request.path_params["instance_id"])
        doc = await run_in_threadpool(self.client.status, instance_id)
        svg = None
        if self.draw_graph is not None:
            svg = await run_in_threadpool(self.draw_graph, self.client.backend, instance_id,
                                          doc["name"])
        if svg is None:
            raise HTTPError(404, f"no step graph for orchestrator {doc['name']}")
        return Response(svg, media_type="image/svg+xml")

    async def raise_event(self, request: Request) -> Response:
        _query(request)
        instance_id = validate_id(request.path_params["instance_id"])
        data = await self.body(request)
        doc = await run_in_threadpool(self.client.status, instance_id)
        if doc["runtimeStatus"] in ENDED:
            raise HTTPError(410, f"instance {instance_id} is {doc['runtimeStatus']}")
        try:
            await run_in_threadpool(self.client.raise_event, instance_id,
                                    request.path_params["event"], data)
        except (ValueError, OrchestrationError) as exc:
            raise HTTPError(400, str(exc)) from None
        return Response(status_code=202)

    async def control(self, request: Request) -> Response:
        q = _query(request, "reason")
        instance_id = validate_id(request.path_params["instance_id"])
        action = request.path_params["action"]
        if action not in ("terminate", "suspend", "resume"):
            raise HTTPError(404, f"no action {action!r}; use terminate, suspend or resume")
        doc = await run_in_threadpool(self.client.status, instance_id)
        if doc["runtimeStatus"] in ENDED:
            raise HTTPError(410, f"instance {instance_id} is {doc['runtimeStatus']}")
        await run_in_threadpool(getattr(self.client, action), instance_id, q.get("reason"))
        return Response(status_code=202)

    async def purge(self, request: Request) -> Response:
        _query(request)
        instance_id = validate_id(request.path_params["instance_id"])
        try:
            await run_in_threadpool(self.client.purge, instance_id)
        except ValueError as exc:  # still running
            raise HTTPError(409, str(exc)) from None
        return JSONAnswer({"instancesDeleted": 1})

    # -- the instance list, its counts and live updates (the dashboard's data) ---------

    async def list(self, request: Request) -> Response:
        """A page of status documents, newest first; `x-ms-continuation-token` in the
        answer's headers when there is a next page (`runtime.http.queries`)."""
        query = _instance_query(request, queries.LIST_PARAMETERS)
        try:
            page = await run_in_threadpool(queries.run_query, self.client, query)
        except queries.QueryError as exc:
            raise HTTPError(400, str(exc)) from None
        headers = {queries.TOKEN_HEADER: page.continuation} if page.continuation else {}
        return _conditional(request, page.items, headers)

    async def counts(self, request: Request) -> Response:
        """`{"Pending": n, "Running": n, ...}` over the instances the filters match."""
        query = _instance_query(request, queries.COUNT_PARAMETERS)
        # Counting goes over every matching index row (and reads live journals, see
        # queries.matching): shared by every open page and redone at most every
        # COUNTS_TTL seconds, however often the store changes.
        cached = self.counts_cache.get(query)
        if cached is None or time.monotonic() - cached[0] > COUNTS_TTL:
            counts = await run_in_threadpool(queries.count_by_status, self.client, query)
            if len(self.counts_cache) >= 64:
                self.counts_cache.clear()
            cached = self.counts_cache[query] = (time.monotonic(), counts)
        return _conditional(request, cached[1], {})

    async def events(self, request: Request) -> Response:
        """Server-sent events: `version` on connecting, `changed` when anything changes
        (`runtime.http.live`); `timeout=SECONDS` ends the stream sooner."""
        q = _query(request, "timeout")
        lifetime = live.LIFETIME
        if q.get("timeout") is not None:
            text = q["timeout"]
            if not re.fullmatch(r"[0-9]{1,6}", text):
                raise HTTPError(400, f"timeout must be a whole number of seconds, not {text!r}")
            lifetime = int(text)
        return live.event_stream(self.feed, lifetime)

    async def purge_many(self, request: Request) -> Response:
        """Durable Functions' "purge multiple instance histories": createdTimeFrom is
        required, as there; instances that have not ended are kept, never purged."""
        q = _query(request, "runtimeStatus", "createdTimeFrom", "createdTimeTo")
        statuses = _statuses(q.getlist("runtimeStatus"))
        after = _time(q.get("createdTimeFrom"), "createdTimeFrom")
        if after is None:
            raise HTTPError(400, "createdTimeFrom is required: purge instances created at or "
                                 "after this ISO 8601 time (1970-01-01T00:00:00Z for all)")
        before = _time(q.get("createdTimeTo"), "createdTimeTo")
        deleted, kept = await run_in_threadpool(self._purge_where, statuses, after, before)
        if not deleted:
            still = f"; {kept} matching instance(s) have not ended and were kept" if kept else ""
            raise HTTPError(404, f"no ended instance matches the filter{still}")
        return JSONAnswer({"instancesDeleted": deleted})

    def _purge_where(self, statuses: set[str] | None, after: datetime,
                     before: datetime | None) -> tuple[int, int]:
        """(instances purged, matching instances kept because they have not ended)."""
        deleted = kept = 0
        for doc in self.client.list(status=statuses, before=before, after=after):
            if doc["runtimeStatus"] not in ENDED:
                kept += 1
                continue
            try:
                self.client.purge(doc["instanceId"])
            except UnknownInstance:  # purged meanwhile by another caller
                continue
            deleted += 1
        return deleted, kept


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tether")
    except PackageNotFoundError:  # not installed (run from a source tree)
        return "0"


def _page_headers() -> dict[str, str]:
    """The page runs its own script file and nothing else, cannot be framed, and sends
    no Referer (a `?code=` in its address must not leak)."""
    return {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; "
            "img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'"),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
    }


def _instance_query(request: Request, names: tuple[str, ...]) -> queries.InstanceQuery:
    q = _query(request, *names)
    token = request.headers.get(queries.TOKEN_HEADER) if "continuationToken" in names else None
    lists = {"runtimeStatus": q.getlist("runtimeStatus")} if "runtimeStatus" in names else {}
    try:
        return queries.parse(q, lists, token)
    except queries.QueryError as exc:
        raise HTTPError(400, str(exc)) from None


def _conditional(request: Request, data: Any, headers: Mapping[str, str]) -> Response:
    """JSON with an ETag; `304 Not Modified` when the caller already has this body."""
    body = json.dumps(data, ensure_ascii=True, separators=(",", ":")).encode()
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    out = {**headers, "ETag": etag, "Cache-Control": "no-cache"}
    if etag in (t.strip() for t in request.headers.get("if-none-match", "").split(",")):
        return Response(status_code=304, headers=out)
    return Response(body, media_type="application/json", headers=out)


def _query(request: Request, *names: str) -> QueryParams:
    """The query parameters, refusing any the route does not take (a misspelt filter
    must not widen a purge); `code` carries the API key and is always allowed, and
    Durable Functions' `taskHub` and `connection` (which name its storage, one store
    here) are accepted and ignored, so its clients' URLs work unchanged."""
    for given in request.query_params:
        if given not in names and given not in ("code", "taskHub", "connection"):
            takes = f"use {', '.join(names)}" if names else "this route takes none"
            raise HTTPError(400, f"unknown parameter {given!r}; {takes}")
    return request.query_params


def _statuses(values: list[str]) -> set[str] | None:
    by_lower = {s.lower(): s for s in RUNTIME_STATUSES}
    chosen = set()
    for value in (v.strip() for vs in values for v in vs.split(",")):
        if not value:
            continue
        if value.lower() not in by_lower:
            raise HTTPError(400, f"runtimeStatus {value!r} is not a runtime status; use "
                                 + ", ".join(RUNTIME_STATUSES))
        chosen.add(by_lower[value.lower()])
    return chosen or None


def _time(text: str | None, what: str) -> datetime | None:
    if not text:
        return None
    try:
        when = parse_iso(text)
    except ValueError:
        raise HTTPError(400, f"{what} is not an ISO 8601 time: {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _positive_int(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) == 0:
        raise HTTPError(400, f"{what} must be a positive integer, not {text!r}")
    return int(text)


def _flag(text: str | None, what: str) -> bool:
    if text is None or text.lower() in ("", "false"):
        return False
    if text.lower() == "true":
        return True
    raise HTTPError(400, f"{what} must be true or false, not {text!r}")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPError)
    return _error(exc.status, str(exc))


async def _invalid_id(request: Request, exc: Exception) -> Response:
    return _error(400, str(exc))


async def _unknown_instance(request: Request, exc: Exception) -> Response:
    # the client's message names the store's directory, which is no business of a caller
    return _error(404, f"no instance {request.path_params.get('instance_id', '')}".rstrip())


async def _entity_id(request: Request, exc: Exception) -> Response:
    """An entity's id where an orchestration instance's is meant: 404, saying where the
    entity is (the client's message names CLI commands, not routes)."""
    assert isinstance(exc, NotAnOrchestration)
    name, _, key = exc.entity_id[1:].partition("@")
    return _error(404, f"{exc.entity_id} is an entity, not an orchestration instance: "
                       f"{exc.action}; GET /api/entities/{name}/{key} shows it")


async def _starlette_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return _error(404, f"no route {request.method} {_route_path(request.scope)}")
    if exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "")
        return _error(405, f"{request.method} is not allowed on {_route_path(request.scope)}; "
                           f"use {allow}", headers=exc.headers)
    return _error(exc.status_code, exc.detail, headers=exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    # the traceback goes to the server's log (Starlette re-raises), never to the caller
    return _error(500, f"internal error ({type(exc).__name__}); see the server log")


async def _disk_error(request: Request, exc: Exception) -> Response:
    """The store's disk failed (full, read-only): the server's problem, worded as what it
    is (the path stays in the server's log, as for any answer), and worth a retry. A
    backend's error caused by one (BackendError from the OSError) is answered alike."""
    cause = exc if isinstance(exc, OSError) else exc.__cause__ or exc.__context__
    if not isinstance(cause, OSError):
        return await _store_unavailable(request, exc)
    exc = cause
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return _error(507, "the store's disk is full: retry once space is freed",
                      headers={"Retry-After": "60"})
    reason = exc.strerror or type(exc).__name__
    return _error(503, f"the store cannot be written ({reason})", headers={"Retry-After": "60"})


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    # the backend's message names the store (a path or URL): the server's log has it
    return _error(503, "the store is unavailable; see the server log",
                  headers={"Retry-After": "60"})


_HANDLERS: dict[Any, Callable[[Request, Exception], Any]] = {
    HTTPError: _http_error,
    InvalidInstanceId: _invalid_id,
    UnknownInstance: _unknown_instance,
    NotAnOrchestration: _entity_id,
    HTTPException: _starlette_error,
    OSError: _disk_error,
    BackendError: _disk_error,
    Exception: _internal_error,
}
