"""Minimal programs that once made the compiled run differ from the plain one, each in
`regressions/NNN_name.py` (docstring: what went wrong; `DIFFERENTIAL_CASES` as in the
examples). A module still marked `XFAIL = "reason"` documents an open bug: its test is a
strict xfail, so it turns red once the bug is fixed and the marker must go."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tests.differential.harness import StoreMaker, check_case, compiled_module, plain_module

REGRESSIONS = Path(__file__).resolve().parent / "regressions"

needs_executor = pytest.mark.skipif(
    importlib.util.find_spec("runtime.executor") is None,
    reason="runtime.executor (the journal runtime) has not landed yet",
)


def regression_cases() -> list[Any]:
    params = []
    for path in sorted(REGRESSIONS.glob("[0-9][0-9][0-9]_*.py")):
        module = plain_module(path.read_text(encoding="utf-8"), path.name)
        reason = getattr(module, "XFAIL", None)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        for name, value, events in module.DIFFERENTIAL_CASES:
            params.append(pytest.param(path, name, value, list(events), marks=marks,
                                       id=f"{path.stem}:{name}({value!r})"))
    return params


def test_regressions_are_numbered_and_documented() -> None:
    paths = sorted(REGRESSIONS.glob("*.py"))
    assert paths
    for path in paths:
        assert path.name[:3].isdigit() and path.name[3] == "_", path.name
        module = plain_module(path.read_text(encoding="utf-8"), path.name)
        assert module.__doc__ and module.DIFFERENTIAL_CASES, path.name


@needs_executor
@pytest.mark.parametrize(("path", "orchestrator", "value", "events"), regression_cases())
def test_regression(
    path: Path, orchestrator: str, value: Any, events: list[tuple[str, Any]], stores: StoreMaker,
) -> None:
    source = path.read_text(encoding="utf-8")
    compiled = compiled_module(source, path.name)
    check_case(plain_module(source, path.name), compiled, orchestrator, value, events, stores)
