"""Differential tests against the reference model (`runtime.direct`'s in-memory entities:
every entity a value, operations applied in delivery order): generated orchestrations
that call, signal and lock, run journaled with a crash after a random journal write, on
every backend; entity states and outputs must equal the model's.

- one orchestration: everything it does is ordered, so outputs and states are compared
  exactly;
- several at once, contending for the same entities: each critical section is a
  read-modify-write, so a lock that let two in would lose an increment; the model is the
  sum of what was sent, and the purses' total is conserved;
- rewinds: an orchestration whose activity fails (alone, or awaited together with an
  entity call), rewound once the activity works and run on: the same states and output as the model, where
  the activity never failed (each entity operation applied once, the rewind re-runs
  the activity only);
- ids used twice: rounds of orchestrations run one after the other under one instance
  id, purged between rounds, with the entities left without state (`delete`) removed by
  `clean_entities` between rounds or not: each round's instance, and each entity
  created again, is a new sender, whose messages must be applied, not dropped as
  repeats of the earlier one's (runtime.entities.senders); and an entity removed and
  created again drops what the removed one applied when a sender re-sends it
  (runtime.entities.tombstones).
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from runtime.backends import open_backend
from runtime.client import Client
from runtime.clock import VirtualClock, iso
from runtime.direct import run_direct
from runtime.engine import Engine, SimulatedCrash, create_instance, run_inline
from runtime.entities.direct import DirectEntities
from tests.entities.support import MAX_RESUMES, load, machine, run_journaled, settle, states
from tests.entities.support import with_state as stated

COUNTERS = ["@counter@a", "@counter@b", "@counter@c"]
_stores = itertools.count()
PURSES = ["@purse@p", "@purse@q", "@purse@r"]

ops = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(COUNTERS), st.integers(-5, 5)),
    st.tuples(st.just("signal"), st.sampled_from(COUNTERS), st.integers(-5, 5)),
    st.tuples(st.just("fail"), st.sampled_from(COUNTERS), st.integers(1, 5)),
    st.tuples(st.just("forward"), st.sampled_from(COUNTERS), st.sampled_from(COUNTERS),
              st.integers(1, 5)),
    st.tuples(st.just("fanout"), st.lists(st.sampled_from(COUNTERS), min_size=1, max_size=3,
                                          unique=True), st.integers(1, 3)),
    st.tuples(st.just("transfer"), st.lists(st.sampled_from(PURSES), min_size=2, max_size=2,
                                            unique=True), st.integers(1, 20)),
    st.tuples(st.just("delete"), st.sampled_from(COUNTERS)),
)


def render(program: list[tuple[Any, ...]], *, flaky_at: int | None = None,
           flaky_with: str | None = None) -> str:
    """The orchestration `prog` doing `program`'s steps, as source; with `flaky_at`, the
    activity `flaky` is awaited before step `flaky_at` (or at the end), alone or, with
    `flaky_with`, in a `when_all` with a call of that entity."""
    lines = ["from tether import orchestrator, OrchestrationContext, TaskFailedError", "",
             "@orchestrator", "async def prog(ctx: OrchestrationContext) -> list:",
             "    out = []"]
    for n, op in enumerate([*program, ("end",)]):
        if n == flaky_at:
            if flaky_with is None:
                lines += ["    out.append(await ctx.call_activity('flaky', 0))"]
            else:
                lines += [f"    t = ctx.when_all([ctx.call_entity({flaky_with!r}, 'add', 7), "
                          "ctx.call_activity('flaky', 0)])", "    out.append(await t)"]
        kind = op[0]
        if kind == "end":
            break
        if kind == "add":
            lines += [f"    t = ctx.call_entity({op[1]!r}, 'add', {op[2]})", "    out.append(await t)"]
        elif kind == "signal":
            lines += [f"    ctx.signal_entity({op[1]!r}, 'add', {op[2]})"]
        elif kind == "fail":
            lines += [f"    t = ctx.call_entity({op[1]!r}, 'fail', {op[2]})", "    try:",
                      "        await t", "    except TaskFailedError as exc:",
                      "        out.append(exc.error_type)"]
        elif kind == "delete":
            lines += [f"    t = ctx.call_entity({op[1]!r}, 'delete')", "    await t"]
        elif kind == "forward":
            lines += [f"    t = ctx.call_entity({op[1]!r}, 'forward', "
                      f"{{'to': {op[2]!r}, 'amount': {op[3]}}})", "    await t"]
        elif kind == "fanout":
            calls = ", ".join(f"ctx.call_entity({e!r}, 'add', {op[2]})" for e in op[1])
            lines += [f"    t = ctx.when_all([{calls}])", "    out.append(await t)"]
        else:
            a, b = op[1]
            lines += [f"    cs = ctx.lock_entities({a!r}, {b!r})", "    t = cs.acquire()",
                      "    await t", "    try:",
                      f"        t = ctx.call_entity({a!r}, 'balance')", "        have = await t",
                      f"        w = ctx.call_entity({a!r}, 'deposit', -min(have, {op[2]}))",
                      f"        d = ctx.call_entity({b!r}, 'deposit', min(have, {op[2]}))",
                      "        out.append(await ctx.when_all([w, d]))", "    finally:",
                      "        cs.release()"]
    lines += ["    return out", ""]
    return "\n".join(lines)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # a shrink costs minutes
@given(program=st.lists(ops, min_size=1, max_size=6), crash=st.integers(1, 40))
def test_one_orchestration_equals_the_model(stores: Any, program: list[tuple[Any, ...]],
                                            crash: int) -> None:
    plain, compiled = load(render(program))
    expected = run_direct(plain.prog)
    assert expected.status == "Completed", expected.error
    store = stores(f"d{abs(hash((repr(program), crash)))}")
    got, _ = run_journaled(machine(compiled, "prog"), None, store, crash)
    assert got == ("Completed", expected.output, None), render(program)
    assert states(store) == stated(expected.entities), render(program)


CONTENDED = '''
from tether import orchestrator, OrchestrationContext

@orchestrator
async def worker(ctx: OrchestrationContext, plan: list) -> int:
    done = 0
    for counter, src, dst, amount in plan:
        cs = ctx.lock_entities(counter, src, dst)
        t = cs.acquire()
        await t
        try:
            t = ctx.call_entity(counter, "get")
            value = await t
            t = ctx.call_entity(counter, "set", value + 1)
            await t
            w = ctx.call_entity(src, "deposit", -amount)
            d = ctx.call_entity(dst, "deposit", amount)
            await ctx.when_all([w, d])
        finally:
            cs.release()
        ctx.signal_entity(counter, "add", 10)
        done += 1
    return done
'''


def run_many(store: str, mdef: Any, inputs: list[Any], crash_after: int | None) -> list[str]:
    """Start one instance per input and run them together in one engine, crashing once
    after `crash_after` writes; then settle. Returns their statuses."""
    ids = [f"w{i}" for i in range(len(inputs))]
    backend = open_backend(store)
    backend.ensure()
    clock = VirtualClock()
    for instance_id, value in zip(ids, inputs, strict=True):
        create_instance(backend, mdef, value, instance_id, iso(clock.now()))
    backend.close()
    crash = crash_after
    for _ in range(MAX_RESUMES):
        backend = open_backend(store)
        engine = Engine(backend, clock=VirtualClock(), crash_after_writes=crash,
                        machines=lambda name: mdef if name == mdef.name else None)
        try:
            for instance_id in ids:
                engine.adopt(instance_id, blocking=True)
            finished = engine.run(lambda e=engine: all(e.instances[i].ended for i in ids))
            assert finished, "the orchestrations got stuck (a lock never granted?)"
            statuses = [engine.instances[i].status for i in ids]
            break
        except SimulatedCrash:
            crash = None
        finally:
            engine.close(wait=False)
            backend.close()
    else:
        raise AssertionError("no end")
    settle(store)
    return statuses


plans = st.lists(st.tuples(st.sampled_from(COUNTERS[:2]), st.sampled_from(PURSES),
                           st.sampled_from(PURSES), st.integers(1, 9)).filter(
                               lambda p: p[1] != p[2]).map(list), min_size=1, max_size=3)


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # a shrink costs minutes
@given(inputs=st.lists(plans, min_size=2, max_size=3), crash=st.integers(1, 60))
# Once stuck: after the crash, w1 resumed without its grant and asked @counter@a again,
# which dropped the repeat; the forward to @purse@q, posted before the crash, was never
# run by the resumed engine. Now the holder's repeat re-sends the grant or forward.
@example(inputs=[[["@counter@a", "@purse@r", "@purse@p", 2]],
                 [["@counter@a", "@purse@q", "@purse@p", 2]],
                 [["@counter@b", "@purse@r", "@purse@p", 8], ["@counter@b", "@purse@r", "@purse@p", 3],
                  ["@counter@b", "@purse@p", "@purse@r", 1]]], crash=41)
def test_contending_orchestrations_equal_the_model(stores: Any, inputs: list[Any],
                                                   crash: int) -> None:
    plain, compiled = load(CONTENDED)
    model = DirectEntities()  # the model: each orchestration's operations, in turn
    for plan in inputs:
        assert run_direct(plain.worker, plan, entities=model).output == len(plan)
    model.flush()
    store = stores(f"m{abs(hash((repr(inputs), crash)))}")
    statuses = run_many(store, machine(compiled, "worker"), inputs, crash)
    assert statuses == ["Completed"] * len(inputs)
    got = states(store)
    assert got == stated(model.states())
    sends = [p for plan in inputs for p in plan]
    for counter in COUNTERS[:2]:
        n = sum(1 for p in sends if p[0] == counter)
        assert got.get(counter, {"value": 0}) == {"value": 11 * n} or n == 0
    assert sum(got.get(p, 100) for p in PURSES) == 100 * len(PURSES)


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # a shrink costs minutes
@given(rounds=st.lists(st.lists(ops, min_size=1, max_size=4), min_size=2, max_size=3),
       crash=st.integers(1, 40), clean=st.booleans())
# Once lost: the second round's instance (the id purged and created again) had task ids
# from 0 again, and @counter@a dropped its call as a repeat of the first round's, so the
# call never returned. A sender's identity now carries its instance's incarnation.
@example(rounds=[[("add", "@counter@a", 1)], [("add", "@counter@a", 2)]], crash=1, clean=False)
# Once lost: @counter@b, deleted and removed by the clean, was created again by the
# second round and its forward (seq 0 again) dropped by @counter@c as a repeat.
@example(rounds=[[("forward", "@counter@b", "@counter@c", 1), ("delete", "@counter@b")],
                 [("forward", "@counter@b", "@counter@c", 2)]], crash=40, clean=True)
# Once applied twice: @counter@b forwarded to @counter@c, which was deleted and removed
# by the clean; adopted again, @counter@b re-sent its last batch's forward, and the @c
# created again applied it. The removal now keeps @c's memory of its senders (its
# tombstone: runtime.entities.tombstones), and the new @c drops the repeat.
@example(rounds=[[("forward", "@counter@b", "@counter@c", 5), ("delete", "@counter@c")],
                 [("add", "@counter@b", 1)]], crash=40, clean=True)
def test_rounds_under_one_id_equal_the_model(stores: Any, rounds: list[list[tuple[Any, ...]]],
                                             crash: int, clean: bool) -> None:
    model = DirectEntities()  # one model across the rounds: the entities live on
    store = stores(f"r{next(_stores)}")  # a replay of a failing example starts afresh
    for program in rounds:
        plain, compiled = load(render(program))
        expected = run_direct(plain.prog, entities=model)
        assert expected.status == "Completed", expected.error
        got, _ = run_journaled(machine(compiled, "prog"), None, store, crash)
        assert got == ("Completed", expected.output, None), render(program)
        with Client(store) as client:
            client.purge("orch")  # the id is free for the next round
            if clean:
                client.clean_entities()
    assert states(store) == stated(model.states()), [render(p) for p in rounds]


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # a shrink costs minutes
@given(program=st.lists(ops, min_size=0, max_size=4), at=st.integers(0, 4),
       flaky_with=st.one_of(st.none(), st.sampled_from(COUNTERS)), crash=st.integers(1, 40))
def test_a_rewound_orchestration_equals_the_model(stores: Any, program: list[tuple[Any, ...]],
                                                  at: int, flaky_with: str | None,
                                                  crash: int) -> None:
    source = render(program, flaky_at=min(at, len(program)), flaky_with=flaky_with)
    plain, compiled = load(source)
    expected = run_direct(plain.prog, activities={"flaky": lambda _: 0})
    assert expected.status == "Completed", expected.error
    down = [True]

    def flaky(_: Any) -> int:  # fails until the outage is over, just before the rewind
        if down[0]:
            raise RuntimeError("down")
        return 0

    store = stores(f"w{next(_stores)}")
    mdef = machine(compiled, "prog")
    crashes = crash
    for _ in range(MAX_RESUMES):  # to the failure, crashing once on the way
        try:
            first = run_inline(mdef, None, store=store, instance_id="orch",
                               activities={"flaky": flaky}, crash_after_writes=crashes)
            break
        except SimulatedCrash:
            crashes = None
    assert first.status == "Failed", (first.status, source)
    settle(store)
    down[0] = False
    with Client(store) as client:
        client.rewind("orch")
    again = run_inline(mdef, None, store=store, instance_id="orch", activities={"flaky": flaky})
    settle(store)
    assert (again.status, again.output) == ("Completed", expected.output), source
    assert states(store) == stated(expected.entities), source
