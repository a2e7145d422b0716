"""The compiler's table of contents: named passes, called in order.

Each pass is `run(unit) -> unit` in `compiler/passes/`, with a docstring stating what it
consumes, what it produces and which invariants hold afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from compiler.ir import Unit
from compiler.passes import collect, emit, graph, hoist, optimize, split, verify

Pass = Callable[[Unit], Unit]

PASSES: tuple[tuple[str, Pass], ...] = (
    ("collect", collect.run),    # parse; find @orchestrator functions; run determinism rules
    ("split", split.run),        # body -> blocks: one per resumable step or branch target
    ("optimize", optimize.run),  # drop dead blocks, merge chains, number states in order
    ("hoist", hoist.run),        # locals live across an await become frame slots
    ("verify", verify.run),      # one entry, every block reachable and terminated
    ("graph", graph.run),        # the networkx step graph and its hash
    ("emit", emit.run),          # machines -> module text (templates/*.j2)
)

# Passes after which the block graph exists and `verify.check` applies.
_VERIFIABLE = {"optimize", "hoist"}


def compile_unit(
    source: str, path: str, *, until: str | None = None,
    on_pass: Callable[[str, Unit], None] | None = None,
) -> Unit:
    """Run the passes over one module's source (stopping after `until`, if given)."""
    unit = Unit(path=path, source=source)
    checking = os.environ.get("TETHER_VERIFY") == "1"
    for name, run in PASSES:
        unit = run(unit)
        if checking and name in _VERIFIABLE:
            for machine in unit.machines:
                verify.check(machine, name)
        if on_pass is not None:
            on_pass(name, unit)
        if name == until:
            break
    return unit
