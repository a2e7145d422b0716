"""Source positions without LibCST's PositionProvider, which regenerates the whole module's
code to find them and cost more than parsing it.

The stdlib `ast` module parses the same text in C and knows every statement's line. Walking
the LibCST and `ast` statement lists side by side (they hold the same statements in the same
order; a LibCST line of `a; b` is two `ast` statements) maps every statement node to its
position. Anything else (an expression named in an error message) falls back to the exact
PositionProvider, computed once, only when asked: errors are rare, compiles are not.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any, NamedTuple

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider


class Pos(NamedTuple):
    line: int
    column: int  # 0-based, as LibCST counts


class Span(NamedTuple):
    start: Pos
    end: Pos


class Positions:
    """`positions(node) -> Span | None`; statement nodes are cheap, others exact but lazy."""

    def __init__(self, module: cst.Module, tree: ast.Module) -> None:
        self.module = module
        self._spans: dict[int, Span] = {}
        self.def_lines: dict[int, int] = {}  # FunctionDef -> the line of `def`
        self._exact: Any = None
        self._body(module.body, tree.body)

    def __call__(self, node: cst.CSTNode) -> Span | None:
        span = self._spans.get(id(node))
        if span is not None:
            return span
        return self.exact(node)

    def cheap(self, node: cst.CSTNode) -> Span | None:
        """The position if it costs nothing; None otherwise."""
        return self._spans.get(id(node))

    def exact(self, node: cst.CSTNode) -> Span | None:
        if self._exact is None:
            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._exact = wrapper.resolve(PositionProvider)
        rng = self._exact.get(node)
        if rng is None:
            return None
        return Span(Pos(rng.start.line, rng.start.column), Pos(rng.end.line, rng.end.column))

    def _set(self, node: cst.CSTNode, a: ast.AST) -> None:
        line = getattr(a, "lineno", None)
        if line is None:
            return
        end = getattr(a, "end_lineno", None) or line
        self._spans[id(node)] = Span(Pos(line, getattr(a, "col_offset", 0)),
                                     Pos(end, getattr(a, "end_col_offset", 0) or 0))

    def _body(self, stmts: Sequence[cst.CSTNode], nodes: Sequence[ast.stmt]) -> None:
        i = 0
        for stmt in stmts:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if i >= len(nodes):
                        return
                    self._set(small, nodes[i])
                    i += 1
                if stmt.body and id(stmt.body[0]) in self._spans:
                    self._spans[id(stmt)] = self._spans[id(stmt.body[0])]
                continue
            if i >= len(nodes):
                return
            self._compound(stmt, nodes[i])
            i += 1

    def _suite(self, suite: cst.BaseSuite, nodes: Sequence[ast.stmt]) -> None:
        if isinstance(suite, cst.IndentedBlock):
            self._body(suite.body, nodes)
            if suite.body and id(suite.body[0]) in self._spans:
                self._spans[id(suite)] = self._spans[id(suite.body[0])]
        elif isinstance(suite, cst.SimpleStatementSuite):
            for small, a in zip(suite.body, nodes, strict=False):
                self._set(small, a)
            if nodes:
                self._set(suite, nodes[0])

    def _compound(self, stmt: cst.CSTNode, a: ast.stmt) -> None:
        self._set(stmt, a)
        if isinstance(stmt, cst.FunctionDef) and isinstance(a, ast.FunctionDef | ast.AsyncFunctionDef):
            self.def_lines[id(stmt)] = a.lineno
            if a.decorator_list:
                start = a.decorator_list[0]
                span = self._spans[id(stmt)]
                self._spans[id(stmt)] = Span(Pos(start.lineno, start.col_offset - 1), span.end)
                for dec, d in zip(stmt.decorators, a.decorator_list, strict=False):
                    self._set(dec, d)
            self._suite(stmt.body, a.body)
        elif isinstance(stmt, cst.ClassDef) and isinstance(a, ast.ClassDef):
            self._suite(stmt.body, a.body)
        elif isinstance(stmt, cst.If) and isinstance(a, ast.If):
            self._suite(stmt.body, a.body)
            if isinstance(stmt.orelse, cst.If) and a.orelse:
                self._compound(stmt.orelse, a.orelse[0])
            elif isinstance(stmt.orelse, cst.Else):
                self._suite(stmt.orelse.body, a.orelse)
        elif isinstance(stmt, cst.For | cst.While) and isinstance(a, ast.For | ast.AsyncFor | ast.While):
            self._suite(stmt.body, a.body)
            if stmt.orelse is not None:
                self._suite(stmt.orelse.body, a.orelse)
        elif isinstance(stmt, cst.Try) and isinstance(a, ast.Try):
            self._suite(stmt.body, a.body)
            for h, ah in zip(stmt.handlers, a.handlers, strict=False):
                self._set(h, ah)
                self._suite(h.body, ah.body)
            if stmt.orelse is not None:
                self._suite(stmt.orelse.body, a.orelse)
                if a.orelse:  # an `else:` clause is placed at its first statement
                    self._set(stmt.orelse, a.orelse[0])
            if stmt.finalbody is not None:
                self._suite(stmt.finalbody.body, a.finalbody)
                if a.finalbody:
                    self._set(stmt.finalbody, a.finalbody[0])
        elif isinstance(stmt, cst.With) and isinstance(a, ast.With | ast.AsyncWith):
            self._suite(stmt.body, a.body)
        elif isinstance(stmt, cst.Match) and isinstance(a, ast.Match):
            for case, ac in zip(stmt.cases, a.cases, strict=False):
                self._set(case, ac.pattern)
                self._suite(case.body, ac.body)


def build(module: cst.Module, tree: ast.Module) -> Positions:
    """Positions of `module`'s statements, from `tree`, the `ast` of the same source."""
    return Positions(module, tree)
