"""Durable HTTP for orchestrations: `await ctx.call_http(method, url, content, headers)`
returns an `HttpResponse` (see `runtime.durable_http`)."""

from __future__ import annotations

from runtime.durable_http import DEFAULT_POLL_SECONDS, HttpResponse

__all__ = ["DEFAULT_POLL_SECONDS", "HttpResponse"]
