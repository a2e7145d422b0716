"""Properties of emitted modules: deterministic bytes, runtime-only imports, mypy-clean."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import compiler

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
CASES = sorted((Path(__file__).parent / "cases").glob("*.test"))


def test_same_source_same_bytes() -> None:
    for path in EXAMPLES:
        source = path.read_text()
        first = compiler.compile_source(source, f"examples/{path.name}").text
        second = compiler.compile_source(source, f"examples/{path.name}").text
        assert first == second


def test_emitted_modules_import_runtime_not_compiler() -> None:
    for path in EXAMPLES:
        text = compiler.compile_source(path.read_text(), f"examples/{path.name}").text
        tree = ast.parse(text)
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        assert "runtime" in imported
        assert "compiler" not in imported and "lint" not in imported


def test_graph_hash_changes_with_code_and_only_with_code() -> None:
    src = (ROOT / "examples" / "hello_cities.py").read_text()
    a = compiler.compile_source(src, "examples/hello_cities.py").machine("hello_cities").graph_hash
    b = compiler.compile_source(src + "\n# a comment elsewhere\n", "examples/hello_cities.py")
    c = compiler.compile_source(src.replace("out.append(", "out.insert(0, "), "examples/hello_cities.py")
    assert b.machine("hello_cities").graph_hash == a
    assert c.machine("hello_cities").graph_hash != a


def test_emitted_modules_pass_mypy(tmp_path: Path) -> None:
    mypy_api = pytest.importorskip("mypy.api")
    written = []
    for path in EXAMPLES:
        out = tmp_path / path.name
        out.write_text(compiler.compile_source(path.read_text(), f"examples/{path.name}").text)
        written.append(str(out))
    cache = ["--no-incremental", "--cache-dir", str(tmp_path / ".mypy_cache")]
    stdout, stderr, status = mypy_api.run(["--strict", *cache, *written])
    assert status == 0, stdout + stderr
    # golden cases are untyped user code: checked with mypy's defaults
    written = []
    (tmp_path / "empty.ini").write_text("[mypy]\n")
    for case in CASES:
        source = case.read_text().partition("----\n")[0]
        out = tmp_path / f"case_{case.stem}.py"
        out.write_text(compiler.compile_source(source, f"{case.stem}.py").text)
        written.append(str(out))
    stdout, stderr, status = mypy_api.run(
        ["--config-file", str(tmp_path / "empty.ini"), *cache, *written])
    assert status == 0, stdout + stderr
