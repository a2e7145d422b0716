"""Runtime (fixed): `await ctx.when_all([])` of no tasks.

Found by the generated-program differential (and the fan_out_fan_in example with input 0).
Plain run: the group completes at once with []. Journaled run: ValueError "Invalid
isoformat string: ''" from runtime.executor (Engine.advance -> Instance.time_of), even
without a crash.
"""

from tether import activity, orchestrator


@activity
def square(x):
    return x * x


@orchestrator
async def prog(ctx, n):
    tasks = [ctx.call_activity(square, x) for x in range(n)]
    return await ctx.when_all(tasks)


DIFFERENTIAL_CASES = [("prog", 0, [])]
