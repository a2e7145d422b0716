"""The aggregator pattern: many signals, from many senders, summed by one entity.

Pattern 6 of Durable Functions: events from many sources over time are folded into one
addressable entity that anyone can read. Concurrent senders cannot race each other,
because the entity applies its operations one at a time; a client signal sent with an
idempotency key is applied once however often it is retried.

    tether start examples/aggregator.py:report --input '{"sensor": "s1", "readings": [3, 4, 5]}'
    tether entity signal @aggregator@s1 record --input 10 --key reading-0017
    tether worker examples/aggregator.py --until-idle
    tether entity get @aggregator@s1
"""

from __future__ import annotations

from typing import Any

from tether import EntityContext, EntityId, OrchestrationContext, entity, orchestrator


@entity
def aggregator(ctx: EntityContext) -> None:
    """State: {"count", "sum", "min", "max"} of the readings recorded so far."""
    summary = ctx.get_state(lambda: {"count": 0, "sum": 0, "min": None, "max": None})
    if ctx.operation_name == "record":
        value = ctx.get_input()
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(f"a reading is a number, not {value!r}")
        summary = {
            "count": summary["count"] + 1,
            "sum": summary["sum"] + value,
            "min": value if summary["min"] is None else min(summary["min"], value),
            "max": value if summary["max"] is None else max(summary["max"], value),
        }
        ctx.set_state(summary)
    elif ctx.operation_name == "get":
        ctx.set_result(summary)
    elif ctx.operation_name == "delete":
        ctx.destruct_on_exit()
    else:
        raise ValueError(f"aggregator has no operation {ctx.operation_name!r}")


@orchestrator
async def report(ctx: OrchestrationContext, batch: dict[str, Any]) -> dict[str, Any]:
    """Signal every reading of `batch` to the sensor's aggregator, then read it back."""
    sensor = EntityId("aggregator", batch["sensor"])
    for value in batch["readings"]:
        ctx.signal_entity(sensor, "record", value)
    summary: dict[str, Any] = await ctx.call_entity(sensor, "get")
    return summary


DIFFERENTIAL_CASES: list[tuple[str, object, list[tuple[str, object]]]] = [
    ("report", {"sensor": "s1", "readings": [3, 4, 5, -1]}, []),
]
