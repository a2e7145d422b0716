"""Mermaid flowchart text (renders on GitHub, GitLab and in mermaid.live; needs nothing).

Node ids are the graph's keys prefixed `n_` and class names `k_` (mermaid reserves `end`); label text is
quoted and its `"`, `<`, `>`, `&`, `#` and `|` written as mermaid entity codes.
"""

from __future__ import annotations

import json
from typing import Any

import networkx as nx

from tether.graphing.progress import NodeState, Progress
from tether.graphing.style import (
    FAILURE_EDGES,
    NODE_FILL,
    PARALLEL_EDGES,
    STATE_FILL,
    family,
    node_text,
)

SHAPES = {
    "start": ('(["', '"])'), "end": ('(["', '"])'), "fail": ('(["', '"])'),
    "branch": ('{"', '"}'), "finally": ('{"', '"}'),
    "work": ('["', '"]'), "wait": ('{{"', '"}}'), "join": ('(("', '"))'),
}
ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "|": "#124;"}


def node_id(node: str) -> str:
    return f"n_{node}"


def escape(text: str) -> str:
    return "".join(ENTITIES.get(ch, ch) for ch in text)


def render(graph: nx.DiGraph, states: dict[str, NodeState] | None, progress: Progress | None,
           direction: str = "TB") -> str:
    out: list[str] = []
    if progress is not None:
        out += ["---", f"title: {_title(graph, progress)}", "---"]
    out.append(f"flowchart {direction}")
    for node, data in _nodes(graph):
        out.append(f"    {node_id(node)}{_shape(node, data, states)}")
    styles: dict[str, list[int]] = {"failure": [], "parallel": []}
    for index, (u, v, data) in enumerate(_edges(graph)):
        out.append(f"    {node_id(u)} {_arrow(data)} {node_id(v)}")
        if data["kind"] in FAILURE_EDGES:
            styles["failure"].append(index)
        elif data["kind"] in PARALLEL_EDGES:
            styles["parallel"].append(index)
    out += _class_lines(graph, states)
    if styles["failure"]:
        indices = ",".join(map(str, styles["failure"]))
        out.append(f"    linkStyle {indices} stroke:#b3261e,color:#b3261e")
    if styles["parallel"]:
        out.append(f"    linkStyle {','.join(map(str, styles['parallel']))} stroke:#6f4fa5")
    return "\n".join(out) + "\n"


def _nodes(graph: nx.DiGraph) -> list[tuple[str, dict[str, Any]]]:
    return sorted(graph.nodes(data=True), key=lambda p: order_key(p[0], p[1]))


def _edges(graph: nx.DiGraph) -> list[tuple[str, str, dict[str, Any]]]:
    return sorted(graph.edges(data=True), key=lambda e: (order_key(e[0], graph.nodes[e[0]]),
                                                         order_key(e[1], graph.nodes[e[1]])))


def order_key(node: str, data: dict[str, Any]) -> tuple[int, int, str]:
    """Source order, invented nodes last: layouts follow declaration order on ties."""
    line = data.get("line")
    return (0 if line is not None else 1, line or 0, node)


def _shape(node: str, data: dict[str, Any], states: dict[str, NodeState] | None) -> str:
    kind = data["kind"]
    opening, closing = SHAPES[family(kind)]
    if kind == "sub_orchestration":
        opening, closing = '[["', '"]]'
    state = states[node] if states is not None else None
    text = "<br/>".join(escape(line) for line in node_text(node, data, state))
    return f"{opening}{text}{closing}"


def _arrow(data: dict[str, Any]) -> str:
    kind, label = data["kind"], data.get("label") or ""
    arrow = {"exception": "-.->", "raise": "-.->", "continue_as_new": "-.->",
             "fan_out": "==>", "fan_in": "==>"}.get(kind, "-->")
    return f"{arrow}|{escape(label)}|" if label else arrow


def _class_lines(graph: nx.DiGraph, states: dict[str, NodeState] | None) -> list[str]:
    fills = STATE_FILL if states is not None else NODE_FILL
    out = [f"    classDef k_{name} fill:{f.fill},stroke:{f.stroke},color:{f.text}"
           + (",stroke-width:3px" if name in ("waiting", "failed") else "")
           for name, f in fills.items()]
    members: dict[str, list[str]] = {}
    for node, data in _nodes(graph):
        name = states[node].state if states is not None else family(data["kind"])
        members.setdefault(name, []).append(node_id(node))
    out += [f"    class {','.join(ids)} k_{name}" for name, ids in members.items()]
    # one task per item: dashed, as in the DOT drawing
    out += [f"    style {node_id(node)} stroke-dasharray:5 5"
            for node, data in _nodes(graph) if data.get("many")]
    return out


def _title(graph: nx.DiGraph, progress: Progress) -> str:
    # front matter is YAML: a JSON string is a valid YAML scalar whatever the text holds
    return json.dumps(progress.headline(graph), ensure_ascii=False)
