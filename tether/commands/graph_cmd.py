"""`tether graph SRC[:ORCH] [--format F] [-o FILE] [--instance ID [--store DIR]]`.

Draws an orchestrator's step graph from its compiled form, without importing the module
(so drawing runs none of the user's code); with `--instance`, coloured by that instance's
journal.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tether.errors import ExitCode, UsageError
from tether.graph_formats import BINARY_FORMATS, DIRECTIONS, FORMATS

if TYPE_CHECKING:
    from compiler.ir import MachineIR
    from tether.graphing.progress import Progress

SUFFIXES = {".mmd": "mermaid", ".mermaid": "mermaid", ".dot": "dot", ".gv": "dot",
            ".svg": "svg", ".png": "png", ".json": "json", ".html": "html", ".htm": "html"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("graph", help="draw an orchestrator's step graph",
                       description="Draw the step graph of an orchestrator, optionally "
                                   "coloured by one instance's progress.")
    p.add_argument("spec", metavar="SRC[:ORCH]",
                   help="a Python file (or dotted module) and the orchestrator to draw")
    p.add_argument("--format", "-f", choices=FORMATS, metavar="FORMAT",
                   help=f"{', '.join(FORMATS)} (default: from -o's suffix, else mermaid)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--instance", metavar="ID", help="colour the graph by this instance's progress")
    p.add_argument("--store", metavar="DIR",
                   help="the instance's store (default: $TETHER_STORE or .tether)")
    p.add_argument("--direction", choices=DIRECTIONS, default="TB",
                   help="top to bottom (TB, default) or left to right (LR)")
    p.set_defaults(func=cmd_graph)


def cmd_graph(args: argparse.Namespace) -> int:
    from tether.graphing import render

    fmt = args.format or _format_of(args.output)
    progress = _progress(args) if args.instance else None
    machine = _machine(args.spec, progress.name if progress is not None else None)
    assert machine.graph is not None
    if progress is not None:
        _check_instance(args, progress, machine)
    drawn = render(machine.graph, fmt, progress, args.direction)
    if args.output:
        target = Path(args.output)
        try:
            if isinstance(drawn, bytes):
                target.write_bytes(drawn)
            else:
                target.write_text(drawn, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
        print(f"{target} ({machine.reg_name}, {fmt})", file=sys.stderr)
    elif isinstance(drawn, bytes):
        if fmt in BINARY_FORMATS and fmt == "png" and sys.stdout.isatty():
            raise UsageError("png is binary: write it to a file with -o FILE.png")
        sys.stdout.buffer.write(drawn)
    else:
        sys.stdout.write(drawn)
    return ExitCode.OK


def _format_of(output: str | None) -> str:
    if output is None:
        return "mermaid"
    suffix = Path(output).suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(f"{output}: cannot tell the format from {suffix or 'no suffix'}; "
                         f"give --format ({', '.join(FORMATS)})")
    return SUFFIXES[suffix]


def _machine(spec: str, instance_of: str | None) -> MachineIR:
    """The orchestrator `spec` names; without a name, the file's only one, or the one the
    instance being drawn runs."""
    import compiler
    from tether.loader import resolve_path, split_spec

    src, name = split_spec(spec)
    name = name or instance_of
    path = resolve_path(src)
    compiled = compiler.compile_file(path)
    names = [m.reg_name for m in compiled.machines]
    if not names:
        raise UsageError(f"{src}: no @orchestrator functions in this file")
    if name is None:
        if len(names) > 1:
            raise UsageError(f"{src}: {len(names)} orchestrators ({', '.join(names)}); "
                             f"name one as {src}:NAME")
        name = names[0]
    try:
        return compiled.machine(name)
    except KeyError:
        raise UsageError(f"{src}: no orchestrator named {name!r}; found: {', '.join(names)}") from None


def _progress(args: argparse.Namespace) -> Progress:
    from runtime.backends import default_spec, open_backend
    from runtime.backends.base import BackendError
    from runtime.ids import InvalidInstanceId
    from tether.graphing.progress import from_store

    try:
        store = open_backend(args.store or default_spec())
        known = store.exists(args.instance)
    except (InvalidInstanceId, BackendError) as exc:
        raise UsageError(str(exc)) from None
    if not known:
        raise UsageError(f"instance {args.instance}: not found in store {store.spec}")
    return from_store(store, args.instance)


def _check_instance(args: argparse.Namespace, progress: Progress, machine: MachineIR) -> None:
    if progress.name != machine.reg_name:
        raise UsageError(f"instance {args.instance} runs orchestrator {progress.name!r}, "
                         f"not {machine.reg_name!r}")
    if progress.graph_hash != machine.graph_hash:
        raise UsageError(f"instance {args.instance} was started with graph {progress.graph_hash}; "
                         f"{args.spec} now compiles to {machine.graph_hash}, whose steps may "
                         "differ: draw it from the source it was started with")
