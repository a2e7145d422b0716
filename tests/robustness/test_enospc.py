"""Fault injection: a mixed workload (chain, fan-out, timers, events, children) on a store
whose disk fills up. Workers run until the disk is full (ENOSPC), space is freed a little
at a time and workers run again, then all of it; every instance must end as the plain
`async def` run says (`run_direct`), with no result, event or child recorded twice."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runtime.backends.base import BackendError
from runtime.client import Client
from tests.robustness.conftest import fill, fill_inodes, mounted_tmpfs
from tether.loader import load
from tether.testing import run_direct

PROGRAM = '''
import os
from datetime import timedelta
from tether import activity, orchestrator

@activity
def enospc_double(x):
    with open(os.environ["TETHER_TEST_LOG"], "a") as fh:
        fh.write(f"{x}\\n")
    return 2 * x

@orchestrator
async def enospc_child(ctx, x):
    return await ctx.call_activity(enospc_double, x) + 1

@orchestrator
async def enospc_mixed(ctx, n):
    total = 0
    for i in range(3):
        total += await ctx.call_activity(enospc_double, n + i)
    fan = await ctx.when_all([ctx.call_activity(enospc_double, 100 * n + i) for i in range(4)])
    await ctx.create_timer(ctx.current_utc_datetime + timedelta(milliseconds=150))
    go = await ctx.wait_for_external_event("Go")
    kid = await ctx.call_sub_orchestrator(enospc_child, n)
    ctx.set_custom_status({"n": n, "padding": "p" * 200 * (n % 3)})
    return {"chain": total, "fan": fan, "go": go, "child": kid}
'''
INSTANCES = 16
#: worker runs on a disk left with 0, 4 KiB, 8 KiB, ... free, before all of it is freed
MAX_RUNS = 8
REPO = Path(__file__).parents[2]


def worker(program: Path, store: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """One `tether worker --until-idle` process: it ends when everything is done, or stops
    at the full disk with one line (exit 2); a hang is killed after the timeout."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "tether.cli", "worker", str(program), "--store", str(store),
             "--until-idle"], capture_output=True, text=True, timeout=30, cwd=REPO, env=env)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(exc.cmd, -9, str(exc.stdout), f"hung: {exc.stderr!r}")


def raise_events(client: Client, ids: list[str], raised: set[str]) -> None:
    """Raise Go for each instance not yet sent one; a full disk refuses some."""
    for instance_id in ids:
        if instance_id in raised:
            continue
        try:
            client.raise_event(instance_id, "Go", f"go {instance_id}")
        except (OSError, BackendError):  # the store's account of the full disk
            continue
        raised.add(instance_id)


@dataclass
class Workload:
    squeeze: str  # what ran out: "bytes" or "inodes"
    store: Path
    client: Client
    mdef: Any
    ids: list[str]
    runs: list[subprocess.CompletedProcess[str]]
    final: subprocess.CompletedProcess[str]
    executed: Counter[int]
    started_at: float  # when the final worker started
    left_in_tmp: list[str]  # staging entries found in tmp/ after each squeezed run


#: what runs out: the bytes of the disk (a ballast file), or its inodes (empty files), so
#: that creating a file (an inbox message, a child's folder, a staging file) fails too
SQUEEZES: dict[str, tuple[str, Callable[[Path, int], Path], int]] = {
    # 8 MiB: the store's SQLite index keeps up to ~4 MiB of write-ahead log between
    # checkpoints; the ballast squeezes the free space whatever the size
    "bytes": ("size=8m", fill, 4096),
    "inodes": ("size=16m,nr_inodes=4000", fill_inodes, 16),
}


#: Out of inodes the clients' raise-events are refused while the journals still grow, so
#: a worker's instances end up waiting for events that were never posted: --until-idle
#: exits then, naming them (it waited for them until its timeout before, issue 17).
@pytest.fixture(scope="module", params=["bytes", "inodes"])
def workload(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workload]:
    """The workload, run once per squeeze for the module's tests: squeezed runs (a little
    more room each time), then a free disk."""
    options, squeeze, first = SQUEEZES[request.param]
    tmp_path = tmp_path_factory.mktemp("enospc")
    program = tmp_path / "enospc_prog.py"
    program.write_text(PROGRAM)
    log = tmp_path / "activity.log"
    env = {**os.environ, "TETHER_TEST_LOG": str(log), "PYTHONPATH": str(REPO)}
    saved = os.environ.get("TETHER_TEST_LOG")
    os.environ["TETHER_TEST_LOG"] = str(tmp_path / "plain.log")  # for run_direct's activities
    size, _, extra = options.partition(",")
    with mounted_tmpfs(tmp_path / "mnt", size.removeprefix("size="), *filter(None, [extra])) \
            as mount:
        store = mount / "store"
        mdef = load(str(program)).machine("enospc_mixed")
        client = Client(store)
        ids = client.start_many(mdef, list(range(INSTANCES)),
                                instance_ids=[f"m-{n}" for n in range(INSTANCES)])
        raised: set[str] = set()
        raise_events(client, ids[::2], raised)  # half before the runs: buffered in the inbox
        runs, leave, left_in_tmp = [], 0, []
        while len(runs) < MAX_RUNS:  # a little more room each time, until the work fits
            ballast = squeeze(mount, leave)
            raise_events(client, ids, raised)  # a full disk refuses some: retried later
            runs.append(worker(program, store, env))
            left_in_tmp += os.listdir(store / "tmp")  # a failed write removes its own
            shutil.rmtree(ballast) if ballast.is_dir() else ballast.unlink()
            if all(client.status(i)["runtimeStatus"] == "Completed" for i in ids):
                break
            leave = max(first, 2 * leave)
        raise_events(client, ids, raised)
        assert raised == set(ids)
        started_at = time.time()
        final = worker(program, store, env)
        executed = Counter(int(x) for x in log.read_text().split())
        yield Workload(request.param, store, client, mdef, ids, runs, final, executed,
                       started_at, left_in_tmp)
    if saved is None:
        os.environ.pop("TETHER_TEST_LOG", None)
    else:
        os.environ["TETHER_TEST_LOG"] = saved


def test_the_disk_filled_up_and_each_refusal_said_so_in_one_line(workload: Workload) -> None:
    """A worker meeting the full disk reports each instance it could not write once, in
    one line, and goes on (docs/runtime.md, "A bad instance"); none is an internal error."""
    full = [r for r in workload.runs if "No space left on device" in r.stderr
            or "short write" in r.stderr]
    assert len(full) >= 3, "the disk did not fill up often enough"
    for run in workload.runs:
        assert run.returncode in (0, 2), (run.returncode, run.stderr)
        assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
        for line in run.stderr.splitlines():  # the others are the worker's INFO log lines
            if line.startswith("error: "):
                assert "No space left on device" in line or "short write" in line, line
    assert workload.final.returncode == 0, workload.final.stderr
    assert "error: " not in workload.final.stderr, workload.final.stderr


def test_every_instance_completes_as_the_plain_run_with_nothing_recorded_twice(
        workload: Workload) -> None:
    client = workload.client
    for n, instance_id in enumerate(workload.ids):
        plain: Any = run_direct(workload.mdef, n, events=[("Go", f"go {instance_id}")])
        doc = client.status(instance_id)
        assert plain.status == "Completed", plain.error
        assert (doc["runtimeStatus"], doc["output"], doc["customStatus"]) == (
            "Completed", plain.output, plain.custom_status), (instance_id, doc["output"])
        assert_recorded_once(client, instance_id, events=1)
        child = client.status(f"{instance_id}:{_child_task(client, instance_id)}")
        assert child["runtimeStatus"] == "Completed" and child["output"] == 2 * n + 1
        assert_recorded_once(client, child["instanceId"], events=0)
    assert len(client.list()) == 2 * INSTANCES  # no stray child or half-made instance
    expected = {x for n in range(INSTANCES)
                for x in (n, n + 1, n + 2, *(100 * n + i for i in range(4)))}
    assert set(workload.executed) == expected  # each activity ran (at least once), no other


def test_no_staging_file_outlives_the_full_disk(workload: Workload) -> None:
    """Each write that met the full disk removed its staging entry (issue 17, "tmp
    cleanup"; runtime/backends/file/staging.py): none is left after any squeezed run,
    whether a worker's or the client's write met it, and none afterwards."""
    assert workload.left_in_tmp == []
    stale = [p.name for p in (workload.store / "tmp").iterdir()
             if p.stat().st_mtime < workload.started_at]
    assert stale == []


def _child_task(client: Client, instance_id: str) -> int:
    for event in client.history(instance_id, all_variables=True):
        for task in event.get("tasks", ()):
            if task["kind"] == "sub_orchestration":
                return int(task["id"])
    raise AssertionError(f"{instance_id} started no child")


def assert_recorded_once(client: Client, instance_id: str, *, events: int) -> None:
    """No task's result, no event and no end journaled twice; seqs without gaps."""
    history = client.history(instance_id, all_variables=True)
    assert [e["seq"] for e in history] == list(range(len(history)))
    results = Counter(e["task"] for e in history if e["eventType"] == "result")
    assert all(count == 1 for count in results.values()), (instance_id, results)
    assert sum(e["eventType"] == "event" for e in history) == events, instance_id
    assert [e["eventType"] for e in history].count("completed") == 1, instance_id
