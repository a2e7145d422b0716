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

from collections.abc import Sequence

import libcst as cst

from compiler.errors import InternalCompilerError
from compiler.ir import (
    Block,
    Branch,
    Case,
    Code,
    FinallyEnd,
    Goto,
    Handling,
    MachineIR,
    Raise,
    Switch,
    Unit,
)
from compiler.lowering.builder import Fin, Loop, module_names_bound, runtime_aliases
from compiler.lowering.critical import is_critical_section, lower_critical_section
from compiler.lowering.expressions import ExpressionLowering
from compiler.lowering.jumps import JumpRewriter, has_jumps, returns_inside_loop
from compiler.lowering.syntax import (
    STATE_NAME,
    clean_text,
    definite_writes,
    has_annotations,
    module_names_of,
    strip_annotations,
    target_names,
)
from compiler.passes.names import (
    bindings,
    closure_reads,
)


class Lowerer(ExpressionLowering):
    """Lowers one orchestrator's statements (expressions and jumps: see the base classes)."""

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
            self.note_defaults(stmt, line)
            return
        if isinstance(stmt, cst.ClassDef):
            if self.awaits(stmt):  # plain Python refuses it too: a class body is not async
                raise self.error(stmt, "`await` inside a class body is not allowed: the body "
                                 "does not run in the orchestrator's async scope",
                                 "await before the class statement and use the result")
            self.note_unsaveable(stmt)
            self.emit_passthrough(stmt, line, writes={stmt.name.value})
            return
        if isinstance(stmt, cst.With) and is_critical_section(stmt, self.ctx):
            lower_critical_section(self, stmt)
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

    def note_defaults(self, fn: cst.FunctionDef, line: int) -> None:
        """A nested def recreated at machine entry (hoist) must keep the default values
        its `def` computed, not compute them again there, where the locals they read may
        not be bound (`def g(v, kk=k)`): they are kept in a hidden local, `_d0`."""
        params = fn.params
        positional = [p.default for p in (*params.posonly_params, *params.params)
                      if p.default is not None]
        keyword = [(p.name.value, p.default) for p in params.kwonly_params
                   if p.default is not None]
        if all(_constant(d) for d in (*positional, *(d for _, d in keyword))):
            return
        name = fn.name.value
        slot = self.fresh("_d", line, f"the default values of `{name}` defined at line {{line}}")
        pos = "None" if not positional else \
            "(" + ", ".join(self.code(d) for d in positional) + ("," if len(positional) == 1
                                                                  else "") + ")"
        kw = "None" if not keyword else \
            "{" + ", ".join(f"{k!r}: {self.code(d)}" for k, d in keyword) + "}"
        frame = self.names["frame"]
        fields = f"{name}.__defaults__, {name}.__kwdefaults__"
        none = cst.Name("None")
        bare = fn.with_changes(params=params.with_changes(
            posonly_params=[p.with_changes(default=none) if p.default else p
                            for p in params.posonly_params],
            params=[p.with_changes(default=none) if p.default else p for p in params.params],
            kwonly_params=[p.with_changes(default=none) if p.default else p
                           for p in params.kwonly_params]))
        self.defaults[name] = (
            slot,
            f"{slot} = ({pos}, {kw})\n{fields} = {slot}",
            f"{clean_text(self.code(bare))}\nif {slot!r} in {frame}.slots:\n"
            f"    {fields} = {frame}.slots[{slot!r}]",
        )
        # reads nothing liveness must see: the def stands just before it, and listing it
        # would make the slot (part of the def's closure) live around a loop
        self.emit(f"{slot} = ({fields})", line, frozenset(), {slot})

    def _needs_lowering(self, stmt: cst.CSTNode) -> bool:
        if self.awaits(stmt):
            return True
        # A passthrough loop cannot send a `return` through a lowered `finally`: the jump
        # is `continue` of the dispatch loop, which an inner Python loop would capture.
        return bool(self.fins) and returns_inside_loop(stmt)

    def note_unsaveable(self, node: cst.CSTNode) -> None:
        """Remember locals bound to values no frame can hold (reported only if live)."""
        if isinstance(node, cst.Import | cst.ImportFrom):
            names = bindings(cst.SimpleStatementLine(body=[node])).imports
            for name in names:
                self.imports[name] = clean_text(self.code(node))
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
            for name in target_names(t.target):
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
        if has_annotations(node):
            node = strip_annotations(node)
        elif not has_jumps(node):
            self.emit(self.source_text(node), line, self.reads_of(node),
                      writes if writes is not None else definite_writes(node))
            return
        if not has_jumps(node):
            self.emit(clean_text(self.code(node)), line, self.reads_of(node),
                      writes if writes is not None else definite_writes(node))
            return
        rewriter = JumpRewriter(self)
        new = node.visit(rewriter)
        if not isinstance(new, cst.CSTNode):
            raise InternalCompilerError("split", "jump rewriting removed a statement")
        text = STATE_NAME.sub("\x00\\1\x00", self.code(new))
        self.emit(clean_text(text), line, self.reads_of(node) | rewriter.reads,
                  writes if writes is not None else definite_writes(node),
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
        if isinstance(node, cst.Break | cst.Continue):
            loop = self._loop(node)
            for name in self.unbinds_for_jump():
                self.emit_unbind(name, line)
            if isinstance(node, cst.Break):
                self.jump_to(loop.brk, "break", line, loop)
            else:
                self.jump_to(loop.cont, "continue", line, loop)
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
            self.terminate(Raise(f"raise {self.rt}.reraise({var})", frozenset({var}), line))
            return
        if isinstance(node, cst.Del):
            self.lower_del(node, line)
            return
        if isinstance(node, cst.Global | cst.Nonlocal):
            raise self.error(node, f"`{self.code(node).split()[0]}` is not allowed in an orchestrator",
                             "keep state in locals; they are saved in the frame")
        if isinstance(node, cst.Raise) and not self.awaits(node):
            self.terminate(Raise(clean_text(self.code(node)), frozenset(self.reads_of(node)), line))
            return
        if isinstance(node, cst.AnnAssign) and not self.awaits(node):
            # machine locals are declared once, as Any; an annotation here would redeclare
            if node.value is None:
                return
            node_ = cst.Assign(targets=[cst.AssignTarget(node.target)], value=node.value)
            self.emit(clean_text(self.code(node_)), line, self.reads_of(node.value),
                      definite_writes(node_))
            return
        if not self.awaits(node):
            self.note_unsaveable(node)
            self.emit(clean_text(self.code(node)), line, self.reads_of(node), definite_writes(node))
            return
        if isinstance(node, cst.Expr):
            value = self.lin(node.value)
            self.emit(self.code(value), line, self.reads_of(value))
        elif isinstance(node, cst.Assign) and any(self.awaits(t) for t in node.targets):
            self.lower_assign_to_awaiting_target(node, line)
        elif isinstance(node, cst.Assign):
            self.note_unsaveable(node)  # `g = (x for x in await t)` is still a generator
            value = self.lin(node.value)
            self.emit(self.code(node.with_changes(value=value, semicolon=cst.MaybeSentinel.DEFAULT)),
                      line, self.reads_of(value) | self.reads_of_targets(node.targets),
                      definite_writes(node))
        elif isinstance(node, cst.AnnAssign):
            if node.value is None:
                return
            value = self.lin(node.value)
            target = self.code(node.target)
            self.emit(f"{target} = {self.code(value)}", line,
                      self.reads_of(value), definite_writes(node))
        elif isinstance(node, cst.AugAssign):
            self.lower_aug_assign(node, line)
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
            test = self.lin(node.test)
            if node.msg is not None and self.awaits(node.msg):
                # the message is evaluated only when the test fails (and not under -O)
                fail = self.new_block(line, "assert failed")
                after = self.new_block(line, "after assert")
                self.terminate(Branch(f"__debug__ and not ({self.code(test)})",
                                      frozenset(self.reads_of(test)), fail.id, after.id,
                                      line, "if"))
                self.start(fail)
                msg_ = self.lin(node.msg)
                self.terminate(Raise(f"raise {self.runtime['AssertionError']}({self.code(msg_)})",
                                     frozenset(self.reads_of(msg_)), line))
                self.start(after)
                return
            msg = f", {self.code(node.msg)}" if node.msg is not None else ""
            self.emit(f"assert {self.code(test)}{msg}", line, self.reads_of(node))
        else:
            raise self.error(node, f"await inside `{type(node).__name__}` is not supported")

    def lower_assign_to_awaiting_target(self, node: cst.Assign, line: int) -> None:
        """`d[await f()] = v`: Python evaluates the value first, then each target's parts
        in turn, storing into each before evaluating the next."""
        value = self.spill(self.lin(node.value))
        for t in node.targets:
            self.assign_to(t.target, value, line)

    def assign_to(self, target: cst.BaseExpression, value: cst.BaseExpression,
                  line: int) -> None:
        """Store `value` into `target`; a tuple or list target that awaits is unpacked into
        temporaries first, then each part is stored in turn, as Python does."""
        if isinstance(target, cst.Tuple | cst.List) and self.awaits(target):
            parts: list[tuple[cst.BaseExpression, str]] = []
            for el in target.elements:
                parts.append((el.value, self.fresh("_t", line, "a part of the value unpacked "
                                                   "at line {line}")))
            names = ", ".join(("*" if isinstance(el, cst.StarredElement) else "") + tmp
                              for el, (_sub, tmp) in zip(target.elements, parts, strict=True))
            self.emit(f"{names}, = {self.code(value)}", line, self.reads_of(value),
                      {tmp for _sub, tmp in parts})
            for sub, tmp in parts:
                self.assign_to(sub, cst.Name(tmp), line)
            return
        lowered = self.lower_target(target, later=False)
        reads_ = self.reads_of(value) if isinstance(lowered, cst.Name) else \
            self.reads_of(lowered) | self.reads_of(value)
        self.emit(f"{self.code(lowered)} = {self.code(value)}", line, reads_,
                  target_names(lowered))

    def lower_aug_assign(self, node: cst.AugAssign, line: int) -> None:
        """`x[i] += v`: Python evaluates `x` and `i`, reads `x[i]`, then evaluates `v`,
        then stores. When `v` awaits and could change `x`, `i` or `x[i]` on its way (a
        call, a `:=`), the current value is read before `v`, into a temporary."""
        op = self.code(node.operator)
        value_waits = self.awaits(node.value)
        early = value_waits and self.has_effects(node.value)
        target = self.lower_target(node.target, later=value_waits, force=early)
        if not early:
            value = self.lin(node.value)
            self.emit(f"{self.code(target)}{op}{self.code(value)}", line,
                      self.reads_of(target) | self.reads_of(value))
            return
        current = self.fresh("_t", line, "the augmented target's value at line {line}")
        self.emit(f"{current} = {self.code(target)}", line, self.reads_of(target), {current})
        value = self.lin(node.value)
        self.emit(f"{current}{op}{self.code(value)}\n{self.code(target)} = {current}", line,
                  self.reads_of(target) | self.reads_of(value) | {current},
                  target_names(target))

    def reads_of_targets(self, targets: Sequence[cst.AssignTarget]) -> set[str]:
        out: set[str] = set()
        for t in targets:
            if not isinstance(t.target, cst.Name):
                out |= self.reads_of(t.target)
        return out

    def lower_del(self, node: cst.Del, line: int) -> None:
        # `del x` unbinds x: hoist's definite-assignment analysis must know, so that x is
        # saved at a later await only if something bound it again.
        targets = node.target.elements if isinstance(node.target, cst.Tuple) else None
        items = [el.value for el in targets] if targets is not None else [node.target]
        for item in items:
            names = {item.value} if isinstance(item, cst.Name) else set()
            if self.awaits(item):
                item = self.lower_target(item, later=False)
            self.emit(f"del {self.code(item)}", line, self.reads_of(item), names)
            if names:
                self.block().ops[-1].deletes = frozenset(names)

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
        self.start(body_b)
        self.loop_rest(node, head, else_b, exit_b)

    def loop_rest(self, node: cst.While | cst.For, head: Block, else_b: Block,
                  exit_b: Block) -> None:
        """A loop's body (in the current block) looping back to `head`, then its `else`."""
        self.loops.append(Loop(exit_b.id, head.id, len(self.fins)))
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
        if isinstance(node.iter, cst.GeneratorExp):
            raise self.error(node.iter, "a loop whose body awaits cannot walk a generator: "
                             "it would run ahead of the awaits and cannot be saved",
                             "iterate a list comprehension instead: `for x in [...]`")
        it = self.lin(node.iter)
        seq, idx = self.fresh("_seq", line), self.fresh("_i", line)
        self.emit(f"{seq} = {self.rt}.iter_source({self.code(it)})\n{idx} = 0", line,
                  self.reads_of(it), {seq, idx})
        head = self.enter(line, "for")
        exit_b = self.new_block(None, "end for")
        body_b = self.new_block(line, "for body")
        else_b = self.new_block(None, "for else") if node.orelse is not None else exit_b
        header = f"for {self.code(node.target)} in {self.code(node.iter)}"
        self.terminate(Branch(f"{idx} < {self.runtime['len']}({seq})", frozenset({seq, idx}), body_b.id,
                              else_b.id, line, "for", header))
        self.start(body_b)
        if self.awaits(node.target):
            # `for d[await f()] in xs`: the item first, then the target's parts, as an
            # assignment evaluates its value before its target
            item = self.fresh("_t", line, "the item the loop at line {line} is at")
            self.emit(f"{item} = {seq}[{idx}]\n{idx} += 1", line, {seq, idx}, {item, idx})
            self.assign_to(node.target, cst.Name(item), line)
        else:
            target = self.code(node.target)
            self.emit(f"{target} = {seq}[{idx}]\n{idx} += 1", line,
                      {seq, idx} | self.reads_of_target_expr(node.target),
                      target_names(node.target) | {idx})
        self.loop_rest(node, head, else_b, exit_b)

    def reads_of_target_expr(self, target: cst.BaseExpression) -> set[str]:
        if isinstance(target, cst.Name):
            return set()
        return self.reads_of(target) - target_names(target)

    def lower_try(self, node: cst.Try) -> None:
        line = self.line(node)
        outer_handler = self.handler
        exit_b = self.new_block(None, "end try")
        exc = self.names["exc"]
        fin: Fin | None = None
        raise_entry: Block | None = None
        if node.finalbody is not None:
            entry = self.new_block(self.line(node.finalbody), "finally")
            entry.handler = outer_handler
            fin = Fin(self.fresh("_fin", line), entry.id)
            raise_entry = self.new_block(None, "finally (exception)")
            raise_entry.handler = outer_handler
            raise_entry.ops.append(Code(f"{fin.record} = ({self.rt}.RAISE, {exc})", None,
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
            # entered by an exception, the finally runs while handling it (else while
            # handling whatever the enclosing code handles)
            around = self.handling()
            self.handled.append(Handling(
                f"{fin.record}[1]",
                frozenset({fin.record}) | (around.reads if around else frozenset()),
                f"{fin.record}[0] == {self.rt}.RAISE", around))
            self.start(self.blocks[fin.entry])
            self.lower_body(node.finalbody.body)  # type: ignore[union-attr]
            self.handled.pop()
            outer = self.fins[-1] if self.fins else None
            if self.cur is not None:
                self.terminate(FinallyEnd(
                    fin.record, exit_b.id, tuple(sorted(fin.jump_targets)),
                    outer.record if outer else None, outer.entry if outer else None, line,
                ))
        self.handler = outer_handler
        self.start(exit_b)

    def finish_try_clause(self, fin: Fin | None, exit_b: Block, line: int) -> None:
        if fin is None:
            self.goto(exit_b.id)
        else:
            self.emit(f"{fin.record} = ({self.rt}.NEXT, None)", None, writes={fin.record})
            self.goto(fin.entry)

    def lower_handlers(self, node: cst.Try, dispatch: Block, fin: Fin | None,
                       exit_b: Block) -> None:
        exc = self.names["exc"]
        evar = self.fresh("_e", self.line(node))
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
            test = self.code(h.type) if h.type is not None else self.runtime["BaseException"]
            reads_ = self.reads_of(h.type) if h.type is not None else set()
            cases.append(Case(test, hb.id, frozenset(reads_), name))
            bodies.append((h, hb))
        default: int | None = None
        if fin is not None:
            reraise = self.new_block(None, "finally (exception)")
            reraise.ops.append(Code(f"{fin.record} = ({self.rt}.RAISE, {evar})", None,
                                    frozenset({evar}), frozenset({fin.record})))
            reraise.term = Goto(fin.entry, "exception")
            default = reraise.id
        self.terminate(Switch("except", evar, frozenset({evar}), cases, default, dispatch.line))
        for (h, hb), case in zip(bodies, cases, strict=True):
            self.handled.append(Handling(evar, frozenset({evar})))
            self.start(hb)
            self.except_vars.append(evar)
            self.unbinds.append((case.bind, len(self.loops)))
            self.lower_body(h.body)
            self.unbinds.pop()
            self.except_vars.pop()
            if self.cur is not None and case.bind:
                self.emit_unbind(case.bind, self.line(h))
            self.handled.pop()
            if self.cur is not None:
                self.finish_try_clause(fin, exit_b, self.line(h))

    def lower_match(self, node: cst.Match) -> None:
        """Cases are tried in order by a `match` dispatch on the saved subject. A guard that
        awaits cannot sit in that dispatch: its case matches the pattern alone, the guard
        is lowered after it, and a false guard goes on to a second dispatch over the
        remaining cases, as Python would go on to the next case."""
        line = self.line(node)
        subject = self.lin(node.subject)
        m = self.fresh("_m", line)
        self.emit(f"{m} = {self.code(subject)}", line, self.reads_of(subject), {m})
        exit_b = self.new_block(None, "end match")
        groups: list[list[cst.MatchCase]] = [[]]
        for case in node.cases:
            groups[-1].append(case)
            if case.guard is not None and self.awaits(case.guard):
                groups.append([])
        if not groups[-1]:
            groups.pop()
        bodies: list[tuple[cst.MatchCase, Block]] = []
        guards: list[tuple[cst.MatchCase, Block, Block]] = []
        dispatch = self.block()
        for i, group in enumerate(groups):
            nxt = self.new_block(self.line(groups[i + 1][0]), "match (next cases)") \
                if i + 1 < len(groups) else exit_b
            cases: list[Case] = []
            irrefutable = False
            for case in group:
                cb = self.new_block(self.line(case), "case")
                test = self.code(case.pattern)
                reads_ = self.reads_of(case.pattern)
                if case.guard is not None and self.awaits(case.guard):
                    gb = self.new_block(self.line(case), "case guard")
                    guards.append((case, gb, nxt))
                    cases.append(Case(test, gb.id, frozenset(reads_)))
                else:
                    if case.guard is not None:
                        test += f" if {self.code(case.guard)}"
                        reads_ |= self.reads_of(case.guard)
                    cases.append(Case(test, cb.id, frozenset(reads_)))
                    irrefutable = irrefutable or (case.guard is None and isinstance(
                        case.pattern, cst.MatchAs) and case.pattern.pattern is None)
                bodies.append((case, cb))
            self.start(dispatch)
            self.terminate(Switch("match", m, frozenset({m}), cases,
                                  None if irrefutable else nxt.id, line,
                                  f"match {self.code(node.subject)}"))
            dispatch = nxt
        body_of = {id(case): cb for case, cb in bodies}
        for case, gb, nxt in guards:
            self.start(gb)
            assert case.guard is not None
            guard = self.lin(case.guard)
            self.terminate(Branch(self.code(guard), frozenset(self.reads_of(guard)),
                                  body_of[id(case)].id, nxt.id, self.line(case), "if"))
        for case, cb in bodies:
            self.start(cb)
            self.lower_body(case.body)
            if self.cur is not None:
                self.goto(exit_b.id)
        self.start(exit_b)


def _constant(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Integer | cst.Float | cst.SimpleString | cst.Imaginary) or (
        isinstance(node, cst.Name) and node.value in ("None", "True", "False"))


def run(unit: Unit) -> Unit:
    assert unit.positions is not None
    module_names = module_names_of(unit.module) if unit.found else set()
    bound = frozenset(module_names_bound(unit.module)) if unit.found else frozenset()
    runtime = runtime_aliases(unit.source)
    lines = unit.source.split("\n")
    for found in unit.found:
        lowerer = Lowerer(found.node, unit.module, unit.path, unit.positions, found.reg_name,
                          module_names, lines, runtime, bound)
        machine = lowerer.lower()
        machine.unsaveable = lowerer.unsaveable
        machine.imports = lowerer.imports
        machine.closures = closure_reads(lowerer.binder.def_nodes, lowerer.local_names)
        for name, (slot, _site, _entry) in lowerer.defaults.items():
            machine.closures.setdefault(name, set()).add(slot)  # live while the def is
        machine.defaults = lowerer.defaults
        machine.def_counts = lowerer.binder.defs
        machine.invented, machine.written = lowerer.invented, lowerer.written
        machine.runtime = lowerer.runtime
        unit.machines.append(machine)
    return unit

