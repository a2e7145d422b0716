"""Compile throughput: lines per second on a generated module dense with orchestrators.

    .venv/bin/python bench/compile_throughput.py [--lines 10000] [--repeat 5]

Prints the median of `--repeat` runs of the whole pipeline, and of libcst's parse alone on
the same text, measured in the same process (the machine is shared: compare the ratio).
"""

from __future__ import annotations

import argparse
import statistics
import time

import libcst as cst

from compiler.pipeline import compile_unit
from lint import check_source

ORCH = '''

@orchestrator
async def flow_{i}(ctx: OrchestrationContext, items: list[int]) -> dict[str, int]:
    total = 0
    seen = []
    for item in items:
        try:
            value = await ctx.call_activity(step_a, item)
            if value > 10 and await ctx.call_activity(step_b, value):
                total += value
            else:
                seen.append(item)
        except TaskFailedError as err:
            seen.append(str(err))
        finally:
            await ctx.call_activity(step_c, item)
    tasks = [ctx.call_activity(step_a, x) for x in seen[:3]]
    results = await ctx.when_all(tasks)
    while total < 100:
        total += await ctx.call_activity(step_b, total) or 1
    return {{"total": total, "extra": sum(results)}}
'''

HEADER = '''from tether import OrchestrationContext, TaskFailedError, activity, orchestrator


@activity
def step_a(x: int) -> int:
    return x + 1


@activity
def step_b(x: int) -> int:
    return x * 2


@activity
def step_c(x: int) -> None:
    return None
'''


def generate(lines: int) -> str:
    parts = [HEADER]
    i = 0
    while sum(p.count("\n") for p in parts) < lines:
        parts.append(ORCH.format(i=i))
        i += 1
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    source = generate(args.lines)
    n = source.count("\n")
    parse_times, compile_times, lint_times = [], [], []
    stages: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        cst.parse_module(source)
        t1 = time.perf_counter()
        last = [time.perf_counter()]

        def tick(name: str, _unit: object, last: list[float] = last) -> None:
            now = time.perf_counter()
            stages.setdefault(name, []).append(now - last[0])
            last[0] = now

        compile_unit(source, "bench.py", on_pass=tick)
        t2 = time.perf_counter()
        check_source(source, "bench.py")
        t3 = time.perf_counter()
        parse_times.append(t1 - t0)
        compile_times.append(t2 - t1)
        lint_times.append(t3 - t2)
    p, c = statistics.median(parse_times), statistics.median(compile_times)
    lint = statistics.median(lint_times)
    print(f"{n} lines, {source.count('@orchestrator')} orchestrators, median of {args.repeat}")
    print(f"libcst parse only : {p:.3f} s  {n / p:,.0f} lines/s")
    print(f"tether compile    : {c:.3f} s  {n / c:,.0f} lines/s  ({c / p:.2f}x parse)")
    print(f"  of which lint   : {lint:.3f} s  (measured separately, same source)")
    for name, times in stages.items():
        print(f"  pass {name:<9}: {statistics.median(times):.3f} s")


if __name__ == "__main__":
    main()
