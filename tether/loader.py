"""Load orchestrations for the CLI, the worker and the server: `SRC` or `SRC:ORCH`.

`SRC` is a path to a Python file or a dotted module name. The file is compiled and the
emitted module imported under the source module's name, which registers its activities
and machines. Orchestrators that only arrive through the module's own imports (plain
`@orchestrator` functions in other project modules) are compiled too, so a worker serves
everything that importing SRC registers. Errors are one line: a `UsageError` naming the
file or orchestrator, or the compiler's `path:line:col: error:`. An exception while the
user's module-level code runs is one line naming their file and line
(`tether.import_errors`), never an internal error.

Compiled code comes from `tether.module_cache` when the source is unchanged: then
neither libcst nor the compiler is imported. Its line numbers are the source's
(`compiler.source_map`), so tracebacks through activities and orchestrators point at the
user's lines.
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
from tether import module_cache
from tether.errors import UsageError
from tether.import_errors import describe


@dataclass(frozen=True)
class Loaded:
    path: Path
    module: types.ModuleType
    names: frozenset[str]  # the orchestrators this load registered

    def orchestrators(self) -> dict[str, MachineDef]:
        """Every compiled orchestrator this load registered, by name."""
        return {name: d.machine for name, d in REGISTRY.orchestrators.items()
                if name in self.names and isinstance(d.machine, MachineDef)}

    def only_orchestrator(self) -> str:
        """The name of the one orchestrator SRC itself defines (`tether run FILE`)."""
        own = sorted(name for name, mdef in self.orchestrators().items()
                     if getattr(mdef.fn, "__module__", None) == self.module.__name__)
        if len(own) != 1:
            listed = ", ".join(own) or "none"
            raise UsageError(f"{self.path}: defines {len(own)} orchestrators ({listed}); "
                             f"name one as {self.path}:ORCH")
        return own[0]

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
    """Compile (or take from the cache) and import `src`; see the module docstring."""
    path = resolve_path(src)
    folder = str(path.parent.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    _guard_packages(path)
    name = _module_name(path)
    before = _machines()
    try:
        module = _exec_module(_code_for(path), name, path)
        _compile_imported(module)
    except (UsageError, _compile_error_type()):
        raise
    except Exception as exc:
        raise UsageError(describe(exc, src)) from exc
    after = _machines()
    return Loaded(path, module, frozenset(n for n, m in after.items() if before.get(n) is not m))


def _code_for(path: Path) -> types.CodeType:
    """The emitted module's code for `path`: from the cache, else compiled (and cached)."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    key = module_cache.key_for(source)
    code = module_cache.read(path, key)
    if code is not None:
        return code
    import compiler
    from compiler.source_map import compile_mapped

    compiled = compiler.compile_source(source, str(path))
    code = compile_mapped(source, compiled.text, compiled.path)
    module_cache.write(path, key, code)
    return code


def _exec_module(code: types.CodeType, module_name: str, path: Path) -> types.ModuleType:
    module = types.ModuleType(module_name)
    module.__file__ = str(path)
    sys.modules[module_name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _compile_error_type() -> type[Exception]:
    if "compiler.errors" not in sys.modules:  # nothing was compiled: none can have been raised
        return UsageError
    from compiler.errors import CompileError

    return CompileError

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
    done: set[str] = set()
    for entry in list(REGISTRY.orchestrators.values()):
        if entry.machine is not None or entry.fn is None or entry.module in done:
            continue
        done.add(entry.module)
        source_file = _source_file(entry)
        if source_file is None:
            continue
        _exec_module(_code_for(Path(source_file)), entry.module, Path(source_file))


def _source_file(entry: OrchestratorDef) -> str | None:
    try:
        return inspect.getsourcefile(entry.fn) if entry.fn is not None else None
    except TypeError:
        return None
