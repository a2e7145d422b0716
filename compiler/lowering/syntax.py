"""Small syntax facts and rewrites the lowering uses: assignment targets, definite
writes, annotation stripping, statement text clean-up.
"""

from __future__ import annotations

import io
import re
import tokenize

import libcst as cst

from compiler.errors import InternalCompilerError
from compiler.passes.names import (
    bindings,
    children,
    reads,
)


def target_names(target: cst.BaseExpression) -> set[str]:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, cst.Tuple | cst.List):
        out: set[str] = set()
        for el in target.elements:
            out |= target_names(el.value)
        return out
    if isinstance(target, cst.StarredElement):
        return target_names(target.value)
    return set()


def definite_writes(node: cst.CSTNode) -> set[str]:
    """Names certainly bound by a simple statement (liveness kills only these)."""
    if isinstance(node, cst.SimpleStatementLine):
        out: set[str] = set()
        for small in node.body:
            out |= definite_writes(small)
        return out
    if isinstance(node, cst.Assign):
        out = set()
        for t in node.targets:
            out |= target_names(t.target)
        return out
    if isinstance(node, cst.AnnAssign) and node.value is not None:
        return target_names(node.target)
    return set()


def has_annotations(node: cst.CSTNode) -> bool:
    if isinstance(node, cst.AnnAssign):
        return True
    if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
        return False
    return any(has_annotations(child) for child in children(node))


class StripAnnotations(cst.CSTTransformer):
    """`x: T = v` -> `x = v` and `x: T` -> `pass`, outside nested functions and classes."""

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def leave_AnnAssign(
        self, original: cst.AnnAssign, updated: cst.AnnAssign
    ) -> cst.BaseSmallStatement:
        if updated.value is None:
            return cst.Pass()
        return cst.Assign(targets=[cst.AssignTarget(updated.target)], value=updated.value)


def strip_annotations(node: cst.CSTNode) -> cst.CSTNode:
    result = node.visit(StripAnnotations())
    if not isinstance(result, cst.CSTNode):
        raise InternalCompilerError("split", "stripping annotations removed a statement")
    return result



STATE_MARK = re.compile("\x00(\\d+)\x00")
STATE_NAME = re.compile(r"\b_tether_state_(\d+)_\b")



def clean_text(text: str) -> str:
    """Statement text without leading blank lines or a trailing newline or semicolon,
    dedented by its first line's indentation (lines inside a string literal kept as
    written: they are part of the string)."""

    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return ""
    width = len(lines[0]) - len(lines[0].lstrip())
    inside = string_continuations("\n".join(lines))
    out = "\n".join(
        line if i in inside else line[min(width, len(line) - len(line.lstrip())):]
        for i, line in enumerate(lines)
    )
    return out[:-1] if out.endswith(";") else out


def indent_text(text: str, prefix: str) -> list[str]:
    """`text`'s lines, each with `prefix` in front except those that start inside a
    string literal (a triple-quoted string's second line is part of its value)."""
    lines = text.split("\n")
    inside = string_continuations(text)
    return [line if i in inside else prefix + line for i, line in enumerate(lines)]


def string_continuations(text: str) -> frozenset[int]:
    """Indexes of the lines of `text` that begin inside a string literal."""
    if "\n" not in text or not ('"""' in text or "'''" in text or "\\\n" in text):
        return frozenset()
    out: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text.lstrip(" \t") + "\n").readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                out.update(range(tok.start[0], tok.end[0]))  # 1-based start -> next lines
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return frozenset()
    return frozenset(out)


def module_names_of(module: cst.Module) -> set[str]:
    """Names a machine's fresh locals must avoid: every global the module binds (a nested
    def may read one that the orchestrator's own code never names) and every name read."""
    top = bindings(module)
    return top.bound | top.imports | set(top.defs) | top.classes | reads(module)


