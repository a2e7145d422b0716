"""optimize: drop unreachable blocks, merge straight-line chains, number states in order.

Consumes `split`'s blocks. Produces the same machine with: every block reachable from
the entry (through normal edges or as a handler); no block that only falls into a
successor with no other way in (so a state is a real resumption or branch point); and
states numbered 0.. in depth-first order of the graph, which follows the source.
Resume blocks, handler blocks and finally entries are never merged away: the dispatch
loop must be able to enter them.
"""

from __future__ import annotations

import re

from compiler.ir import (
    Block,
    Branch,
    FinallyEnd,
    Goto,
    MachineIR,
    Suspend,
    Switch,
    Unit,
    block_successors,
    reachable,
)

_STATE = re.compile("\x00(\\d+)\x00")


def run(unit: Unit) -> Unit:
    for machine in unit.machines:
        _prune(machine)
        _merge(machine)
        _prune(machine)
        _renumber(machine)
    return unit


def _edges(block: Block) -> list[int]:
    out = [t for t, _ in block_successors(block)]
    if block.handler is not None:
        out.append(block.handler)
    return out


def _prune(machine: MachineIR) -> None:
    seen = reachable(machine.blocks)
    machine.blocks = {b: blk for b, blk in machine.blocks.items() if b in seen}


def _merge(machine: MachineIR) -> None:
    blocks = machine.blocks
    preds: dict[int, int] = {b: 0 for b in blocks}
    pinned: set[int] = {0}
    for block in blocks.values():
        for t in _edges(block):
            preds[t] += 1
        if block.handler is not None:
            pinned.add(block.handler)
        for op in block.ops:
            pinned.update(op.exits)
        term = block.term
        if isinstance(term, Suspend):
            pinned.add(term.resume)
        if isinstance(term, FinallyEnd):
            pinned.update(term.jump_targets)
            if term.outer_entry is not None:
                pinned.add(term.outer_entry)
        if isinstance(term, Switch):
            pinned.update(c.target for c in term.cases)
    changed = True
    while changed:
        changed = False
        for bid in sorted(blocks):
            maybe = blocks.get(bid)
            if maybe is None or not isinstance(maybe.term, Goto):
                continue
            block = maybe
            target = maybe.term.target
            nxt = blocks.get(target)
            if nxt is None or target == bid or target in pinned or preds[target] != 1 \
                    or nxt.handler != block.handler or nxt.handling != block.handling:
                continue
            block.ops.extend(nxt.ops)
            block.term = nxt.term
            if not block.label:
                block.label = nxt.label
            del blocks[target]
            changed = True


def _renumber(machine: MachineIR) -> None:
    order: list[int] = []
    seen: set[int] = set()

    def visit(bid: int) -> None:
        # iterative DFS preorder; successors in their natural order (then before else)
        stack = [bid]
        while stack:
            b = stack.pop()
            if b in seen:
                continue
            seen.add(b)
            order.append(b)
            stack.extend(reversed(_edges(machine.blocks[b])))

    visit(0)
    new_id = {old: i for i, old in enumerate(order)}
    machine.blocks = {new_id[old]: _renumber_block(machine.blocks[old], new_id) for old in order}


def _renumber_block(block: Block, new_id: dict[int, int]) -> Block:
    def sub(text: str) -> str:
        return _STATE.sub(lambda m: f"\x00{new_id[int(m.group(1))]}\x00", text)

    block.id = new_id[block.id]
    if block.handler is not None:
        block.handler = new_id[block.handler]
    for op in block.ops:
        op.text = sub(op.text)
        op.exits = tuple(new_id[t] for t in op.exits)
    term = block.term
    if isinstance(term, Goto):
        term.target = new_id[term.target]
    elif isinstance(term, Suspend):
        term.resume = new_id[term.resume]
    elif isinstance(term, Switch):
        for case in term.cases:
            case.target = new_id[case.target]
        if term.default is not None:
            term.default = new_id[term.default]
    elif isinstance(term, FinallyEnd):
        term.after = new_id[term.after]
        term.jump_targets = tuple(sorted(new_id[t] for t in term.jump_targets))
        if term.outer_entry is not None:
            term.outer_entry = new_id[term.outer_entry]
    elif isinstance(term, Branch):
        term.if_true = new_id[term.if_true]
        term.if_false = new_id[term.if_false]
    return block
