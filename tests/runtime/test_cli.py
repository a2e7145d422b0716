"""`tether run/start/worker/status/...`: exit codes, one-line errors, and a real SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.backends.support import Stores
from tether.cli import main

PROGRAM = '''
import os, time
from tether import activity, orchestrator

@activity
def step(i):
    time.sleep(0.03)
    with open(os.environ["TETHER_TEST_LOG"], "a") as fh:
        fh.write(f"{i}\\n")
    return i * i

@orchestrator
async def chain(ctx, n):
    out = []
    for i in range(n):
        out.append(await ctx.call_activity(step, i))
    return out
'''


@pytest.fixture
def program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stores: Stores) -> Path:
    path = tmp_path / "prog.py"
    path.write_text(PROGRAM)
    monkeypatch.setenv("TETHER_TEST_LOG", str(tmp_path / "log"))
    monkeypatch.setenv("TETHER_STORE", stores())  # one run per backend
    return path


def test_run_prints_the_output(program: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", f"{program}:chain", "--input", "3", "--id", "r1"]) == 0
    assert json.loads(capsys.readouterr().out) == [0, 1, 4]
    assert main(["status", "r1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["runtimeStatus"], doc["instanceId"], doc["output"]) == ("Completed", "r1", [0, 1, 4])
    assert doc["createdTime"].endswith("Z")
    assert main(["history", "r1"]) == 0
    events = json.loads(capsys.readouterr().out)
    assert events[0]["eventType"] == "created" and events[-1]["eventType"] == "completed"
    assert any(e["eventType"] == "checkpoint" and "slots" in e for e in events)


@pytest.mark.parametrize(("argv", "message"), [
    (["status", "bad id!"], "invalid instance id 'bad id!'"),
    (["status", "nope"], "no instance nope"),
    (["raise-event", "nope", "go"], "no instance nope"),
    (["terminate", "x" * 129], "invalid instance id"),
    (["run", "PROG:chain", "--input", "[1,"], "--input is not valid JSON"),
    (["run", "PROG:nope"], "no orchestrator named 'nope'"),
], ids=["bad-id", "unknown", "event-unknown", "long-id", "bad-json", "unknown-orch"])
def test_bad_input_is_one_line_and_exit_2(program: Path, argv: list[str], message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("PROG", str(program)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_start_terminate_purge(program: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["start", f"{program}:chain", "--input", "2", "--id", "s1"]) == 0
    assert capsys.readouterr().out.strip() == "s1"
    assert main(["terminate", "s1", "--reason", "enough"]) == 0
    main(["status", "s1"])
    assert json.loads(capsys.readouterr().out)["runtimeStatus"] == "Terminated"
    assert main(["purge", "s1"]) == 0
    capsys.readouterr()
    assert main(["status", "s1"]) == 2


def test_rerun_after_sigkill_continues(program: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "tether.cli", "run", f"{program}:chain", "--input", "12",
           "--id", "k1"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2]))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log = tmp_path / "log"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not log.exists() or len(log.read_text().split()) < 5):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(log.read_text().split())
    assert 5 <= before < 12
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [i * i for i in range(12)]
    runs = log.read_text().split()
    assert sorted(set(runs), key=int) == [str(i) for i in range(12)]
    assert len(runs) - 12 <= 1  # at most the activity in flight at the kill ran twice


FIRE_AND_FORGET = '''
from tether import orchestrator

@orchestrator
async def waiter(ctx):
    return await ctx.wait_for_external_event("go")

@orchestrator
async def parent(ctx):
    ctx.call_sub_orchestrator(waiter, instance_id="left")
    return "parent done"
'''


def test_run_says_which_sub_orchestrations_it_leaves_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "forget.py"
    path.write_text(FIRE_AND_FORGET)
    monkeypatch.setenv("TETHER_STORE", str(tmp_path / "store"))
    assert main(["run", f"{path}:parent"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == "parent done"
    assert err == (f"note: sub-orchestration left is still running (never awaited); "
                   f"`tether worker {path}` will finish it\n")
    # it is in the store, waiting, and a worker finishes it once the event comes
    assert main(["raise-event", "left", "go", "--data", "1"]) == 0
    assert main(["worker", str(path), "--until-idle"]) == 0
    capsys.readouterr()
    assert main(["status", "left"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["runtimeStatus"], doc["output"]) == ("Completed", 1)
