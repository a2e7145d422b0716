"""Sub-orchestrations with retries, and what the parent sees when they run out.

Durable Functions' retry sample: `call_sub_orchestrator(..., retry=...)` (tether's name
for `call_sub_orchestrator_with_retry`). A child that keeps failing is tried
`max_attempts` times, `first_retry_interval` apart growing by `backoff_coefficient`; then
the parent catches `TaskFailedError` at the await.

    tether run examples/retries.py --input '["ok", "broken", "ok"]' --virtual-clock
"""

from __future__ import annotations

from datetime import timedelta

from tether import OrchestrationContext, RetryPolicy, TaskFailedError, activity, orchestrator

RETRY = RetryPolicy(max_attempts=3, first_retry_interval=timedelta(seconds=5),
                    backoff_coefficient=2.0)


@activity
def check_part(part: str) -> str:
    if part == "broken":
        raise ValueError(f"part {part!r} failed inspection")
    return f"{part}: passed"


@orchestrator
async def inspect_part(ctx: OrchestrationContext, part: str) -> str:
    return await ctx.call_activity(check_part, part)


@orchestrator
async def inspect_all(ctx: OrchestrationContext, parts: list[str]) -> list[str]:
    report = []
    for part in parts:
        try:
            report.append(await ctx.call_sub_orchestrator(inspect_part, part, retry=RETRY))
        except TaskFailedError as exc:
            report.append(f"{part}: gave up ({exc.error_type}: {exc.message})")
    return report


DIFFERENTIAL_CASES: list[tuple[str, object, list[tuple[str, object]]]] = [
    ("inspect_all", ["ok", "broken", "ok"], []),
    ("inspect_all", [], []),
]
