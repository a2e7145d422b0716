"""A durable entity in both forms: a class-based `Counter` and a function-based `tally`.

Entities are Durable Functions' fourth function type: a small piece of state with an id
(`@counter@KEY`) whose operations are applied one at a time. `Counter`'s public methods
are its operations and its fields its state; `tally` is one function dispatching on
`ctx.operation_name`, as Durable Functions Python writes entities. The orchestration
signals one (one-way) and calls the other (waiting for the result), then reads both:
signals from one sender are applied in the order sent, so the final `get` sees them all.

    tether run examples/counter_entity.py:count_both --input '[5, 7, -2]'
    tether entity get @counter@ID      # the instance id printed by `tether start`
"""

from __future__ import annotations

from tether import EntityContext, EntityId, OrchestrationContext, entity, orchestrator


@entity
class Counter:
    """Class form: `add`, `reset` and `get` (and the implicit `delete`)."""

    def __init__(self) -> None:
        self.value = 0

    def add(self, amount: int) -> int:
        self.value += amount
        return self.value

    def reset(self) -> None:
        self.value = 0

    def get(self) -> int:
        return self.value


@entity
def tally(ctx: EntityContext) -> None:
    """Function form: the same operations, on a bare integer state."""
    value = ctx.get_state(0)
    if ctx.operation_name == "add":
        value += ctx.get_input()
        ctx.set_state(value)
        ctx.set_result(value)
    elif ctx.operation_name == "reset":
        ctx.set_state(0)
    elif ctx.operation_name == "get":
        ctx.set_result(value)
    elif ctx.operation_name == "delete":
        ctx.destruct_on_exit()
    else:
        raise ValueError(f"tally has no operation {ctx.operation_name!r}")


@orchestrator
async def count_both(ctx: OrchestrationContext, amounts: list[int]) -> dict[str, object]:
    counter = EntityId("counter", ctx.instance_id)
    tallied = EntityId("tally", ctx.instance_id)
    running = []
    for amount in amounts:
        ctx.signal_entity(counter, "add", amount)  # one-way: nothing to wait for
        running.append(await ctx.call_entity(tallied, "add", amount))  # the new total
    return {
        "counter": await ctx.call_entity(counter, "get"),
        "tally": await ctx.call_entity(tallied, "get"),
        "running": running,
    }


# Inputs the differential tests try: (orchestrator, input, external events).
DIFFERENTIAL_CASES: list[tuple[str, object, list[tuple[str, object]]]] = [
    ("count_both", [5, 7, -2], []),
    ("count_both", [], []),
]
