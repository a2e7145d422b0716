'''DET007 non-task-await

## What it does
Flags an `await` in an orchestrator of anything but a durable task: a task is the
result of a call on the context parameter (`ctx.call_activity`,
`ctx.call_sub_orchestrator`, `ctx.create_timer`, `ctx.sleep`,
`ctx.wait_for_external_event`, `ctx.when_all`, `ctx.when_any`, `ctx.call_entity`,
`ctx.call_http`), or a variable, item or attribute that may hold one.
`await asyncio.sleep(1)` and `await some_coroutine()` are flagged, and so are
`await ctx.signal_entity(...)` (a signal is one-way: nothing comes back to wait for) and
`await ctx.lock_entities(...)` (a critical section is entered with `async with`).
A direct call of an activity or orchestrator is DET009's finding instead.
Durable Functions' spelling of a task tether names otherwise (`await ctx.task_all(...)`)
is reported with the compiler's "did you mean `ctx.when_all`?" (`lint.df_names`).

## Why is this bad?
tether turns each `await` into a checkpoint that the runtime resumes when the awaited
task's result is in the journal. A coroutine or future from elsewhere has no journal
entry: its result is lost on a crash and cannot be resumed, and the compiler refuses it.

## Example
```python
import httpx

@orchestrator
async def check_site(ctx: OrchestrationContext, url: str) -> int:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    return response.status_code
```

## Use instead
```python
@activity
async def fetch_status(url: str) -> int:
    async with httpx.AsyncClient() as client:
        return (await client.get(url)).status_code

@orchestrator
async def check_site(ctx: OrchestrationContext, url: str) -> int:
    return await ctx.call_activity(fetch_status, url)
```
'''

from __future__ import annotations

import ast

from lint.df_names import RENAMED, did_you_mean
from lint.names import dotted
from lint.rules.base import Fix, Rule, rule

TASK_METHODS = frozenset({
    "call_activity", "call_sub_orchestrator", "create_timer", "sleep",
    "wait_for_external_event", "when_all", "when_any", "call_entity", "call_http",
})
# durable calls on the context that give nothing to await: what each is for instead
NOT_AWAITABLE = {
    "signal_entity": ("`await {ctx}.signal_entity(...)`: a signal is one-way, there is "
                      "nothing to wait for",
                      "call `{ctx}.signal_entity(...)` without `await`, or "
                      "`await {ctx}.call_entity(...)` for the operation's result"),
    "lock_entities": ("`await {ctx}.lock_entities(...)` does not await a durable task: it "
                      "opens a critical section",
                      "write `async with {ctx}.lock_entities(...):`"),
}


@rule("DET007", "non-task-await", fix=Fix.NEVER)
class NonTaskAwait(Rule):
    message = "`await {what}` does not await a durable task"
    help = ("await a task from the context (`ctx.call_activity`, `ctx.sleep`, "
            "`ctx.when_all`, ...) or move the coroutine into an activity")
    in_helpers = False

    def visit_Await(self, node: ast.Await) -> None:
        value, ctx = node.value, self.check.context_name
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) \
                and value.func.attr in NOT_AWAITABLE and isinstance(value.func.value, ast.Name) \
                and value.func.value.id == ctx:
            message, help = NOT_AWAITABLE[value.func.attr]
            self.check.report(self, node, message.format(ctx=ctx), help.format(ctx=ctx))
            return
        bad = self._non_task(node.value)
        if bad is None:
            return
        hint = self._renamed(bad)
        if hint is not None:  # the compiler's own words for Durable Functions' names
            self.check.report(self, node, *hint)
        else:
            self.report(node, what=_describe(bad))

    def _renamed(self, expr: ast.expr) -> tuple[str, str] | None:
        target = expr.func if isinstance(expr, ast.Call) else expr
        if isinstance(target, ast.Attribute) and self._on_context(target):
            return did_you_mean(self.check.context_name or "ctx", target.attr)
        return None

    def _on_context(self, node: ast.Attribute) -> bool:
        return isinstance(node.value, ast.Name) and node.value.id == self.check.context_name

    def _non_task(self, value: ast.expr) -> ast.expr | None:
        if isinstance(value, ast.Attribute) and value.attr in RENAMED and self._on_context(value):
            return value  # `await ctx.current_utc_date_time`: a name tether spells otherwise
        if isinstance(value, ast.Name | ast.Subscript | ast.Attribute):
            return None  # may hold a task made earlier
        if isinstance(value, ast.IfExp):
            return self._non_task(value.body) or self._non_task(value.orelse)
        if isinstance(value, ast.Call):
            func = value.func
            if isinstance(func, ast.Attribute) and func.attr in TASK_METHODS \
                    and isinstance(func.value, ast.Name) and func.value.id == self.check.context_name:
                return None
            target = self.check.target(func)
            if target is not None and target.kind != "function":
                return None
        return value


def _describe(expr: ast.expr) -> str:
    if isinstance(expr, ast.Call):
        name = dotted(expr.func)
        return f"{name}(...)" if name else "a call"
    if isinstance(expr, ast.Constant):
        return repr(expr.value)
    return type(expr).__name__.lower()
