"""Eternal orchestration: periodic work with `continue_as_new`, so history never grows.

Each round does its work, sleeps on a durable timer, and restarts the instance with new
input (same instance id, fresh history). `rounds` bounds the demo; leave it out to run
forever.

    tether run examples/eternal.py:periodic_cleanup --input '{"round": 0, "rounds": 3, "interval_seconds": 1}'
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tether import OrchestrationContext, activity, orchestrator


@activity
def clean_up(round_number: int) -> str:
    return f"cleaned up in round {round_number}"


@orchestrator
async def periodic_cleanup(ctx: OrchestrationContext, state: dict[str, Any]) -> dict[str, Any]:
    note = await ctx.call_activity(clean_up, state["round"])
    ctx.set_custom_status({"round": state["round"], "last": note})
    await ctx.sleep(timedelta(seconds=state.get("interval_seconds", 60)))
    next_round = state["round"] + 1
    if state.get("rounds") is not None and next_round >= state["rounds"]:
        return {"rounds": next_round, "last": note}
    ctx.continue_as_new({**state, "round": next_round})
    return {"continued": next_round}


DIFFERENTIAL_CASES: list[tuple[str, object, list[tuple[str, object]]]] = [
    ("periodic_cleanup", {"round": 0, "rounds": 3, "interval_seconds": 5}, []),
]
