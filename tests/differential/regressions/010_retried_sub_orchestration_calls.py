"""Runtime (fixed): a retried sub-orchestration's earlier attempts lost their activity calls.

Found while fixing issue 4. Plain run of prog(1): calls echo(1), echo(1), echo(1) (three
attempts, each calls echo once and fails), then echo(100). Journaled run, no crash
needed: echo(1), echo(100): each attempt purges the child's folder (the id is reused), and
the calls of the attempts before the last went with it.
"""

from datetime import timedelta

from tether import RetryPolicy, TaskFailedError, activity, orchestrator


@activity
def echo(x):
    return x


@orchestrator
async def child(ctx, x):
    await ctx.call_activity(echo, x)
    raise ValueError(f"rejects {x}")


@orchestrator
async def prog(ctx, n):
    try:
        await ctx.call_sub_orchestrator(child, n, retry=RetryPolicy(3, timedelta(seconds=30)))
    except TaskFailedError as exc:
        return [exc.message, await ctx.call_activity(echo, 100)]
    return None


DIFFERENTIAL_CASES = [("prog", 1, [])]
