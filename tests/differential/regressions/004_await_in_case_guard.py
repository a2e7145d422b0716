"""Compiler (fixed): an await in a `case` guard was refused.

Found by the generated-program differential. DESIGN.md promises `await` anywhere an
expression may stand; the compiler answers "prog.py:L:C: error: await in a `case` guard is
not supported". Plain run of prog(1): [1, "guarded"].
"""

from tether import activity, orchestrator


@activity
def echo(x):
    return x


@orchestrator
async def prog(ctx, n):
    match n:
        case 1 if await ctx.call_activity(echo, n) > 0:
            return [n, "guarded"]
        case _:
            return [n, "other"]


DIFFERENTIAL_CASES = [("prog", 1, []), ("prog", 2, [])]
