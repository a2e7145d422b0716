"""graph: the step graph of each machine (networkx) and its hash.

Consumes optimized, hoisted blocks. Produces `MachineIR.graph`: a `networkx.DiGraph`
whose nodes are the steps a reader cares about, keyed `s<state>`:

- `start` (the entry) and `end` (a node we invent: every return and escaping error leads there);
- one node per await, keyed by its resume state (the state an instance waits at), with
  `kind` activity / sub_orchestration / timer / event / when_all / when_any / task and
  the awaited `name`;
- one node per branch (`if`, `while`, `for`, `and`/`or`, `match`, `except`) with its
  condition as `label`;
- straight-line blocks are folded into the edge that passes through them.

Every node has `line` (source line, None when invented) and `label`; every edge has
`kind`: next, true, false, loop, exception, return, jump, resume. `graph_hash` is a hash of
the graph and of the code of every state, so any change that could move a resumed
instance to different code changes it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import networkx as nx

from compiler.ir import (
    Block,
    Branch,
    FinallyEnd,
    Goto,
    MachineIR,
    Raise,
    Ret,
    Suspend,
    Switch,
    Unit,
)


def run(unit: Unit) -> Unit:
    for machine in unit.machines:
        machine.graph = build(machine)
        machine.graph_hash = graph_hash(machine)
    return unit


def _step_kind(machine: MachineIR, block: Block) -> tuple[str, str] | None:
    """(kind, label) when the block is a step of its own, else None (folded)."""
    if block.id == 0:
        return "start", f"start {machine.reg_name}"
    if block.resume:
        for pred in machine.blocks.values():
            term = pred.term
            if isinstance(term, Suspend) and term.resume == block.id:
                label = f"{term.kind} {term.name}" if term.name else term.kind
                return term.kind, label
    term = block.term
    if isinstance(term, Branch):
        return "branch", f"{term.label} {term.cond}"
    if isinstance(term, Switch):
        return "branch", f"{term.kind} {term.subject}"
    if isinstance(term, FinallyEnd):
        return "finally", "end of finally"
    return None


def build(machine: MachineIR) -> nx.DiGraph:
    full = nx.DiGraph()
    for bid, block in machine.blocks.items():
        full.add_node(bid)
        for target, label in _edges(block):
            kind = _edge_kind(label)
            if full.has_edge(bid, target):
                continue
            full.add_edge(bid, target, kind=kind, label=label)
        if block.handler is not None and not full.has_edge(bid, block.handler):
            full.add_edge(bid, block.handler, kind="exception", label="exception")
        if isinstance(block.term, Ret) or _may_return(block):
            full.add_edge(bid, "end", kind="return", label="return")
        if isinstance(block.term, Raise) or block.handler is None:
            # an exception no handler catches ends the orchestration
            pass
    graph = nx.DiGraph(name=machine.reg_name)
    steps: dict[int, tuple[str, str]] = {}
    for bid, block in machine.blocks.items():
        info = _step_kind(machine, block)
        if info is not None:
            steps[bid] = info
    for bid, (kind, label) in steps.items():
        block = machine.blocks[bid]
        graph.add_node(f"s{bid}", kind=kind, label=label, line=block.line)
    graph.add_node("end", kind="end", label="end", line=None)
    for bid in steps:
        for target, kind in _reach(full, bid, steps):
            node = "end" if target == "end" else f"s{target}"
            if not graph.has_edge(f"s{bid}", node):
                graph.add_edge(f"s{bid}", node, kind=kind)
    return graph


def _reach(full: nx.DiGraph, start: int, steps: dict[int, tuple[str, str]]) -> list[tuple[Any, str]]:
    """Steps reachable from `start` through folded (non-step) blocks, with the first edge's kind."""
    out: list[tuple[Any, str]] = []
    seen: set[Any] = set()
    stack: list[tuple[Any, str]] = [(t, d["kind"]) for _, t, d in full.out_edges(start, data=True)]
    while stack:
        node, kind = stack.pop()
        if (node, kind) in seen:
            continue
        seen.add((node, kind))
        if node == "end" or node in steps:
            out.append((node, kind))
            continue
        for _, t, d in full.out_edges(node, data=True):
            next_kind = kind if kind != "next" else d["kind"]
            stack.append((t, next_kind))
    return sorted(out, key=lambda p: (str(p[0]), p[1]))


def _edges(block: Block) -> list[tuple[int, str]]:
    from compiler.ir import block_successors

    return block_successors(block)


def _edge_kind(label: str) -> str:
    if label in ("true", "false", "loop", "return", "jump", "resume", "exception"):
        return label
    if label in ("break", "continue"):
        return "jump"
    if label == "default" or label == "next":
        return "next"
    return "case"


def _may_return(block: Block) -> bool:
    return any(op.returns for op in block.ops) or (
        isinstance(block.term, FinallyEnd) and block.term.outer_entry is None
    )


def graph_hash(machine: MachineIR) -> str:
    graph = machine.graph
    assert graph is not None
    doc = {
        "nodes": sorted((n, d["kind"], d["label"]) for n, d in graph.nodes(data=True)),
        "edges": sorted((u, v, d["kind"]) for u, v, d in graph.edges(data=True)),
        "states": [
            (bid, [op.text for op in b.ops], _term_text(b), b.handler)
            for bid, b in sorted(machine.blocks.items())
        ],
    }
    blob = json.dumps(doc, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _term_text(block: Block) -> str:
    from compiler.passes.verify import _describe

    term = block.term
    if isinstance(term, Goto | Branch | Suspend | Ret | Raise | Switch | FinallyEnd):
        return _describe(term)
    return ""
