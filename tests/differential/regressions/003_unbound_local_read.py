"""Compiler (fixed): reading a local that was never assigned gave the UNBOUND sentinel.

Found by the generated-program differential (`acc.append(u)` before any `u = ...`).
Plain run of prog(0): UnboundLocalError "cannot access local variable 'x' where it is not
associated with a value". Compiled run: no error at the read; the sentinel flows on and the
run fails later with NotJSONError "orchestration output[0] is a _Unbound ..." (inside a
frame it fails at the next checkpoint with FrameValueError instead).
"""

from tether import activity, orchestrator


@activity
def echo(x):
    return x


@orchestrator
async def prog(ctx, n):
    if n > 0:
        x = await ctx.call_activity(echo, n)
    return [x]


DIFFERENTIAL_CASES = [("prog", 0, [])]
