"""The engine's core: which instances this process owns, how their records are written
and committed, and the loop that drives everything else.

One thread owns every instance this process has claimed. Each round of `Engine.run`:

1. journal the activity outcomes that arrived (`activities.collect`: a result, or a
   `retry` timer when a RetryPolicy allows another attempt), commit every touched
   instance once (group commit), then apply the records and advance the instances;
2. fire due timers (`timers.fire_due`; the virtual clock only when no activity is in
   flight, as in `runtime.direct`), then deliver held ends of sub-orchestrations;
3. deliver one external event to each instance that waits and apply control messages
   (`messages`);
4. with nothing to do: move the virtual clock to the next timer, or wait.

A record is committed before the instance acts on it; a checkpoint is staged and rides
along with the next commit (losing it re-runs one deterministic step), and so does the end
of an instance that owes nothing, where the backend says so (`Backend.ends_ride_along`). The engine knows
nothing of where state lives: it talks to a `runtime.backends.base.Backend` only.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from runtime import observe
from runtime.api import REGISTRY, OrchestrationError
from runtime.backends.base import FINAL, Backend, BackendError, Claim, FenceLost, Record
from runtime.clock import Clock, iso, parse_iso
from runtime.engine import (
    activities,
    children,
    entities,
    entity_calls,
    messages,
    outbox,
    stepping,
    timers,
)
from runtime.engine.activities import ActivityPool
from runtime.engine.children import ChildEnd
from runtime.engine.distributed import DistributedPool
from runtime.engine.timers import TimerQueue
from runtime.instance import Instance
from runtime.machine import MachineDef

POLL = 0.05  # seconds between inbox and store scans when idle
INLINE_BELOW = 0.001  # a sync activity this quick may run on the engine thread (activities.py)


class SimulatedCrash(Exception):
    """`crash_after_writes` was reached: the store is left as a killed process leaves it."""


def machine_for(name: str) -> MachineDef | None:
    entry = REGISTRY.orchestrators.get(name)
    machine = entry.machine if entry is not None else None
    return machine if isinstance(machine, MachineDef) else None


def _owes_nothing(inst: Instance) -> bool:
    """Has `inst`'s end nobody to tell: no parent, nothing owed, no entity traffic (whose
    unlocks and one-way tasks its end sends)?"""
    return (inst.parent is None and not inst.outbox
            and not any(t.kind in entity_calls.KINDS for t in inst.table.tasks.values()))


class Engine:
    """Runs the instances this process owns (see the module docstring)."""

    def __init__(self, backend: Backend, *, clock: Clock | None = None,
                 activities: Mapping[str, Callable[..., Any]] | None = None,
                 concurrency: int = 16, crash_after_writes: int | None = None,
                 machines: Callable[[str], MachineDef | None] = machine_for,
                 inline_below: float = INLINE_BELOW) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.backend = backend
        self.clock = clock or Clock()
        self.overrides = dict(activities or {})
        self.machines = machines
        self.crash_after = crash_after_writes
        self.writes = 0
        self.instances: dict[str, Instance] = {}
        work = backend.work_queue()  # a backend that hands activities to any worker
        self.pool: ActivityPool = (ActivityPool(concurrency, inline_below) if work is None else
                                   DistributedPool(self, work, concurrency, inline_below))
        self.timers = TimerQueue()
        self.feeds: dict[str, list[tuple[str, Any]]] = {}  # run_inline events by instance
        self.errors: list[str] = []  # instances that could not be loaded, reported once
        self.last_poll = 0.0
        self.last_beat = 0.0
        self.ending: list[Instance] | None = None  # ended in this group commit, not yet durable
        # ended, owing nothing, their end staged: durable with the next group commit or
        # their release (`Backend.ends_ride_along`), not with a commit of their own
        self.unsynced: dict[str, Instance] = {}
        self.child_ends: dict[str, dict[int, ChildEnd]] = {}  # held outcomes, by parent and task
        self.sending: dict[str, set[str]] = {}  # outbox keys started here, by instance
        self.entities: dict[str, entities.Entity] = {}  # the entities this process owns
        self.entity_dirty: set[str] = set()  # owned entities that may have messages
        self.entity_refused: set[str] = set()  # entities held elsewhere (or unloadable)
        self.entity_sent: dict[str, list[tuple[int, int]]] = {}  # one-way tasks posted
        self.inbox_dirty: set[str] = set()  # owned instances an owned entity answered
        observe.install_defaults()

    # -- owning instances ---------------------------------------------------------------

    def adopt(self, instance_id: str, *, blocking: bool = False, claim: Claim | None = None) -> Any:
        """Claim and load an instance (an `Instance`, or an `entities.Entity` for an
        entity's id); None if another process holds it. `claim`: one already got for it
        (`Backend.claim_many`), which this adopts instead of claiming again."""
        if instance_id.startswith("@"):
            return entities.adopt(self, instance_id, blocking=blocking)
        if instance_id in self.instances:
            if claim is not None:
                self.backend.release(claim)
            return self.instances[instance_id]
        if claim is None:
            claim = self.backend.claim(instance_id, wait=blocking)
        if claim is None:
            return None
        try:
            name = claim.loaded.first.data.get("name", "")
            mdef = self.machines(name)
            inst = Instance.restore(instance_id, claim, mdef)
            if mdef is None and not inst.ended:
                raise OrchestrationError(
                    f"instance {instance_id}: no orchestrator named {name!r} is registered")
        except BaseException:
            self.backend.release(claim)
            raise
        self.instances[instance_id] = inst
        if inst.ended:
            stepping.ended(self, inst)
        else:
            observe.emit(observe.InstanceStarted(
                inst.id, inst.name, trace=inst.trace, created=parse_iso(inst.created).timestamp(),
                resumed=inst.checkpointed or inst.awaiting is not None))
            self.pool.adopting(inst)
            stepping.start_pending(self, inst)
            self.advance(inst)
            if inst.outbox and not inst.ended:  # owed by the generation before
                outbox.send_outbox(self, inst)
        return inst

    def adopt_passive(self, instance_id: str) -> Instance | None:
        """Claim and load an instance to journal control messages, without running steps
        (the client uses this when no worker holds the instance)."""
        claim = self.backend.claim(instance_id)
        if claim is None:
            return None
        try:
            inst = Instance.restore(instance_id, claim, None, frame=False)
        except BaseException:
            self.backend.release(claim)
            raise
        inst.passive = True
        self.instances[instance_id] = inst
        return inst

    def release(self, instance_id: str, *, wake_at: str | None = None) -> None:
        """Commit and give up the instance; `wake_at`: it sleeps until then (`idle`)."""
        self.sending.pop(instance_id, None)
        self.pool.forget(instance_id)
        inst = self.instances.pop(instance_id, None)
        if inst is not None and inst.claim is not None:
            claim, inst.claim = inst.claim, None
            try:
                finished = inst.ended and not inst.outbox
                self.backend.release(claim, finished=finished,
                                     wake_at=None if finished else wake_at)
            except FenceLost as exc:  # its new owner has it: nothing of ours to keep
                self.errors.append(str(exc))

    def release_many(self, instance_ids: Iterable[str]) -> None:
        """`release` of many instances; those that ended and owe nothing as one group
        (`Backend.release_many`)."""
        finished, others = [], []
        for instance_id in instance_ids:
            inst = self.instances.get(instance_id)
            if inst is None or inst.claim is None or not inst.ended or inst.outbox:
                others.append(instance_id)
                continue
            self.sending.pop(instance_id, None)
            self.pool.forget(instance_id)
            del self.instances[instance_id]
            finished.append(inst.claim)
            inst.claim = None
        try:
            self.backend.release_many(finished, finished=True)
        except FenceLost as exc:  # their new owners have them: nothing of ours to keep
            self.errors.append(str(exc))
        for instance_id in others:
            self.release(instance_id)

    def lose(self, lost: FenceLost, among: Iterable[Instance] = ()) -> None:
        """Claims were superseded (`lost.instance_ids`, or else every one of `among`):
        forget those instances without writing; their new owners resume them. Unlike a
        broken instance, this worker may claim them again later."""
        ids = set(lost.instance_ids) or {i.id for i in among}
        self.errors.append(str(lost))
        for instance_id in ids:
            inst = self.instances.get(instance_id)
            if inst is not None:
                inst.claim = None  # lost: not to be released or written through again
                self.drop(instance_id)

    def lose_all(self, lost: FenceLost) -> None:
        """A claim was found superseded: ask about every claim held, so that the others
        taken over meanwhile (a process frozen past its leases loses them all) are named
        in the same one line and dropped together, not one line per instance."""
        ids = set(lost.instance_ids)
        try:
            self.backend.heartbeat([i.claim for i in self.instances.values()
                                    if i.claim is not None])
        except FenceLost as more:
            lost = more if ids <= set(more.instance_ids) else FenceLost(
                str(lost), sorted(ids | set(more.instance_ids)))
        except BackendError:
            pass  # the store is out of reach: `lost` alone, the others at their next write
        self.lose(lost)

    def drop(self, instance_id: str) -> None:
        """Forget an instance without writing (its claim was lost, or it cannot go on)."""
        self.sending.pop(instance_id, None)
        self.child_ends.pop(instance_id, None)
        self.pool.forget(instance_id)
        inst = self.instances.pop(instance_id, None)
        if inst is not None and inst.claim is not None:
            claim, inst.claim = inst.claim, None
            with contextlib.suppress(BackendError):  # nothing more to save: the report says why
                self.backend.release(claim)

    def close(self, *, wait: bool = True) -> None:
        try:
            for instance_id in list(self.instances):
                self.release(instance_id)
            for entity_id in list(self.entities):
                entities.release(self, entity_id)
        finally:
            self.pool.close(wait=wait)

    # -- journal writes -----------------------------------------------------------------

    def append(self, inst: Instance, kind: str, data: dict[str, Any]) -> list[Record]:
        """Stage one record: [it], or [] when the instance cannot be written (`fail`)."""
        return self.append_many(inst, [(kind, data)])

    def append_many(self, inst: Instance, items: list[tuple[str, dict[str, Any]]]) -> list[Record]:
        """Stage records in one write (one write too for `crash_after_writes`); [] when
        the instance cannot be written: it is then broken (`fail`), the others go on."""
        if inst.broken or inst.claim is None:
            return []
        try:
            recs = inst.claim.stage(items, iso(self.now(inst)))
        except FenceLost as exc:  # taken over: not broken, its new owner runs it
            self.lose_all(exc)
            inst.broken = inst.broken or str(exc)  # what the caller holds: write no more
            return []
        except BackendError as exc:
            self.fail(inst, str(exc))
            return []
        except (ValueError, RecursionError) as exc:  # a value JSON cannot write
            reason = f"cannot write its {items[0][0]} record: {type(exc).__name__}: {exc}"
            if any(kind in FINAL for kind, _ in items):
                self.fail(inst, f"instance {inst.id}: {reason}")
            else:  # fail the instance with the reason, in a record that can be written
                inst.custom_status = None
                stepping.finish(self, inst, "failed",
                                error={"type": type(exc).__name__, "message": reason})
            return []
        self.count_write()
        return recs

    def fail(self, inst: Instance, reason: str) -> None:
        """Stop running `inst` (it cannot be read or written any more): it is reported
        once (`errors`), released at the next `reap`, and the others go on. Its records
        stay as they are; a worker started later tries it again."""
        if inst.broken is None:
            inst.broken = reason
            self.errors.append(reason)

    def reap(self) -> list[str]:
        """Release the broken instances; their ids."""
        gone = [i for i, inst in self.instances.items() if inst.broken]
        for instance_id in gone:
            self.drop(instance_id)
        return gone

    def count_write(self) -> None:
        self.writes += 1
        if self.crash_after is not None and self.writes >= self.crash_after:
            raise SimulatedCrash(f"simulated crash after {self.writes} journal writes")

    def now(self, inst: Instance) -> datetime:
        now = self.clock.now()
        return now if now > inst.now else inst.now

    def sync(self, insts: list[Instance]) -> None:
        """Make what is staged for these instances durable (one group commit); if that
        fails, every instance of the group is broken (`fail`): none may act on records
        that may not be durable."""
        if len(insts) == 1 and not self.unsynced:  # one instance (a chain's every step)
            inst = insts[0]
            if inst.claim is None or inst.broken:
                return
            group = [inst]
            claims = [inst.claim]
        else:
            group, claims = self._group(insts)
        try:
            self.backend.commit(claims)
        except FenceLost as exc:  # the others' records are committed all the same
            self.lose(exc, group)
        except BackendError as exc:
            for inst in group:
                self.fail(inst, f"instance {inst.id}: {exc}" if inst.id not in str(exc)
                          else str(exc))

    def _group(self, insts: list[Instance]) -> tuple[list[Instance], list[Claim]]:
        """The instances of a group commit, and their claims: those of `insts` that can
        be written, and the ends staged earlier that ride along (`unsynced`)."""
        group = [i for i in insts if i.claim is not None and not i.broken]
        if self.unsynced:  # ends staged earlier ride along (`commit`)
            ids = {i.id for i in group}  # (not `in group`: an Instance compares field by field)
            riding = [i for i in self.unsynced.values() if i.claim is not None
                      and not i.broken and i.id not in ids]
            self.unsynced.clear()
            group += riding
        return group, [i.claim for i in group if i.claim is not None]

    def commit(self, records: dict[str, list[Record]], *, synced: bool = False) -> None:
        """Commit the touched instances once, then apply and advance (group commit). The
        instances that end meanwhile are made durable together at the end, before their
        parents hear of it (`stepping.finish`); those with nobody to tell, on a backend
        whose commits cost the same whatever they hold, with the next group commit or
        their release instead (`unsynced`: one flush fewer per ending round)."""
        insts = [self.instances[i] for i in records if i in self.instances]
        if not synced:
            self.sync(insts)
        outermost = self.ending is None
        if outermost:
            self.ending = []
        try:
            for inst in insts:
                if inst.broken:
                    continue
                for rec in records[inst.id]:
                    inst.apply(rec)
                stepping.start_pending(self, inst)
                stepping.advance(self, inst)  # (not through `self.advance`: one call a step)
        finally:
            if outermost:
                ended, self.ending = self.ending or [], None
        if outermost and ended:
            if self.backend.ends_ride_along:
                for inst in [i for i in ended if _owes_nothing(i)]:
                    ended.remove(inst)  # nobody to tell: `stepping.ended` has nothing to do
                    self.unsynced[inst.id] = inst
            if ended:
                self.sync(ended)
            for inst in ended:
                stepping.ended(self, inst)

    # -- the parts, by job (one module each) --------------------------------------------

    def advance(self, inst: Instance) -> None:
        stepping.advance(self, inst)

    def collect(self, timeout: float | None) -> bool:
        return activities.collect(self, timeout)

    def fire_due(self) -> bool:
        return timers.fire_due(self)

    def next_deadline(self) -> str | None:
        found = [d for d in (timers.next_deadline(self), entities.next_deadline(self)) if d]
        return min(found, key=parse_iso) if found else None

    def entity_work(self) -> bool:
        """Entity batches, entity results for owned instances, one-way entity tasks
        journaled as sent; True if anything was done."""
        entities.due(self)
        done = entities.run_entities(self)
        done = entity_calls.read_results(self) or done
        return entity_calls.journal_sent(self) or done

    def poll_inboxes(self) -> None:
        messages.poll_inboxes(self)

    def deliver_events(self) -> bool:
        return messages.deliver_events(self)

    def adopt_descendants(self, instance_id: str) -> None:
        children.adopt_descendants(self, instance_id)

    # -- the loop --------------------------------------------------------------------------------

    def run(self, until: Callable[[], bool], on_idle: Callable[[], None] | None = None) -> bool:
        """Work until `until()`; False if nothing can ever progress (virtual clock, stuck).
        A write through a superseded claim (`FenceLost`) drops those instances only; the
        round starts again with the others."""
        while not until():
            try:
                if not self._round(until, on_idle):
                    return False
            except FenceLost as exc:
                self.lose(exc)
        return True

    def _round(self, until: Callable[[], bool], on_idle: Callable[[], None] | None) -> bool:
        """One round of `run` (the module docstring); False when stuck."""
        if self.collect(None) or self.fire_due() or self.entity_work():
            return True
        # Busy: attempts of ours in flight, or of others' instances running here (whose
        # ends free slots to take more: wait on the pool, not on the store's wake-ups)
        busy = self.pool.inflight > 0 or self.pool.serving()
        if time.monotonic() - self.last_poll > POLL or not busy:
            self.last_poll = time.monotonic()
            self.heartbeat()
            self.poll_inboxes()
            if on_idle is not None:
                on_idle()
            if until() or self.deliver_events():
                return True
        if self.entity_dirty or self.inbox_dirty or self.entity_sent:
            return True  # entity traffic made meanwhile: the next round's entity_work
        if busy:
            self.collect(self._wait_time())
            return True
        deadline = self.next_deadline()
        if self.clock.virtual:
            if deadline is None:
                return False
            self.clock.advance_to(parse_iso(deadline))
            return True
        # nothing in flight: wait for a timer, or for work another process makes
        if self.backend.wait_for_work(self._wait_time()):
            self.last_poll = 0.0  # look at the store now
        return True

    def heartbeat(self) -> None:
        """Renew the claims' leases (a no-op for backends whose claims do not expire);
        an instance whose claim was lost is dropped: its new owner resumes it."""
        if time.monotonic() - self.last_beat < 1.0 or not self.instances:
            return
        self.last_beat = time.monotonic()
        try:
            self.backend.heartbeat([i.claim for i in self.instances.values()
                                    if i.claim is not None])
        except FenceLost as exc:
            self.lose(exc)

    def _wait_time(self) -> float:
        deadline = self.next_deadline()
        if deadline is None or self.clock.virtual:
            return POLL
        left = (parse_iso(deadline) - self.clock.now()).total_seconds()
        return max(0.001, min(POLL, left))
