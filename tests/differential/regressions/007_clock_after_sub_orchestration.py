"""Reference (fixed): the parent's clock after a sub-orchestration that waited on timers.

Issue 4. `run_direct` ran the child to its end when scheduled and completed the parent's
task at the parent's time. Plain run of prog(0) before the fix: the parent read 00:00
after the 2-hour child, and the failing child woke at 01:00 and failed the parent's task
at 00:00; the journal runtime gave 02:00, then 03:00 and 03:00: the child's end is an
event, and the parent sees it at the child's end time.
"""

from datetime import timedelta

from tether import TaskFailedError, orchestrator


@orchestrator
async def child(ctx, hours):
    await ctx.sleep(timedelta(hours=hours))
    if hours > 1:
        return ctx.current_utc_datetime.isoformat()
    raise ValueError(f"woke at {ctx.current_utc_datetime.isoformat()}")


@orchestrator
async def prog(ctx, n):
    seen = [ctx.current_utc_datetime.isoformat()]
    seen.append(await ctx.call_sub_orchestrator(child, 2))
    seen.append(ctx.current_utc_datetime.isoformat())
    try:
        await ctx.call_sub_orchestrator(child, 1)
    except TaskFailedError as exc:
        seen.append([exc.message, ctx.current_utc_datetime.isoformat()])
    return seen


DIFFERENTIAL_CASES = [("prog", 0, [])]
