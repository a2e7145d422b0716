"""Measure `tether lint` against pyflakes and flake8 on the trees of `lint_corpus.py`.

    .venv/bin/python bench/lint_bench.py [--lines-plain 100000] [--lines-dense 50000] [--repeat 3]

Every tool runs as a fresh process (startup included), best of `--repeat` wall-clock
runs. The parser rows time parsing alone, in this process, for the dense tree: they are
why the linter reads `ast` rather than LibCST. Prints a Markdown report.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lint_corpus import dense_tree, plain_tree

TETHER = [sys.executable, "-c", "import sys; from tether.cli import main; sys.exit(main())"]


def best_wall(argv: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        best = min(best, time.perf_counter() - start)
    return best


def best_in_process(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def tools(tree: Path) -> dict[str, list[str]]:
    return {
        "tether lint (all cores)": [*TETHER, "lint", str(tree)],
        "tether lint -j1": [*TETHER, "lint", "-j1", str(tree)],
        "pyflakes": [sys.executable, "-m", "pyflakes", str(tree)],
        "flake8 -j1": [sys.executable, "-m", "flake8", "--isolated", "-j1", str(tree)],
    }


def parse_rows(tree: Path, repeat: int) -> dict[str, float]:
    import libcst

    sources = [p.read_text() for p in sorted(tree.rglob("*.py"))]
    return {
        "ast.parse only": best_in_process(lambda: [ast.parse(s) for s in sources], repeat),
        "libcst.parse_module only": best_in_process(
            lambda: [libcst.parse_module(s) for s in sources], 1),
    }


def metadata_rows(tree: Path, lines: int) -> tuple[int, dict[str, float]]:
    """LibCST's metadata providers over about `lines` lines of the dense tree (one run:
    they are slow). Returns the lines used and the seconds per provider."""
    import libcst
    from libcst.metadata import MetadataWrapper, PositionProvider, QualifiedNameProvider

    sources: list[str] = []
    for path in sorted(tree.rglob("flows_*.py")):
        if sum(s.count("\n") for s in sources) >= lines:
            break
        sources.append(path.read_text())
    modules = [libcst.parse_module(s) for s in sources]
    rows = {}
    for name, provider in (("LibCST PositionProvider only", PositionProvider),
                           ("LibCST QualifiedNameProvider only", QualifiedNameProvider)):
        rows[name] = best_in_process(
            lambda provider=provider: [MetadataWrapper(m).resolve(provider) for m in modules], 1)
    return sum(s.count("\n") for s in sources), rows


def table(title: str, lines: int, rows: dict[str, float]) -> str:
    out = [f"### {title} ({lines:,} lines)", "", "| tool | seconds | lines/s |", "|---|---:|---:|"]
    for name, seconds in rows.items():
        out.append(f"| {name} | {seconds:.2f} | {lines / seconds:,.0f} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines-plain", type=int, default=100_000)
    parser.add_argument("--lines-dense", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--metadata-lines", type=int, default=10_000,
                        help="lines for the LibCST metadata rows (0 skips them)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        plain, dense = Path(tmp, "plain"), Path(tmp, "dense")
        plain_lines = plain_tree(plain, args.lines_plain)
        dense_lines = dense_tree(dense, args.lines_dense)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}\n")
        plain_rows = {name: best_wall(argv, args.repeat) for name, argv in tools(plain).items()}
        print(table("No orchestrators: standard-library modules", plain_lines, plain_rows))
        dense_rows = {name: best_wall(argv, args.repeat) for name, argv in tools(dense).items()}
        dense_rows.update(parse_rows(dense, args.repeat))
        print(table("Dense with orchestrators: generated flows", dense_lines, dense_rows))
        if args.metadata_lines:
            used, rows = metadata_rows(dense, args.metadata_lines)
            print(table("LibCST metadata, in process, on part of the dense tree", used, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
