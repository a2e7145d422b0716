"""The runtime benchmarks of two trees side by side, in one run (docs/benchmarks.md).

    git worktree add /tmp/tether-before <commit>
    .venv/bin/python bench/side_by_side.py /tmp/tether-before [--rounds 7]

Each round runs, in a fresh process per tree and alternating which goes first, the
1,000-step chain (`run_inline` under the real clock) and 200 instances x 3 steps (one
`start_many`, then one worker with `--until-idle`), each on a new store in the working
directory (and a second `start_many` of 200 into the same store, which no longer pays
for creating the store). Printed: medians per tree and the ratio new / old. `--no-fsync` makes fsync and
syncfs no-ops in both, which measures the engines' own cost without the disk's noise
(a shared machine's fsync latency varies by tens of percent from minute to minute). Both trees are imported
by path, so the same interpreter and installed libraries serve both. Before the clock
starts, each process makes one untimed run of each (a 1-step chain, one instance served):
what a tree imports or builds on its first use (the file backend and `sqlite3`, the
observers' modules), once per process, is then not counted as the cost of a run, as
`bench/runtime_bench.py`'s medians of runs in one process do not count it; on this
machine's `PYTHONDONTWRITEBYTECODE=1` those imports also compile their modules from
source. `--cold` skips that run and times them too.

`--count` prints instead what load does not move: the chain's Python bytecodes and
function calls per step (`sys.settrace` with opcode events, and cProfile), counted in
the difference between a 400-step and a 200-step run, so a run's fixed costs (opening
the store, the first step) drop out; fsync off, and every attempt inline on the engine
thread as a quick activity's are (else one attempt a busy machine made slow would send
the rest to the pool, and the count would measure that).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

SNIPPET = r"""
import inspect, json, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
import compiler
from runtime.client import Client
from runtime.clock import Clock
from runtime.executor import run_inline
from runtime.worker import Worker

SOURCE = '''
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
'''
CHAIN = compiler.load_source(SOURCE, "bench.py", "_side_by_side").chain.__tether_machine__
assert sys.modules["runtime"].__file__.startswith(sys.argv[1]), "imported the wrong tree"
if "no-fsync" in sys.argv[2:]:  # the engine's own cost, without the disk
    import importlib, os
    os.fsync = lambda fd: None
    for name in ("runtime.journal", "runtime.backends.file.journal"):
        try:
            importlib.import_module(name)._syncfs = None
        except ImportError:
            pass


def worker(d):
    if "Backend" in str(inspect.signature(Worker)):
        return Worker(d, report=lambda line: None)
    from runtime.store import Store
    return Worker(Store(d), report=lambda line: None)


out = {}
if "cold" not in sys.argv[2:]:  # a first run, untimed: what a tree loads on first use
    with tempfile.TemporaryDirectory(dir=".") as d:
        run_inline(CHAIN, 1, store=d, clock=Clock())
        Client(d).start_many(CHAIN, [1], instance_ids=["warm"])
        worker(d).serve(until_idle=True)
with tempfile.TemporaryDirectory(dir=".") as d:
    began = time.perf_counter()
    run_inline(CHAIN, 1000, store=d, clock=Clock())
    out["chain"] = time.perf_counter() - began
with tempfile.TemporaryDirectory(dir=".") as d:
    began = time.perf_counter()
    Client(d).start_many(CHAIN, [3] * 200, instance_ids=[f"m{i}" for i in range(200)])
    made = time.perf_counter()
    worker(d).serve(until_idle=True)
    out["many"] = time.perf_counter() - began
    out["many_create"], out["many_run"] = made - began, time.perf_counter() - made
    began = time.perf_counter()  # a second batch, into the store now in use
    Client(d).start_many(CHAIN, [3] * 200, instance_ids=[f"n{i}" for i in range(200)])
    out["many_create_again"] = time.perf_counter() - began
print(json.dumps(out))
"""


COUNT = r"""
import cProfile, importlib, json, os, pstats, sys, tempfile
sys.path.insert(0, sys.argv[1])
import compiler
from runtime.clock import Clock
import runtime.executor as executor
executor.Engine.__init__.__kwdefaults__["inline_below"] = float("inf")
assert sys.modules["runtime"].__file__.startswith(sys.argv[1]), "imported the wrong tree"
os.fsync = lambda fd: None
for name in ("runtime.journal", "runtime.backends.file.journal"):
    try:
        importlib.import_module(name)._syncfs = None
    except ImportError:
        pass
CHAIN = compiler.load_source(sys.argv[2], "bench.py", "_count").chain.__tether_machine__


def run(n):
    with tempfile.TemporaryDirectory(dir=".") as d:
        executor.run_inline(CHAIN, n, store=d, clock=Clock())


def opcodes(n):
    count = [0]

    def local(frame, event, arg):
        if event == "opcode":
            count[0] += 1
        return local

    def tracer(frame, event, arg):
        frame.f_trace_opcodes = True
        return local

    sys.settrace(tracer)
    run(n)
    sys.settrace(None)
    return count[0]


def calls(n):
    profile = cProfile.Profile()
    profile.runcall(run, n)
    return sum(row[1] for row in pstats.Stats(profile).stats.values())


run(5)  # imports and first-use costs, before counting
print(json.dumps({"opcodes": (opcodes(400) - opcodes(200)) / 200,
                  "calls": (calls(400) - calls(200)) / 200}))
"""


def count(tree: Path) -> dict[str, float]:
    quotes = "'" * 3
    source = SNIPPET.split(f"SOURCE = {quotes}")[1].split(quotes)[0]  # the same chain
    done = subprocess.run([sys.executable, "-c", COUNT, str(tree), source],
                          capture_output=True, text=True, check=True, cwd=Path.cwd())
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(tree: Path, no_fsync: bool, cold: bool = False) -> dict[str, float]:
    argv = [sys.executable, "-c", SNIPPET, str(tree)] + (["no-fsync"] if no_fsync else []) + (
        ["cold"] if cold else [])
    done = subprocess.run(argv, capture_output=True,
                          text=True, check=True, cwd=Path.cwd())
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old", type=Path, help="the other tree (e.g. a worktree of main)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-fsync", action="store_true",
                        help="make fsync and syncfs no-ops: the engines' CPU cost alone")
    parser.add_argument("--cold", action="store_true",
                        help="no untimed first run: time what a tree loads on first use too")
    parser.add_argument("--count", action="store_true",
                        help="the chain's bytecodes and calls per step, not times")
    args = parser.parse_args()
    trees = {"old": args.old.resolve(), "new": HERE}
    if args.count:
        counted = {tree: count(path) for tree, path in trees.items()}
        for key, label in (("opcodes", "Python bytecodes"), ("calls", "function calls")):
            old, new = counted["old"][key], counted["new"][key]
            print(f"1,000-step chain, {label} per step: old {old:.0f}, new {new:.0f}; "
                  f"new/old = {new / old:.3f}")
        return
    samples: dict[str, dict[str, list[float]]] = {t: {} for t in trees}
    for n in range(args.rounds):
        order = ["old", "new"] if n % 2 == 0 else ["new", "old"]
        for tree in order:
            for key, value in measure(trees[tree], args.no_fsync, args.cold).items():
                samples[tree].setdefault(key, []).append(value)
    med = {t: {k: statistics.median(v) for k, v in s.items()} for t, s in samples.items()}
    for key, label in (("chain", "1,000-step chain"), ("many", "200 instances x 3 steps"),
                       ("many_create", "  of which start_many into a new store"),
                       ("many_run", "  of which one worker running them"),
                       ("many_create_again", "start_many of 200 more into that store")):
        old, new = med["old"][key], med["new"][key]
        print(f"{label}: old {old:.3f} s, new {new:.3f} s (median of {args.rounds}); "
              f"new/old = {new / old:.3f}")


if __name__ == "__main__":
    main()
