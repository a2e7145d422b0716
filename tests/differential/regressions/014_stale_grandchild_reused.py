"""Runtime (fixed): a new incarnation of a child took its predecessor's grandchild for its own.

Found by the soak profile once children could await a nested `leaf`. prog continues as
new; each generation starts child "diff:0", which starts leaf "diff:0:1" (a 1-minute
sleep). Plain run of prog(0): [[["diff:0", 2, "00:02"], "00:02"]] from the last generation.
Journaled run, no crash needed: "00:01": the second generation purged the stale child
"diff:0" (regression 005) but not its leaf, whose (attempt, parent generation) match the
new child's, so the finished leaf of the first generation was adopted as the new one's.
"""

from datetime import timedelta

from tether import activity, orchestrator


@activity
def echo(x):
    return x


@orchestrator
async def leaf(ctx, x):
    await ctx.sleep(timedelta(minutes=x))
    return [x, ctx.current_utc_datetime.isoformat()[11:16]]


@orchestrator
async def child(ctx, x):
    y = await ctx.call_activity(echo, x)
    y += (await ctx.call_sub_orchestrator(leaf, y))[0]
    return [ctx.instance_id, y, ctx.current_utc_datetime.isoformat()[11:16]]


@orchestrator
async def prog(ctx, n):
    got = [await ctx.call_sub_orchestrator(child, 1), ctx.current_utc_datetime.isoformat()[11:16]]
    if n < 1:
        ctx.continue_as_new(n + 1)
    return [got]


DIFFERENTIAL_CASES = [("prog", 0, [])]
