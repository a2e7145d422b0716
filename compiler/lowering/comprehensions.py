"""Lowering of list, set and dict comprehensions that await.

Inside an `async def`, Python runs `[await f(x) for x in xs]` eagerly and in order, as an
inline loop in a scope of its own. The lowering writes that loop out as states, the way a
`for` statement is lowered, keeping Python's semantics:

- the first iterable is evaluated once, in the enclosing scope, before anything else;
  the other iterables, the `if` clauses and the element are evaluated per item inside;
- the loop variables are local to the comprehension: each is renamed, everywhere the
  comprehension's scope sees it, to a fresh hidden local (`x` -> `_x_c0`), so it neither
  leaks nor clobbers an enclosing `x`, and every other name read inside is the enclosing
  one; a nested lambda or comprehension that binds the name again keeps its own;
- items are collected in a hidden accumulator (`_acc0`), which is the expression's value;
  a dict's key is evaluated before its value (Python 3.8+).

An await found only in the first iterable belongs to the enclosing scope: that iterable
is lowered and the comprehension itself is left as written, generator expressions
included. An await anywhere else in a generator expression would make it an async
generator, which no frame can hold: refused. (`async for` inside a comprehension is
refused earlier, by `collect`.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from compiler.errors import InternalCompilerError
from compiler.ir import Branch
from compiler.passes.names import children

if TYPE_CHECKING:
    from compiler.lowering.expressions import ExpressionLowering

Comprehension = cst.ListComp | cst.SetComp | cst.DictComp | cst.GeneratorExp

# The accumulator each kind starts from and how an item is added to it.
_EMPTY = {cst.ListComp: "[]", cst.SetComp: "set()", cst.DictComp: "{}"}
_ADD = {cst.ListComp: "{acc}.append({item})", cst.SetComp: "{acc}.add({item})"}


def comp_fors(node: Comprehension) -> list[cst.CompFor]:
    """The comprehension's `for` clauses, outermost first."""
    out = [node.for_in]
    while out[-1].inner_for_in is not None:
        out.append(out[-1].inner_for_in)
    return out


def bound_names(target: cst.BaseExpression) -> list[str]:
    """Names a `for` target binds, in source order (fresh names are numbered in this
    order, and the emitted module must not depend on set iteration order)."""
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, cst.Tuple | cst.List):
        return [name for el in target.elements for name in bound_names(el.value)]
    if isinstance(target, cst.StarredElement):
        return bound_names(target.value)
    return []


class RenameLocals(cst.CSTTransformer):
    """Renames names by `mapping` in one expression of a comprehension's scope, except
    where a nested lambda or comprehension binds the name again."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self.scopes = [mapping]
        self.not_names: set[int] = set()  # attribute names, keywords, lambda parameters
        # first `for` of a nested comprehension -> the scope its iterable is evaluated in
        self.outer_of: dict[int, dict[str, str]] = {}

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.not_names.add(id(node.attr))

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.not_names.add(id(node.keyword))

    def visit_Param(self, node: cst.Param) -> None:
        self.not_names.add(id(node.name))

    def visit_Lambda_body(self, node: cst.Lambda) -> None:
        params = node.params
        names = {p.name.value for p in (*params.posonly_params, *params.params,
                                        *params.kwonly_params)}
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                names.add(star.name.value)
        self._push(names)

    def leave_Lambda_body(self, node: cst.Lambda) -> None:
        self.scopes.pop()

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.ListComp | cst.SetComp | cst.DictComp | cst.GeneratorExp):
            self.outer_of[id(node.for_in)] = self.scopes[-1]
            self._push({n for f in comp_fors(node) for n in bound_names(f.target)})
        return super().on_visit(node)

    # leaving a nested comprehension: back to the scope around it (pushed by on_visit)
    def leave_ListComp(self, original_node: cst.ListComp, updated_node: cst.ListComp
                       ) -> cst.BaseExpression:
        self.scopes.pop()
        return updated_node

    def leave_SetComp(self, original_node: cst.SetComp, updated_node: cst.SetComp
                      ) -> cst.BaseExpression:
        self.scopes.pop()
        return updated_node

    def leave_DictComp(self, original_node: cst.DictComp, updated_node: cst.DictComp
                       ) -> cst.BaseExpression:
        self.scopes.pop()
        return updated_node

    def leave_GeneratorExp(self, original_node: cst.GeneratorExp,
                           updated_node: cst.GeneratorExp) -> cst.BaseExpression:
        self.scopes.pop()
        return updated_node

    def visit_CompFor_iter(self, node: cst.CompFor) -> None:
        # a nested comprehension's first iterable is evaluated in the scope around it
        self.scopes.append(self.outer_of.get(id(node), self.scopes[-1]))

    def leave_CompFor_iter(self, node: cst.CompFor) -> None:
        self.scopes.pop()

    def _push(self, shadowed: set[str]) -> None:
        self.scopes.append({k: v for k, v in self.scopes[-1].items() if k not in shadowed})

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        new = self.scopes[-1].get(original_node.value)
        if new is None or id(original_node) in self.not_names:
            return updated_node
        return updated_node.with_changes(value=new)


def record_origins(copy: cst.CSTNode, source: cst.CSTNode, out: dict[int, cst.CSTNode]) -> None:
    """Map each node of `copy` (a renamed `source`, the same shape) to its source node."""
    if copy is source:
        return
    out[id(copy)] = source
    for a, b in zip(children(copy), children(source), strict=True):
        record_origins(a, b, out)


def lower_comprehension(lw: ExpressionLowering, node: Comprehension) -> cst.BaseExpression:
    """Emit the states `node` needs; return the expression left to evaluate."""
    fors = comp_fors(node)
    first = fors[0]
    elements = [node.key, node.value] if isinstance(node, cst.DictComp) else [node.elt]
    inner = [*elements, *(c.test for f in fors for c in f.ifs),
             *(f.iter for f in fors[1:]), *(f.target for f in fors)]
    if not any(lw.awaits(part) for part in inner):
        # the await is in the first iterable, which the enclosing scope evaluates
        return node.with_changes(for_in=first.with_changes(iter=lw.lin(first.iter)))
    if isinstance(node, cst.GeneratorExp):
        raise lw.error(node, "await inside a generator expression is not supported: it "
                       "would be an async generator, which an orchestrator cannot hold",
                       "use a list comprehension, `[await ... for ...]`, which runs eagerly")
    if any(lw.awaits(f.target) for f in fors):
        raise lw.error(node, "await in a comprehension's `for` target is not supported")
    return _Loops(lw, node, fors).lower()


class _Loops:
    """One comprehension written out as nested loops adding to a hidden accumulator."""

    def __init__(self, lw: ExpressionLowering, node: cst.ListComp | cst.SetComp | cst.DictComp,
                 fors: list[cst.CompFor]) -> None:
        self.lw = lw
        self.node = node
        self.fors = fors
        self.line = lw.line(node)
        self.mapping: dict[str, str] = {}

    def lower(self) -> cst.BaseExpression:
        lw = self.lw
        source = lw.lin(self.fors[0].iter)  # in the enclosing scope, first, once
        for f in self.fors:
            for name in bound_names(f.target):
                if name not in self.mapping:
                    self.mapping[name] = lw.fresh(
                        f"_{name}_c", self.line, f"`{name}` of the comprehension at line {{line}}")
                    lw.written[self.mapping[name]] = name
        acc = lw.fresh("_acc", self.line)
        lw.emit(f"{acc} = {_EMPTY[type(self.node)]}", self.line, writes={acc})
        exit_b = lw.new_block(self.line, "end comprehension")
        exhausted = exit_b.id  # where the loop being entered goes when it runs out
        for i, f in enumerate(self.fors):
            if i:
                source = lw.lin(self.renamed(f.iter))
            exhausted = self.enter_loop(f, source, exhausted)
        self.add_item(acc)
        lw.goto(exhausted, "loop")
        lw.start(exit_b)
        return cst.Name(acc)

    def renamed(self, part: cst.BaseExpression) -> cst.BaseExpression:
        """`part` with the loop variables renamed to their hidden locals."""
        out = part.visit(RenameLocals(self.mapping))
        if not isinstance(out, cst.BaseExpression):
            raise InternalCompilerError("split", "renaming removed a comprehension part")
        self.lw.awaits.adopt(out)
        record_origins(out, part, self.lw.origins)
        return out

    def enter_loop(self, f: cst.CompFor, source: cst.BaseExpression, exhausted: int) -> int:
        """The loop over `source` (binding f's target) and its `if` clauses, leaving the
        current block where an item passed them all. Returns the loop's head."""
        lw, line = self.lw, self.line
        if isinstance(f.iter, cst.GeneratorExp):
            raise lw.error(f.iter, "a comprehension that awaits cannot walk a generator: it "
                           "would run ahead of the awaits and cannot be saved",
                           "walk a list comprehension instead: `for x in [...]`")
        seq = lw.fresh("_seq", line, "the items a `for` of the comprehension at line {line} walks")
        idx = lw.fresh("_i", line, "the position of a `for` of the comprehension at line {line}")
        lw.emit(f"{seq} = {lw.rt}.iter_source({lw.code(source)})\n{idx} = 0", line,
                lw.reads_of(source), {seq, idx})
        head = lw.enter(line, "comprehension for")
        body = lw.new_block(line, "comprehension body")
        header = f"for {lw.code(f.target)} in {lw.code(f.iter)}"
        lw.terminate(Branch(f"{idx} < {lw.runtime['len']}({seq})", frozenset({seq, idx}), body.id,
                            exhausted, line, "for", header))
        lw.start(body)
        target = self.renamed(f.target)
        names = set(bound_names(target))
        lw.emit(f"{lw.code(target)} = {seq}[{idx}]\n{idx} += 1", line,
                {seq, idx} | (lw.reads_of(target) - names), names | {idx})
        for clause in f.ifs:
            test = lw.lin(self.renamed(clause.test))
            kept = lw.new_block(line, "comprehension if")
            lw.terminate(Branch(lw.code(test), frozenset(lw.reads_of(test)), kept.id,
                                head.id, line, "if", f"if {lw.code(clause.test)}"))
            lw.start(kept)
        return head.id

    def add_item(self, acc: str) -> None:
        lw, node = self.lw, self.node
        if isinstance(node, cst.DictComp):
            key = lw.lin(self.renamed(node.key))  # the key first (Python 3.8+)
            value_part = self.renamed(node.value)
            if lw.awaits(value_part):
                key = lw.spill(key)
            value = lw.lin(value_part)
            text = f"{acc}[{lw.code(key)}] = {lw.code(value)}"
            used = lw.reads_of(key) | lw.reads_of(value)
        else:
            item = lw.lin(self.renamed(node.elt))
            text = _ADD[type(node)].format(acc=acc, item=lw.code(item))
            used = lw.reads_of(item)
        lw.emit(text, self.line, used | {acc})
