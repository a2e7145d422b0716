"""Redraw the pictures in this folder: `python docs/graphs/make.py [--png DIR]`.

One SVG per orchestrator of every example, and one of a finished `monitor` instance to
show the progress overlay. Needs Graphviz's `dot`. `--png DIR` also writes PNGs there, to
look at them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def main() -> int:
    sys.path.insert(0, str(ROOT))
    import compiler
    from runtime.executor import run_inline
    from tether.graphing import render
    from tether.graphing.progress import from_store

    parser = argparse.ArgumentParser()
    parser.add_argument("--png", type=Path, help="also write PNGs into this folder")
    args = parser.parse_args()
    drawn = []
    for path in sorted((ROOT / "examples").glob("*.py")):
        for machine in compiler.compile_file(path.relative_to(ROOT)).machines:
            assert machine.graph is not None
            drawn.append((machine.reg_name, machine.graph, None))
    source = (ROOT / "examples" / "monitor.py").read_text()
    module = compiler.load_source(source, "examples/monitor.py", "_docs_monitor")
    job = {"job_id": "job-7", "ready_after": 3, "interval_seconds": 5, "timeout_seconds": 60}
    with tempfile.TemporaryDirectory() as store:
        run_inline(module.monitor.__tether_machine__, job, store=store, instance_id="job-7")
        progress = from_store(Path(store), "job-7")
    monitor = next(graph for name, graph, _ in drawn if name == "monitor")
    drawn.append(("monitor-instance", monitor, progress))
    for name, graph, progress in drawn:
        svg = render(graph, "svg", progress)
        assert isinstance(svg, bytes)
        (HERE / f"{name}.svg").write_bytes(svg)
        if args.png:
            args.png.mkdir(parents=True, exist_ok=True)
            png = render(graph, "png", progress)
            assert isinstance(png, bytes)
            (args.png / f"{name}.png").write_bytes(png)
        print(f"docs/graphs/{name}.svg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
