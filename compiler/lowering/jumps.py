"""Lowering of `break`, `continue` and `return`: plain jumps between states, or trips
through the lowered `finally` blocks they cross, carried by completion records and
trampoline states. `JumpRewriter` does the same inside statements that pass through.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from compiler.ir import (
    Code,
    Goto,
    Ret,
)
from compiler.lowering.builder import BlockBuilder, Fin, Loop, S, unbind_text
from compiler.lowering.syntax import STATE_MARK
from compiler.passes.names import (
    children,
)


class JumpLowering(BlockBuilder):
    def _loop(self, node: cst.CSTNode) -> Loop:
        if not self.loops:
            raise self.error(node, "`break`/`continue` outside a loop")
        return self.loops[-1]

    # -- jumps ---------------------------------------------------------------------------

    def jump_text(self, target: int, loop: Loop) -> tuple[str, tuple[int, ...]]:
        state = self.names["state"]
        fins = self.fins[loop.fin_depth:]
        if not fins:
            return f"{state} = {S(target)}\ncontinue", (target,)
        record, entry = self.route_inner(target, fins)
        return f"{record}\n{state} = {S(entry)}\ncontinue", (entry,)

    def route_inner(self, target: int, fins: list[Fin]) -> tuple[str, int]:
        """`fins` is outermost first; the jump enters the innermost (last) first."""
        t = target
        for fin in fins[:-1]:  # outermost first: each gets a trampoline that enters it
            tramp = self.new_block(None, "finally jump")
            tramp.handler = None
            tramp.ops.append(Code(f"{fin.record} = ({self.rt}.JUMP, {S(t)})", None,
                                  writes=frozenset({fin.record})))
            tramp.term = Goto(fin.entry)
            fin.jump_targets.add(t)
            t = tramp.id
        inner = fins[-1]
        inner.jump_targets.add(t)
        return f"{inner.record} = ({self.rt}.JUMP, {S(t)})", inner.entry

    def jump_to(self, target: int, label: str, line: int, loop: Loop) -> None:
        fins = self.fins[loop.fin_depth:]
        if not fins:
            self.goto(target, label)
            return
        record, entry = self.route_inner(target, fins)
        self.emit(record, line, writes={fins[-1].record})
        self.goto(entry, label)

    def return_text(self, value: str) -> tuple[str, tuple[int, ...], bool]:
        if not self.fins:
            return f"return {self.rt}.Return({value})", (), True
        fin = self.fins[-1]
        state = self.names["state"]
        return (f"{fin.record} = ({self.rt}.RETURN, {value})\n{state} = {S(fin.entry)}\ncontinue",
                (fin.entry,), False)

    def lower_return(self, value: str | None, reads_: set[str], line: int | None) -> None:
        if not self.fins:
            self.terminate(Ret(value, frozenset(reads_), line))
            return
        fin = self.fins[-1]
        self.emit(f"{fin.record} = ({self.rt}.RETURN, {value})", line, reads_, {fin.record})
        self.goto(fin.entry, "return")


# -- passthrough jump rewriting -------------------------------------------------------------


class JumpRewriter(cst.CSTTransformer):
    """Rewrites `break`/`continue`/`return` that leave a passthrough statement (and a bare
    `raise` in a lowered `except` body) into dispatch-loop jumps."""

    def __init__(self, lowerer: JumpLowering) -> None:
        self.lw = lowerer
        self.loop_depth = 0
        self.handler_depth = 0
        self.exits: list[int] = []
        self.returns = False
        self.reads: set[str] = set()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_For(self, node: cst.For) -> None:
        self.loop_depth += 1

    def leave_For(self, original: cst.For, updated: cst.For) -> cst.For:
        self.loop_depth -= 1
        return updated

    def visit_For_orelse(self, node: cst.For) -> None:
        self.loop_depth -= 1

    def leave_For_orelse(self, node: cst.For) -> None:
        self.loop_depth += 1

    def visit_While(self, node: cst.While) -> None:
        self.loop_depth += 1

    def visit_While_orelse(self, node: cst.While) -> None:
        self.loop_depth -= 1

    def leave_While_orelse(self, node: cst.While) -> None:
        self.loop_depth += 1

    def leave_While(self, original: cst.While, updated: cst.While) -> cst.While:
        self.loop_depth -= 1
        return updated

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        self.handler_depth += 1

    def leave_ExceptHandler(
        self, original: cst.ExceptHandler, updated: cst.ExceptHandler
    ) -> cst.ExceptHandler:
        self.handler_depth -= 1
        return updated

    def _replacement(self, node: cst.BaseSmallStatement) -> str | None:
        lw = self.lw
        if isinstance(node, cst.Break | cst.Continue) and self.loop_depth == 0:
            loop = lw._loop(node)
            target = loop.brk if isinstance(node, cst.Break) else loop.cont
            text, exits = lw.jump_text(target, loop)
            self.exits.extend(exits)
            unbind = [unbind_text(name) for name in lw.unbinds_for_jump()]
            return "\n".join([*unbind, text])
        if isinstance(node, cst.Return):
            value = lw.value_text(node.value) if node.value is not None else "None"
            if node.value is not None:
                self.reads |= lw.reads_of(node.value)
            text, exits, returns = lw.return_text(value)
            self.exits.extend(exits)
            self.returns = self.returns or returns
            return text
        if isinstance(node, cst.Raise) and node.exc is None and self.handler_depth == 0 \
                and lw.except_vars:
            self.reads.add(lw.except_vars[-1])
            return f"raise {lw.rt}.reraise({lw.except_vars[-1]})"
        return None

    def _rewrite_body(
        self, body: Sequence[cst.BaseSmallStatement]
    ) -> list[cst.BaseSmallStatement] | None:
        out: list[cst.BaseSmallStatement] = []
        changed = False
        for small in body:
            text = self._replacement(small)
            if text is None:
                out.append(small)
                continue
            changed = True
            # parsed as a whole: a returned value may span lines (issue 13)
            parsed = cst.parse_module(STATE_MARK.sub(r"_tether_state_\1_", text) + "\n")
            for stmt in parsed.body:
                assert isinstance(stmt, cst.SimpleStatementLine)
                out.extend(s.with_changes(semicolon=cst.MaybeSentinel.DEFAULT) for s in stmt.body)
        if not changed:
            return None
        return [s.with_changes(semicolon=cst.MaybeSentinel.DEFAULT) for s in out[:-1]] + [
            out[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
        ]

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine:
        body = self._rewrite_body(updated.body)
        return updated if body is None else updated.with_changes(body=semicolons(body))

    def leave_SimpleStatementSuite(
        self, original: cst.SimpleStatementSuite, updated: cst.SimpleStatementSuite
    ) -> cst.SimpleStatementSuite:
        body = self._rewrite_body(updated.body)
        return updated if body is None else updated.with_changes(body=semicolons(body))


def semicolons(body: list[cst.BaseSmallStatement]) -> list[cst.BaseSmallStatement]:
    semi = cst.Semicolon(whitespace_after=cst.SimpleWhitespace(" "))
    return [s.with_changes(semicolon=semi) for s in body[:-1]] + [body[-1]]



def has_jumps(node: cst.CSTNode) -> bool:
    """Might `node` hold a break/continue/return/raise the jump rewriter must see?"""
    if isinstance(node, cst.Break | cst.Continue | cst.Return | cst.Raise):
        return True
    if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
        return False
    return any(has_jumps(child) for child in children(node))


def returns_inside_loop(node: cst.CSTNode) -> bool:
    class _Finder(cst.CSTVisitor):
        def __init__(self) -> None:
            self.depth = 0
            self.found = False

        def visit_For(self, n: cst.For) -> None:
            self.depth += 1

        def leave_For(self, n: cst.For) -> None:
            self.depth -= 1

        def visit_While(self, n: cst.While) -> None:
            self.depth += 1

        def leave_While(self, n: cst.While) -> None:
            self.depth -= 1

        def visit_Return(self, n: cst.Return) -> None:
            if self.depth:
                self.found = True

        def visit_FunctionDef(self, n: cst.FunctionDef) -> bool:
            return False

        def visit_Lambda(self, n: cst.Lambda) -> bool:
            return False

    finder = _Finder()
    node.visit(finder)
    return finder.found


