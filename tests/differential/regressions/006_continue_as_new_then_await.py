"""Runtime (fixed): `continue_as_new` is forgotten when the orchestrator awaits before returning.

Found by the generated-program differential (a `finally` that awaits after the call).
Plain run of prog(0): "second", calls echo(0), echo(1): the first generation returns after
its finally, and the run restarts with input 1. Journaled run (no crash needed): "first",
calls echo(0) only: the request made before the suspension is lost.
"""

from tether import activity, orchestrator


@activity
def echo(x):
    return x


@orchestrator
async def prog(ctx, n):
    try:
        if n < 1:
            ctx.continue_as_new(n + 1)
            return "first"
    finally:
        await ctx.call_activity(echo, n)
    return "second"


DIFFERENTIAL_CASES = [("prog", 0, [])]
