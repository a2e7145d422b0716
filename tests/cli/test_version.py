"""`tether --version` and the package metadata (one version, an SPDX licence, a licence
file, classifiers)."""

from __future__ import annotations

import platform
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import tether
from tether.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out == f"tether {tether.__version__} (Python {platform.python_version()})\n"


def test_installed_metadata_matches_the_package() -> None:
    meta = metadata.metadata("tether")
    assert meta["Version"] == tether.__version__
    assert meta["License-Expression"] == "MIT"
    classifiers = meta.get_all("Classifier") or []
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert "Typing :: Typed" in classifiers
    # an SPDX expression replaces the licence classifiers (setuptools refuses both)
    assert not any(c.startswith("License ::") for c in classifiers)


def test_pyproject_uses_current_metadata_forms() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # a TOML table for the licence is deprecated by setuptools (a warning on every build)
    assert isinstance(project["license"], str)
    assert project["license-files"] == ["LICENSE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert project["dynamic"] == ["version"]  # one version: tether.__version__
