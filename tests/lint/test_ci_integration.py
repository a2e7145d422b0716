"""The pre-commit hook definition points at a command that exists."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_pre_commit_hook_runs_tether_lint_on_python_files() -> None:
    yaml = pytest.importorskip("yaml")
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "tether-lint"
    assert hook["entry"] == "tether lint"
    assert hook["language"] == "python" and hook["types"] == ["python"]
    assert hook["require_serial"] is True
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["tether"] == "tether.cli:console_main"
