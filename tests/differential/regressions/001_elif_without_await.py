"""Compiler: an `if` whose body awaits, followed by an `elif` that does not.

Found by the generated-program differential. The emitted module did not parse: the
else-state held the raw source of the `elif` clause, so its body began with `elif n > 0:`
(SyntaxError at import). Plain run: prog(0) == 0, prog(1) == 5, prog(2) == 2 after one
call.
"""

from tether import activity, orchestrator


@activity
def double(x):
    return 2 * x


@orchestrator
async def prog(ctx, n):
    if n > 1:
        await ctx.call_activity(double, n)
    elif n > 0:
        n = 5
    return n


DIFFERENTIAL_CASES = [("prog", 0, []), ("prog", 1, []), ("prog", 2, [])]
