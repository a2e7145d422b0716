"""Durable HTTP: `await ctx.call_http(method, url, content=None, headers=None)`.

Built from existing primitives, so both runtimes have it without engine code of its own:

- the request is made by a built-in activity, `tether.http_request`, with httpx (the
  `http` extra); it runs at least once, like any activity, and its answer is journaled;
- `call_http` starts the built-in orchestrator `tether.http` as a sub-orchestration. It
  makes the request; while the answer is `202 Accepted` with a `Location` header (the
  async HTTP API pattern, as tether's own `serve` answers), it waits on a durable timer
  (`Retry-After` seconds, else `DEFAULT_POLL_SECONDS`, Durable Functions' default) and
  GETs the `Location` (resolved against the URL that answered) with the same headers;
- the last answer is the task's result, an `HttpResponse` (rebuilt from the orchestrator's
  return annotation, `runtime.boundary_types`).

A transport failure (refused connection, DNS, timeout) fails the activity, hence the task
(`TaskFailedError` naming the URL at the await); any HTTP status, 4xx and 5xx included, is
a response, as in Durable Functions. The built-in orchestrator exists twice, as a plain
`async def` (for `runtime.direct`) and as a hand-written machine (for the journal runtime
and compiled direct runs), so the runtime never needs the compiler for it; tests hold the
two to the same behaviour.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin

from runtime.api import (
    OrchestrationContext,
    OrchestrationError,
    Task,
    TaskFailedError,
    activity,
    orchestrator,
)
from runtime.machine import Frame, Return, Step, machine

REQUEST_ACTIVITY = "tether.http_request"
HTTP_ORCHESTRATOR = "tether.http"
DEFAULT_POLL_SECONDS = 30.0  # Durable Functions' defaultAsyncRequestSleepTimeMilliseconds
REQUEST_TIMEOUT_SECONDS = 100.0  # one request, as Durable Functions' HTTP timeout
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class HttpResponse:
    """The answer to `ctx.call_http`: status, headers (lower-case names) and body text."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    content: str = ""

    @property
    def text(self) -> str:
        """The body as text (the same as `content`)."""
        return self.content

    def json(self) -> Any:
        """The body parsed as JSON."""
        import json

        return json.loads(self.content)

    @property
    def is_success(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status_code < 300


def call_http(ctx: OrchestrationContext, method: str, url: str, content: str | bytes | None,
              headers: Mapping[str, str] | None, poll: bool) -> Task[HttpResponse]:
    """What `OrchestrationContext.call_http` does: checks the request, starts `tether.http`."""
    verb = method.upper() if isinstance(method, str) else method
    if verb not in METHODS:
        raise OrchestrationError(f"call_http: method {method!r} is not one of {', '.join(METHODS)}")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise OrchestrationError(f"call_http: {url!r} is not an http:// or https:// URL")
    request: dict[str, Any] = {"method": verb, "url": url,
                               "headers": {str(k): str(v) for k, v in (headers or {}).items()},
                               "poll": bool(poll)}
    if isinstance(content, bytes):
        request["content_base64"] = base64.b64encode(content).decode("ascii")
    elif content is not None:
        if not isinstance(content, str):
            raise OrchestrationError(
                f"call_http: content must be str or bytes, got {type(content).__name__} "
                "(json.dumps a value first)")
        request["content"] = content
    task: Task[HttpResponse] = ctx.call_sub_orchestrator(HTTP_ORCHESTRATOR, request)
    return task


@activity(name=REQUEST_ACTIVITY)
def http_request(request: dict[str, Any]) -> dict[str, Any]:
    """One HTTP request with httpx; the answer as JSON (status, headers, text)."""
    try:
        import httpx
    except ImportError:
        raise OrchestrationError(
            "ctx.call_http needs httpx: pip install 'tether[http]'") from None
    body: bytes | str | None = request.get("content")
    if "content_base64" in request:
        body = base64.b64decode(request["content_base64"])
    try:
        answer = httpx.request(request["method"], request["url"], content=body,
                               headers=request.get("headers") or None,
                               timeout=REQUEST_TIMEOUT_SECONDS, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise ConnectionError(f"{request['method']} {request['url']}: {exc}") from None
    return {"status_code": answer.status_code,
            "headers": {k.lower(): v for k, v in answer.headers.items()},
            "content": answer.text}


def next_poll(request: dict[str, Any], response: dict[str, Any]) -> tuple[float, dict[str, Any]] | None:
    """(seconds to wait, the GET to make) if `response` asks to be polled, else None."""
    headers = response.get("headers") or {}
    location = headers.get("location")
    if not request.get("poll", True) or response.get("status_code") != 202 or not location:
        return None
    poll = {"method": "GET", "url": urljoin(request["url"], location),
            "headers": request.get("headers") or {}, "poll": True}
    return retry_after(headers.get("retry-after")), poll


def retry_after(value: str | None) -> float:
    """`Retry-After` in seconds (delay-seconds; an HTTP date is taken as 0 s from its own
    clock, which an orchestration cannot read deterministically), else the default."""
    if value is None:
        return DEFAULT_POLL_SECONDS
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # rare: not worth importing up front

    try:
        parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_POLL_SECONDS
    return 0.0


@orchestrator(name=HTTP_ORCHESTRATOR)
async def durable_http(ctx: OrchestrationContext, request: dict[str, Any]) -> HttpResponse:
    """The built-in orchestrator behind `call_http` (plain form, for `runtime.direct`)."""
    try:
        response: dict[str, Any] = await ctx.call_activity(REQUEST_ACTIVITY, request)
        polling = next_poll(request, response)
        while polling is not None:
            seconds, request = polling
            await ctx.sleep(timedelta(seconds=seconds))
            response = await ctx.call_activity(REQUEST_ACTIVITY, request)
            polling = next_poll(request, response)
    except TaskFailedError as exc:
        raise transport_error(exc) from None
    return HttpResponse(**response)


def transport_error(exc: TaskFailedError) -> Exception:
    """The request's own error, so the caller's TaskFailedError names its type (e.g.
    ConnectionError) and URL rather than the built-in activity."""
    return ConnectionError(exc.message) if exc.error_type == "ConnectionError" else \
        RuntimeError(f"{exc.error_type}: {exc.message}")


# The same orchestrator as a machine (what the compiler would emit for `durable_http`):
# state 0 requests; 1 has an answer and either returns it or sleeps; 2 polls after the
# sleep. Slots: `request` (the request being made or polled).
@machine(name=HTTP_ORCHESTRATOR, graph_hash="builtin-http-1", takes_input=True,
         source=__file__, steps=((1, 0, "await activity tether.http_request"),
                                 (2, 0, "await timer (poll delay)")))
def durable_http_machine(ctx: OrchestrationContext, frame: Frame) -> Step:
    if frame.state == 0:
        request = frame.input
        return frame.suspend(1, ctx.call_activity(REQUEST_ACTIVITY, request), request=request)
    if frame.state == 1:
        (request,) = frame.restore("request")
        try:
            response = frame.received()
        except TaskFailedError as exc:
            raise transport_error(exc) from None
        polling = next_poll(request, response)
        if polling is None:
            return Return(response)
        seconds, poll = polling
        return frame.suspend(2, ctx.sleep(timedelta(seconds=seconds)), request=poll)
    if frame.state == 2:
        (request,) = frame.restore("request")
        frame.received()
        return frame.suspend(1, ctx.call_activity(REQUEST_ACTIVITY, request), request=request)
    raise RuntimeError(f"orchestrator {HTTP_ORCHESTRATOR} has no state {frame.state}")


# Its result is rebuilt as the plain form's return annotation says (an HttpResponse).
durable_http_machine.__tether_types__ = ("dict[str, Any]", "HttpResponse")  # type: ignore[attr-defined]
