"""The differential harness: one program, run three ways, must be observed the same.

1. plain: the `async def` run by `run_direct` (the reference);
2. compiled, direct: the compiled machine on the same fake context, its frame through the
   frame codec at every suspension (isolates the compiler from the journal runtime);
3. compiled, journaled: `runtime.engine.run_inline` on a fresh store of the backend under
   test (a pytest parameter: `stores` in tests/backends/support.py), with a simulated
   crash after the k-th journal write, resumed until it ends.

Observed: status, output, error (type name and message) and the activity call sequence.
"""

from __future__ import annotations

import itertools
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.direct import DirectResult, run_direct
from runtime.machine import MachineDef

_names = itertools.count()
#: a fresh store's name (a path or a URL) from a name unique within the test
StoreMaker = Callable[[str], "str | Path"]
MAX_RESUMES = 1000
#: the crash-after-every-write run of `check_case` may resume this many times per journal
#: write of the crash-free run (plus RESUME_SLACK): each resume keeps the one write it made,
#: so a run that progresses ends well within it (every passing example and regression
#: crashes fewer times than it has crash points), and one that does not (regression 029)
#: is caught after a few dozen resumes instead of MAX_RESUMES
RESUMES_PER_WRITE = 4
RESUME_SLACK = 20


@dataclass(frozen=True)
class Observed:
    status: str
    output: Any
    error: tuple[str, str] | None
    calls: list[tuple[str, Any]]
    custom_status: Any = None


INSTANCE_ID = "diff"  # every run uses it: programs may show ctx.instance_id


def observe(result: DirectResult) -> Observed:
    return Observed(result.status, result.output, result.error, list(result.activity_calls),
                    result.custom_status)


def plain_module(source: str, path: str = "prog.py") -> types.ModuleType:
    """`source` imported as written, not compiled."""
    module = types.ModuleType(f"_tether_diff_plain_{next(_names)}")
    module.__file__ = path
    sys.modules[module.__name__] = module  # dataclasses look their module up while created
    try:
        exec(compile(source, path, "exec"), module.__dict__)
    finally:
        sys.modules.pop(module.__name__, None)
    return module


def compiled_module(source: str, path: str = "prog.py") -> types.ModuleType:
    """`source` compiled and imported; raises `compiler.CompileError` if refused."""
    import compiler

    name = f"_tether_diff_compiled_{next(_names)}"
    # Importable while it runs (a checkpoint names the module's exception classes and
    # dataclasses); thousands of programs: keep only the latest in sys.modules.
    for old in [n for n in sys.modules if n.startswith("_tether_diff_compiled_")]:
        sys.modules.pop(old, None)
    return compiler.load_source(source, path, name)


def activities_of(module: types.ModuleType) -> dict[str, Callable[..., Any]]:
    """The module's @activity functions by registered name (overrides, so programs that
    reuse names do not see each other's registrations)."""
    return {
        value.__tether_activity__: value
        for value in vars(module).values()
        if callable(value) and hasattr(value, "__tether_activity__")
    }


def machine_of(module: types.ModuleType, orchestrator: str) -> MachineDef:
    mdef = getattr(getattr(module, orchestrator), "__tether_machine__", None)
    assert isinstance(mdef, MachineDef), f"{orchestrator} was not compiled to a machine"
    return mdef


def run_plain(
    module: types.ModuleType, orchestrator: str, input: Any,
    events: Sequence[tuple[str, Any]] = (),
) -> Observed:
    return observe(run_direct(getattr(module, orchestrator), input,
                              activities=activities_of(module), events=events,
                              instance_id=INSTANCE_ID))


def run_compiled_direct(
    module: types.ModuleType, orchestrator: str, input: Any,
    events: Sequence[tuple[str, Any]], activities: dict[str, Callable[..., Any]],
) -> Observed:
    return observe(run_direct(machine_of(module, orchestrator), input,
                              activities=activities, events=events, instance_id=INSTANCE_ID))


def run_journaled(
    mdef: MachineDef, input: Any, events: Sequence[tuple[str, Any]],
    activities: dict[str, Callable[..., Any]], store: str | Path, crash_after: int | None,
    *, every_time: bool = False, max_resumes: int | None = None,
) -> tuple[Observed, int]:
    """Run on the journal runtime, crashing after `crash_after` journal writes (None:
    never), once or (`every_time`) on every resume, and resuming until the run ends (at
    most `max_resumes` times, default MAX_RESUMES). Returns what was observed and the
    number of crashes that happened."""
    from runtime import engine as executor

    crashes = 0
    instance_id = INSTANCE_ID
    crash: int | None = crash_after
    limit = MAX_RESUMES if max_resumes is None else max_resumes
    for _ in range(limit):
        try:
            result = executor.run_inline(
                mdef, input, store=store, instance_id=instance_id, activities=activities,
                events=list(events), crash_after_writes=crash,
            )
        except executor.SimulatedCrash:
            crashes += 1
            crash = crash_after if every_time else None
            continue
        # the journal's account of every execution, across crashes and generations
        error = None if result.error is None else (result.error[0], result.error[1])
        observed = Observed(result.status, result.output, error, list(result.activity_calls),
                            result.custom_status)
        return observed, crashes
    raise AssertionError(f"no end after {limit} resumes")


def check_case(
    plain: types.ModuleType, compiled: types.ModuleType, orchestrator: str, input: Any,
    events: Sequence[tuple[str, Any]], stores: Path | StoreMaker, *,
    max_crash_points: int = 200,
) -> int:
    """All three runs of one case must agree; the journaled one is repeated with a crash
    after write 1, 2, ... until a run ends before its crash point, then once crashing
    after every single write, each on a fresh store from `stores` (a folder to make them
    in, or a maker of stores of the backend under test). The every-write run may resume
    RESUMES_PER_WRITE times per crash point tried. Returns the number of crash points
    tried."""
    new_store = stores if callable(stores) else (lambda name: stores / name)
    activities = activities_of(plain)
    expected = run_plain(plain, orchestrator, input, events)
    where = f"{orchestrator}({input!r}, events={list(events)!r})"
    got = run_compiled_direct(compiled, orchestrator, input, events, activities)
    assert got == expected, f"{where}: compiled machine on the direct context differs"
    mdef = machine_of(compiled, orchestrator)
    tried = 0
    for crash in [None, *range(1, max_crash_points + 1)]:
        got, crashes = run_journaled(mdef, input, events, activities,
                                     new_store(f"crash-{crash}"), crash)
        assert got == expected, f"{where}: journaled run differs (crash after write {crash})"
        tried += 1
        if crash is not None and crashes == 0:
            break  # past the last write: later crash points change nothing
    got, _ = run_journaled(mdef, input, events, activities, new_store("crash-every"),
                           1, every_time=True,
                           max_resumes=min(MAX_RESUMES, RESUMES_PER_WRITE * tried + RESUME_SLACK))
    assert got == expected, f"{where}: journaled run differs (crash after every write)"
    return tried
