"""split: an orchestrator's body -> blocks joined by explicit terminators (`MachineIR`).

Consumes one `@orchestrator async def` (LibCST) found by `collect`. Produces a
`MachineIR` whose blocks hold the body's statements. Statements that contain no `await`
(and no jump that must leave them) pass through as written; only the constructs that
contain an await are lowered, as regenerator lowers generators:

- every `await X` becomes a suspension: the block ends with `Suspend(X)` and the next
  block starts by reading the task's outcome (`_f.received()`), raising its error there;
- operands evaluated before an await in the same expression are spilled to temporaries
  (`_t0`), so side effects keep their order across the suspension; `a and await f()`
  and `await f() if c else g` become branches;
- loops, `if`, `try`, `match` become blocks and branches; `break`/`continue`/`return`
  that cross a lowered `finally` travel through it with a completion record (`_fin0`).

Afterwards: entry block 0; every block terminated; targets exist (see `verify`).
Liveness and frame slots are `hoist`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst

from compiler.errors import CompileError, InternalCompilerError
from compiler.ir import (
    Block,
    Branch,
    Case,
    Code,
    FinallyEnd,
    Goto,
    MachineIR,
    Raise,
    Ret,
    Suspend,
    Switch,
    Unit,
)
from compiler.passes.names import (
    COMPREHENSIONS,
    AwaitIndex,
    bindings,
    children,
    closure_reads,
    reads,
)
from compiler.passes.positions import Positions

TASK_METHODS = {
    "call_activity": "activity",
    "call_sub_orchestrator": "sub_orchestration",
    "create_timer": "timer",
    "sleep": "timer",
    "wait_for_external_event": "event",
    "when_all": "when_all",
    "when_any": "when_any",
}

def S(state: int) -> str:
    """A state number inside emitted text; `emit` substitutes the final numbering."""
    return f"\x00{state}\x00"


STABLE = (
    cst.Name, cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.Ellipsis,
)


@dataclass
class _Loop:
    brk: int
    cont: int
    fin_depth: int


@dataclass
class _Fin:
    record: str
    entry: int
    jump_targets: set[int] = field(default_factory=set)


class Lowerer:
    """Builds the blocks of one orchestrator."""

    def __init__(
        self, fn: cst.FunctionDef, module: cst.Module, path: str,
        positions: Positions, reg_name: str,
        module_names: set[str], source_lines: list[str],
    ) -> None:
        self.fn = fn
        self.module = module
        self.lines = source_lines
        self.path = path
        self._positions = positions
        self.reg_name = reg_name
        self.awaits = AwaitIndex()
        self.blocks: dict[int, Block] = {}
        self.loops: list[_Loop] = []
        self.fins: list[_Fin] = []
        self.except_vars: list[str] = []
        self.handler: int | None = None
        self._counters: dict[str, int] = {}
        params = list(fn.params.params)
        if not params or fn.params.posonly_params or fn.params.kwonly_params \
                or fn.params.star_arg not in (cst.MaybeSentinel.DEFAULT, None) \
                or fn.params.star_kwarg is not None or len(params) > 2:
            raise self.error(fn, f"orchestrator {fn.name.value}() must take (ctx) or (ctx, input)")
        self.ctx = params[0].name.value
        ann = params[0].annotation
        self.ctx_annotation = self.code(ann.annotation) if ann is not None else None
        self.input = params[1].name.value if len(params) == 2 else None
        binder = self.binder = bindings(fn.body)
        self.local_names = binder.bound | binder.imports | set(binder.defs) | binder.classes
        if self.input:
            self.local_names.add(self.input)
        self.taken = reads(fn) | self.local_names | module_names
        self.names = {
            "frame": self.fresh("_f"), "state": self.fresh("_state"),
            "exc": self.fresh("_exc"), "err": self.fresh("_err"),
        }
        self.cur: Block | None = None
        self.stmt_line = self.fn_line()
        self.unsaveable: dict[str, tuple[int, int, str]] = {}
        # imports inside the body, by bound name: re-run at machine entry when live across
        # an await (a module cannot be saved, but importing it again is free and the same)
        self.imports: dict[str, str] = {}

    # -- helpers -------------------------------------------------------------------

    def fresh(self, base: str) -> str:
        n = self._counters.get(base, 0)
        while True:
            name = f"{base}{n}" if base not in ("_f", "_state", "_exc", "_err") or n else base
            n += 1
            if name not in self.taken:
                self._counters[base] = n
                self.taken.add(name)
                if base not in ("_f", "_state", "_exc", "_err"):
                    self.local_names.add(name)
                return name

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def source_text(self, node: cst.CSTNode) -> str:
        """An unchanged statement's text, comments above it included, sliced from the
        source (LibCST's code generation costs as much as a third of lowering)."""
        span = self._positions.cheap(node)
        if span is None or not isinstance(node, cst.BaseStatement):
            return _clean(self.code(node))
        if isinstance(node, cst.If) and self.lines[span.start.line - 1].lstrip().startswith("elif"):
            return _clean(self.code(node))  # an `elif` standing alone is rendered as an `if`
        leading = getattr(node, "leading_lines", ())
        first = span.start.line - len(leading)
        return _clean("\n".join(self.lines[first - 1: span.end.line]))

    def pos(self, node: cst.CSTNode) -> tuple[int, int]:
        rng = self._positions(node)
        if rng is None:
            return (self.fn_line(), 1)
        return rng.start.line, rng.start.column + 1

    def line_cheap(self, node: cst.CSTNode) -> int:
        """The node's line if known without the exact (slow) lookup, else the current
        statement's line."""
        rng = self._positions.cheap(node)
        return rng.start.line if rng is not None else self.stmt_line

    def fn_line(self) -> int:
        return self._positions.def_lines.get(id(self.fn), 1)

    def line(self, node: cst.CSTNode) -> int:
        return self.line_cheap(node)

    def error(self, node: cst.CSTNode, message: str, hint: str | None = None) -> CompileError:
        line, col = self.pos(node)
        return CompileError(self.path, line, col, message, hint)

    def new_block(self, line: int | None = None, label: str = "") -> Block:
        block = Block(len(self.blocks), line=line, label=label, handler=self.handler)
        self.blocks[block.id] = block
        return block

    def start(self, block: Block) -> None:
        self.cur = block

    def block(self) -> Block:
        if self.cur is None:  # code after return/break/raise: unreachable, pruned later
            self.cur = self.new_block(label="unreachable")
        return self.cur

    def emit(
        self, text: str, line: int | None, reads_: set[str] | frozenset[str] = frozenset(),
        writes: set[str] | frozenset[str] = frozenset(), exits: Sequence[int] = (),
        returns: bool = False,
    ) -> None:
        block = self.block()
        if block.handler != self.handler:
            nxt = self.new_block(line)
            self.terminate(Goto(nxt.id))
            self.start(nxt)
            block = nxt
        block.ops.append(Code(text, line, frozenset(reads_) & self.local_names,
                              frozenset(writes), tuple(exits), returns))

    def terminate(self, term: Goto | Branch | Suspend | Ret | Raise | Switch | FinallyEnd) -> None:
        block = self.block()
        block.term = term
        self.cur = None

    def goto(self, target: int, label: str = "next") -> None:
        self.terminate(Goto(target, label))

    def enter(self, line: int | None, label: str) -> Block:
        """End the current block with a jump to a fresh one and continue there."""
        nxt = self.new_block(line, label)
        self.goto(nxt.id)
        self.start(nxt)
        return nxt

    def value_text(self, node: cst.BaseExpression) -> str:
        """An expression's text, parenthesised when it is a bare tuple (`return a, b`)."""
        text = self.code(node)
        if isinstance(node, cst.Tuple) and not node.lpar:
            return f"({text})"
        return text

    def reads_of(self, node: cst.CSTNode) -> set[str]:
        return reads(node) & self.local_names

    # -- entry -----------------------------------------------------------------------

    def lower(self) -> MachineIR:
        entry = self.new_block(self.fn_line(), "start")
        self.start(entry)
        if self.input:
            self.emit(f"{self.input} = {self.names['frame']}.input", self.fn_line(),
                      writes={self.input})
        self.lower_body(self.fn.body)
        if self.cur is not None:
            self.lower_return(None, set(), None)
        return MachineIR(
            name=self.fn.name.value, reg_name=self.reg_name, path=self.path,
            line=self.fn_line(), ctx_param=self.ctx, ctx_annotation=self.ctx_annotation,
            input_param=self.input, blocks=self.blocks,
            locals=sorted(self.local_names), hoisted_defs=[], names=self.names,
        )

    def lower_body(self, body: cst.BaseSuite | Sequence[cst.BaseStatement]) -> None:
        stmts: Sequence[cst.CSTNode]
        if isinstance(body, cst.IndentedBlock):
            stmts = body.body
        elif isinstance(body, cst.SimpleStatementSuite):
            line = self.line(body)
            for small in body.body:
                self.lower_small(small, line)
            return
        elif isinstance(body, cst.BaseSuite):
            raise InternalCompilerError("split", f"unknown suite {type(body).__name__}")
        else:
            stmts = body
        for stmt in stmts:
            self.lower_stmt(stmt)

    # -- statements --------------------------------------------------------------------

    def lower_stmt(self, stmt: cst.CSTNode) -> None:
        line = self.stmt_line = self.line(stmt)
        if isinstance(stmt, cst.SimpleStatementLine):
            if not self.awaits(stmt) and not self._has_jump(stmt) and not self._has_del(stmt):
                self.emit_passthrough(stmt, line)
                return
            for small in stmt.body:
                self.lower_small(small, line)
            return
        if isinstance(stmt, cst.FunctionDef):
            if stmt.asynchronous is not None:
                raise self.error(stmt, "nested `async def` is not supported in an orchestrator",
                                 "move it to module level as an activity or sub-orchestrator")
            self.emit_passthrough(stmt, line, writes={stmt.name.value})
            return
        if isinstance(stmt, cst.ClassDef):
            self.note_unsaveable(stmt)
            self.emit_passthrough(stmt, line, writes={stmt.name.value})
            return
        if not self._needs_lowering(stmt):
            self.emit_passthrough(stmt, line)
            return
        if isinstance(stmt, cst.If):
            self.lower_if(stmt)
        elif isinstance(stmt, cst.While):
            self.lower_while(stmt)
        elif isinstance(stmt, cst.For):
            if stmt.asynchronous is not None:
                raise self.error(stmt, "`async for` is not supported in an orchestrator",
                                 "await tasks from the context inside a plain `for`")
            self.lower_for(stmt)
        elif isinstance(stmt, cst.Try):
            self.lower_try(stmt)
        elif isinstance(stmt, cst.Match):
            self.lower_match(stmt)
        elif isinstance(stmt, cst.With):
            what = "`async with`" if stmt.asynchronous is not None else "a `with` block"
            raise self.error(stmt, f"{what} cannot span an await in an orchestrator",
                             "close the resource before awaiting, or do the work in an activity")
        elif isinstance(stmt, cst.TryStar):
            raise self.error(stmt, "`try/except*` around an await is not supported")
        else:
            raise self.error(stmt, f"{type(stmt).__name__} around an await is not supported")

    def _needs_lowering(self, stmt: cst.CSTNode) -> bool:
        if self.awaits(stmt):
            return True
        # A passthrough loop cannot send a `return` through a lowered `finally`: the jump
        # is `continue` of the dispatch loop, which an inner Python loop would capture.
        return bool(self.fins) and _returns_inside_loop(stmt)

    def note_unsaveable(self, node: cst.CSTNode) -> None:
        """Remember locals bound to values no frame can hold (reported only if live)."""
        if isinstance(node, cst.Import | cst.ImportFrom):
            names = bindings(cst.SimpleStatementLine(body=[node])).imports
            for name in names:
                self.imports[name] = _clean(self.code(node))
            return
        if isinstance(node, cst.ClassDef):
            line, col = self.pos(node)
            self.unsaveable[node.name.value] = (line, col, "a class")
            return
        if not isinstance(node, cst.Assign):
            return
        what = None
        if isinstance(node.value, cst.Lambda):
            what = "a lambda"
        elif isinstance(node.value, cst.GeneratorExp):
            what = "a generator"
        elif isinstance(node.value, cst.Call) and isinstance(node.value.func, cst.Name) \
                and node.value.func.value == "open":
            what = "an open file"
        if what is None:
            return
        line, col = self.pos(node)
        for t in node.targets:
            for name in _target_names(t.target):
                self.unsaveable[name] = (line, col, what)

    def emit_passthrough(self, node: cst.CSTNode, line: int, writes: set[str] | None = None) -> None:
        if isinstance(node, cst.SimpleStatementLine):
            for small in node.body:
                self.note_unsaveable(small)
        if isinstance(node, cst.SimpleStatementLine) and any(
                isinstance(small, cst.AnnAssign) for small in node.body):
            for small in node.body:
                self.lower_small(small, line)
            return
        if _has_annotations(node):
            node = _strip_annotations(node)
        elif not _has_jumps(node):
            self.emit(self.source_text(node), line, self.reads_of(node),
                      writes if writes is not None else _definite_writes(node))
            return
        if not _has_jumps(node):
            self.emit(_clean(self.code(node)), line, self.reads_of(node),
                      writes if writes is not None else _definite_writes(node))
            return
        rewriter = _JumpRewriter(self)
        new = node.visit(rewriter)
        if not isinstance(new, cst.CSTNode):
            raise InternalCompilerError("split", "jump rewriting removed a statement")
        text = _STATE_NAME.sub("\x00\\1\x00", self.code(new))
        self.emit(_clean(text), line, self.reads_of(node) | rewriter.reads,
                  writes if writes is not None else _definite_writes(node),
                  rewriter.exits, rewriter.returns)

    def _has_jump(self, stmt: cst.SimpleStatementLine) -> bool:
        return any(
            isinstance(s, cst.Break | cst.Continue | cst.Return)
            or (isinstance(s, cst.Raise) and s.exc is None and self.except_vars)
            for s in stmt.body
        )

    def _has_del(self, stmt: cst.SimpleStatementLine) -> bool:
        return any(isinstance(s, cst.Del) for s in stmt.body)

    def lower_small(self, node: cst.BaseSmallStatement, line: int) -> None:
        if isinstance(node, cst.Pass):
            return
        if isinstance(node, cst.Break):
            self.jump_to(self._loop(node).brk, "break", line, self._loop(node))
            return
        if isinstance(node, cst.Continue):
            self.jump_to(self._loop(node).cont, "continue", line, self._loop(node))
            return
        if isinstance(node, cst.Return):
            if node.value is None:
                self.lower_return(None, set(), line)
            else:
                value = self.lin(node.value)
                self.lower_return(self.value_text(value), self.reads_of(value), line)
            return
        if isinstance(node, cst.Raise) and node.exc is None and self.except_vars:
            var = self.except_vars[-1]
            self.terminate(Raise(f"raise {var}", frozenset({var}), line))
            return
        if isinstance(node, cst.Del):
            self.lower_del(node, line)
            return
        if isinstance(node, cst.Global | cst.Nonlocal):
            raise self.error(node, f"`{self.code(node).split()[0]}` is not allowed in an orchestrator",
                             "keep state in locals; they are saved in the frame")
        if isinstance(node, cst.Raise) and not self.awaits(node):
            self.terminate(Raise(_clean(self.code(node)), frozenset(self.reads_of(node)), line))
            return
        if isinstance(node, cst.AnnAssign) and not self.awaits(node):
            # machine locals are declared once, as Any; an annotation here would redeclare
            if node.value is None:
                return
            node_ = cst.Assign(targets=[cst.AssignTarget(node.target)], value=node.value)
            self.emit(_clean(self.code(node_)), line, self.reads_of(node.value),
                      _definite_writes(node_))
            return
        if not self.awaits(node):
            self.note_unsaveable(node)
            self.emit(_clean(self.code(node)), line, self.reads_of(node), _definite_writes(node))
            return
        if isinstance(node, cst.Expr):
            value = self.lin(node.value)
            self.emit(self.code(value), line, self.reads_of(value))
        elif isinstance(node, cst.Assign):
            if any(self.awaits(t) for t in node.targets):
                raise self.error(node, "await in an assignment target is not supported")
            value = self.lin(node.value)
            self.emit(self.code(node.with_changes(value=value, semicolon=cst.MaybeSentinel.DEFAULT)),
                      line, self.reads_of(value) | self.reads_of_targets(node.targets),
                      _definite_writes(node))
        elif isinstance(node, cst.AnnAssign):
            if node.value is None:
                return
            value = self.lin(node.value)
            target = self.code(node.target)
            self.emit(f"{target} = {self.code(value)}", line,
                      self.reads_of(value), _definite_writes(node))
        elif isinstance(node, cst.AugAssign):
            aug_target = self.spill_parts(node.target)
            value = self.lin(node.value)
            self.emit(self.code(node.with_changes(target=aug_target, value=value,
                                                  semicolon=cst.MaybeSentinel.DEFAULT)),
                      line, self.reads_of(aug_target) | self.reads_of(value))
        elif isinstance(node, cst.Raise):
            exc = self.lin(node.exc) if node.exc is not None else None
            cause = None
            if node.cause is not None:
                cause = self.lin(node.cause.item)
            text = "raise" + (f" {self.code(exc)}" if exc is not None else "")
            text += f" from {self.code(cause)}" if cause is not None else ""
            reads_ = (self.reads_of(exc) if exc is not None else set()) | (
                self.reads_of(cause) if cause is not None else set())
            self.terminate(Raise(text, frozenset(reads_), line))
        elif isinstance(node, cst.Assert):
            if node.msg is not None and self.awaits(node.msg):
                raise self.error(node, "await in an assert message is not supported")
            test = self.lin(node.test)
            msg = f", {self.code(node.msg)}" if node.msg is not None else ""
            self.emit(f"assert {self.code(test)}{msg}", line, self.reads_of(node))
        else:
            raise self.error(node, f"await inside `{type(node).__name__}` is not supported")

    def reads_of_targets(self, targets: Sequence[cst.AssignTarget]) -> set[str]:
        out: set[str] = set()
        for t in targets:
            if not isinstance(t.target, cst.Name):
                out |= self.reads_of(t.target)
        return out

    def lower_del(self, node: cst.Del, line: int) -> None:
        # `del x` of a local becomes `x = UNBOUND`: a deleted local must not be saved, and
        # the frame only skips UNBOUND values.
        targets = node.target.elements if isinstance(node.target, cst.Tuple) else None
        items = [el.value for el in targets] if targets is not None else [node.target]
        for item in items:
            if isinstance(item, cst.Name) and item.value in self.local_names:
                self.emit(f"{item.value} = _rt.UNBOUND", line, writes={item.value})
            else:
                self.emit(f"del {self.code(item)}", line, self.reads_of(item))

    def _loop(self, node: cst.CSTNode) -> _Loop:
        if not self.loops:
            raise self.error(node, "`break`/`continue` outside a loop")
        return self.loops[-1]

    # -- jumps ---------------------------------------------------------------------------

    def jump_text(self, target: int, loop: _Loop) -> tuple[str, tuple[int, ...]]:
        state = self.names["state"]
        fins = self.fins[loop.fin_depth:]
        if not fins:
            return f"{state} = {S(target)}\ncontinue", (target,)
        record, entry = self.route_inner(target, fins)
        return f"{record}\n{state} = {S(entry)}\ncontinue", (entry,)

    def route_inner(self, target: int, fins: list[_Fin]) -> tuple[str, int]:
        """`fins` is outermost first; the jump enters the innermost (last) first."""
        t = target
        for fin in fins[:-1]:  # outermost first: each gets a trampoline that enters it
            tramp = self.new_block(None, "finally jump")
            tramp.handler = None
            tramp.ops.append(Code(f"{fin.record} = (_rt.JUMP, {S(t)})", None,
                                  writes=frozenset({fin.record})))
            tramp.term = Goto(fin.entry)
            fin.jump_targets.add(t)
            t = tramp.id
        inner = fins[-1]
        inner.jump_targets.add(t)
        return f"{inner.record} = (_rt.JUMP, {S(t)})", inner.entry

    def jump_to(self, target: int, label: str, line: int, loop: _Loop) -> None:
        fins = self.fins[loop.fin_depth:]
        if not fins:
            self.goto(target, label)
            return
        record, entry = self.route_inner(target, fins)
        self.emit(record, line, writes={fins[-1].record})
        self.goto(entry, label)

    def return_text(self, value: str) -> tuple[str, tuple[int, ...], bool]:
        if not self.fins:
            return f"return _rt.Return({value})", (), True
        fin = self.fins[-1]
        state = self.names["state"]
        return (f"{fin.record} = (_rt.RETURN, {value})\n{state} = {S(fin.entry)}\ncontinue",
                (fin.entry,), False)

    def lower_return(self, value: str | None, reads_: set[str], line: int | None) -> None:
        if not self.fins:
            self.terminate(Ret(value, frozenset(reads_), line))
            return
        fin = self.fins[-1]
        self.emit(f"{fin.record} = (_rt.RETURN, {value})", line, reads_, {fin.record})
        self.goto(fin.entry, "return")

    # -- compound statements ----------------------------------------------------------------

    def lower_if(self, node: cst.If) -> None:
        line = self.line(node)
        test = self.lin(node.test)
        exit_b = self.new_block(None, "end if")
        then_b = self.new_block(self.line(node.body), "then")
        else_b = self.new_block(None, "else") if node.orelse is not None else exit_b
        self.terminate(Branch(self.code(test), frozenset(self.reads_of(test)), then_b.id,
                              else_b.id, line, "if"))
        self.start(then_b)
        self.lower_body(node.body)
        if self.cur is not None:
            self.goto(exit_b.id)
        if node.orelse is not None:
            self.start(else_b)
            if isinstance(node.orelse, cst.If):
                self.lower_stmt(node.orelse)
            else:
                self.lower_body(node.orelse.body)
            if self.cur is not None:
                self.goto(exit_b.id)
        self.start(exit_b)

    def lower_while(self, node: cst.While) -> None:
        line = self.line(node)
        head = self.enter(line, "while")
        exit_b = self.new_block(None, "end while")
        body_b = self.new_block(self.line(node.body), "while body")
        else_b = self.new_block(None, "while else") if node.orelse is not None else exit_b
        test = self.lin(node.test)
        cond = self.code(test)
        if cond.strip() == "True":
            self.goto(body_b.id)
        else:
            self.terminate(Branch(cond, frozenset(self.reads_of(test)), body_b.id, else_b.id,
                                  line, "while"))
        self.loops.append(_Loop(exit_b.id, head.id, len(self.fins)))
        self.start(body_b)
        self.lower_body(node.body)
        if self.cur is not None:
            self.goto(head.id, "loop")
        self.loops.pop()
        if node.orelse is not None:
            self.start(else_b)
            self.lower_body(node.orelse.body)
            if self.cur is not None:
                self.goto(exit_b.id)
        self.start(exit_b)

    def lower_for(self, node: cst.For) -> None:
        line = self.line(node)
        it = self.lin(node.iter)
        seq, idx = self.fresh("_seq"), self.fresh("_i")
        self.emit(f"{seq} = _rt.iter_source({self.code(it)})\n{idx} = 0", line,
                  self.reads_of(it), {seq, idx})
        head = self.enter(line, "for")
        exit_b = self.new_block(None, "end for")
        body_b = self.new_block(line, "for body")
        else_b = self.new_block(None, "for else") if node.orelse is not None else exit_b
        self.terminate(Branch(f"{idx} < len({seq})", frozenset({seq, idx}), body_b.id,
                              else_b.id, line, "for"))
        self.start(body_b)
        target = self.code(node.target)
        self.emit(f"{target} = {seq}[{idx}]\n{idx} += 1", line,
                  {seq, idx} | self.reads_of_target_expr(node.target),
                  _target_names(node.target) | {idx})
        self.loops.append(_Loop(exit_b.id, head.id, len(self.fins)))
        self.lower_body(node.body)
        if self.cur is not None:
            self.goto(head.id, "loop")
        self.loops.pop()
        if node.orelse is not None:
            self.start(else_b)
            self.lower_body(node.orelse.body)
            if self.cur is not None:
                self.goto(exit_b.id)
        self.start(exit_b)

    def reads_of_target_expr(self, target: cst.BaseExpression) -> set[str]:
        if isinstance(target, cst.Name):
            return set()
        return self.reads_of(target) - _target_names(target)

    def lower_try(self, node: cst.Try) -> None:
        line = self.line(node)
        outer_handler = self.handler
        exit_b = self.new_block(None, "end try")
        exc = self.names["exc"]
        fin: _Fin | None = None
        raise_entry: Block | None = None
        if node.finalbody is not None:
            entry = self.new_block(self.line(node.finalbody), "finally")
            entry.handler = outer_handler
            fin = _Fin(self.fresh("_fin"), entry.id)
            raise_entry = self.new_block(None, "finally (exception)")
            raise_entry.handler = outer_handler
            raise_entry.ops.append(Code(f"{fin.record} = (_rt.RAISE, {exc})", None,
                                        frozenset({exc}), frozenset({fin.record})))
            raise_entry.term = Goto(entry.id, "exception")
        dispatch: Block | None = None
        if node.handlers:
            dispatch = self.new_block(self.line(node.handlers[0]), "except")
            dispatch.handler = raise_entry.id if raise_entry else outer_handler
        body_handler = dispatch.id if dispatch else (raise_entry.id if raise_entry else None)
        if fin is not None:
            self.fins.append(fin)
        self.handler = body_handler
        self.enter(line, "try")
        self.lower_body(node.body)
        after_handler = raise_entry.id if raise_entry else outer_handler
        if self.cur is not None:
            self.handler = after_handler
            if node.orelse is not None:
                self.enter(self.line(node.orelse), "try else")
                self.lower_body(node.orelse.body)
            if self.cur is not None:
                self.finish_try_clause(fin, exit_b, line)
        self.handler = after_handler
        if dispatch is not None:
            self.lower_handlers(node, dispatch, fin, exit_b)
        if fin is not None:
            self.fins.pop()
            self.handler = outer_handler
            self.start(self.blocks[fin.entry])
            self.lower_body(node.finalbody.body)  # type: ignore[union-attr]
            outer = self.fins[-1] if self.fins else None
            if self.cur is not None:
                self.terminate(FinallyEnd(
                    fin.record, exit_b.id, tuple(sorted(fin.jump_targets)),
                    outer.record if outer else None, outer.entry if outer else None, line,
                ))
        self.handler = outer_handler
        self.start(exit_b)

    def finish_try_clause(self, fin: _Fin | None, exit_b: Block, line: int) -> None:
        if fin is None:
            self.goto(exit_b.id)
        else:
            self.emit(f"{fin.record} = (_rt.NEXT, None)", None, writes={fin.record})
            self.goto(fin.entry)

    def lower_handlers(self, node: cst.Try, dispatch: Block, fin: _Fin | None,
                       exit_b: Block) -> None:
        exc = self.names["exc"]
        evar = self.fresh("_e")
        self.local_names.add(evar)
        self.start(dispatch)
        self.emit(f"{evar} = {exc}", dispatch.line, {exc}, {evar})
        cases: list[Case] = []
        bodies: list[tuple[cst.ExceptHandler, Block]] = []
        for h in node.handlers:
            if h.type is not None and self.awaits(h.type):
                raise self.error(h, "await in an `except` clause's type is not supported")
            hb = self.new_block(self.line(h), "except body")
            name = h.name.name.value if h.name is not None and isinstance(h.name.name, cst.Name) else None
            test = self.code(h.type) if h.type is not None else "BaseException"
            reads_ = self.reads_of(h.type) if h.type is not None else set()
            cases.append(Case(test, hb.id, frozenset(reads_), name))
            bodies.append((h, hb))
        default: int | None = None
        if fin is not None:
            reraise = self.new_block(None, "finally (exception)")
            reraise.ops.append(Code(f"{fin.record} = (_rt.RAISE, {evar})", None,
                                    frozenset({evar}), frozenset({fin.record})))
            reraise.term = Goto(fin.entry, "exception")
            default = reraise.id
        self.terminate(Switch("except", evar, frozenset({evar}), cases, default, dispatch.line))
        for h, hb in bodies:
            self.start(hb)
            self.except_vars.append(evar)
            self.lower_body(h.body)
            self.except_vars.pop()
            if self.cur is not None:
                self.finish_try_clause(fin, exit_b, self.line(h))

    def lower_match(self, node: cst.Match) -> None:
        line = self.line(node)
        subject = self.lin(node.subject)
        m = self.fresh("_m")
        self.local_names.add(m)
        self.emit(f"{m} = {self.code(subject)}", line, self.reads_of(subject), {m})
        exit_b = self.new_block(None, "end match")
        cases: list[Case] = []
        bodies: list[tuple[cst.MatchCase, Block]] = []
        irrefutable = False
        for case in node.cases:
            if case.guard is not None and self.awaits(case.guard):
                raise self.error(case, "await in a `case` guard is not supported")
            cb = self.new_block(self.line(case), "case")
            test = self.code(case.pattern)
            if case.guard is not None:
                test += f" if {self.code(case.guard)}"
            cases.append(Case(test, cb.id, frozenset(self.reads_of(case.pattern)
                                                     | (self.reads_of(case.guard) if case.guard else set()))))
            bodies.append((case, cb))
            if case.guard is None and isinstance(case.pattern, cst.MatchAs) and case.pattern.pattern is None:
                irrefutable = True
        self.terminate(Switch("match", m, frozenset({m}), cases,
                              None if irrefutable else exit_b.id, line))
        for case, cb in bodies:
            self.start(cb)
            self.lower_body(case.body)
            if self.cur is not None:
                self.goto(exit_b.id)
        self.start(exit_b)

    # -- expressions -------------------------------------------------------------------------

    def lin(self, node: cst.BaseExpression) -> cst.BaseExpression:
        """Emit the suspensions and spills `node` needs; return what is left to evaluate."""
        if not self.awaits(node):
            return node
        if isinstance(node, cst.Await):
            return self.lower_await(node)
        if isinstance(node, cst.IfExp):
            return self.lower_ifexp(node)
        if isinstance(node, cst.BooleanOperation):
            return self.lower_boolop(node)
        if isinstance(node, COMPREHENSIONS):
            raise self.error(node, "await inside a comprehension is not supported",
                             "write a `for` loop, or fan out with ctx.when_all([...])")
        if isinstance(node, cst.Comparison) and len(node.comparisons) > 1 and any(
            self.awaits(c.comparator) for c in node.comparisons[1:]
        ):
            raise self.error(node, "await inside a chained comparison is not supported",
                             "await into a variable first")
        if isinstance(node, cst.NamedExpr):
            return node.with_changes(value=self.lin(node.value))
        children = _eval_children(node)
        if children is None:
            raise self.error(node, f"await inside `{type(node).__name__}` is not supported")
        last = max(i for i, c in enumerate(children) if self.awaits(c))
        mapping: dict[int, cst.CSTNode] = {}
        for child in children[: last + 1]:
            if self.awaits(child):
                mapping[id(child)] = self.lin(child)
            elif isinstance(node, cst.Call) and child is node.func:
                mapping[id(child)] = self.spill_parts(child)
            elif not _stable(child):
                mapping[id(child)] = self.spill(child)
        return _replace(node, mapping)

    def spill(self, node: cst.BaseExpression) -> cst.BaseExpression:
        if _stable(node):
            return node
        tmp = self.fresh("_t")
        self.local_names.add(tmp)
        self.emit(f"{tmp} = {self.code(node)}", self.line(node), self.reads_of(node), {tmp})
        return cst.Name(tmp)

    def spill_parts(self, node: cst.BaseExpression) -> cst.BaseExpression:
        """Spill the operands of a callee or assignment target, not the value itself (a bound
        method cannot be saved; the object it is bound to can)."""
        if _stable(node):
            return node
        if isinstance(node, cst.Attribute):
            return node.with_changes(value=self.spill(node.value))
        if isinstance(node, cst.Subscript):
            value = self.spill(node.value)
            mapping: dict[int, cst.CSTNode] = {}
            for el in node.slice:
                if isinstance(el.slice, cst.Index):
                    mapping[id(el.slice.value)] = self.spill(el.slice.value)
            return _replace(node.with_changes(value=value), mapping)
        return self.spill(node)

    def lower_await(self, node: cst.Await) -> cst.BaseExpression:
        inner = self.lin(node.expression)
        kind, name = self.task_kind(inner)
        tmp = self.fresh("_a")
        self.local_names.add(tmp)
        line = self.line(node)
        resume = self.new_block(line, f"after await {name or kind}")
        resume.resume = True
        self.terminate(Suspend(self.code(inner), frozenset(self.reads_of(inner)), resume.id,
                               line, kind, name))
        self.start(resume)
        self.emit(f"{tmp} = {self.names['frame']}.received()", line, writes={tmp})
        return cst.Name(tmp)

    def task_kind(self, expr: cst.BaseExpression) -> tuple[str, str | None]:
        """What an awaited expression waits for: (kind, name) for graphs and messages."""
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
                and isinstance(expr.func.value, cst.Name) and expr.func.value.value == self.ctx:
            method = expr.func.attr.value
            kind = TASK_METHODS.get(method)
            if kind is None:
                raise self.error(expr, f"`{self.ctx}.{method}()` is not a durable task",
                                 "await call_activity, call_sub_orchestrator, create_timer, "
                                 "sleep, wait_for_external_event, when_all or when_any")
            name: str | None = None
            if expr.args and kind in ("activity", "sub_orchestration", "event"):
                first = expr.args[0].value
                if isinstance(first, cst.Name | cst.Attribute):
                    name = self.code(first)
                elif isinstance(first, cst.SimpleString):
                    name = first.evaluated_value if isinstance(first.evaluated_value, str) else None
            return kind, name
        if isinstance(expr, cst.Call):
            raise self.error(
                expr, f"`await {self.code(expr)}`: only durable tasks from the context can be "
                "awaited in an orchestrator (DET007)",
                "use ctx.call_activity(...) for work, ctx.sleep(...) for waiting")
        if isinstance(expr, cst.Name | cst.Subscript | cst.Attribute):
            return "task", self.code(expr)
        raise self.error(expr, f"`await {self.code(expr)}` does not await a durable task (DET007)")

    def lower_ifexp(self, node: cst.IfExp) -> cst.BaseExpression:
        tmp = self.fresh("_t")
        self.local_names.add(tmp)
        line = self.line(node)
        test = self.lin(node.test)
        exit_b = self.new_block(line, "end conditional")
        then_b = self.new_block(line, "conditional then")
        else_b = self.new_block(line, "conditional else")
        self.terminate(Branch(self.code(test), frozenset(self.reads_of(test)), then_b.id,
                              else_b.id, line, "if"))
        for blk, part in ((then_b, node.body), (else_b, node.orelse)):
            self.start(blk)
            value = self.lin(part)
            self.emit(f"{tmp} = {self.code(value)}", line, self.reads_of(value), {tmp})
            self.goto(exit_b.id)
        self.start(exit_b)
        return cst.Name(tmp)

    def lower_boolop(self, node: cst.BooleanOperation) -> cst.BaseExpression:
        tmp = self.fresh("_t")
        self.local_names.add(tmp)
        line = self.line(node)
        left = self.lin(node.left)
        self.emit(f"{tmp} = {self.code(left)}", line, self.reads_of(left), {tmp})
        is_and = isinstance(node.operator, cst.And)
        exit_b = self.new_block(line, "end " + ("and" if is_and else "or"))
        right_b = self.new_block(line, "and" if is_and else "or")
        cond = tmp if is_and else f"not {tmp}"
        self.terminate(Branch(cond, frozenset({tmp}), right_b.id, exit_b.id, line,
                              "and" if is_and else "or"))
        self.start(right_b)
        right = self.lin(node.right)
        self.emit(f"{tmp} = {self.code(right)}", line, self.reads_of(right), {tmp})
        self.goto(exit_b.id)
        self.start(exit_b)
        return cst.Name(tmp)


# -- passthrough jump rewriting -------------------------------------------------------------


class _JumpRewriter(cst.CSTTransformer):
    """Rewrites `break`/`continue`/`return` that leave a passthrough statement (and a bare
    `raise` in a lowered `except` body) into dispatch-loop jumps."""

    def __init__(self, lowerer: Lowerer) -> None:
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
            return text
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
            return f"raise {lw.except_vars[-1]}"
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
            for line in text.split("\n"):
                line = _STATE_MARK.sub(r"_tether_state_\1_", line)
                parsed = cst.parse_statement(line + "\n")
                assert isinstance(parsed, cst.SimpleStatementLine)
                out.extend(s.with_changes(semicolon=cst.MaybeSentinel.DEFAULT) for s in parsed.body)
        if not changed:
            return None
        return [s.with_changes(semicolon=cst.MaybeSentinel.DEFAULT) for s in out[:-1]] + [
            out[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
        ]

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine:
        body = self._rewrite_body(updated.body)
        return updated if body is None else updated.with_changes(body=_semi(body))

    def leave_SimpleStatementSuite(
        self, original: cst.SimpleStatementSuite, updated: cst.SimpleStatementSuite
    ) -> cst.SimpleStatementSuite:
        body = self._rewrite_body(updated.body)
        return updated if body is None else updated.with_changes(body=_semi(body))


def _semi(body: list[cst.BaseSmallStatement]) -> list[cst.BaseSmallStatement]:
    semi = cst.Semicolon(whitespace_after=cst.SimpleWhitespace(" "))
    return [s.with_changes(semicolon=semi) for s in body[:-1]] + [body[-1]]


# -- small utilities ----------------------------------------------------------------------


def _stable(node: cst.CSTNode) -> bool:
    """Evaluating `node` after a suspension gives what evaluating it before would have."""
    if isinstance(node, STABLE):
        return True
    if isinstance(node, cst.Attribute):
        return isinstance(node.value, cst.Name)
    if isinstance(node, cst.UnaryOperation):
        return isinstance(node.expression, cst.Integer | cst.Float)
    if isinstance(node, cst.ConcatenatedString):
        return _stable(node.left) and _stable(node.right)
    return False


def _eval_children(node: cst.BaseExpression) -> list[cst.BaseExpression] | None:
    """Direct operand expressions of `node` in Python's evaluation order, or None for node
    types the lowering does not take apart."""
    if isinstance(node, cst.Call):
        out: list[cst.BaseExpression] = [node.func]
        out.extend(a.value for a in node.args)
        return out
    if isinstance(node, cst.Attribute):
        return [node.value]
    if isinstance(node, cst.Subscript):
        out = [node.value]
        for el in node.slice:
            if isinstance(el.slice, cst.Index):
                out.append(el.slice.value)
            elif isinstance(el.slice, cst.Slice):
                parts = (el.slice.lower, el.slice.upper, el.slice.step)
                out.extend(p for p in parts if p is not None)
        return out
    if isinstance(node, cst.BinaryOperation):
        return [node.left, node.right]
    if isinstance(node, cst.UnaryOperation):
        return [node.expression]
    if isinstance(node, cst.Comparison):
        return [node.left] + [c.comparator for c in node.comparisons]
    if isinstance(node, cst.List | cst.Tuple | cst.Set):
        return [el.value for el in node.elements]
    if isinstance(node, cst.Dict):
        items: list[cst.BaseExpression] = []
        for item in node.elements:
            if isinstance(item, cst.DictElement):
                items.extend((item.key, item.value))
            elif isinstance(item, cst.StarredDictElement):
                items.append(item.value)
        return items
    if isinstance(node, cst.FormattedString):
        return [p.expression for p in node.parts if isinstance(p, cst.FormattedStringExpression)]
    if isinstance(node, cst.ConcatenatedString):
        return [node.left, node.right]
    if isinstance(node, cst.StarredElement):
        return [node.value]
    return None


class _Replace(cst.CSTTransformer):
    def __init__(self, mapping: dict[int, cst.CSTNode]) -> None:
        self.mapping = mapping

    def on_leave(self, original: cst.CSTNode, updated: cst.CSTNode) -> cst.CSTNode:  # type: ignore[override]
        return self.mapping.get(id(original), updated)


def _replace(node: cst.BaseExpression, mapping: dict[int, cst.CSTNode]) -> cst.BaseExpression:
    if not mapping:
        return node
    result = node.visit(_Replace(mapping))
    if not isinstance(result, cst.BaseExpression):
        raise InternalCompilerError("split", "expression replacement produced a non-expression")
    return result


def _target_names(target: cst.BaseExpression) -> set[str]:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, cst.Tuple | cst.List):
        out: set[str] = set()
        for el in target.elements:
            out |= _target_names(el.value)
        return out
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return set()


def _definite_writes(node: cst.CSTNode) -> set[str]:
    """Names certainly bound by a simple statement (liveness kills only these)."""
    if isinstance(node, cst.SimpleStatementLine):
        out: set[str] = set()
        for small in node.body:
            out |= _definite_writes(small)
        return out
    if isinstance(node, cst.Assign):
        out = set()
        for t in node.targets:
            out |= _target_names(t.target)
        return out
    if isinstance(node, cst.AnnAssign) and node.value is not None:
        return _target_names(node.target)
    return set()


def _has_annotations(node: cst.CSTNode) -> bool:
    if isinstance(node, cst.AnnAssign):
        return True
    if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
        return False
    return any(_has_annotations(child) for child in children(node))


class _StripAnnotations(cst.CSTTransformer):
    """`x: T = v` -> `x = v` and `x: T` -> `pass`, outside nested functions and classes."""

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def leave_AnnAssign(
        self, original: cst.AnnAssign, updated: cst.AnnAssign
    ) -> cst.BaseSmallStatement:
        if updated.value is None:
            return cst.Pass()
        return cst.Assign(targets=[cst.AssignTarget(updated.target)], value=updated.value)


def _strip_annotations(node: cst.CSTNode) -> cst.CSTNode:
    result = node.visit(_StripAnnotations())
    if not isinstance(result, cst.CSTNode):
        raise InternalCompilerError("split", "stripping annotations removed a statement")
    return result


def _has_jumps(node: cst.CSTNode) -> bool:
    """Might `node` hold a break/continue/return/raise the jump rewriter must see?"""
    if isinstance(node, cst.Break | cst.Continue | cst.Return | cst.Raise):
        return True
    if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
        return False
    return any(_has_jumps(child) for child in children(node))


def _returns_inside_loop(node: cst.CSTNode) -> bool:
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


_STATE_MARK = re.compile("\x00(\\d+)\x00")
_STATE_NAME = re.compile(r"\b_tether_state_(\d+)_\b")


def _clean(text: str) -> str:
    """Statement text without leading blank lines or a trailing newline or semicolon."""
    import textwrap

    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    out = textwrap.dedent("\n".join(lines))
    return out[:-1] if out.endswith(";") else out


def _module_names(module: cst.Module) -> set[str]:
    out: set[str] = set()
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef | cst.ClassDef):
            out.add(stmt.name.value)
    return out | reads(module)


def run(unit: Unit) -> Unit:
    assert unit.positions is not None
    module_names = _module_names(unit.module) if unit.found else set()
    lines = unit.source.split("\n")
    for found in unit.found:
        lowerer = Lowerer(found.node, unit.module, unit.path, unit.positions, found.reg_name,
                          module_names, lines)
        machine = lowerer.lower()
        machine.unsaveable = lowerer.unsaveable
        machine.imports = lowerer.imports
        machine.closures = closure_reads(lowerer.binder.def_nodes, lowerer.local_names)
        machine.def_counts = lowerer.binder.defs
        unit.machines.append(machine)
    return unit
