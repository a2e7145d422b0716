"""Qualified names: what a name means in a module or function, through every import form.

We resolve names ourselves on `ast` instead of LibCST's `QualifiedNameProvider`: on this
project's benchmark LibCST's parse alone is slower than the whole lint budget, and the
provider runs at about 1,100 lines/s (docs/benchmarks-lint.md). What we need is small:
module-level bindings, the imports and locals of one function, and builtins.

`ModuleInfo` summarises one parsed module; `FunctionScope` answers for one function body
(a name assigned anywhere in a function is local throughout, as in Python).
"""

from __future__ import annotations

import ast
import builtins
import importlib
from dataclasses import dataclass, field
from functools import cached_property

from lint.finding import ParseError
from lint.suppressions import Suppression
from lint.suppressions import find as find_suppressions

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

ORCHESTRATOR_DECORATORS = frozenset(
    {"tether.orchestrator", "runtime.api.orchestrator", "runtime.orchestrator"})
ACTIVITY_DECORATORS = frozenset({"tether.activity", "runtime.api.activity", "runtime.activity"})
BUILTINS = frozenset(dir(builtins))
# `from M import *` is resolved only for standard modules whose names matter to the
# rules; importing a user's module to list its names would run its code.
_STAR_RESOLVABLE = frozenset({
    "time", "datetime", "random", "secrets", "uuid", "os", "os.path", "sys", "asyncio",
    "threading", "subprocess", "socket", "platform", "multiprocessing", "shutil",
})


def parse(source: str, path: str) -> ast.Module:
    """Parse `source`, turning a syntax error into a located `ParseError`."""
    try:
        return ast.parse(source, filename=path)
    except SyntaxError as exc:
        line = exc.lineno or 1
        col = exc.offset or 1
        raise ParseError(path, line, max(col, 1), f"syntax error: {exc.msg}") from None
    except ValueError as exc:  # e.g. NUL bytes
        raise ParseError(path, 1, 1, str(exc)) from None
    except (RecursionError, MemoryError):
        raise ParseError(path, 1, 1, "too deeply nested to parse") from None


def dotted(expr: ast.expr) -> str | None:
    """`a.b.c` for a Name/Attribute chain, as written; None for anything else."""
    parts = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    parts.append(expr.id)
    return ".".join(reversed(parts))


@dataclass
class ModuleInfo:
    """One module: its tree, what each module-level name is bound to, and its defs."""

    path: str
    name: str
    is_package: bool
    source: str
    tree: ast.Module
    #: module-level name -> qualified name (an import's target, else `module.name`)
    bindings: dict[str, str] = field(default_factory=dict)
    #: names bound by an import statement (a subset of `bindings`)
    imported: set[str] = field(default_factory=set)
    #: module-level defs in source order (a name may be defined twice)
    defs: list[FunctionNode] = field(default_factory=list)
    functions: dict[str, FunctionNode] = field(default_factory=dict)
    #: module-level names last bound to a set (DET008)
    set_names: set[str] = field(default_factory=set)
    star_modules: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, source: str, path: str, name: str, is_package: bool = False) -> ModuleInfo:
        info = cls(path, name, is_package, source, parse(source, path))
        info._collect(info.tree.body)
        return info

    @cached_property
    def lines(self) -> list[str]:
        return self.source.splitlines()

    @cached_property
    def suppressions(self) -> dict[int, Suppression]:
        """line -> the `# tether: ignore[...]` or `# noqa: DET...` comment on that line."""
        return find_suppressions(self.source)

    def column(self, line: int, byte_offset: int) -> int:
        """1-based character column of an `ast` byte offset."""
        if not 0 < line <= len(self.lines):
            return byte_offset + 1
        return len(self.lines[line - 1].encode()[:byte_offset].decode(errors="replace")) + 1

    def absolute(self, module: str | None, level: int) -> str:
        """The absolute module a (possibly relative) `from` import names."""
        if level == 0:
            return module or ""
        parts = self.name.split(".")
        keep = len(parts) - level + (1 if self.is_package else 0)
        base = ".".join(parts[:max(keep, 0)])
        return ".".join(p for p in (base, module) if p)

    def _bind(self, name: str) -> None:
        self.bindings[name] = f"{self.name}.{name}"
        self.imported.discard(name)

    def _collect(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                self._bind(stmt.name)
                self.defs.append(stmt)
                self.functions[stmt.name] = stmt
            elif isinstance(stmt, ast.ClassDef):
                self._bind(stmt.name)
            elif isinstance(stmt, ast.Import | ast.ImportFrom):
                for local, qname in import_bindings(stmt, self):
                    if local == "*":
                        self.star_modules.append(qname)
                        continue
                    self.bindings[local] = qname
                    self.imported.add(local)
            elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    for name in stored_names(target):
                        self._bind(name)
                    if isinstance(target, ast.Name) and not isinstance(stmt, ast.AugAssign):
                        if stmt.value is not None and is_set_display(stmt.value):
                            self.set_names.add(target.id)
                        else:
                            self.set_names.discard(target.id)
            else:  # if/try/with/for/while/match at module level bind module names too
                for name in _compound_targets(stmt):
                    self._bind(name)
                for block in _blocks(stmt):
                    self._collect(block)

    def resolve_star(self, name: str) -> str | None:
        for module in self.star_modules:
            if module in _STAR_RESOLVABLE and name in dir(importlib.import_module(module)):
                return f"{module}.{name}"
        return None

    def qualified_name(self, name: str) -> str | None:
        """The qualified name a module-level (or builtin) `name` refers to."""
        bound = self.bindings.get(name)
        if bound is not None:
            return bound
        if self.star_modules:
            star = self.resolve_star(name)
            if star is not None:
                return star
        if name in BUILTINS:
            return f"builtins.{name}"
        return None


def _compound_targets(stmt: ast.stmt) -> list[str]:
    if isinstance(stmt, ast.For | ast.AsyncFor):
        return stored_names(stmt.target)
    if isinstance(stmt, ast.With | ast.AsyncWith):
        return [n for item in stmt.items if item.optional_vars is not None
                for n in stored_names(item.optional_vars)]
    return []


def _blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    blocks: list[list[ast.stmt]] = [
        block for attr in ("body", "orelse", "finalbody")
        if isinstance(block := getattr(stmt, attr, None), list)
    ]
    blocks += [handler.body for handler in getattr(stmt, "handlers", ())]
    blocks += [case.body for case in getattr(stmt, "cases", ())]
    return blocks


def is_set_display(expr: ast.expr) -> bool:
    """A set literal or set comprehension whose iteration order depends on hashing.

    A literal of int constants iterates in the same order in every process (ints hash
    to themselves), so it is not one.
    """
    if isinstance(expr, ast.SetComp):
        return True
    if isinstance(expr, ast.Set):
        return not all(isinstance(e, ast.Constant) and type(e.value) is int for e in expr.elts)
    return isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) \
        and expr.func.id in ("set", "frozenset")


def stored_names(target: ast.expr) -> list[str]:
    """Names a target binds (`a`, `a, (b, *c)`); attribute/subscript targets bind none."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for elt in target.elts for n in stored_names(elt)]
    if isinstance(target, ast.Starred):
        return stored_names(target.value)
    return []


def import_bindings(stmt: ast.Import | ast.ImportFrom, module: ModuleInfo) -> list[tuple[str, str]]:
    """(local name, qualified name) pairs an import statement binds."""
    out = []
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.asname:
                out.append((alias.asname, alias.name))
            else:
                top = alias.name.split(".")[0]
                out.append((top, top))
        return out
    base = module.absolute(stmt.module, stmt.level)
    for alias in stmt.names:
        if alias.name == "*":
            out.append(("*", base))
        else:
            out.append((alias.asname or alias.name, f"{base}.{alias.name}" if base else alias.name))
    return out


_CHILD_FIELDS: dict[type[ast.AST], tuple[str, ...]] = {}


def flatten(roots: list[ast.AST]) -> list[ast.AST]:
    """Every node under `roots`, in the pre-order a recursive visit would take.

    `ast.walk` and `ast.iter_child_nodes` spend most of their time in generators; one
    explicit stack is about twice as fast, and the checker walks each function only once.
    Expression contexts (`Load`/`Store`) are not visited.
    """
    out: list[ast.AST] = []
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        out.append(node)
        fields = _CHILD_FIELDS.get(type(node))
        if fields is None:
            fields = _CHILD_FIELDS[type(node)] = tuple(f for f in node._fields if f != "ctx")
        children: list[ast.AST] = []
        for name in fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                children.extend(item for item in value if isinstance(item, ast.AST))
            elif isinstance(value, ast.AST):
                children.append(value)
        children.reverse()
        stack.extend(children)
    return out


class FunctionScope:
    """Names inside one function (including functions and lambdas nested in it).

    `nodes` is `flatten(fn.body)`; the parameters of `fn` are added here.
    """

    def __init__(self, module: ModuleInfo, fn: FunctionNode, nodes: list[ast.AST]) -> None:
        self.module = module
        self.locals: set[str] = set()
        self.imports: dict[str, str] = {}
        declared_global: set[str] = set()
        for node in (*flatten([fn.args]), *nodes):
            if isinstance(node, ast.Name):
                if not isinstance(node.ctx, ast.Load):
                    self.locals.add(node.id)
            elif isinstance(node, ast.arg):
                self.locals.add(node.arg)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.locals.add(node.name)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                for local, target in import_bindings(node, module):
                    if local != "*":
                        self.imports[local] = target
            elif isinstance(node, ast.Global | ast.Nonlocal):
                declared_global.update(node.names)
            elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
                self.locals.add(node.name)
            elif isinstance(node, ast.MatchMapping) and node.rest:
                self.locals.add(node.rest)
        self.locals -= declared_global
        self.locals -= self.imports.keys()

    def is_local(self, name: str) -> bool:
        return name in self.locals or name in self.imports

    def resolve(self, name: str) -> str | None:
        imported = self.imports.get(name)
        if imported is not None:
            return imported
        if name in self.locals:
            return None
        return self.module.qualified_name(name)

    def qualified_name(self, expr: ast.expr) -> str | None:
        """`datetime.datetime.now` for `D.now` after `from datetime import datetime as D`."""
        parts = []
        while isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name):
            return None
        base = self.resolve(expr.id)
        if base is None:
            return None
        if not parts:
            return base
        parts.append(base)
        return ".".join(reversed(parts))

    def module_level_root(self, expr: ast.expr) -> tuple[str, int] | None:
        """For `X.a[b].c`: ("X", depth 3) when X is a module-level name, else None."""
        depth = 0
        while isinstance(expr, ast.Attribute | ast.Subscript):
            expr = expr.value
            depth += 1
        if not isinstance(expr, ast.Name) or self.is_local(expr.id):
            return None
        if expr.id not in self.module.bindings:
            return None
        return expr.id, depth


def decorator_kind(module: ModuleInfo, fn: FunctionNode) -> str:
    """"orchestrator", "activity" or "function", by the decorators' qualified names."""
    for dec in fn.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        parts = []
        while isinstance(target, ast.Attribute):
            parts.append(target.attr)
            target = target.value
        if not isinstance(target, ast.Name):
            continue
        base = module.qualified_name(target.id)
        if base is None:
            continue
        qname = ".".join([base, *reversed(parts)])
        if qname in ORCHESTRATOR_DECORATORS:
            return "orchestrator"
        if qname in ACTIVITY_DECORATORS:
            return "activity"
    return "function"
