"""Runtime (fixed in cf6a9df): a sub-orchestration scheduled again after `continue_as_new` got the previous
generation's result.

Found by the generated-program differential. Both generations schedule their child as task
0, so both use child instance id "diff:0". Plain run of prog(0): ["diff:0", 1] with calls
echo(0), echo(1). Journaled run (no crash needed): ["diff:0", 0] with calls echo(0),
echo(0): the second generation adopts the finished child of the first instead of running
a new one with input 1.
"""

from tether import activity, orchestrator


@activity
def echo(x):
    return x


@orchestrator
async def child(ctx, x):
    return [ctx.instance_id, await ctx.call_activity(echo, x)]


@orchestrator
async def prog(ctx, n):
    got = await ctx.call_sub_orchestrator(child, n)
    if n < 1:
        ctx.continue_as_new(n + 1)
    return got


DIFFERENTIAL_CASES = [("prog", 0, [])]
