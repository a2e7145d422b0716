"""The compiler's IR: blocks of straight-line Python joined by explicit terminators.

A `MachineIR` is one orchestrator lowered into blocks. Each block is a list of `Code`
operations (source text that runs unchanged, apart from rewritten jumps) ending in one
terminator. A block's id is the value of `_state` that selects it in the emitted dispatch
loop. Blocks entered by resuming a suspension are *resume states*; their live variables
are the frame slots saved at that suspension.

Invariants after `split` (checked by `verify`): every block has a terminator, every target
names a block, the entry block is 0, every block is reachable from it, and every block has
a handler (the block an escaping exception goes to) or None (it propagates out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx


@dataclass
class Code:
    """Python statements emitted as written. `exits` are states that rewritten jumps inside
    the text may go to; `returns` says the text may finish the machine."""

    text: str
    line: int | None
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    exits: tuple[int, ...] = ()
    returns: bool = False
    deletes: frozenset[str] = frozenset()  # `del x`: x is unbound afterwards
    raises: bool = False  # the text holds a `raise` statement (for graphs' exception paths)


@dataclass
class Goto:
    target: int
    label: str = "next"


@dataclass
class Branch:
    """`if cond` -> if_true else if_false; `label` says which construct: if, while, for, and, or."""

    cond: str
    reads: frozenset[str]
    if_true: int
    if_false: int
    line: int | None
    label: str = "if"
    header: str | None = None  # the construct's header as written (`for city in cities`)


@dataclass
class Suspend:
    """`await task`; the machine resumes at `resume`. `kind`/`name` describe the awaited work
    (activity say_hello, timer, when_all, ...) for graphs and messages."""

    task: str
    reads: frozenset[str]
    resume: int
    line: int | None
    kind: str
    name: str | None = None
    live: tuple[str, ...] = ()
    # live locals that some path reaches this await without assigning: saved only if bound
    maybe_unbound: tuple[str, ...] = ()


@dataclass
class Ret:
    value: str | None
    reads: frozenset[str]
    line: int | None


@dataclass
class Raise:
    """A `raise` statement (`text`) that ends the block."""

    text: str
    reads: frozenset[str]
    line: int | None


@dataclass
class Case:
    test: str  # a match pattern (with guard), or an isinstance class tuple
    target: int
    reads: frozenset[str] = frozenset()
    bind: str | None = None  # `except E as name`


@dataclass
class Switch:
    """Multiway dispatch: `match` (subject + patterns) or `except` (subject is the caught
    exception, tests are exception classes; no match re-raises unless `default`)."""

    kind: str
    subject: str
    reads: frozenset[str]
    cases: list[Case]
    default: int | None
    line: int | None
    header: str | None = None  # `match v` as written


@dataclass
class FinallyEnd:
    """The end of a lowered `finally`: continue as the completion record in `record` says:
    fall through to `after`, jump to a state, return (or hand the return to the enclosing
    finally `outer_record`/`outer_entry`), or re-raise."""

    record: str
    after: int
    jump_targets: tuple[int, ...]
    outer_record: str | None
    outer_entry: int | None
    line: int | None


Terminator = Goto | Branch | Suspend | Ret | Raise | Switch | FinallyEnd


@dataclass(frozen=True)
class Handling:
    """The exception a block runs "during the handling of" (an `except` body, a `finally`
    entered by an exception): `expr`, if `cond` holds (always when None), else what
    `otherwise` says (None: nothing is handled). Python makes it the `__context__` of
    any exception raised there; the emitted block re-raises and catches it to the same
    effect."""

    expr: str
    reads: frozenset[str]
    cond: str | None = None
    otherwise: Handling | None = None


@dataclass
class Block:
    id: int
    ops: list[Code] = field(default_factory=list)
    term: Terminator | None = None
    handler: int | None = None
    line: int | None = None
    label: str = ""
    resume: bool = False
    handling: Handling | None = None


def successors(term: Terminator) -> list[tuple[int, str]]:
    """Normal-flow successors of a terminator with edge labels."""
    if isinstance(term, Goto):
        return [(term.target, term.label)]
    if isinstance(term, Branch):
        return [(term.if_true, "true"), (term.if_false, "false")]
    if isinstance(term, Suspend):
        return [(term.resume, "resume")]
    if isinstance(term, Switch):
        out = [(c.target, c.test) for c in term.cases]
        if term.default is not None:
            out.append((term.default, "default"))
        return out
    if isinstance(term, FinallyEnd):
        out = [(term.after, "next")]
        out.extend((t, "jump") for t in term.jump_targets)
        if term.outer_entry is not None:
            out.append((term.outer_entry, "return"))
        return out
    return []


def block_successors(block: Block) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for op in block.ops:
        out.extend((t, "jump") for t in op.exits)
    if block.term is not None:
        out.extend(successors(block.term))
    return out


def reachable(blocks: dict[int, Block]) -> set[int]:
    """Blocks reachable from the entry (0) by normal edges or as a handler."""
    seen: set[int] = set()
    stack = [0]
    while stack:
        bid = stack.pop()
        if bid in seen or bid not in blocks:
            continue
        seen.add(bid)
        block = blocks[bid]
        stack.extend(t for t, _ in block_successors(block))
        if block.handler is not None:
            stack.append(block.handler)
    return seen


@dataclass
class MachineIR:
    """One orchestrator, lowered."""

    name: str
    reg_name: str
    path: str
    line: int
    ctx_param: str
    ctx_annotation: str | None
    input_param: str | None
    blocks: dict[int, Block]
    locals: list[str]
    hoisted_defs: list[str]  # nested defs and imports recreated at every machine entry
    names: dict[str, str]  # internal names: frame, state, exc, err
    # locals bound to values a frame cannot hold: name -> (line, col, what)
    unsaveable: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    closures: dict[str, set[str]] = field(default_factory=dict)  # nested def -> free locals
    imports: dict[str, str] = field(default_factory=dict)  # local bound by import -> statement
    def_counts: dict[str, int] = field(default_factory=dict)
    # nested defs whose defaults are kept in a hidden local: name -> (slot, the text
    # replacing the def where it stood if it is recreated at entry, the text at entry)
    defaults: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    # locals the lowering invented -> what each holds (builder.ROLES), and those standing
    # for a name the user wrote (a comprehension's loop variable) -> that name
    invented: dict[str, str] = field(default_factory=dict)
    written: dict[str, str] = field(default_factory=dict)
    # canonical name -> what the emitted code writes: the runtime module (`_rt`), typing's
    # Any (`_Any`) and the builtins it calls (`len`, or `_rt.len` where the user binds len)
    runtime: dict[str, str] = field(default_factory=lambda: {"_rt": "_rt", "_Any": "_Any"})
    graph_hash: str = ""
    source: str = ""  # the module's text: the step graph takes `for`/`match` labels from it
    _graph: nx.DiGraph | None = field(default=None, repr=False)

    @property
    def graph(self) -> nx.DiGraph:
        """The step graph (`compiler.passes.graph.build`), drawn on first use: compiling
        needs only its hash, and building it costs as much as the lowering."""
        if self._graph is None:
            from compiler.passes.graph import build

            self._graph = build(self, self.source)
            self._graph.graph["hash"] = self.graph_hash
        return self._graph


@dataclass
class Found:
    """An `@orchestrator` function as `collect` found it."""

    node: Any  # libcst.FunctionDef
    reg_name: str
    start_line: int  # first line of its decorators
    end_line: int


@dataclass
class Unit:
    """What the pipeline passes along: one source module and its orchestrators."""

    path: str
    source: str
    module: Any = None  # libcst.Module
    positions: Any = None  # compiler.passes.positions.Positions
    found: list[Found] = field(default_factory=list)
    machines: list[MachineIR] = field(default_factory=list)
    text: str = ""  # the emitted module
