"""Human interaction with a deadline: `wait_for_external_event(name, timeout=...)`.

The same race as examples/human_interaction.py, written as Durable Functions .NET users
know it: the await raises `TimeoutError` when the timer wins, and ordinary
`try/except` decides what happens then. The graph shows both ways out of the wait.

    tether run examples/approval_with_timeout.py --input '{"amount": 1200}' --virtual-clock
    tether raise-event ID Approval --data true
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tether import OrchestrationContext, activity, orchestrator


@activity
def notify(message: str) -> str:
    return f"notified: {message}"


@orchestrator
async def approve_expense(ctx: OrchestrationContext, request: dict[str, Any]) -> str:
    await ctx.call_activity(notify, f"please approve {request['amount']}")
    try:
        approved: bool = await ctx.wait_for_external_event(
            "Approval", timeout=timedelta(hours=request.get("hours", 24)))
    except TimeoutError:
        return await ctx.call_activity(notify, f"no answer on {request['amount']}: escalated")
    verdict = "approved" if approved else "rejected"
    return await ctx.call_activity(notify, f"{request['amount']} {verdict}")


DIFFERENTIAL_CASES: list[tuple[str, object, list[tuple[str, object]]]] = [
    ("approve_expense", {"amount": 1200}, [("Approval", True)]),
    ("approve_expense", {"amount": 80}, [("Approval", False)]),
    ("approve_expense", {"amount": 5000, "hours": 1}, []),
]
