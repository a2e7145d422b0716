"""`tether run`: prints the output, refuses bad input in one line, and continues a killed
instance from its last checkpoint instead of starting over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tether.cli import main

ROOT = Path(__file__).resolve().parents[2]
HELLO = f"{ROOT / 'examples' / 'hello_cities.py'}:hello_cities"

STEPS = '''
import json
import os
import time
from pathlib import Path

from tether import activity, orchestrator


@activity
def step(job: dict) -> int:
    log = Path(job["log"])
    with log.open("a") as fh:
        fh.write(json.dumps(job["i"]) + "\\n")
    if job["i"] == 1:
        # hold the second step until the test says go: the process is killed here
        while not Path(job["log"] + ".go").exists():
            time.sleep(0.02)
    return job["i"] * 10


@orchestrator
async def steps(ctx, log: str) -> list[int]:
    out = []
    for i in range(3):
        out.append(await ctx.call_activity(step, {"log": log, "i": i}))
    return out
'''


def test_run_prints_the_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", HELLO, "--input", '["Tokyo", "London", "Seattle"]',
                 "--store", str(tmp_path / "store")])
    assert code == 0
    assert json.loads(capsys.readouterr().out) == ["Hello, Tokyo!", "Hello, London!",
                                                   "Hello, Seattle!"]


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "examples/nowhere.py:x"], "error: examples/nowhere.py: no such file"),
    (["run", f"{ROOT / 'examples' / 'hello_cities.py'}:nope"],
     "no orchestrator named 'nope'; found: hello_cities"),
    (["run", HELLO, "--input", "[1,"], "error: --input is not valid JSON: Expecting value"),
    (["run", HELLO, "--id", "no spaces"], "error: invalid instance id 'no spaces'"),
])
def test_bad_input_is_one_line_exit_2(argv: list[str], message: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_syntax_error_is_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "broken.py"
    src.write_text("from tether import orchestrator\n\n@orchestrator\nasync def o(ctx):\n    x = (\n")
    assert main(["run", f"{src}:o", "--store", str(tmp_path / "s")]) == 2
    assert capsys.readouterr().err == f"{src}:5:9: error: syntax error: '(' was never closed\n"


def test_failed_instance_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "failing.py"
    src.write_text("from tether import activity, orchestrator\n\n\n@activity\ndef boom(x):\n"
                   "    raise ValueError(f'no {x}')\n\n\n@orchestrator\nasync def o(ctx, n):\n"
                   "    return await ctx.call_activity(boom, n)\n")
    assert main(["run", f"{src}:o", "--input", "7", "--store", str(tmp_path / "s"),
                 "--id", "f-1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: instance f-1 failed: TaskFailedError: ")
    assert "ValueError: no 7" in err


def test_killed_run_continues_from_its_checkpoint(tmp_path: Path) -> None:
    src = tmp_path / "steps.py"
    src.write_text(STEPS)
    log = tmp_path / "calls.log"
    store = tmp_path / "store"
    argv = [sys.executable, "-m", "tether.cli", "run", f"{src}:steps", "--input",
            json.dumps(str(log)), "--store", str(store), "--id", "job-1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (log.exists() and log.read_text().splitlines() == ["0", "1"]):
        assert time.monotonic() < deadline, "the first run never reached step 1"
        assert first.poll() is None, first.communicate()
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)  # dies inside step 1, after step 0 was journaled
    first.wait()
    Path(str(log) + ".go").touch()
    second = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == [0, 10, 20]
    # step 0 is not run again: the second process started from the checkpoint after it;
    # step 1 runs again (it never finished: activities run at least once)
    assert log.read_text().splitlines() == ["0", "1", "1", "2"]
