"""The entity scheduler's guarantees, checked on generated message streams.

Senders (orchestrations, entities, clients) send operations; some messages arrive twice
(resends after a crash); orchestrations take and release locks. Whatever the
interleaving and however arrivals are cut into batches: every distinct operation is
applied once, each sender's operations in its order, and while a lock is held only its
holder's operations run.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.entities.scheduler import Message, Outgoing, Scheduler, step

ME = "@counter@c"


@st.composite
def scenarios(draw: Any) -> tuple[list[Message], list[int]]:
    """An arrival sequence (with duplicates) and the batch sizes it is cut into."""
    streams: list[list[Message]] = []
    for s in range(draw(st.integers(1, 4))):
        sender = f"orch{s}:0"
        n = draw(st.integers(0, 6))
        locked = draw(st.booleans())
        msgs: list[Message] = []
        seq = 0
        if locked:
            msgs.append(Message("lock", sender, seq, request=f"{sender}:{seq}",
                                entities=(ME,), reply_to={"instance": f"orch{s}", "task": seq}))
            seq += 1
        for _ in range(n):
            msgs.append(Message("op", sender, seq, operation="add", input=seq))
            seq += 1
        if locked:
            msgs.append(Message("unlock", sender, seq, request=f"{sender}:0"))
        streams.append(msgs)
    client_ops = [Message("op", "client", key=f"k{i}", operation="add", input=i)
                  for i in range(draw(st.integers(0, 4)))]
    streams.append(client_ops)
    # interleave the streams, each in its own order
    arrival: list[Message] = []
    cursors = [0] * len(streams)
    while any(c < len(s) for c, s in zip(cursors, streams, strict=True)):
        live = [i for i, s in enumerate(streams) if cursors[i] < len(s)]
        i = draw(st.sampled_from(live))
        arrival.append(streams[i][cursors[i]])
        cursors[i] += 1
        if arrival and draw(st.integers(0, 4)) == 0:  # a resend of something already sent
            arrival.append(draw(st.sampled_from(arrival)))
    cuts = draw(st.lists(st.integers(1, 5), max_size=len(arrival)))
    return arrival, cuts


def run(arrival: list[Message], cuts: list[int]) -> tuple[Scheduler, list[Message]]:
    """Deliver `arrival` cut into batches of the sizes `cuts` (then the rest), the
    scheduler going through its JSON form between batches as it does through a journal."""
    sched = Scheduler()
    applied: list[Message] = []
    i = 0
    for size in [*cuts, len(arrival)]:
        sched, runnable, _ = step(Scheduler.from_json(sched.to_json()), arrival[i:i + size], ME)
        applied += runnable
        i += size
    return sched, applied


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(scenarios())
def test_exactly_once_fifo_per_sender_and_mutual_exclusion(scenario: tuple[list[Message], list[int]]) -> None:
    arrival, cuts = scenario
    sched, applied = run(arrival, cuts)

    distinct_ops = {(m.sender, m.seq, m.key) for m in arrival if m.kind == "op"}
    assert sorted((m.sender, m.seq or 0, m.key or "") for m in applied) == sorted(
        (s, q or 0, k or "") for s, q, k in distinct_ops)  # each once: every lock was released
    for sender in {m.sender for m in applied if m.seq is not None}:
        seqs = [m.seq for m in applied if m.sender == sender and m.seq is not None]
        assert seqs == sorted(seqs)
    assert sched.lock is None and sched.queue == ()

    # mutual exclusion, one arrival at a time: while a lock is held, what an arrival makes
    # runnable is the holder's, unless the arrival is the holder's unlock (then the queue
    # drains, in arrival order)
    sched = Scheduler()
    for m in arrival:
        holder = sched.locked_by
        sched, runnable, out = step(sched, [m], ME)
        if holder is not None and not (m.kind == "unlock" and m.sender == holder):
            assert all(r.sender == holder for r in runnable)
        for o in out:
            assert o.kind == "lock_granted" and sched.locked_by == o.message.sender


def test_operations_wait_behind_a_lock_in_arrival_order() -> None:
    lock = Message("lock", "o1:0", 0, request="r1", entities=(ME,), reply_to={"instance": "o1"})
    other1 = Message("op", "o2:0", 0, operation="add", input=1)
    mine = Message("op", "o1:0", 1, operation="add", input=2)
    other2 = Message("op", "client", key="k", operation="add", input=3)
    sched, run1, out = step(Scheduler(), [lock, other1, mine, other2], ME)
    assert run1 == [mine] and [o.kind for o in out] == ["lock_granted"] and out[0].to == "o1"
    assert sched.locked_by == "o1:0" and sched.queue == (other1, other2)
    sched, run2, _ = step(sched, [Message("unlock", "o1:0", 2, request="r1")], ME)
    assert run2 == [other1, other2] and sched.lock is None


def test_a_lock_is_forwarded_in_id_order_and_granted_by_the_last() -> None:
    ids = ("@account@a", "@account@b")
    lock = Message("lock", "o1:0", 3, request="r", entities=ids, reply_to={"instance": "o1"})
    _, _, out = step(Scheduler(), [lock], ids[0])
    assert out == [Outgoing(ids[1], "lock", Message("lock", "o1:0", 3, request="r",
                                                     entities=ids, position=1,
                                                     reply_to={"instance": "o1"}))]
    _, _, out = step(Scheduler(), [out[0].message], ids[1])
    assert [(o.to, o.kind) for o in out] == [("o1", "lock_granted")]


def test_a_waiting_lock_given_up_leaves_the_queue() -> None:
    first = Message("lock", "o1:0", 0, request="r1", entities=(ME,))
    second = Message("lock", "o2:0", 0, request="r2", entities=(ME,))
    sched, _, _ = step(Scheduler(), [first, second], ME)
    assert sched.queue == (second,)
    sched, _, _ = step(sched, [Message("unlock", "o2:0", 1, request="r2")], ME)
    assert sched.queue == () and sched.locked_by == "o1:0"
    sched, _, out = step(sched, [Message("unlock", "o1:0", 1, request="r1")], ME)
    assert sched.lock is None and out == []


def test_two_critical_sections_over_the_same_entities_never_deadlock() -> None:
    """Both ask for {a, b} (one wrote them b, a: the set is sorted): the second waits at
    `a` until the first releases, then is granted."""
    a, b = "@account@a", "@account@b"
    scheds = {a: Scheduler(), b: Scheduler()}
    granted: list[str] = []
    pending: list[tuple[str, Message]] = [
        (a, Message("lock", "o1:0", 0, request="r1", entities=(a, b), reply_to={"instance": "o1"})),
        (a, Message("lock", "o2:0", 0, request="r2", entities=(a, b), reply_to={"instance": "o2"}))]
    released = False
    while pending or not released:
        if not pending:
            # o1 holds both: it releases them
            assert granted == ["o1"]
            pending = [(e, Message("unlock", "o1:0", 1, request="r1")) for e in (a, b)]
            released = True
        to, msg = pending.pop(0)
        scheds[to], _, out = step(scheds[to], [msg], to)
        for o in out:
            if o.kind == "lock_granted":
                granted.append(o.to)
            else:
                pending.append((o.to, o.message))
    assert granted == ["o1", "o2"]
    assert scheds[a].locked_by == scheds[b].locked_by == "o2:0"


def test_client_keys_are_remembered_within_the_window() -> None:
    sched, first, _ = step(Scheduler(), [Message("op", "client", key="k1", operation="add")], ME)
    sched, again, _ = step(sched, [Message("op", "client", key="k1", operation="add")], ME)
    assert len(first) == 1 and again == []


def test_a_message_with_seq_0_keeps_it_through_json() -> None:
    # regression: to_json dropped seq 0 (an orchestration's first task, an entity's first
    # signal), so a resent copy had no seq and was applied a second time
    m = Message("op", sender="orch:0", seq=0, operation="add", input=1)
    again = Message.from_json(m.to_json())
    assert again.seq == 0
    sched, run, _ = step(Scheduler(), [again], "@counter@a")
    _, run2, _ = step(sched, [Message.from_json(m.to_json())], "@counter@a")
    assert len(run) == 1 and run2 == []
