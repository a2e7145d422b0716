"""Runtime (fixed, issue 16): a `when_all`'s list and its tasks' results awaited one by one
were separate objects.

`r = await ctx.when_all([t1, t2]); x = await t1` gave `r[0] is x` False, and a mutation
of `r[0]` did not show in `x`; a failed `when_all` raised a copy of its failed child's
error. As in plain Python (and `run_direct`), the list holds the very objects each
child's await gives, whether the child was awaited before or after the group, in nested
groups too, and a failed group raises its lowest-index failed child's own exception;
also after a resume.
"""

from datetime import timedelta

from tether import TaskFailedError, activity, orchestrator


@activity
def wrap(x):
    return [x]


@activity
def boom(x):
    raise ValueError(f"boom {x}")


@orchestrator
async def after(ctx, n):
    t1 = ctx.call_activity(wrap, n)
    t2 = ctx.call_activity(wrap, n + 1)
    r = await ctx.when_all([t1, t2])
    r[0].append("mutated")
    await ctx.sleep(timedelta(seconds=1))
    x = await t1
    return [r, x, r[0] is x, r[1] is await t2]


@orchestrator
async def before(ctx, n):
    t1 = ctx.call_activity(wrap, n)
    x = await t1
    x.append("first")
    t2 = ctx.call_activity(wrap, n + 1)
    await ctx.sleep(timedelta(seconds=1))
    group = ctx.when_all([t2, t1, t1])
    r = await group
    again = await group
    return [r, r[1] is x, r[2] is x, again is r]


@orchestrator
async def nested(ctx, n):
    t1 = ctx.call_activity(wrap, n)
    t2 = ctx.call_activity(wrap, n + 1)
    inner = ctx.when_all([t1, t2])
    r = await ctx.when_all([inner, ctx.call_activity(wrap, n + 2)])
    await ctx.sleep(timedelta(seconds=1))
    return [r, r[0] is await inner, r[0][1] is await t2]


@orchestrator
async def failed(ctx, n):
    ok = ctx.call_activity(wrap, n)
    bad = ctx.call_activity(boom, n)
    worse = ctx.call_activity(boom, n + 1)
    try:
        await ctx.when_all([ok, bad, worse])
    except TaskFailedError as e:
        group_error = e
    group_error.seen = True
    await ctx.sleep(timedelta(seconds=1))
    try:
        await bad
    except TaskFailedError as e:
        child_error = e
    return [str(group_error), child_error is group_error, child_error.seen, await ok]


DIFFERENTIAL_CASES = [("after", 1, []), ("before", 2, []), ("nested", 3, []),
                      ("failed", 4, [])]
