"""JSON: networkx's node-link form, each node with its source span.

    {"directed": true, "graph": {"name", "path", "hash"?}, "nodes": [{"id", "kind", "label",
     "line", "end_line", "span": {"path", "start_line", "end_line"} | null, ...}],
     "edges": [{"source", "target", "kind", "label"}], "instance"?: {...}}

With an instance, every node also has `progress` ({"state", "count", "retries"}) and the
document an `instance` object (id, status, waiting).
"""

from __future__ import annotations

import json
from typing import Any

import networkx as nx

from tether.graphing.progress import NodeState, Progress


def document(graph: nx.DiGraph, states: dict[str, NodeState] | None,
             progress: Progress | None) -> dict[str, Any]:
    doc: dict[str, Any] = nx.node_link_data(graph, edges="edges")
    path = graph.graph.get("path")
    for node in doc["nodes"]:
        line = node.get("line")
        node["span"] = None if line is None else {
            "path": path, "start_line": line, "end_line": node.get("end_line") or line}
        if states is not None:
            state = states[node["id"]]
            node["progress"] = {"state": state.state, "count": state.count,
                                "retries": state.retries}
    if progress is not None:
        doc["instance"] = {"id": progress.instance_id, "status": progress.status,
                           "generation": progress.generation,
                           "waiting": progress.waiting, "name": progress.name}
    return doc


def render(graph: nx.DiGraph, states: dict[str, NodeState] | None,
           progress: Progress | None) -> str:
    return json.dumps(document(graph, states, progress), indent=2, sort_keys=True) + "\n"
