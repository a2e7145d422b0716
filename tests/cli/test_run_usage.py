"""`tether run` as a Durable Functions user tries it: FILE alone, `--virtual-clock`, what a
blocked run waits for; and the refusals (an event to an ended instance, `--id` of another
orchestrator's instance)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime.client import Client, InstanceEnded
from tether.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def test_raise_event_to_an_ended_instance_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    store = str(tmp_path / "store")
    assert main(["run", f"{EXAMPLES / 'hello_cities.py'}:hello_cities", "--input", '["a"]',
                 "--store", store, "--id", "done-1"]) == 0
    capsys.readouterr()
    assert main(["raise-event", "done-1", "Approval", "--store", store]) == 2
    assert capsys.readouterr().err == (
        "error: instance done-1 is Completed; event 'Approval' was not sent\n")
    with pytest.raises(InstanceEnded, match="done-1 is Completed"):
        Client(store).raise_event("done-1", "Approval", True)


def test_run_refuses_an_instance_of_another_orchestrator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    store = str(tmp_path / "store")
    assert main(["run", f"{EXAMPLES / 'hello_cities.py'}:hello_cities", "--input", '["a"]',
                 "--store", store, "--id", "mine"]) == 0
    capsys.readouterr()
    code = main(["run", f"{EXAMPLES / 'fan_out_fan_in.py'}", "--store", store, "--id", "mine"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.startswith("error: instance mine is an instance of hello_cities, not ")


def test_run_file_alone_runs_its_one_orchestrator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", str(EXAMPLES / "hello_cities.py"), "--input", '["Lima"]',
                 "--store", str(tmp_path / "s")]) == 0
    assert json.loads(capsys.readouterr().out) == ["Hello, Lima!"]


def test_run_file_with_several_orchestrators_asks_for_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "two.py").write_text(
        "from tether import orchestrator\n\n\n@orchestrator\nasync def a(ctx):\n    return 1\n"
        "\n\n@orchestrator\nasync def b(ctx):\n    return 2\n")
    assert main(["run", "two.py", "--store", "s"]) == 2
    assert capsys.readouterr().err == (
        "error: two.py: defines 2 orchestrators (a, b); name one as two.py:ORCH\n")


def test_virtual_clock_runs_a_monitor_without_waiting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    code = main(["run", f"{EXAMPLES / 'human_interaction.py'}:approval", "--virtual-clock",
                 "--input", '{"amount": 7, "timeout_hours": 48}', "--store", str(tmp_path / "s")])
    assert code == 0
    assert json.loads(capsys.readouterr().out) == "escalated 7 to the manager's manager"
    assert time.monotonic() - started < 60  # 48 virtual hours


def test_a_blocked_run_says_what_it_waits_for(tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether.cli", "run", f"{EXAMPLES / 'human_interaction.py'}:approval",
         "--input", '{"amount": 3}', "--store", store, "--id", "ask-1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={"PATH": "", "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("waiting: instance ask-1 at await when_any, line "), line
        assert "event 'ApprovalEvent' (tether raise-event ask-1 ApprovalEvent --data JSON)" in line
        assert "a timer at " in line
        assert main(["raise-event", "ask-1", "ApprovalEvent", "--data", "true",
                     "--store", store]) == 0
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert json.loads(out) == "processed: approved"
