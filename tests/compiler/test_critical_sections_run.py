"""Critical sections run compiled exactly as plain `async with` runs (issue 12): both
under `runtime.direct`, the compiled machine with its frame saved and restored through
the frame codec at every suspension, the entities in memory. Outputs, errors and the
entities' final states must match; a second section after each way of leaving the first
proves the first was released (acquiring while holding is a locking-rule error)."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.direct import DirectResult, run_direct
from tests.compiler.eager import compile_module, machine_of, plain_module

SOURCE = '''
from tether import entity, orchestrator


@entity
class Account:
    def __init__(self) -> None:
        self.balance = 0

    def add(self, amount: int) -> int:
        if self.balance + amount < 0:
            raise ValueError(f"overdrawn by {-(self.balance + amount)}")
        self.balance += amount
        return self.balance

    def get(self) -> int:
        return self.balance


@orchestrator
async def transfer(ctx, req):
    src, dst = req["src"], req["dst"]
    async with ctx.lock_entities(src, dst) as section:
        have = await ctx.call_entity(src, "get")
        if have < req["amount"]:
            return f"refused: {have}"
        await ctx.call_entity(src, "add", -req["amount"])
        await ctx.call_entity(dst, "add", req["amount"])
    ctx.signal_entity(dst, "add", 0)
    async with ctx.lock_entities(src):  # the first section was released
        return [await ctx.call_entity(src, "get"), repr(section)]


@orchestrator
async def sweep(ctx, keys):
    total = 0
    for key in keys:
        async with ctx.lock_entities(key):
            if key.endswith("skip"):
                continue
            total += await ctx.call_entity(key, "add", 10)
            if total > 25:
                break
    async with ctx.lock_entities(*keys):
        return [total] + [await ctx.call_entity(k, "get") for k in keys]


@orchestrator
async def failing(ctx, req):
    key = req["key"]
    try:
        async with ctx.lock_entities(key):
            await ctx.call_entity(key, "add", req["amount"])
            if req["raise"]:
                raise KeyError(req["raise"])
    except Exception as exc:
        caught = f"{type(exc).__name__}: {exc}"
    else:
        caught = None
    async with ctx.lock_entities(key):
        return [caught, await ctx.call_entity(key, "get")]


@orchestrator
async def corners(ctx, key):
    seen = []
    try:
        await ctx.call_entity(key, "add", -10_000)
    except Exception:
        async with ctx.lock_entities(key) as held:  # a section inside an `except`
            seen.append(await ctx.call_entity(key, "get"))
            try:
                await ctx.call_entity(key, "add", -10_000)
            except Exception as exc:
                seen.append(type(exc).__name__)
    finally:
        async with ctx.lock_entities(key):  # and one inside a `finally`
            seen.append(await ctx.call_entity(key, "add", 1))
    while True:
        async with ctx.lock_entities(key):
            for i in range(3):  # a plain loop returning through the section's finally
                if i == 1:
                    return seen + [i, repr(held)]
            await ctx.call_entity(key, "add", 1)


@orchestrator
async def escapes(ctx, key):
    async with ctx.lock_entities(key):
        await ctx.call_entity(key, "add", -5)
'''

# orchestrator -> inputs; `seed` deposits are applied first (the same in both runs)
RUNS: dict[str, list[Any]] = {
    "transfer": [{"src": "@account@a", "dst": "@account@b", "amount": 30},
                 {"src": "@account@a", "dst": "@account@b", "amount": 500},
                 {"src": "@Account@b", "dst": "@account@a", "amount": 0}],
    "sweep": [["@account@skip", "@account@b", "@account@c", "@account@a", "@account@d"],
              ["@account@z"]],
    "failing": [{"key": "@account@a", "amount": 5, "raise": "boom"},
                {"key": "@account@a", "amount": -1000, "raise": None},
                {"key": "@account@a", "amount": 1, "raise": None}],
    "escapes": ["@account@a", "@account@empty"],
    "corners": ["@account@a"],
}


def seeded_run(target: Any, value: Any) -> DirectResult:
    from runtime.entities.direct import DirectEntities

    store = DirectEntities()
    store.call("@account@a", "add", 100)
    return run_direct(target, value, entities=store)


def summary(result: DirectResult) -> tuple[Any, ...]:
    return (result.status, result.output, result.error, result.entities)


@pytest.fixture(scope="module")
def modules() -> tuple[Any, Any]:
    return plain_module(SOURCE), compile_module(SOURCE)


@pytest.mark.parametrize("orch", sorted(RUNS))
def test_compiled_section_runs_as_plain_async_with(orch: str, modules: tuple[Any, Any]) -> None:
    plain, compiled = modules
    for value in RUNS[orch]:
        expected = seeded_run(getattr(plain, orch), value)
        got = seeded_run(machine_of(compiled, orch), value)
        assert summary(got) == summary(expected), (
            f"input {value!r}:\n plain    {expected}\n compiled {got}")
        assert expected.status in ("Completed", "Failed")


def test_the_runs_reach_what_they_are_meant_to(modules: tuple[Any, Any]) -> None:
    # guards the differential test against both sides failing the same boring way
    plain, _ = modules
    done = seeded_run(plain.transfer, RUNS["transfer"][0])
    assert done.output[0] == 70 and done.entities["@account@b"] == {"balance": 30}
    assert seeded_run(plain.transfer, RUNS["transfer"][1]).output == "refused: 100"
    # continue (skip), two adds, then break at a (its balance returned is 110)
    assert seeded_run(plain.sweep, RUNS["sweep"][0]).output == [130, 0, 10, 10, 110, 0]
    failed = seeded_run(plain.failing, RUNS["failing"][0])
    assert failed.output == ["KeyError: 'boom'", 105]
    assert seeded_run(plain.failing, RUNS["failing"][1]).output[0].startswith("TaskFailedError")
    assert seeded_run(plain.escapes, "@account@empty").status == "Failed"
    assert seeded_run(plain.corners, "@account@a").output[:3] == [100, "TaskFailedError", 101]
