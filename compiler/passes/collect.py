"""collect: parse a module, find its `@orchestrator` functions, refuse what cannot compile.

Consumes source text. Produces a `Unit` holding the LibCST module, a position lookup and
one `Found` per orchestrator (its node, registered name and line span). Runs the
determinism rules first: findings stop compilation (`DeterminismErrors`, exit 1).
Refused here, with `path:line:col: error:`: a syntax error, `yield`, `global`/`nonlocal`,
an `await` inside a nested function, `async for` in a comprehension, an `async with`
other than a critical section (`async with ctx.lock_entities(...)`), a decorator other
than `@orchestrator`, code that reads frames (`FRAME_ATTRIBUTES`, `FRAME_FUNCTIONS`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import libcst as cst

from compiler import df_names
from compiler.errors import CompileError, DeterminismErrors
from compiler.ir import Found, Unit
from compiler.lowering.comprehensions import comp_fors
from compiler.lowering.critical import is_critical_section
from compiler.passes.names import COMPREHENSIONS, children
from compiler.passes.positions import build as build_positions

DECORATOR_NAMES = {"orchestrator"}
# a module whose source names none of these has nothing for the rules to check (ENT006
# checks `@entity` code in modules without orchestrators)
RULE_MARKERS = ("orchestrator", "entity")


def run(unit: Unit) -> Unit:
    try:
        # CPython's own parser first: its messages ("'(' was never closed") and positions
        # are the ones users know
        tree = ast.parse(unit.source, unit.path)
    except SyntaxError as exc:
        raise CompileError(unit.path, exc.lineno or 1, exc.offset or 1,
                           f"syntax error: {exc.msg}") from None
    try:
        module = cst.parse_module(unit.source)
    except cst.ParserSyntaxError as exc:
        raise CompileError(unit.path, exc.raw_line, exc.raw_column + 1,
                           f"syntax error: {exc.message}") from None
    positions = build_positions(module, tree)
    if not any(name in unit.source for name in RULE_MARKERS):
        unit.module = module
        unit.positions = positions
        return unit
    df_names.check(tree, unit.path)  # "did you mean ctx.when_all?" before any rule code
    _run_rules(unit)
    unit.module = module
    unit.positions = positions
    for stmt in module.body:
        if not isinstance(stmt, cst.FunctionDef):
            continue
        reg_name = _orchestrator_name(stmt)
        if reg_name is None:
            continue
        rng = positions(stmt)
        assert rng is not None
        found = Found(stmt, reg_name, rng.start.line, rng.end.line)
        _refuse(unit, found)
        unit.found.append(found)
    return unit


def _decorator_target(dec: cst.Decorator) -> tuple[str | None, cst.Call | None]:
    expr = dec.decorator
    call = expr if isinstance(expr, cst.Call) else None
    if call is not None:
        expr = call.func
    if isinstance(expr, cst.Name):
        return expr.value, call
    if isinstance(expr, cst.Attribute):
        return expr.attr.value, call
    return None, call


def _orchestrator_name(fn: cst.FunctionDef) -> str | None:
    for dec in fn.decorators:
        name, call = _decorator_target(dec)
        if name not in DECORATOR_NAMES:
            continue
        if call is not None:
            for arg in call.args:
                if arg.keyword is not None and arg.keyword.value == "name" \
                        and isinstance(arg.value, cst.SimpleString):
                    value = arg.value.evaluated_value
                    if isinstance(value, str):
                        return value
        return fn.name.value
    return None


_REFUSED_KINDS = frozenset({cst.Yield, cst.Global, cst.Nonlocal, cst.Await, cst.FunctionDef,
                            cst.Lambda, cst.ListComp, cst.SetComp, cst.DictComp,
                            cst.GeneratorExp, cst.For, cst.With, cst.Attribute, cst.Name})

# What reads frames (issue 16). A compiled orchestrator runs as its machine, in the
# runtime's call stack, and a traceback restored from a checkpoint keeps each entry's
# file, function and position only (runtime/tracebacks.py): a frame's locals, caller and
# bytecode offset cannot be kept, so code that reads them is refused rather than shown
# other values than the plain run's.
FRAME_ATTRIBUTES = frozenset({"tb_frame", "tb_lasti", "f_back", "f_locals", "f_globals",
                              "f_lasti", "gi_frame", "cr_frame"})
FRAME_FUNCTIONS = frozenset({"_getframe", "currentframe", "walk_tb", "walk_stack",
                             "extract_stack", "format_stack", "print_stack"})
INSPECT_STACK = frozenset({"stack", "trace", "getouterframes", "getinnerframes"})


def _refusals(node: cst.CSTNode, depth: int, out: list[tuple[cst.CSTNode, str, str | None]],
              ctx: str) -> None:
    """What no orchestrator may contain, in source order (depth: nested function level;
    `ctx`: the orchestrator's context parameter)."""
    kind = type(node)
    if kind not in _REFUSED_KINDS:
        for child in children(node):
            _refusals(child, depth, out, ctx)
        return
    if isinstance(node, cst.Attribute | cst.Name):
        read = _frame_read(node)
        if read is not None:
            out.append((node, f"`{read}` reads a frame, which a compiled orchestrator cannot "
                        "keep: it runs as its machine, and after a resume a traceback keeps "
                        "each entry's file, function and position only",
                        "read tracebacks with `traceback.format_exception(e)` or "
                        "`traceback.extract_tb(e.__traceback__)`, which are kept"))
            return
    elif isinstance(node, cst.Yield) and depth == 0:
        out.append((node, "`yield` is not allowed in an orchestrator",
                    "orchestrators are `async def` functions that await tasks"))
    elif isinstance(node, cst.Global):
        out.append((node, "`global` is not allowed in an orchestrator (DET006)",
                    "keep state in locals; they are saved in the frame"))
    elif isinstance(node, cst.Nonlocal):
        out.append((node, "`nonlocal` is not allowed in an orchestrator (DET006)",
                    "return values from helpers instead of rebinding outer names"))
    elif isinstance(node, cst.Await) and depth > 0:
        out.append((node, "`await` inside a nested function is not supported",
                    "await in the orchestrator itself"))
    elif isinstance(node, COMPREHENSIONS) and any(
            f.asynchronous is not None for f in comp_fors(node)):
        out.append((node, "`async for` in a comprehension is not supported in an orchestrator",
                    "iterate with a plain `for` and await tasks from the context in the "
                    "element: `[await ctx.call_activity(f, x) for x in xs]`"))
    elif isinstance(node, cst.With) and depth == 0 and is_critical_section(node, ctx):
        pass  # `async with ctx.lock_entities(...)`: lowered by compiler.lowering.critical
    elif isinstance(node, cst.For | cst.With) and node.asynchronous is not None and depth == 0:
        # with or without an await in its body: the machine is a plain function
        what = "`async for`" if isinstance(node, cst.For) else "`async with`"
        out.append((node, f"{what} is not supported in an orchestrator: it awaits only "
                    "tasks from the context",
                    "await tasks from the context inside a plain `for`" if isinstance(
                        node, cst.For) else "close the resource before awaiting, or do the "
                    f"work in an activity; the one durable `async with` is "
                    f"`async with {ctx}.lock_entities(...)`"))
    inner = depth + 1 if isinstance(node, cst.FunctionDef | cst.Lambda) else depth
    for child in children(node):
        _refusals(child, inner, out, ctx)


def _frame_read(node: cst.Attribute | cst.Name) -> str | None:
    """The frame-reading name `node` spells (`e.__traceback__.tb_frame`, `sys._getframe`,
    `inspect.stack`, a bare `walk_tb` imported by name), else None."""
    if isinstance(node, cst.Name):
        return node.value if node.value in FRAME_FUNCTIONS else None
    attr = node.attr.value
    if attr in FRAME_ATTRIBUTES or attr in FRAME_FUNCTIONS:
        return attr
    if attr in INSPECT_STACK and isinstance(node.value, cst.Name) and node.value.value == "inspect":
        return f"inspect.{attr}"
    return None


def _refuse(unit: Unit, found: Found) -> None:
    fn: cst.FunctionDef = found.node
    get = unit.positions
    assert get is not None
    if fn.asynchronous is None:
        rng = get(fn)
        raise CompileError(unit.path, rng.start.line if rng else found.start_line, 1,
                           f"@orchestrator {fn.name.value} must be an `async def`")
    for dec in fn.decorators:
        name, _ = _decorator_target(dec)
        if name not in DECORATOR_NAMES:
            rng = get(dec)
            raise CompileError(unit.path, rng.start.line if rng else found.start_line, 1,
                               f"orchestrator {fn.name.value} has a decorator other than "
                               "@orchestrator, which compiled code cannot keep")
    errors: list[tuple[cst.CSTNode, str, str | None]] = []
    params = fn.params.params
    _refusals(fn.body, 0, errors, params[0].name.value if params else "")
    if errors:
        node, message, hint = errors[0]
        rng = get(node)
        line, col = (rng.start.line, rng.start.column + 1) if rng else (found.start_line, 1)
        raise CompileError(unit.path, line, col, message, hint)


def _run_rules(unit: Unit) -> None:
    """The determinism rules (`lint`); any finding refuses the module."""
    try:
        from lint import ConfigError, check_source, load_config
    except ImportError:  # lint not installed: a runtime-only deployment never compiles
        return
    try:
        # the project's [tool.tether] (select, ignore, per-file ignores) applies to
        # `tether compile` as it does to `tether lint`
        # (DET100, an unused suppression comment, is lint's business, not a reason to refuse)
        config = load_config(Path(unit.path).resolve().parent).determinism_only()
    except ConfigError as exc:
        raise CompileError(unit.path, 1, 1, f"bad lint configuration: {exc}") from None
    findings = check_source(unit.source, unit.path, config)
    if findings:
        first = findings[0]
        # one located line per finding; the first's help (`await ctx.signal_entity(...)`:
        # call it without `await`) is the error's hint, as `tether lint` prints it
        raise DeterminismErrors(
            [str(f) for f in findings],
            CompileError(unit.path, first.line, first.col, first.message, first.help or None,
                         code=first.code),
        )
