"""Durable Functions' names where tether differs are compile errors with "did you mean",
never a determinism rule code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.cli import main

HEADER = "from datetime import timedelta\nfrom tether import orchestrator, activity\n\n\n" \
         "@activity\ndef f(x):\n    return x\n\n\n@orchestrator\nasync def orch(context, x):\n"


@pytest.mark.parametrize(("body", "expected"), [
    ("    return await context.task_all([context.call_activity(f, 1)])\n",
     "`context.task_all` is Durable Functions' name; did you mean `context.when_all`?"),
    ("    return await context.task_any([context.call_activity(f, 1)])\n",
     "did you mean `context.when_any`?"),
    ("    return await context.call_activity_with_retry(f, None, 1)\n",
     "did you mean `context.call_activity`?"),
    ("    tasks = [context.call_sub_orchestrator_with_retry('x', None, i) for i in range(3)]\n"
     "    return await context.when_all(tasks)\n",
     "did you mean `context.call_sub_orchestrator`?"),
])
def test_durable_functions_names_get_a_hint(
    body: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ported.py").write_text(HEADER + body)
    assert main(["compile", "ported.py", "-o", "out"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ported.py:{HEADER.count(chr(10)) + 1}:"), err
    assert expected in err
    assert "hint:" in err
    assert "DET0" not in err


def test_the_same_names_outside_orchestrators_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "other.py").write_text(
        "class C:\n    def task_all(self):\n        return 1\n\n\nx = C().task_all()\n")
    assert main(["compile", str(tmp_path / "other.py"), "-o", str(tmp_path / "out")]) == 0
