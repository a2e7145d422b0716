"""Orchestrations calling, signalling and locking entities on the journal runtime, on
every backend, compared with the plain run (`runtime.direct`'s in-memory entities)."""

from __future__ import annotations

from typing import Any

from runtime.direct import run_direct
from tests.entities.support import load, machine, run_journaled, states, with_state

PROGRAM = '''
from tether import orchestrator, OrchestrationContext, TaskFailedError

@orchestrator
async def bank(ctx: OrchestrationContext, n: int) -> list:
    out = []
    ctx.signal_entity("@counter@a", "add", 100)
    for i in range(n):
        t = ctx.call_entity("@counter@a", "add", i)
        out.append(await t)
    t = ctx.call_entity("@counter@a", "fail", 1000)
    try:
        await t
    except TaskFailedError as exc:
        out.append([exc.error_type, exc.message])
    cs = ctx.lock_entities("@purse@y", "@purse@x")
    acquiring = cs.acquire()
    await acquiring
    try:
        t = ctx.call_entity("@purse@x", "balance")
        balance = await t
        w = ctx.call_entity("@purse@x", "deposit", -balance // 2)
        d = ctx.call_entity("@purse@y", "deposit", balance // 2)
        await ctx.when_all([w, d])
    finally:
        cs.release()
    t = ctx.call_entity("@counter@a", "forward", {"to": "@counter@b", "amount": 7})
    await t
    t = ctx.call_entity("@counter@b", "get")
    out.append(await t)
    ctx.signal_entity("@counter@c", "add", 1)
    return out
'''


def test_calls_signals_and_a_lock_match_the_plain_run(stores: Any) -> None:
    plain, compiled = load(PROGRAM)
    expected = run_direct(plain.bank, 3)
    assert expected.status == "Completed"
    assert expected.output[:4] == [100, 101, 103, ["ValueError", "refused 1000"]]
    store = stores("s")
    got, _ = run_journaled(machine(compiled, "bank"), 3, store, None)
    assert got == ("Completed", expected.output, None)
    assert states(store) == with_state(expected.entities)
    assert expected.entities["@purse@x"] == 50 and expected.entities["@purse@y"] == 150
    assert expected.entities["@counter@a"] == {"value": 104}  # fail rolled back
    assert expected.entities["@counter@b"] == {"value": 7}


def test_every_crash_point_gives_the_plain_run(stores: Any) -> None:
    plain, compiled = load(PROGRAM)
    expected = run_direct(plain.bank, 2)
    mdef = machine(compiled, "bank")
    for crash in range(1, 200):
        store = stores(f"c{crash}")
        got, crashes = run_journaled(mdef, 2, store, crash)
        assert got == ("Completed", expected.output, None), f"crash after write {crash}"
        assert states(store) == with_state(expected.entities), f"crash after write {crash}"
        if crashes == 0:
            break
    else:
        raise AssertionError("the run never ended before its crash point")
