"""Reference (fixed): `when_any` of a sub-orchestration and a timer that fires first.

Issue 4. The child sleeps 2 hours, the parent's timer 1 hour. Plain run before the fix:
the child won at 00:00 (it completed when scheduled); journaled run: the timer wins at
01:00, and the child's result arrives at 02:00. Also an external event against a child
that sleeps: the event (no time passes) comes first.
"""

from datetime import timedelta

from tether import orchestrator


@orchestrator
async def child(ctx, minutes):
    await ctx.sleep(timedelta(minutes=minutes))
    return minutes


@orchestrator
async def prog(ctx, n):
    kid = ctx.call_sub_orchestrator(child, 120)
    first = await ctx.when_any([kid, ctx.sleep(timedelta(hours=1))])
    seen = ["child" if first == kid else "timer", ctx.current_utc_datetime.isoformat()]
    seen += [await kid, ctx.current_utc_datetime.isoformat()]
    kid = ctx.call_sub_orchestrator(child, 5)
    go = ctx.wait_for_external_event("go")
    first = await ctx.when_any([kid, go])
    seen += ["child" if first == kid else "event", ctx.current_utc_datetime.isoformat()]
    seen += [await kid, ctx.current_utc_datetime.isoformat()]
    return seen


DIFFERENTIAL_CASES = [("prog", 0, [("go", 1)])]
