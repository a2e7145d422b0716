"""Compiler (fixed, issue 13): statements spanning lines where the lowering rewrites text.

Triple-quoted strings and backslash continuations came out of the emitter re-indented:
a string's second line got the machine's indentation (changing the string's value) or,
sliced from the source and dedented as a whole, left the statement's first line
indented (IndentationError at load). Every rewritten shape is here: a passthrough
statement, an await's arguments, a `for` iterable, a `while` test, an augmented
assignment, a `raise`, a comprehension and a `return`, each over several lines.
"""

from tether import activity, orchestrator


@activity
def echo(x):
    return x


@orchestrator
async def f(ctx, n):
    doc = """first
second"""
    total = await ctx.call_activity(echo,
                                    n)
    acc = [doc, total]
    for i in [1,
              2]:
        acc.append(await ctx.call_activity(
            echo, i))
        if i > 1 and \
                total > 0:
            acc.append("""x
y""")
    while (len(acc)
           < 8):
        acc.append(await ctx.call_activity(echo, """a
b"""))
    box = {"k": 1}
    box["k"] += await ctx.call_activity(
        echo, 2)
    try:
        raise ValueError(
            "boom")
    except ValueError as e:
        acc.append(str(e))
        acc.append(await ctx.call_activity(echo, {"a": 1,
                                                  "b": 2}))
    x = [await ctx.call_activity(echo, j)
         for j in range(2)
         if j >= 0]
    if total > 0:
        return {"a": acc,
                "b": x, "box": box,
                "t": """z
w"""}
    return None


DIFFERENTIAL_CASES = [("f", 1, []), ("f", 0, [])]
