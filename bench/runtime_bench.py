"""Runtime benchmarks (results in docs/benchmarks.md; bench/side_by_side.py compares the
chain and 200 x 3 with another tree in one run).

    .venv/bin/python bench/runtime_bench.py [--runs 5]

resume: open an instance whose history has N steps and load it (journal recovery and
frame decode) -- must be flat in N. chain: 1,000 sequential activities end to end.
many: 200 instances x 3 steps served by one worker. fan: fan-out/fan-in of 1,000.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import compiler
from runtime.backends.file import FileBackend
from runtime.client import Client
from runtime.clock import Clock
from runtime.engine import run_inline
from runtime.instance import Instance
from runtime.worker import Worker

SOURCE = """
from tether import activity, orchestrator

@activity
def inc(x):
    return x + 1

@orchestrator
async def chain(ctx, n):
    total = 0
    for i in range(n):
        total = await ctx.call_activity(inc, total)
    return total

@orchestrator
async def fan(ctx, n):
    results = await ctx.when_all([ctx.call_activity(inc, i) for i in range(n)])
    return sum(results)
"""
module = compiler.load_source(SOURCE, "bench.py", "_bench_prog")
CHAIN = module.chain.__tether_machine__
FAN = module.fan.__tether_machine__


def fsync_cost(size: int = 200, count: int = 200) -> float:
    """Seconds per append of `size` bytes followed by an fsync, in a new file."""
    with tempfile.NamedTemporaryFile(dir=".") as fh:
        start = time.perf_counter()
        for _ in range(count):
            os.write(fh.fileno(), b"x" * size)
            os.fsync(fh.fileno())
        return (time.perf_counter() - start) / count


def resume_cost(steps: int) -> float:
    with tempfile.TemporaryDirectory(dir=".") as d:
        run_inline(CHAIN, steps, store=d, instance_id="r", clock=Clock())
        backend = FileBackend(d)
        journal = Path(d) / "instances" / "r" / "journal"
        # the instance ended; cut its final record so opening finds a live instance
        data = journal.read_bytes()
        journal.write_bytes(data[:data.rstrip(b"\n").rfind(b"\n") + 1])
        samples = []
        for _ in range(20):
            start = time.perf_counter()
            claim = backend.claim("r")
            assert claim is not None
            Instance.restore("r", claim, CHAIN)
            backend.release(claim)
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def chain_1000() -> float:
    with tempfile.TemporaryDirectory(dir=".") as d:
        return timed(lambda: run_inline(CHAIN, 1000, store=d, clock=Clock()))


def many_200(batched: bool) -> tuple[float, float]:
    """(seconds to create the 200 instances, seconds for one worker to run them all).
    `batched`: one `Client.start_many` call; else 200 `Client.start` calls."""
    with tempfile.TemporaryDirectory(dir=".") as d:
        client = Client(d)

        def create() -> None:
            if batched:
                client.start_many(CHAIN, [3] * 200, instance_ids=[f"m{i}" for i in range(200)])
            else:
                for i in range(200):
                    client.start(CHAIN, 3, instance_id=f"m{i}")

        made = timed(create)
        return made, timed(lambda: Worker(d, report=lambda line: None).serve(until_idle=True))


def fan_1000() -> float:
    with tempfile.TemporaryDirectory(dir=".") as d:
        return timed(lambda: run_inline(FAN, 1000, store=d, clock=Clock(), concurrency=32))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    med = statistics.median
    fsync = med(fsync_cost() for _ in range(runs))
    # what one step of the chain writes before its fsync: a result and a checkpoint
    step_fsync = med(fsync_cost(600, 1000) for _ in range(runs))
    print(f"fsync: {fsync * 1e3:.3f} ms after a 200-byte append, "
          f"{step_fsync * 1e3:.3f} ms after a step's 600 bytes")
    for n in (10, 1000, 100_000):
        print(f"resume at {n} steps: {resume_cost(n) * 1e3:.3f} ms")
    chain = med(chain_1000() for _ in range(runs))
    print(f"1,000-step chain: {chain:.3f} s = {chain / (1000 * step_fsync):.2f} x one fsync per "
          f"step ({chain / (1000 * fsync):.2f} x the 200-byte fsync)")
    for batched in (False, True):
        pairs = [many_200(batched) for _ in range(runs)]
        made, ran = med(p[0] for p in pairs), med(p[1] for p in pairs)
        how = "one start_many" if batched else "200 starts"
        print(f"200 instances x 3 steps: created by {how} in {made:.3f} s ({200 / made:.0f}/s), "
              f"run in {ran:.3f} s ({200 / ran:.0f}/s); end to end {200 / (made + ran):.0f}/s")
    print(f"fan-out/fan-in of 1,000: {med(fan_1000() for _ in range(runs)):.3f} s")


if __name__ == "__main__":
    main()
