"""Name facts about an orchestrator body, computed without LibCST metadata (it is too slow
for whole modules): which names are locals, which names a node reads, which awaits a
subtree holds. All answers are conservative in the direction liveness needs: a node may
be said to read a name it does not, never the reverse.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import libcst as cst

NESTED_SCOPES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


_FIELDS: dict[type, tuple[str, ...]] = {}
_IS_NODE: dict[type, bool] = {}


def _is_node(kind: type) -> bool:
    hit = _IS_NODE.get(kind)
    if hit is None:
        hit = _IS_NODE[kind] = issubclass(kind, cst.CSTNode)
    return hit


def children(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Direct child nodes, in field order (source order). LibCST's visitor machinery is
    five times slower than reading the dataclass fields, and the compiler walks a lot.
    (Exact-type lookups, not isinstance: LibCST's classes are ABCs, whose checks are slow.)"""
    kind = type(node)
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(
            f.name for f in dataclasses.fields(kind)
            if not f.name.startswith(("whitespace", "lpar", "rpar", "comma", "semicolon"))
        )
    for name in names:
        value = getattr(node, name)
        vkind = type(value)
        if vkind is tuple or vkind is list:
            for item in value:
                if _is_node(type(item)):
                    yield item
        elif _is_node(vkind):
            yield value


_SCOPE_KINDS = frozenset(NESTED_SCOPES)


class AwaitIndex:
    """Memoised "does this subtree await?" (regenerator's meta.js containsLeap). Awaits in
    nested functions and lambdas belong to them, not to the orchestrator."""

    def __init__(self) -> None:
        self._memo: dict[int, bool] = {}
        self._adopted: list[cst.CSTNode] = []

    def adopt(self, node: cst.CSTNode) -> None:
        """Keep `node`, built during lowering, alive as long as the index: answers are
        memoised by id, and a freed node's id may be given to another."""
        self._adopted.append(node)

    def __call__(self, node: cst.CSTNode) -> bool:
        hit = self._memo.get(id(node))
        if hit is None:
            hit = self._compute(node)
        return hit

    def _compute(self, node: cst.CSTNode) -> bool:
        # an `async with` awaits its `__aenter__`: a critical section is a suspension
        # point, so the statements around it are lowered, never passed through
        found = type(node) is cst.Await or (
            isinstance(node, cst.With) and node.asynchronous is not None)
        for child in children(node):
            if type(child) in _SCOPE_KINDS:
                self._memo[id(child)] = False
                continue
            hit = self._memo.get(id(child))
            if hit is None:
                hit = self._compute(child)
            found = found or hit
        self._memo[id(node)] = found
        return found


def _reads_into(node: cst.CSTNode, out: set[str]) -> None:
    if type(node) not in _READ_KINDS:
        for child in children(node):
            _reads_into(child, out)
        return
    if isinstance(node, cst.Name):
        out.add(node.value)
        return
    if isinstance(node, cst.Attribute):
        _reads_into(node.value, out)
        return
    if isinstance(node, cst.Arg):
        _reads_into(node.value, out)
        return
    if isinstance(node, cst.Import | cst.ImportFrom):
        return
    if isinstance(node, cst.FunctionDef):
        # A nested def reads its decorators and defaults now and its free names when
        # called; the caller accounts for the latter (see `closure_reads`).
        for d in node.decorators:
            _reads_into(d, out)
        _reads_into(node.params, out)
        return
    # Binding a name does not read it (else liveness would keep every assigned local
    # alive across the await before its assignment); subscripts and attributes in a
    # target do read their operands.
    if isinstance(node, cst.AssignTarget):
        _target_reads(node.target, out)
        return
    if isinstance(node, cst.AnnAssign):  # local annotations are never evaluated
        _target_reads(node.target, out)
        if node.value is not None:
            _reads_into(node.value, out)
        return
    if isinstance(node, cst.For):
        _target_reads(node.target, out)
        for part in (node.iter, node.body, node.orelse):
            if part is not None:
                _reads_into(part, out)
        return
    if isinstance(node, cst.NamedExpr):
        _reads_into(node.value, out)
        return
    if isinstance(node, cst.AsName):
        _target_reads(node.name, out)
        return
    for child in children(node):
        _reads_into(child, out)


def _target_reads(target: cst.CSTNode, out: set[str]) -> None:
    if isinstance(target, cst.Name):
        return
    if isinstance(target, cst.Tuple | cst.List):
        for el in target.elements:
            _target_reads(el.value, out)
    elif isinstance(target, cst.StarredElement):
        _target_reads(target.value, out)
    else:
        _reads_into(target, out)


_READ_KINDS = frozenset({cst.Name, cst.Attribute, cst.Arg, cst.Import, cst.ImportFrom,
                         cst.FunctionDef, cst.AssignTarget, cst.AnnAssign, cst.For,
                         cst.NamedExpr, cst.AsName})


def reads(node: cst.CSTNode) -> set[str]:
    """Every identifier `node` uses as a name (not attributes, keywords or import paths)."""
    out: set[str] = set()
    _reads_into(node, out)
    return out


class Bindings:
    """Names bound in a function body's own scope, by kind."""

    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.imports: set[str] = set()
        self.defs: dict[str, int] = {}
        self.classes: set[str] = set()
        self.def_nodes: dict[str, cst.FunctionDef] = {}

    def target(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.Name):
            self.bound.add(node.value)
        elif isinstance(node, cst.Tuple | cst.List):
            for el in node.elements:
                self.target(el.value)
        elif isinstance(node, cst.StarredElement):
            self.target(node.value)

    def walk(self, node: cst.CSTNode) -> None:
        # Exact-type checks first: isinstance on LibCST's ABC-based classes is slow, and
        # most nodes bind nothing.
        kind = type(node)
        if kind not in _BINDING_KINDS:
            for child in children(node):
                self.walk(child)
            return
        if isinstance(node, cst.FunctionDef):
            name = node.name.value
            self.defs[name] = self.defs.get(name, 0) + 1
            self.def_nodes[name] = node
            return
        if isinstance(node, cst.ClassDef):
            self.classes.add(node.name.value)
            return
        if isinstance(node, cst.Lambda):
            return  # its own scope
        if isinstance(node, cst.ListComp | cst.SetComp | cst.DictComp | cst.GeneratorExp):
            # their own scopes, but `:=` inside one binds in the function (PEP 572)
            self.bound |= walrus_targets(node)
            return
        if isinstance(node, cst.Import):
            for alias in node.names:
                self.imports.add(_import_binding(alias))
            return
        if isinstance(node, cst.ImportFrom):
            if not isinstance(node.names, cst.ImportStar):
                for alias in node.names:
                    self.imports.add(_import_binding(alias))
            return
        if isinstance(node, cst.AssignTarget | cst.AnnAssign | cst.AugAssign | cst.For
                      | cst.NamedExpr | cst.Del):
            self.target(node.target)
        elif isinstance(node, cst.AsName):
            self.target(node.name)
        elif isinstance(node, cst.MatchAs | cst.MatchStar) and node.name is not None:
            self.bound.add(node.name.value)
        elif isinstance(node, cst.MatchMapping) and node.rest is not None:
            self.bound.add(node.rest.value)
        for child in children(node):
            self.walk(child)


_BINDING_KINDS = frozenset({
    cst.FunctionDef, cst.ClassDef, cst.Lambda, cst.ListComp, cst.SetComp, cst.DictComp,
    cst.GeneratorExp, cst.Import, cst.ImportFrom, cst.AssignTarget, cst.AnnAssign,
    cst.AugAssign, cst.For, cst.NamedExpr, cst.Del, cst.AsName, cst.MatchAs, cst.MatchStar,
    cst.MatchMapping,
})


def walrus_targets(node: cst.CSTNode) -> set[str]:
    """Names bound by `:=` in `node`, outside nested functions and lambdas."""
    out: set[str] = set()
    for child in children(node):
        if type(child) in _SCOPE_KINDS:
            continue
        if isinstance(child, cst.NamedExpr) and isinstance(child.target, cst.Name):
            out.add(child.target.value)
        out |= walrus_targets(child)
    return out


def _import_binding(alias: cst.ImportAlias) -> str:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    top: cst.BaseExpression = alias.name
    while isinstance(top, cst.Attribute):
        top = top.value
    return top.value if isinstance(top, cst.Name) else ""


def bindings(body: cst.CSTNode) -> Bindings:
    out = Bindings()
    for child in children(body):
        out.walk(child)
    return out


def collect_nested_defs(body: cst.BaseSuite) -> dict[str, cst.FunctionDef]:
    return bindings(body).def_nodes


def closure_reads(defs: dict[str, cst.FunctionDef], local_names: set[str]) -> dict[str, set[str]]:
    """For each nested def, the enclosing locals it may read when called (transitively)."""
    direct: dict[str, set[str]] = {}
    for name, node in defs.items():
        own = bindings(node.body).bound | {p.name.value for p in _all_params(node.params)}
        direct[name] = (reads(node.body) - own) & local_names
    changed = True
    while changed:
        changed = False
        for free in direct.values():
            extra: set[str] = set()
            for other in free & set(direct):
                extra |= direct[other]
            if not extra <= free:
                free |= extra
                changed = True
    return direct


def _all_params(params: cst.Parameters) -> list[cst.Param]:
    out = list(params.posonly_params) + list(params.params) + list(params.kwonly_params)
    if isinstance(params.star_arg, cst.Param):
        out.append(params.star_arg)
    if params.star_kwarg is not None:
        out.append(params.star_kwarg)
    return out
