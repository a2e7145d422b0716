"""Generated orchestrators (the differential tests' grammar): every graph is well formed,
draws as mermaid and DOT, and every step an instance's journal visits is a node of it."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings

import compiler
from runtime.executor import run_inline
from tests.differential.harness import activities_of, compiled_module, machine_of, plain_module
from tests.differential.programs import Program, programs
from tests.graph.test_render import check_mermaid
from tether.graphing import render
from tether.graphing.progress import DONE, from_store, node_states

FAST = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
_runs = itertools.count()


def graph_of(program: Program) -> nx.DiGraph:
    graph = compiler.compile_source(program.source, "prog.py").machine("prog").graph
    assert graph is not None
    return graph


@FAST
@given(programs())
def test_generated_graphs_are_well_formed_and_draw(program: Program) -> None:
    graph = graph_of(program)
    assert set(nx.descendants(graph, "s0")) | {"s0"} == set(graph.nodes)
    for node, data in graph.nodes(data=True):
        if data["kind"] in ("branch", "finally"):
            assert graph.out_degree(node) >= 1, node
    text = render(graph, "mermaid")
    assert isinstance(text, str)
    check_mermaid(text, graph)
    dot = shutil.which("dot")
    if dot is not None:
        done = subprocess.run([dot, "-Tsvg"], input=str(render(graph, "dot")).encode(),
                              capture_output=True, check=False)
        assert done.returncode == 0 and not done.stderr, done.stderr


@FAST
@given(program=programs())
def test_every_checkpointed_step_is_a_node(program: Program, tmp_path_factory: pytest.TempPathFactory) -> None:
    compiled = compiled_module(program.source)
    activities = activities_of(plain_module(program.source))
    store = Path(tmp_path_factory.mktemp("store"))
    instance = f"p{next(_runs)}"
    result = run_inline(machine_of(compiled, "prog"), program.input, store=store,
                        instance_id=instance, activities=activities, events=list(program.events))
    graph = graph_of(program)
    progress = from_store(store, instance)
    assert set(progress.visits) <= set(graph.nodes), (set(progress.visits), sorted(graph.nodes))
    assert progress.failed <= set(graph.nodes)
    states = node_states(graph, progress)
    if result.status == "Completed":
        assert states["end"].state == DONE
    sys.modules.pop(compiled.__name__, None)


SOAK = settings(FAST, max_examples=2000, derandomize=False)


@pytest.mark.soak
@SOAK
@given(programs(max_statements=24))
def test_soak_generated_graphs(program: Program) -> None:
    test_generated_graphs_are_well_formed_and_draw.hypothesis.inner_test(program)  # type: ignore[attr-defined]
