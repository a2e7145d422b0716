"""Runtime (fixed, issue 13): the authoring API's own values could not be saved.

Durable Functions' retry samples keep the policy in a local, `retry = RetryPolicy(...)`,
then `await ctx.call_activity(f, x, retry=retry)`: the instance failed at run time with
"cannot checkpoint local `retry`". A RetryPolicy (a dataclass) is saved as its fields.
"""

from datetime import timedelta

from tether import RetryPolicy, activity, orchestrator


@activity
def flaky(x):
    if x < 2:
        raise ValueError(f"not yet {x}")
    return x * 10


@orchestrator
async def f(ctx, n):
    retry = RetryPolicy(max_attempts=3, first_retry_interval=timedelta(seconds=5))
    out = [await ctx.call_activity(flaky, n, retry=retry)]
    out.append(await ctx.call_activity(flaky, n + 1, retry=retry))
    return [out, retry.max_attempts]


DIFFERENTIAL_CASES = [("f", 2, []), ("f", 1, []), ("f", 0, [])]
