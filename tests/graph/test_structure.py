"""The step graphs of the examples: nodes, labels and edge kinds a reader relies on."""

from __future__ import annotations

from typing import Any

import networkx as nx
import pytest

import compiler
from tests.graph.conftest import EXAMPLES, example_graph, source_graph


def edges(graph: nx.DiGraph) -> set[tuple[str, str, str]]:
    return {(u, v, d["kind"]) for u, v, d in graph.edges(data=True)}


def labels(graph: nx.DiGraph) -> dict[str, str]:
    return {n: d["label"] for n, d in graph.nodes(data=True)}


def test_hello_cities_is_a_loop_over_one_activity() -> None:
    graph = example_graph("hello_cities.py", "hello_cities")
    assert labels(graph) == {"s0": "start hello_cities", "b1": "for city in cities",
                             "s3": "activity say_hello", "end": "end"}
    assert edges(graph) == {("s0", "b1", "next"), ("b1", "s3", "true"), ("b1", "end", "false"),
                            ("s3", "b1", "loop")}
    assert graph.edges["b1", "s3"]["label"] == "each"
    assert graph.edges["b1", "end"]["label"] == "done"


def test_fan_out_is_a_parallel_branch_joined_at_when_all() -> None:
    graph = example_graph("fan_out_fan_in.py", "fan_out_fan_in")
    task = graph.nodes["t1_0"]
    assert (task["kind"], task["name"], task["many"], task["each"]) == (
        "activity", "process_item", True, "for item in batch")
    assert graph.nodes["s2"]["kind"] == "when_all"
    assert {("s1", "t1_0", "fan_out"), ("t1_0", "s2", "fan_in"), ("s2", "s3", "next"),
            ("s3", "end", "return")} <= edges(graph)
    # the way from get_work_batch to the join leads through the branch, not around it
    assert not graph.has_edge("s1", "s2")


def test_human_interaction_races_an_event_against_a_timer() -> None:
    graph = example_graph("human_interaction.py", "approval")
    fanned = {graph.nodes[t]["label"] for _, t, d in graph.out_edges("s1", data=True)
              if d["kind"] == "fan_out"}
    assert fanned == {"timer", "event ApprovalEvent"}
    assert graph.nodes["s2"]["kind"] == "when_any"
    assert graph.nodes["b2"]["label"] == "if winner == answer"
    assert {("s2", "b2", "next"), ("b2", "s4", "true"), ("b2", "s7", "false")} <= edges(graph)
    assert graph.nodes["s4"]["label"] == "await answer"


def test_monitor_loops_on_its_while_condition_as_written() -> None:
    graph = example_graph("monitor.py", "monitor")
    assert graph.nodes["b1"]["label"] == "while ctx.current_utc_datetime < expiry"
    assert graph.nodes["b3"]["label"] == 'if status == "Completed"'
    assert graph.nodes["s7"]["kind"] == "timer"
    assert ("s7", "b1", "loop") in edges(graph)
    assert {("b3", "s5", "true"), ("b3", "s7", "false"), ("s5", "end", "return")} <= edges(graph)


def test_sub_orchestrations_fan_out_per_device() -> None:
    graph = example_graph("sub_orchestration.py", "provision_fleet")
    task = graph.nodes["t0_0"]
    assert (task["kind"], task["name"], task["each"]) == (
        "sub_orchestration", "provision_device", "for d in device_ids")
    assert {("s0", "t0_0", "fan_out"), ("t0_0", "s1", "fan_in"), ("s1", "end", "return")} \
        == edges(graph)


def test_eternal_orchestration_continues_as_new_back_to_its_start() -> None:
    graph = example_graph("eternal.py", "periodic_cleanup")
    assert graph.edges["s2", "s0"]["kind"] == "continue_as_new"
    assert graph.nodes["s2"]["kind"] == "timer"


TRY_EXCEPT = '''
from tether import TaskFailedError, activity, orchestrator

@activity
def risky(x):
    return x

@activity
def recover(x):
    return x

@orchestrator
async def orch(ctx, n):
    try:
        value = await ctx.call_activity(risky, n)
    except TaskFailedError:
        value = await ctx.call_activity(recover, n)
    if value is None:
        await ctx.call_activity(recover, -1)
        raise ValueError("nothing")
    return value
'''


def test_exception_paths_are_edges_of_their_own_kind() -> None:
    graph = source_graph(TRY_EXCEPT)
    risky = next(n for n, d in graph.nodes(data=True) if d.get("name") == "risky")
    handler = next(n for n, d in graph.nodes(data=True) if d.get("construct") == "except")
    recover = next(n for n, d in graph.nodes(data=True) if d.get("name") == "recover"
                   and d["line"] == 17)
    assert graph.edges[risky, handler]["kind"] == "exception"
    assert graph.edges[handler, recover]["label"] == "TaskFailedError"
    assert graph.edges[handler, "fail"]["kind"] == "raise"  # no match: re-raised
    raising = [u for u, v, d in graph.in_edges("fail", data=True) if d["label"] == "raise"]
    assert [graph.nodes[u]["line"] for u in raising] == [19]  # the await before the raise


def test_match_shows_its_subject_and_patterns() -> None:
    graph = source_graph('''
from tether import activity, orchestrator

@activity
def echo(x):
    return x

@orchestrator
async def orch(ctx, n):
    v = await ctx.call_activity(echo, n)
    match v:
        case 0:
            return "zero"
        case [a, b]:
            return await ctx.call_activity(echo, a)
    return "other"
''')
    branch = next(n for n, d in graph.nodes(data=True) if d.get("construct") == "match")
    assert graph.nodes[branch]["label"] == "match v"
    assert {d["label"] for _, _, d in graph.out_edges(branch, data=True)} >= {"[a, b]"}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.stem)
def test_every_node_has_a_kind_label_and_source_span(path: Any) -> None:
    for machine in compiler.compile_file(path).machines:
        graph = machine.graph
        assert graph is not None
        assert nx.is_weakly_connected(graph)
        for node, data in graph.nodes(data=True):
            assert data["kind"] and data["label"], node
            if node not in ("end", "fail"):
                assert data["line"] is not None and data["end_line"] >= data["line"], node
        for u, v, data in graph.edges(data=True):
            assert data["kind"] in {"next", "true", "false", "case", "loop", "exception", "raise",
                                    "return", "continue_as_new", "fan_out", "fan_in"}, (u, v)
        # every await is a node keyed by the state an instance waits at
        steps = {f"s{n}" for n, _, _ in machine_steps(machine)}
        assert steps <= set(graph.nodes)


def machine_steps(machine: Any) -> list[tuple[int, int | None, str]]:
    from compiler.ir import Suspend

    return [(t.resume, t.line, t.kind) for b in machine.blocks.values()
            if isinstance(t := b.term, Suspend)]


def test_tasks_made_in_a_plain_loop_fan_out_from_the_branch_that_runs_it() -> None:
    graph = source_graph('''
from tether import activity, orchestrator

@activity
def act(x):
    return x

@orchestrator
async def orch(ctx, n):
    out = []
    for i in range(n):
        tasks = []
        for x in range(i):
            tasks.append(ctx.call_activity(act, x))
        first = await ctx.when_any(tasks)
        out.append(await first)
    return out
''')
    task = next(n for n, d in graph.nodes(data=True) if d.get("scheduled"))
    assert (graph.nodes[task]["name"], graph.nodes[task]["each"]) == ("act", "for x in range(i)")
    (source, _, kind), = graph.in_edges(task, data="kind")
    assert (graph.nodes[source]["label"], kind) == ("for i in range(n)", "fan_out")
    (_, join, kind), = graph.out_edges(task, data="kind")
    assert (graph.nodes[join]["kind"], kind) == ("when_any", "fan_in")
