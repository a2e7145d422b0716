"""Lowering of critical sections: `async with ctx.lock_entities(a, b) as cs:` (issue 12).

The one `async with` an orchestrator may hold. It is lowered to the runtime's contract:

    cs = ctx.lock_entities(a, b)      # a CriticalSection, saved in the frame
    await cs.acquire()                # a durable task: a suspension point ("lock" step)
    try:
        ...body...                    # may await, return, break, continue, raise
    finally:
        cs.release()                  # synchronous and idempotent

so plain Python's semantics hold: `__aexit__` never swallows an exception (the `finally`
re-raises it), a `return`/`break`/`continue` in the body releases on its way out (the
lowered `finally` carries it), and `as cs` binds the section once it is acquired. The
section lives in a hidden local (`_cs0`) whatever the `as` target is, so the `finally`
releases the section it acquired even if the body rebinds the target.

What is a critical section (and what `collect` lets through) is `is_critical_section`;
the lock rules (nesting, calls inside) are lint's ENT001-ENT005, checked before this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from compiler.ir import Suspend

if TYPE_CHECKING:
    from compiler.passes.split import Lowerer

LOCK_METHOD = "lock_entities"


def lock_call(node: cst.With, ctx: str) -> cst.Call | None:
    """The `ctx.lock_entities(...)` call a one-item `async with` opens, else None."""
    if node.asynchronous is None or len(node.items) != 1:
        return None
    call = node.items[0].item
    if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) \
            and isinstance(call.func.value, cst.Name) and call.func.value.value == ctx \
            and call.func.attr.value == LOCK_METHOD:
        return call
    return None


def is_critical_section(node: cst.With, ctx: str) -> bool:
    return lock_call(node, ctx) is not None


def lower_critical_section(lw: Lowerer, node: cst.With) -> None:
    """Emit the acquire, the body under a lowered `try/finally`, and the release."""
    call = lock_call(node, lw.ctx)
    if call is None:  # collect refuses every other `async with`; never silently lowered
        raise lw.error(node, "`async with` is supported in an orchestrator only as "
                       f"`async with {lw.ctx}.{LOCK_METHOD}(...)`")
    line = lw.line(node)
    opened = lw.lin(call)  # `lock_entities(await pick())`: the argument's awaits first
    section = lw.fresh("_cs", line, "the critical section opened at line {line}")
    lw.emit(f"{section} = {lw.code(opened)}", line, lw.reads_of(opened), {section})
    locked = ", ".join(lw.as_written(lw.code(arg.value)) for arg in call.args)
    resume = lw.new_block(line, f"after lock {locked}".rstrip())
    resume.resume = True
    lw.terminate(Suspend(f"{section}.acquire()", frozenset({section}), resume.id, line,
                         "lock", locked or None))
    lw.start(resume)
    # the acquire's outcome: None, or the error that failed it, raised here
    lw.emit(f"{lw.names['frame']}.received()", line)
    target = node.items[0].asname
    if target is not None:
        lw.assign_to(target.name, cst.Name(section), line)
    release = cst.parse_statement(f"{section}.release()\n")
    guarded = cst.Try(
        body=node.body,
        finalbody=cst.Finally(body=cst.IndentedBlock(body=[release])),
    )
    lw.awaits.adopt(guarded)
    lw.lower_try(guarded)
