"""`tether compile SRC... [-o DIR] [--dump-ir PASS] [--where LINE]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tether.errors import ExitCode, UsageError

DUMPABLE = ("split", "optimize", "hoist", "graph", "emit", "all")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("compile", help="emit compiled modules",
                       description="Compile orchestrators into resumable state machines.")
    p.add_argument("src", nargs="+", metavar="SRC", help="Python files to compile")
    p.add_argument("-o", "--output", default="build/tether", metavar="DIR",
                   help="where emitted modules go (default: build/tether)")
    p.add_argument("--dump-ir", choices=DUMPABLE, metavar="PASS",
                   help=f"print the IR after a pass ({', '.join(DUMPABLE)}) instead of writing")
    p.add_argument("--where", type=int, metavar="LINE",
                   help="name the step(s) a source line landed in")
    p.set_defaults(func=cmd_compile)


def cmd_compile(args: argparse.Namespace) -> int:
    from compiler.errors import CompileError, DeterminismErrors
    from compiler.pipeline import compile_unit

    status = ExitCode.OK
    for src in args.src:
        path = Path(src)
        if path.is_dir():
            raise UsageError(f"{src}: is a folder; name the Python files to compile")
        if not path.is_file():
            raise UsageError(f"{src}: no such file")
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{src}: cannot read: {exc}") from None
        try:
            if args.dump_ir or args.where is not None:
                _inspect(source, src, args)
                continue
            unit = compile_unit(source, src)
        except DeterminismErrors as exc:
            print(str(exc), file=sys.stderr)
            status = max(status, ExitCode.FINDINGS)
            continue
        except CompileError as exc:
            print(str(exc), file=sys.stderr)
            status = ExitCode.ERROR
            continue
        out = Path(args.output) / _relative(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(unit.text, encoding="utf-8")
        names = ", ".join(m.reg_name for m in unit.machines) or "no orchestrators"
        print(f"{out} ({names})", file=sys.stderr)
    return status


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return Path(path.name)


def _inspect(source: str, src: str, args: argparse.Namespace) -> None:
    from compiler.ir import Unit
    from compiler.passes.verify import dump
    from compiler.pipeline import compile_unit

    wanted = args.dump_ir

    def show(name: str, unit: Unit) -> None:
        if wanted is None or (wanted != name and wanted != "all"):
            return
        if name in ("split", "optimize", "hoist"):
            print(f"# after {name}")
            for machine in unit.machines:
                print(dump(machine), end="")
        elif name == "graph":
            print("# after graph")
            for machine in unit.machines:
                print(f"graph {machine.reg_name} {machine.graph_hash}")
                graph = machine.graph
                assert graph is not None
                for node, data in graph.nodes(data=True):
                    print(f"  node {node}  {data['kind']}  {data['label']}  line {data['line']}")
                for u, v, data in graph.edges(data=True):
                    print(f"  edge {u} -> {v}  {data['kind']}")
        elif name == "emit":
            print(unit.text, end="")

    unit = compile_unit(source, src, on_pass=show)
    if args.where is not None:
        _where(unit, src, args.where)


def _where(unit: object, src: str, line: int) -> None:
    from compiler.ir import Unit
    from compiler.passes.verify import _describe

    assert isinstance(unit, Unit)
    found = False
    for machine in unit.machines:
        for bid, block in sorted(machine.blocks.items()):
            lines = {op.line for op in block.ops}
            term_line = getattr(block.term, "line", None)
            if line not in lines and term_line != line and block.line != line:
                continue
            found = True
            print(f"step s{bid}  {src}:{block.line or line}  {block.label}  ({machine.reg_name})")
            slots = [n for b in machine.blocks.values()
                     if getattr(b.term, "resume", None) == bid for n in getattr(b.term, "live", ())]
            if slots:
                print(f"  slots: {', '.join(slots)}")
            for op in block.ops:
                for text in op.text.replace("\x00", "").split("\n"):
                    print(f"  {text}")
            print(f"  {_describe(block.term)}")
    if not found:
        raise UsageError(f"{src}:{line}: no orchestrator step comes from this line")
