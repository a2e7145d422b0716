"""collect: parse a module, find its `@orchestrator` functions, refuse what cannot compile.

Consumes source text. Produces a `Unit` holding the LibCST module, a position lookup and
one `Found` per orchestrator (its node, registered name and line span). Runs the
determinism rules first: findings stop compilation (`DeterminismErrors`, exit 1).
Refused here, with `path:line:col: error:`: a syntax error, `yield`, `global`/`nonlocal`,
an `await` inside a nested function, a decorator other than `@orchestrator`.
"""

from __future__ import annotations

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from compiler.errors import CompileError, DeterminismErrors
from compiler.ir import Found, Unit

DECORATOR_NAMES = {"orchestrator"}


def run(unit: Unit) -> Unit:
    try:
        module = cst.parse_module(unit.source)
    except cst.ParserSyntaxError as exc:
        raise CompileError(unit.path, exc.raw_line, exc.raw_column + 1,
                           f"syntax error: {exc.message}") from None
    if not any(name in unit.source for name in DECORATOR_NAMES):
        unit.module = module
        unit.positions = lambda node: None
        return unit
    _run_rules(unit)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    unit.module = wrapper.module
    unit.positions = positions.get
    for stmt in wrapper.module.body:
        if not isinstance(stmt, cst.FunctionDef):
            continue
        reg_name = _orchestrator_name(stmt)
        if reg_name is None:
            continue
        rng = positions[stmt]
        first = rng.start.line
        if stmt.decorators:
            first = min(first, positions[stmt.decorators[0]].start.line)
        found = Found(stmt, reg_name, first, rng.end.line)
        _refuse(unit, found, positions.get)
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


class _Refuser(cst.CSTVisitor):
    def __init__(self, unit: Unit, positions: object) -> None:
        self.unit = unit
        self.positions = positions
        self.depth = 0
        self.errors: list[tuple[cst.CSTNode, str, str | None]] = []

    def visit_Yield(self, node: cst.Yield) -> None:
        if self.depth == 0:
            self.errors.append((node, "`yield` is not allowed in an orchestrator",
                                "orchestrators are `async def` functions that await tasks"))

    def visit_Global(self, node: cst.Global) -> None:
        self.errors.append((node, "`global` is not allowed in an orchestrator (DET006)",
                            "keep state in locals; they are saved in the frame"))

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.errors.append((node, "`nonlocal` is not allowed in an orchestrator (DET006)",
                            "return values from helpers instead of rebinding outer names"))

    def visit_Await(self, node: cst.Await) -> None:
        if self.depth > 0:
            self.errors.append((node, "`await` inside a nested function is not supported",
                                "await in the orchestrator itself"))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth += 1

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth -= 1

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.depth += 1

    def leave_Lambda(self, node: cst.Lambda) -> None:
        self.depth -= 1


def _refuse(unit: Unit, found: Found, positions: object) -> None:
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
    refuser = _Refuser(unit, positions)
    fn.body.visit(refuser)
    if refuser.errors:
        node, message, hint = refuser.errors[0]
        rng = get(node)
        line, col = (rng.start.line, rng.start.column + 1) if rng else (found.start_line, 1)
        raise CompileError(unit.path, line, col, message, hint)


def _run_rules(unit: Unit) -> None:
    """The determinism rules (`lint`); any finding refuses the module."""
    try:
        from lint import check_source  # type: ignore[attr-defined]
    except ImportError:  # lint not installed: a runtime-only deployment never compiles
        return
    findings = check_source(unit.source, unit.path)
    if findings:
        first = findings[0]
        raise DeterminismErrors(
            [str(f) for f in findings],
            CompileError(unit.path, first.line, first.col, first.message, code=first.code),
        )
