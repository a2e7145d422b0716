"""verify: the block graph's invariants. Runs after `optimize` always, and after every pass
in tests or with TETHER_VERIFY=1. A failure is an `InternalCompilerError` (our bug), never a
user error.

Checked: block 0 exists; every block has a terminator; every target and handler names a
block; every block is reachable from block 0; every resume state is entered only by a
suspension; state numbers in emitted text name blocks.
"""

from __future__ import annotations

import re

from compiler.errors import InternalCompilerError
from compiler.ir import Handling, MachineIR, Suspend, Unit, block_successors, reachable

_STATE = re.compile("\x00(\\d+)\x00")


def run(unit: Unit) -> Unit:
    for machine in unit.machines:
        check(machine, "verify")
    return unit


def check(machine: MachineIR, after: str) -> None:
    def fail(msg: str) -> InternalCompilerError:
        return InternalCompilerError(after, f"{machine.name}: {msg}", dump(machine))

    blocks = machine.blocks
    if 0 not in blocks:
        raise fail("no entry block 0")
    for bid, block in blocks.items():
        if block.id != bid:
            raise fail(f"block keyed {bid} says it is {block.id}")
        if block.term is None:
            raise fail(f"block {bid} has no terminator")
        for target, _label in block_successors(block):
            if target not in blocks:
                raise fail(f"block {bid} jumps to missing block {target}")
        if block.handler is not None and block.handler not in blocks:
            raise fail(f"block {bid} has missing handler {block.handler}")
        for op in block.ops:
            for m in _STATE.finditer(op.text):
                if int(m.group(1)) not in blocks:
                    raise fail(f"block {bid} code names missing state {m.group(1)}")
    seen = reachable(blocks)
    missing = sorted(set(blocks) - seen)
    if missing:
        raise fail(f"blocks {missing} are unreachable")
    resumes = {b.term.resume for b in blocks.values() if isinstance(b.term, Suspend)}
    for bid in resumes:
        if not blocks[bid].resume:
            raise fail(f"block {bid} is resumed into but not marked as a resume state")


def dump(machine: MachineIR) -> str:
    """The IR as text: the format of `tether compile --dump-ir` and the golden tests."""
    lines = [f"machine {machine.name} ({machine.path}:{machine.line})"]
    for bid in sorted(machine.blocks):
        block = machine.blocks[bid]
        head = f"s{bid}"
        if block.line is not None:
            head += f"  line {block.line}"
        if block.label:
            head += f"  {block.label}"
        if block.handler is not None:
            head += f"  [except -> s{block.handler}]"
        if block.handling is not None:
            head += f"  [handling {_handling(block.handling)}]"
        lines.append(head)
        for op in block.ops:
            for text_line in _STATE.sub(lambda m: f"s{m.group(1)}", op.text).split("\n"):
                lines.append(f"    {text_line}")
        lines.append(f"  {_describe(block.term)}")
    return "\n".join(lines) + "\n"


def _handling(handling: Handling | None) -> str:
    if handling is None:
        return "nothing"
    if handling.cond is None:
        return handling.expr
    return f"{handling.expr} if {handling.cond} else {_handling(handling.otherwise)}"


def _describe(term: object) -> str:
    from compiler.ir import Branch, FinallyEnd, Goto, Raise, Ret, Switch

    if isinstance(term, Goto):
        return f"goto s{term.target}" + (f"  ({term.label})" if term.label != "next" else "")
    if isinstance(term, Branch):
        return f"if {term.cond} -> s{term.if_true} else s{term.if_false}"
    if isinstance(term, Suspend):
        live = ", ".join(n + ("?" if n in term.maybe_unbound else "") for n in term.live) or "-"
        return f"suspend on {term.task} -> s{term.resume}  slots: {live}"
    if isinstance(term, Ret):
        return f"return {term.value}"
    if isinstance(term, Raise):
        return term.text
    if isinstance(term, Switch):
        cases = "; ".join(f"{c.test} -> s{c.target}" for c in term.cases)
        default = f"; else s{term.default}" if term.default is not None else ""
        return f"{term.kind} {term.subject}: {cases}{default}"
    if isinstance(term, FinallyEnd):
        jumps = ", ".join(f"s{t}" for t in term.jump_targets) or "-"
        outer = f"s{term.outer_entry}" if term.outer_entry is not None else "machine"
        return f"end finally {term.record}: next s{term.after}; jumps {jumps}; return to {outer}"
    return f"<no terminator: {term!r}>"
