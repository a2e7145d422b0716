'''ENT003 call-unlocked-entity

## What it does
Flags `ctx.call_entity(e, ...)` inside a critical section when `e` is certainly not one
of the entities the section locked: the locked entities and `e` are all string
literals (`"@account@alice"`, the entity name compared case-insensitively), literal
`EntityId("account", "alice")` values, or names the section does not rebind, and `e`
matches none of them. An entity the linter cannot decide (`req["source"]`, a call) is
let through; the runtime checks it when the call is made.

## Why is this bad?
Inside a critical section the orchestration is meant to act only on what it holds: a
call to another entity waits in that entity's queue behind everybody else, and that
entity may be locked by an orchestration that is waiting for one of ours, which is a
deadlock. Durable Functions refuses such a call at run time.

## Example
```python
@orchestrator
async def transfer(ctx: OrchestrationContext, amount: int) -> None:
    async with ctx.lock_entities("@account@alice", "@account@bob"):
        await ctx.call_entity("@account@alice", "add", -amount)
        await ctx.call_entity("@account@carol", "add", amount)
```

## Use instead
```python
@orchestrator
async def transfer(ctx: OrchestrationContext, amount: int) -> None:
    async with ctx.lock_entities("@account@alice", "@account@carol"):
        await ctx.call_entity("@account@alice", "add", -amount)
        await ctx.call_entity("@account@carol", "add", amount)
```
'''

from __future__ import annotations

import ast

from lint.critical_sections import calls_in_section, describe, entity_argument
from lint.rules.base import Fix, Rule, rule


@rule("ENT003", "call-unlocked-entity", fix=Fix.NEVER)
class CallUnlockedEntity(Rule):
    message = ("`{ctx}.call_entity({entity}, ...)` inside the critical section opened at "
               "line {line}, which does not lock {entity}")
    help = "add the entity to the section's `lock_entities(...)`, or call it outside the section"
    in_helpers = False

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        ctx = self.check.context_name
        if ctx is None:
            return
        for section, call in calls_in_section(node, ctx, "call_entity"):
            target = entity_argument(call)
            if target is not None and section.is_locked(target) is False:
                self.report(call, ctx=ctx, entity=describe(target), line=str(node.lineno))
