"""Checked by mypy (tests/typing/test_api_types.py): the types a user's IDE infers from
tether's authoring API. `reveal_type` lines pin inferred types; lines that must be errors
carry `# type: ignore[code]`, and `warn_unused_ignores` fails the check if one is not."""

from __future__ import annotations

from collections.abc import Callable
from typing import assert_type

from tether import OrchestrationContext, Task, activity, orchestrator
from tether.http import HttpResponse


@activity
def count_words(text: str) -> int:
    return len(text.split())


@activity
async def fetch(url: str) -> bytes:
    return url.encode()


@activity
def tick() -> float:
    return 1.0


@orchestrator
async def child(ctx: OrchestrationContext, n: int) -> list[str]:
    return [str(n)]


@orchestrator
async def no_input(ctx: OrchestrationContext) -> bool:
    return True


@orchestrator
async def typed(ctx: OrchestrationContext, text: str) -> int:
    # decorators keep the signature
    keep: Callable[[str], int] = count_words
    count_words(3)  # type: ignore[arg-type]  # (were the signature lost, this would pass)
    assert_type(keep("a b"), int)
    words = ctx.call_activity(count_words, text)
    assert_type(words, Task[int])
    assert_type(await words, int)
    assert_type(await ctx.call_activity(fetch, "u"), bytes)
    assert_type(await ctx.call_activity(tick), float)
    assert_type(await ctx.call_activity("by_name", 3), object)  # type: ignore[assert-type]
    assert_type(await ctx.call_sub_orchestrator(child, 3), list[str])
    assert_type(await ctx.call_sub_orchestrator(no_input), bool)
    both = await ctx.when_all([words, ctx.call_activity(count_words, "b")])
    assert_type(both, list[int])
    first = await ctx.when_any([words])
    assert_type(first, Task[int])
    assert_type(first.result, int)
    assert_type(first.is_completed, bool)
    assert_type(ctx.new_uuid(), str)
    assert_type(ctx.parent_instance_id, str | None)
    response = await ctx.call_http("GET", "https://example.org")
    assert_type(response, HttpResponse)
    assert_type(response.status_code, int)

    # expected errors: a wrong input type, a result used as the wrong type
    ctx.call_activity(count_words, 3)  # type: ignore[arg-type]
    x: str = await ctx.call_activity(count_words, text)  # type: ignore[arg-type]
    ctx.call_sub_orchestrator(child, "three")  # type: ignore[arg-type]
    ctx.call_activity(tick, 1)  # type: ignore[arg-type]
    return len(x)
