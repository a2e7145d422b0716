"""Testing utilities for orchestrations.

`run_direct` runs an `@orchestrator async def` as plain Python against a fake context:
activities run at once, timers on a virtual clock, external events from a list. It is the
reference the compiled runtime is tested against, and a quick way to unit-test workflow
logic without a store:

    result = run_direct(hello_cities, ["Tokyo", "Lima"])
    assert result.output == ["Hello, Tokyo!", "Hello, Lima!"]
"""

from __future__ import annotations

from runtime.direct import DirectContext, DirectResult, run_direct

__all__ = ["DirectContext", "DirectResult", "run_direct"]
