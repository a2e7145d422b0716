"""A self-contained HTML page: the graph drawn by Graphviz, a legend, and a table of steps
with their source lines (and, for an instance, their progress)."""

from __future__ import annotations

import jinja2
import networkx as nx

from tether.graphing.dot import render as render_dot
from tether.graphing.dot import run_dot
from tether.graphing.mermaid import order_key
from tether.graphing.progress import NodeState, Progress
from tether.graphing.style import STATE_FILL, STATE_WORD, progress_text

PAGE = jinja2.Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, sans-serif; margin: 2em; color: #1f2328; }
h1 { font-size: 1.3em; } .graph svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin-top: 1.5em; }
td, th { border-bottom: 1px solid #d8dee4; padding: 4px 10px; text-align: left; }
.swatch { display: inline-block; width: 1em; height: 1em; border: 1px solid; vertical-align: middle; margin: 0 4px 0 12px; }
</style></head><body>
<h1>{{ title }}</h1>
{% if legend %}<p>{% for word, fill in legend %}<span class="swatch" style="background:{{ fill.fill }};border-color:{{ fill.stroke }}"></span>{{ word }}{% endfor %}</p>{% endif %}
<div class="graph">{{ svg | safe }}</div>
<table><tr><th>step</th><th>what</th><th>lines</th>{% if rows and rows[0].progress is not none %}<th>progress</th>{% endif %}</tr>
{% for row in rows %}<tr><td><code>{{ row.id }}</code></td><td>{{ row.label }}</td><td>{{ row.lines }}</td>{% if row.progress is not none %}<td>{{ row.progress }}</td>{% endif %}</tr>
{% endfor %}</table>
</body></html>
""", autoescape=True)


def render(graph: nx.DiGraph, states: dict[str, NodeState] | None, progress: Progress | None,
           direction: str = "TB") -> str:
    svg = run_dot(render_dot(graph, states, progress, direction), "svg").decode()
    svg = svg[svg.find("<svg"):]  # drop the XML prologue and doctype inside HTML
    rows = []
    for node, data in sorted(graph.nodes(data=True), key=lambda p: order_key(p[0], p[1])):
        line, end = data.get("line"), data.get("end_line")
        lines = "" if line is None else str(line) if not end or end == line else f"{line}–{end}"
        shown = None
        if states is not None:
            shown = ", ".join(progress_text(states[node])) or STATE_WORD[states[node].state]
        rows.append({"id": node, "label": data["label"], "lines": lines, "progress": shown})
    title = f"{graph.graph.get('name', '')} ({graph.graph.get('path', '')})"
    if progress is not None:
        title = progress.headline(graph)
    legend = [(STATE_WORD[k], v) for k, v in STATE_FILL.items()] if states is not None else []
    page: str = PAGE.render(title=title, svg=svg, rows=rows, legend=legend)
    return page
