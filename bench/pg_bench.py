"""tether on PostgreSQL against PostgreSQL's own floor and DBOS, on one server, in one run.

    .venv/bin/python bench/pg_bench.py [--runs 5] [--fan-runs 3] [--only chain,many,fan,resume]
                                       [--no-dbos] [--dbos-venv DIR]

The server is `TETHER_PG_SERVER` (default the local one over TCP); every workload gets a
fresh database of its own, dropped afterwards (bench/pg_scratch.py). DBOS runs in a
throwaway venv with `dbos` from the package index (bench/dbos_venv.py; `--dbos-venv DIR`
keeps one between runs), its `system_database_url` pointed at such a database.

floor: one single-row INSERT of a step's bytes + COMMIT, in a loop (psycopg, autocommit
off): what "one commit per step" costs on this server. chain: one instance of 1,000
sequential activities, end to end in-process (`run_inline`). many: 200 instances x 3
steps created by one `start_many` and served by one worker (for both, the store's schema
is created before the clock starts, as DBOS's `launch` creates its tables untimed). fan:
one instance fanning out 1,000 activities that each sleep 50 ms, served by 1, 2 and 4
`tether worker` processes of `--concurrency 4` each (ideal: 12.5 s, 6.25 s, 3.125 s). resume: claim and load an
instance whose history holds 10 / 1,000 / 100,000 steps (must be flat; beyond 1,000 the
real run's records are copied in front of its last ones, `pad_history`).
Results and how to read them: docs/benchmarks.md, "PostgreSQL".
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

import compiler
from bench.dbos_venv import BUSY, dbos_python, dbos_version, run_dbos
from bench.pg_scratch import scratch_database, server_url
from runtime.backends import open_backend
from runtime.client import Client
from runtime.clock import Clock
from runtime.engine.core import SimulatedCrash
from runtime.engine.inline import run_inline
from runtime.instance import Instance
from runtime.worker import Worker

ROOT = Path(__file__).resolve().parents[1]

SOURCE = '''
import os
import time

from tether import activity, orchestrator


@activity
def inc(x):
    return x + 1


@activity
def nap(i):
    time.sleep(float(os.environ.get("TETHER_BENCH_NAP_MS", "50")) / 1000)
    return i


@orchestrator
async def chain(ctx, n):
    total = 0
    for i in range(n):
        total = await ctx.call_activity(inc, total)
    return total


@orchestrator
async def fan(ctx, n):
    results = await ctx.when_all([ctx.call_activity(nap, i) for i in range(n)])
    return sum(results)
'''
module = compiler.load_source(SOURCE, "pg_bench_program.py", "_pg_bench_prog")
CHAIN = module.chain.__tether_machine__
FAN = module.fan.__tether_machine__
T = TypeVar("T")
STEP_BYTES = 600  # what one chain step writes: a result and a checkpoint (docs/benchmarks.md)


#: seconds a tether workload may take before it is reported unfinished (a hang is a result)
LIMIT = 120.0


class Unfinished(Exception):
    """A workload did not end within LIMIT."""


def when_served(fn: Callable[[], T], tries: int = 5) -> T:
    """`fn()`, tried again while the shared server refuses connections (all slots taken
    by its other users): a refused run is no measurement."""
    for _ in range(tries - 1):
        try:
            return fn()
        except Exception as exc:
            if BUSY not in str(exc):
                raise
            time.sleep(10)
    return fn()


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    return statistics.median(values)


# -- PostgreSQL's floor --------------------------------------------------------------------

def floor_seconds(url: str, count: int = 1000) -> float:
    """Seconds per single-row INSERT + COMMIT of STEP_BYTES of JSON, `count` in a loop."""
    payload = json.dumps({"pad": "x" * (STEP_BYTES - 12)})
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS floor (id bigserial PRIMARY KEY, data jsonb)")
        conn.commit()
        start = time.perf_counter()
        for _ in range(count):
            conn.execute("INSERT INTO floor (data) VALUES (%s)", (payload,), prepare=True)
            conn.commit()
        return (time.perf_counter() - start) / count


# -- tether on PostgreSQL ------------------------------------------------------------------

def set_up(url: str) -> None:
    """Create the store's schema before the clock starts, as DBOS's `launch` creates its
    tables before its workloads are timed (runs A-E timed tether's first use with it)."""
    backend = open_backend(url)
    try:
        backend.ensure()
    finally:
        backend.close()


def tether_chain(url: str, steps: int = 1000) -> float:
    set_up(url)
    return timed(lambda: run_inline(CHAIN, steps, store=url, clock=Clock()))


def tether_many(url: str, instances: int = 200, steps: int = 3) -> tuple[float, float]:
    """(seconds to create the instances with one start_many, seconds for one worker to run
    them all)."""
    set_up(url)
    client = Client(url)
    made = timed(lambda: client.start_many(CHAIN, [steps] * instances,
                                           instance_ids=[f"m{i}" for i in range(instances)]))
    worker = Worker(url, report=lambda line: None)
    serving = threading.Thread(target=worker.serve, kwargs={"until_idle": True}, daemon=True)
    start = time.perf_counter()
    serving.start()
    serving.join(timeout=LIMIT)
    ran = time.perf_counter() - start
    worker.stop.set()
    serving.join(timeout=30)
    worker.backend.close()
    done = sum((client.status(f"m{i}") or {}).get("output") == steps for i in range(instances))
    if done < instances:
        raise Unfinished(f"{instances - done} of {instances} instances unfinished after "
                         f"{LIMIT:g} s")
    return made, ran


def tether_fan(url: str, workers: int, activities: int = 1000, concurrency: int = 4,
               nap_ms: float = 50) -> float:
    """Seconds from the fan-out's creation to its end, with `workers` worker processes
    already started (and idle) on the database."""
    with tempfile.TemporaryDirectory(prefix="pg-bench-fan-") as tmp:
        program = Path(tmp) / "pg_bench_program.py"
        program.write_text(SOURCE)
        env = dict(os.environ, PYTHONPATH=str(ROOT), TETHER_BENCH_NAP_MS=str(nap_ms))
        procs = [subprocess.Popen(
            [sys.executable, "-m", "tether.cli", "worker", str(program), "--store", url,
             "--concurrency", str(concurrency)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(workers)]
        try:
            time.sleep(3.0)  # interpreter start-up and first poll, not counted
            client = Client(url)
            start = time.perf_counter()
            instance_id = client.start(FAN, activities)
            while (doc := client.status(instance_id)) is None or doc["runtimeStatus"] not in (
                    "Completed", "Failed", "Terminated"):
                if time.perf_counter() - start > LIMIT:
                    raise Unfinished(f"the fan-out unfinished after {LIMIT:g} s")
                time.sleep(0.02)
            seconds = time.perf_counter() - start
            assert doc["output"] == sum(range(activities)), doc
            return seconds
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                _, err = p.communicate(timeout=60)
                if p.returncode not in (0, -15):
                    sys.stderr.write(err.decode()[-2000:])


def history_of(url: str, steps: int, instance_id: str) -> int:
    """Leave an instance whose journal holds about `steps` chain steps, as a worker killed
    in its middle leaves it (`crash_after_writes`); returns the steps it holds."""
    def crash(writes: int, iid: str) -> int:
        with contextlib.suppress(SimulatedCrash):
            run_inline(CHAIN, steps + 10, store=f"{url}?lease=0.5", instance_id=iid,
                       clock=Clock(), crash_after_writes=writes)
        time.sleep(0.6)  # the crashed run's lease runs out
        backend = open_backend(url)
        try:
            return sum(r.kind == "result" for r in backend.history(iid))
        finally:
            backend.close()

    per_write = crash(50, instance_id + "-calibrate") / 50
    return crash(max(1, round(steps / per_write)), instance_id)


#: histories longer than this are a real run of REAL_STEPS steps, padded (`pad_history`)
REAL_STEPS = 1000


def pad_history(url: str, instance_id: str, extra: int) -> None:
    """Put `extra` copies of the instance's own result and checkpoint records in front of
    its last records, renumbering those, so its history is `extra` records longer where a
    resume never reads (before the last checkpoint): a 100,000-step history in seconds,
    where running it takes a flushed commit per step (30 minutes on a loaded server)."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        (generation,) = conn.execute("SELECT generation FROM tether.instances WHERE id = %s",
                                     (instance_id,)).fetchone() or (0,)
        keys = (instance_id, generation)
        conn.execute("UPDATE tether.journal SET seq = -seq WHERE instance_id = %s"
                     " AND generation = %s AND seq > 0", keys)
        conn.execute("UPDATE tether.journal SET seq = %s - seq WHERE instance_id = %s"
                     " AND generation = %s AND seq < 0", (extra, *keys))
        conn.execute(
            "INSERT INTO tether.journal (instance_id, generation, seq, kind, ts, data)"
            " SELECT j.instance_id, j.generation, n, j.kind, j.ts, j.data"
            " FROM generate_series(1, %s) n JOIN LATERAL (SELECT * FROM tether.journal"
            " WHERE instance_id = %s AND generation = %s AND seq > %s"
            " AND kind IN ('result', 'checkpoint') ORDER BY seq"
            " OFFSET (n %% 2) LIMIT 1) j ON true", (extra, *keys, extra))
        conn.execute("UPDATE tether.instances SET next_seq = next_seq + %s,"
                     " head_seq = head_seq + %s WHERE id = %s", (extra, extra, instance_id))


def tether_resume(url: str, steps: int, samples: int = 50, warm: int = 5) -> tuple[int, float]:
    """(steps in the history, median seconds to claim the instance and rebuild it in
    memory), what a worker does when it adopts an instance another one left."""
    instance_id = f"r{steps}"
    held = history_of(url, min(steps, REAL_STEPS), instance_id)
    if steps > REAL_STEPS:  # two records per step: a result and a checkpoint
        pad_history(url, instance_id, 2 * (steps - held))
        backend = open_backend(url)
        try:
            held = sum(r.kind == "result" for r in backend.history(instance_id))
        finally:
            backend.close()
    backend = open_backend(url)
    out = []
    try:
        for i in range(warm + samples):  # the first claims warm the connection and plans
            start = time.perf_counter()
            claim = backend.claim(instance_id)
            assert claim is not None
            Instance.restore(instance_id, claim, CHAIN)
            if i >= warm:
                out.append(time.perf_counter() - start)
            backend.release(claim)
    finally:
        backend.close()
    return held, median(out)


# -- the run ---------------------------------------------------------------------------

@contextmanager
def database(purpose: str) -> Iterator[str]:
    with scratch_database(purpose) as url:
        yield url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of chain and many")
    parser.add_argument("--fan-runs", type=int, default=3, help="runs of each fan-out")
    parser.add_argument("--only", default="chain,many,fan,resume")
    parser.add_argument("--no-dbos", action="store_true")
    parser.add_argument("--dbos-venv", type=Path, default=None)
    parser.add_argument("--fan-workers", default="1,2,4")
    parser.add_argument("--resume-steps", default="10,1000,100000")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    with ExitStack() as stack:
        python = None if args.no_dbos else stack.enter_context(dbos_python(args.dbos_venv))
        with psycopg.connect(server_url()) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        print(f"server: PostgreSQL {version[0] if version else '?'}; "
              f"DBOS {dbos_version(python) if python else 'skipped'}; {os.cpu_count()} cores",
              flush=True)
        floor_url = stack.enter_context(database("floor"))
        bench = Bench(args, python, floor_url)
        for section in ("chain", "many", "fan", "resume"):
            if section in only:
                getattr(bench, section)()
    return 0


@dataclass
class Bench:
    """The sections; each run measures every contender in turn (floor, tether, DBOS), so
    that a ratio compares figures taken moments apart on a shared, noisy machine."""

    args: argparse.Namespace
    python: Path | None
    floor_url: str

    def dbos(self, workload: str, *options: str) -> float:
        assert self.python is not None
        with database(f"dbos_{workload}") as url:
            return run_dbos(self.python, url, workload, *options, "--runs", "1")[0]

    def fresh(self, purpose: str, fn: Callable[[str], T]) -> T:
        with database(purpose) as url:
            return fn(url)

    def chain(self) -> None:
        floor, tether, dbos = [], [], []
        for _ in range(self.args.runs):
            floor.append(when_served(lambda: floor_seconds(self.floor_url)))
            tether.append(when_served(lambda: self.fresh("chain", tether_chain)))
            if self.python:
                dbos.append(self.dbos("chain", "--steps", "1000"))
        print(f"floor: {median(floor) * 1e3:.3f} ms per single-row INSERT + COMMIT of "
              f"{STEP_BYTES} bytes (runs: {_ms(floor)})")
        line = (f"chain 1,000: tether {median(tether):.3f} s = "
                f"{median(tether) / (1000 * median(floor)):.2f} x one commit per step "
                f"(per run: {_ratios(tether, [1000 * f for f in floor])})")
        if dbos:
            line += (f"; DBOS {median(dbos):.3f} s = {median(dbos) / median(tether):.1f} x "
                     f"tether (per run: {_ratios(dbos, tether)})")
        print(line, flush=True)

    def many(self) -> None:
        pairs, dbos = [], []
        for _ in range(self.args.runs):
            try:
                pairs.append(when_served(lambda: self.fresh("many", tether_many)))
            except Unfinished as exc:
                print(f"200 x 3: tether {exc}", flush=True)
                return
            if self.python:
                dbos.append(self.dbos("many", "--instances", "200", "--steps", "3"))
        made, ran = median([p[0] for p in pairs]), median([p[1] for p in pairs])
        ends = [p[0] + p[1] for p in pairs]
        line = (f"200 x 3: tether created in {made:.3f} s, run in {ran:.3f} s "
                f"({200 / ran:.0f} instances/s; end to end {200 / median(ends):.0f}/s)")
        if dbos:
            line += (f"; DBOS {median(dbos):.3f} s ({200 / median(dbos):.0f}/s) = "
                     f"{median(dbos) / ran:.1f} x tether's run, "
                     f"{median(dbos) / median(ends):.1f} x end to end (per run: "
                     f"{_ratios(dbos, ends)})")
        print(line, flush=True)

    def fan(self) -> None:
        for workers in (int(w) for w in self.args.fan_workers.split(",")):
            ideal = 1000 * 0.05 / (4 * workers)
            tether, dbos = [], []
            for _ in range(self.args.fan_runs):
                run = functools.partial(self.fresh, "fan", functools.partial(tether_fan,
                                                                             workers=workers))
                try:
                    tether.append(when_served(run))
                except Unfinished as exc:
                    print(f"fan-out, {workers} worker(s): tether {exc}", flush=True)
                    break
                if self.python:
                    dbos.append(self.dbos("fan", "--activities", "1000", "--sleep-ms", "50",
                                          "--concurrency", "4", "--processes", str(workers)))
            if not tether:
                continue
            line = (f"fan-out 1,000 x 50 ms, {workers} worker(s) x 4: tether "
                    f"{median(tether):.2f} s ({median(tether) / ideal:.2f} x the ideal "
                    f"{ideal:.2f} s)")
            if dbos:
                line += f"; DBOS {median(dbos):.2f} s ({median(dbos) / ideal:.2f} x)"
            print(line, flush=True)

    def resume(self) -> None:
        for steps in (int(s) for s in self.args.resume_steps.split(",")):
            held, seconds = when_served(functools.partial(
                self.fresh, "resume", functools.partial(tether_resume, steps=steps)))
            line = (f"resume at {steps} steps ({held} in the journal): tether "
                    f"{seconds * 1e3:.3f} ms")
            if self.python and steps <= 10_000:
                dbos = [self.dbos("resume", "--steps", str(steps)) for _ in range(3)]
                line += f"; DBOS {median(dbos) * 1e3:.1f} ms"
            print(line, flush=True)


def _ms(values: list[float]) -> str:
    return ", ".join(f"{v * 1e3:.2f}" for v in values)


def _ratios(a: list[float], b: list[float]) -> str:
    return ", ".join(f"{x / y:.2f}" for x, y in zip(a, b, strict=True))


if __name__ == "__main__":
    raise SystemExit(main())
