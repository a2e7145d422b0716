'''DET001 wall-clock-read

## What it does
Flags reads of the current time in orchestrator code and in the helpers it calls:
`datetime.now()`, `datetime.utcnow()`, `datetime.today()`, `date.today()`,
`time.time()`, `time.monotonic()`, `time.perf_counter()` and their relatives, under
any import form or alias. Building a datetime (`datetime(2024, 1, 1)`) and date
arithmetic are not reads of the clock and are not flagged.

## Why is this bad?
After a crash, the interrupted step runs again from its last checkpoint. The clock
answers differently the second time, so the step can take another branch than the
one whose calls are already in the journal.

## Example
```python
from datetime import datetime as dt

@orchestrator
async def escalate(ctx: OrchestrationContext, ticket: str) -> None:
    if dt.now().hour >= 17:
        await ctx.call_activity(page_on_call, ticket)
```

## Use instead
```python
@orchestrator
async def escalate(ctx: OrchestrationContext, ticket: str) -> None:
    if ctx.current_utc_datetime.hour >= 17:
        await ctx.call_activity(page_on_call, ticket)
```
'''

from __future__ import annotations

import ast

from lint.rules.base import Fix, Rule, rule

CLOCK_READS = frozenset({
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today",
    "datetime.date.today",
    "time.time", "time.time_ns", "time.monotonic", "time.monotonic_ns",
    "time.perf_counter", "time.perf_counter_ns", "time.process_time", "time.process_time_ns",
    "time.thread_time", "time.thread_time_ns", "time.clock_gettime", "time.clock_gettime_ns",
    "pendulum.now", "pendulum.today", "arrow.now", "arrow.utcnow",
    "pandas.Timestamp.now", "pandas.Timestamp.utcnow", "pandas.Timestamp.today",
})
# These read the clock only when called without the time to format or convert.
CLOCK_READS_WITHOUT_ARGS = {
    "time.localtime": 0, "time.gmtime": 0, "time.ctime": 0, "time.asctime": 0,
    "time.strftime": 1,
}


@rule("DET001", "wall-clock-read", fix=Fix.NEVER)
class WallClockRead(Rule):
    message = "`{name}()` reads the wall clock in orchestrator code"
    help = "use `ctx.current_utc_datetime`, which is journaled"

    def visit_Call(self, node: ast.Call) -> None:
        name = self.qualified_name(node.func)
        if name is None:
            return
        arity = CLOCK_READS_WITHOUT_ARGS.get(name)
        if arity is not None:
            if len(node.args) + len(node.keywords) <= arity and name not in self.check.config.safe:
                self.report(node, name=name)
        elif self.listed(name, CLOCK_READS):
            self.report(node, name=name)
