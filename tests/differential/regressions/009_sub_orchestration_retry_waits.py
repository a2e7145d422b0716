"""Runtime (fixed): a retried sub-orchestration's next attempt ignored the retry delay.

Found while fixing issue 4. With RetryPolicy(3, 5 minutes) and a child that sleeps 10
minutes then fails, the fixed reference gives ["no", "00:40"] (attempts 00:00-00:10,
00:15-00:25, 00:30-00:40). Journaled run, no crash needed: ["no", "00:10"]: the retry
record made the task pending again and `_start_pending` started the next child at once,
on a clock from the parent's last step, so every attempt ended at 00:10.
"""

from datetime import timedelta

from tether import RetryPolicy, TaskFailedError, orchestrator


@orchestrator
async def child(ctx, x):
    await ctx.sleep(timedelta(minutes=10))
    raise ValueError("no")


@orchestrator
async def prog(ctx, n):
    try:
        await ctx.call_sub_orchestrator(child, n, retry=RetryPolicy(3, timedelta(minutes=5)))
    except TaskFailedError as exc:
        return [exc.message, ctx.current_utc_datetime.isoformat()]
    return None


DIFFERENTIAL_CASES = [("prog", 0, [])]
