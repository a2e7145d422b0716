"""DBOS's side of bench/pg_bench.py. Runs with the throwaway venv's Python, which has
`dbos` installed (bench/dbos_venv.py); it never imports tether.

    python dbos_workload.py URL chain --steps 1000 --runs 5
    python dbos_workload.py URL many --instances 200 --steps 3 --runs 5
    python dbos_workload.py URL fan --activities 1000 --sleep-ms 50 --concurrency 4 --processes 2
    python dbos_workload.py URL resume --steps 1000   (three processes, see run_resume)

URL is a fresh database of its own (DBOS's `system_database_url`). Prints one JSON object
on stdout: the seconds of every run. The workloads are the ones tether runs, written the
way DBOS's documentation writes them: a `@DBOS.step` per activity, a `@DBOS.workflow`
per orchestration; fan-out activities are workflows on a queue with `worker_concurrency`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from dbos import DBOS

QUEUE = "fan"
# DBOS's default queue polling interval is 1 s; each poll dequeues at most the free
# `worker_concurrency` slots, so a 1,000-task fan-out at 4 per worker would take 250 s
# per worker. 50 ms is the fairest setting for this workload (the dequeue query is cheap).
QUEUE_POLL_SEC = 0.05


@DBOS.step()
def inc(x: int) -> int:
    return x + 1


@DBOS.workflow()
def chain(n: int) -> int:
    total = 0
    for _ in range(n):
        total = inc(total)
    return total


@DBOS.step()
def nap_step(i: int) -> int:
    time.sleep(float(os.environ.get("DBOS_BENCH_SLEEP_MS", "50")) / 1000)
    return i


@DBOS.workflow()
def nap(i: int) -> int:
    return nap_step(i)


@DBOS.step()
def die_step(n: int) -> int:
    # The resume workload's first process ends here, after `n` recorded steps.
    if os.environ.get("DBOS_BENCH_DIE") == "1":
        sys.stdout.flush()
        os._exit(0)
    return n


@DBOS.workflow()
def chain_then_die(n: int) -> int:
    total = 0
    for _ in range(n):
        total = inc(total)
    return die_step(total)


def launch(url: str, executor: str = "bench", queue: int | None = None) -> None:
    DBOS(config={
        "name": "tether-bench",
        "system_database_url": url,
        "application_version": "bench",
        "executor_id": executor,
        "log_level": "WARNING",
    })
    DBOS.launch()
    if queue is not None:
        DBOS.register_queue(QUEUE, worker_concurrency=queue, polling_interval_sec=QUEUE_POLL_SEC)


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_chain(args: argparse.Namespace) -> dict[str, Any]:
    launch(args.url)
    seconds = []
    for _ in range(args.runs):
        got = 0

        def once() -> None:
            nonlocal got
            got = chain(args.steps)

        seconds.append(timed(once))
        assert got == args.steps, got
    return {"seconds": seconds}


def run_many(args: argparse.Namespace) -> dict[str, Any]:
    launch(args.url)
    seconds = []
    for _ in range(args.runs):
        def once() -> None:
            handles = [DBOS.start_workflow(chain, args.steps) for _ in range(args.instances)]
            assert all(h.get_result() == args.steps for h in handles)

        seconds.append(timed(once))
    return {"seconds": seconds}


def run_fan(args: argparse.Namespace) -> dict[str, Any]:
    """This process enqueues and serves; `--processes - 1` helpers serve the same queue."""
    helpers = [subprocess.Popen(
        [sys.executable, __file__, args.url, "serve", "--concurrency", str(args.concurrency),
         "--executor", f"helper{i}"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        env=_sleep_env(args))
        for i in range(args.processes - 1)]
    os.environ.update(_sleep_env(args))
    try:
        launch(args.url, "main", queue=args.concurrency)
        time.sleep(2.0)  # let the helpers launch before the clock starts
        seconds = []
        queue = DBOS.retrieve_queue(QUEUE)
        for _ in range(args.runs):
            def once() -> None:
                handles = [queue.enqueue(nap, i) for i in range(args.activities)]
                assert [h.get_result() for h in handles] == list(range(args.activities))

            seconds.append(timed(once))
        return {"seconds": seconds}
    finally:
        for h in helpers:
            assert h.stdin is not None
            h.stdin.close()
        for h in helpers:
            h.wait(timeout=60)


def _sleep_env(args: argparse.Namespace) -> dict[str, str]:
    return dict(os.environ, DBOS_BENCH_SLEEP_MS=str(args.sleep_ms))


def serve(args: argparse.Namespace) -> dict[str, Any]:
    launch(args.url, args.executor, queue=args.concurrency)
    sys.stdin.read()  # until the parent closes our stdin
    return {}


def run_resume(args: argparse.Namespace) -> dict[str, Any]:
    """A workflow records `--steps` steps, then its process dies (os._exit); a new process
    recovers it (`DBOS._recover_pending_workflows`, what DBOS's admin endpoint calls), which
    re-runs the workflow's code, skipping the recorded steps by reading their outcomes.
    Timed in the new process, after DBOS's launch: from the recovery call to the workflow's
    result (DBOS's equivalent of tether's resume plus the one last step)."""
    seconds = []
    for run in range(args.runs):
        workflow_id = f"r{run}"
        subprocess.run([sys.executable, __file__, args.url, "record", "--steps",
                        str(args.steps), "--workflow-id", workflow_id],
                       env=dict(os.environ, DBOS_BENCH_DIE="1"), check=True)
        out = subprocess.run([sys.executable, __file__, args.url, "recover", "--workflow-id",
                              workflow_id, "--steps", str(args.steps)], check=True, capture_output=True, text=True).stdout
        seconds.append(float(json.loads(out)["seconds"]))
    return {"seconds": seconds}


def record(args: argparse.Namespace) -> dict[str, Any]:
    from dbos import SetWorkflowID

    launch(args.url, "dead")
    with SetWorkflowID(args.workflow_id):
        chain_then_die(args.steps)
    raise AssertionError("the workflow should have ended the process")


def recover(args: argparse.Namespace) -> dict[str, Any]:
    # Another executor id, so that launch does not recover "dead"'s workflows by itself.
    # Recovery re-enqueues the workflow on DBOS's internal queue; the new process dequeues
    # it and re-runs its code, reading back each recorded step.
    launch(args.url, "recoverer")
    start = time.perf_counter()
    handles = DBOS._recover_pending_workflows(["dead"])
    assert [h.workflow_id for h in handles] == [args.workflow_id], handles
    assert handles[0].get_result(polling_interval_sec=0.01) == args.steps
    return {"seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("workload", choices=["chain", "many", "fan", "serve", "resume",
                                             "record", "recover"])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--activities", type=int, default=1000)
    parser.add_argument("--sleep-ms", type=float, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--executor", default="bench")
    parser.add_argument("--workflow-id", default="w")
    args = parser.parse_args()
    workloads = {"chain": run_chain, "many": run_many, "fan": run_fan, "serve": serve,
                 "resume": run_resume, "record": record, "recover": recover}
    result = workloads[args.workload](args)
    print(json.dumps(result), flush=True)
    DBOS.destroy()
    os._exit(0)  # DBOS's background threads can hold a normal exit for seconds


if __name__ == "__main__":
    main()
