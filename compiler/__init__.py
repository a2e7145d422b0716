"""tether's compiler: orchestrator source -> checked, lowered state machine -> emitted module.

    compile_source(source, path) -> CompiledModule   # text of the emitted module, machines
    load_source(source, path, module_name) -> module  # compile and import
    compile_file(path) / load_file(path)
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path

from compiler.errors import CompileError, InternalCompilerError
from compiler.ir import MachineIR
from compiler.pipeline import compile_unit
from compiler.source_map import compile_mapped

__all__ = [
    "CompileError",
    "CompiledModule",
    "InternalCompilerError",
    "compile_file",
    "compile_source",
    "load_source",
]


@dataclass(frozen=True)
class CompiledModule:
    path: str
    text: str
    machines: tuple[MachineIR, ...]
    source: str = ""  # what `text` was compiled from (maps its lines back)

    def machine(self, name: str) -> MachineIR:
        for m in self.machines:
            if m.reg_name == name or m.name == name:
                return m
        raise KeyError(name)


def compile_source(source: str, path: str) -> CompiledModule:
    """Compile one module's source; raises CompileError for problems in it."""
    unit = compile_unit(source, path)
    return CompiledModule(path, unit.text, tuple(unit.machines), source)


def compile_file(path: str | Path) -> CompiledModule:
    p = Path(path)
    try:
        source = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CompileError(str(path), 1, 1, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CompileError(str(path), 1, 1, f"cannot read: {exc}") from None
    return compile_source(source, str(path))


def load_source(source: str, path: str, module_name: str) -> types.ModuleType:
    """Compile `source` and import the emitted module as `module_name` (registering its
    activities and machines)."""
    compiled = compile_source(source, path)
    return exec_module(compiled, module_name)


def exec_module(compiled: CompiledModule, module_name: str) -> types.ModuleType:
    module = types.ModuleType(module_name)
    module.__file__ = compiled.path
    sys.modules[module_name] = module
    try:
        if compiled.source:  # line numbers of the source, its annotations carried over
            code = compile_mapped(compiled.source, compiled.text, compiled.path)
        else:
            code = compile(compiled.text, compiled.path, "exec")
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module
