"""Shared state of the lowering: blocks, fresh names, positions, the current handler.

See `compiler/passes/split.py` for the pass; `jumps.py` and `expressions.py` add the
lowering of jumps and of expressions on top of this builder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst

from compiler.errors import CompileError
from compiler.ir import (
    Block,
    Branch,
    Code,
    FinallyEnd,
    Goto,
    Handling,
    Raise,
    Ret,
    Suspend,
    Switch,
)
from compiler.lowering.syntax import clean_text
from compiler.passes.names import (
    AwaitIndex,
    bindings,
    reads,
)
from compiler.passes.positions import Positions

# A `raise` statement at the start of a line of emitted code (strings and comments aside,
# code text never starts a line with the word otherwise).
RAISE_STATEMENT = re.compile(r"^\s*raise\b", re.MULTILINE)


# Builtins the emitted code itself calls; reached through the runtime module when the
# user's code binds the name (a local `len` must not break the machine's loops).
EMITTED_BUILTINS = ("len", "isinstance", "BaseException", "Exception", "locals",
                    "AssertionError")


def module_names_bound(module: cst.Module) -> set[str]:
    """Names the module binds at its top level."""
    top = bindings(module)
    return top.bound | top.imports | set(top.defs) | top.classes


def runtime_aliases(source: str, base_names: Sequence[str] = ("_rt", "_Any")) -> dict[str, str]:
    """Module-level names for the runtime import and `typing.Any`: `_rt` and `_Any`
    unless the source spells that identifier anywhere (then `_rt1`, ...)."""
    out: dict[str, str] = {}
    for base in base_names:
        n = 0
        name = base
        while re.search(rf"\b{re.escape(name)}\b", source):
            n += 1
            name = f"{base}{n}"
        out[base] = name
    return out


# Bases of the names that are not machine locals: the frame, state and exception names.
INTERNAL = ("_f", "_state", "_exc", "_err")

# What each kind of invented local holds, as error messages and `tether history
# --all-variables` describe it in place of its name.
ROLES = {
    "_seq": "the items the loop at line {line} walks",
    "_i": "the position of the loop at line {line}",
    "_acc": "the items the comprehension at line {line} has collected so far",
    "_a": "the result awaited at line {line}",
    "_t": "a part of the expression at line {line}, evaluated before its await",
    "_fin": "how the `try` at line {line} is leaving, kept for its `finally`",
    "_e": "the exception the `try` at line {line} is handling",
    "_m": "the subject of the `match` at line {line}",
}


def unbind_text(name: str) -> str:
    return f"{name} = None\ndel {name}"


def S(state: int) -> str:
    """A state number inside emitted text; `emit` substitutes the final numbering."""
    return f"\x00{state}\x00"




@dataclass
class Loop:
    brk: int
    cont: int
    fin_depth: int


@dataclass
class Fin:
    record: str
    entry: int
    jump_targets: set[int] = field(default_factory=set)



class BlockBuilder:
    """The blocks of one orchestrator under construction, and the bookkeeping every
    lowering step shares: fresh names, positions, the current block and handler."""

    def __init__(
        self, fn: cst.FunctionDef, module: cst.Module, path: str,
        positions: Positions, reg_name: str,
        module_names: set[str], source_lines: list[str],
        runtime: dict[str, str] | None = None, module_bound: frozenset[str] = frozenset(),
    ) -> None:
        self.fn = fn
        self.module = module
        self.lines = source_lines
        self.path = path
        self._positions = positions
        self.reg_name = reg_name
        self.awaits = AwaitIndex()
        self.blocks: dict[int, Block] = {}
        self.loops: list[Loop] = []
        self.fins: list[Fin] = []
        self.except_vars: list[str] = []
        # nested defs whose defaults read locals: name -> (slot, text at the def's place
        # once the def is recreated at entry, the def and its defaults at entry)
        self.defaults: dict[str, tuple[str, str, str]] = {}
        # the exceptions being handled where code is lowered now, innermost last
        self.handled: list[Handling | None] = []
        # `except E as name` bodies being lowered: (name or None, loops around the try)
        self.unbinds: list[tuple[str | None, int]] = []
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
        # what emitted code calls the runtime module and the builtins it uses: `_rt`,
        # `len`, ... unless the user's code binds those names (then `_rt1`, `_rt.len`)
        self.runtime = dict(runtime or {"_rt": "_rt", "_Any": "_Any"})
        self.rt = self.runtime["_rt"]
        for name in EMITTED_BUILTINS:
            self.runtime[name] = f"{self.rt}.{name}" if name in self.local_names \
                or name in module_bound else name
        self.cur: Block | None = None
        self.stmt_line = self.fn_line()
        self.unsaveable: dict[str, tuple[int, int, str]] = {}
        # imports inside the body, by bound name: re-run at machine entry when live across
        # an await (a module cannot be saved, but importing it again is free and the same)
        self.imports: dict[str, str] = {}
        # hidden locals standing for a user's name (a comprehension's loop variable), so
        # that graphs and messages can show the name as written
        self.written: dict[str, str] = {}
        # every local the lowering invents -> what it holds, for messages ("the items the
        # loop at line 7 walks"); emitted for those saved in a frame (`hidden=`), so that
        # history shows only the user's locals without guessing from the name
        self.invented: dict[str, str] = {}
        # renamed copies of nodes (by id) -> the nodes of the source they were made from,
        # whose positions error messages need
        self.origins: dict[int, cst.CSTNode] = {}

    # -- helpers -------------------------------------------------------------------

    def as_written(self, text: str) -> str:
        """`text` with hidden stand-ins replaced by the names the user wrote."""
        if not self.written:
            return text
        return re.sub(r"\b_\w+_c\d+\b", lambda m: self.written.get(m.group(0), m.group(0)), text)

    def fresh(self, base: str, line: int | None = None, what: str = "") -> str:
        """A local name no user name or global takes. A machine local (not one of the
        frame, state and exception names) is recorded in `invented` as `what` (else
        the role its `base` names) holding at `line`."""
        n = self._counters.get(base, 0)
        while True:
            name = f"{base}{n}" if base not in INTERNAL or n else base
            n += 1
            if name not in self.taken:
                self._counters[base] = n
                self.taken.add(name)
                if base not in INTERNAL:
                    self.local_names.add(name)
                    role = what or ROLES.get(base, "a value the compiler keeps at line {line}")
                    self.invented[name] = role.format(line=self.stmt_line if line is None else line)
                return name

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def source_text(self, node: cst.CSTNode) -> str:
        """An unchanged statement's text, comments above it included, sliced from the
        source (LibCST's code generation costs as much as a third of lowering)."""
        span = self._positions.cheap(node)
        if span is None or not isinstance(node, cst.BaseStatement):
            return clean_text(self.code(node))
        if isinstance(node, cst.If) and self.lines[span.start.line - 1].lstrip().startswith("elif"):
            return clean_text(self.code(node))  # an `elif` standing alone is rendered as an `if`
        leading = getattr(node, "leading_lines", ())
        first = span.start.line - len(leading)
        return clean_text("\n".join(self.lines[first - 1: span.end.line]))

    def pos(self, node: cst.CSTNode) -> tuple[int, int]:
        rng = self._positions(self.origins.get(id(node), node))
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
        if not block.ops:
            block.handling = self.handling()
        self.cur = block

    def handling(self) -> Handling | None:
        return self.handled[-1] if self.handled else None

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
        if block.handler != self.handler or block.handling != self.handling():
            nxt = self.new_block(line)
            self.terminate(Goto(nxt.id))
            self.start(nxt)
            block = nxt
        block.ops.append(Code(text, line, frozenset(reads_) & self.local_names,
                              frozenset(writes), tuple(exits), returns,
                              raises=RAISE_STATEMENT.search(text) is not None))

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

    def emit_unbind(self, name: str, line: int | None) -> None:
        """`except E as name` unbinds name when its body ends, as Python does."""
        self.emit(unbind_text(name), line, writes={name})
        self.block().ops[-1].deletes = frozenset({name})

    def unbinds_for_jump(self) -> list[str]:
        """The `as` names of the handlers a break/continue leaves (innermost first)."""
        return [name for name, loops in reversed(self.unbinds)
                if name is not None and loops >= len(self.loops)]

    def value_text(self, node: cst.BaseExpression) -> str:
        """An expression's text, parenthesised when it is a bare tuple (`return a, b`)."""
        text = self.code(node)
        if isinstance(node, cst.Tuple) and not node.lpar:
            return f"({text})"
        return text

    def reads_of(self, node: cst.CSTNode) -> set[str]:
        return reads(node) & self.local_names

