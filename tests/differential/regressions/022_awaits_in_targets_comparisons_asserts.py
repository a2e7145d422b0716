"""Compiler (fixed, issue 16): awaits the docs promise but the compiler refused or broke.

An await in a chained comparison after its first operand (`1 < 2 < await f()`), in an
assert message, in an assignment or `del` target (`d[await f()] = 1` was refused, `del
d[await f()]` emitted invalid Python), and awaiting a conditional expression of tasks
(`await (t1 if flag else t2)`), and a `for` loop's target (`for d[await f()] in xs`). Each is lowered in Python's order: a chain stops at its
first false comparison, an assert's message is evaluated only when the test fails, an
assignment evaluates its value before its targets.
"""

from tether import activity, orchestrator


@activity
def echo(x):
    return x


@orchestrator
async def f(ctx, n):
    calls = []

    def seen(x):
        calls.append(x)
        return x

    out = [0 < await ctx.call_activity(echo, n) <= 10,
           seen(1) < seen(n) < await ctx.call_activity(echo, 5) < seen(9)]
    try:
        assert n > 5, await ctx.call_activity(echo, f"small {n}")
        out.append("big")
    except AssertionError as e:
        out.append(str(e))
    d = {}
    d[seen("k")], d[await ctx.call_activity(echo, "j")] = [seen("v1"), seen("v2")]
    d[await ctx.call_activity(echo, "x")] = seen("value")
    d["y"] = d[await ctx.call_activity(echo, "z")] = n
    del d[await ctx.call_activity(echo, "x")]
    for d[seen("loop") + await ctx.call_activity(echo, "!")] in [1, 2]:
        calls.append(len(d))
    t1 = ctx.call_activity(echo, "one")
    t2 = ctx.call_activity(echo, "two")
    out.append(await (t1 if n > 3 else t2))
    out.append(await (t2 if n > 3 else t1))
    return [out, sorted(d.items()), calls]


DIFFERENTIAL_CASES = [("f", 1, []), ("f", 7, []), ("f", 20, [])]
