"""Fan-out/fan-in: process a batch of work items in parallel, then aggregate.

Pattern 2 of Durable Functions: schedule one activity per item without awaiting it, wait
for all of them with `ctx.when_all`, and sum the results.

    tether run examples/fan_out_fan_in.py:fan_out_fan_in --input 10
"""

from __future__ import annotations

from tether import OrchestrationContext, activity, orchestrator


@activity
def get_work_batch(size: int) -> list[int]:
    return list(range(1, size + 1))


@activity
def process_item(item: int) -> int:
    return item * item


@activity
def save_total(total: int) -> str:
    return f"saved {total}"


@orchestrator
async def fan_out_fan_in(ctx: OrchestrationContext, size: int) -> dict[str, object]:
    batch = await ctx.call_activity(get_work_batch, size)
    tasks = [ctx.call_activity(process_item, item) for item in batch]  # fan out
    results = await ctx.when_all(tasks)  # fan in: results in task order
    total = sum(results)
    receipt = await ctx.call_activity(save_total, total)
    return {"items": len(results), "total": total, "receipt": receipt}


# Inputs the differential tests try: (orchestrator, input, external events).
DIFFERENTIAL_CASES: list[tuple[str, object, list[tuple[str, object]]]] = [
    ("fan_out_fan_in", 10, []),
    ("fan_out_fan_in", 0, []),
]
