"""Several worker processes on one store, killed at random moments: every instance ends
with the plain result, no result is journaled twice, no step is lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime.client import Client
from runtime.journal import iter_records

PROGRAM = '''
from tether import activity, orchestrator

@activity
def square(i):
    return i * i

@orchestrator
async def work(ctx, n):
    out = []
    for i in range(n):
        out.append(await ctx.call_activity(square, i))
    fan = await ctx.when_all([ctx.call_activity(square, i) for i in range(10)])
    try:
        out.append(await ctx.call_activity("missing", 1))
    except Exception:
        out.append(-1)
    finally:
        out.append(sum(fan))
    return out
'''


def expected(n: int) -> list[int]:
    return [i * i for i in range(n)] + [-1, sum(i * i for i in range(10))]


def worker(program: Path, store: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2]))
    return subprocess.Popen([sys.executable, "-m", "tether.cli", "worker", str(program),
                             "--store", str(store), "--until-idle"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def start_all(program: Path, store: Path, count: int) -> None:
    from tether.loader import load

    mdef = load(str(program)).machine("work")
    client = Client(store)
    for i in range(count):
        client.start(mdef, 3 + i % 4, instance_id=f"w{i}")


def check(store: Path, count: int) -> None:
    client = Client(store)
    for i in range(count):
        doc = client.status(f"w{i}")
        assert (doc["runtimeStatus"], doc["output"]) == ("Completed", expected(3 + i % 4)), i
        results = [r.data["task"] for r in iter_records(store / "instances" / f"w{i}")
                   if r.kind == "result"]
        assert len(results) == len(set(results)), f"w{i}: a result journaled twice"


def run_with_kills(program: Path, store: Path, kills: int, workers: int, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(kills):
        procs = [worker(program, store) for _ in range(workers)]
        time.sleep(rng.uniform(0.3, 0.9))
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.wait()
    procs = [worker(program, store) for _ in range(workers)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err


def test_two_workers_killed_at_random_finish_every_instance(tmp_path: Path) -> None:
    program = tmp_path / "prog.py"
    program.write_text(PROGRAM)
    start_all(program, tmp_path / "store", 30)
    run_with_kills(program, tmp_path / "store", kills=3, workers=2, seed=1)
    check(tmp_path / "store", 30)


@pytest.mark.soak
def test_soak_many_kills(tmp_path: Path) -> None:
    program = tmp_path / "prog.py"
    program.write_text(PROGRAM)
    start_all(program, tmp_path / "store", 200)
    run_with_kills(program, tmp_path / "store", kills=30, workers=3, seed=2)
    check(tmp_path / "store", 200)
