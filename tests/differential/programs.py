"""Hypothesis strategy for orchestrator programs built from the constructs the compiler
supports.

A program is the source of one module: three deterministic integer activities (each fails
on a generated set of inputs), `wrap` (returns its input in a list), a plain helper `mix`,
and one `@orchestrator async def prog(ctx, n)` whose body is drawn from a small grammar:
nested bounded loops (`for` over `range`/lists, `while` on a counter bumped first thing in
the body), `if/elif/else`, `break`/`continue`, early `return`, `raise`,
`try/except/else/finally` with awaits in any clause, `match`, fan-out with
`when_all`/`when_any`, comprehensions (some awaiting), aliased lists, timers, and awaits
inside expressions (call arguments, `and`/`or`, conditional expressions, list displays,
f-strings, subscripts, augmented assignments).

Sub-orchestrations (issue 4): `child` may sleep before and after its activity (by its
input, so siblings end at different or at equal instants), await a nested `leaf` that
sleeps, fail, and continue as new once; `prog` reads its clock right after each child, races
children against timers and fans out over children with `when_any` (in or against creation
order, for the same-instant rule) and `when_all`.

Every program terminates: loops are bounded by constants and nesting depth, and every
while counter is bumped before anything can `continue`. Outputs are JSON values. Choices
are drawn simplest-first, so hypothesis shrinks towards short, flat programs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hypothesis import strategies as st

ACTIVITIES = ("act_a", "act_b", "act_c")
MAX_DEPTH = 3  # nesting of compound statements
RESULT = "return [acc, v0, v1, v2, box]"
CLOCK = "ctx.current_utc_datetime.isoformat()[11:16]"  # "HH:MM": hours show too


@dataclass(frozen=True)
class Program:
    source: str
    input: int
    events: tuple[tuple[str, Any], ...] = ()
    orchestrator: str = "prog"

    def __repr__(self) -> str:
        # hypothesis prints this on failure: the source as it reads, ready to paste
        return f"Program(input={self.input!r}, events={self.events!r}, source='''\n{self.source}''')"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


@dataclass(frozen=True)
class Scope:
    ints: tuple[str, ...] = ("n", "v0", "v1", "v2")
    depth: int = 0
    loops: int = 0  # enclosing loops; break/continue only when > 0


class _Writer:
    def __init__(self, draw: st.DrawFn, budget: int) -> None:
        self.draw = draw
        self.budget = budget
        self.lines: list[str] = []
        self.fresh = 0
        self.in_fstring = False  # f-strings do not nest with the same quotes before 3.12

    def name(self, prefix: str) -> str:
        self.fresh += 1
        return f"{prefix}{self.fresh}"

    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def pick(self, n: int) -> int:
        return self.draw(st.integers(0, n - 1))

    # -- expressions -------------------------------------------------------------------

    def call(self, sc: Scope, depth: int) -> str:
        act = ACTIVITIES[self.pick(len(ACTIVITIES))]
        return f"ctx.call_activity({act}, {self.expr(sc, depth - 1)})"

    def expr(self, sc: Scope, depth: int = 2) -> str:
        kind = self.pick(2 if depth <= 0 else 13)
        if kind == 0:
            return str(self.draw(st.integers(0, 9)))
        if kind == 1:
            return sc.ints[self.pick(len(sc.ints))]
        if kind in (2, 3):  # the most common shape: a plain awaited activity
            return f"await {self.call(sc, depth)}"
        d = depth - 1
        if kind == 4:
            op = "+-"[self.pick(2)]
            return f"({self.expr(sc, d)} {op} {self.expr(sc, d)})"
        if kind == 5:
            return f"mix({self.expr(sc, d)}, {self.expr(sc, d)}, {self.expr(sc, d)})"
        if kind == 6:
            op = ("and", "or")[self.pick(2)]
            return f"({self.expr(sc, d)} {op} {self.expr(sc, d)})"
        if kind == 7:
            return f"({self.expr(sc, d)} if {self.cond(sc, d)} else {self.expr(sc, d)})"
        if kind == 8:
            return f"sum([{self.expr(sc, d)}, {self.expr(sc, d)}, {self.expr(sc, d)}])"
        if kind == 9:
            return f"[3, 1, 4][{self.expr(sc, d)} % 3]"
        if kind == 10 and not self.in_fstring:
            self.in_fstring = True
            text = f"len(f'{{{self.expr(sc, d)}}}-{{{self.expr(sc, d)}}}')"
            self.in_fstring = False
            return text
        if kind == 10:
            return f"await {self.call(sc, depth)}"
        if kind == 11:
            return "box[0]"
        return "ctx.current_utc_datetime.minute"

    def cond(self, sc: Scope, depth: int = 1) -> str:
        kind = self.pick(6) if depth > 0 else self.pick(3)
        if kind == 5:
            return f"(v2 := {self.expr(sc, depth)}) > {self.draw(st.integers(0, 15))}"
        if kind == 0:
            return f"{self.expr(sc, depth)} > {self.draw(st.integers(0, 15))}"
        if kind == 1:
            return f"{self.expr(sc, depth)} % 2 == 0"
        if kind == 2:
            return f"{self.expr(sc, depth)} != {self.draw(st.integers(0, 9))}"
        if kind == 3:
            return f"not ({self.cond(sc, depth - 1)})"
        op = ("and", "or")[self.pick(2)]
        return f"({self.cond(sc, depth - 1)} {op} {self.cond(sc, depth - 1)})"

    # -- statements --------------------------------------------------------------------

    def more(self) -> bool:
        """Whether another statement follows. Drawn before each one, so the shrinker can
        delete a statement with its flag and leave the rest of the program aligned."""
        return self.budget > 0 and self.draw(st.integers(0, 3)) > 0

    def block(self, sc: Scope, indent: int) -> None:
        """One to three statements (`pass` when the budget is spent)."""
        if self.budget <= 0:
            self.emit(indent, "pass")
            return
        self.stmt(sc, indent)
        for _ in range(2):
            if not self.more():
                break
            self.stmt(sc, indent)

    def stmt(self, sc: Scope, indent: int) -> None:
        self.budget -= 1
        simple = (self.assign, self.append, self.aug_assign, self.box_aug_assign,
                  self.alias_fstring, self.comprehension, self.sleep, self.leave,
                  self.raise_if, self.aliasing, self.event, self.maybe_unbound,
                  self.helper, self.sub_orchestration, self.retried, self.context_state,
                  self.continue_as_new, self.child_race, self.child_fan_out, self.corner,
                  self.corner)
        compound = (self.if_stmt, self.for_stmt, self.while_stmt, self.try_stmt,
                    self.fan_out, self.fan_out_any, self.match_stmt, self.race,
                    self.try_stmt, self.for_stmt, self.if_stmt, self.exit_through_finally)
        if sc.depth < MAX_DEPTH and self.budget >= 2:
            kind = self.pick(len(simple) + len(compound))
        else:
            kind = self.pick(len(simple))
        if kind < len(simple):
            simple[kind](sc, indent)
        else:
            compound[kind - len(simple)](replace(sc, depth=sc.depth + 1), indent)

    def target(self) -> str:
        return ("v0", "v1", "v2")[self.pick(3)]

    def assign(self, sc: Scope, indent: int) -> None:
        self.emit(indent, f"{self.target()} = {self.expr(sc)}")

    def append(self, sc: Scope, indent: int) -> None:
        self.emit(indent, f"acc.append({self.expr(sc)})")

    def aug_assign(self, sc: Scope, indent: int) -> None:
        self.emit(indent, f"{self.target()} {'+-'[self.pick(2)]}= {self.expr(sc)}")

    def box_aug_assign(self, sc: Scope, indent: int) -> None:
        self.emit(indent, f"box[0] += {self.expr(sc)}")

    def alias_fstring(self, sc: Scope, indent: int) -> None:
        self.emit(indent, f'alias.append(f"{{{self.expr(sc)}}}:{{{self.expr(sc)}}}")')

    def comprehension(self, sc: Scope, indent: int) -> None:
        v = self.target()
        # half of them await; drawn after `v`, so that programs without a comprehension
        # come out as the grammar drew them before
        if self.pick(2):
            self.await_comprehension(sc, indent)
            return
        self.emit(indent, f"acc.append([x * 2 for x in range({v} % 4) if x != {v}])")

    def await_comprehension(self, sc: Scope, indent: int) -> None:
        """A list, set or dict comprehension that awaits; its loop variable may shadow an
        enclosing one (never v2, which conditions bind with `:=`)."""
        var = ("x", "v0", "v1")[self.pick(3)]
        inner = replace(sc, ints=(*sc.ints, var))
        loop = f"for {var} in range({self.draw(st.integers(0, 3))})"
        kind = self.pick(4)
        if kind == 3:  # a second `for` whose iterable awaits
            loop += f" for y in range(await {self.call(inner, 1)} % 3)"
            inner = replace(inner, ints=(*inner.ints, "y"))
        elt = f"await {self.call(inner, 2)}" if self.pick(2) else self.expr(inner)
        if self.pick(2):
            loop += f" if {self.cond(inner)}"
        if kind == 1:
            self.emit(indent, f"acc.append(sorted({{{elt} {loop}}}))")
        elif kind == 2:
            self.emit(indent, f"acc.append({{str({var}): {elt} {loop}}})")
        else:
            self.emit(indent, f"acc.append([{elt} {loop}])")

    def sleep(self, sc: Scope, indent: int) -> None:
        self.emit(indent, f"await ctx.sleep(timedelta(minutes={self.draw(st.integers(1, 30))}))")

    def raise_if(self, sc: Scope, indent: int) -> None:
        self.emit(indent, f"if {self.cond(sc)}:")
        self.emit(indent + 1, f'raise ValueError(f"stop at {{{self.target()}}}")')

    def event(self, sc: Scope, indent: int) -> None:
        self.emit(indent, f'{self.target()} += await ctx.wait_for_external_event("go")')

    def maybe_unbound(self, sc: Scope, indent: int) -> None:
        # `u` is assigned by some statements only: reading it first must raise the same
        # UnboundLocalError compiled as plain
        if self.pick(2):
            self.emit(indent, f"u = {self.expr(sc)}")
        else:
            self.emit(indent, "acc.append(u)")

    def sub_orchestration(self, sc: Scope, indent: int) -> None:
        """A child awaited at once, optionally with retries; the clock read right after."""
        retry = ""
        if self.pick(3) == 2:
            minutes = self.draw(st.integers(1, 9))
            retry = f", retry=RetryPolicy(2, timedelta(minutes={minutes}))"
        self.emit(indent, f"acc.append([await ctx.call_sub_orchestrator(child, {self.expr(sc)}"
                          f"{retry}), {CLOCK}])")

    def child_race(self, sc: Scope, indent: int) -> None:
        """A child against a timer; the child is awaited after, so none is left running."""
        kid, won = self.name("kid"), self.name("won")
        minutes = self.draw(st.integers(0, 20))
        self.emit(indent, f"{kid} = ctx.call_sub_orchestrator(child, {self.expr(sc)})")
        self.emit(indent, f"{won} = await ctx.when_any([{kid}, "
                          f"ctx.sleep(timedelta(minutes={minutes}))])")
        self.emit(indent, f"acc.append([{won} == {kid}, {CLOCK}])")
        self.emit(indent, f"acc.append([await {kid}, {CLOCK}])")

    def child_fan_out(self, sc: Scope, indent: int) -> None:
        """Children in parallel: the first to end (maybe listed against creation order),
        then all of them."""
        kids, first = self.name("kids"), self.name("first")
        self.emit(indent, f"{kids} = [ctx.call_sub_orchestrator(child, {self.expr(sc, 0)} + x) "
                          f"for x in range({self.draw(st.integers(1, 3))})]")
        if self.pick(2):
            order = "[::-1]" if self.pick(2) else ""
            self.emit(indent, f"{first} = await ctx.when_any({kids}{order})")
            self.emit(indent, f"acc.append([{kids}.index({first}), {CLOCK}])")
        self.emit(indent, f"acc.append([await ctx.when_all({kids}), {CLOCK}])")

    def retried(self, sc: Scope, indent: int) -> None:
        act = ACTIVITIES[self.pick(3)]
        seconds = self.draw(st.integers(1, 90))
        self.emit(indent, f"acc.append(await ctx.call_activity({act}, {self.expr(sc, 1)}, "
                          f"retry=RetryPolicy(2, timedelta(seconds={seconds}))))")

    def context_state(self, sc: Scope, indent: int) -> None:
        if self.pick(2):
            self.emit(indent, "ctx.set_custom_status([v0, len(acc)])")
        else:
            self.emit(indent, "acc.append(str(ctx.new_uuid()))")

    def continue_as_new(self, sc: Scope, indent: int) -> None:
        # n grows by one per generation, so at most 20 generations
        self.emit(indent, f"if n < 19 and {self.cond(sc)}:")
        self.emit(indent + 1, "ctx.continue_as_new(n + 1)")
        self.emit(indent + 1, RESULT)

    def helper(self, sc: Scope, indent: int) -> None:
        arg, fn = self.name("y"), self.name("helper")
        self.emit(indent, f"{arg} = {self.expr(sc)}")
        self.emit(indent, f"def {fn}(y):")
        self.emit(indent + 1, "return y * 2 + v0")
        self.emit(indent, f"acc.append({fn}({arg}))")

    def leave(self, sc: Scope, indent: int) -> None:
        """`break`, `continue` or `return`, guarded by a condition."""
        options = ["return"] + (["break", "continue"] if sc.loops else [])
        word = options[self.pick(len(options))]
        self.emit(indent, f"if {self.cond(sc)}:")
        self.emit(indent + 1, RESULT if word == "return" else word)

    def aliasing(self, sc: Scope, indent: int) -> None:
        b, c = self.name("b"), self.name("c")
        self.emit(indent, f"{b} = [{self.expr(sc, 0)}]")
        self.emit(indent, f"{c} = {b}")
        self.emit(indent, f"v1 = await {self.call(sc, 1)}")
        self.emit(indent, f"{c}.append(v1)")
        self.emit(indent, f"acc.append({b})")

    # -- issue 16: plain Python semantics in the corners --------------------------------

    def corner(self, sc: Scope, indent: int) -> None:
        """One of the corners of issue 16 and issue 13 (drawn as one production, so the
        other constructs keep their share of the programs)."""
        corners = (self.exception_chain, self.kept_exception, self.awaited_targets,
                   self.shadowed_builtin, self.defaults_helper, self.dict_walk,
                   self.awaited_comparison, self.assert_message, self.chosen_task,
                   self.multi_line, self.debug_fstring, self.gathered, self.kept_traceback)
        corners[self.pick(len(corners))](sc, indent)

    def exception_chain(self, sc: Scope, indent: int) -> None:
        """An exception raised in a handler that awaits (its `__context__`), maybe `from`
        the caught one or `from None`, caught outside and kept across an await."""
        e, k = self.name("e"), self.name("k")
        self.emit(indent, "try:")
        self.emit(indent + 1, "try:")
        self.emit(indent + 2, f"v0 = await {self.call(sc, 1)}")
        self.emit(indent + 2, "raise AppError(v0)")
        self.emit(indent + 1, f"except (TaskFailedError, AppError) as {e}:")
        self.emit(indent + 2, f"acc.append(await {self.call(sc, 1)})")
        cause = ("", f" from {e}", " from None")[self.pick(3)]
        self.emit(indent + 2, f"raise KeyError(str({e})){cause}")
        self.emit(indent, f"except KeyError as {k}:")
        self.emit(indent + 1, f"kept = {k}")
        self.emit(indent, f"acc.append(await {self.call(sc, 1)})")
        self.emit(indent, "acc.append(chain(kept))")

    def kept_exception(self, sc: Scope, indent: int) -> None:
        """A user exception class with its own __init__, extra attributes and a note, live
        across an await (and, half the time, in flight through a finally that awaits)."""
        err = self.name("err")
        self.emit(indent, f"{err} = AppError({self.expr(sc)})")
        self.emit(indent, f"{err}.extra = [v1]")
        self.emit(indent, f"{err}.add_note(str(v0))")
        if self.pick(2):
            self.emit(indent, "try:")
            self.emit(indent + 1, "try:")
            self.emit(indent + 2, f"raise {err}")
            self.emit(indent + 1, "finally:")
            self.emit(indent + 2, f"acc.append(await {self.call(sc, 1)})")
            self.emit(indent, "except AppError as caught:")
            self.emit(indent + 1, f"acc.append(caught is {err})")
        else:
            self.emit(indent, f"acc.append(await {self.call(sc, 1)})")
        self.emit(indent, f"acc.append([{err}.code, str({err}), {err}.extra, {err}.__notes__])")

    def awaited_targets(self, sc: Scope, indent: int) -> None:
        """Awaits in assignment, augmented-assignment and del targets, and walruses that
        rebind the index while the value awaits: Python's evaluation order."""
        t = self.name("tally")
        self.emit(indent, f'{t} = {{"0": 1, "1": 2, "2": 3}}')
        kind = self.pick(4)
        if kind == 0:
            self.emit(indent, f"{t}[str({self.expr(sc)} % 3)] += {self.expr(sc)}")
        elif kind == 1:
            self.emit(indent, f"{t}[str({self.expr(sc)} % 3)] = {self.expr(sc)}")
        elif kind == 2:
            self.emit(indent, f"del {t}[str({self.expr(sc)} % 3)]")
        else:
            self.emit(indent, "i = 0")
            self.emit(indent, f"box[i] += await {self.call(sc, 1)} + (i := 0)")
        # lists, not the items' tuples: an output (even one continue_as_new drops) is JSON
        self.emit(indent, f"acc.append([[key, {t}[key]] for key in sorted({t})])")

    def shadowed_builtin(self, sc: Scope, indent: int) -> None:
        """A local named like a builtin or a name the emitted code uses."""
        name = ("isinstance", "Exception", "BaseException", "locals", "_rt", "_Any",
                "AssertionError")[self.pick(7)]
        self.emit(indent, f"{name} = {self.expr(sc)}")
        self.emit(indent, f"acc.append({name})")

    def defaults_helper(self, sc: Scope, indent: int) -> None:
        """A nested def whose defaults read locals, rebound after the def."""
        k, fn = self.name("kd"), self.name("dflt")
        self.emit(indent, f"{k} = {self.expr(sc)}")
        self.emit(indent, f"def {fn}(y, kk={k}, *, tag=str({k}) + '!'):")
        self.emit(indent + 1, "return [y, kk, tag]")
        self.emit(indent, f"{k} = {self.expr(sc)}")
        self.emit(indent, f"acc.append({fn}({self.expr(sc)}))")

    def dict_walk(self, sc: Scope, indent: int) -> None:
        """A dict view, enumerate, zip or reversed walked by a loop whose body awaits and
        changes what it walks."""
        d, k = self.name("d"), self.name("k")
        self.emit(indent, f'{d} = {{"a": {self.expr(sc, 0)}, "b": {self.expr(sc, 0)}}}')
        head = (f"for {k}, val in {d}.items():", f"for {k}, val in enumerate({d}.values()):",
                f"for {k}, val in zip({d}, reversed(list({d}.values())), strict=True):",
                f"for {k}, val in enumerate({d}, 3):")[self.pick(4)]
        self.emit(indent, head)
        self.emit(indent + 1, f'{d}["b"] = {self.expr(sc, 0)}')
        self.emit(indent + 1, f"acc.append([{k}, val, await {self.call(sc, 1)}])")

    def awaited_comparison(self, sc: Scope, indent: int) -> None:
        self.emit(indent, f"acc.append({self.expr(sc, 1)} <= {self.expr(sc)} < "
                          f"{self.expr(sc)} != 7)")

    def assert_message(self, sc: Scope, indent: int) -> None:
        a = self.name("a")
        self.emit(indent, "try:")
        self.emit(indent + 1, f"assert {self.cond(sc)}, {self.expr(sc)}")
        self.emit(indent, f"except AssertionError as {a}:")
        self.emit(indent + 1, f"acc.append(str({a}))")

    def chosen_task(self, sc: Scope, indent: int) -> None:
        """`await (t1 if c else t2)`, then each task awaited again: the same objects."""
        t, u, r = self.name("t"), self.name("u"), self.name("r")
        self.emit(indent, f"{t} = ctx.call_activity({ACTIVITIES[self.pick(3)]}, "
                          f"[{self.expr(sc, 0)}])")
        self.emit(indent, f"{u} = ctx.call_activity({ACTIVITIES[self.pick(3)]}, "
                          f"[{self.expr(sc, 0)}])")
        self.emit(indent, f"{r} = await ({t} if {self.cond(sc)} else {u})")
        self.emit(indent, f"acc.append([{r}, {r} is await {t} or {r} is await {u}])")

    def gathered(self, sc: Scope, indent: int) -> None:
        """A `when_all` (maybe nested in another) over tasks also awaited one by one, before
        or after it: the list holds the children's own results (`wrap` returns a list, so
        identity shows); a failed group raises its failed child's own exception."""
        ta, tb, g, ge = self.name("ta"), self.name("tb"), self.name("gl"), self.name("ge")
        self.emit(indent, f"{ta} = ctx.call_activity(wrap, {self.expr(sc, 0)})")
        self.emit(indent, f"{tb} = ctx.call_activity({ACTIVITIES[self.pick(3)]}, "
                          f"{self.expr(sc, 0)})")
        if self.pick(2):
            self.emit(indent, f"(await {ta}).append(v0)")
        group = (f"[{ta}, {tb}]", f"[ctx.when_all([{ta}]), {tb}]")[self.pick(2)]
        first = f"{g}[0]" if group.startswith(f"[{ta}") else f"{g}[0][0]"
        self.emit(indent, "try:")
        self.emit(indent + 1, f"{g} = await ctx.when_all({group})")
        self.emit(indent + 1, f"acc.append(await {self.call(sc, 1)})")
        self.emit(indent + 1, f"acc.append([{g}, {first} is await {ta}, {g}[1] == await {tb}])")
        self.emit(indent, f"except TaskFailedError as {ge}:")
        self.emit(indent + 1, f"acc.append(await {self.call(sc, 1)})")
        self.emit(indent + 1, "try:")
        self.emit(indent + 2, f"await {tb}")
        self.emit(indent + 1, "except TaskFailedError as again:")
        self.emit(indent + 2, f"acc.append([str({ge}), again is {ge}])")

    def kept_traceback(self, sc: Scope, indent: int) -> None:
        """An exception caught before an await (a local IndexError, or a task's error at
        its await) whose traceback is shown after it, maybe raised again first: what
        `format_exception` and `extract_tb` show is kept across a resume."""
        x, held = self.name("x"), self.name("tbk")
        self.emit(indent, "try:")
        self.emit(indent + 1, f"acc.append([3, 1, 4][{self.expr(sc)} % 5])")
        self.emit(indent, f"except (TaskFailedError, IndexError) as {x}:")
        self.emit(indent + 1, f"{held} = {x}")
        self.emit(indent, "else:")
        self.emit(indent + 1, f"{held} = None")
        self.emit(indent, f"acc.append(await {self.call(sc, 1)})")
        if self.pick(2):
            self.emit(indent, f"if {held} is not None:")
            self.emit(indent + 1, "try:")
            self.emit(indent + 2, f"raise {held}")
            self.emit(indent + 1, "except (TaskFailedError, IndexError):")
            self.emit(indent + 2, "pass")
        self.emit(indent, f"acc.append(shown({held}))")

    def multi_line(self, sc: Scope, indent: int) -> None:
        """Statements spanning lines (issue 13): brackets, backslashes, triple quotes."""
        kind = self.pick(4)
        if kind == 0:
            self.emit(indent, f"acc.append([{self.expr(sc)},")
            self.emit(indent, f"            {self.expr(sc)}])")
        elif kind == 1:
            self.emit(indent, f"if {self.cond(sc)}:")
            self.emit(indent + 1, "return [acc, v0,")
            self.emit(indent + 1, "        v1, v2, box]")
        elif kind == 2:
            self.emit(indent, f"{self.target()} = {self.expr(sc)} + \\")
            self.emit(indent, f"    {self.expr(sc)}")
        else:
            self.emit(indent, 'acc.append("""one')
            self.lines.append(f'two""" + str({self.expr(sc)}))')

    def debug_fstring(self, sc: Scope, indent: int) -> None:
        if self.in_fstring:
            self.emit(indent, f"acc.append({self.expr(sc)})")
            return
        self.in_fstring = True
        if self.pick(2):
            self.emit(indent, f'acc.append(f"{{{self.expr(sc)}=}}")')
        else:  # an await in a format spec: evaluated after the field's expression
            self.emit(indent, f'acc.append(f"{{{self.expr(sc)}:>{{{self.expr(sc)} % 9}}}}")')
        self.in_fstring = False

    def if_stmt(self, sc: Scope, indent: int) -> None:
        self.emit(indent, f"if {self.cond(sc)}:")
        self.block(sc, indent + 1)
        for _ in range(self.pick(2)):
            self.emit(indent, f"elif {self.cond(sc)}:")
            self.block(sc, indent + 1)
        if self.pick(2):
            self.emit(indent, "else:")
            self.block(sc, indent + 1)

    def for_stmt(self, sc: Scope, indent: int) -> None:
        var = self.name("i")
        kind = self.pick(3)
        if kind == 0:
            source = f"range({self.draw(st.integers(0, 3))})"
        elif kind == 1:
            source = f"[{self.expr(sc, 1)}, {self.draw(st.integers(0, 9))}]"
        else:
            source = f"range({sc.ints[self.pick(len(sc.ints))]} % 3)"
        self.emit(indent, f"for {var} in {source}:")
        self.block(replace(sc, ints=(*sc.ints, var), loops=sc.loops + 1), indent + 1)
        self.loop_else(sc, indent)

    def while_stmt(self, sc: Scope, indent: int) -> None:
        var = self.name("w")
        self.emit(indent, f"{var} = 0")
        more = ""
        if self.pick(2):
            more = f" and await {self.call(sc, 1)} != {self.draw(st.integers(0, 9))}"
        self.emit(indent, f"while {var} < {self.draw(st.integers(1, 3))}{more}:")
        self.emit(indent + 1, f"{var} += 1")  # first, so `continue` cannot loop forever
        self.block(replace(sc, ints=(*sc.ints, var), loops=sc.loops + 1), indent + 1)
        self.loop_else(sc, indent)

    def loop_else(self, sc: Scope, indent: int) -> None:
        if self.pick(3) == 2:
            self.emit(indent, "else:")
            self.block(sc, indent + 1)

    def try_stmt(self, sc: Scope, indent: int) -> None:
        self.emit(indent, "try:")
        self.block(sc, indent + 1)
        handlers = self.pick(3)
        for h in range(handlers):
            err = self.name("e")
            kind = self.pick(3)
            caught = ("TaskFailedError", "ValueError", "(TaskFailedError, ValueError)")[kind]
            self.emit(indent, f"except {caught} as {err}:")
            shown = f"{err}.message" if kind == 0 else f"str({err})"
            self.emit(indent + 1, f"acc.append({shown})")
            if self.pick(4) == 3:
                self.emit(indent + 1, f"if {self.cond(sc)}:")
                self.emit(indent + 2, "raise")
            if self.budget > 0 and (h == 0 or self.pick(2)):
                self.block(sc, indent + 1)
        if handlers and self.pick(2):
            self.emit(indent, "else:")
            self.block(sc, indent + 1)
        if not handlers or self.pick(2):
            self.emit(indent, "finally:")
            self.emit(indent + 1, f"acc.append(await {self.call(sc, 1)})")
            if self.budget > 0 and self.pick(2):
                self.block(sc, indent + 1)

    def exit_through_finally(self, sc: Scope, indent: int) -> None:
        """`return` (or `break`/`continue`) out of a `try` whose `finally` awaits: the
        pending exit must survive the suspension."""
        self.emit(indent, "try:")
        self.block(sc, indent + 1)
        self.leave(sc, indent + 1)
        self.emit(indent, "finally:")
        self.emit(indent + 1, f"acc.append(await {self.call(sc, 1)})")

    def fan_out(self, sc: Scope, indent: int) -> None:
        tasks, results = self.name("tasks"), self.name("results")
        act = ACTIVITIES[self.pick(3)]
        self.emit(indent, f"{tasks} = [ctx.call_activity({act}, {self.expr(sc, 0)} + x) "
                          f"for x in range({self.draw(st.integers(0, 3))})]")
        if self.pick(2):
            self.emit(indent, f"{results} = await ctx.when_all({tasks})")
            self.emit(indent, f"v2 += sum({results})")
        else:
            self.emit(indent, f"acc.append(await ctx.when_all({tasks}))")

    def fan_out_any(self, sc: Scope, indent: int) -> None:
        tasks, first = self.name("tasks"), self.name("first")
        self.emit(indent, f"{tasks} = []")
        self.emit(indent, f"for x in range({self.draw(st.integers(1, 3))}):")
        self.emit(indent + 1, f"{tasks}.append(ctx.call_activity({ACTIVITIES[self.pick(3)]}, "
                              f"{self.expr(sc, 0)} + x))")
        self.emit(indent, f"{first} = await ctx.when_any({tasks})")
        self.emit(indent, f"acc.append([{tasks}.index({first}), await {first}])")

    def race(self, sc: Scope, indent: int) -> None:
        """An external event against a timer; a lost event stays the first in line."""
        ev, won = self.name("ev"), self.name("won")
        self.emit(indent, f'{ev} = ctx.wait_for_external_event("go")')
        minutes = self.draw(st.integers(1, 30))
        self.emit(indent, f"{won} = await ctx.when_any([{ev}, ctx.sleep(timedelta(minutes={minutes}))])")
        self.emit(indent, f'acc.append(await {ev} if {won} == {ev} else "timeout")')

    def match_stmt(self, sc: Scope, indent: int) -> None:
        self.emit(indent, f"match {self.expr(sc)} % 3:")
        self.emit(indent + 1, "case 0:")
        self.block(sc, indent + 2)
        if self.pick(2):
            self.emit(indent + 1, f"case 1 if {self.cond(sc)}:")
            self.block(sc, indent + 2)
        self.emit(indent + 1, "case _:")
        self.block(sc, indent + 2)


@st.composite
def activity_sources(draw: st.DrawFn, name: str) -> str:
    mul = draw(st.integers(1, 5))
    add = draw(st.integers(0, 9))
    fails = sorted(draw(st.sets(st.integers(0, 19), max_size=3)))
    lines = ["@activity", f"def {name}(x):"]
    if fails:
        shown = ", ".join(map(str, fails)) + ("," if len(fails) == 1 else "")
        lines += [f"    if x % 20 in ({shown}):",
                  f'        raise ValueError(f"{name} rejects {{x}}")']
    lines.append(f"    return (x * {mul} + {add}) % 20")
    return "\n".join(lines)


HEADER = '''import traceback
from datetime import timedelta

from tether import RetryPolicy, TaskFailedError, activity, orchestrator


@activity
def wrap(x):
    return [x]


def mix(a, b, c):
    return a * 2 + b - c


class AppError(Exception):
    def __init__(self, code):
        super().__init__(f"app error {code}")
        self.code = code


def shown(err):
    if err is None:
        return None
    return [traceback.format_exception(err),
            [[f.name, f.lineno, f.colno] for f in traceback.extract_tb(err.__traceback__)]]


def chain(err):
    out = []
    while err is not None:
        out.append([type(err).__name__, str(err), err.__suppress_context__,
                    type(err.__cause__).__name__])
        err = err.__context__
    return out
'''

LEAF = f'''@orchestrator
async def leaf(ctx, x):
    await ctx.sleep(timedelta(minutes=x % 4))
    return [x, {CLOCK}]'''


@st.composite
def child_sources(draw: st.DrawFn) -> str:
    """`leaf`, and `child`: calls an activity, and may sleep before and after it, await
    `leaf`, continue as new once and fail."""
    lines = ["@orchestrator", "async def child(ctx, x):"]
    if draw(st.booleans()):
        lines.append(f"    await ctx.sleep(timedelta(minutes=x % {draw(st.integers(1, 9))}))")
    lines.append(f"    y = await ctx.call_activity({ACTIVITIES[draw(st.integers(0, 2))]}, x)")
    if draw(st.booleans()):
        lines.append("    y += (await ctx.call_sub_orchestrator(leaf, y))[0]")
    if draw(st.booleans()):
        lines.append(f"    await ctx.sleep(timedelta(minutes={draw(st.integers(0, 20))}))")
    if draw(st.booleans()):
        lines += ["    if x % 5 == 1:", "        ctx.continue_as_new(x + 1)", "        return None"]
    if draw(st.booleans()):
        lines += [f"    if y % {draw(st.integers(2, 5))} == 0:",
                  '        raise ValueError(f"child rejects {y}")']
    lines.append(f"    return [ctx.instance_id, y, {CLOCK}]")
    return LEAF + "\n\n\n" + "\n".join(lines)


PREAMBLE = """\
@orchestrator
async def prog(ctx, n):
    v0 = n
    v1 = n + 1
    v2 = 0
    acc = []
    alias = acc
    box = [0]"""


@st.composite
def programs(draw: st.DrawFn, max_statements: int = 14) -> Program:
    """A module with activities act_a/act_b/act_c, helper `mix`, orchestrators `leaf` and
    `child` and the orchestrator under test, `prog`."""
    acts = [draw(activity_sources(name)) for name in ACTIVITIES]
    acts.append(draw(child_sources()))
    writer = _Writer(draw, draw(st.integers(1, max_statements)))
    while writer.more():
        writer.stmt(Scope(), 1)
    body = "\n".join(writer.lines)
    source = "\n\n\n".join([HEADER.rstrip(), *acts, f"{PREAMBLE}\n{body}\n    {RESULT}"]) + "\n"
    events = tuple(("go", value) for value in draw(st.lists(st.integers(0, 9), max_size=4)))
    return Program(source, draw(st.integers(0, 19)), events)
