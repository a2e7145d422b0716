"""Helpers for the graph tests: example graphs, and Graphviz when the machine has it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import networkx as nx
import pytest

import compiler

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def example_graph(file: str, name: str) -> nx.DiGraph:
    return file_graph(EXAMPLES / file, name)


def file_graph(path: Path, name: str) -> nx.DiGraph:
    graph = compiler.compile_file(path).machine(name).graph
    assert graph is not None
    return graph


def source_graph(source: str, name: str = "orch") -> nx.DiGraph:
    graph = compiler.compile_source(source, "prog.py").machine(name).graph
    assert graph is not None
    return graph


@pytest.fixture
def graphviz() -> str:
    """The `dot` program; CI installs Graphviz, so there a missing one fails the test."""
    program = shutil.which("dot")
    if program is None:
        if os.environ.get("CI"):
            pytest.fail("Graphviz's dot is missing on CI: .ci/run must install graphviz")
        pytest.skip("Graphviz's dot is not installed")
    return program
