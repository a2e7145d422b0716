"""Every example runs through the differential harness: plain, compiled on the direct
context, and journaled with a crash after each journal write in turn (then after every
write). Inputs come from each module's optional `DIFFERENTIAL_CASES = [(orchestrator,
input, events)]`; an orchestrator without cases runs once with input None."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tests.differential.harness import StoreMaker, check_case, compiled_module, plain_module

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

needs_executor = pytest.mark.skipif(
    importlib.util.find_spec("runtime.executor") is None,
    reason="runtime.executor (the journal runtime) has not landed yet",
)


def cases_of(path: Path) -> list[tuple[str, Any, list[tuple[str, Any]]]]:
    module = plain_module(path.read_text(encoding="utf-8"), path.name)
    cases = getattr(module, "DIFFERENTIAL_CASES", None)
    if cases is not None:
        return [(name, value, list(events)) for name, value, events in cases]
    return [(name, None, []) for name, value in vars(module).items()
            if getattr(value, "__tether_orchestrator__", None) is not None
            and getattr(value, "__module__", None) == module.__name__]


# Open bugs with a minimal program in regressions/: strict, so a fix turns them red.
# (Regression 029, which the entity examples met, is fixed: none is open.)
KNOWN_BUGS: dict[str, str] = {}


def example_cases() -> list[Any]:
    params = []
    for path in sorted(EXAMPLES.glob("*.py")):
        for index, (name, value, events) in enumerate(cases_of(path)):
            case_id = f"{path.stem}:{name}:{index}"
            bug = KNOWN_BUGS.get(case_id)
            marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            params.append(pytest.param(path, name, value, events, marks=marks, id=case_id))
    return params


def test_every_example_has_cases() -> None:
    paths = sorted(EXAMPLES.glob("*.py"))
    assert paths, "no examples found"
    for path in paths:
        assert cases_of(path), f"{path.name} defines no orchestrator"


@needs_executor
@pytest.mark.parametrize(("path", "orchestrator", "value", "events"), example_cases())
def test_example_runs_the_same_plain_compiled_and_crashed(
    path: Path, orchestrator: str, value: Any, events: list[tuple[str, Any]], stores: StoreMaker,
) -> None:
    source = path.read_text(encoding="utf-8")
    plain = plain_module(source, path.name)
    compiled = compiled_module(source, path.name)
    tried = check_case(plain, compiled, orchestrator, value, events, stores)
    assert tried >= 2  # the uncrashed run and at least one crash
