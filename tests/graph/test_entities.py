"""Entities in the step graph (issue 12): a critical section's acquire is a `lock` step,
`call_entity` awaits are `entity` steps, a `signal_entity` is a one-way branch off the
step that sends it, and every renderer draws the new kinds."""

from __future__ import annotations

import json

from tests.graph.conftest import source_graph
from tether.graphing import render

SOURCE = '''
from tether import orchestrator


@orchestrator
async def orch(ctx, req):
    async with ctx.lock_entities(req["a"], "@account@b"):
        got = await ctx.call_entity(req["a"], "get")
        ctx.signal_entity("@audit@log", "record", got)
        await ctx.call_entity("@account@b", "add", got)
    parts = [ctx.call_entity(k, "get") for k in req["keys"]]
    return await ctx.when_all(parts)
'''


def test_lock_and_entity_steps_are_nodes_with_their_names() -> None:
    graph = source_graph(SOURCE)
    steps = {d["label"]: (d["kind"], d["line"]) for _n, d in graph.nodes(data=True)}
    assert steps['lock req["a"], "@account@b"'] == ("lock", 7)
    assert steps['entity req["a"].get'] == ("entity", 8)
    assert steps['entity "@account@b".add'] == ("entity", 10)


def test_a_signal_is_one_way_and_scheduled_calls_fan_in() -> None:
    graph = source_graph(SOURCE)
    by_label = {d["label"]: n for n, d in graph.nodes(data=True)}
    signal = by_label['signal "@audit@log".record']
    assert graph.nodes[signal]["kind"] == "signal"
    assert [graph.edges[e]["kind"] for e in graph.in_edges(signal)] == ["fan_out"]
    assert list(graph.out_edges(signal)) == []  # joined nowhere
    # the flow from the step that sends it still goes on to the next call
    sender = next(iter(graph.predecessors(signal)))
    assert by_label['entity "@account@b".add'] in graph.successors(sender)
    fanned = by_label["entity k.get"]
    assert graph.nodes[fanned]["many"] is True
    assert [graph.nodes[t]["kind"] for t in graph.successors(fanned)] == ["when_all"]


def test_every_format_draws_the_entity_kinds() -> None:
    graph = source_graph(SOURCE)
    for fmt in ("mermaid", "dot", "json"):
        text = render(graph, fmt)
        assert "lock" in text and "entity" in text and "signal" in text
    doc = json.loads(render(graph, "json"))
    assert {"lock", "entity", "signal"} <= {n["kind"] for n in doc["nodes"]}
