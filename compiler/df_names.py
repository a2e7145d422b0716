"""Durable Functions' names where tether deliberately differs: a compile error that says
what to write instead, before the determinism rules could report them by a rule code.

A ported orchestrator calling `ctx.task_all(tasks)` would otherwise meet DET007 ("does
not await a durable task") or an AttributeError at run time, after real work was done.
`check(tree, path)` finds calls of these names on an orchestrator's context parameter and
raises one `CompileError` with "did you mean" and the tether spelling.
"""

from __future__ import annotations

import ast

from compiler.errors import CompileError

# Durable Functions (Python) / durabletask name -> (tether's name, how to write it)
RENAMED: dict[str, tuple[str, str]] = {
    "task_all": ("ctx.when_all", "`await ctx.when_all(tasks)`: results in task order"),
    "task_any": ("ctx.when_any", "`winner = await ctx.when_any(tasks)`: the first to finish"),
    "call_activity_with_retry": (
        "ctx.call_activity", "pass the policy as `retry=`: "
        "`await ctx.call_activity(f, input, retry=RetryPolicy(...))`"),
    "call_sub_orchestrator_with_retry": (
        "ctx.call_sub_orchestrator", "pass the policy as `retry=`: "
        "`await ctx.call_sub_orchestrator(f, input, retry=RetryPolicy(...))`"),
    "new_guid": ("ctx.new_uuid", "`ctx.new_uuid()` returns a deterministic UUID string"),
    "current_utc_date_time": ("ctx.current_utc_datetime", "a property: no call"),
    "call_activity_async": ("ctx.call_activity", "`await ctx.call_activity(f, input)`"),
    "wait_for_external_event_async": (
        "ctx.wait_for_external_event", "`await ctx.wait_for_external_event(name)`"),
}


def check(tree: ast.Module, path: str) -> None:
    """Raise `CompileError` at the first Durable Functions name tether spells otherwise."""
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef) and _is_orchestrator(node):
            params = node.args.posonlyargs + node.args.args
            if params:
                _check_body(node, params[0].arg, path)


def _check_body(fn: ast.AsyncFunctionDef, ctx: str, path: str) -> None:
    for node in ast.walk(fn):
        if (isinstance(node, ast.Attribute) and node.attr in RENAMED
                and isinstance(node.value, ast.Name) and node.value.id == ctx):
            name, how = RENAMED[node.attr]
            raise CompileError(path, node.lineno, node.col_offset + 1,
                               f"`{ctx}.{node.attr}` is Durable Functions' name; "
                               f"did you mean `{name.replace('ctx', ctx, 1)}`?", how)


def _is_orchestrator(fn: ast.AsyncFunctionDef) -> bool:
    for dec in fn.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "orchestrator":
            return True
    return False
