"""Async HTTP API: start a long-running operation over HTTP and poll for its result.

Pattern 3 of Durable Functions. `tether serve` answers the start with `202 Accepted`
and a `Location` to poll; the poll answers `202` while the instance runs and `200`
with the output once it has ended.

    tether serve examples/async_http_api.py --store .tether
    curl -i -X POST localhost:7071/api/orchestrators/build_report -d '{"pages": 3}'
    curl -i localhost:7071/api/instances/<id>

`wait_for_go` waits for an external event, to try `raiseEvent`:

    curl -i -X POST localhost:7071/api/orchestrators/wait_for_go/job-1 -d '"hello"'
    curl -i -X POST localhost:7071/api/instances/job-1/raiseEvent/Go -d '{"by": "me"}'
"""

from __future__ import annotations

from typing import Any

from tether import OrchestrationContext, activity, orchestrator


@activity
def render_page(page: int) -> str:
    return f"page {page} rendered"


@orchestrator
async def build_report(ctx: OrchestrationContext, spec: dict[str, Any]) -> dict[str, Any]:
    pages = []
    for page in range(1, spec.get("pages", 1) + 1):
        ctx.set_custom_status({"page": page})
        pages.append(await ctx.call_activity(render_page, page))
    return {"pages": pages, "title": spec.get("title", "report")}


@orchestrator
async def wait_for_go(ctx: OrchestrationContext, note: Any) -> dict[str, Any]:
    go = await ctx.wait_for_external_event("Go")
    return {"note": note, "go": go}
