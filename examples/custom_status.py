"""Custom status: publish progress while an orchestration runs.

Durable Functions' custom-status sample: `set_custom_status` at each stage, read by
`tether status ID` (`customStatus`) or `GET /api/instances/ID`. The input is read with
`ctx.get_input()`, as Durable Functions Python orchestrators read theirs.

    tether run examples/custom_status.py --input '{"city": "Seattle"}'
"""

from __future__ import annotations

from typing import Any

from tether import OrchestrationContext, activity, orchestrator


@activity
def forecast(city: str) -> str:
    return f"sunny in {city}"


@orchestrator
async def travel_advice(ctx: OrchestrationContext) -> str:
    request: dict[str, Any] = ctx.get_input()
    ctx.set_custom_status({"stage": "forecast", "city": request["city"]})
    weather = await ctx.call_activity(forecast, request["city"])
    ctx.set_custom_status({"stage": "done", "weather": weather,
                           "run": ctx.new_uuid(), "parent": ctx.parent_instance_id})
    return f"pack for {weather}"


DIFFERENTIAL_CASES: list[tuple[str, object, list[tuple[str, object]]]] = [
    ("travel_advice", {"city": "Seattle"}, []),
]
