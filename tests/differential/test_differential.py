"""Generated programs: the compiled run must be observed exactly as the plain run.

The plain half (generated programs terminate, deterministically, with JSON results, and
the grammar reaches every construct) always runs. The compiled halves need the compiler
and, for the journaled run with crashes, `runtime.executor`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import re
import types
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from runtime.values import check_json
from tests.differential.harness import (
    Observed,
    StoreMaker,
    activities_of,
    compiled_module,
    machine_of,
    plain_module,
    run_compiled_direct,
    run_journaled,
    run_plain,
)
from tests.differential.programs import Program, programs

# CI: the same 100 programs every run, so a red build is reproducible; soak: fresh ones.
# (`stores` is function-scoped but makes a fresh store on every call: safe to share)
CI = settings(max_examples=100, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
SOAK = settings(CI, max_examples=3000, derandomize=False, database=None)

needs_executor = pytest.mark.skipif(
    importlib.util.find_spec("runtime.executor") is None,
    reason="runtime.executor (the journal runtime) has not landed yet",
)


# Open bugs, each with a minimal program in regressions/: the CI profile passes over
# programs showing the pattern (the soak profile does not). Delete a line with its fix.
KNOWN_BUGS: dict[str, str] = {}


def skip_known_bugs(program: Program) -> None:
    assume(not any(pattern in program.source for pattern in KNOWN_BUGS))


def reference(program: Program) -> tuple[Observed, dict[str, Callable[..., Any]]]:
    plain = plain_module(program.source)
    expected = run_plain(plain, program.orchestrator, program.input, program.events)
    return expected, activities_of(plain)


def compile_or_fail(program: Program) -> types.ModuleType:
    from compiler import CompileError

    try:
        return compiled_module(program.source)
    except CompileError as exc:
        pytest.fail(f"the compiler refused a program of the supported grammar:\n{exc}")


def check_compiled_direct(program: Program) -> None:
    expected, activities = reference(program)
    module = compile_or_fail(program)
    got = run_compiled_direct(module, program.orchestrator, program.input, program.events,
                              activities)
    assert got == expected


def check_journaled(program: Program, crash_after: int | None, every_time: bool,
                    stores: StoreMaker) -> None:
    """Crash after write `crash_after` (None: never), once or on every resume, on a
    fresh store of the backend under test."""
    expected, activities = reference(program)
    mdef = machine_of(compile_or_fail(program), program.orchestrator)
    got, _ = run_journaled(mdef, program.input, program.events, activities,
                           stores(f"program-{uuid.uuid4().hex}"), crash_after,
                           every_time=every_time)
    assert got == expected, f"crash after write {crash_after}{' every time' if every_time else ''}"


# -- the plain half ----------------------------------------------------------------------


@CI
@given(programs())
def test_generated_programs_terminate_deterministically_with_json_results(program: Program) -> None:
    first, _ = reference(program)
    second, _ = reference(program)
    assert first == second
    assert first.status in ("Completed", "Failed", "Stuck")  # Stuck: it ran out of events
    check_json(first.output, "output")


CONSTRUCTS = {
    "nested loops": lambda s: "    for " in s and "        while " in s,
    "elif": lambda s: "elif " in s,
    "break": lambda s: "break" in s,
    "continue": lambda s: "continue" in s,
    "early return": lambda s: "            return [acc" in s,
    "except else finally": lambda s: "except" in s and "else:" in s and "finally:" in s,
    "return or break crossing an awaiting finally": lambda s: re.search(
        r"try:\n(?:.*\n)*?\s+(?:break|return \[acc)\n(?:.*\n)*?\s*finally:\n.*await", s
    ) is not None,
    "await in call args": lambda s: "mix(await" in s,
    "short circuit": lambda s: " and await" in s,
    "conditional expression": lambda s: " if " in s and " else await" in s,
    "await in list display": lambda s: "sum([await" in s,
    "await in f-string": lambda s: 'f"{await' in s,
    "await in subscript": lambda s: "[3, 1, 4][await" in s,
    "augmented assignment": lambda s: "box[0] += await" in s,
    "when_all": lambda s: "when_all" in s,
    "when_any": lambda s: "when_any" in s,
    "match": lambda s: "match " in s,
    "comprehension": lambda s: "for x in range(v" in s,
    "await in comprehension": lambda s: re.search(
        r"(\[|\{)(str\(\w+\): )?await .* for (x|v0|v1) in range", s) is not None,
    "aliasing": lambda s: ".append(v1)" in s,
    "timer": lambda s: "ctx.sleep" in s,
    "failing activity": lambda s: "rejects" in s,
    "await in while condition": lambda s: any(
        line.lstrip().startswith("while ") and "await" in line for line in s.splitlines()),
    "walrus": lambda s: ":= await" in s,
    "bare raise in handler": lambda s: "raise\n" in s,
    "event raced against a timer": lambda s: "when_any([ev" in s,
    "maybe unbound local": lambda s: "acc.append(u)" in s,
    "nested helper": lambda s: "def helper" in s,
    "sub-orchestration": lambda s: "call_sub_orchestrator(child" in s,
    "retry policy": lambda s: "retry=RetryPolicy" in s,
    "custom status": lambda s: "set_custom_status" in s,
    "new_uuid": lambda s: "new_uuid()" in s,
    "await in a case guard": lambda s: re.search(r"case 1 if .*await", s) is not None,
    "continue_as_new": lambda s: "continue_as_new(n + 1)" in s,
    "child that sleeps": lambda s: "    await ctx.sleep(timedelta(minutes=x %" in s,
    "child that awaits a child": lambda s: "call_sub_orchestrator(leaf" in s,
    "child that continues as new": lambda s: "continue_as_new(x + 1)" in s,
    "clock read after a child": lambda s: re.search(
        r"await ctx.call_sub_orchestrator\(child, .*\), ctx.current_utc_datetime", s) is not None,
    "retried child": lambda s: re.search(r"call_sub_orchestrator\(child, .*retry=", s) is not None,
    "child raced against a timer": lambda s: re.search(
        r"when_any\(\[kid\d+, ctx.sleep", s) is not None,
    "when_any over children against creation order": lambda s: re.search(
        r"when_any\(kids\d+\[::-1\]\)", s) is not None,
    "when_all over children": lambda s: "await ctx.when_all(kids" in s,
    # issue 16 and issue 13's corners
    "exception raised in a handler that awaits": lambda s: re.search(
        r"except \(TaskFailedError, AppError\) as e\d+:\n\s+acc.append\(await", s) is not None,
    "raise from across an await": lambda s: re.search(r"raise KeyError\(str\(e\d+\)\) from e", s)
    is not None,
    "user exception kept across an await": lambda s: "add_note" in s and ".code, str(err" in s,
    "user exception in flight through an awaiting finally": lambda s: "caught is err" in s,
    "await in an augmented assignment target": lambda s: re.search(
        r"tally\d+\[str\(.*await.*\] \+=", s) is not None,
    "await in an assignment target": lambda s: re.search(
        r"tally\d+\[str\(.*await.*\] = ", s) is not None,
    "await in a del target": lambda s: re.search(r"del tally\d+\[str\(.*await", s) is not None,
    "walrus in an awaited augmented value": lambda s: "+ (i := 0)" in s,
    "shadowed builtin": lambda s: re.search(r"^\s+(isinstance|Exception|_rt) = ", s, re.M)
    is not None,
    "nested def with defaults": lambda s: "def dflt" in s,
    "dict view across awaits": lambda s: re.search(r"in (enumerate\()?d\d+\.(items|values)\(\)", s)
    is not None,
    "enumerate across awaits": lambda s: "in enumerate(d" in s,
    "zip and reversed across awaits": lambda s: "zip(d" in s,
    "await in a chained comparison": lambda s: re.search(r"< .*await.* != 7\)", s) is not None,
    "await in an assert message": lambda s: re.search(r"assert .*, .*await", s) is not None,
    "await of a conditional expression of tasks": lambda s: re.search(
        r"await \(t\d+ if .* else u\d+\)", s) is not None,
    "when_all shares its children's results": lambda s: re.search(
        r"gl\d+\[0\](\[0\])? is await ta\d+", s) is not None,
    "nested when_all over awaited tasks": lambda s: "when_all([ctx.when_all([ta" in s,
    "failed when_all raises its child's exception": lambda s: "again is ge" in s,
    "traceback shown after an await": lambda s: re.search(r"acc.append\(shown\(tbk\d+\)\)", s)
    is not None,
    "kept traceback raised again": lambda s: re.search(r"raise tbk\d+\n", s) is not None,
    "multi-line return": lambda s: "return [acc, v0,\n" in s,
    "multi-line string": lambda s: 'acc.append("""one\ntwo"""' in s,
    "backslash continuation": lambda s: "+ \\\n" in s,
    "f-string debug with an await": lambda s: re.search(r'f"\{.*await.*=\}"', s) is not None,
    "await in an f-string format spec": lambda s: re.search(r':>\{.*await.* % 9\}\}"', s)
    is not None,
}


@functools.cache
def reached() -> dict[str, str]:
    """The first generated program showing each construct, from one pass of at most 5000
    programs shared by every construct (a pass per construct generated the same
    programs up to 68 times over)."""
    seen: dict[str, str] = {}

    def every_construct_seen(program: Program) -> bool:
        for name, shows in CONSTRUCTS.items():
            if name not in seen and shows(program.source):
                seen[name] = program.source
        return len(seen) == len(CONSTRUCTS)

    # generate only: a shrunk witness is not needed, and shrinking is the slow part
    with contextlib.suppress(NoSuchExample):
        find(programs(), every_construct_seen,
             settings=settings(max_examples=5000, database=None, deadline=None,
                               phases=[Phase.generate], derandomize=True))
    return seen


@pytest.mark.parametrize("construct", sorted(CONSTRUCTS))
def test_the_grammar_reaches(construct: str) -> None:
    found = reached().get(construct)
    assert found is not None, f"no program of 5000 shows {construct!r}"
    assert CONSTRUCTS[construct](found)


# -- the compiled halves -----------------------------------------------------------------


@CI
@given(programs())
def test_compiled_machine_matches_plain_run(program: Program) -> None:
    skip_known_bugs(program)
    check_compiled_direct(program)


@needs_executor
@CI
@given(programs(), st.one_of(st.none(), st.integers(1, 40)), st.booleans())
def test_journaled_run_with_crashes_matches_plain_run(
    stores: StoreMaker, program: Program, crash: int | None, every_time: bool,
) -> None:
    skip_known_bugs(program)
    check_journaled(program, crash, every_time, stores)


@pytest.mark.soak
@SOAK
@given(programs(max_statements=24))
def test_soak_compiled_machine_matches_plain_run(program: Program) -> None:
    check_compiled_direct(program)


@pytest.mark.soak
@needs_executor
@SOAK
@given(programs(max_statements=24), st.one_of(st.none(), st.integers(1, 80)), st.booleans())
def test_soak_journaled_run_with_crashes_matches_plain_run(
    stores: StoreMaker, program: Program, crash: int | None, every_time: bool,
) -> None:
    check_journaled(program, crash, every_time, stores)
