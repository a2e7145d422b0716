"""Graphviz DOT text, and svg/png through the `dot` program.

The DOT needs nothing to write; drawing it needs Graphviz installed. A missing `dot` is
the user's to fix, so it is a one-line `UsageError` saying how.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import networkx as nx

from tether.errors import UsageError
from tether.graphing.mermaid import order_key
from tether.graphing.progress import NodeState, Progress
from tether.graphing.style import FAILURE_EDGES, PARALLEL_EDGES, family, fill_of, node_text

SHAPES = {
    "start": "box", "end": "box", "fail": "box", "branch": "diamond", "finally": "diamond",
    "work": "box", "wait": "hexagon", "join": "box",
}
INSTALL = ("Graphviz's `dot` program is needed to draw svg, png and html graphs; install it "
           "(apt-get install graphviz, brew install graphviz, or graphviz.org/download) "
           "or use --format mermaid, dot or json")


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render(graph: nx.DiGraph, states: dict[str, NodeState] | None, progress: Progress | None,
           direction: str = "TB") -> str:
    name = str(graph.graph.get("name", "steps"))
    out = [f"digraph {quote(name)} {{"]
    title = _title(graph, progress)
    out.append(f"    graph [rankdir={direction}, fontname=\"Helvetica\", fontsize=12, "
               f"nodesep=0.35, ranksep=0.45, labelloc=t, label={quote(title)}];")
    out.append("    node [fontname=\"Helvetica\", fontsize=11, style=\"filled,rounded\", "
               "margin=\"0.15,0.06\", penwidth=1.2];")
    out.append("    edge [fontname=\"Helvetica\", fontsize=10, color=\"#5f6b7a\", "
               "fontcolor=\"#3d4650\", arrowsize=0.7];")
    for node, data in sorted(graph.nodes(data=True), key=lambda p: order_key(p[0], p[1])):
        out.append(f"    {quote(node)} [{_node_attrs(node, data, states)}];")
    for u, v, data in sorted(graph.edges(data=True),
                             key=lambda e: (order_key(e[0], graph.nodes[e[0]]),
                                            order_key(e[1], graph.nodes[e[1]]))):
        out.append(f"    {quote(u)} -> {quote(v)} [{_edge_attrs(data)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def _node_attrs(node: str, data: dict[str, Any], states: dict[str, NodeState] | None) -> str:
    kind = data["kind"]
    state = states[node] if states is not None else None
    fill = fill_of(kind, state)
    attrs = {
        "label": quote("\n".join(node_text(node, data, state))),
        "shape": SHAPES[family(kind)],
        "fillcolor": quote(fill.fill), "color": quote(fill.stroke), "fontcolor": quote(fill.text),
    }
    if kind == "sub_orchestration":
        attrs["peripheries"] = "2"
    if family(kind) in ("branch", "finally", "wait"):
        attrs["style"] = quote("filled")
        attrs["margin"] = quote("0.02,0.02")  # diamonds grow fast with long conditions
    if kind in ("start", "end", "fail"):
        attrs["style"] = quote("filled,rounded,bold")
    if data.get("many"):
        attrs["style"] = quote("filled,rounded,dashed")
    if state is not None and state.state in ("waiting", "failed"):
        attrs["penwidth"] = "2.4"
    return ", ".join(f"{k}={v}" for k, v in attrs.items())


def _edge_attrs(data: dict[str, Any]) -> str:
    kind, label = data["kind"], data.get("label") or ""
    attrs: dict[str, str] = {}
    if label:
        attrs["label"] = quote(f" {label} ")
    if kind in FAILURE_EDGES:
        attrs.update(style="dashed", color='"#b3261e"', fontcolor='"#b3261e"')
    elif kind in PARALLEL_EDGES:
        attrs.update(penwidth="2", color='"#6f4fa5"')
    elif kind == "continue_as_new":
        attrs.update(style="dotted", constraint="false")
    elif kind == "loop":
        attrs.update(style="bold")
    return ", ".join(f"{k}={v}" for k, v in attrs.items())


def _title(graph: nx.DiGraph, progress: Progress | None) -> str:
    return progress.headline(graph) if progress is not None else str(graph.graph.get("name", ""))


def run_dot(text: str, fmt: str) -> bytes:
    """`text` drawn by Graphviz as `fmt` (svg or png)."""
    program = shutil.which("dot")
    if program is None:
        raise UsageError(INSTALL)
    done = subprocess.run([program, f"-T{fmt}"], input=text.encode(), capture_output=True,
                          timeout=60, check=False)
    if done.returncode != 0:
        problem = done.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(f"Graphviz could not draw the graph: {problem[0] if problem else done.returncode}")
    return done.stdout
