"""Lowering of expressions that await: suspensions, spills of operands evaluated before
an await (so side effects keep Python's order), and branches for `and`/`or` and
conditional expressions; comprehensions that await are in `comprehensions.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import libcst as cst

from compiler.errors import InternalCompilerError
from compiler.ir import (
    Branch,
    Suspend,
)
from compiler.lowering.comprehensions import lower_comprehension
from compiler.lowering.jumps import JumpLowering
from compiler.passes.names import (
    COMPREHENSIONS,
    children,
)

TASK_METHODS = {
    "call_activity": "activity",
    "call_sub_orchestrator": "sub_orchestration",
    "create_timer": "timer",
    "sleep": "timer",
    "wait_for_external_event": "event",
    "when_all": "when_all",
    "when_any": "when_any",
    "call_http": "sub_orchestration",
    "call_entity": "entity",
}

# Context methods that look like work but give no task to await, and what to do instead.
NOT_TASKS = {
    "signal_entity": "a signal is one-way, nothing comes back: call `{ctx}.signal_entity()` "
                     "without `await`, or await `{ctx}.call_entity()` for the operation's "
                     "result",
    "lock_entities": "`{ctx}.lock_entities()` opens a critical section: write "
                     "`async with {ctx}.lock_entities(...):`",
}


class ExpressionLowering(JumpLowering):
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
            return lower_comprehension(self, node)
        if isinstance(node, cst.Comparison) and len(node.comparisons) > 1 and any(
            self.awaits(c.comparator) for c in node.comparisons[1:]
        ):
            return self.lower_chain(node)
        if isinstance(node, cst.FormattedString) and any(
            isinstance(p, cst.FormattedStringExpression) and p.equal is not None
            and self.awaits(p.expression) for p in node.parts
        ):
            node = self.spelled_out(node)
        if isinstance(node, cst.NamedExpr):
            return node.with_changes(value=self.lin(node.value))
        children = eval_children(node)
        waits = [i for i, c in enumerate(children or ()) if self.awaits(c)]
        if children is None or not waits:  # never an internal error: one located line
            raise self.error(node, f"await inside `{type(node).__name__}` is not supported")
        last = max(waits)
        mapping: dict[int, cst.CSTNode] = {}
        for child in children[: last + 1]:
            if self.awaits(child):
                mapping[id(child)] = self.lin(child)
            elif isinstance(node, cst.Call) and child is node.func:
                mapping[id(child)] = self.spill_parts(child)
            elif not is_stable(child):
                mapping[id(child)] = self.spill(child)
        return replace_nodes(node, mapping)

    def spill(self, node: cst.BaseExpression, force: bool = False) -> cst.BaseExpression:
        """`node` evaluated now into a temporary (a name or constant stays as written,
        unless `force`: a `:=` evaluated later may rebind the name)."""
        if is_stable(node) and not (force and isinstance(node, cst.Name)):
            return node
        line = self.line(node)
        tmp = self.fresh("_t", line)
        self.local_names.add(tmp)
        self.emit(f"{tmp} = {self.code(node)}", line, self.reads_of(node), {tmp})
        return cst.Name(tmp)

    def spill_parts(self, node: cst.BaseExpression) -> cst.BaseExpression:
        """Spill the operands of a callee or assignment target, not the value itself (a bound
        method cannot be saved; the object it is bound to can)."""
        if is_stable(node):
            return node
        if isinstance(node, cst.Attribute):
            return node.with_changes(value=self.spill(node.value))
        if isinstance(node, cst.Subscript):
            value = self.spill(node.value)
            mapping: dict[int, cst.CSTNode] = {}
            for el in node.slice:
                if isinstance(el.slice, cst.Index):
                    mapping[id(el.slice.value)] = self.spill(el.slice.value)
            return replace_nodes(node.with_changes(value=value), mapping)
        return self.spill(node)

    def lower_target(self, target: cst.BaseExpression, later: bool,
                     force: bool = False) -> cst.BaseExpression:
        """An assignment or `del` target whose parts (the object, the index) are evaluated
        now, in Python's order, awaits included; `later`: an await follows before the
        store, so the parts are kept in temporaries (`force`: names too)."""
        if isinstance(target, cst.Name):
            return target
        if isinstance(target, cst.Tuple | cst.List | cst.StarredElement):
            if self.awaits(target):
                raise self.error(target, "await inside a tuple or list assignment target is "
                                 "not supported", "assign each part on its own line")
            return target
        parts = eval_children(target)
        if parts is None or not isinstance(target, cst.Attribute | cst.Subscript):
            raise self.error(target, f"await in a `{type(target).__name__}` target is not "
                             "supported")
        waits = [i for i, c in enumerate(parts) if self.awaits(c)]
        last = max(waits) if waits else -1
        mapping: dict[int, cst.CSTNode] = {}
        for i, child in enumerate(parts):
            if self.awaits(child):
                mapping[id(child)] = self.spill(self.lin(child), force) if later or i < last \
                    else self.lin(child)
            elif later or i < last:
                mapping[id(child)] = self.spill(child, force)
        return replace_nodes(target, mapping)

    def has_effects(self, node: cst.CSTNode) -> bool:
        """Might evaluating `node` change other locals or objects (a call other than a
        context method, a `:=`)? Awaiting a task cannot: activities see copies."""
        if isinstance(node, cst.NamedExpr):
            return True
        if isinstance(node, cst.Call) and not (
            isinstance(node.func, cst.Attribute) and isinstance(node.func.value, cst.Name)
            and node.func.value.value == self.ctx
        ):
            return True
        if isinstance(node, cst.Lambda | cst.FunctionDef):
            return False
        return any(self.has_effects(child) for child in children(node))

    def lower_chain(self, node: cst.Comparison) -> cst.BaseExpression:
        """`a < await f() <= b`: each comparison in turn, stopping at the first false one
        (as `and` does), each operand evaluated once."""
        line = self.line(node)
        tmp = self.fresh("_t", line, "the value of the comparison at line {line}")
        exit_b = self.new_block(line, "end comparison")
        prev = self.spill(self.lin(node.left))
        last = len(node.comparisons) - 1
        for i, comp in enumerate(node.comparisons):
            right = self.lin(comp.comparator)
            if i < last:
                right = self.spill(right)
            self.emit(f"{tmp} = {self.code(prev)}{self.code(comp.operator)}{self.code(right)}",
                      line, self.reads_of(prev) | self.reads_of(right), {tmp})
            if i < last:
                nxt = self.new_block(line, "comparison")
                self.terminate(Branch(tmp, frozenset({tmp}), nxt.id, exit_b.id, line, "and"))
                self.start(nxt)
            prev = right
        self.goto(exit_b.id)
        self.start(exit_b)
        return cst.Name(tmp)

    def spelled_out(self, node: cst.FormattedString) -> cst.FormattedString:
        """`f"{await t=}"` as `f"await t={_a0!r}"`: the text before `=` is the source's,
        not the lowered expression's (`_f.received()`)."""
        parts: list[cst.BaseFormattedStringContent] = []
        for part in node.parts:
            if not (isinstance(part, cst.FormattedStringExpression) and part.equal is not None
                    and self.awaits(part.expression)):
                parts.append(part)
                continue
            eq = part.equal
            text = "".join((self.code(part.whitespace_before_expression),
                            self.code(part.expression), self.code(part.whitespace_after_expression),
                            self.code(eq.whitespace_before), "=", self.code(eq.whitespace_after)))
            parts.append(cst.FormattedStringText(text.replace("{", "{{").replace("}", "}}")))
            conversion = part.conversion
            if conversion is None and part.format_spec is None:
                conversion = "r"  # what `=` shows when nothing else is asked for
            parts.append(part.with_changes(
                equal=None, conversion=conversion,
                whitespace_before_expression=cst.SimpleWhitespace(""),
                whitespace_after_expression=cst.SimpleWhitespace("")))
        new = node.with_changes(parts=parts)
        self.awaits.adopt(new)
        return new

    def lower_await(self, node: cst.Await) -> cst.BaseExpression:
        inner = self.lin(node.expression)
        kind, name = self.task_kind(inner)
        line = self.line(node)
        tmp = self.fresh("_a", line)
        self.local_names.add(tmp)
        resume = self.new_block(line, f"after await {name or kind}")
        resume.resume = True
        self.terminate(Suspend(self.code(inner), frozenset(self.reads_of(inner)), resume.id,
                               line, kind, name))
        self.start(resume)
        # a task made right here cannot be awaited again; one in a variable (or chosen by
        # an expression) can, and every await of it must give the same object
        fresh = isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute) \
            and isinstance(inner.func.value, cst.Name) and inner.func.value.value == self.ctx
        method = "received" if fresh else "received_shared"
        self.emit(f"{tmp} = {self.names['frame']}.{method}()", line, writes={tmp})
        return cst.Name(tmp)

    def task_kind(self, expr: cst.BaseExpression) -> tuple[str, str | None]:
        """What an awaited expression waits for: (kind, name) for graphs and messages."""
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
                and isinstance(expr.func.value, cst.Name) and expr.func.value.value == self.ctx:
            method = expr.func.attr.value
            kind = TASK_METHODS.get(method)
            if method in NOT_TASKS:
                raise self.error(expr, f"`await {self.ctx}.{method}()` does not await a "
                                 "durable task (DET007)", NOT_TASKS[method].format(ctx=self.ctx))
            if kind is None:
                raise self.error(expr, f"`{self.ctx}.{method}()` is not a durable task",
                                 "await call_activity, call_sub_orchestrator, call_entity, "
                                 "create_timer, sleep, wait_for_external_event, when_all or "
                                 "when_any")
            name: str | None = None
            if expr.args and kind in ("activity", "sub_orchestration", "event"):
                first = expr.args[0].value
                if isinstance(first, cst.Name | cst.Attribute):
                    name = self.as_written(self.code(first))
                elif isinstance(first, cst.SimpleString):
                    name = first.evaluated_value if isinstance(first.evaluated_value, str) else None
            if kind == "entity":
                name = entity_call_name(self.as_written, expr)
            return kind, name
        if isinstance(expr, cst.Call):
            raise self.error(
                expr, f"`await {self.code(expr)}`: only durable tasks from the context can be "
                "awaited in an orchestrator (DET007)",
                "use ctx.call_activity(...) for work, ctx.sleep(...) for waiting")
        if isinstance(expr, cst.NamedExpr):
            return self.task_kind(expr.value)
        if isinstance(expr, cst.Name | cst.Subscript | cst.Attribute | cst.IfExp
                      | cst.BooleanOperation):
            # a task kept in a variable, or chosen: `await (t1 if flag else t2)`
            return "task", self.as_written(self.code(expr))
        raise self.error(expr, f"`await {self.code(expr)}` does not await a durable task (DET007)")

    def lower_ifexp(self, node: cst.IfExp) -> cst.BaseExpression:
        line = self.line(node)
        tmp = self.fresh("_t", line, "the value of the conditional expression at line {line}")
        self.local_names.add(tmp)
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
        line = self.line(node)
        op = "and" if isinstance(node.operator, cst.And) else "or"
        tmp = self.fresh("_t", line, f"the value of the `{op}` at line {{line}}")
        self.local_names.add(tmp)
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



def entity_call_name(as_written: Callable[[str], str], call: cst.Call) -> str | None:
    """`counter.add` for `ctx.call_entity(counter, "add", 1)`: the entity as written and
    the operation, for graphs and messages (None when neither is given)."""
    code = cst.Module([]).code_for_node
    args = [a.value for a in call.args if a.keyword is None]
    keywords = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
    target = args[0] if args else keywords.get("entity_id")
    op = args[1] if len(args) > 1 else keywords.get("operation")
    if target is None:
        return None
    entity = as_written(code(target))
    if isinstance(op, cst.SimpleString) and isinstance(op.evaluated_value, str):
        return f"{entity}.{op.evaluated_value}"
    return entity if op is None else f"{entity}.({as_written(code(op))})"


# Expressions that read the same after a suspension as before it.
STABLE = (
    cst.Name, cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.Ellipsis,
)


def is_stable(node: cst.CSTNode) -> bool:
    """Evaluating `node` after a suspension gives what evaluating it before would have."""
    if isinstance(node, STABLE):
        return True
    if isinstance(node, cst.Attribute):
        return isinstance(node.value, cst.Name)
    if isinstance(node, cst.UnaryOperation):
        return isinstance(node.expression, cst.Integer | cst.Float)
    if isinstance(node, cst.ConcatenatedString):
        return is_stable(node.left) and is_stable(node.right)
    return False


def eval_children(node: cst.BaseExpression) -> list[cst.BaseExpression] | None:
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
        return _fstring_operands(node.parts)
    if isinstance(node, cst.ConcatenatedString):
        return [node.left, node.right]
    if isinstance(node, cst.StarredElement):
        return [node.value]
    return None


def _fstring_operands(parts: Sequence[cst.BaseFormattedStringContent]) -> list[cst.BaseExpression]:
    """Each replacement field's expression, then those of its format spec (`{x:{w}}`), as
    Python evaluates them."""
    out: list[cst.BaseExpression] = []
    for part in parts:
        if isinstance(part, cst.FormattedStringExpression):
            out.append(part.expression)
            if part.format_spec:
                out.extend(_fstring_operands(part.format_spec))
    return out


class ReplaceNodes(cst.CSTTransformer):
    def __init__(self, mapping: dict[int, cst.CSTNode]) -> None:
        self.mapping = mapping

    def on_leave(self, original: cst.CSTNode, updated: cst.CSTNode) -> cst.CSTNode:  # type: ignore[override]
        return self.mapping.get(id(original), updated)


def replace_nodes(node: cst.BaseExpression, mapping: dict[int, cst.CSTNode]) -> cst.BaseExpression:
    if not mapping:
        return node
    result = node.visit(ReplaceNodes(mapping))
    if not isinstance(result, cst.BaseExpression):
        raise InternalCompilerError("split", "expression replacement produced a non-expression")
    return result


