"""emit: machines -> the text of a Python module (templates/module.py.j2, machine.py.j2).

Consumes hoisted, verified machines with their graph hashes. Produces `Unit.text`: the
user's module, unchanged except that each orchestrator's lines are replaced by its
machine, plus two imports. The text depends only on the source (same source, same
bytes), imports `runtime` and nothing of the compiler, and type-checks under mypy: every
machine local is declared `Any`, and annotations on locals are dropped.

Each machine's decorator lists the locals the lowering invented that a suspension saves
(`hidden=`: slot, the name the user wrote for it or '', what it holds), so the runtime
can tell them from the user's locals; it is left out when there are none.

The layout is one `if _state == N:` branch per state, each with a comment naming the
source line, inside a dispatch loop; a `try` around it sends exceptions to the lowered
handler of the state they were raised in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2

from compiler.ir import (
    Block,
    Branch,
    FinallyEnd,
    Goto,
    Handling,
    MachineIR,
    Raise,
    Ret,
    Suspend,
    Switch,
    Unit,
)
from compiler.lowering.builder import runtime_aliases
from compiler.lowering.syntax import indent_text

_STATE = re.compile("\x00(\\d+)\x00")
HEADER = "# Compiled by tether from {path}; do not edit: recompile instead.\n"
IMPORTS = "import runtime.machine as {_rt}\nfrom typing import Any as {_Any}\n"


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("compiler", "templates"),
        keep_trailing_newline=True,
        autoescape=False,
        undefined=jinja2.StrictUndefined,
    )


@dataclass
class _Chunk:
    text: str = ""
    machine: dict[str, Any] | None = None


def run(unit: Unit) -> Unit:
    lines = unit.source.splitlines()
    chunks: list[_Chunk] = []
    cursor = 0
    insert_at = _import_line(unit)
    by_start = sorted(zip(unit.found, unit.machines, strict=True), key=lambda p: p[0].start_line)
    pieces: list[str] = []
    for found, _machine in by_start:
        pieces.append("\n".join(lines[cursor: found.start_line - 1]))
        pieces.append("\x01")  # where the machine goes
        cursor = found.end_line
    pieces.append("\n".join(lines[cursor:]))
    machines = iter(by_start)
    prefix_done = False
    for piece in pieces:
        if piece == "\x01":
            _found, machine = next(machines)
            chunks.append(_Chunk(machine=machine_data(machine)))
            continue
        if not prefix_done and insert_at is not None:
            # our imports go after the module docstring and __future__ imports
            before = piece.split("\n")
            head, tail = before[: insert_at], before[insert_at:]
            imports = IMPORTS.format(**runtime_aliases(unit.source)).rstrip("\n")
            piece = "\n".join([*head, imports, *tail]) if head else \
                "\n".join([imports, *tail])
            prefix_done = True
        chunks.append(_Chunk(text=piece.strip("\n")))
    template = _env().get_template("module.py.j2")
    text = template.render(head=HEADER.format(path=unit.path).rstrip("\n"), chunks=chunks)
    unit.text = text.rstrip("\n") + "\n"
    return unit


def _import_line(unit: Unit) -> int:
    """Index of the source line before which our imports go."""
    import libcst as cst

    module = unit.module
    get = unit.positions
    line = 0
    if module is None or get is None:
        return 0
    for i, stmt in enumerate(module.body):
        is_doc = i == 0 and isinstance(stmt, cst.SimpleStatementLine) and isinstance(
            stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, cst.SimpleString | cst.ConcatenatedString)
        is_future = isinstance(stmt, cst.SimpleStatementLine) and isinstance(
            stmt.body[0], cst.ImportFrom) and isinstance(stmt.body[0].module, cst.Name) \
            and stmt.body[0].module.value == "__future__"
        if not (is_doc or is_future):
            break
        rng = get(stmt)
        if rng is None:
            break
        line = rng.end.line
    return line


def _num(text: str) -> str:
    return _STATE.sub(lambda m: m.group(1), text)


def machine_data(machine: MachineIR) -> dict[str, Any]:
    names = machine.names
    rt = machine.runtime
    frame, state = names["frame"], names["state"]
    handlers = {b.id: b.handler for b in machine.blocks.values() if b.handler is not None}
    restores: list[dict[str, object]] = []
    steps: list[str] = []
    for block in machine.blocks.values():
        term = block.term
        if isinstance(term, Suspend):
            if term.live:
                restores.append({"state": term.resume, "lines": _restore_lines(term, frame)})
            label = f"await {term.kind} {term.name}" if term.name else f"await {term.kind}"
            steps.append(repr((term.resume, term.line or machine.line, label)))
    restores.sort(key=lambda r: int(str(r["state"])))
    steps.sort(key=lambda s: int(s[1:].split(",")[0]))
    skip = set(machine.closures) | set(machine.names.values()) | {machine.ctx_param}
    skip |= set(machine.imports) | {n for n, (_l, _c, what) in machine.unsaveable.items()
                                    if what == "a class"}
    pad = " " * (12 if handlers else 8)
    rendered = {b.id: block_lines(machine, b) for b in machine.blocks.values()}
    counts: dict[str, int] = {}
    for lines in rendered.values():
        for line in lines:
            for tmp in re.findall(r"\b_a\d+\b", line):
                counts[tmp] = counts.get(tmp, 0) + 1
    final = {b: _handling(machine, machine.blocks[b], _peephole(lines, frame, counts))
             for b, lines in rendered.items()}
    used: set[str] = set()
    for lines in final.values():
        for line in lines:
            used.update(re.findall(r"\b\w+\b", line))
    locals_ = set(machine.locals) | {n for b in machine.blocks.values()
                                     if isinstance(b.term, Suspend) for n in b.term.live}
    declared = sorted(n for n in locals_ if n not in skip and n in used)
    return {
        "name": machine.name,
        "reg_name": repr(machine.reg_name),
        "path": machine.path,
        "line": machine.line,
        "graph_hash": machine.graph_hash,
        "graph_hash_repr": repr(machine.graph_hash),
        "takes_input": machine.input_param is not None,
        "source_repr": repr(machine.path),
        "steps": steps,
        "hidden": _hidden(machine),
        "ctx": machine.ctx_param,
        "ctx_annotation": machine.ctx_annotation or rt["_Any"],
        "rt": rt["_rt"],
        "any": rt["_Any"],
        "exception": rt["Exception"],
        "handlers_name": runtime_aliases(machine.source, (f"_{machine.name}_handlers",))[
            f"_{machine.name}_handlers"],
        "frame": frame,
        "state": state,
        "exc": names["exc"],
        "err": names["err"],
        "declared": declared,
        "hoisted_defs": [line for text in machine.hoisted_defs
                         for line in indent_text(text, "    ")],
        "restores": restores,
        "handlers": repr(handlers) if handlers else "",
        "pad": pad,
        "blocks": [
            {"id": b.id, "comment": _comment(machine, b),
             "lines": indent_text("\n".join(final[b.id]), pad + "    ")}
            for b in sorted(machine.blocks.values(), key=lambda b: b.id)
        ],
    }


def _hidden(machine: MachineIR) -> list[str]:
    """`(slot, shown as, what it holds)` of each invented local some suspension saves:
    the runtime tells them from the user's locals by this list, never by their names (a
    user may call a local `_a0`). `shown as` is the name the user wrote, or ''."""
    saved = {n for b in machine.blocks.values() if isinstance(b.term, Suspend) for n in b.term.live}
    return [repr((name, machine.written.get(name, ""), machine.invented[name]))
            for name in sorted(saved & machine.invented.keys())]


def _handling(machine: MachineIR, block: Block, lines: list[str]) -> list[str]:
    """A block that runs while an exception is handled (an `except` body, a `finally`
    entered by an exception) runs inside an `except` of it, so that Python gives what it
    raises that `__context__` and `sys.exception()` answers as in the plain run. The
    re-raise's own traceback entry is dropped again."""
    return _within(machine, block.handling, lines)


def _within(machine: MachineIR, handling: Handling | None, lines: list[str]) -> list[str]:
    if handling is None:
        return lines
    exc = handling.expr
    wrapped = [
        "try:", f"    raise {exc}", f"except {machine.runtime['BaseException']}:",
        f"    {exc}.__traceback__ = {exc}.__traceback__.tb_next",
        *indent_text("\n".join(lines), "    "),
    ]
    if handling.cond is None:
        return wrapped
    otherwise = _within(machine, handling.otherwise, lines)
    return [f"if {handling.cond}:", *indent_text("\n".join(wrapped), "    "), "else:",
            *indent_text("\n".join(otherwise), "    ")]


def _restore_lines(term: Suspend, frame: str) -> list[str]:
    """Rebind the slots saved at `term`; a local some path left unassigned is rebound only
    if it was saved, so reading it still raises UnboundLocalError, as in plain Python."""
    sure = [n for n in term.live if n not in term.maybe_unbound]
    lines = []
    if sure:
        targets = ", ".join(sure) + ("," if len(sure) == 1 else "")
        lines.append(f"({targets}) = {frame}.restore({', '.join(repr(n) for n in sure)})")
    for name in term.maybe_unbound:
        lines += [f"if {name!r} in {frame}.slots:", f"    {name} = {frame}.slots[{name!r}]"]
    return lines


def _comment(machine: MachineIR, block: Block) -> str:
    where = f"line {block.line}" if block.line is not None else "no source line"
    return f"{where}: {block.label}" if block.label else where


def block_lines(machine: MachineIR, block: Block) -> list[str]:
    names = machine.names
    rt = machine.runtime["_rt"]
    state, frame = names["state"], names["frame"]
    out: list[str] = []
    for op in block.ops:
        out.extend(_num(op.text).split("\n"))
    term = block.term
    if isinstance(term, Goto):
        out += [f"{state} = {term.target}", "continue"]
    elif isinstance(term, Branch):
        out += [f"{state} = {term.if_true} if {term.cond} else {term.if_false}", "continue"]
    elif isinstance(term, Suspend):
        slots = "".join(f", {n}={n}" for n in term.live if n not in term.maybe_unbound)
        if term.maybe_unbound:
            saved = ", ".join(repr(n) for n in term.maybe_unbound)
            slots += f", **{rt}.bound({machine.runtime['locals']}(), {saved})"
        out.append(f"return {frame}.suspend({term.resume}, {term.task}{slots})")
    elif isinstance(term, Ret):
        out.append(f"return {rt}.Return({term.value if term.value is not None else 'None'})")
    elif isinstance(term, Raise):
        out.append(term.text)
    elif isinstance(term, Switch):
        out += _switch_lines(machine, term)
    elif isinstance(term, FinallyEnd):
        rec = term.record
        out += [
            f"if {rec}[0] == {rt}.NEXT:",
            f"    {state} = {term.after}",
            f"elif {rec}[0] == {rt}.JUMP:",
            f"    {state} = {rec}[1]",
            f"elif {rec}[0] == {rt}.RETURN:",
        ]
        if term.outer_record is not None:
            out += [f"    {term.outer_record} = {rec}", f"    {state} = {term.outer_entry}"]
        else:
            out.append(f"    return {rt}.Return({rec}[1])")
        out += ["else:", f"    raise {rt}.reraise({rec}[1])", "continue"]
    return out


def _switch_lines(machine: MachineIR, term: Switch) -> list[str]:
    state = machine.names["state"]
    out: list[str] = []
    if term.kind == "match":
        out.append(f"match {term.subject}:")
        for case in term.cases:
            out += [f"    case {case.test}:", f"        {state} = {case.target}"]
        if term.default is not None:
            out += ["    case _:", f"        {state} = {term.default}"]
        out.append("continue")
        return out
    for i, case in enumerate(term.cases):
        out.append(f"{'if' if i == 0 else 'elif'} {machine.runtime['isinstance']}("
                   f"{term.subject}, {case.test}):")
        if case.bind:
            out.append(f"    {case.bind} = {term.subject}")
        out.append(f"    {state} = {case.target}")
    out.append("else:")
    if term.default is not None:
        out.append(f"    {state} = {term.default}")
    else:
        out.append(f"    raise {machine.runtime['_rt']}.reraise({term.subject})")
    out.append("continue")
    return out


_RECEIVED = re.compile(r"^(_a\d+) = (\w+)\.(received|received_shared)\(\)$")


def _peephole(lines: list[str], frame: str, counts: dict[str, int]) -> list[str]:
    """`_a0 = _f.received()` followed by one use of `_a0` reads the result in place:
    exact, since everything evaluated before `_a0` in that statement was already
    evaluated (or spilled) before the await."""
    out = list(lines)
    i = 0
    while i < len(out) - 1:
        m = _RECEIVED.match(out[i])
        if m and m.group(2) == frame:
            tmp = m.group(1)
            uses_next = re.findall(rf"\b{tmp}\b", out[i + 1])
            uses_rest = counts.get(tmp, 0) - 1 - len(uses_next)
            if len(uses_next) == 1 and uses_rest == 0:
                out[i + 1] = re.sub(rf"\b{tmp}\b", f"{frame}.{m.group(3)}()", out[i + 1])
                del out[i]
                continue
            if not uses_next and uses_rest == 0:
                out[i] = f"{frame}.{m.group(3)}()"
        i += 1
    return out
