"""Draw step graphs: mermaid, dot, svg/png (Graphviz), json (networkx node-link), html.

    render(graph, "mermaid", progress=None) -> str | bytes

`graph` is a machine's step graph (`compiler.passes.graph.build`); `progress`, when
given, colours it by one instance's journal (see `tether.graphing.progress`).
"""

from __future__ import annotations

import networkx as nx

from tether.graph_formats import BINARY_FORMATS, DIRECTIONS, FORMATS, TEXT_FORMATS
from tether.graphing.progress import NodeState, Progress, node_states


def render(graph: nx.DiGraph, fmt: str, progress: Progress | None = None,
           direction: str = "TB") -> str | bytes:
    """`graph` drawn as `fmt` (one of FORMATS); svg and png need Graphviz's `dot`."""
    from tether.graphing.dot import render as render_dot
    from tether.graphing.dot import run_dot
    from tether.graphing.json_form import render as render_json
    from tether.graphing.mermaid import render as render_mermaid
    from tether.graphing.page import render as render_page

    states = node_states(graph, progress) if progress is not None else None
    if fmt == "mermaid":
        return render_mermaid(graph, states, progress, direction)
    if fmt == "dot":
        return render_dot(graph, states, progress, direction)
    if fmt in BINARY_FORMATS:
        return run_dot(render_dot(graph, states, progress, direction), fmt)
    if fmt == "json":
        return render_json(graph, states, progress)
    if fmt == "html":
        return render_page(graph, states, progress, direction)
    raise ValueError(f"unknown graph format {fmt!r}")


__all__ = ["BINARY_FORMATS", "DIRECTIONS", "FORMATS", "TEXT_FORMATS", "NodeState", "Progress",
           "node_states", "render"]
