"""Durable Functions' names where tether deliberately differs: a compile error that says
what to write instead, before the determinism rules could report them by a rule code.

A ported orchestrator calling `ctx.task_all(tasks)` would otherwise meet DET007 ("does
not await a durable task") or an AttributeError at run time, after real work was done.
`check(tree, path)` finds calls of these names on an orchestrator's context parameter and
raises one `CompileError` with "did you mean" and the tether spelling. The table and the
wording are `lint.df_names`', which `tether lint` reports with DET007 in the same words.
"""

from __future__ import annotations

import ast

from compiler.errors import CompileError
from lint.df_names import RENAMED, did_you_mean


def check(tree: ast.Module, path: str) -> None:
    """Raise `CompileError` at the first Durable Functions name tether spells otherwise."""
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef) and _is_orchestrator(node):
            params = node.args.posonlyargs + node.args.args
            if params:
                _check_body(node, params[0].arg, path)


def _check_body(fn: ast.AsyncFunctionDef, ctx: str, path: str) -> None:
    for node in ast.walk(fn):
        if (isinstance(node, ast.Attribute) and node.attr in RENAMED
                and isinstance(node.value, ast.Name) and node.value.id == ctx):
            message, how = did_you_mean(ctx, node.attr) or ("", "")
            raise CompileError(path, node.lineno, node.col_offset + 1, message, how)


def _is_orchestrator(fn: ast.AsyncFunctionDef) -> bool:
    for dec in fn.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "orchestrator":
            return True
    return False
