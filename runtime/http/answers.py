"""How the HTTP API's answers are written, whatever route gives them.

- `JSONAnswer` renders JSON as ASCII (`\\uXXXX` escapes for the rest). The same text in
  every JSON reader, and an answer that can always be sent: a string holding a lone
  surrogate (refused at every door since `runtime.limits`, but possibly planted in a
  store by an older version or by hand) has no UTF-8 form, and Starlette's own
  `JSONResponse` fails on it with a 500, for the one instance and for every list that
  shows it.
- `NoSniff` adds `X-Content-Type-Options: nosniff` to every response that lacks it, so a
  browser never runs an answer (a JSON error quoting a caller's text, an SVG) as another
  type than the one declared. It wraps the app, so a route added later has it without
  anyone remembering to; 500 answers are written outside the middleware stack by
  Starlette, so `NOSNIFF` is also set on them where they are built.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = {"X-Content-Type-Options": "nosniff"}


class JSONAnswer(JSONResponse):
    """A JSON response written as ASCII: sendable whatever strings it holds."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, indent=None,
                          separators=(",", ":")).encode("ascii")


class NoSniff:
    """ASGI middleware: `X-Content-Type-Options: nosniff` on every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, send_with_header)
