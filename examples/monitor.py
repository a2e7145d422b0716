"""Monitor: poll a job's status on a durable timer until it completes or time runs out.

Pattern 4 of Durable Functions. The expiry (a datetime) and the polling interval (a
timedelta) live across awaits in the frame; `ctx.current_utc_datetime` is the journaled
time of the event being processed, so the loop is deterministic.

    tether run examples/monitor.py:monitor \
        --input '{"job_id": "job-7", "ready_after": 3, "interval_seconds": 1, "timeout_seconds": 30}'
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tether import OrchestrationContext, activity, orchestrator


@activity
def get_job_status(query: dict[str, Any]) -> str:
    # Stands in for a call to a real service: the job is ready after a number of checks.
    return "Completed" if query["check"] >= query["ready_after"] else "Running"


@activity
def send_alert(message: str) -> str:
    return f"alert sent: {message}"


@orchestrator
async def monitor(ctx: OrchestrationContext, job: dict[str, Any]) -> dict[str, Any]:
    expiry = ctx.current_utc_datetime + timedelta(seconds=job["timeout_seconds"])
    interval = timedelta(seconds=job["interval_seconds"])
    checks = 0
    while ctx.current_utc_datetime < expiry:
        checks += 1
        query = {"job_id": job["job_id"], "check": checks, "ready_after": job["ready_after"]}
        status = await ctx.call_activity(get_job_status, query)
        if status == "Completed":
            alert = await ctx.call_activity(send_alert, f"{job['job_id']} completed")
            return {"status": "Completed", "checks": checks, "alert": alert}
        await ctx.create_timer(ctx.current_utc_datetime + interval)  # durable sleep
    return {"status": "TimedOut", "checks": checks}


DIFFERENTIAL_CASES: list[tuple[str, object, list[tuple[str, object]]]] = [
    ("monitor", {"job_id": "job-7", "ready_after": 3, "interval_seconds": 5,
                 "timeout_seconds": 60}, []),
    ("monitor", {"job_id": "job-8", "ready_after": 100, "interval_seconds": 10,
                 "timeout_seconds": 35}, []),
]
