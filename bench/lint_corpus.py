"""Generate the two trees `lint_bench.py` measures.

* `plain`: about 100,000 lines of real Python with no orchestrator: standard-library
  modules copied from the running interpreter (files that mention "orchestrator", or that
  this Python cannot parse, are left out).
* `dense`: a generated project dense with orchestrators: each module holds activities,
  helpers and orchestrators in the patterns of docs/ (chaining, fan-out, human
  interaction, monitors), calling helpers of their own and of a shared module, with a
  few real findings so the reporting path is exercised too.
"""

from __future__ import annotations

import ast
import os
import random
import shutil
import sysconfig
from pathlib import Path

SHARED = '''"""Helpers shared by the generated flows."""

from __future__ import annotations

from collections import Counter


def summarize(rows: list[dict[str, object]]) -> dict[str, object]:
    counts = Counter(str(row.get("state", "unknown")) for row in rows)
    return {"states": {k: counts[k] for k in sorted(counts)}, "total": len(rows)}


def batches(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def normalize(value: str) -> str:
    return " ".join(value.strip().lower().split())
'''

HEADER = '''"""Generated flows, module {n}."""

from __future__ import annotations

import datetime as dt
import random
import time
from datetime import timedelta

from tether import OrchestrationContext, RetryPolicy, TaskFailedError, activity, orchestrator

from {package}.shared import batches, normalize, summarize

RETRY = RetryPolicy(max_attempts=3, first_retry_interval=timedelta(seconds=5))
'''

UNIT = '''

@activity
def fetch_{i}(order_id: str) -> dict[str, object]:
    started = time.time()
    return {{"id": order_id, "took": time.time() - started, "state": "ok"}}


@activity
def notify_{i}(message: dict[str, object]) -> None:
    print("notify", message)


def _score_{i}(results: list[dict[str, object]], weight: int) -> dict[str, object]:
    total = 0
    for item in results:
        total += int(str(item.get("amount", 0))) * weight
    names = sorted({{str(r["id"]) for r in results}})
    summary = summarize(results)
    summary.update(total=total, names=names)
    return summary


def _label_{i}(order: dict[str, object]) -> str:
    parts = [normalize(str(order.get(key, ""))) for key in ("customer", "region", "kind")]
    return "/".join(p for p in parts if p)


@orchestrator
async def process_{i}(ctx: OrchestrationContext, order: dict[str, object]) -> dict[str, object]:
    """Fan out over the order lines, wait for approval or a deadline, then settle."""
    lines = [str(line) for line in order.get("lines", [])]  # type: ignore[attr-defined]
    results = []
    for batch in batches(lines, 8):
        tasks = [ctx.call_activity(fetch_{i}, line, retry=RETRY) for line in batch]
        results.extend(await ctx.when_all(tasks))
    summary = _score_{i}(results, weight={weight})
    summary["label"] = _label_{i}(order)
    deadline = ctx.current_utc_datetime + timedelta(hours={hours})
    timer = ctx.create_timer(deadline)
    approval = ctx.wait_for_external_event("approval")
    winner = await ctx.when_any([approval, timer])
    if winner is approval:
        summary["approved"] = await approval
    else:
        summary["approved"] = False
        await ctx.call_activity(notify_{i}, {{"order": order.get("id"), "reason": "timeout"}})
    try:
        await ctx.call_sub_orchestrator("settle_payment", summary, retry=RETRY)
    except TaskFailedError as exc:
        ctx.set_custom_status({{"error": str(exc), "step": "settle"}})
        raise
    return summary


@orchestrator
async def monitor_{i}(ctx: OrchestrationContext, job_id: str) -> str:
    expires = ctx.current_utc_datetime + dt.timedelta(hours=6)
    rng = random.Random(job_id)
    polls = 0
    while ctx.current_utc_datetime < expires:
        state = await ctx.call_activity(fetch_{i}, job_id)
        polls += 1
        if state.get("state") in ("done", "failed"):
            return f"{{state['state']}} after {{polls}} polls"
        await ctx.sleep(dt.timedelta(seconds=30 + rng.randint(0, 30)))
    ctx.continue_as_new(job_id)
    return "still running"
'''

# one in FINDING_EVERY units carries a real mistake, reached through a helper
FINDING = '''

def _stamp_{i}() -> float:
    return time.time()


@orchestrator
async def audit_{i}(ctx: OrchestrationContext, event: dict[str, object]) -> float:
    await ctx.call_activity(notify_{i}, event)
    return _stamp_{i}()
'''
FINDING_EVERY = 20


def dense_tree(root: Path, lines: int, units_per_module: int = 6, seed: int = 7) -> int:
    """Write a generated project of about `lines` lines under `root`; returns its lines."""
    rng = random.Random(seed)
    package = root / "flows"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "shared.py").write_text(SHARED)
    written = SHARED.count("\n")
    n = unit = 0
    while written < lines:
        parts = [HEADER.format(n=n, package="flows")]
        for _ in range(units_per_module):
            parts.append(UNIT.format(i=unit, weight=rng.randint(1, 9), hours=rng.randint(1, 72)))
            if unit % FINDING_EVERY == 0:
                parts.append(FINDING.format(i=unit))
            unit += 1
        text = "".join(parts)
        (package / f"flows_{n:04d}.py").write_text(text)
        written += text.count("\n")
        n += 1
    return written


def plain_tree(root: Path, lines: int) -> int:
    """Copy standard-library modules with no orchestrator into `root`; returns their lines."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    root.mkdir(parents=True, exist_ok=True)
    written = 0
    for path in sorted(stdlib.glob("*.py")) + sorted(stdlib.glob("*/*.py")):
        if written >= lines or "site-packages" in path.parts or "test" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
            ast.parse(text)
        except (UnicodeDecodeError, SyntaxError, ValueError):
            continue
        if "orchestrator" in text:
            continue
        target = root / str(path.relative_to(stdlib)).replace(os.sep, "_")
        shutil.copyfile(path, target)
        written += text.count("\n")
    return written
