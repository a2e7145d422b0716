"""What the file backend's locked staging entries (issue 17, runtime/backends/file/staging.py)
cost, against another tree, side by side in one run (docs/benchmarks.md, "Staging").

    git worktree add /tmp/tether-before <commit>       (or any copy of a tree)
    .venv/bin/python bench/staging_bench.py /tmp/tether-before [--rounds 7] [--no-fsync]

Each round runs, in a fresh process per tree and alternating which goes first, on a new
store in the working directory: 500 `Client.raise_event` calls to one instance (each an
inbox message staged in `tmp/`), and 200 instances made by one `Client.start_many` (each
a `new-*` folder staged in `tmp/`). Printed: medians per tree and the ratio new / old.
`--no-fsync` makes fsync and syncfs no-ops in both, leaving the code's own cost.
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
import json, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
import compiler
from runtime.client import Client

SOURCE = '''
from tether import orchestrator

@orchestrator
async def waits(ctx, n):
    return await ctx.wait_for_external_event("Go")
'''
WAITS = compiler.load_source(SOURCE, "bench.py", "_staging_bench").waits.__tether_machine__
assert sys.modules["runtime"].__file__.startswith(sys.argv[1]), "imported the wrong tree"
if len(sys.argv) > 2 and sys.argv[2] == "no-fsync":
    import importlib, os
    os.fsync = lambda fd: None
    importlib.import_module("runtime.backends.file.journal")._syncfs = None

out = {}
with tempfile.TemporaryDirectory(dir=".") as d:
    client = Client(d)
    client.start(WAITS, 0, instance_id="target")
    began = time.perf_counter()
    for n in range(500):
        client.raise_event("target", "Go", n)
    out["events"] = time.perf_counter() - began
    began = time.perf_counter()
    client.start_many(WAITS, [0] * 200, instance_ids=[f"m{i}" for i in range(200)])
    out["create"] = time.perf_counter() - began
print(json.dumps(out))
"""


def measure(tree: Path, no_fsync: bool) -> dict[str, float]:
    argv = [sys.executable, "-c", SNIPPET, str(tree)] + (["no-fsync"] if no_fsync else [])
    done = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=Path.cwd())
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old", type=Path, help="the other tree (e.g. a worktree of main)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-fsync", action="store_true",
                        help="make fsync and syncfs no-ops: the code's CPU cost alone")
    args = parser.parse_args()
    trees = {"old": args.old.resolve(), "new": HERE}
    samples: dict[str, dict[str, list[float]]] = {t: {} for t in trees}
    for n in range(args.rounds):
        for tree in (["old", "new"] if n % 2 == 0 else ["new", "old"]):
            for key, value in measure(trees[tree], args.no_fsync).items():
                samples[tree].setdefault(key, []).append(value)
    med = {t: {k: statistics.median(v) for k, v in s.items()} for t, s in samples.items()}
    for key, label in (("events", "500 raise_event calls"),
                       ("create", "start_many of 200 instances")):
        old, new = med["old"][key], med["new"][key]
        print(f"{label}: old {old:.3f} s, new {new:.3f} s (median of {args.rounds}); "
              f"new/old = {new / old:.3f}")


if __name__ == "__main__":
    main()
