"""The entity routes of the HTTP API, in Durable Functions' shapes (issue 12).

- `POST /api/entities/{name}/{key}?op=OP` (body: the operation's input as JSON; empty is
  null) signals the entity: `202`. An idempotency key in the `Idempotency-Key` header or
  `?key=` makes a retried request apply once. `?at=ISO` defers delivery.
- `GET /api/entities/{name}/{key}`: `200` with the entity's last committed state; `404`
  when it has none.
- `GET /api/entities` and `GET /api/entities/{name}`: entity documents (`id`, `name`,
  `key`, `exists`, `queueLength`, `lockedBy`, `lastModifiedTime`, and `state` with
  `fetchState=true`), `top` at a time; the next page's token is the
  `x-ms-continuation-token` answer header, sent back as that header or
  `continuationToken=`, as the instance list pages.

Every malformed name, key, operation, token or body is `400` with one line naming it,
and nothing is sent. An entity name no loaded module defines, or an operation its class
does not have, is `400` too (the `Client` refuses it before anything is written).
The handlers only parse and answer; what they do is one `Client` call each.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime.http.answers import JSONAnswer
from runtime.http.app import (
    HTTPError,
    _Api,
    _conditional,
    _flag,
    _positive_int,
    _query,
    _route,
    _time,
)
from runtime.http.queries import MAX_TOP, TOKEN_HEADER

IDEMPOTENCY_HEADER = "idempotency-key"
#: an operation name: what a Python method or a Durable Functions operation may be called
OPERATION = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
#: an idempotency key: printable ASCII without spaces, as an HTTP header carries it
IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,200}")
DEFAULT_TOP = 100


def entity_routes(api: _Api) -> list[Route]:
    """The entity routes over `api`'s client, for the app's route table."""
    handlers = _EntityHandlers(api)
    return [
        _route("/api/entities", GET=handlers.list),
        _route("/api/entities/{name}", GET=handlers.list),
        _route("/api/entities/{name}/{key}", GET=handlers.state, POST=handlers.signal),
    ]


def _entity_id(request: Request) -> Any:
    from runtime.entities import EntityId, InvalidEntityId

    try:
        return EntityId(request.path_params["name"], request.path_params["key"])
    except InvalidEntityId as exc:
        raise HTTPError(400, str(exc)) from None


def _name(request: Request) -> str | None:
    from runtime.entities.ids import NAME

    name = request.path_params.get("name")
    if name is None:
        return None
    if not NAME.fullmatch(name.lower()):
        raise HTTPError(400, f"invalid entity name {name!r}: use 1-64 characters of a-z 0-9 "
                             "_ . -, starting with a letter or _")
    return str(name.lower())


class _EntityHandlers:
    def __init__(self, api: _Api) -> None:
        self.api = api
        self.client = api.client

    async def signal(self, request: Request) -> Response:
        q = _query(request, "op", "key", "at")
        entity_id = _entity_id(request)
        op = q.get("op")
        if not op:
            raise HTTPError(400, f"op is required: POST /api/entities/{entity_id.name}/"
                                 f"{entity_id.key}?op=OPERATION")
        if not OPERATION.fullmatch(op):
            raise HTTPError(400, f"invalid operation name {op!r}: use a letter or _, then "
                                 "letters, digits or _")
        key = _idempotency_key(request, q.get("key"))
        at = _time(q.get("at"), "at")
        data = await self.api.body(request)
        try:
            await run_in_threadpool(self.client.signal_entity, entity_id, op, data, at=at,
                                    key=key)
        except (ValueError, LookupError) as exc:  # unknown entity or operation, not JSON
            raise HTTPError(400, self._unstored(_line(exc))) from None
        return Response(status_code=202)

    def _unstored(self, message: str) -> str:
        """`message` without the store's path or URL, which is no business of a caller
        (the client's refusals name it for the command line)."""
        spec = str(self.client.backend.spec)
        return message.replace(spec, "the store") if spec else message

    async def state(self, request: Request) -> Response:
        _query(request)
        from runtime.entities.errors import UnknownEntity

        entity_id = _entity_id(request)
        try:
            state = await run_in_threadpool(self.client.entity_state, entity_id)
        except UnknownEntity:
            raise HTTPError(404, f"no entity {entity_id}") from None
        return JSONAnswer(state)

    async def list(self, request: Request) -> Response:
        q = _query(request, "top", "continuationToken", "fetchState")
        name = _name(request)
        top = _positive_int(q.get("top"), "top") or DEFAULT_TOP
        if top > MAX_TOP:
            raise HTTPError(400, f"top must be at most {MAX_TOP}, not {top}")
        fetch_state = _flag(q.get("fetchState"), "fetchState")
        cursor = request.headers.get(TOKEN_HEADER) or q.get("continuationToken") or None
        try:
            items, following = await run_in_threadpool(
                lambda: self.client.entities(name=name, limit=top, cursor=cursor))
        except ValueError as exc:  # a token this server did not give
            raise HTTPError(400, self._unstored(_line(exc))) from None
        if not fetch_state:
            items = [{k: v for k, v in doc.items() if k != "state"} for doc in items]
        headers = {TOKEN_HEADER: following} if following else {}
        return _conditional(request, items, headers)


def _idempotency_key(request: Request, from_query: str | None) -> str | None:
    header = request.headers.get(IDEMPOTENCY_HEADER)
    if header is not None and from_query is not None and header != from_query:
        raise HTTPError(400, f"the Idempotency-Key header {header!r} and key={from_query!r} "
                             "differ; send one")
    key = header if header is not None else from_query
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise HTTPError(400, f"idempotency key {key[:60]!r} is not 1-200 printable ASCII "
                             "characters without spaces")
    return key


def _line(exc: BaseException) -> str:
    """An error's message as one line (a LookupError's str() is its repr)."""
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return " ".join(text.split())
