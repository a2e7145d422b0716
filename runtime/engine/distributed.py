"""Activities on any worker: the engine's pool when the backend has a work queue.

An attempt runs in the owner's process while it has a free slot (`concurrency`), as on
every backend: one commit per step. An attempt started when every slot is busy is not
held back here but handed to the backend's work queue (`WorkQueue.enqueue`, on the
instance's claim: the item appears with the step's commit). Every process's free slots
take queued attempts, of its own instances or anyone's (`WorkQueue.take`, each under a
lease), and report each outcome with `WorkQueue.finish`, which retires the item and puts
`{"type": "result", ...}` in the owner's inbox in one transaction. The owner turns
those messages into `Done`s like local ones (`deliver`), acknowledged with the records
they cause; a result that arrives for a task already complete (an attempt that ran
twice, after a lease ran out or an owner changed) is acknowledged and dropped by
`activities.collect`. So attempts run at least once and each result is recorded once.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime import observe
from runtime.api import TaskFailedError
from runtime.backends.base import BackendError, Message, WorkItem, WorkQueue
from runtime.context import error_json
from runtime.engine.activities import ActivityPool, Done, lookup, run_activity

if TYPE_CHECKING:
    from runtime.engine.core import Engine
    from runtime.instance import Instance

Key = tuple[str, int, int, int]  # instance, generation, task, attempt

#: how long a taken work item is ours without renewal (when the backend does not say)
ITEM_LEASE = 30.0
#: put on the outcome queue when a queued attempt run here finishes: not an outcome
WAKE = Done("", -1, -1, -1)


class DistributedPool(ActivityPool):
    def __init__(self, engine: Engine, work: WorkQueue, concurrency: int,
                 inline_below: float) -> None:
        super().__init__(concurrency, inline_below)
        self.engine = engine
        self.work = work
        self.local = 0  # own attempts running here
        self.remote: dict[Key, str] = {}  # own attempts handed to the queue, by key: name
        self.arrived: list[Done] = []  # outcomes of `remote` attempts, from the inbox
        self.extra: list[Done] = []  # outcomes of attempts not (or no longer) awaited remotely
        self.taken: dict[Any, WorkItem] = {}  # queued attempts running here, by token
        self.finished: queue.SimpleQueue[tuple[WorkItem, dict[str, Any]]] = queue.SimpleQueue()
        self.delivered: set[str] = set()  # result message ids already turned into Dones
        self.staged: set[str] = set()  # instances whose claims hold uncommitted work items
        self.last_renew = time.monotonic()
        # a taken item is ours for as long as the backend's claims are (its `lease`)
        self.lease = float(getattr(engine.backend, "lease", ITEM_LEASE))

    # -- starting ----------------------------------------------------------------------

    def full(self) -> bool:
        return False  # nothing waits for a slot here: it goes to the queue instead

    def start(self, key: Key, name: str, fn: Callable[..., Any] | None, data: Any, *,
              inline: bool = False, outbox: str = "",
              about: observe.ActivityStarted | None = None) -> None:
        inst = self.engine.instances.get(key[0])
        busy = self.local + len(self.taken) >= self.concurrency
        if busy and not outbox and inst is not None and inst.claim is not None:
            self.work.enqueue(inst.claim, [WorkItem(key[0], key[1], key[2], key[3], name, data)])
            self.remote[key] = name
            self.staged.add(key[0])
            self.inflight += 1
            return
        self.local += 1
        super().start(key, name, fn, data, inline=inline, outbox=outbox, about=about)

    # -- outcomes from the inbox -------------------------------------------------------

    def deliver(self, inst: Instance, message: Message) -> None:
        """A `result` message in an owned instance's inbox: acknowledged with the records
        of the next commit, and collected as the attempt's outcome."""
        if message.id in self.delivered or inst.claim is None:
            return
        self.delivered.add(message.id)
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
        name = self.remote.pop(key, None)
        done = Done(*key, value=body.get("value"), error=error, name=name or "",
                    seconds=float("inf"))
        (self.arrived if name is not None else self.extra).append(done)

    def _poll_results(self) -> None:
        for instance_id in {key[0] for key in self.remote}:
            inst = self.engine.instances.get(instance_id)
            if inst is None or inst.claim is None:
                continue
            for message in self.engine.backend.inbox(instance_id):
                if message.body.get("type") == "result":
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

    def _run_queued(self) -> None:
        self._finish_done()
        free = self.concurrency - self.local - len(self.taken)
        if free > 0:
            for item in self.work.take(free, self.lease):
                self.taken[item.token] = item
                self.executor.submit(self._run_item, item, lookup(self.engine, item.name))
        if self.taken and time.monotonic() - self.last_renew > self.lease / 3:
            self.last_renew = time.monotonic()
            self.work.renew(list(self.taken.values()), self.lease)

    def _finish_done(self) -> None:
        while True:
            try:
                item, outcome = self.finished.get_nowait()
            except queue.Empty:
                return
            self.taken.pop(item.token, None)
            self.work.finish(item, outcome)

    def _run_item(self, item: WorkItem, fn: Callable[..., Any] | None) -> None:
        value, error, _ = run_activity(item.name, fn, item.input)
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
            if batch or time.monotonic() >= deadline:
                break
            self._wait_local(batch, min(0.01, max(0.0, deadline - time.monotonic())))
        for d in batch:
            if d.seconds != float("inf"):
                (self.quick if d.seconds < self.inline_below else self.slow).add(d.name)
        return batch

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

    def close(self, *, wait: bool) -> None:
        """Running attempts finish (with `wait`) and are reported; taken attempts that
        had not started are handed back at once rather than when their lease ends."""
        super().close(wait=wait)
        with contextlib.suppress(BackendError):  # else their leases run out: they return
            self._finish_done()
            if self.taken:
                self.work.abandon(list(self.taken.values()))
                self.taken.clear()
