"""Each construct, run plainly and compiled (with a checkpoint at every await): same output,
same error, same activity calls."""

from __future__ import annotations

import pytest

from tests.compiler.eager import assert_same

HEADER = '''
from tether import activity, orchestrator, TaskFailedError

@activity
def double(x):
    return x * 2

@activity
def fail_on_3(x):
    if x == 3:
        raise ValueError(f"bad {x}")
    return x + 100

@activity
def echo(x):
    return x
'''


def case(body: str) -> str:
    return HEADER + "\n@orchestrator\nasync def orch(ctx, n):\n" + body


CASES = {
    "straight": '''
    a = await ctx.call_activity(double, n)
    b = await ctx.call_activity(double, a)
    return [a, b]
''',
    "if_else": '''
    if n > 2:
        x = await ctx.call_activity(double, n)
    elif n == 2:
        x = await ctx.call_activity(echo, "two")
    else:
        x = -1
    return x
''',
    "await_in_condition": '''
    if await ctx.call_activity(double, n) > 4:
        return "big"
    return "small"
''',
    "while_break_continue": '''
    i = 0
    out = []
    while True:
        i += 1
        if i % 2 == 0:
            continue
        out.append(await ctx.call_activity(double, i))
        if i > n:
            break
    else:
        out.append("never")
    return out
''',
    "for_else": '''
    out = []
    for i in range(n):
        v = await ctx.call_activity(double, i)
        if v > 100:
            break
        out.append(v)
    else:
        out.append("done")
    return out
''',
    "nested_loops": '''
    total = 0
    for i in range(n):
        j = 0
        while j < i:
            total += await ctx.call_activity(double, i * 10 + j)
            j += 1
    return total
''',
    "spill_order": '''
    log = []
    def note(x):
        log.append(x)
        return x
    r = [note(1), await ctx.call_activity(double, note(2)), note(3)]
    return r, log
''',
    "two_awaits_one_expr": '''
    return (await ctx.call_activity(double, n)) + (await ctx.call_activity(double, n + 1)) * 10
''',
    "short_circuit": '''
    a = n > 2 and await ctx.call_activity(double, n)
    b = n > 2 or await ctx.call_activity(double, n)
    c = await ctx.call_activity(echo, "x") if n % 2 else "even"
    return [a, b, c]
''',
    "try_except_failed_task": '''
    out = []
    for i in range(n + 1):
        try:
            out.append(await ctx.call_activity(fail_on_3, i))
        except TaskFailedError as e:
            out.append("caught " + e.error_type + ": " + e.message)
            out.append(await ctx.call_activity(echo, "after catch"))
    return out
''',
    "try_finally_awaits": '''
    out = []
    try:
        out.append(await ctx.call_activity(fail_on_3, n))
        return out
    except TaskFailedError:
        out.append("failed")
        raise
    finally:
        out.append(await ctx.call_activity(echo, "cleanup"))
''',
    "return_crossing_finally_in_loop": '''
    out = []
    for i in range(5):
        try:
            if i == n:
                return out
            out.append(await ctx.call_activity(double, i))
        finally:
            out.append(await ctx.call_activity(echo, f"fin{i}"))
            if i == 1:
                continue
    return ["end", out]
''',
    "break_through_two_finallys": '''
    out = []
    while True:
        try:
            try:
                out.append(await ctx.call_activity(double, n))
                break
            finally:
                out.append(await ctx.call_activity(echo, "inner"))
        finally:
            out.append("outer")
    out.append("after")
    return out
''',
    "else_clause": '''
    try:
        v = await ctx.call_activity(fail_on_3, n)
    except TaskFailedError:
        v = "fail"
    else:
        v = await ctx.call_activity(double, v)
    return v
''',
    "exception_from_plain_code": '''
    try:
        x = await ctx.call_activity(double, n)
        y = 10 // (x - 4)
    except ZeroDivisionError as e:
        y = str(e)
    return y
''',
    "uncaught_failure": '''
    return await ctx.call_activity(fail_on_3, n)
''',
    "match": '''
    v = await ctx.call_activity(double, n)
    match v:
        case 0:
            return "zero"
        case 2 | 4:
            return await ctx.call_activity(echo, "small")
        case x if x > 100:
            return "huge"
    return f"other {v}"
''',
    "fan_out": '''
    tasks = [ctx.call_activity(double, i) for i in range(n)]
    results = await ctx.when_all(tasks)
    first = await tasks[0] if tasks else None
    return sum(results), first
''',
    "aliasing": '''
    a = [1]
    b = a
    await ctx.call_activity(echo, 0)
    b.append(2)
    d = {"k": a}
    await ctx.call_activity(echo, 1)
    d["k"].append(3)
    return a, b is a, d["k"] is a
''',
    "aug_assign_subscript": '''
    acc = {"x": 1}
    acc["x"] += await ctx.call_activity(double, n)
    return acc
''',
    "comprehension_without_await": '''
    xs = await ctx.call_activity(echo, list(range(n)))
    return [x * x for x in xs if x % 2]
''',
    "del_local": '''
    x = await ctx.call_activity(double, n)
    y = x
    del x
    await ctx.call_activity(echo, y)
    return y
''',
    "walrus_await": """
    if (x := await ctx.call_activity(double, n)) > 4:
        return x
    return -x
""",
    "fstring_and_dict_display": """
    def key(v):
        return f"k{v}"
    d = {key(n): await ctx.call_activity(double, n), "s": f"<{await ctx.call_activity(echo, n)}>"}
    return d
""",
    "closure_across_await": """
    total = [0]
    def add(v):
        total[0] += v
        return total[0]
    add(await ctx.call_activity(double, n))
    add(await ctx.call_activity(double, n + 1))
    return add(0)
""",
    "await_in_while_condition": """
    i = 0
    while await ctx.call_activity(double, i) < n:
        i += 1
    return i
""",
    "mutating_iterated_list": """
    items = [1, 2]
    seen = []
    for it in items:
        seen.append(await ctx.call_activity(double, it))
        if it < n and len(items) < 6:
            items.append(it + 10)
    return seen
""",
    "iterate_dict_and_string": """
    out = []
    for k in {"a": 1, "b": 2}:
        out.append(await ctx.call_activity(echo, k))
    for ch in "xy":
        out.append(await ctx.call_activity(echo, ch * n))
    return out
""",
    "task_handles_in_containers": """
    pending = {"a": ctx.call_activity(double, n), "b": ctx.call_activity(double, n + 1)}
    first = await pending["a"]
    both = await ctx.when_all([pending["b"], pending["a"]])
    again = await pending["a"]
    return [first, both, again]
""",
    "finally_replaces_exception": """
    try:
        try:
            await ctx.call_activity(fail_on_3, n)
            raise KeyError("plain")
        finally:
            if n == 3:
                raise ValueError("from finally")
    except (KeyError, ValueError) as e:
        return type(e).__name__ + ":" + str(e)
""",
    "locals_named_like_internals": """
    state = n
    task = await ctx.call_activity(double, state)
    slots = {"state": state}
    frame = await ctx.call_activity(echo, task)
    return [state, task, slots, frame]
""",
    "return_inside_with": """
    import contextlib
    x = await ctx.call_activity(double, n)
    with contextlib.suppress(ZeroDivisionError):
        if x > 2:
            return x
        y = 1 // 0
    return -1
""",
    "when_any_timer_vs_activity": """
    from datetime import timedelta
    slow = ctx.create_timer(ctx.current_utc_datetime + timedelta(hours=1))
    fast = ctx.call_activity(double, n)
    winner = await ctx.when_any([slow, fast])
    if winner == fast:
        return ["activity", await fast]
    return "timer"
""",
    "class_pattern_match": """
    v = await ctx.call_activity(echo, [n, "x"])
    match v:
        case [int(a), str(b)] if a > 2:
            r = await ctx.call_activity(echo, b * a)
        case [a, *rest]:
            r = [a, rest]
    return r
""",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_equals_plain(name: str) -> None:
    assert_same(case(CASES[name]), "orch", [0, 1, 2, 3, 4, 5])


def test_elif_without_await_after_if_with_await() -> None:
    assert_same(case('''
    box = [n]
    if box[0] > 3:
        box[0] = await ctx.call_activity(double, n)
    elif box[0] > 0:
        box[0] = -1
    else:
        box[0] = 0
    return box
'''), "orch", [0, 1, 5])


def test_await_in_case_guards() -> None:
    assert_same(case('''
    v = await ctx.call_activity(echo, [n, n * 2])
    match v:
        case [0, _]:
            r = "zero"
        case [a, b] if await ctx.call_activity(double, a) > 4:
            r = ["big", a, b]
        case [a, _] if a == 2:
            r = ["two", a]
        case [a, b] if await ctx.call_activity(fail_on_3, b) > 104:
            r = ["guard3", a, b]
        case other:
            r = ["other", other]
    return r
'''), "orch", [0, 1, 2, 3, 4, 5])
