"""Human interaction: ask for approval and escalate if nobody answers in time.

Pattern 5 of Durable Functions: race an external event against a durable timer with
`ctx.when_any`; whichever finishes first decides the path.

    tether start examples/human_interaction.py:approval --input '{"amount": 1200}' --id expense-1
    tether raise-event expense-1 ApprovalEvent --data true
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tether import OrchestrationContext, activity, orchestrator


@activity
def request_approval(request: dict[str, Any]) -> str:
    return f"approval requested for {request['amount']}"


@activity
def process_approval(approved: bool) -> str:
    return "processed: approved" if approved else "processed: rejected"


@activity
def escalate(request: dict[str, Any]) -> str:
    return f"escalated {request['amount']} to the manager's manager"


@orchestrator
async def approval(ctx: OrchestrationContext, request: dict[str, Any]) -> str:
    await ctx.call_activity(request_approval, request)
    hours = request.get("timeout_hours", 72)
    timeout = ctx.create_timer(ctx.current_utc_datetime + timedelta(hours=hours))
    answer = ctx.wait_for_external_event("ApprovalEvent")
    winner = await ctx.when_any([answer, timeout])
    if winner == answer:
        return await ctx.call_activity(process_approval, await answer)
    return await ctx.call_activity(escalate, request)


DIFFERENTIAL_CASES: list[tuple[str, object, list[tuple[str, object]]]] = [
    ("approval", {"amount": 1200}, [("ApprovalEvent", True)]),
    ("approval", {"amount": 99}, [("ApprovalEvent", False)]),
    ("approval", {"amount": 5000, "timeout_hours": 1}, []),
]
