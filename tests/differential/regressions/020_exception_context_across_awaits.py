"""Compiler (fixed, issue 16): exception chaining and `except ... as` unbinding were lost
where the handler or `finally` is lowered (it awaits, or its `try` does).

In `try: await boom() / except TaskFailedError: raise KeyError()` the KeyError's
`__context__` was None (Python: the TaskFailedError): the handler ran in the dispatch
loop, outside any `except`. `raise X from e` after an await in the handler, `from None`,
and an exception raised in a `finally` entered by another were damaged the same way.
`except E as err:` left `err` bound after the handler (Python deletes it: a later read
raises UnboundLocalError), also when a `break` leaves the handler.
"""

from tether import TaskFailedError, activity, orchestrator


@activity
def boom(x):
    raise ValueError(f"boom {x}")


@activity
def echo(x):
    return x


def chain(err):
    out = []
    while err is not None:
        out.append([type(err).__name__, str(err), err.__suppress_context__,
                    type(err.__cause__).__name__])
        err = err.__context__
    return out


@orchestrator
async def context(ctx, n):
    try:
        try:
            await ctx.call_activity(boom, n)
        except TaskFailedError:
            await ctx.call_activity(echo, 1)
            raise KeyError("k")  # noqa: B904 (the context is what is tested)
    except KeyError as e:
        return chain(e)


@orchestrator
async def cause(ctx, n):
    try:
        try:
            await ctx.call_activity(boom, n)
        except TaskFailedError as err:
            await ctx.call_activity(echo, 1)
            if n % 2:
                raise RuntimeError("wrapped") from err
            raise RuntimeError("quiet") from None
    except RuntimeError as e:
        return chain(e)


@orchestrator
async def in_finally(ctx, n):
    try:
        try:
            await ctx.call_activity(echo, 0)
            raise ValueError("first")
        finally:
            await ctx.call_activity(echo, 1)
            if n:
                raise KeyError("second")
    except (KeyError, ValueError) as e:
        return chain(e)


@orchestrator
async def unbound(ctx, n):
    out = []
    for i in range(2):
        try:
            await ctx.call_activity(boom, i)
        except TaskFailedError as err:
            out.append(err.task_name)
            if n:
                break
    try:
        out.append(str(err))  # noqa: F821 (unbound, as in Python)
    except UnboundLocalError as e:
        out.append(type(e).__name__)
    return out


@orchestrator
async def handled_in_callee(ctx, n):
    import sys

    def current():
        return type(sys.exception()).__name__

    try:
        await ctx.call_activity(boom, n)
    except TaskFailedError:
        seen = [current()]
        await ctx.call_activity(echo, 1)
        seen.append(current())
    seen.append(current())
    return seen


DIFFERENTIAL_CASES = [
    ("context", 1, []), ("cause", 1, []), ("cause", 2, []), ("in_finally", 1, []),
    ("in_finally", 0, []), ("unbound", 0, []), ("unbound", 1, []), ("handled_in_callee", 1, []),
]
