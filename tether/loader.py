"""Load orchestrations for the CLI, the worker and the server: `SRC` or `SRC:ORCH`.

`SRC` is a path to a Python file or a dotted module name. The file is compiled and the
emitted module imported under the source module's name, which registers its activities
and machines. Orchestrators that only arrive through the module's own imports (plain
`@orchestrator` functions in other project modules) are compiled too, so a worker serves
everything that importing SRC registers. Errors are one line: a `UsageError` naming the
file or orchestrator, or the compiler's `path:line:col: error:`.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from runtime.api import REGISTRY, OrchestratorDef
from runtime.machine import MachineDef
from tether.errors import UsageError


@dataclass(frozen=True)
class Loaded:
    path: Path
    module: types.ModuleType
    names: frozenset[str]  # the orchestrators this load registered

    def orchestrators(self) -> dict[str, MachineDef]:
        """Every compiled orchestrator this load registered, by name."""
        return {name: d.machine for name, d in REGISTRY.orchestrators.items()
                if name in self.names and isinstance(d.machine, MachineDef)}

    def machine(self, name: str) -> MachineDef:
        found = self.orchestrators()
        if name not in found:
            listed = ", ".join(sorted(found)) or "none"
            raise UsageError(f"{self.path}: no orchestrator named {name!r}; found: {listed}")
        return found[name]


def split_spec(spec: str) -> tuple[str, str | None]:
    """`path.py:orch` -> ("path.py", "orch"); a Windows drive letter is not a separator."""
    src, sep, orch = spec.rpartition(":")
    if not sep or not src or "/" in orch or "\\" in orch:
        return spec, None
    return src, orch or None


def resolve_path(src: str) -> Path:
    path = Path(src)
    if src.endswith(".py") or path.exists():
        if not path.is_file():
            raise UsageError(f"{src}: no such file")
        return path
    try:
        spec = importlib.util.find_spec(src)
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise UsageError(f"{src}: no such file or module")
    return Path(spec.origin)


def load(src: str) -> Loaded:
    """Compile and import `src` (a file or dotted module); see the module docstring."""
    import compiler

    path = resolve_path(src)
    folder = str(path.parent.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    _guard_packages(path)
    compiled = compiler.compile_file(path)
    name = _module_name(path)
    before = _machines()
    module = compiler.exec_module(compiled, name)
    _compile_imported(module)
    after = _machines()
    return Loaded(path, module, frozenset(n for n, m in after.items() if before.get(n) is not m))


def _guard_packages(path: Path) -> None:
    """SRC's folder is now first on sys.path: a `compiler.py` there must not replace
    tether's compiler, nor SRC itself be imported under one of tether's names."""
    from tether.package_guard import PACKAGES, clash_in, shadowing

    if path.stem in PACKAGES:
        raise UsageError(f"{path}: a module named {path.stem!r} would replace tether's "
                         f"`{path.stem}` package; rename the file")
    message = clash_in(path.parent.resolve()) or shadowing()
    if message is not None:
        raise UsageError(message)


def _machines() -> dict[str, object]:
    return {name: d.machine for name, d in REGISTRY.orchestrators.items()
            if d.machine is not None}


def _module_name(path: Path) -> str:
    stem = path.stem
    return stem if stem.isidentifier() else f"tether_src_{abs(hash(str(path)))}"


def _compile_imported(loaded: types.ModuleType) -> None:
    """Compile orchestrators registered as plain functions by modules SRC imported."""
    import compiler

    done: set[str] = set()
    for entry in list(REGISTRY.orchestrators.values()):
        if entry.machine is not None or entry.fn is None or entry.module in done:
            continue
        done.add(entry.module)
        source_file = _source_file(entry)
        if source_file is None:
            continue
        compiled = compiler.compile_file(source_file)
        compiler.exec_module(compiled, entry.module)


def _source_file(entry: OrchestratorDef) -> str | None:
    try:
        return inspect.getsourcefile(entry.fn) if entry.fn is not None else None
    except TypeError:
        return None
