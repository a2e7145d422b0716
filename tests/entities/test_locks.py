"""Critical sections release their locks on every exit, on every backend, and the
locking rules fail the orchestration with the rule's name (runtime checks)."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.client import Client
from runtime.direct import run_direct
from runtime.engine import run_inline
from tests.entities.support import (
    load,
    locked,
    machine,
    run_journaled,
    settle,
    states,
    with_state,
)

IDS = ["@counter@l1", "@counter@l2"]

EXITS = '''
from tether import orchestrator, OrchestrationContext

@orchestrator
async def normal(ctx: OrchestrationContext) -> int:
    cs = ctx.lock_entities("@counter@l2", "@counter@l1")
    a = cs.acquire()
    await a
    try:
        t = ctx.call_entity("@counter@l1", "add", 1)
        v = await t
    finally:
        cs.release()
    return v

@orchestrator
async def raises(ctx: OrchestrationContext) -> int:
    cs = ctx.lock_entities("@counter@l1", "@counter@l2")
    a = cs.acquire()
    await a
    try:
        t = ctx.call_entity("@counter@l1", "add", 1)
        await t
        raise RuntimeError("boom")
    finally:
        cs.release()

@orchestrator
async def returns_inside(ctx: OrchestrationContext) -> int:
    cs = ctx.lock_entities("@counter@l1", "@counter@l2")
    a = cs.acquire()
    await a
    try:
        t = ctx.call_entity("@counter@l2", "add", 1)
        return await t
    finally:
        cs.release()

@orchestrator
async def breaks_inside(ctx: OrchestrationContext) -> int:
    n = 0
    for i in range(3):
        cs = ctx.lock_entities("@counter@l1", "@counter@l2")
        a = cs.acquire()
        await a
        try:
            t = ctx.call_entity("@counter@l1", "add", 1)
            n = await t
            if i == 1:
                break
        finally:
            cs.release()
    return n

@orchestrator
async def never_releases(ctx: OrchestrationContext) -> int:
    cs = ctx.lock_entities("@counter@l1", "@counter@l2")
    a = cs.acquire()
    await a
    t = ctx.call_entity("@counter@l1", "add", 1)
    return await t

@orchestrator
async def fails_holding(ctx: OrchestrationContext) -> int:
    cs = ctx.lock_entities("@counter@l1", "@counter@l2")
    a = cs.acquire()
    await a
    t = ctx.call_entity("@counter@l1", "fail", 1)
    return await t

@orchestrator
async def continues_holding(ctx: OrchestrationContext, round: int) -> int:
    cs = ctx.lock_entities("@counter@l1", "@counter@l2")
    a = cs.acquire()
    await a
    t = ctx.call_entity("@counter@l1", "add", 1)
    v = await t
    if round == 0:
        ctx.continue_as_new(1)  # still holding: the next generation locks them again
    return v

@orchestrator
async def waits_holding(ctx: OrchestrationContext) -> int:
    cs = ctx.lock_entities("@counter@l1", "@counter@l2")
    a = cs.acquire()
    await a
    e = ctx.wait_for_external_event("never")
    await e
    return 0

@orchestrator
async def after(ctx: OrchestrationContext) -> int:
    cs = ctx.lock_entities("@counter@l1", "@counter@l2")
    a = cs.acquire()
    await a
    try:
        t = ctx.call_entity("@counter@l2", "get")
        return await t
    finally:
        cs.release()
'''

CASES = [("normal", None, "Completed"), ("raises", None, "Failed"),
         ("returns_inside", None, "Completed"), ("breaks_inside", None, "Completed"),
         ("never_releases", None, "Completed"), ("fails_holding", None, "Failed"),
         ("continues_holding", 0, "Completed")]


@pytest.mark.parametrize(("name", "input", "status"), CASES, ids=[c[0] for c in CASES])
def test_locks_are_released_on_every_exit(stores: Any, name: str, input: Any,
                                          status: str) -> None:
    plain, compiled = load(EXITS)
    expected = run_direct(getattr(plain, name), input)
    store = stores(name)
    got, _ = run_journaled(machine(compiled, name), input, store, None)
    assert got[0] == status == expected.status
    assert got[1] == expected.output
    assert locked(store, IDS) == {i: None for i in IDS}
    assert states(store) == with_state(expected.entities)
    # another orchestration can take both locks (it would be stuck behind a leftover one)
    again, _ = run_journaled(machine(compiled, "after"), None, store, None, instance_id="after")
    assert again[0] == "Completed"


def test_terminate_releases_the_locks(stores: Any) -> None:
    _, compiled = load(EXITS)
    store = stores("t")
    result = run_inline(machine(compiled, "waits_holding"), None, store=store, instance_id="w")
    assert result.status == "Stuck"
    settle(store)
    assert set(locked(store, IDS).values()) == {"w"}
    with Client(store) as client:
        client.terminate("w")
        assert client.status("w")["runtimeStatus"] == "Terminated"
    settle(store)
    assert locked(store, IDS) == {i: None for i in IDS}


def test_an_orphaned_lock_is_released_by_clean_entities(stores: Any) -> None:
    _, compiled = load(EXITS)
    store = stores("o")
    run_inline(machine(compiled, "waits_holding"), None, store=store, instance_id="w")
    settle(store)
    with Client(store) as client:
        client.backend.purge("w")  # the holder goes away without ending (purged by force)
        assert client.clean_entities() == {"removedEmpty": 0, "releasedLocks": 2}
    settle(store)
    assert locked(store, IDS) == {i: None for i in IDS}


RULES = '''
from tether import orchestrator, OrchestrationContext

@orchestrator
async def nested(ctx: OrchestrationContext) -> None:
    cs = ctx.lock_entities("@counter@r1")
    a = cs.acquire()
    await a
    inner = ctx.lock_entities("@counter@r2")
    b = inner.acquire()
    await b

@orchestrator
async def call_unlocked(ctx: OrchestrationContext) -> None:
    cs = ctx.lock_entities("@counter@r1")
    a = cs.acquire()
    await a
    t = ctx.call_entity("@counter@r2", "get")
    await t

@orchestrator
async def call_before_granted(ctx: OrchestrationContext) -> None:
    cs = ctx.lock_entities("@counter@r1")
    a = cs.acquire()
    t = ctx.call_entity("@counter@r1", "get")
    await t

@orchestrator
async def signal_locked(ctx: OrchestrationContext) -> None:
    cs = ctx.lock_entities("@counter@r1")
    a = cs.acquire()
    await a
    ctx.signal_entity("@counter@r1", "add", 1)

@orchestrator
async def sub_inside(ctx: OrchestrationContext) -> None:
    cs = ctx.lock_entities("@counter@r1")
    a = cs.acquire()
    await a
    t = ctx.call_sub_orchestrator("nested")
    await t

@orchestrator
async def parallel_calls(ctx: OrchestrationContext) -> None:
    cs = ctx.lock_entities("@counter@r1")
    a = cs.acquire()
    await a
    x = ctx.call_entity("@counter@r1", "get")
    y = ctx.call_entity("@counter@r1", "get")
    await ctx.when_all([x, y])
'''

RULE_CASES = [("nested", "nested"), ("call_unlocked", "call-unlocked"),
              ("call_before_granted", "call-unlocked"), ("signal_locked", "signal-locked"),
              ("sub_inside", "sub-orchestration"), ("parallel_calls", "parallel-calls")]


@pytest.mark.parametrize(("name", "rule"), RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_a_broken_locking_rule_fails_the_orchestration(stores: Any, name: str,
                                                       rule: str) -> None:
    plain, compiled = load(RULES)
    expected = run_direct(getattr(plain, name))
    assert expected.status == "Failed"
    assert expected.error is not None and expected.error[0] == "LockingRuleError"
    assert expected.error[1].startswith(f"locking rule {rule}: ")
    store = stores(name)
    got, _ = run_journaled(machine(compiled, name), None, store, None)
    assert got == ("Failed", None, expected.error)
    assert locked(store, ["@counter@r1"]) == {"@counter@r1": None}  # released on failure
