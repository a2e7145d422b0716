"""The graph coloured by one instance: from hand-made journals, and from real instances
that finished, wait for an event, or failed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

import compiler
from runtime.executor import run_inline
from runtime.machine import MachineDef
from tests.graph.conftest import EXAMPLES, example_graph, file_graph
from tether.cli import main
from tether.graphing import render
from tether.graphing.progress import (
    DONE,
    FAILED,
    NOT_RUN,
    WAITING,
    from_records,
    from_store,
    node_states,
)

_loaded = iter(range(1_000_000))


def machine_def(source: str, name: str, tmp_path: Path) -> tuple[MachineDef, Path]:
    path = tmp_path / "prog.py"
    path.write_text(source)
    module = compiler.load_source(source, str(path), f"_tether_graph_test_{next(_loaded)}")
    mdef = getattr(module, name).__tether_machine__
    assert isinstance(mdef, MachineDef)
    return mdef, path


def records(*steps: int, tail: list[tuple[str, dict[str, Any]]] | None = None
            ) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = [("created", {"name": "hello_cities", "graph_hash": "h"})]
    out += [("checkpoint", {"step": s}) for s in steps]
    return out + (tail or [])


def test_a_loop_that_ran_three_times_counts_its_visits() -> None:
    graph = example_graph("hello_cities.py", "hello_cities")
    progress = from_records("i1", records(3, 3, 3, tail=[("completed", {"output": []})]))
    assert (progress.status, progress.waiting) == ("Completed", None)
    states = node_states(graph, progress)
    assert states["s3"].state == DONE and states["s3"].count == 3
    assert states["b1"].state == DONE and states["end"].state == DONE
    text = render(graph, "dot", progress)
    assert isinstance(text, str)
    assert "activity say_hello\\nline 22\\ndone, ran 3×" in text
    assert "hello_cities · instance i1: Completed" in text


def test_a_waiting_instance_marks_its_step_and_leaves_the_rest_unrun() -> None:
    graph = example_graph("monitor.py", "monitor")
    progress = from_records("m", records(3, 7, 3, tail=[("retry", {"task": 4})]))
    states = node_states(graph, progress)
    assert progress.waiting == "s3" and progress.status == "Running"
    assert (states["s3"].state, states["s3"].count, states["s3"].retries) == (WAITING, 2, 1)
    assert states["s7"].state == DONE and states["b3"].state == DONE
    assert states["s5"].state == NOT_RUN and states["end"].state == NOT_RUN
    text = render(graph, "mermaid", progress)
    assert isinstance(text, str)
    assert "waiting here, ran 2×, 1 retry" in text
    assert 'title: "monitor · instance m: Running, waiting at activity get_job_status"' in text


def test_a_failed_task_marks_its_step_failed() -> None:
    graph = example_graph("hello_cities.py", "hello_cities")
    progress = from_records("f", records(3, 3, tail=[
        ("result", {"task": 2, "error": {"type": "ValueError"}}), ("failed", {"error": {}})]))
    assert progress.failed == {"s3"} and progress.status == "Failed"
    assert node_states(graph, progress)["s3"].state == FAILED
    assert node_states(graph, progress)["end"].state == NOT_RUN


WAITER = '''
from tether import activity, orchestrator

@activity
def fetch(x):
    return x + 1

@activity
def send(x):
    return x

@orchestrator
async def orch(ctx, n):
    tasks = [ctx.call_activity(fetch, i) for i in range(n)]
    values = await ctx.when_all(tasks)
    answer = await ctx.wait_for_external_event("Approve")
    if answer:
        return await ctx.call_activity(send, sum(values))
    return None
'''


def test_overlay_of_a_finished_and_of_a_waiting_instance(tmp_path: Path) -> None:
    mdef, path = machine_def(WAITER, "orch", tmp_path)
    store = tmp_path / "store"
    waiting = run_inline(mdef, 3, store=store, instance_id="waits")
    finished = run_inline(mdef, 3, store=store, instance_id="done", events=[("Approve", True)])
    assert (waiting.status, finished.status) == ("Stuck", "Completed")
    graph = file_graph(path, "orch")
    event = next(n for n, d in graph.nodes(data=True) if d["kind"] == "event")
    fanned = next(n for n, d in graph.nodes(data=True) if d.get("many"))

    states = node_states(graph, from_store(store, "waits"))
    assert states[event].state == WAITING
    assert (states[fanned].state, states[fanned].count) == (DONE, 3)  # when_all passed; 3 items
    assert {n for n, s in states.items() if s.state == NOT_RUN} >= {"end"}

    states = node_states(graph, from_store(store, "done"))
    assert {n: s.state for n, s in states.items()} == {n: DONE for n in graph.nodes}


def test_cli_draws_an_instance_and_refuses_a_wrong_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mdef, path = machine_def(WAITER, "orch", tmp_path)
    store = tmp_path / "store"
    run_inline(mdef, 2, store=store, instance_id="waits")
    spec = f"{path}:orch"
    assert main(["graph", spec, "--instance", "waits", "--store", str(store), "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    event = next(n for n in doc["nodes"] if n["kind"] == "event")
    assert doc["instance"] == {"id": "waits", "status": "Running", "waiting": event["id"], "generation": 0,
                               "name": "orch"}
    assert event["progress"] == {"state": WAITING, "count": 1, "retries": 0}

    assert main(["graph", spec, "--instance", "nobody", "--store", str(store)]) == 2
    assert capsys.readouterr().err == f"error: instance nobody: not found in store {store}\n"
    assert main(["graph", spec, "--instance", "../x", "--store", str(store)]) == 2
    assert "invalid instance id" in capsys.readouterr().err

    path.write_text(WAITER.replace("sum(values)", "max(values)"))
    assert main(["graph", spec, "--instance", "waits", "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: instance waits was started with graph ") and err.count("\n") == 1


def test_overlay_picture_of_the_example_monitor(tmp_path: Path, graphviz: str) -> None:
    source = (EXAMPLES / "monitor.py").read_text()
    mdef, path = machine_def(source, "monitor", tmp_path)
    job = {"job_id": "j", "ready_after": 3, "interval_seconds": 5, "timeout_seconds": 60}
    assert run_inline(mdef, job, store=tmp_path / "s", instance_id="m1").status == "Completed"
    out = tmp_path / "m1.svg"
    assert main(["graph", f"{path}:monitor", "--instance", "m1", "--store",
                 str(tmp_path / "s"), "-o", str(out)]) == 0
    svg = out.read_text()
    assert "done, ran 3×" in svg  # get_job_status: checked three times


FLAKY = '''
from datetime import timedelta

from tether import RetryPolicy, activity, orchestrator

@activity
def flaky(x):
    raise ValueError(f"down {x}")

@activity
def after(x):
    return x

@orchestrator
async def orch(ctx, n):
    first = await ctx.call_activity(after, n)
    value = await ctx.call_activity(flaky, first, retry=RetryPolicy(3, timedelta(seconds=1)))
    return await ctx.call_activity(after, value)
'''


def test_a_failed_instance_shows_the_failed_step_and_its_retries(tmp_path: Path) -> None:
    mdef, path = machine_def(FLAKY, "orch", tmp_path)
    result = run_inline(mdef, 1, store=tmp_path / "s", instance_id="f1")
    assert result.status == "Failed"
    graph = file_graph(path, "orch")
    flaky = next(n for n, d in graph.nodes(data=True) if d.get("name") == "flaky")
    progress = from_store(tmp_path / "s", "f1")
    states = node_states(graph, progress)
    assert (states[flaky].state, states[flaky].retries) == (FAILED, 2)
    assert [n for n, s in states.items() if s.state == DONE] == ["s0", "s1"]
    assert states["end"].state == NOT_RUN and progress.waiting is None
    text = render(graph, "mermaid", progress)
    assert isinstance(text, str) and "failed, 2 retries" in text


def test_a_branch_counts_as_run_only_when_the_flow_went_through_it() -> None:
    graph = nx.DiGraph(name="x")
    for node, kind in (("s0", "start"), ("s1", "activity"), ("b2", "branch"), ("s3", "activity"),
                       ("b4", "branch"), ("s5", "activity"), ("b6", "branch"), ("end", "end")):
        graph.add_node(node, kind=kind, label=node, line=None)
    # s0 -> b4 -> s1 -> s3 -> end ran; b2 also leads to s3, but from s1's other exit
    for u, v in (("s0", "b4"), ("b4", "s1"), ("s1", "s3"), ("s1", "b2"), ("b2", "s3"),
                 ("b2", "end"), ("s3", "end"), ("s5", "b6"), ("b6", "s3"), ("b6", "end")):
        graph.add_edge(u, v, kind="next", label="")
    ran = from_records("x", [("created", {"name": "x"}), ("checkpoint", {"step": 1}),
                             ("checkpoint", {"step": 3}), ("completed", {})])
    states = node_states(graph, ran)
    assert states["b4"].state == DONE
    assert states["b2"].state == DONE  # s1 ran before it and s3 after: it may have run
    assert states["b6"].state == NOT_RUN  # s3 ran, but nothing before b6 did
    waiting = from_records("x", [("created", {"name": "x"}), ("checkpoint", {"step": 1})])
    assert node_states(graph, waiting)["b2"].state == NOT_RUN


def test_the_instance_names_the_orchestrator_when_the_file_has_several(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = (EXAMPLES / "sub_orchestration.py").read_text()
    mdef, path = machine_def(source, "provision_fleet", tmp_path)
    assert run_inline(mdef, ["a", "b"], store=tmp_path / "s", instance_id="fleet").status == "Completed"
    argv = ["graph", str(path), "--instance", "fleet", "--store", str(tmp_path / "s")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert 'title: "provision_fleet · instance fleet: Completed"' in out
    assert "sub_orchestration provision_device<br/>for each d in device_ids<br/>line 35<br/>done, ran 2×" in out
    assert main(["graph", f"{path}:provision_device", *argv[2:]]) == 2
    assert capsys.readouterr().err == ("error: instance fleet runs orchestrator 'provision_fleet', "
                                       "not 'provision_device'\n")


def test_a_race_shows_which_branch_ended_while_the_join_waits() -> None:
    graph = example_graph("human_interaction.py", "approval")
    checkpoint = {"step": 2, "tasks": [{"id": 1, "kind": "timer"},
                                       {"id": 2, "kind": "event", "name": "ApprovalEvent"}]}
    started: list[tuple[str, dict[str, Any]]] = [("created", {"name": "approval"}),
                                                 ("checkpoint", {"step": 1})]
    waiting = from_records("o", [*started, ("checkpoint", checkpoint)])
    states = node_states(graph, waiting)
    assert [states[n].state for n in ("s1", "t1_0", "t1_1", "s2", "b2")] == [
        DONE, WAITING, WAITING, WAITING, NOT_RUN]
    fired = from_records("o", [*started, ("checkpoint", checkpoint), ("timer", {"task": 1})])
    states = node_states(graph, fired)
    assert (states["t1_0"].state, states["t1_1"].state) == (DONE, WAITING)


def test_an_eternal_instance_is_drawn_at_its_latest_generation(tmp_path: Path) -> None:
    mdef, path = machine_def((EXAMPLES / "eternal.py").read_text(), "periodic_cleanup", tmp_path)
    state = {"round": 0, "rounds": 3, "interval_seconds": 5}
    assert run_inline(mdef, state, store=tmp_path / "s", instance_id="e").status == "Completed"
    progress = from_store(tmp_path / "s", "e")
    assert (progress.generation, progress.status) == (2, "Completed")
    graph = file_graph(path, "periodic_cleanup")
    assert progress.headline(graph) == "periodic_cleanup · instance e (generation 2): Completed"
    assert {n: s.state for n, s in node_states(graph, progress).items()} == {
        "s0": DONE, "s1": DONE, "s2": DONE, "end": DONE}
