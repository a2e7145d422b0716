"""Function chaining: say hello to three cities, one after another.

The seed sample of Durable Functions: each activity's result is collected in order.

    tether run examples/hello_cities.py:hello_cities --input '["Tokyo", "London", "Seattle"]'
"""

from __future__ import annotations

from tether import OrchestrationContext, activity, orchestrator


@activity
def say_hello(city: str) -> str:
    return f"Hello, {city}!"


@orchestrator
async def hello_cities(ctx: OrchestrationContext, cities: list[str]) -> list[str]:
    out = []
    for city in cities:  # ordinary control flow, across awaits
        out.append(await ctx.call_activity(say_hello, city))
    return out


# Inputs the differential tests try: (orchestrator, input, external events).
DIFFERENTIAL_CASES: list[tuple[str, object, list[tuple[str, object]]]] = [
    ("hello_cities", ["Tokyo", "London", "Seattle"], []),
    ("hello_cities", [], []),
]
