"""Activities on any worker: the engine's pool when the backend has a work queue.

An attempt runs in the owner's process while it has a free slot (`concurrency`), as on
every backend: one commit per step. An attempt started when every slot is busy is not
held back here but handed to the backend's work queue (`WorkQueue.enqueue`, on the
instance's claim: the item appears with the step's commit). Every process's free slots
take queued attempts, of its own instances or anyone's (`WorkQueue.take`, each under a
lease; while attempts here are short, as many again are taken ahead, to start the moment
a slot frees), and report the
outcomes with `WorkQueue.finish_many` (all that ended, in one go), which retires each item and puts
`{"type": "result", ...}` in the owner's inbox in one transaction; an item of an
instance the taker owns itself is retired as it is taken and runs as a local attempt
(no `finish`, no inbox round trip: one worker alone pays one commit per step). The
queue is asked only when it may hold something new (`_may_take`). A new owner waits for
the attempts the queue still has (`adopting`) instead of running them again. The owner turns
those messages into `Done`s like local ones (`deliver`), acknowledged with the records
they cause; a result that arrives for a task already complete (an attempt that ran
twice, after a lease ran out or an owner changed) is acknowledged and dropped by
`activities.collect`. So attempts run at least once and each result is recorded once.
Outcomes that arrive while quick attempts still run here wait for them (`_gather`, up to
GATHER), so that they share one group commit.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime import observe
from runtime.api import TaskFailedError
from runtime.backends.base import BackendError, Message, WorkItem, WorkQueue
from runtime.context import error_json
from runtime.engine.activities import ActivityPool, Done, judge, lookup, run_activity

if TYPE_CHECKING:
    from runtime.engine.core import Engine
    from runtime.instance import Instance

Key = tuple[str, int, int, int]  # instance, generation, task, attempt

#: how long a taken work item is ours without renewal (when the backend does not say)
ITEM_LEASE = 30.0
#: seconds between asks of the queue while no wake-up says work was queued (items whose
#: taker died come back when their lease ends, and nobody is told)
ASK_EVERY = 1.0
#: queued attempts are taken ahead only while the attempts run here take under this many
#: seconds (a moving average): one that waits for a slot behind a long attempt would sit
#: under lease while other workers idle
AHEAD_BELOW = 0.25
#: seconds an outcome waits for the quick local attempts still running, to share their
#: group commit (`_gather`): they end within microseconds, a commit costs a millisecond
GATHER = 0.002
#: put on the outcome queue when a queued attempt run here finishes: not an outcome
WAKE = Done("", -1, -1, -1)


class DistributedPool(ActivityPool):
    def __init__(self, engine: Engine, work: WorkQueue, concurrency: int,
                 inline_below: float) -> None:
        super().__init__(concurrency, inline_below)
        self.engine = engine
        self.work = work
        self.local = 0  # own attempts running here
        # own attempts handed to the queue (or found there by `adopting`), by key: their
        # name, and what observers hear when one comes back to run here
        self.remote: dict[Key, tuple[str, observe.ActivityStarted | None]] = {}
        self.queued: set[Key] = set()  # attempts the queue had when their instance was adopted
        self.arrived: list[Done] = []  # outcomes of `remote` attempts, from the inbox
        self.extra: list[Done] = []  # outcomes of attempts not (or no longer) awaited remotely
        self.taken: dict[Any, WorkItem] = {}  # queued attempts running here, by token
        # queued attempts taken ahead, to start the moment a slot frees (no round trip
        # between one attempt's end and the next one's start); at most `concurrency`
        self.ready: deque[WorkItem] = deque()
        self.seconds = float("inf")  # moving average of attempts' run times here
        self.finished: queue.SimpleQueue[tuple[WorkItem, dict[str, Any]]] = queue.SimpleQueue()
        # result messages already turned into Dones, by instance: a message id is unique
        # within one instance's inbox only (`result-GEN-TASK-ATTEMPT`); dropped with the
        # instance (`forget`)
        self.delivered: dict[str, set[str]] = {}
        self.staged: set[str] = set()  # instances whose claims hold uncommitted work items
        self.last_renew = time.monotonic()
        # `take` is asked only when the queue may hold something new: the backend's mark
        # moved since the queue was last found short, we queued work, or ASK_EVERY passed
        self.short_mark: Any = None
        self.short_since = 0.0
        # a taken item is ours for as long as the backend's claims are (its `lease`)
        self.lease = float(getattr(engine.backend, "lease", ITEM_LEASE))

    # -- starting ----------------------------------------------------------------------

    def full(self) -> bool:
        return False  # nothing waits for a slot here: it goes to the queue instead

    def serving(self) -> bool:
        return bool(self.taken or self.ready)

    def start(self, key: Key, name: str, fn: Callable[..., Any] | None, data: Any, *,
              inline: bool = False, outbox: str = "",
              about: observe.ActivityStarted | None = None) -> None:
        inst = self.engine.instances.get(key[0])
        if key in self.queued and not outbox:  # the queue has it: wait for its outcome
            self.queued.discard(key)
            self.remote[key] = (name, about)
            self.inflight += 1
            return
        busy = self.local + len(self.taken) >= self.concurrency
        if busy and not outbox and inst is not None and inst.claim is not None:
            self.work.enqueue(inst.claim, [WorkItem(key[0], key[1], key[2], key[3], name, data)])
            self.remote[key] = (name, about)
            self.staged.add(key[0])
            self.inflight += 1
            return
        self.local += 1
        super().start(key, name, fn, data, inline=inline, outbox=outbox, about=about)

    # -- outcomes from the inbox -------------------------------------------------------

    def deliver(self, inst: Instance, message: Message) -> None:
        """A `result` message in an owned instance's inbox: acknowledged with the records
        of the next commit, and collected as the attempt's outcome."""
        seen = self.delivered.setdefault(inst.id, set())
        if message.id in seen or inst.claim is None:
            return
        seen.add(message.id)
        inst.claim.ack([message.id])
        body = message.body
        try:
            key: Key = (inst.id, int(body["generation"]), int(body["task"]), int(body["attempt"]))
        except (KeyError, TypeError, ValueError):
            return  # not a result we sent: acknowledged, ignored
        error = None
        if body.get("error") is not None:
            e = body["error"]
            error = TaskFailedError(e.get("message", ""), error_type=e.get("error_type", ""),
                                    details=e.get("details", ""), task_name=e.get("task_name", ""))
        awaited = self.remote.pop(key, None)
        done = Done(*key, value=body.get("value"), error=error,
                    name=awaited[0] if awaited else "", seconds=float("inf"))
        (self.arrived if awaited is not None else self.extra).append(done)

    # -- owning instances --------------------------------------------------------------

    def adopting(self, inst: Instance) -> None:
        """An instance is adopted with attempts its checkpoint lists as not done: those
        the queue still has (queued, leased by a live worker, or answered in the inbox)
        are waited for, not started again (`start`); an expired lease is the queue's to
        hand out again."""
        if not any(t.kind == "activity" and not t.done for t in inst.table.tasks.values()):
            return
        for task, attempt in self.work.pending(inst.id, inst.generation):
            self.queued.add((inst.id, inst.generation, task, attempt))

    def forget(self, instance_id: str) -> None:
        """The instance was released or dropped: what was kept about it goes (its
        delivered message ids, the queued attempts it awaited)."""
        self.delivered.pop(instance_id, None)
        self.staged.discard(instance_id)
        self.queued = {k for k in self.queued if k[0] != instance_id}
        gone = [k for k in self.remote if k[0] == instance_id]
        for key in gone:
            del self.remote[key]
        self.inflight -= len(gone)  # their outcomes, if any come, are nobody's now

    def _poll_results(self) -> None:
        """The results of our queued attempts run elsewhere: one read for all instances
        (not one per instance), which the queue skips while no wake-up came."""
        awaiting = sorted({key[0] for key in self.remote})
        for instance_id, message in self.work.results(awaiting):
            inst = self.engine.instances.get(instance_id)
            if inst is not None and inst.claim is not None and message.body.get("type") == "result":
                self.deliver(inst, message)

    # -- running queued attempts (anyone's) ------------------------------------------------

    def _flush(self) -> None:
        """Commit the claims holding staged work items, so other workers see them."""
        if not self.staged:
            return
        claims = [i.claim for i in (self.engine.instances.get(x) for x in self.staged)
                  if i is not None and i.claim is not None]
        self.staged.clear()
        self.engine.backend.commit(claims)
        self.short_mark = None  # we queued work: ask for it (our own slots may take it)

    def _may_take(self) -> bool:
        """Is the queue worth asking? Not while the backend's mark still stands where it
        stood when the queue was last found short, unless ASK_EVERY has passed (one
        `take` per step was the chain's second round trip)."""
        if self.short_mark is None:
            return True
        mark = self.work.queued_mark()
        return (mark is None or mark != self.short_mark
                or time.monotonic() - self.short_since >= ASK_EVERY)

    def _run_queued(self) -> None:
        """Fill free slots with queued attempts: those taken ahead first, then from the
        queue, which is asked for the free slots plus as many again to keep ready (so a
        slot that frees starts its next attempt without a round trip, and one `take`
        serves several attempts); asked again once half the ready ones are started."""
        self._finish_done()
        if self.stopping:
            return
        free = self.concurrency - self.local - len(self.taken)
        while free > 0 and self.ready:
            self._start_item(self.ready.popleft())
            free = self.concurrency - self.local - len(self.taken)
        ahead = self.concurrency if self.seconds < AHEAD_BELOW else 0
        want = max(0, free) + ahead - len(self.ready)
        if (want > 0 and (free > 0 or len(self.ready) <= self.concurrency // 2)
                and self._may_take()):
            mark = self.work.queued_mark()
            items = self.work.take(want, self.lease)
            if len(items) < want:  # short: nothing more until the mark moves
                self.short_mark, self.short_since = mark, time.monotonic()
            else:
                self.short_mark = None
            for item in items:
                if self.concurrency - self.local - len(self.taken) > 0:
                    self._start_item(item)
                else:
                    self.ready.append(item)
        if (self.taken or self.ready) and time.monotonic() - self.last_renew > self.lease / 3:
            self.last_renew = time.monotonic()
            self.work.renew([*self.taken.values(), *(i for i in self.ready if not i.own)],
                            self.lease)

    def _start_item(self, item: WorkItem) -> None:
        if item.own:
            self._run_own(item)
            return
        self.taken[item.token] = item
        self.executor.submit(self._run_item, item, lookup(self.engine, item.name))

    def _run_own(self, item: WorkItem) -> None:
        """A queued attempt of an instance we own, retired from the queue as we took it:
        it runs as a local attempt, its outcome recorded by our own commit. One we no
        longer await (its task completed, its generation is gone) is simply dropped."""
        key: Key = (item.instance_id, item.generation, item.task, item.attempt)
        awaited = self.remote.pop(key, None)
        if awaited is None:
            return
        name, about = awaited
        self.inflight -= 1  # counted again by `start` below
        self.local += 1
        ActivityPool.start(self, key, name, lookup(self.engine, name), item.input, about=about)

    def _finish_done(self) -> None:
        """Report the outcomes of queued attempts that ended here: all that are done,
        in one `finish_many` (one round trip, not one per attempt)."""
        done: list[tuple[WorkItem, dict[str, Any]]] = []
        while True:
            try:
                item, outcome = self.finished.get_nowait()
            except queue.Empty:
                break
            self.taken.pop(item.token, None)
            done.append((item, outcome))
        if done:
            self.work.finish_many(done)

    def _timed(self, seconds: float) -> None:
        self.seconds = seconds if self.seconds == float("inf") else (
            0.7 * self.seconds + 0.3 * seconds)

    def _run_item(self, item: WorkItem, fn: Callable[..., Any] | None) -> None:
        began = time.perf_counter()
        value, error, _ = run_activity(item.name, fn, item.input)
        self._timed(time.perf_counter() - began)
        outcome: dict[str, Any] = {"generation": item.generation, "task": item.task,
                                   "attempt": item.attempt}
        if error is not None:
            outcome["error"] = error_json(error)
        else:
            outcome["value"] = value
        self.finished.put((item, outcome))
        self.done.put(WAKE)  # the engine thread reports it and refills the slot at once

    # -- collecting --------------------------------------------------------------------

    def take(self, timeout: float | None, virtual: bool) -> list[Done]:
        """Outcomes that arrived, local and from the queue, waiting up to `timeout` for
        the first; under the virtual clock, until everything in flight has finished (as
        ActivityPool does, so the journal's order is no race)."""
        deadline = time.monotonic() + (timeout or 0.0)
        batch: list[Done] = []
        while True:
            self._flush()
            self._run_queued()
            if self.remote:
                self._poll_results()
            counted = self._drain(batch)
            self.inflight -= counted
            if virtual:
                if self.local or self.remote:
                    self._wait_local(batch, 0.002)
                    continue
                break
            if batch:
                self._gather(batch)
                break
            if time.monotonic() >= deadline:
                break
            self._wait_local(batch, min(0.01, max(0.0, deadline - time.monotonic())))
        for d in batch:
            if d.seconds != float("inf"):
                judge(self, d)
        return batch

    def _gather(self, batch: list[Done]) -> None:
        """With outcomes in hand and quick local attempts still running (their moving
        average under `inline_below`), wait up to GATHER for them: their outcomes join
        this group commit instead of paying one of their own a moment later."""
        until = time.monotonic() + GATHER
        while self.local and self.seconds < self.inline_below:
            left = until - time.monotonic()
            if left <= 0:
                return
            self._wait_local(batch, left)

    def _drain(self, batch: list[Done]) -> int:
        """Move what arrived into `batch`; how many of those were counted in flight."""
        counted = 0
        while True:
            try:
                done = self.done.get_nowait()
            except queue.Empty:
                break
            if done is not WAKE:
                batch.append(done)
                self.local -= 1
                counted += 1
                if done.seconds != float("inf"):
                    self._timed(done.seconds)
        counted += len(self.arrived)
        batch.extend(self.arrived)
        batch.extend(self.extra)
        self.arrived.clear()
        self.extra.clear()
        return counted

    def _wait_local(self, batch: list[Done], seconds: float) -> None:
        """Wait for a local outcome, or for a queued attempt run here to finish (WAKE)."""
        try:
            done = self.done.get(timeout=seconds) if seconds > 0 else self.done.get_nowait()
        except queue.Empty:
            return
        if done is not WAKE:
            batch.append(done)
            self.local -= 1
            self.inflight -= 1
            if done.seconds != float("inf"):
                self._timed(done.seconds)

    def close(self, *, wait: bool) -> None:
        """Running attempts finish (with `wait`) and are reported; taken attempts that
        had not started are handed back at once rather than when their lease ends."""
        super().close(wait=wait)
        with contextlib.suppress(BackendError):  # else their leases run out: they return
            self._finish_done()
            back = [*self.taken.values(), *(i for i in self.ready if not i.own)]
            self.taken.clear()
            self.ready.clear()  # own ones: restarted from the checkpoint by the next owner
            if back:
                self.work.abandon(back)
