"""tether inside a FastAPI app: the API mounted at /tether, and a starter route of our own.

A Durable Functions HTTP starter, in FastAPI: `POST /orders` starts `process_order` and
answers as Durable Functions' `create_check_status_response` does (202, `Location`, the
management URLs, which point into the mounted API); `POST /orders/quick` waits up to two
seconds for the result first. `TetherApp.lifespan` runs the worker with the server.

    pip install fastapi
    uvicorn --factory examples.fastapi_app:create_app --port 8000
    curl -i -X POST localhost:8000/orders -d '{"item": "book", "quantity": 2}'
    curl -i localhost:8000/tether/api/instances/<id>

(`python examples/fastapi_app.py` does the same as the uvicorn line.) The store is
`$TETHER_STORE`, else `.tether`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response

from runtime.http import TetherApp
from tether import OrchestrationContext, activity, orchestrator

DIFFERENTIAL_CASES: list[tuple[str, Any, list[Any]]] = [("process_order", {"item": "book", "quantity": 2}, [])]


@activity
def reserve_stock(order: dict[str, Any]) -> str:
    return f"reserved {order['quantity']} x {order['item']}"


@activity
def charge(order: dict[str, Any]) -> int:
    return 12 * int(order["quantity"])


@orchestrator
async def process_order(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    reserved = await ctx.call_activity(reserve_stock, order)
    ctx.set_custom_status("charging")
    amount = await ctx.call_activity(charge, order)
    return {"reserved": reserved, "charged": amount}


def create_app(store: str | None = None) -> FastAPI:
    """The FastAPI app (a factory, so importing this module starts nothing)."""
    from tether.loader import load

    workflows = load(str(Path(__file__))).orchestrators()  # compiles process_order
    tether = TetherApp(store or os.environ.get("TETHER_STORE", ".tether"), workflows,
                       prefix="/tether")
    app = FastAPI(title="shop", lifespan=tether.lifespan)
    tether.mount(app)

    @app.post("/orders")
    async def start_order(request: Request) -> Response:
        order = await request.json()
        instance_id = await tether.client.start(process_order, order)
        return tether.client.create_check_status_response(request, instance_id)

    @app.post("/orders/quick")
    async def quick_order(request: Request) -> Response:
        instance_id = await tether.client.start("process_order", await request.json())
        return await tether.client.wait_for_completion_or_create_check_status_response(
            request, instance_id, timeout=2.0, retry_interval=0.05)

    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=8000)
