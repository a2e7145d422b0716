'''ENT006 async-entity-code

## What it does
Flags entity code that is an `async def`: an `async def` method of an `@entity` class,
or an `@entity async def` function. The finding names the entity and the method.
Entities are found by the decorator's qualified name (`tether.entity`,
`runtime.entities.entity`), at the top level of any module linted or compiled, whether
or not it holds an orchestrator.

## Why is this bad?
An entity's operations are applied one at a time, each with its state change and the
signals it sends committed in one journal write, and rolled back together if the
operation fails. An operation that awaits would stop half-way with the entity's state
open to other operations, and an await of anything (an HTTP call, a timer) has no
durable record to resume from. Entity code is plain synchronous Python: it may not
await. The runtime also refuses an `async def` operation when the module is imported;
this rule says so before anything runs, with its location.

## Example
```python
@entity
class Inventory:
    def __init__(self) -> None:
        self.count = 0

    async def restock(self, amount: int) -> None:
        self.count += await fetch_supplier_amount(amount)
```

## Use instead
```python
@entity
class Inventory:
    def __init__(self) -> None:
        self.count = 0

    def restock(self, amount: int) -> None:
        self.count += amount

@orchestrator
async def restock(ctx: OrchestrationContext, sku: str) -> None:
    amount = await ctx.call_activity(fetch_supplier_amount, sku)
    await ctx.call_entity(f"@inventory@{sku}", "restock", amount)
```
'''

from __future__ import annotations

import ast
from collections.abc import Iterator

from lint.names import ModuleInfo
from lint.rules.base import Fix, Rule, rule

ENTITY_DECORATORS = frozenset({
    "tether.entity", "runtime.entity", "runtime.entities.entity",
    "runtime.entities.define.entity",
})


@rule("ENT006", "async-entity-code", fix=Fix.NEVER)
class AsyncEntityCode(Rule):
    message = "entity {entity}: `{what}` is `async def`, but entity code may not await"
    help = ("make the operation a plain `def`; do the awaiting in an orchestrator and "
            "`await ctx.call_entity(...)` it with the result")
    module_level = True

    @classmethod
    def check_module(cls, module: ModuleInfo) -> Iterator[tuple[ast.AST, dict[str, str]]]:
        for stmt in module.tree.body:
            if not isinstance(stmt, ast.ClassDef | ast.AsyncFunctionDef) \
                    or not is_entity(module, stmt):
                continue
            if isinstance(stmt, ast.AsyncFunctionDef):
                yield stmt, {"entity": stmt.name, "what": stmt.name}
                continue
            for member in stmt.body:
                if isinstance(member, ast.AsyncFunctionDef):
                    yield member, {"entity": stmt.name, "what": f"{stmt.name}.{member.name}"}


def is_entity(module: ModuleInfo, node: ast.ClassDef | ast.AsyncFunctionDef) -> bool:
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        parts: list[str] = []
        while isinstance(target, ast.Attribute):
            parts.append(target.attr)
            target = target.value
        if not isinstance(target, ast.Name):
            continue
        base = module.qualified_name(target.id)
        if base is not None and ".".join([base, *reversed(parts)]) in ENTITY_DECORATORS:
            return True
    return False
