"""Runtime (fixed): after a crash, a child that had ended was heard of at the parent's older time.

Found by this folder's crash sweep once issue 4 was fixed. Two children sleep 10 minutes;
after a crash after write 5 (the first child's `completed`), the resumed run's virtual clock
restarts at the parent's time, 00:00, and the first child's outcome was journaled then:
the parent read 00:00 after the `when_any` instead of 00:10. A held child outcome now
carries the child's end time and the clock moves to it, as to a timer.
"""

from datetime import timedelta

from tether import orchestrator


@orchestrator
async def child(ctx, minutes):
    await ctx.sleep(timedelta(minutes=minutes))
    return [ctx.instance_id, ctx.current_utc_datetime.isoformat()]


@orchestrator
async def prog(ctx, n):
    first = ctx.call_sub_orchestrator(child, 10)
    second = ctx.call_sub_orchestrator(child, 10)
    won = await ctx.when_any([second, first])
    return [won == first, await won, ctx.current_utc_datetime.isoformat()]


DIFFERENTIAL_CASES = [("prog", 0, [])]
