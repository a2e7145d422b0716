'''ENT002 sub-orchestration-in-critical-section

## What it does
Flags `ctx.call_sub_orchestrator(...)` inside a critical section
(`async with ctx.lock_entities(...)`), awaited or not.

## Why is this bad?
While an orchestration holds a lock, every other sender's operations on the locked
entities wait behind it. A sub-orchestration can run for any length of time, can wait
for events or timers, and may itself try to lock the same entities, which it could
never get: its parent holds them until the child ends. Durable Functions refuses this
at run time; tether refuses it at compile time.

## Example
```python
@orchestrator
async def restock(ctx: OrchestrationContext, sku: str) -> None:
    async with ctx.lock_entities(f"@stock@{sku}"):
        await ctx.call_sub_orchestrator(order_from_supplier, sku)
        await ctx.call_entity(f"@stock@{sku}", "add", 100)
```

## Use instead
```python
@orchestrator
async def restock(ctx: OrchestrationContext, sku: str) -> None:
    await ctx.call_sub_orchestrator(order_from_supplier, sku)
    async with ctx.lock_entities(f"@stock@{sku}"):
        await ctx.call_entity(f"@stock@{sku}", "add", 100)
```
'''

from __future__ import annotations

import ast

from lint.critical_sections import calls_in_section
from lint.rules.base import Fix, Rule, rule


@rule("ENT002", "sub-orchestration-in-critical-section", fix=Fix.NEVER)
class SubOrchestrationInCriticalSection(Rule):
    message = ("`{ctx}.call_sub_orchestrator()` inside the critical section opened at "
               "line {line}")
    help = "start the sub-orchestration before the section opens or after it ends"
    in_helpers = False

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        ctx = self.check.context_name
        if ctx is None:
            return
        for _, call in calls_in_section(node, ctx, "call_sub_orchestrator"):
            self.report(call, ctx=ctx, line=str(node.lineno))
