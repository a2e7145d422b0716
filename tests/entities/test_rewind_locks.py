"""Rewinds and locks (issue 12, "Rewinds and locks"), on every backend: an instance that
failed inside a critical section is not rewound (`NotRewindable`, one line naming the
instance and the entities), since its locks were released when it failed (and by the
orphaned-lock release, which counts a Failed holder as ended) and others may have changed
those entities since; resuming it inside the section would run its calls without the
locks. One that failed after its section ended is rewound as before. Before the fix the
rewind was taken, and the rewound instance resumed inside its section with no lock."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.client import Client
from runtime.engine import run_inline
from runtime.rewind import NotRewindable
from tests.entities.support import load, machine, settle

PROGRAMS = '''
from tether import orchestrator


@orchestrator
async def inside(ctx, n):
    async with ctx.lock_entities("@counter@rl", "@purse@rl"):
        await ctx.call_entity("@counter@rl", "add", n)
        await ctx.call_entity("@counter@rl", "fail", n)  # raises: Failed, locks held
    return n


@orchestrator
async def after(ctx, n):
    async with ctx.lock_entities("@counter@ra"):
        await ctx.call_entity("@counter@ra", "add", n)
    await ctx.call_entity("@counter@ra", "fail", n)  # raises outside the section
    return n
'''


def test_an_instance_that_failed_inside_a_critical_section_is_not_rewound(
        stores: Any) -> None:
    _, compiled = load(PROGRAMS)
    store = stores("inside")
    assert run_inline(machine(compiled, "inside"), 1, store=store,
                      instance_id="i").status == "Failed"
    settle(store)
    with Client(store) as client:
        assert (client.entity("@counter@rl") or {})["lockedBy"] is None  # released
        with pytest.raises(NotRewindable) as info:
            client.rewind("i")
        message = str(info.value)
        assert "\n" not in message
        assert "instance i" in message and "@counter@rl" in message and "@purse@rl" in message
        assert "restart" in message
        assert client.status("i")["runtimeStatus"] == "Failed"  # nothing written
    settle(store)
    with Client(store) as client:
        assert client.entity_state("@counter@rl") == {"value": 1}


def test_an_instance_that_failed_after_its_critical_section_is_rewound(stores: Any) -> None:
    _, compiled = load(PROGRAMS)
    store = stores("after")
    assert run_inline(machine(compiled, "after"), 1, store=store,
                      instance_id="a").status == "Failed"
    with Client(store) as client:
        client.rewind("a")
        assert client.status("a")["runtimeStatus"] != "Failed"
