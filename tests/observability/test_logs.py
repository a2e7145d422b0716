"""Logging: `tether worker --log-level/--log-format` lines per worker and instance, and an
orchestrator's own `logging` call that runs once per step, even across crashes (no
replay, so no replay-safe logger is needed)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.engine import SimulatedCrash, run_inline
from tether.loader import load

SRC = '''
import logging

from tether import OrchestrationContext, activity, orchestrator

log = logging.getLogger("shop.orders")


@activity
def work(i: int) -> int:
    if i < 0:
        raise ValueError(f"negative {i}")
    return i * 10


@orchestrator
async def chain(ctx: OrchestrationContext, n: int) -> list[int]:
    out = []
    for i in range(n):
        log.info("step %d", i)
        out.append(await ctx.call_activity(work, i))
    log.info("done")
    return out


@orchestrator
async def broken(ctx: OrchestrationContext) -> int:
    return await ctx.call_activity(work, -1)
'''
PLAIN = ["step 0", "step 1", "step 2", "done"]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "orders.py"
    path.write_text(SRC)
    return path


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "shop.orders"]


def test_an_orchestrators_log_line_runs_once_per_step_across_crashes(
        src: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shop.orders")
    mdef = load(str(src)).machine("chain")
    crash_points = 0
    for crash_after in range(1, 40):
        caplog.clear()
        store = tmp_path / f"store{crash_after}"
        try:
            run_inline(mdef, 3, store=store, instance_id="o-1", crash_after_writes=crash_after)
        except SimulatedCrash:
            crash_points += 1
            result = run_inline(mdef, 3, store=store, instance_id="o-1")
        else:
            assert _lines(caplog) == PLAIN  # no crash: each line once
            break
        assert result.output == [0, 10, 20]
        lines = _lines(caplog)
        # the resumed run continues from the last checkpoint: nothing before it is logged
        # again; only the one step the crash interrupted may run (and log) twice
        assert len(lines) - len(PLAIN) <= 1, (crash_after, lines)
        assert [x for i, x in enumerate(lines) if i == 0 or lines[i - 1] != x] == PLAIN, lines
    assert crash_points >= 5


def _tether(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tether.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})


def test_worker_logs_json_lines_with_fields(src: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    for spec, data, iid in ((f"{src}:chain", "2", "ok-1"), (f"{src}:broken", "null", "bad-1")):
        assert _tether("start", spec, "--input", data, "--id", iid, "--store", store,
                       cwd=tmp_path).returncode == 0
    done = _tether("worker", str(src), "--store", store, "--until-idle", "--log-format",
                   "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines()]
    by_message = {r["message"]: r for r in records}
    worker = next(r for r in records if r["logger"] == "tether.worker")
    assert worker["level"] == "INFO" and worker["store"] == store
    assert "orchestrations: broken, chain" in worker["message"]
    ok = by_message["instance ok-1 (chain) completed"]
    assert ok["instance_id"] == "ok-1" and ok["orchestration"] == "chain"
    assert ok["status"] == "Completed" and ok["ts"].endswith("Z")
    bad = by_message["instance bad-1 (broken) failed: TaskFailedError: work failed: "
                     "ValueError: negative -1"]
    assert bad["status"] == "Failed" and bad["level"] == "INFO"
    assert "instance ok-1 (chain) started" in by_message
    # at INFO, no step or activity lines; the activity failure is one
    assert not [r for r in records if r["logger"] == "tether.step"]
    failures = [r for r in records if r["logger"] == "tether.activity"]
    assert [(r["activity"], r["attempt"]) for r in failures] == [("work", 1)]


def test_worker_text_lines_and_debug(src: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    _tether("start", f"{src}:chain", "--input", "1", "--id", "t-1", "--store", store,
            cwd=tmp_path)
    done = _tether("worker", str(src), "--store", store, "--until-idle", "--log-level",
                   "DEBUG", cwd=tmp_path)
    lines = done.stderr.splitlines()
    started = next(line for line in lines if "instance t-1 (chain) started" in line)
    assert started.split(" ")[1:3] == ["INFO", "tether.instance"]
    assert any(" DEBUG tether.step step " in line for line in lines)
    assert any(" DEBUG tether.activity activity work attempt 1 completed instance_id=t-1 " in line
               for line in lines)
    bad = _tether("worker", str(src), "--store", store, "--log-format", "xml", cwd=tmp_path)
    assert bad.returncode == 2
    assert "--log-format: invalid choice: 'xml'" in bad.stderr


def test_logs_fields_reach_a_users_handler(src: Path, tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tether")
    mdef = load(str(src)).machine("chain")
    run_inline(mdef, 1, store=tmp_path / "s", instance_id="f-1")
    [end] = [r for r in caplog.records if r.name == "tether.instance"
             and r.getMessage().endswith("completed")]
    fields: dict[str, Any] = end.__dict__
    assert (fields["instance_id"], fields["orchestration"], fields["status"]) == (
        "f-1", "chain", "Completed")
