"""The pre-commit hook definition points at a command that exists."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from tether.cli import main

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


def _yaml_blocks() -> list[object]:
    yaml = pytest.importorskip("yaml")
    text = (REPO / "docs" / "lint.md").read_text()
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def test_docs_workflow_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The GitHub Actions workflow of docs/lint.md, copied as it is: its tether steps
    behave as the text says on a project with one finding."""
    workflow = next(b for b in _yaml_blocks() if isinstance(b, dict) and "jobs" in b)
    assert workflow["permissions"]["security-events"] == "write"
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    commands = [s["run"] for s in steps if str(s.get("run", "")).startswith("tether ")]
    assert len(commands) == 2
    upload = steps[-1]
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    (tmp_path / "flows.py").write_text(
        "import time\nfrom tether import orchestrator\n@orchestrator\n"
        "async def o(ctx):\n    return time.time()\n")
    annotate, scan = (shlex.split(c)[1:] for c in commands)
    assert main(annotate) == 1  # findings fail the job
    assert capsys.readouterr().out.startswith("::error file=flows.py,line=5,col=12,")
    assert main(scan) == 0  # ...while the SARIF step stays green so the upload runs
    log = json.loads((tmp_path / upload["with"]["sarif_file"]).read_text())
    assert log["runs"][0]["results"][0]["ruleId"] == "DET001"


def test_docs_pre_commit_config_is_a_valid_local_hook() -> None:
    config = next(b for b in _yaml_blocks() if isinstance(b, dict) and "repos" in b)
    (repo,) = config["repos"]
    assert repo["repo"] == "local"
    (hook,) = repo["hooks"]
    assert hook["entry"] == "tether lint" and hook["language"] == "system"
    assert hook["types"] == ["python"] and hook["require_serial"] is True
