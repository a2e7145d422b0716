'''DET008 hash-order-dependence

## What it does
Flags code whose result depends on hash values or memory addresses, in orchestrator
code and in the helpers it calls: `hash()`, `id()`, and iterating a set in an order
that matters. A set is recognised by a little flow typing: a variable last bound to a
set literal, a set comprehension, `set(...)`/`frozenset(...)`, a set operation on one
of those, or annotated `set[...]`/`frozenset[...]` (parameters included), and
module-level names bound to a set. Iterating means a `for` loop, a list, dict or
generator comprehension, `list()`, `tuple()`, `enumerate()`, `zip()`, `iter()`,
`map()`, `filter()`, `str.join()`, unpacking with `*`, and `set.pop()`.

Not flagged: `sorted(s)`, membership tests, `len()`, consumers whose result does not
depend on order (`set`, `frozenset`, `sum`, `min`, `max`, `any`, `all`, `sorted`),
set comprehensions over a set, and set literals of int constants (ints hash to
themselves, so their order is the same in every process).

## Why is this bad?
Strings and bytes hash differently in every Python process (`PYTHONHASHSEED`), and
`id()` is a memory address. A crash moves the orchestration to a new process where a
set iterates in another order: activities are scheduled in another order than the
journal recorded, or the "first" element is a different one.

## Example
```python
@orchestrator
async def notify_all(ctx: OrchestrationContext, users: list[str]) -> None:
    recipients = set(users)
    for user in recipients:
        await ctx.call_activity(send_email, user)
```

## Use instead
```python
@orchestrator
async def notify_all(ctx: OrchestrationContext, users: list[str]) -> None:
    for user in sorted(set(users)):
        await ctx.call_activity(send_email, user)
```
'''

from __future__ import annotations

import ast

from lint.names import FunctionNode, is_set_display
from lint.rules.base import Fix, Rule, rule

ORDERED_CONSUMERS = frozenset({
    "builtins.list", "builtins.tuple", "builtins.enumerate", "builtins.zip", "builtins.iter",
    "builtins.map", "builtins.filter", "builtins.next", "builtins.reversed",
})
ORDER_FREE_CONSUMERS = frozenset({
    "builtins.sorted", "builtins.set", "builtins.frozenset", "builtins.len", "builtins.sum",
    "builtins.min", "builtins.max", "builtins.any", "builtins.all",
})
ADDRESS_READS = {"builtins.hash": "`hash()` depends on the process's hash seed",
                 "builtins.id": "`id()` is a memory address"}
SET_ANNOTATIONS = frozenset({
    "builtins.set", "builtins.frozenset", "typing.Set", "typing.FrozenSet", "typing.AbstractSet",
    "typing.MutableSet", "collections.abc.Set", "collections.abc.MutableSet",
})
SET_METHODS = frozenset({"union", "intersection", "difference", "symmetric_difference", "copy"})
SET_OPERATORS = (ast.BitOr, ast.BitAnd, ast.Sub, ast.BitXor)


@rule("DET008", "hash-order-dependence", fix=Fix.NEVER)
class HashOrderDependence(Rule):
    message = "{what}"
    help = "iterate `sorted(...)` of the set; do not base decisions on `hash()` or `id()`"

    def start(self, fn: FunctionNode) -> None:
        self.sets: set[str] = set()  # locals currently bound to a set
        self.order_free: set[int] = set()  # ids of nodes consumed where order is irrelevant
        self._parameters(fn)

    def _parameters(self, fn: FunctionNode | ast.Lambda) -> None:
        args = fn.args
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs):
            if arg.annotation is not None and self._set_annotation(arg.annotation):
                self.sets.add(arg.arg)
            else:
                self.sets.discard(arg.arg)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._parameters(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._parameters(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        is_set = self.is_set(node.value)
        for target in node.targets:
            if is_set and isinstance(target, ast.Tuple | ast.List):
                self._iterated(node.value, "unpacking")
            self._bind(target, is_set)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        is_set = self._set_annotation(node.annotation) or (
            node.value is not None and self.is_set(node.value))
        self._bind(node.target, is_set)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._bind(node.target, self.is_set(node.value))

    def visit_For(self, node: ast.For) -> None:
        self._iterated(node.iter, "a `for` loop over")
        self._bind(node.target, False)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        if id(node) not in self.order_free:
            self._iterated(node.iter, "a comprehension over")

    def visit_SetComp(self, node: ast.SetComp) -> None:
        self.order_free.update(id(gen) for gen in node.generators)

    def visit_Starred(self, node: ast.Starred) -> None:
        if isinstance(node.ctx, ast.Load):
            self._iterated(node.value, "unpacking")

    def visit_Call(self, node: ast.Call) -> None:
        name = self.qualified_name(node.func)
        if name in ADDRESS_READS:
            self.report(node, what=ADDRESS_READS[name])
        elif name in ORDER_FREE_CONSUMERS:
            for arg in node.args:
                if isinstance(arg, ast.GeneratorExp | ast.ListComp):
                    self.order_free.update(id(gen) for gen in arg.generators)
        elif name in ORDERED_CONSUMERS:
            for arg in node.args:
                self._iterated(arg, f"`{name.removeprefix('builtins.')}()` of")
        elif isinstance(node.func, ast.Attribute):
            method = node.func.attr
            if method == "join" and node.args:
                self._iterated(node.args[0], "`str.join()` of")
            elif method == "pop" and not node.args and self.is_set(node.func.value):
                self.report(node, what="`set.pop()` takes an element chosen by hash order")

    def _iterated(self, expr: ast.expr, how: str) -> None:
        if self.is_set(expr):
            label = f"set `{expr.id}`" if isinstance(expr, ast.Name) else "a set"
            self.report(expr, what=f"{how} {label} depends on hash order")

    def _bind(self, target: ast.expr, is_set: bool) -> None:
        if isinstance(target, ast.Name):
            if is_set:
                self.sets.add(target.id)
            else:
                self.sets.discard(target.id)
        elif isinstance(target, ast.Tuple | ast.List | ast.Starred):
            for elt in (target.elts if not isinstance(target, ast.Starred) else [target.value]):
                self._bind(elt, False)

    def _set_annotation(self, annotation: ast.expr) -> bool:
        base = annotation.value if isinstance(annotation, ast.Subscript) else annotation
        return self.qualified_name(base) in SET_ANNOTATIONS

    def is_set(self, expr: ast.expr) -> bool:
        """Does `expr` evaluate to a set whose iteration order depends on hashing?"""
        if isinstance(expr, ast.Name):
            if expr.id in self.sets:
                return True
            scope = self.check.scope
            return not scope.is_local(expr.id) and expr.id in scope.module.set_names
        if isinstance(expr, ast.Call):
            name = self.qualified_name(expr.func)
            if name in ("builtins.set", "builtins.frozenset"):
                return True
            func = expr.func
            return isinstance(func, ast.Attribute) and func.attr in SET_METHODS \
                and self.is_set(func.value)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, SET_OPERATORS):
            return self.is_set(expr.left)
        return isinstance(expr, ast.Set | ast.SetComp) and is_set_display(expr)
