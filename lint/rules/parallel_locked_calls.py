'''ENT005 parallel-locked-calls

## What it does
Flags a second `ctx.call_entity(e, ...)` on a locked entity `e` inside a critical
section while an earlier call on `e` may still be outstanding: a call made without
being awaited where it is made (kept in a variable, a list, or passed to
`ctx.when_all`), and not awaited since (as itself, or through `when_all`), before the
next call on `e`. A call made without an await in a comprehension, or in a loop
without being kept in a name, makes many calls at once and is flagged too. Entities
are decided as ENT003 decides; calls on an entity the linter cannot decide are let
through (the runtime checks them).

## Why is this bad?
A locked entity serves only its holder, one operation at a time. Two outstanding calls
on it from the holder race each other: which is applied first depends on delivery, so
the section is no longer the sequence of steps it reads as. Durable Functions refuses
parallel calls to a locked entity at run time. Parallel calls to *different* locked
entities are fine.

## Example
```python
@orchestrator
async def double_bump(ctx: OrchestrationContext, key: str) -> list[int]:
    async with ctx.lock_entities(key):
        first = ctx.call_entity(key, "add", 1)
        second = ctx.call_entity(key, "add", 1)
        return await ctx.when_all([first, second])
```

## Use instead
```python
@orchestrator
async def double_bump(ctx: OrchestrationContext, key: str) -> list[int]:
    async with ctx.lock_entities(key):
        first = await ctx.call_entity(key, "add", 1)
        second = await ctx.call_entity(key, "add", 1)
        return [first, second]
```
'''

from __future__ import annotations

import ast

from lint.critical_sections import (
    Section,
    context_method,
    describe,
    entity_argument,
    section_of,
)
from lint.rules.base import Fix, Rule, rule

_MANY = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_LOOPS = (ast.For, ast.While)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


@rule("ENT005", "parallel-locked-calls", fix=Fix.NEVER)
class ParallelLockedCalls(Rule):
    message = ("`{ctx}.call_entity({entity}, ...)` while an earlier call on {entity} "
               "(line {earlier}) may be outstanding in the critical section")
    help = "await each call on a locked entity before making the next one"
    in_helpers = False

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        ctx = self.check.context_name
        section = section_of(node, ctx) if ctx is not None else None
        if ctx is None or section is None:
            return
        _Scan(self, section, ctx).body(node.body)


class _Scan:
    """Walks a section in evaluation order: an await settles what it waits for only
    after the calls inside its operand are made (`await ctx.when_all([c1, c2])`)."""

    def __init__(self, rule: ParallelLockedCalls, section: Section, ctx: str) -> None:
        self.rule, self.section, self.ctx = rule, section, ctx
        #: entity key -> (line of an outstanding call, the name holding its task or None)
        self.pending: dict[str, list[tuple[int, str | None]]] = {}

    def body(self, stmts: list[ast.stmt]) -> None:
        for stmt in stmts:
            self.visit(stmt, None, 0)

    def visit(self, node: ast.AST, parent: ast.AST | None, repeat: int) -> None:
        if isinstance(node, _SCOPES):
            return  # runs only if called
        inner = repeat + isinstance(node, (*_MANY, *_LOOPS))
        for child in ast.iter_child_nodes(node):
            self.visit(child, node, inner)
        if isinstance(node, ast.Await):
            _settle(node.value, self.ctx, self.pending)
        elif isinstance(node, ast.Call) and context_method(node, self.ctx) == "call_entity":
            self.call(node, parent, repeat > 0)

    def call(self, node: ast.Call, parent: ast.AST | None, repeated: bool) -> None:
        target = entity_argument(node)
        key = _locked_key(self.section, target)
        if target is None or key is None:
            return
        earlier = self.pending.get(key)
        if earlier:
            self.report(node, target, earlier[0][0])
        if isinstance(parent, ast.Await):
            return  # awaited where it is made: done before anything else runs
        holder = _holder(parent, node)
        if holder is None and repeated:
            self.report(node, target, node.lineno)  # once per item, none awaited between
        self.pending.setdefault(key, []).append((node.lineno, holder))

    def report(self, node: ast.Call, target: ast.expr, earlier: int) -> None:
        self.rule.report(node, ctx=self.ctx, entity=describe(target), earlier=str(earlier))


def _locked_key(section: Section, target: ast.expr | None) -> str | None:
    if target is None or not section.is_locked(target):
        return None
    return section.key(target)


def _holder(parent: ast.AST | None, call: ast.Call) -> str | None:
    """The name a task is kept in (`t = ctx.call_entity(...)`), else None."""
    if isinstance(parent, ast.Assign) and parent.value is call and len(parent.targets) == 1 \
            and isinstance(parent.targets[0], ast.Name):
        return parent.targets[0].id
    if isinstance(parent, ast.AnnAssign) and parent.value is call \
            and isinstance(parent.target, ast.Name):
        return parent.target.id
    return None


def _settle(awaited: ast.expr, ctx: str, pending: dict[str, list[tuple[int, str | None]]]) -> None:
    """An await finishes what it waits for: a task name, or every task of a `when_all`."""
    if isinstance(awaited, ast.Name):
        for key in list(pending):
            pending[key] = [p for p in pending[key] if p[1] != awaited.id]
    elif isinstance(awaited, ast.Call) and context_method(awaited, ctx) == "when_all":
        pending.clear()
