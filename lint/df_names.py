"""Durable Functions' names where tether deliberately differs, and the "did you mean"
line for each: one table for the compiler's error (`compiler/df_names.py`) and for
`tether lint`'s DET007 finding, so both say the same thing.

Pure data and one function: importing it costs `tether lint` nothing of the compiler.
"""

from __future__ import annotations

# Durable Functions (Python) / durabletask name -> (tether's name, how to write it)
RENAMED: dict[str, tuple[str, str]] = {
    "task_all": ("ctx.when_all", "`await ctx.when_all(tasks)`: results in task order"),
    "task_any": ("ctx.when_any", "`winner = await ctx.when_any(tasks)`: the first to finish"),
    "call_activity_with_retry": (
        "ctx.call_activity", "pass the policy as `retry=`: "
        "`await ctx.call_activity(f, input, retry=RetryPolicy(...))`"),
    "call_sub_orchestrator_with_retry": (
        "ctx.call_sub_orchestrator", "pass the policy as `retry=`: "
        "`await ctx.call_sub_orchestrator(f, input, retry=RetryPolicy(...))`"),
    "new_guid": ("ctx.new_uuid", "`ctx.new_uuid()` returns a deterministic UUID string"),
    "current_utc_date_time": ("ctx.current_utc_datetime", "a property: no call"),
    "call_activity_async": ("ctx.call_activity", "`await ctx.call_activity(f, input)`"),
    "wait_for_external_event_async": (
        "ctx.wait_for_external_event", "`await ctx.wait_for_external_event(name)`"),
}


def did_you_mean(ctx: str, attr: str) -> tuple[str, str] | None:
    """(message, hint) for `ctx.attr` when `attr` is Durable Functions' spelling of a
    name tether writes otherwise; None for any other name."""
    renamed = RENAMED.get(attr)
    if renamed is None:
        return None
    name, how = renamed
    return (f"`{ctx}.{attr}` is Durable Functions' name; "
            f"did you mean `{name.replace('ctx', ctx, 1)}`?", how)
