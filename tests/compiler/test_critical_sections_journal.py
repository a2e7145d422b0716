"""Critical sections compiled, journaled and crash-resumed (issue 12): on each backend,
a crash after journal write 1, 2, ... in turn (inside the section too) gives what the
plain `async with` run gives under `runtime.direct`, and so does the compiled machine on
the direct context. The programs read the entities under a lock at the end, so the
output shows every operation applied exactly once, and a second section after the
first shows the first was released.

Crashing after the first write of every resume ends too (it once never did: a
duplicate call's checkpoint was each resume's first write; regression 029).
"""

from __future__ import annotations

from typing import Any

import pytest

import tests.differential.harness as harness
from tests.differential.harness import (
    compiled_module,
    machine_of,
    plain_module,
    run_compiled_direct,
    run_journaled,
    run_plain,
)

SOURCE = '''
from tether import entity, orchestrator


@entity
class Account:
    def __init__(self) -> None:
        self.balance = 100

    def add(self, amount: int) -> int:
        self.balance += amount
        return self.balance

    def get(self) -> int:
        return self.balance


@orchestrator
async def transfer(ctx, amount):
    src, dst = "@account@src", "@account@dst"
    async with ctx.lock_entities(src, dst) as section:
        have = await ctx.call_entity(src, "get")
        if have < amount:
            return ["refused", have]
        await ctx.call_entity(src, "add", -amount)
        await ctx.call_entity(dst, "add", amount)
    async with ctx.lock_entities(dst, src):
        return [await ctx.call_entity(src, "get"), await ctx.call_entity(dst, "get")]


@orchestrator
async def failing(ctx, key):
    try:
        async with ctx.lock_entities(key):
            await ctx.call_entity(key, "add", 5)
            raise ValueError("inside")
    except ValueError as exc:
        caught = str(exc)
    async with ctx.lock_entities(key):
        return [caught, await ctx.call_entity(key, "get")]
'''

CASES = [("transfer", 30), ("transfer", 500), ("failing", "@account@k")]
MAX_CRASH_POINTS = 80


@pytest.fixture(scope="module")
def programs() -> tuple[Any, Any]:
    return plain_module(SOURCE), compiled_module(SOURCE)


@pytest.mark.parametrize(("orch", "value"), CASES, ids=[f"{o}-{v}" for o, v in CASES])
def test_crash_resumed_section_equals_plain(orch: str, value: Any, stores: Any,
                                            programs: tuple[Any, Any]) -> None:
    plain, compiled = programs
    expected = run_plain(plain, orch, value)
    assert expected.status == "Completed"
    assert run_compiled_direct(compiled, orch, value, (), {}) == expected
    mdef = machine_of(compiled, orch)
    tried = 0
    for crash in [None, *range(1, MAX_CRASH_POINTS + 1)]:
        got, crashes = run_journaled(mdef, value, (), {}, stores(f"crash-{crash}"), crash)
        assert got == expected, f"{orch}({value!r}): differs with a crash after write {crash}"
        tried += 1
        if crash is not None and crashes == 0:
            break  # past the last write
    # the lock, each call inside and the release are journal writes of their own
    assert tried > 8


BEFORE_THE_LOCK = """
from tether import entity, orchestrator


@entity
class Tally:
    def __init__(self) -> None:
        self.value = 0

    def add(self, amount: int) -> int:
        self.value += amount
        return self.value


@orchestrator
async def bump(ctx, n):
    await ctx.call_entity("@tally@a", "add", 100)
    async with ctx.lock_entities("@tally@a"):
        return await ctx.call_entity("@tally@a", "add", 0)
"""


def test_a_call_before_the_section_is_applied_once_whatever_write_crashes(
        stores: Any) -> None:
    # entrt once applied this call twice after a crash following journal write 2
    plain, compiled = plain_module(BEFORE_THE_LOCK), compiled_module(BEFORE_THE_LOCK)
    expected = run_plain(plain, "bump", 1)
    assert expected.output == 100
    for crash in range(1, MAX_CRASH_POINTS + 1):
        got, crashes = run_journaled(machine_of(compiled, "bump"), 1, (), {},
                                     stores(f"crash-{crash}"), crash)
        assert got == expected, f"differs with a crash after write {crash}"
        if crashes == 0:
            break


def test_runtime_crash_after_every_write_ends(stores: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # regression 029: a duplicate call's checkpoint was each resume's first write
    monkeypatch.setattr(harness, "MAX_RESUMES", 100)
    plain, compiled = plain_module(BEFORE_THE_LOCK), compiled_module(BEFORE_THE_LOCK)
    got, crashes = run_journaled(machine_of(compiled, "bump"), 1, (), {}, stores("s"), 1,
                                 every_time=True)
    assert crashes > 0
    assert got == run_plain(plain, "bump", 1)
