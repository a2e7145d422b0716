"""mypy --strict over tests/typing/api_types.py: the inferred types of the authoring API
are pinned, and the lines meant to be errors are errors (an unused ignore fails)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def test_the_authoring_api_types_as_pinned(tmp_path: Path) -> None:
    mypy_api = pytest.importorskip("mypy.api")
    stdout, stderr, status = mypy_api.run([
        "--strict", "--warn-unused-ignores", "--no-incremental",
        "--cache-dir", str(tmp_path / "cache"), str(HERE / "api_types.py")])
    assert status == 0, stdout + stderr


def test_every_example_passes_mypy_strict(tmp_path: Path) -> None:
    mypy_api = pytest.importorskip("mypy.api")
    examples = sorted(str(p) for p in (HERE.parents[1] / "examples").glob("*.py"))
    stdout, stderr, status = mypy_api.run([
        "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), *examples])
    assert status == 0, stdout + stderr
