"""docs/graphs holds one picture per example orchestrator, and they show today's steps."""

from __future__ import annotations

import re

import pytest

import compiler
from compiler.ir import MachineIR
from tests.graph.conftest import EXAMPLES, ROOT

DOCS = ROOT / "docs" / "graphs"
MACHINES = [m for path in sorted(EXAMPLES.glob("*.py")) for m in compiler.compile_file(path).machines]


@pytest.mark.parametrize("machine", MACHINES, ids=[m.reg_name for m in MACHINES])
def test_every_example_orchestrator_has_a_current_picture(machine: MachineIR) -> None:
    svg = DOCS / f"{machine.reg_name}.svg"
    assert svg.is_file(), f"run python docs/graphs/make.py to draw {svg.name}"
    text = svg.read_text()
    assert machine.graph is not None
    for _, data in machine.graph.nodes(data=True):
        shown = data["label"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        shown = shown.replace('"', "&quot;")
        assert re.search(re.escape(shown), text), f"{svg.name} is stale: no {data['label']!r}"
    assert f"{machine.reg_name}.svg" in (DOCS / "README.md").read_text()


def test_the_readme_shows_an_example_graph() -> None:
    section = (ROOT / "README.md").read_text()
    pictures = re.findall(r"!\[[^\]]+\]\((docs/graphs/[\w-]+\.svg)\)", section)
    assert pictures and all((ROOT / p).is_file() for p in pictures)
