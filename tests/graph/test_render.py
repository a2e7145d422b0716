"""Every format of every example: mermaid that follows the flowchart syntax, DOT that
Graphviz draws, node-link JSON with spans, an HTML page."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import networkx as nx
import pytest

import compiler
from tests.graph.conftest import EXAMPLES, file_graph
from tether.graphing import render

GRAPHS = [(path, m.reg_name) for path in sorted(EXAMPLES.glob("*.py"))
          for m in compiler.compile_file(path).machines]
IDS = [name for _, name in GRAPHS]

# The subset of mermaid's flowchart grammar we write, line by line.
MERMAID_LINE = [
    re.compile(r"flowchart (TB|LR)"),
    re.compile(r"    n_\w+(\(\[\"[^\"]*\"\]\)|\{\"[^\"]*\"\}|\[\"[^\"]*\"\]|\[\[\"[^\"]*\"\]\]"
               r"|\{\{\"[^\"]*\"\}\}|\(\(\"[^\"]*\"\)\))"),
    re.compile(r"    n_\w+ (-->|==>|-\.->)(\|[^|\"]+\|)? n_\w+"),
    re.compile(r"    classDef k_\w+ fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6},color:#[0-9a-f]{6}"
               r"(,stroke-width:\dpx)?"),
    re.compile(r"    style n_\w+ stroke-dasharray:5 5"),
    re.compile(r"    class n_\w+(,n_\w+)* k_\w+"),
    re.compile(r"    linkStyle \d+(,\d+)* stroke:#[0-9a-f]{6}(,color:#[0-9a-f]{6})?"),
]


def check_mermaid(text: str, graph: nx.DiGraph) -> None:
    lines = text.splitlines()
    if lines[0] == "---":  # front matter: a title
        close = lines.index("---", 1)
        assert all(re.fullmatch(r"title: [^\n]+", line) for line in lines[1:close])
        lines = lines[close + 1:]
    assert lines[0].startswith("flowchart ")
    for line in lines:
        assert any(p.fullmatch(line) for p in MERMAID_LINE), f"not flowchart syntax: {line!r}"
    declared = re.findall(r"^    (n_\w+)[(\[{]", text, re.MULTILINE)
    assert sorted(declared) == sorted(f"n_{n}" for n in graph.nodes)
    arrows = re.findall(r"^    (n_\w+) (?:-->|==>|-\.->)(?:\|[^|]*\|)? (n_\w+)$", text, re.MULTILINE)
    assert len(arrows) == graph.number_of_edges()
    links = [int(i) for m in re.findall(r"linkStyle ([\d,]+)", text) for i in m.split(",")]
    assert all(0 <= i < len(arrows) for i in links)  # linkStyle indexes edges in order


@pytest.mark.parametrize(("path", "name"), GRAPHS, ids=IDS)
def test_mermaid_follows_the_flowchart_syntax(path: Path, name: str) -> None:
    graph = file_graph(path, name)
    text = render(graph, "mermaid")
    assert isinstance(text, str)
    check_mermaid(text, graph)
    assert "n_end" in text and "\n    end" not in text  # `end` is mermaid's keyword


def test_mermaid_escapes_what_would_end_a_label() -> None:
    graph = nx.DiGraph(name="x")
    graph.add_node("s0", kind="start", label='start "x" <y> & #z | w', line=1)
    graph.add_node("end", kind="end", label="end", line=None)
    graph.add_edge("s0", "end", kind="case", label='"a" | b')
    text = render(graph, "mermaid")
    assert isinstance(text, str)
    check_mermaid(text, graph)
    assert "start #quot;x#quot; #lt;y#gt; #amp; #35;z #124; w" in text


@pytest.mark.parametrize(("path", "name"), GRAPHS, ids=IDS)
def test_dot_is_drawn_by_graphviz(path: Path, name: str, graphviz: str) -> None:
    graph = file_graph(path, name)
    text = render(graph, "dot")
    assert isinstance(text, str)
    done = subprocess.run([graphviz, "-Tjson"], input=text.encode(), capture_output=True,
                          check=False)
    assert done.returncode == 0 and not done.stderr, done.stderr
    drawn = json.loads(done.stdout)
    assert {o["name"] for o in drawn["objects"]} == set(graph.nodes)
    assert len(drawn["edges"]) == graph.number_of_edges()
    # at most about a screen: 1920 x 1080 at 72 points per inch
    _, _, width, height = (float(v) for v in drawn["bb"].split(","))
    assert width <= 1920 and height <= 1080, (width, height)


def test_png_and_svg_come_from_graphviz(graphviz: str) -> None:
    graph = file_graph(EXAMPLES / "monitor.py", "monitor")
    png = render(graph, "png")
    svg = render(graph, "svg")
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG")
    assert isinstance(svg, bytes) and b"<svg" in svg and b"while ctx.current_utc_datetime" in svg


def test_dot_draws_failure_paths_dashed_and_red() -> None:
    graph = nx.DiGraph(name="x")
    for node, kind in (("s0", "start"), ("b1", "branch"), ("end", "end")):
        graph.add_node(node, kind=kind, label=node, line=None)
    graph.add_edge("s0", "b1", kind="exception", label="exception")
    graph.add_edge("b1", "end", kind="next", label="")
    text = render(graph, "dot")
    assert isinstance(text, str)
    assert '"s0" -> "b1" [label=" exception ", style=dashed, color="#b3261e"' in text
    assert '"b1" -> "end" [];' in text


def test_json_is_node_link_with_source_spans() -> None:
    path = EXAMPLES / "hello_cities.py"
    machine = compiler.compile_file(path).machine("hello_cities")
    assert machine.graph is not None
    text = render(machine.graph, "json")
    assert isinstance(text, str)
    doc = json.loads(text)
    again = nx.node_link_graph(doc, edges="edges")
    assert set(again.edges) == set(machine.graph.edges)
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert nodes["s3"]["span"] == {"path": str(path), "start_line": 22, "end_line": 22}
    assert nodes["end"]["span"] is None
    assert doc["graph"]["hash"] == machine.graph_hash
    assert {e["kind"] for e in doc["edges"]} == {"next", "true", "false", "loop"}


def test_html_page_holds_the_drawing_and_a_step_table(graphviz: str) -> None:
    graph = file_graph(EXAMPLES / "human_interaction.py", "approval")
    page = render(graph, "html")
    assert isinstance(page, str)
    assert page.startswith("<!doctype html>") and "<svg" in page and "<?xml" not in page
    assert "<td>event ApprovalEvent</td>" in page and "<td>if winner == answer</td>" in page
