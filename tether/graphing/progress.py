"""One instance's progress, read from its journal, and what it says about each graph node.

The journal's `checkpoint` records carry `step`, the resume state the instance waits at,
which is the graph node `s<step>`; every checkpoint is one visit. `result` records with an
`error` are failed tasks, charged to the step waited at when they arrived; `retry`
records are further attempts of a task. The last record says how the instance stands.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

if TYPE_CHECKING:
    from runtime.backends import Backend

FINAL = {"completed": "Completed", "failed": "Failed", "terminated": "Terminated"}

# What a node shows: done, waiting (the instance is parked there), failed, or not reached.
DONE, WAITING, FAILED, NOT_RUN = "done", "waiting", "failed", "not_run"


@dataclass(frozen=True)
class Progress:
    """Where one instance has been: visits per `s` node, where it waits, what failed."""

    instance_id: str
    status: str  # Pending, Running, Suspended, Completed, Failed, Terminated
    visits: Mapping[str, int] = field(default_factory=dict)
    waiting: str | None = None
    failed: frozenset[str] = frozenset()
    retries: Mapping[str, int] = field(default_factory=dict)  # node -> extra attempts
    name: str | None = None
    graph_hash: str | None = None
    # tasks that ended, by (kind, name): how a fan-out node counts its branches
    tasks_done: Mapping[tuple[str, str | None], int] = field(default_factory=dict)
    tasks_failed: Mapping[tuple[str, str | None], int] = field(default_factory=dict)
    generation: int = 0  # continue_as_new starts a fresh journal: this is the latest one

    def headline(self, graph: nx.DiGraph) -> str:
        """`name · instance ID: Status, waiting at STEP` (and the generation, if any)."""
        where = ""
        if self.waiting is not None and self.waiting in graph:
            where = f", waiting at {graph.nodes[self.waiting]['label']}"
        generation = f" (generation {self.generation})" if self.generation else ""
        return (f"{graph.graph.get('name', '')} · instance {self.instance_id}{generation}: "
                f"{self.status}{where}")


@dataclass(frozen=True)
class NodeState:
    state: str  # DONE, WAITING, FAILED or NOT_RUN
    count: int  # how many times the node ran (0 when unknown, as for branches)
    retries: int = 0


def from_records(instance_id: str, records: Iterable[tuple[str, dict[str, Any]]]) -> Progress:
    """Progress from (kind, data) journal records, oldest first."""
    visits: Counter[str] = Counter()
    retries: Counter[str] = Counter()
    failed: set[str] = set()
    # checkpoints list the tasks alive at them; results and timers name only the task id
    task_of: dict[int, tuple[str, str | None]] = {}
    done: Counter[tuple[str, str | None]] = Counter()
    broken: Counter[tuple[str, str | None]] = Counter()
    status, at, name, graph_hash, generation = "Pending", "s0", None, None, 0
    for kind, data in records:
        if kind == "created":
            name, graph_hash = data.get("name"), data.get("graph_hash")
            generation = int(data.get("generation") or 0)
            visits["s0"] = 1
        elif kind == "checkpoint":
            at = f"s{data['step']}"
            visits[at] += 1
            status = "Suspended" if data.get("suspended") else "Running"
            for task in data.get("tasks", ()):
                task_of[task["id"]] = (task["kind"], task.get("name"))
        elif kind in ("result", "timer"):
            what = task_of.get(data.get("task", -1))
            if data.get("error") is not None:
                failed.add(at)
            if what is not None:
                (broken if data.get("error") is not None else done)[what] += 1
        elif kind == "retry":
            retries[at] += 1
        elif kind == "suspended":
            status = "Suspended"
        elif kind == "resumed":
            status = "Running" if visits.keys() - {"s0"} else "Pending"
        elif kind in FINAL:
            status = FINAL[kind]
    ended = status in FINAL.values()
    if status == "Failed":
        failed.add(at)
    elif status == "Completed":
        visits["end"] = 1
    return Progress(instance_id, status, dict(visits), None if ended else at,
                    frozenset(failed), dict(retries), name, graph_hash, dict(done), dict(broken),
                    generation)


def from_store(store: Path | str | Backend, instance_id: str) -> Progress:
    """Progress of `instance_id` in `store` (a directory, a URL or a Backend; read-only,
    the instance may run)."""
    from runtime.backends import open_backend

    records = open_backend(store).history(instance_id)
    return from_records(instance_id, ((r.kind, r.data) for r in records))


def node_states(graph: nx.DiGraph, progress: Progress) -> dict[str, NodeState]:
    """What each node of `graph` shows for `progress`.

    Await and start nodes are known from the journal. A branch ran when the instance got
    past it: one of its successors was reached. A scheduled (fan-out) task ran when its
    join was reached, and failed when the join's step saw a failure.
    """
    out: dict[str, NodeState] = {}
    for node in graph.nodes:
        count = progress.visits.get(node, 0)
        retries = progress.retries.get(node, 0)
        if node in progress.failed:
            state = FAILED
        elif node == progress.waiting:
            state = WAITING
        elif count:
            state = DONE
        else:
            state = NOT_RUN
        out[node] = NodeState(state, count, retries)
    for node, data in graph.nodes(data=True):
        if data.get("scheduled"):
            out[node] = _scheduled_state(graph, node, data, progress, out)
    for node, data in graph.nodes(data=True):
        if data["kind"] in ("branch", "finally"):
            _branch_state(graph, node, out)
    return out


def _scheduled_state(graph: nx.DiGraph, node: str, data: dict[str, Any], progress: Progress,
                     out: dict[str, NodeState]) -> NodeState:
    """A fan-out branch: counted by the tasks of its kind and name that ended; done once
    its join was passed, waiting while the join waits."""
    what = (data["kind"], data.get("name"))
    count = progress.tasks_done.get(what, 0) + progress.tasks_failed.get(what, 0)
    joins = [out[j] for j in graph.successors(node)]
    if progress.tasks_failed.get(what) or any(j.state == FAILED for j in joins):
        return NodeState(FAILED, count)
    if any(j.state == WAITING for j in joins):
        # one task that already ended (the timer that fired) is done while its join waits
        finished = not data.get("many") and progress.tasks_done.get(what, 0) > 0
        return NodeState(DONE if finished else WAITING, count)
    if any(j.state == DONE for j in joins):
        return NodeState(DONE, count)
    return NodeState(NOT_RUN, count)


def _branch_state(graph: nx.DiGraph, node: str, out: dict[str, NodeState]) -> None:
    """Mark a branch done when the flow went through it: a step before it and a step after
    it ran (looking through chains of branches)."""
    if _ran_beyond(graph, node, out, graph.predecessors) and \
            _ran_beyond(graph, node, out, graph.successors):
        out[node] = NodeState(DONE, 0)


def _ran_beyond(graph: nx.DiGraph, node: str, out: dict[str, NodeState],
                neighbours: Callable[[str], Iterable[str]]) -> bool:
    seen: set[str] = set()
    frontier = [node]
    while frontier:
        current = frontier.pop()
        if current in seen:
            continue
        seen.add(current)
        for other in neighbours(current):
            data = graph.nodes[other]
            if data["kind"] in ("branch", "finally"):
                frontier.append(other)
            elif out[other].state != NOT_RUN and not data.get("scheduled"):
                return True
    return False
