'''ENT004 signal-locked-entity

## What it does
Flags `ctx.signal_entity(e, ...)` inside a critical section when `e` is one of the
entities the section locked (decided as ENT003 decides: string literals, literal
`EntityId`s, or names the section does not rebind).

## Why is this bad?
A signal is one-way: it is queued and applied some time later, and nothing waits for
it. Sent to an entity the orchestration has locked, it is applied while the lock is
held or after it is released, in no order the code can rely on relative to the section's
own calls; the section's reads and writes are no longer one atomic step. Durable
Functions refuses it at run time. Inside the section, call the entity instead (its
effect happens at the `await`), or signal it after the section.

## Example
```python
@orchestrator
async def reserve(ctx: OrchestrationContext, seat: str) -> None:
    async with ctx.lock_entities(seat):
        if await ctx.call_entity(seat, "is_free"):
            ctx.signal_entity(seat, "take", ctx.instance_id)
```

## Use instead
```python
@orchestrator
async def reserve(ctx: OrchestrationContext, seat: str) -> None:
    async with ctx.lock_entities(seat):
        if await ctx.call_entity(seat, "is_free"):
            await ctx.call_entity(seat, "take", ctx.instance_id)
```
'''

from __future__ import annotations

import ast

from lint.critical_sections import calls_in_section, describe, entity_argument
from lint.rules.base import Fix, Rule, rule


@rule("ENT004", "signal-locked-entity", fix=Fix.NEVER)
class SignalLockedEntity(Rule):
    message = ("`{ctx}.signal_entity({entity}, ...)` to an entity the critical section "
               "opened at line {line} has locked")
    help = "inside the section, `await ctx.call_entity(...)` it; or signal it after the section"
    in_helpers = False

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        ctx = self.check.context_name
        if ctx is None:
            return
        for section, call in calls_in_section(node, ctx, "signal_entity"):
            target = entity_argument(call)
            if target is not None and section.is_locked(target):
                self.report(call, ctx=ctx, entity=describe(target), line=str(node.lineno))
