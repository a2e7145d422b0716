'''DET006 global-state-write

## What it does
Flags `global` and `nonlocal` statements, and writes to module-level objects, in
orchestrator code and in the helpers it calls: assigning to or deleting an attribute
or item of a module-level name (`CACHE[key] = value`, `settings.debug = True`) and
calling a mutating method on one (`SEEN.add(x)`, `QUEUE.append(x)`, `sys.path.append(p)`).
Reading module-level constants is fine.

## Why is this bad?
Only the orchestration's locals are saved in its checkpoints. Module state lives in
one worker process: it is lost on a crash, it is not there on the worker that resumes
the orchestration, and every orchestration in the process shares it. Code that reads
it back later sees a value that depends on which worker runs it and what else ran there.

## Example
```python
SEEN: set[str] = set()

@orchestrator
async def ingest(ctx: OrchestrationContext, doc: str) -> bool:
    if doc in SEEN:
        return False
    SEEN.add(doc)
    await ctx.call_activity(index_document, doc)
    return True
```

## Use instead
```python
@orchestrator
async def ingest(ctx: OrchestrationContext, docs: list[str]) -> int:
    seen: set[str] = set()  # a local: saved in the frame at every await
    for doc in docs:
        if doc not in seen:
            seen.add(doc)
            await ctx.call_activity(index_document, doc)
    return len(seen)
```
State shared between orchestrations belongs in an activity's store or an entity.
'''

from __future__ import annotations

import ast

from lint.rules.base import Fix, Rule, rule

MUTATING_METHODS = frozenset({
    "append", "extend", "insert", "remove", "pop", "clear", "update", "setdefault",
    "popitem", "sort", "reverse", "add", "discard", "difference_update",
    "intersection_update", "symmetric_difference_update", "appendleft", "extendleft",
    "popleft", "rotate", "__setitem__", "__delitem__",
})


@rule("DET006", "global-state-write", fix=Fix.NEVER)
class GlobalStateWrite(Rule):
    message = "{what} in orchestrator code"
    help = "keep state in locals (saved in the frame at every await) or in an activity"

    def visit_Global(self, node: ast.Global) -> None:
        self.report(node, what=f"`global {', '.join(node.names)}` rebinds module state")

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.report(node, what=f"`nonlocal {', '.join(node.names)}` rebinds an outer variable")

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._write(target, "writes to")

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._write(node.target, "writes to")

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._write(node.target, "writes to")

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._write(target, "deletes from")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in MUTATING_METHODS:
            self._mutation(func.value, node, f".{func.attr}()")

    def _write(self, target: ast.expr, verb: str) -> None:
        if isinstance(target, ast.Tuple | ast.List):
            for elt in target.elts:
                self._write(elt, verb)
        elif isinstance(target, ast.Attribute | ast.Subscript):
            self._mutation(target.value, target, "", verb)

    def _mutation(self, receiver: ast.expr, node: ast.AST, method: str,
                  verb: str = "mutates") -> None:
        found = self.check.scope.module_level_root(receiver)
        if found is None:
            return
        root, depth = found
        # `operator.add(a, b)` calls a function of an imported module; only the objects
        # reached through it (`sys.path.append`) are module state we could change.
        if root in self.check.module.imported and depth == 0 and method:
            return
        what = f"`{method}`" if method else ""
        self.report(node, what=f"{what} {verb} module-level `{root}`".strip())
