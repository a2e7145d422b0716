"""Where the time of PostgreSQL's 200 x 3 goes: one worker serving 200 instances of a
3-step chain (bench/pg_bench.py's `many`), on the engine's own thread, counted.

    .venv/bin/python bench/pg_many_profile.py [--runs 5] [--concurrency 16] [--profile]

Per run: the wall time of `Worker.serve(until_idle=True)`, the process's CPU time
(`time.process_time`, every thread), the statements by kind with their count and the
wall time spent inside `psycopg.Connection.execute` (the round trip, the server's work
and psycopg's own encoding), and the group commits with the number of claims and of
results each carried. `--profile` adds cProfile's top functions (the engine's thread
only; profiling slows it about 1.5x). A scratch database per run (bench/pg_scratch.py).
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
from pg_bench import CHAIN, set_up
from pg_scratch import scratch_database

from runtime.backends.postgres.backend import PostgresBackend
from runtime.client import Client
from runtime.worker import Worker

KINDS = [("step", "WITH g AS"), ("take", "picked AS"), ("runnable", "ready_at IS NOT NULL"),
         ("claim", "c AS (UPDATE"), ("release", "UPDATE")]


def kind(statement: str) -> str:
    for name, marker in KINDS:
        if marker in statement:
            return name
    return "other"


def one_run(concurrency: int, profile: bool) -> dict[str, Any]:
    with scratch_database("profile") as url:
        set_up(url)
        Client(url).start_many(CHAIN, [3] * 200, instance_ids=[f"m{i}" for i in range(200)])
        worker = Worker(url, report=lambda line: None, concurrency=concurrency)
        counts: collections.Counter[str] = collections.Counter()
        spent: collections.Counter[str] = collections.Counter()
        groups: list[tuple[int, int]] = []
        execute, commit_op = psycopg.Connection.execute, PostgresBackend._commit_op

        def timed_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            name = kind(str(query))
            counts[name] += 1
            start = time.perf_counter()
            try:
                return execute(self, query, *args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start

        def counted_commit(self: Any, conn: Any, claims: Any) -> Any:
            groups.append((len(claims), sum(1 for c in claims for r in c.staged.records
                                            if r.kind == "result")))
            return commit_op(self, conn, claims)

        psycopg.Connection.execute = timed_execute  # type: ignore[method-assign]
        PostgresBackend._commit_op = counted_commit  # type: ignore[method-assign]
        profiler = cProfile.Profile()
        try:
            cpu, start = time.process_time(), time.perf_counter()
            if profile:
                profiler.enable()
            worker.serve(until_idle=True)
            if profile:
                profiler.disable()
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        finally:
            psycopg.Connection.execute = execute  # type: ignore[method-assign]
            PostgresBackend._commit_op = commit_op  # type: ignore[method-assign]
        if profile:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return {"wall": wall, "cpu": cpu, "counts": counts, "spent": spent, "groups": groups}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    runs = [one_run(args.concurrency, args.profile) for _ in range(args.runs)]
    for r in runs:
        db = sum(r["spent"].values())
        results = [n for _, n in r["groups"] if n]
        print(f"run {r['wall']:.3f} s ({200 / r['wall']:.0f}/s), CPU {r['cpu']:.3f} s, in "
              f"execute {db:.3f} s; " + ", ".join(
                  f"{k} {r['counts'][k]} ({r['spent'][k] * 1000:.0f} ms)"
                  for k in sorted(r["counts"], key=lambda k: -r["spent"][k]))
              + f"; groups with results {len(results)}, of {min(results)}-{max(results)}")
    med = statistics.median
    print(f"median: run {med(r['wall'] for r in runs):.3f} s, CPU {med(r['cpu'] for r in runs):.3f} s, "
          f"in execute {med(sum(r['spent'].values()) for r in runs):.3f} s, step statements "
          f"{med(r['counts']['step'] for r in runs):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
