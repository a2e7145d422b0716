"""Runtime (fixed, issue 16): awaiting the same task twice returned a fresh copy.

`(await t) is r1` was False and mutations of the first result vanished; a failed task
raised a new TaskFailedError each time. As with any awaitable in Python, every await of
one task now gives the same object (the same exception), also after a resume: the frame
keeps the outcomes of tasks the orchestration may await again.
"""

from datetime import timedelta

from tether import TaskFailedError, activity, orchestrator


@activity
def echo(x):
    return x


@activity
def boom(x):
    raise ValueError("no")


@orchestrator
async def f(ctx, n):
    t = ctx.call_activity(echo, [n])
    r1 = await t
    r1.append("mutated")
    await ctx.call_activity(echo, 0)
    r2 = await t
    b = ctx.call_activity(boom, 1)
    errs = []
    for _ in range(2):
        try:
            await b
        except TaskFailedError as e:
            errs.append(e)
            e.seen = len(errs)
    tasks = [ctx.call_activity(echo, i) for i in range(2)]
    first = await ctx.when_any(tasks)
    w = await first
    await ctx.sleep(timedelta(seconds=1))
    return [r2 is r1, r2, errs[0] is errs[1], errs[1].seen, (await first) is w,
            await tasks[0] is await tasks[0]]


DIFFERENTIAL_CASES = [("f", 1, [])]
