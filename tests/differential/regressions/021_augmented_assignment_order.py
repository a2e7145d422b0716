"""Compiler (fixed, issue 16): an augmented assignment evaluated its target after the
await in its value.

`xs[i] += await ctx.call_activity(echo, (i := 1))` gave `[10, 21]`; Python evaluates
the target's object and index, and reads its current value, before the right-hand side:
`[11, 20]`. `d[await f()] += 1` (an await in the target) emitted invalid Python.
"""

from tether import activity, orchestrator


@activity
def echo(x):
    return x


def bump(box):
    box["n"] += 100
    return 1


@orchestrator
async def f(ctx, n):
    xs = [10, 20]
    i = 0
    xs[i] += await ctx.call_activity(echo, (i := 1))
    v = 5
    v += await ctx.call_activity(echo, (v := 100))
    box = {"n": 1}
    box["n"] += bump(box) + await ctx.call_activity(echo, n)
    d = {"a": 1}
    d[await ctx.call_activity(echo, "a")] += 1
    d[await ctx.call_activity(echo, "b") + "c"] = await ctx.call_activity(echo, 2)
    d[await ctx.call_activity(echo, "a")] += await ctx.call_activity(echo, 10)
    lists = [[1]]
    lists[0] += [await ctx.call_activity(echo, 2)]
    return [xs, v, box, d, lists]


DIFFERENTIAL_CASES = [("f", 3, [])]
