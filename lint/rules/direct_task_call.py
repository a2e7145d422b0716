'''DET009 direct-task-call

## What it does
Flags a direct call of an `@activity` or `@orchestrator` function from orchestrator
code or the helpers it calls, in the same module or in another module of the project.
Passing the function to the context (`ctx.call_activity(say_hello, city)`) is the
intended use and is not flagged.

## Why is this bad?
Called directly, an activity runs inside the orchestrator's step: its I/O and
nondeterminism are not isolated, its result is not journaled, it is not retried, and it
runs again if the step is re-run after a crash. Called directly, an orchestrator
returns a bare coroutine that no runtime drives.

## Example
```python
@activity
def charge_card(order: dict) -> str:
    return payments.charge(order["card"], order["total"])

@orchestrator
async def checkout(ctx: OrchestrationContext, order: dict) -> str:
    receipt = charge_card(order)
    return receipt
```

## Use instead
```python
@orchestrator
async def checkout(ctx: OrchestrationContext, order: dict) -> str:
    receipt = await ctx.call_activity(charge_card, order)
    return receipt
```
and `await ctx.call_sub_orchestrator(child, input)` for an orchestrator.
'''

from __future__ import annotations

import ast

from lint.rules.base import Fix, Rule, rule

_THROUGH = {"activity": "ctx.call_activity", "orchestrator": "ctx.call_sub_orchestrator"}


@rule("DET009", "direct-task-call", fix=Fix.NEVER)
class DirectTaskCall(Rule):
    message = "`{name}()` calls {kind} `{name}` directly, outside the journal"
    help = "schedule it instead: `await {through}({name}, input)`"

    def visit_Call(self, node: ast.Call) -> None:
        target = self.check.target(node.func)
        if target is not None and target.kind != "function":
            self.report(node, name=target.node.name, kind=f"@{target.kind}",
                        through=_THROUGH[target.kind])
