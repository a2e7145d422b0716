"""Runtime (fixed): a child the parent no longer waits for was not run to its end by run_inline.

Found while fixing issue 4. The parent's timer (1 minute) beats the child (10 minutes), and
the parent returns without awaiting the child. Plain run of prog(0): output [False,
"00:01"], calls echo(0), echo(1): the child runs to its end, as an orphaned
sub-orchestration does in Durable Functions. Journaled run, no crash needed: the same
output, calls echo(0) only: `run_inline` stops once the top-level instance has ended, so
the child's call after its sleep never happened. Fixed: under the virtual clock run_inline
goes on until the instance's descendants end too (after a crash too, adopting them), as
runtime.direct runs them; under a real clock it names them (`tether run` prints a note).
"""

from datetime import timedelta

from tether import activity, orchestrator


@activity
def echo(x):
    return x


@orchestrator
async def child(ctx, x):
    await ctx.call_activity(echo, x)
    await ctx.sleep(timedelta(minutes=10))
    return await ctx.call_activity(echo, x + 1)


@orchestrator
async def prog(ctx, n):
    kid = ctx.call_sub_orchestrator(child, n)
    won = await ctx.when_any([kid, ctx.sleep(timedelta(minutes=1))])
    return [won == kid, ctx.current_utc_datetime.isoformat()[11:16]]


DIFFERENTIAL_CASES = [("prog", 0, [])]
