"""Runtime (fixed, issue 16): an exception object was damaged by a checkpoint.

A user exception class with its own `__init__(self, code)` kept in a local came back
after a resume as `cls(*args)`: `[err.code, str(err)]` was `[7, "app error 7"]` and
became `["app error 7", "app error app error 7"]`; `__cause__`, `__context__`,
`__suppress_context__`, `__notes__` and extra attributes were lost. The same held for an
exception in flight through a `finally` that awaits.
"""

from tether import activity, orchestrator


class AppError(Exception):
    def __init__(self, code):
        super().__init__(f"app error {code}")
        self.code = code


@activity
def echo(x):
    return x


def describe(err):
    return [type(err).__name__, err.code, str(err), list(err.args),
            type(err.__cause__).__name__, type(err.__context__).__name__,
            err.__suppress_context__, getattr(err, "__notes__", []), err.extra]


@orchestrator
async def kept(ctx, n):
    try:
        try:
            raise KeyError("first")
        except KeyError:
            raise AppError(n) from ValueError("why")
    except AppError as e:
        err = e
    err.add_note("noted")
    err.extra = {"at": n}
    await ctx.call_activity(echo, 1)
    return describe(err)


@orchestrator
async def in_flight(ctx, n):
    try:
        try:
            err = AppError(n)
            err.extra = [n]
            raise err
        finally:
            await ctx.call_activity(echo, 2)
    except AppError as e:
        return describe(e)


@orchestrator
async def suppressed(ctx, n):
    try:
        try:
            raise KeyError("hidden")
        except KeyError:
            err = AppError(n)
            err.extra = None
            raise err from None
    except AppError as e:
        saved = e
    await ctx.call_activity(echo, 3)
    return describe(saved)


DIFFERENTIAL_CASES = [("kept", 7, []), ("in_flight", 8, []), ("suppressed", 9, [])]
