"""Runtime (fixed, issue 16): a loop whose body awaits walked a snapshot of a dict view,
`enumerate`, `zip` or `reversed`, taken at loop entry.

Plain Python sees changes made during the loop: `for k, v in d.items()` after `d["b"] =
99` yields 99, a dict or set that changes size raises RuntimeError at the next item, and
`reversed`/`zip` over a list read the list as it is. The lowered loop now walks the
object itself (a walk saved in the frame as its position, the dict or list kept with
its identity).
"""

from collections import Counter

from tether import activity, orchestrator


@activity
def echo(x):
    return x


@orchestrator
async def views(ctx, n):
    d = {"a": 1, "b": 2, "c": 3}
    out = []
    for k, v in d.items():
        out.append([k, v, await ctx.call_activity(echo, k)])
        d["b"] = 99
    for v in d.values():
        out.append(await ctx.call_activity(echo, v))
        d["c"] = -1
    for i, k in enumerate(d, 10):
        out.append([i, k, await ctx.call_activity(echo, i)])
    xs = [1, 2, 3]
    for a, b in zip(xs, reversed(xs), strict=False):
        out.append([a, b, await ctx.call_activity(echo, a)])
        xs[2] = 30
    for x in reversed(xs):
        out.append(await ctx.call_activity(echo, x))
        if x == 30:
            xs.pop()
    for i, (k, v) in enumerate(sorted(Counter("abca").items())):
        out.append([i, k, v, await ctx.call_activity(echo, v)])
    try:
        for k in d:
            await ctx.call_activity(echo, k)
            d[k + "!"] = 0
    except RuntimeError as e:
        out.append(str(e))
    s = {1, 2}
    try:
        for m in s:
            await ctx.call_activity(echo, m)
            s.add(m + 10)
    except RuntimeError as e:
        out.append(str(e))
    try:
        for a, b in zip([1, 2], [3], strict=True):
            out.append(await ctx.call_activity(echo, a + b))
    except ValueError as e:
        out.append(str(e))
    return out


DIFFERENTIAL_CASES = [("views", 1, [])]
