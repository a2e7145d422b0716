"""Checked by mypy (tests/typing/test_api_types.py): the types a user's IDE infers from
tether's authoring API. `reveal_type` lines pin inferred types; lines that must be errors
carry `# type: ignore[code]`, and `warn_unused_ignores` fails the check if one is not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, assert_type

from tether import (
    CriticalSection,
    EntityContext,
    EntityId,
    OrchestrationContext,
    Task,
    UnknownEntity,
    activity,
    entity,
    orchestrator,
)
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


@entity
class Tally:
    def __init__(self) -> None:
        self.count = 0

    def add(self, n: int) -> int:
        self.count += n
        return self.count


@entity
def flag(ctx: EntityContext) -> None:
    ctx.set_state(ctx.get_input() is not None)


@orchestrator
async def uses_entities(ctx: OrchestrationContext) -> int:
    tally = EntityId("tally", "t1")
    assert_type(tally, EntityId)
    assert_type(tally.key, str)
    call = ctx.call_entity(tally, "add", 2)
    assert_type(call, Task[Any])
    assert_type(ctx.signal_entity("@flag@f", "set", True), None)
    cs = ctx.lock_entities(tally, "@flag@f")
    assert_type(cs, CriticalSection)
    assert_type(cs.acquire(), Task[None])
    async with ctx.lock_entities(tally) as held:
        assert_type(held, CriticalSection)
    cs.release()
    ctx.signal_entity(tally, "add", 1, at="tomorrow")  # type: ignore[arg-type]
    assert issubclass(UnknownEntity, LookupError)
    n: int = await call
    return n
