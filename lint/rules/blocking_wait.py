'''DET005 blocking-wait

## What it does
Flags waiting and concurrency that the journal does not see, in orchestrator code and
in the helpers it calls: `time.sleep()`, anything called from `asyncio`, `threading`,
`_thread`, `concurrent.futures` and `multiprocessing`. Naming their exception types
(`except asyncio.TimeoutError:`) is not a call and is not flagged.

## Why is this bad?
`time.sleep()` blocks the worker, and its wait is lost on a crash: the restarted step
sleeps the whole time again. Threads, processes and event-loop tasks run outside the
orchestration's single deterministic thread of control: their interleaving differs
from run to run and nothing of what they did is journaled.

## Example
```python
import asyncio, time

@orchestrator
async def reminder(ctx: OrchestrationContext, user: str) -> None:
    time.sleep(3600)
    await ctx.call_activity(send_reminder, user)
```

## Use instead
```python
from datetime import timedelta

@orchestrator
async def reminder(ctx: OrchestrationContext, user: str) -> None:
    await ctx.sleep(timedelta(hours=1))  # a durable timer: survives restarts
    await ctx.call_activity(send_reminder, user)
```
For concurrency, start several tasks and `await ctx.when_all(tasks)` or `ctx.when_any`.
'''

from __future__ import annotations

import ast

from lint.rules.base import Fix, Rule, rule

BLOCKING_CALLS = frozenset({"time.sleep", "os.wait", "os.waitpid", "os.fork", "signal.pause"})
CONCURRENCY_MODULES = (
    "asyncio.", "threading.", "_thread.", "concurrent.futures.", "multiprocessing.",
)


@rule("DET005", "blocking-wait", fix=Fix.NEVER)
class BlockingWait(Rule):
    message = "`{name}()` waits or runs work outside the journal"
    help = ("wait with `ctx.sleep`/`ctx.create_timer`; run work concurrently with "
            "`ctx.when_all`/`ctx.when_any`")

    def visit_Call(self, node: ast.Call) -> None:
        name = self.qualified_name(node.func)
        if self.listed(name, BLOCKING_CALLS, CONCURRENCY_MODULES):
            self.report(node, name=str(name))
