'''DET100 unused-suppression

## What it does
Flags a suppression comment (`# tether: ignore[...]` or `# noqa: DET...`) in checked
code that suppresses nothing: a code that was not reported on its line, a code that is
not one of tether's rules, or a bare `# tether: ignore` that names no code at all. It
is ruff's RUF100 for tether's codes.

A comment is judged only where the linter looked: inside an orchestrator, or inside a
helper one of the linted orchestrators reaches, and only for the codes that run there
(selected, and not ignored for that file). A helper that no linted orchestrator
reaches may be reached from a file not linted this time, so its comments are not judged.

## Why is this bad?
A suppression outlives the code it was written for. Once the clock read it excused
is gone, it silently excuses the next one anybody writes on that line, and readers
take it for a warning that no longer applies. A misspelt code (`DET01`) or a bare
`# tether: ignore` looks like a suppression and suppresses nothing.

## Example
```python
@orchestrator
async def report(ctx: OrchestrationContext, day: str) -> str:
    stamp = ctx.current_utc_datetime  # tether: ignore[DET001]
    return await ctx.call_activity(build_report, {"day": day, "at": stamp.isoformat()})
```

## Use instead
```python
@orchestrator
async def report(ctx: OrchestrationContext, day: str) -> str:
    stamp = ctx.current_utc_datetime
    return await ctx.call_activity(build_report, {"day": day, "at": stamp.isoformat()})
```
Turn the rule off with `--ignore DET100` (or `ignore = ["DET100"]` in `[tool.tether]`).
'''

from __future__ import annotations

from lint.names import FunctionNode
from lint.rules.base import Fix, Rule, rule
from lint.suppressions import Suppression

CODE = "DET100"


@rule(CODE, "unused-suppression", fix=Fix.NEVER)
class UnusedSuppression(Rule):
    message = "`{directive}` suppresses nothing ({why})"
    help = "remove the comment, or the codes in it that no longer apply"

    def finish(self, fn: FunctionNode) -> None:
        from lint.registry import BY_CODE

        module = self.check.module
        if not module.suppressions:
            return
        config = self.check.config
        used = self.check.used_suppressions
        last = fn.end_lineno or fn.lineno
        for line, suppression in module.suppressions.items():
            if not fn.lineno <= line <= last:
                continue
            if not suppression.codes:
                self._flag(suppression, "it names no code")
                continue
            unknown = [c for c in suppression.codes if c not in BY_CODE]
            unused = [c for c in suppression.codes
                      if c in BY_CODE and c != CODE and (line, c) not in used
                      and config.enabled_for(c, module.path)]
            parts = []
            if unused:
                parts.append(f"unused: {', '.join(unused)}")
            if unknown:
                parts.append(f"unknown: {', '.join(unknown)}")
            if parts:
                self._flag(suppression, "; ".join(parts))

    def _flag(self, where: Suppression, why: str) -> None:
        span = (where.line, where.col, where.line, where.end_col)
        self.check.report_at(self, span, self.message.format(directive=where.text, why=why),
                             self.help)
