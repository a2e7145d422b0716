'''ENT001 nested-critical-section

## What it does
Flags a critical section (`async with ctx.lock_entities(...)`) opened inside another
one in the same orchestrator.

A critical section cannot be opened in a helper at all: a helper that could hold one
is an `async def`, and awaiting it is DET007.

## Why is this bad?
A critical section acquires all its entities at once, in entity-id order, which is what
makes a deadlock impossible: two orchestrations that lock overlapping sets always
request the shared entities in the same order. A second section inside the first would
acquire more entities while holding some, in an order of your code's choosing, so two
orchestrations could each hold what the other waits for. Durable Functions refuses this
at run time (`LockingRulesViolationException`); tether refuses it before the code runs.

## Example
```python
@orchestrator
async def transfer(ctx: OrchestrationContext, req: dict) -> None:
    async with ctx.lock_entities(req["source"]):
        async with ctx.lock_entities(req["target"]):
            await ctx.call_entity(req["source"], "add", -req["amount"])
            await ctx.call_entity(req["target"], "add", req["amount"])
```

## Use instead
```python
@orchestrator
async def transfer(ctx: OrchestrationContext, req: dict) -> None:
    async with ctx.lock_entities(req["source"], req["target"]):
        await ctx.call_entity(req["source"], "add", -req["amount"])
        await ctx.call_entity(req["target"], "add", req["amount"])
```
'''

from __future__ import annotations

import ast

from lint.critical_sections import lock_call, section_of
from lint.rules.base import Fix, Rule, rule


@rule("ENT001", "nested-critical-section", fix=Fix.NEVER)
class NestedCriticalSection(Rule):
    message = "critical section inside the critical section opened at line {outer}"
    help = ("lock every entity in one `lock_entities(a, b, ...)`; one section acquires "
            "them in id order, so no deadlock is possible")
    in_helpers = False

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        ctx = self.check.context_name
        section = section_of(node, ctx)
        if section is None:
            return
        for inner in section.body:
            if isinstance(inner, ast.AsyncWith) and lock_call(inner, ctx) is not None:
                self.report(inner, outer=str(node.lineno))
