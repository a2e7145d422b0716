"""Compiler (fixed, issue 13): a `return` whose value spans lines, inside an `if` after
an await, crashed the compiler.

The jump rewriter turned the return into dispatch-loop text and parsed that text line
by line, so `return {"a": total,` alone was a syntax error: an internal error for code
black formats this way all the time. Plain run of f(None): {"a": 1, "b": 2}.
"""

from tether import activity, orchestrator


@activity
def one():
    return 1


@orchestrator
async def f(ctx) -> dict:
    total = await ctx.call_activity(one)
    if total > 0:
        return {"a": total,
                "b": 2}
    return {}


DIFFERENTIAL_CASES = [("f", None, [])]
