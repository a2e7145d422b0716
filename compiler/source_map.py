"""Code objects of emitted modules whose line numbers are the user's source lines.

The compiler emits a module whose text differs from the source (a header, the machines),
and which is compiled under the source file's name. Compiled as is, a traceback through
it (an activity that raised, a NameError at module level, an orchestrator exception)
would name the source file with the emitted module's line numbers: the wrong lines.

`compile_mapped(source, emitted, path)` compiles the emitted text with every line moved
to the source line it came from:

- code the compiler passed through unchanged (imports, activities, helpers, module-level
  statements) keeps its own source line, found by matching lines in order (difflib);
- inside a machine, a line matched to a source line within the orchestrator's own
  definition keeps that line; so does a line the matcher skipped (steps need not be in
  source order) that reads as a line of the orchestrator does (the only such line, else
  the first at or after its step's line); every other line takes the source line of the
  step branch it belongs to (the compiler's `# line N:` comments), else the
  orchestrator's `def`.

Lines moved onto a source line they do not spell out get the whole line as their column
span, so a traceback shows the user's line without carets that would point into it at
columns of the emitted text. Used only when compiling; cached code objects carry the
mapped lines already (`tether.module_cache`).

It also carries each orchestrator's annotations into its machine, for values at the
boundaries (`runtime.boundary_types`): the machine's reads of `_f.input` rebuild the input
as the input parameter's annotation says, and the machine function gets
`__tether_types__ = (input annotation, return annotation)` as source text, from which a
sub-orchestration's result is rebuilt. A source without such annotations is unaffected.
"""

from __future__ import annotations

import ast
import difflib
import re
from types import CodeType

_BRANCH_LINE = re.compile(r"#\s*line (\d+):")
_MACHINE_HEADER = re.compile(r"^# (\w+): compiled from .*:(\d+) \(graph")


def compile_mapped(source: str, emitted: str, path: str) -> CodeType:
    """The emitted module's code, its line numbers those of `source` (see the docstring)."""
    tree = ast.parse(emitted, path)
    src_lines = source.splitlines()
    out_lines = emitted.splitlines()
    line_of, exact = _line_map(src_lines, out_lines, tree, source, path)

    def shift(number: int) -> int:
        """How much deeper emitted line `number` is indented than its source line."""
        return _indent(out_lines[number - 1]) - _indent(src_lines[line_of[number] - 1])

    _carry_annotations(tree, source, path)
    ast.fix_missing_locations(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt | ast.expr | ast.excepthandler | ast.arg
                          | ast.keyword | ast.alias | ast.pattern):
            continue
        first = node.lineno
        mapped = line_of.get(first, 1)
        last = node.end_lineno or first
        if first in exact and last in exact:
            node.lineno = mapped
            node.end_lineno = max(line_of.get(last, mapped), mapped)
            node.col_offset = max(0, node.col_offset - shift(first))
            if node.end_col_offset is not None:
                node.end_col_offset = max(0, node.end_col_offset - shift(last))
            continue
        text = src_lines[mapped - 1] if 0 < mapped <= len(src_lines) else ""
        node.lineno = node.end_lineno = mapped
        node.col_offset = len(text) - len(text.lstrip())
        node.end_col_offset = len(text.rstrip())
    return compile(tree, path, "exec", dont_inherit=True)


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _line_map(src: list[str], out: list[str], tree: ast.Module, source: str,
              path: str) -> tuple[dict[int, int], set[int]]:
    """emitted line -> source line (1-based), and the emitted lines matched exactly."""
    matcher = difflib.SequenceMatcher(None, [s.strip() for s in src],
                                      [o.strip() for o in out], autojunk=False)
    matched: dict[int, int] = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            matched[block.b + k + 1] = block.a + k + 1
    spans = _orchestrator_spans(source, path)
    line_of: dict[int, int] = {}
    exact: set[int] = set()
    regions = _machine_regions(tree, out)
    for number in range(1, len(out) + 1):
        region = regions.get(number)
        if region is None:
            if number in matched:
                line_of[number] = matched[number]
                exact.add(number)
            continue
        name, def_line, branch_line = region
        lo, hi = spans.get(name, (def_line, def_line))
        got = matched.get(number)
        if got is None or not lo <= got <= hi:
            # the matcher goes in order, and a machine's steps need not be in source
            # order (an except body that awaits comes after the code following the try):
            # a line the orchestrator spells out is found by its text (issue 16)
            got = _spelled(src, out[number - 1].strip(), lo, hi, branch_line)
        if got is not None:
            line_of[number] = got
            exact.add(number)
        else:
            line_of[number] = branch_line
    # a line the matcher skipped outside a machine takes the nearest line above it
    last = 1
    for number in range(1, len(out) + 1):
        if number in line_of:
            last = line_of[number]
        else:
            line_of[number] = last
    return line_of, exact


def _spelled(src: list[str], text: str, lo: int, hi: int, branch_line: int) -> int | None:
    """The source line in lo..hi that reads `text`: the only one, else the first at or
    after the step's own line; None if there is none."""
    if not text:
        return None
    found = [n for n in range(lo, min(hi, len(src)) + 1) if src[n - 1].strip() == text]
    if len(found) <= 1:
        return found[0] if found else None
    return next((n for n in found if n >= branch_line), None)


def _machine_regions(tree: ast.Module, out: list[str]) -> dict[int, tuple[str, int, int]]:
    """For each emitted line inside a machine: (orchestrator, its def line in the source,
    the source line of the step branch the emitted line belongs to)."""
    regions: dict[int, tuple[str, int, int]] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or not any(
                _is_machine_decorator(d) for d in node.decorator_list):
            continue
        start = min([d.lineno for d in node.decorator_list] + [node.lineno])
        header = _MACHINE_HEADER.match(out[start - 2]) if start >= 2 else None
        def_line = int(header.group(2)) if header else 1
        if header:
            start -= 1
        branch = def_line
        for number in range(start, (node.end_lineno or node.lineno) + 1):
            found = _BRANCH_LINE.search(out[number - 1])
            if found:
                branch = int(found.group(1))
            regions[number] = (node.name, def_line, branch)
    return regions


def _is_machine_decorator(node: ast.expr) -> bool:
    func = node.func if isinstance(node, ast.Call) else node
    return isinstance(func, ast.Attribute) and func.attr == "machine"


def _orchestrator_spans(source: str, path: str) -> dict[str, tuple[int, int]]:
    try:
        tree = ast.parse(source, path)
    except SyntaxError:
        return {}
    return {node.name: (node.lineno, node.end_lineno or node.lineno)
            for node in ast.walk(tree) if isinstance(node, ast.AsyncFunctionDef)}


def _carry_annotations(tree: ast.Module, source: str, path: str) -> None:
    try:
        signatures = {node.name: node for node in ast.parse(source, path).body
                      if isinstance(node, ast.AsyncFunctionDef)}
    except SyntaxError:
        return
    body: list[ast.stmt] = []
    needs_import = False
    for node in tree.body:
        body.append(node)
        if not isinstance(node, ast.FunctionDef) or not any(
                _is_machine_decorator(d) for d in node.decorator_list):
            continue
        original = signatures.get(node.name)
        if original is None:
            continue
        params = original.args.posonlyargs + original.args.args
        input_ann = params[1].annotation if len(params) > 1 else None
        if input_ann is None and original.returns is None:
            continue
        texts = [ast.unparse(a) if a is not None else None for a in (input_ann, original.returns)]
        if input_ann is not None:
            _InputRebuilder(texts[0] or "").visit(node)
            needs_import = True
        body.append(ast.Assign(
            targets=[ast.Attribute(ast.Name(node.name, ast.Load()), "__tether_types__",
                                   ast.Store())],
            value=ast.Tuple([ast.Constant(t) for t in texts], ast.Load()),
            lineno=node.lineno, col_offset=0))
    if needs_import:
        at = next((i + 1 for i, n in enumerate(body) if isinstance(n, ast.ImportFrom)
                   and n.module == "__future__"), 0)
        body.insert(at, ast.Import([ast.alias("runtime.boundary_types", "_rt_boundary")],
                                   lineno=1, col_offset=0))
    tree.body = body


class _InputRebuilder(ast.NodeTransformer):
    """`_f.input` -> `_rt_boundary.rebuild_declared(_f.input, "<annotation>", globals())`."""

    def __init__(self, annotation: str) -> None:
        self.annotation = annotation

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if (node.attr == "input" and isinstance(node.value, ast.Name)
                and node.value.id == "_f" and isinstance(node.ctx, ast.Load)):
            call = ast.Call(
                ast.Attribute(ast.Name("_rt_boundary", ast.Load()), "rebuild_declared",
                              ast.Load()),
                [node, ast.Constant(self.annotation),
                 ast.Call(ast.Name("globals", ast.Load()), [], [])], [])
            return ast.copy_location(call, node)
        return self.generic_visit(node)
