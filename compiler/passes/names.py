"""Name facts about an orchestrator body, computed without LibCST metadata (it is too slow
for whole modules): which names are locals, which names a node reads, which awaits a
subtree holds. All answers are conservative in the direction liveness needs: a node may
be said to read a name it does not, never the reverse.
"""

from __future__ import annotations

import libcst as cst

NESTED_SCOPES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


class _AwaitFinder(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found = False

    def visit_Await(self, node: cst.Await) -> bool:
        self.found = True
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False


class AwaitIndex:
    """Memoised "does this subtree await?" (regenerator's meta.js containsLeap)."""

    def __init__(self) -> None:
        self._memo: dict[int, bool] = {}

    def __call__(self, node: cst.CSTNode) -> bool:
        key = id(node)
        hit = self._memo.get(key)
        if hit is None:
            finder = _AwaitFinder()
            node.visit(finder)
            hit = self._memo[key] = finder.found
        return hit


class _NameReads(cst.CSTVisitor):
    """Every identifier used as a name (not an attribute, keyword or import path)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)
        return False

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        # A nested def reads its decorators and defaults now and its free names when
        # called; the caller accounts for the latter (see `closure_reads`).
        for d in node.decorators:
            d.visit(self)
        node.params.visit(self)
        return False


def reads(node: cst.CSTNode) -> set[str]:
    visitor = _NameReads()
    node.visit(visitor)
    return visitor.names


class _Binder(cst.CSTVisitor):
    """Names bound in a function body's own scope."""

    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.imports: set[str] = set()
        self.defs: dict[str, int] = {}
        self.classes: set[str] = set()

    def _targets(self, node: cst.BaseExpression) -> None:
        if isinstance(node, cst.Name):
            self.bound.add(node.value)
        elif isinstance(node, cst.Tuple | cst.List):
            for el in node.elements:
                self._targets(el.value)
        elif isinstance(node, cst.StarredElement):
            self._targets(node.value)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._targets(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._targets(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._targets(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._targets(node.target)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._targets(node.target)

    def visit_AsName(self, node: cst.AsName) -> None:
        if isinstance(node.name, cst.Name | cst.Tuple | cst.List):
            self._targets(node.name)

    def visit_Del(self, node: cst.Del) -> None:
        self._targets(node.target)

    def visit_MatchAs(self, node: cst.MatchAs) -> None:
        if node.name is not None:
            self.bound.add(node.name.value)

    def visit_MatchStar(self, node: cst.MatchStar) -> None:
        if node.name is not None:
            self.bound.add(node.name.value)

    def visit_MatchMapping(self, node: cst.MatchMapping) -> None:
        if node.rest is not None:
            self.bound.add(node.rest.value)

    def visit_Import(self, node: cst.Import) -> bool:
        for alias in node.names:
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.imports.add(alias.asname.name.value)
            else:
                top = alias.name
                while isinstance(top, cst.Attribute):
                    top = top.value  # type: ignore[assignment]
                if isinstance(top, cst.Name):
                    self.imports.add(top.value)
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        if isinstance(node.names, cst.ImportStar):
            return False
        for alias in node.names:
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.imports.add(alias.asname.name.value)
            elif isinstance(alias.name, cst.Name):
                self.imports.add(alias.name.value)
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.defs[node.name.value] = self.defs.get(node.name.value, 0) + 1
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.classes.add(node.name.value)
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    # Comprehension variables live in their own scope (walrus inside one is rejected).
    def visit_ListComp(self, node: cst.ListComp) -> bool:
        return False

    def visit_SetComp(self, node: cst.SetComp) -> bool:
        return False

    def visit_DictComp(self, node: cst.DictComp) -> bool:
        return False

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> bool:
        return False


def bindings(body: cst.CSTNode) -> _Binder:
    binder = _Binder()
    body.visit(binder)
    return binder


def collect_nested_defs(body: cst.BaseSuite) -> dict[str, cst.FunctionDef]:
    out: dict[str, cst.FunctionDef] = {}

    class _Defs(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            out[node.name.value] = node
            return False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

    body.visit(_Defs())
    return out


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
