"""Runtime (fixed, issue 16): what an exception's traceback shows was lost at a resume.

An exception caught before an await and formatted after it showed no traceback once the
instance had been resumed (`__traceback__` came back None: `format_exception` printed
only the last line, `tb_lineno` raised AttributeError), and a task's error raised at an
await showed the runtime's frames (`received`, `_take`) where the plain run shows
`Task.__await__`. The frame codec now saves each entry's file, function and position and
rebuilds a traceback showing the same (runtime/tracebacks.py); a later `raise` adds its
entries in front, as in Python.
"""

import traceback
from datetime import timedelta

from tether import TaskFailedError, activity, orchestrator


@activity
def boom(x):
    raise ValueError(f"boom {x}")


def lookup(d, key):
    return d[key]


def summary(err):
    tb = err.__traceback__
    lines = []
    while tb is not None:
        lines.append(tb.tb_lineno)
        tb = tb.tb_next
    shown = [[f.name, f.lineno, f.end_lineno, f.colno, f.end_colno]
             for f in traceback.extract_tb(err.__traceback__)]
    return [lines, shown, traceback.format_exception(err)]


@orchestrator
async def caught_then_resumed(ctx, n):
    try:
        lookup({}, n)
    except KeyError as e:
        err = e
    before = summary(err)
    await ctx.sleep(timedelta(seconds=1))
    return [before, summary(err)]


@orchestrator
async def task_error_awaited_twice(ctx, n):
    failing = ctx.call_activity(boom, n)
    errors = []
    for _ in range(2):
        try:
            await failing
        except TaskFailedError as e:
            errors.append(e)
        await ctx.sleep(timedelta(seconds=1))
    return [summary(errors[0]), errors[0] is errors[1]]


@orchestrator
async def raised_again_after_a_resume(ctx, n):
    try:
        try:
            lookup([], n)
        except IndexError as e:
            await ctx.sleep(timedelta(seconds=1))
            raise RuntimeError("wrapped") from e
    except RuntimeError as e:
        err = e
    await ctx.sleep(timedelta(seconds=1))
    try:
        raise err
    except RuntimeError as again:
        return [summary(again), summary(again.__cause__), traceback.format_exception(again)]


@orchestrator
async def in_flight_through_finally(ctx, n):
    try:
        try:
            lookup({"a": 1}, "b")
        finally:
            await ctx.sleep(timedelta(seconds=n))
    except KeyError as e:
        inside = traceback.format_exc()
        await ctx.sleep(timedelta(seconds=1))
        return [summary(e), inside, traceback.format_exc()]


@orchestrator
async def failed_group(ctx, n):
    try:
        await ctx.when_all([ctx.call_activity(boom, n), ctx.call_activity(boom, n + 1)])
    except TaskFailedError as e:
        err = e
    await ctx.sleep(timedelta(seconds=1))
    return summary(err)


DIFFERENTIAL_CASES = [("caught_then_resumed", 1, []), ("task_error_awaited_twice", 2, []),
                      ("raised_again_after_a_resume", 3, []),
                      ("in_flight_through_finally", 1, []), ("failed_group", 5, [])]
