"""Compiler (fixed, issue 16): an f-string's `=` showed the compiler's text, and a nested
def's default read a local that was not bound yet.

`f"{await ctx.call_activity(echo, 7)=}"` rendered `_f.received()=7`: the text before `=`
must be the source's. A nested `def g(v, kk=k)` live across an await is recreated at
machine entry, where it evaluated `k` again (UnboundLocalError, or today's value of `k`
rather than the one at the def): its defaults are now kept as the def computed them. An
await in a format spec (`f"{n:>{await f()}}"`) was an internal error.
"""

from tether import activity, orchestrator


@activity
def echo(x):
    return x


@orchestrator
async def f(ctx, n):
    out = [f"{await ctx.call_activity(echo, 7)=}",
           f"{ await ctx.call_activity(echo, 'x') = !s:>4}|",
           f"{await ctx.call_activity(echo, 2.5)=:.2f} {n=}",
           f"{n:>{await ctx.call_activity(echo, 4)}}|"]
    k = n
    calls = []

    def g(v, kk=k, *, tag=str(k) + "!", log=calls):
        log.append(v)
        return [v + kk, tag]

    k = 99
    out.append(g(await ctx.call_activity(echo, 1)))
    out.append(g(2, 3, tag="t"))
    return [out, calls, k]


DIFFERENTIAL_CASES = [("f", 4, [])]
