"""Timers and retry waits: a heap of fire times, fired when due.

Under the virtual clock timers fire only when no activity is in flight (as in
`runtime.direct`); once no timer is due, held ends of sub-orchestrations are delivered
(`children.deliver_children`), so a child's end reaches its parent after the parent's
own due timers.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from runtime.clock import iso

if TYPE_CHECKING:
    from runtime.backends.base import Record
    from runtime.engine.core import Engine


class TimerQueue:
    """(fire_at, instance, task, generation), earliest first; stale entries are skipped."""

    def __init__(self) -> None:
        self.heap: list[tuple[str, str, int, int]] = []

    def __bool__(self) -> bool:
        return bool(self.heap)

    def push(self, fire_at: str, instance_id: str, task_id: int, generation: int) -> None:
        heapq.heappush(self.heap, (fire_at, instance_id, task_id, generation))

    def pop_due(self, now: str) -> tuple[str, str, int, int] | None:
        if self.heap and self.heap[0][0] <= now:
            return heapq.heappop(self.heap)
        return None


def fire_due(engine: Engine) -> bool:
    """Fire every due timer and retry wait; with none due, deliver held outcomes of
    ended sub-orchestrations. False if there was nothing to do."""
    from runtime.engine.activities import start_activity
    from runtime.engine.children import deliver_children, start_child

    if (engine.clock.virtual and engine.pool.inflight) or not (engine.timers or engine.child_ends):
        return False
    now = iso(engine.clock.now())
    records: dict[str, list[Record]] = {}
    fired = False
    while (due := engine.timers.pop_due(now)) is not None:
        fire_at, instance_id, task_id, generation = due
        inst = engine.instances.get(instance_id)
        if inst is None or inst.ended or inst.generation != generation:
            continue
        t = inst.table.tasks.get(task_id)
        if t is None or t.done or t.fire_at != fire_at:
            continue
        fired = True
        if t.kind == "timer":
            records.setdefault(inst.id, []).extend(engine.append(inst, "timer", {"task": t.id}))
        else:  # a retry wait is over: the next attempt runs (no record needed)
            t.fire_at = None
            if t.kind == "sub_orchestration":
                start_child(engine, inst, t, start=engine.now(inst))
            else:
                start_activity(engine, inst, t)
    if records:
        engine.commit(records)
    return fired or deliver_children(engine)


def next_deadline(engine: Engine) -> str | None:
    """The next timer's fire time, or the end time of a held child if earlier (after
    a restart, a child may have ended later than the clock)."""
    ends = [end.at for held in engine.child_ends.values() for end in held.values()]
    child = min(ends) if ends else None
    heap = engine.timers.heap
    while heap:
        fire_at, instance_id, task_id, generation = heap[0]
        inst = engine.instances.get(instance_id)
        t = inst.table.tasks.get(task_id) if inst is not None else None
        if (inst is not None and not inst.ended and inst.generation == generation
                and t is not None and not t.done and t.fire_at == fire_at):
            return fire_at if child is None or fire_at < child else child
        heapq.heappop(heap)
    return child
