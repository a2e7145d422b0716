"""Critical sections as the lock rules (ENT001-ENT005) see them.

A critical section is `async with <ctx>.lock_entities(a, b) [as cs]:` in an orchestrator,
`<ctx>` its context parameter (the compiler lowers exactly these; see
compiler/lowering/critical.py). This module finds them, lists the code that runs inside
one (nested functions and classes excluded: they run only if called), and decides
statically which entity an expression names.

Deciding is deliberately modest: a string literal (`"@Counter@a"`, the name compared
case-insensitively as entity ids are), an `EntityId("counter", "a")` of two literals, or
a plain name the section does not rebind. Anything else (`req["a"]`, a call) is
undecidable, and the rules let it through: the runtime checks those.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from lint.names import flatten

LOCK_METHOD = "lock_entities"
_ENTITY_ID_NAMES = frozenset({"EntityId"})
_OWN_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


@dataclass(frozen=True)
class Section:
    """One critical section: the `async with` node, the lock call and what it locks."""

    node: ast.AsyncWith
    call: ast.Call
    #: the decided keys of the locked entities
    locked: frozenset[str]
    #: every argument was decided: an entity not in `locked` is certainly not locked
    complete: bool
    #: names bound inside the section: a name rebound there no longer names its entity
    rebound: frozenset[str]
    #: every node of the body, in source order, nested scopes left out (`inside`)
    body: tuple[ast.AST, ...]

    def key(self, expr: ast.expr) -> str | None:
        """The entity `expr` names, if decidable inside this section."""
        if isinstance(expr, ast.Name) and expr.id in self.rebound:
            return None
        return entity_key(expr)

    def is_locked(self, expr: ast.expr) -> bool | None:
        """Is `expr` one of the locked entities? None when that cannot be decided."""
        key = self.key(expr)
        if key is None:
            return None
        if key in self.locked:
            return True
        return False if self.complete else None


def lock_call(node: ast.AsyncWith, ctx: str | None) -> ast.Call | None:
    """The `ctx.lock_entities(...)` call a one-item `async with` opens, else None."""
    if ctx is None or len(node.items) != 1:
        return None
    call = node.items[0].context_expr
    if isinstance(call, ast.Call) and context_method(call, ctx) == LOCK_METHOD:
        return call
    return None


@lru_cache(maxsize=256)
def section_of(node: ast.AsyncWith, ctx: str | None) -> Section | None:
    """The section `node` opens, if it is one. Memoised: the five lock rules each ask
    for the same node (ast nodes hash by identity; the cache keeps the latest alive)."""
    call = lock_call(node, ctx)
    if call is None:
        return None
    body = tuple(inside(node))
    rebound = frozenset(n.id for n in body if isinstance(n, ast.Name)
                        and not isinstance(n.ctx, ast.Load))
    # a name the body rebinds named its entity only when the section opened
    keys = [None if isinstance(arg, ast.Name) and arg.id in rebound else entity_key(arg)
            for arg in call.args]
    complete = not call.keywords and None not in keys
    return Section(node, call, frozenset(k for k in keys if k is not None), complete, rebound,
                   body)


def calls_in_section(node: ast.AsyncWith, ctx: str,
                     method: str) -> Iterator[tuple[Section, ast.Call]]:
    """Each `ctx.<method>(...)` call inside the section `node` opens (none if `node`
    opens no section), with the section: what the per-call lock rules walk."""
    section = section_of(node, ctx)
    if section is None:
        return
    for inner in section.body:
        if isinstance(inner, ast.Call) and context_method(inner, ctx) == method:
            yield section, inner


def inside(node: ast.AsyncWith) -> Iterator[ast.AST]:
    """Every node of the section's body, in source order, nested scopes left out."""
    skip: set[int] = set()
    for child in flatten(list(node.body)):
        if id(child) in skip:
            continue
        if isinstance(child, _OWN_SCOPES):
            skip.update(id(n) for n in flatten([child]))
            continue
        yield child


def context_method(call: ast.Call, ctx: str) -> str | None:
    """`m` for a call `ctx.m(...)` on the context parameter, else None."""
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
            and func.value.id == ctx:
        return func.attr
    return None


def entity_argument(call: ast.Call) -> ast.expr | None:
    """The entity a `call_entity`/`signal_entity` call addresses (first argument)."""
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    for kw in call.keywords:
        if kw.arg == "entity_id":
            return kw.value
    return None


def entity_key(expr: ast.expr) -> str | None:
    """A static identity for an entity expression, or None when undecidable."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return _literal_key(expr.value)
    if isinstance(expr, ast.Name):
        return f"name:{expr.id}"
    if isinstance(expr, ast.Call) and len(expr.args) == 2 and not expr.keywords:
        func = expr.func
        name = func.id if isinstance(func, ast.Name) else \
            func.attr if isinstance(func, ast.Attribute) else None
        parts = expr.args
        if name in _ENTITY_ID_NAMES and all(
                isinstance(p, ast.Constant) and isinstance(p.value, str) for p in parts):
            return _literal_key(f"@{parts[0].value}@{parts[1].value}")  # type: ignore[attr-defined]
    return None


def _literal_key(text: str) -> str:
    # `@name@key`: entity names are case-insensitive, keys are not
    if text.startswith("@") and "@" in text[1:]:
        name, _, key = text[1:].partition("@")
        return f"id:@{name.lower()}@{key}"
    return f"id:{text}"


def describe(expr: ast.expr) -> str:
    """The expression as written, for messages."""
    return ast.unparse(expr)
