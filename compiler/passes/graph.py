"""graph: the step graph of each machine (networkx) and its hash.

Consumes optimized, hoisted blocks. Produces `MachineIR.graph`: a `networkx.DiGraph` of
the steps a reader cares about. Node keys:

- `s<state>`: `s0` is the start; every other `s` node is an await, keyed by its resume
  state (the state an instance waits at, the `step` of its checkpoints), with `kind`
  activity / sub_orchestration / entity (`ctx.call_entity`, named `counter.add`) / lock
  (the acquire of `async with ctx.lock_entities(a, b)`, named `a, b`) / timer / event /
  when_all / when_any / task and the awaited `name`;
- `b<state>`: a branch (`construct` if, while, for, and, or, match, except) whose
  `label` is its condition as written, or the end of a `finally`;
- `t<state>_<n>`: a task scheduled without being awaited where it is made (fan-out), with
  `many` when a comprehension makes one per item; `fan_out` edges lead to it from the
  step that makes it and a `fan_in` edge from it to the await that joins it; a
  `ctx.signal_entity` is such a node of kind `signal`, with no `fan_in` (it is one-way);
- `end` (every return leads there) and `fail` (an exception no handler catches), both
  invented.

Straight-line blocks are folded into the edge that passes through them. Every node has
`kind`, `label`, `line` and `end_line` (its source span; None when invented); every edge
has `kind` (next, true, false, case, loop, exception, raise, return, continue_as_new,
fan_out, fan_in) and `label` (the text to draw on it, often empty). The pass itself only
computes `graph_hash`, from the code of every state (of which the graph's shape is a
function), not from labels taken from source text, so a comment changes nothing and any
change that could move a resumed instance to different code changes it;
`MachineIR.graph` builds the graph on first use.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import libcst as cst
import networkx as nx

from compiler.ir import (
    Block,
    Branch,
    FinallyEnd,
    MachineIR,
    Raise,
    Ret,
    Suspend,
    Switch,
    Unit,
    successors,
)
from compiler.lowering.expressions import entity_call_name

# Methods of the context that make a task; when_all/when_any are joins, not work.
SCHEDULING = {
    "call_activity": "activity",
    "call_sub_orchestrator": "sub_orchestration",
    "create_timer": "timer",
    "sleep": "timer",
    "wait_for_external_event": "event",
    "call_http": "sub_orchestration",
    "call_entity": "entity",
    "signal_entity": "signal",  # one-way: drawn as a branch off its step, joined nowhere
}
JOINS = ("when_all", "when_any")


def run(unit: Unit) -> Unit:
    for machine in unit.machines:
        machine.source = unit.source
        machine.graph_hash = graph_hash(machine)
    return unit


@dataclass
class _Walk:
    """Where the folded blocks lead: the graph's nodes and the block each one owns."""

    machine: MachineIR
    lines: list[str]
    graph: nx.DiGraph
    step_of: dict[int, str] = field(default_factory=dict)  # block -> its s node
    branch_of: dict[int, str] = field(default_factory=dict)  # block -> its b node
    body: dict[str, set[int]] = field(default_factory=dict)  # node -> blocks it runs


def build(machine: MachineIR, source: str | None = None) -> nx.DiGraph:
    """The step graph of `machine`; `source` (the module's text) gives `for` headers."""
    graph = nx.DiGraph(name=machine.reg_name, path=machine.path)
    walk = _Walk(machine, (source or "").splitlines(), graph)
    _add_nodes(walk)
    for node in list(graph.nodes):
        if node[0] in "sb":
            for target, kind, label in _out_edges(walk, node):
                if not graph.has_edge(node, target):
                    graph.add_edge(node, target, kind=kind, label=label)
    for node in list(graph.nodes):
        if node[0] in "sb":
            _set_span(walk, node)
    _add_scheduled(walk)
    _add_timeouts(walk)
    return graph


def _add_timeouts(walk: _Walk) -> None:
    """`wait_for_external_event(name, timeout=...)` races the event against a timer: its
    step has two ways out, the event arriving and `TimeoutError` (to the handler that
    catches it, else to fail), and says so."""
    graph = walk.graph
    for block in walk.machine.blocks.values():
        term = block.term
        if not (isinstance(term, Suspend) and term.kind == "event" and "timeout=" in term.task):
            continue
        node = f"s{term.resume}"
        if node not in graph:
            continue
        graph.nodes[node]["label"] = f"{_await_label(term)} or timeout"
        graph.nodes[node]["timeout"] = True
        failing = [t for _, t, kind in graph.out_edges(node, data="kind") if kind == "exception"]
        if failing:
            for target in failing:
                graph.edges[node, target]["label"] = "timeout"
            continue
        if "fail" not in graph:
            graph.add_node("fail", kind="fail", label="fail", line=None, end_line=None)
        graph.add_edge(node, "fail", kind="exception", label="timeout")


def _add_nodes(walk: _Walk) -> None:
    machine, graph = walk.machine, walk.graph
    awaited = {t.resume: t for b in machine.blocks.values() if isinstance(t := b.term, Suspend)}
    for bid, block in machine.blocks.items():
        if bid == 0:
            graph.add_node("s0", kind="start", label=f"start {machine.reg_name}", line=machine.line)
            walk.step_of[bid] = "s0"
        elif bid in awaited:
            term = awaited[bid]
            graph.add_node(f"s{bid}", kind=term.kind, name=term.name, label=_await_label(term),
                           line=term.line)
            walk.step_of[bid] = f"s{bid}"
        branch = _branch(walk, block)
        if branch is not None:
            construct, label = branch
            graph.add_node(f"b{bid}", kind="branch" if construct != "finally" else "finally",
                           construct=construct, label=label, line=getattr(block.term, "line", None))
            walk.branch_of[bid] = f"b{bid}"
    graph.add_node("end", kind="end", label="end", line=None, end_line=None)


def _await_label(term: Suspend) -> str:
    if term.kind == "task":
        return f"await {term.name}"
    return f"{term.kind} {term.name}" if term.name else term.kind


def _branch(walk: _Walk, block: Block) -> tuple[str, str] | None:
    term = block.term
    if isinstance(term, Branch):
        if term.label == "for":
            return "for", term.header or _header(walk, term.line, "for") or f"for {term.cond}"
        if term.label in ("and", "or"):
            return term.label, term.cond
        return term.label, term.header or f"{term.label} {term.cond}"
    if isinstance(term, Switch):
        if term.kind == "match":
            return "match", term.header or _header(walk, term.line, "match") or f"match {term.subject}"
        return "except", "except"
    if isinstance(term, FinallyEnd):
        return "finally", "end of finally"
    return None


def _header(walk: _Walk, line: int | None, keyword: str) -> str | None:
    """`for x in xs` or `match v` as written on `line` (lowered, they read `_i0 < len(_seq0)`
    and `_m0`)."""
    if line is None or not 0 < line <= len(walk.lines):
        return None
    text = walk.lines[line - 1].strip()
    if not text.startswith(f"{keyword} "):
        return None
    text = text.split("  #")[0].split(" #")[0].rstrip()
    return text[:-1].rstrip() if text.endswith(":") else None


def _out_edges(walk: _Walk, node: str) -> list[tuple[str, str, str]]:
    """(target node, kind, label) of every edge leaving `node`."""
    bid = int(node[1:])
    block = walk.machine.blocks[bid]
    walk.body[node] = {bid}
    found: list[tuple[str, str, str]] = []
    if node[0] == "s" and bid in walk.branch_of:
        found.append((walk.branch_of[bid], "next", ""))
        found.extend(_follow(walk, node, _side_exits(block), "s"))
        return found
    exits: list[tuple[Any, str, str]] = []
    if node[0] == "b" or bid not in walk.branch_of:
        exits.extend(_term_exits(walk, block))
    if node[0] == "s" or bid not in walk.step_of:
        exits.extend(_side_exits(block))
    found.extend(_follow(walk, node, exits, node[0]))
    return found


def _term_exits(walk: _Walk, block: Block) -> list[tuple[Any, str, str]]:
    """The terminator's own exits, labelled for drawing."""
    term = block.term
    if term is None:
        return []
    if isinstance(term, Ret):
        ctx = walk.machine.ctx_param
        if any(f"{ctx}.continue_as_new(" in op.text for op in block.ops):
            # the instance starts over with a new input and a fresh journal (eternal loops)
            return [(0, "continue_as_new", "continue as new")]
        return [("end", "return", "")]
    if isinstance(term, Raise):
        return [] if block.handler is not None else [("fail", "raise", "raise")]
    if isinstance(term, Branch):
        yes, no = ("each", "done") if term.label == "for" else ("true", "false")
        return [(term.if_true, "true", yes), (term.if_false, "false", no)]
    if isinstance(term, Switch):
        out: list[tuple[Any, str, str]] = [(c.target, "case", _case_label(c.test)) for c in term.cases]
        if term.default is not None:
            out.append((term.default, "case", "else"))
        elif term.kind == "except":
            out.append((block.handler if block.handler is not None else "fail", "raise", "re-raise"))
        return out
    out = []
    for target, label in successors(term):
        kind = {"loop": "loop", "return": "return"}.get(label, "next")
        out.append((target, kind, ""))
    if isinstance(term, FinallyEnd) and term.outer_entry is None:
        out.append(("end", "return", ""))
    return out


def _case_label(test: str) -> str:
    # except tests are class tuples, `(TaskFailedError,)`; a reader wants the class names
    text = test.strip()
    if text.startswith("(") and text.endswith(",)"):
        text = text[1:-2]
    return text


def _side_exits(block: Block) -> list[tuple[Any, str, str]]:
    """Exits from inside the block's text: rewritten jumps, returns, `raise` statements
    (plain code keeps them, so they are found in its lines), and its handler."""
    out: list[tuple[Any, str, str]] = []
    for op in block.ops:
        out.extend((t, "next", "") for t in op.exits)
        if op.returns:
            out.append(("end", "return", ""))
        if op.raises:
            out.append((block.handler if block.handler is not None else "fail", "raise", "raise"))
    # a block of no code (an await being scheduled) raises nothing a reader should see
    if block.handler is not None and block.ops:
        out.append((block.handler, "exception", "exception"))
    return out


def _follow(walk: _Walk, node: str, exits: list[tuple[Any, str, str]], role: str
            ) -> Iterator[tuple[str, str, str]]:
    """Follow `exits` through folded blocks to the nodes they reach."""
    seen: set[tuple[Any, str]] = set()
    stack = list(exits)
    while stack:
        target, kind, label = stack.pop()
        if (target, kind) in seen:
            continue
        seen.add((target, kind))
        if target in ("end", "fail"):
            if target == "fail" and "fail" not in walk.graph:
                walk.graph.add_node("fail", kind="fail", label="fail", line=None, end_line=None)
            yield target, kind, label
            continue
        if target in walk.step_of:
            yield walk.step_of[target], kind, label
            continue
        if target in walk.branch_of:
            yield walk.branch_of[target], kind, label
            continue
        walk.body[node].add(target)
        block = walk.machine.blocks[target]
        for t, k, lab in _term_exits(walk, block) + _side_exits(block):
            # the first edge says why the path was taken; a later back edge or failure
            # says more than a plain `next`
            keep = kind != "next" and k != "exception"
            stack.append((t, kind if keep else k, label if keep else lab))


def _set_span(walk: _Walk, node: str) -> None:
    lines: list[int] = []
    for bid in walk.body.get(node, ()):
        block = walk.machine.blocks[bid]
        lines.extend(op.line for op in block.ops if op.line is not None)
        term_line = getattr(block.term, "line", None)
        if term_line is not None:
            lines.append(term_line)
    data = walk.graph.nodes[node]
    if data["line"] is None and lines:
        data["line"] = min(lines)
    if node[0] == "b":
        data["end_line"] = data["line"]
    else:
        data["end_line"] = max([*lines, data["line"]]) if data["line"] is not None else None


def _add_scheduled(walk: _Walk) -> None:
    """Tasks made without an await where they are made: fan-out branches to their join."""
    ctx = walk.machine.ctx_param
    for bid, block in sorted(walk.machine.blocks.items()):
        texts = [(op.text, op.line) for op in block.ops if f"{ctx}." in op.text]
        term = block.term
        if isinstance(term, Suspend) and term.kind in JOINS:
            texts.append((term.task, term.line))
        tasks = [task for text, line in texts for task in _calls(text, ctx, line)]
        if not tasks:
            continue
        # made in an await's code, or on a branch's path (a loop body of plain code)
        holders = sorted(n for n, body in walk.body.items() if bid in body)
        owners = [n for n in holders if n[0] == "s"] or holders
        join = _join(walk.machine, bid)
        for n, (kind, name, each, line) in enumerate(tasks):
            key = f"t{bid}_{n}"
            label = f"{kind} {name}" if name else kind
            walk.graph.add_node(key, kind=kind, name=name, label=label, many=each is not None,
                                each=each, line=line, end_line=line, scheduled=True)
            for owner in owners:
                walk.graph.add_edge(owner, key, kind="fan_out", label="")
            if join is not None and kind != "signal":
                walk.graph.add_edge(key, join, kind="fan_in", label="")
        if all(kind == "signal" for kind, _name, _each, _line in tasks):
            continue  # the flow does not pass through a signal: the step's edges stay
        # the way from the step that fans out to its join now leads through the branches
        for owner in owners:
            if join is not None and walk.graph.has_edge(owner, join) \
                    and walk.graph.edges[owner, join]["kind"] == "next":
                walk.graph.remove_edge(owner, join)


def _join(machine: MachineIR, bid: int) -> str | None:
    """The first await reached from `bid` in normal flow: where its scheduled tasks join."""
    seen: set[int] = set()
    queue = [bid]
    while queue:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        term = machine.blocks[current].term
        if isinstance(term, Suspend):
            return f"s{term.resume}"
        if term is not None:
            queue.extend(t for t, _ in successors(term))
    return None


class _TaskCalls(cst.CSTVisitor):
    def __init__(self, ctx: str) -> None:
        self.ctx = ctx
        self.found: list[tuple[str, str | None, str | None]] = []
        self.fors: list[str] = []

    # A task made inside a comprehension or a plain `for` is made once per item. A
    # comprehension's element is visited before its `for`, so the `for` is read on entry.
    def on_visit(self, node: cst.CSTNode) -> bool:
        loop = _loop_of(node)
        if loop is not None:
            code = cst.Module([]).code_for_node
            self.fors.append(f"for {code(loop.target)} in {code(loop.iter)}")
        return super().on_visit(node)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if _loop_of(original_node) is not None:
            self.fors.pop()
        super().on_leave(original_node)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                and func.value.value == self.ctx and func.attr.value in SCHEDULING):
            return
        kind = SCHEDULING[func.attr.value]
        name: str | None = None
        if node.args and kind in ("activity", "sub_orchestration", "event"):
            first = node.args[0].value
            if isinstance(first, cst.SimpleString) and isinstance(first.evaluated_value, str):
                name = first.evaluated_value
            elif isinstance(first, cst.Name | cst.Attribute):
                name = cst.Module([]).code_for_node(first)
        elif kind in ("entity", "signal"):
            name = entity_call_name(lambda text: text, node)
        self.found.append((kind, name, self.fors[-1] if self.fors else None))


def _loop_of(node: cst.CSTNode) -> cst.CompFor | cst.For | None:
    if isinstance(node, cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp):
        return node.for_in
    return node if isinstance(node, cst.For) else None


def _calls(text: str, ctx: str, line: int | None) -> list[tuple[str, str | None, str | None, int | None]]:
    """(kind, name, `for x in xs` when made per item, line) of each task `text` makes."""
    try:
        module = cst.parse_module(text.replace("\x00", ""))
    except cst.ParserSyntaxError:
        return []
    visitor = _TaskCalls(ctx)
    module.visit(visitor)
    return [(kind, name, each, line) for kind, name, each in visitor.found]


def graph_hash(machine: MachineIR) -> str:
    """A hash of every state's code, terminator and handler. The step graph is a function
    of exactly these, so this hashes the graph's shape too without building it."""
    doc = {
        "states": [
            (bid, [op.text for op in b.ops], _term_text(b), b.handler)
            for bid, b in sorted(machine.blocks.items())
        ],
    }
    blob = json.dumps(doc, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _term_text(block: Block) -> str:
    from compiler.passes.verify import _describe

    return _describe(block.term) if block.term is not None else ""
