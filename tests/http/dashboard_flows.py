"""Orchestrations the dashboard's browser tests click through: one that finishes with
a retried activity failure in its history, one that fails, one that waits for an event,
and one whose own code raises an error whose message looks like HTML."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tether import OrchestrationContext, RetryPolicy, activity, orchestrator


@activity
def render_page(page: int) -> str:
    return f"page {page} rendered"


@activity
def flaky_upload(name: str) -> str:
    raise ConnectionError(f"upload of {name} refused by the bucket")


@orchestrator
async def build_report(ctx: OrchestrationContext, spec: dict[str, Any]) -> dict[str, Any]:
    pages = []
    for page in range(1, spec.get("pages", 1) + 1):
        ctx.set_custom_status({"page": page})
        pages.append(await ctx.call_activity(render_page, page))
    return {"pages": pages, "title": spec.get("title", "report")}


@orchestrator
async def publish(ctx: OrchestrationContext, name: str) -> str:
    retry = RetryPolicy(2, timedelta(milliseconds=10))
    return await ctx.call_activity(flaky_upload, name, retry=retry)


@orchestrator
async def wait_for_go(ctx: OrchestrationContext, note: Any) -> dict[str, Any]:
    go = await ctx.wait_for_external_event("Go")
    return {"note": note, "go": go}


@orchestrator
async def check_stock(ctx: OrchestrationContext, sku: str) -> int:
    page = await ctx.call_activity(render_page, 1)
    if sku.startswith("<"):
        raise LookupError(f"no stock for <b>{sku}</b> & {page}")
    return len(page)
