"""Compile a source and hold the machine to the plain `async def`, both run by
`runtime.direct` (activities eager, virtual clock, frame copied at every suspension), so
the lowering is tested without the journal runtime."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from typing import Any

from runtime.direct import DirectResult, run_direct
from runtime.machine import MachineDef

_counter = 0


def compile_module(source: str, path: str = "prog.py") -> types.ModuleType:
    import compiler

    global _counter
    _counter += 1
    return compiler.load_source(source, path, f"_tether_test_{_counter}")


def machine_of(module: types.ModuleType, name: str) -> MachineDef:
    mdef = getattr(getattr(module, name), "__tether_machine__", None)
    assert isinstance(mdef, MachineDef), f"{name} is not compiled"
    return mdef


def plain_module(source: str) -> types.ModuleType:
    global _counter
    _counter += 1
    module = types.ModuleType(f"_tether_plain_{_counter}")
    exec(compile(source, "prog.py", "exec"), module.__dict__)
    return module


def _summary(result: DirectResult) -> tuple[Any, ...]:
    return (result.status, result.output, result.error, result.activity_calls)


def assert_same(source: str, orch: str, inputs: Iterable[Any],
                activities: dict[str, Callable[..., Any]] | None = None) -> None:
    """Run `orch` from `source` plainly and compiled for every input; results must match."""
    plain = plain_module(source)
    mdef = machine_of(compile_module(source), orch)
    for value in inputs:
        expected = run_direct(getattr(plain, orch), value, activities=activities)
        got = run_direct(mdef, value, activities=activities)
        assert _summary(got) == _summary(expected), (
            f"input {value!r}:\n plain    {expected}\n compiled {got}")
