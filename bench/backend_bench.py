"""The file backend with many ended instances (results in docs/benchmarks.md).

    .venv/bin/python bench/backend_bench.py [--ended 100000] [--runs 20]

pick-up: a worker serves a store holding `--ended` completed instances; a client starts
a new instance of a one-activity orchestration; measured: from `start` returning until
the instance is Completed (the worker polls the index every 50 ms, so this is at most
one poll plus the run). query: the first page (top 100) of `Backend.query`, unfiltered
and filtered by status, name and id prefix; and `Client.query`, which also reads the
100 status documents from their journals.

Setup writes the ended instances with the journal code directly (a `created` and a
`completed` record each, not fsynced) and indexes them in one transaction: running
100,000 instances for real would take minutes and measure nothing more.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import compiler
from runtime.backends.base import NewInstance, Query
from runtime.backends.file import FileBackend
from runtime.backends.file.journal import Journal
from runtime.client import Client
from runtime.engine import created_data
from runtime.worker import Worker

SOURCE = """
from tether import activity, orchestrator

@activity
def inc(x):
    return x + 1

@orchestrator
async def one(ctx, n):
    return await ctx.call_activity(inc, n)
"""
module = compiler.load_source(SOURCE, "bench_backend.py", "_bench_backend")
ONE = module.one.__tether_machine__
TS = "2026-01-01T00:00:00Z"


def fill(root: Path, ended: int) -> FileBackend:
    backend = FileBackend(root)
    backend.ensure()
    batch = 5000
    for start in range(0, ended, batch):
        ids = [f"old-{i:06d}" for i in range(start, min(ended, start + batch))]
        backend.create_many([NewInstance(i, TS, created_data(ONE, 1, TS)) for i in ids])
        for i in ids:
            journal = Journal.open(root / "instances" / i)
            journal.append("completed", {"output": 2, "custom_status": None}, TS)
            journal.close()
        backend.index().put([(i, "one", "Completed", TS, TS, False) for i in ids])
    return backend


def pick_up(root: Path, runs: int) -> list[float]:
    worker = Worker(root, report=lambda line: None)
    thread = threading.Thread(target=worker.serve, daemon=True)
    thread.start()
    client = Client(root)
    samples = []
    try:
        time.sleep(0.5)  # the worker's start (recover, first scan) is not what we measure
        for n in range(runs):
            instance_id = client.start(ONE, n, instance_id=f"new-{n}")
            began = time.perf_counter()
            while client.status(instance_id)["runtimeStatus"] != "Completed":
                time.sleep(0.001)
            samples.append(time.perf_counter() - began)
    finally:
        worker.stop.set()
        thread.join(10)
    return samples


def timed(fn: object, runs: int) -> float:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ended", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as d:
        root = Path(d)
        began = time.perf_counter()
        backend = fill(root, args.ended)
        print(f"setup: {args.ended:,} completed instances in {time.perf_counter() - began:.1f} s")
        samples = pick_up(root, args.runs)
        print(f"pick-up of a new instance among {args.ended:,} ended ones (start returned -> "
              f"Completed, one activity): median {statistics.median(samples) * 1e3:.1f} ms, "
              f"max {max(samples) * 1e3:.1f} ms over {len(samples)}")
        client = Client(root)
        queries = {
            "first page, no filter": Query(top=100),
            "status=Completed": Query(statuses=frozenset({"Completed"}), top=100),
            "status=Pending (none match)": Query(statuses=frozenset({"Pending"}), top=100),
            "name=one, id prefix old-05": Query(name="one", id_prefix="old-05", top=100),
        }
        for label, q in queries.items():
            print(f"query {label}: {timed(lambda q=q: backend.query(q), 50) * 1e3:.2f} ms")
        page = timed(lambda: client.query(Query(top=100)), 20)
        print(f"Client.query first page (100 status documents read): {page * 1e3:.1f} ms")
        token = backend.query(Query(top=100)).continuation
        later = timed(lambda: backend.query(Query(top=100, continuation=token)), 50)
        print(f"query second page from its token: {later * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
