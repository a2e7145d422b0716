"""Checkpoint size per step: journal bytes written per await, by record kind.

    .venv/bin/python bench/checkpoint_size.py [--steps 1000]

Runs three orchestrations in-process on a temporary store (virtual clock) and reads back
their journals: a sequential chain whose frame stays small, the same chain accumulating a
growing list (the frame grows with it: only live locals are saved, but all of them), a
fan-out of `--steps` activities, and the same fan-out followed by a timer while the task
list is still live (its results are kept, so that a later `await tasks[i]` is the object
the `when_all` list holds).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path

import compiler
from runtime.executor import run_inline
from runtime.journal import iter_records

SOURCE = '''
from datetime import timedelta

from tether import activity, orchestrator


@activity
def step(x):
    return x + 1


@orchestrator
async def chain(ctx, n):
    value = 0
    for _ in range(n):
        value = await ctx.call_activity(step, value)
    return value


@orchestrator
async def chain_collecting(ctx, n):
    seen = []
    for i in range(n):
        seen.append(await ctx.call_activity(step, i))
    return len(seen)


@orchestrator
async def fan_out(ctx, n):
    tasks = [ctx.call_activity(step, i) for i in range(n)]
    return sum(await ctx.when_all(tasks))


@orchestrator
async def fan_out_then_wait(ctx, n):
    tasks = [ctx.call_activity(step, i) for i in range(n)]
    total = sum(await ctx.when_all(tasks))
    await ctx.sleep(timedelta(seconds=1))  # `tasks` is live here: its results are kept
    return [len(tasks), total]
'''


def measure(name: str, steps: int, module: object) -> None:
    mdef = getattr(module, name).__tether_machine__
    with tempfile.TemporaryDirectory() as tmp:
        result = run_inline(mdef, steps, store=Path(tmp), instance_id="bench")
        assert result.status == "Completed", result
        folder = Path(tmp) / "instances" / "bench"
        sizes: dict[str, list[int]] = defaultdict(list)
        total = (folder / "journal").stat().st_size
        records = list(iter_records(folder))
        for rec, after in zip(records, [*(r.offset for r in records[1:]), total], strict=True):
            sizes[rec.kind].append(after - rec.offset)
    checkpoints = sizes.get("checkpoint", [])
    print(f"{name} ({steps} steps): journal {total:,} bytes, {total / steps:,.0f} bytes/step")
    for kind, values in sorted(sizes.items()):
        print(f"  {kind:<12} x{len(values):<6} median {statistics.median(values):>8,.0f} B"
              f"  max {max(values):>8,} B")
    if checkpoints:
        print(f"  checkpoint first {checkpoints[1] if len(checkpoints) > 1 else checkpoints[0]:,} B,"
              f" last {checkpoints[-1]:,} B")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    module = compiler.load_source(SOURCE, "bench_checkpoint.py", "bench_checkpoint")
    for name in ("chain", "chain_collecting", "fan_out", "fan_out_then_wait"):
        measure(name, args.steps, module)


if __name__ == "__main__":
    main()
