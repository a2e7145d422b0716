"""Idle instances: released with a wake time instead of held (docs/runtime.md, "Workers").

An instance that waits only for time (timers, retry waits) or for messages (external
events, a child's end, resume) has nothing for its owner to do until then. A worker
releases it with `Backend.release(claim, wake_at=...)`: its next fire time, or
`WAKE_NEVER` when only a message can wake it. It then holds no claim and no lease, costs
its owner no memory and no heartbeat, and `runnable` offers it again, to any worker,
when the time comes or a message arrives; whoever claims it resumes from the checkpoint
and fires the due timer. Instances waiting less than `RELEASE_BEYOND` seconds are kept:
releasing and reclaiming them would cost more than holding them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.backends.base import WAKE_NEVER
from runtime.clock import parse_iso

if TYPE_CHECKING:
    from runtime.engine.core import Engine
    from runtime.instance import Instance

RELEASE_BEYOND = 2.0  # seconds: an instance whose next timer is sooner stays claimed
GROUPS = frozenset({"when_all", "when_any", "event_timeout"})  # made of other tasks


def wake_time(engine: Engine, inst: Instance) -> str | None:
    """When `inst` next has work if it only waits (its earliest timer or retry wait, or
    WAKE_NEVER for messages only); None if it has or may have work in this process."""
    if (inst.ended or inst.broken or inst.passive or inst.claim is None or inst.outbox
            or not (inst.blocked() or inst.suspended) or inst.pending_events
            or engine.child_ends.get(inst.id) or engine.feeds.get(inst.id)
            or engine.sending.get(inst.id)):
        return None
    wake = WAKE_NEVER
    for t in inst.table.tasks.values():
        if t.done or t.kind in GROUPS or t.kind == "event":
            continue
        if not t.started:
            return None  # work the checkpoint lists that has not begun
        if t.fire_at is not None:  # a timer, or a retry wait
            wake = min(wake, t.fire_at, key=lambda at: parse_iso(at))
        elif t.kind != "sub_orchestration":
            return None  # an activity in flight (or a kind this module does not know)
    return wake


def release_idle(engine: Engine) -> list[str]:
    """Release every instance that waits beyond RELEASE_BEYOND; their ids."""
    if engine.clock.virtual:  # nothing waits under the virtual clock: it jumps
        return []
    now = engine.clock.now()
    released = []
    for instance_id, inst in list(engine.instances.items()):
        wake = wake_time(engine, inst)
        if wake is None:
            continue
        if wake != WAKE_NEVER and (parse_iso(wake) - now).total_seconds() < RELEASE_BEYOND:
            continue
        engine.release(instance_id, wake_at=wake)
        released.append(instance_id)
    return released
