"""Golden IR: each `cases/*.test` holds a source, a `----` line, and the IR after `hoist`
(the format of `tether compile --dump-ir hoist`). `pytest --update-golden` rewrites the
expected half; review the diff like code."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.passes.verify import dump
from compiler.pipeline import compile_unit

CASES = sorted((Path(__file__).parent / "cases").glob("*.test"))
SEPARATOR = "----\n"


def render(source: str, name: str) -> str:
    unit = compile_unit(source, f"{name}.py", until="hoist")
    return "".join(dump(m) for m in unit.machines)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_ir(path: Path, request: pytest.FixtureRequest) -> None:
    source, _, expected = path.read_text().partition(SEPARATOR)
    got = render(source, path.stem)
    if request.config.getoption("--update-golden"):
        path.write_text(source + SEPARATOR + got)
        return
    assert got == expected, f"IR of {path.name} changed; rerun with --update-golden to accept"


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 20
