"""Helpers of the robustness tests: nested values, an in-process HTTP caller."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.types import ASGIApp


def nested(depth: int, leaf: Any = 1) -> Any:
    """`leaf` inside `depth` lists alternating with objects: [{"k": [... leaf ...]}]."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 == 0 else {"k": value}
    return value


class InProcessHTTP:
    """Requests to an ASGI app without a server; app exceptions come back as the 500
    the app answers, as a real server would send it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://127.0.0.1") as client:
                return await client.request(method, url, **options)
        return asyncio.run(send())

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)
