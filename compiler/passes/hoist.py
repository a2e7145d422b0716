"""hoist: locals live across an await become frame slots.

Consumes the blocks of `split` (after `optimize`). Computes liveness over the block
graph (exception edges included: whatever a handler needs is live throughout the blocks
it guards) and records, on every `Suspend`, the locals that must be saved: those live
where the machine resumes. A nested `def` live across an await is not saved (functions
cannot be) but recreated at every machine entry, closing over the same locals. A local
imported inside the body is imported again at machine entry instead. A local that can
never be saved (a lambda, a generator, an open file, a class) yet is live across an await
is a `CompileError` naming it.

Afterwards: every `Suspend.live` is sorted and excludes the context parameter and the
machine's own names; `MachineIR.hoisted_defs` holds the recreated defs.
"""

from __future__ import annotations

import re

from compiler.errors import CompileError
from compiler.ir import (
    Block,
    Branch,
    Code,
    FinallyEnd,
    MachineIR,
    Raise,
    Ret,
    Suspend,
    Switch,
    Unit,
    block_successors,
)


def run(unit: Unit) -> Unit:
    for machine in unit.machines:
        _hoist(machine)
    return unit


def _term_reads(block: Block) -> set[str]:
    term = block.term
    if isinstance(term, Branch | Suspend | Ret | Switch):
        out = set(term.reads)
        if isinstance(term, Switch):
            for case in term.cases:
                out |= case.reads
        return out
    if isinstance(term, Raise):
        return set(term.reads)
    if isinstance(term, FinallyEnd):
        return {term.record}
    return set()


def liveness(machine: MachineIR, closures: dict[str, set[str]]) -> dict[int, set[str]]:
    """live_in of every block (a fixpoint over the block graph, exception edges included)."""
    blocks = machine.blocks

    def expand(names: frozenset[str] | set[str]) -> set[str]:
        out = set(names)
        for name in names & closures.keys():
            out |= closures[name]
        return out

    live_in: dict[int, set[str]] = {b: set() for b in blocks}
    changed = True
    order = sorted(blocks, reverse=True)
    while changed:
        changed = False
        for bid in order:
            block = blocks[bid]
            live: set[str] = set()
            term = block.term
            if isinstance(term, Switch):  # `except E as name` binds name: not live before
                for case in term.cases:
                    live |= live_in[case.target] - ({case.bind} if case.bind else set())
                if term.default is not None:
                    live |= live_in[term.default]
                live |= expand(_term_reads(block))
            elif term is not None:
                for succ, _label in block_successors(Block(-1, [], term)):
                    live |= live_in[succ]
                live |= expand(_term_reads(block))
            for op in reversed(block.ops):
                live = (live - op.writes) | expand(op.reads)
                for target in op.exits:
                    live |= live_in[target]
            if block.handler is not None:
                live |= live_in[block.handler]
            if block.handling is not None:  # read at the block's entry (see emit)
                live |= block.handling.reads
            if live != live_in[bid]:
                live_in[bid] = live
                changed = True
    return live_in


def definitely_assigned(machine: MachineIR) -> dict[int, set[str]]:
    """Locals bound on every path into each block (forward must-analysis). Passthrough
    compound statements bind nothing here: conservative, as a maybe-unbound local is only
    saved more carefully, never wrongly."""
    blocks = machine.blocks
    universe = set(machine.locals) | {n for b in blocks.values() for op in b.ops for n in op.writes}
    into: dict[int, set[str]] = {b: set(universe) for b in blocks}
    into[0] = set()
    guarded: dict[int, list[int]] = {}
    for bid, block in blocks.items():
        if block.handler is not None:
            guarded.setdefault(block.handler, []).append(bid)
    changed = True
    while changed:
        changed = False
        for bid in sorted(blocks):
            block = blocks[bid]
            assigned = set(into[bid])
            for op in block.ops:
                for target in op.exits:
                    changed |= _meet(into, target, assigned)
                assigned = (assigned | op.writes) - op.deletes
            term = block.term
            if isinstance(term, Switch):  # `except E as name` binds name on its way in
                for case in term.cases:
                    bound = assigned | ({case.bind} if case.bind else set())
                    changed |= _meet(into, case.target, bound)
                if term.default is not None:
                    changed |= _meet(into, term.default, assigned)
            elif term is not None:
                for succ, _label in block_successors(Block(-1, [], term)):
                    changed |= _meet(into, succ, assigned)
            if block.handler is not None:  # an exception may leave before any op ran
                changed |= _meet(into, block.handler, into[bid])
    return into


def _meet(into: dict[int, set[str]], target: int, assigned: set[str]) -> bool:
    if target == 0 or into[target] <= assigned:
        return False
    into[target] &= assigned
    return True


def _assigned_at_end(block: Block, entry: set[str]) -> set[str]:
    assigned = set(entry)
    for op in block.ops:
        assigned = (assigned | op.writes) - op.deletes
    return assigned


def _hoist(machine: MachineIR) -> None:
    unsaveable, closures, def_counts = machine.unsaveable, machine.closures, machine.def_counts
    live_in = liveness(machine, closures)
    assigned_in = definitely_assigned(machine)
    internal = set(machine.names.values()) | {machine.ctx_param}
    hoisted: set[str] = set()
    reimport: list[str] = []
    for block in machine.blocks.values():
        term = block.term
        if not isinstance(term, Suspend):
            continue
        live = live_in[term.resume] - internal
        for name in sorted(live & set(closures)):
            if def_counts.get(name, 0) != 1:
                raise CompileError(machine.path, term.line or machine.line, 1,
                                   f"nested function `{name}` is defined more than once and "
                                   "used across an await", "give each definition its own name")
            hoisted.add(name)
        live -= set(closures)
        for name in sorted(live & machine.imports.keys()):
            reimport.append(machine.imports[name])
        live -= machine.imports.keys()
        for name in sorted(live):
            if name in unsaveable:
                line, col, what = unsaveable[name]
                raise CompileError(
                    machine.path, line, col,
                    f"local `{name}` holds {what}, which cannot be saved in the frame, and is "
                    f"used after the await at line {term.line}",
                    "recreate it after the await, or keep only JSON-like values across awaits",
                )
        term.live = tuple(sorted(live))
        term.maybe_unbound = tuple(sorted(live - _assigned_at_end(block, assigned_in[block.id])))
    machine.hoisted_defs = list(dict.fromkeys(reimport))
    machine.hoisted_defs += _take_defs(machine, hoisted)


def _take_defs(machine: MachineIR, names: set[str]) -> list[str]:
    """Move the defs of `names` out of the blocks; they are emitted at machine entry. A def
    whose defaults are kept (`MachineIR.defaults`) leaves behind the text that computes
    them where it stood; the copy of them a def kept in place would take is dropped."""
    out: list[str] = []
    copies = {f"{slot} = ({name}.__defaults__, {name}.__kwdefaults__)"
              for name, (slot, _site, _entry) in machine.defaults.items()}
    for block in machine.blocks.values():
        kept: list[Code] = []
        for op in block.ops:
            match = re.match(r"(?:@.*\n)*def (\w+)\(", op.text)
            name = match.group(1) if match else None
            if name in names and name in machine.defaults:
                slot, site, entry = machine.defaults[name]
                out.append(entry)
                kept.append(Code(site, op.line, op.reads, frozenset({slot, name})))
            elif name in names:
                out.append(op.text)
            elif op.text not in copies:
                kept.append(op)
        block.ops = kept
    return out
