"""Compiler (fixed, issue 16): a local shadowing a builtin, or a name the emitted code
uses, broke the compiled code.

The machine's loops test `_i0 < len(_seq0)`, its exception dispatch says `isinstance`,
`BaseException` and `Exception`, a maybe-unbound save calls `locals()`, and the module
imports the runtime as `_rt` and `typing.Any` as `_Any`: a user's `len = 3` made the loop
raise "'int' object is not callable". The emitted code now reaches these through names
the user's code does not spell (`_rt1`, `_rt.len`).
"""

from tether import activity, orchestrator

_rt = "user global"
_Any = "also the user's"


@activity
def echo(x):
    return x


@orchestrator
async def f(ctx, n):
    len = 3
    isinstance = "no"
    Exception = 5
    BaseException = 6
    locals = 7
    out = []
    for i in range(n):
        out.append(await ctx.call_activity(echo, i))
    try:
        await ctx.call_activity(echo, 1)
        raise KeyError("x")
    except KeyError:
        out.append("caught")
    except:  # noqa: E722
        out.append("bare")
    if n > 1:
        u = 1
    await ctx.call_activity(echo, 2)
    if n > 1:
        out.append(u)
    squares = [await ctx.call_activity(echo, j * j) for j in range(2)]
    return [out, len, isinstance, Exception, BaseException, locals, _Any, _rt, squares]


DIFFERENTIAL_CASES = [("f", 2, []), ("f", 0, [])]
