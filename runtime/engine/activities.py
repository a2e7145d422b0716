"""Activities: running attempts on a thread pool (or inline), and journaling outcomes.

At most `concurrency` attempts are started and not yet collected; the others wait their
turn in order (`ActivityPool.held`), which also bounds what a killed process repeats. A
sync activity may run on the engine's own thread when the engine has nothing else to do
and every earlier attempt of it in this process took under `inline_below` seconds
(`judge`: its own time, not its observers'; a slow attempt during which the garbage
collector ran is not held against it; docs/runtime.md). Activities run in the owner's process: the file backend has no work
queue (`Backend.work_queue` is None), so this is the only way they run today.
"""

from __future__ import annotations

import functools
import gc
import inspect
import queue
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime import observe
from runtime.api import REGISTRY, TaskFailedError
from runtime.clock import iso, parse_iso
from runtime.context import TaskState, boundary, error_json

if TYPE_CHECKING:
    from runtime.backends.base import Message, Record
    from runtime.engine.core import Engine
    from runtime.instance import Instance


@dataclass(slots=True)
class Done:
    """An activity attempt finished (sent from a pool thread to the engine thread; one a
    step of a chain: slotted, and built positionally)."""

    instance: str
    generation: int
    task: int
    attempt: int
    value: Any = None
    error: TaskFailedError | None = None
    name: str = ""
    seconds: float = 0.0  # how long the attempt ran
    # False when the garbage collector ran during the attempt: a slow time then says
    # nothing of the activity's (with a compiler's worth of objects alive one collection
    # takes over a millisecond, which sent a quick activity to the pool for good)
    timed: bool = True
    outbox: str = ""  # the instance's outbox key, for fire-and-forget work owed after its end


def _accepts_input(fn: Callable[..., Any]) -> bool:
    try:
        return _signature_takes_input(fn)
    except TypeError:  # an unhashable callable: not cached
        return _signature_takes_input.__wrapped__(fn)


@functools.lru_cache(maxsize=1024)
def _signature_takes_input(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
               for p in params)


def run_activity(name: str, fn: Callable[..., Any] | None,
                 data: Any) -> tuple[Any, TaskFailedError | None, bool]:
    """Run one attempt; an exception becomes TaskFailedError(message, type, traceback).
    The flag says whether the activity was async (its coroutine ran under `asyncio.run`)."""
    if fn is None:
        return None, TaskFailedError(f"no activity named {name!r} is registered",
                                     error_type="OrchestrationError", task_name=name), False
    was_async = False
    try:
        result = fn(data) if _accepts_input(fn) else fn()
        if inspect.iscoroutine(result):
            was_async = True
            import asyncio  # only for async activities: asyncio (and ssl) cost a CLI start

            result = asyncio.run(result)
        return boundary(result, f"result of activity {name}"), None, was_async
    except Exception as exc:
        return None, TaskFailedError(str(exc), error_type=type(exc).__name__,
                                     details=traceback.format_exc(), task_name=name), was_async


class DaemonThreads:
    """Up to `size` daemon threads running jobs in order of submission.

    Not `ThreadPoolExecutor`: its threads are joined when the interpreter exits, so one
    hung activity would keep `tether run` or a stopped worker alive for ever after its
    instance was terminated (issue 17). An attempt still running when the process exits
    is simply repeated by whoever resumes its instance (activities run at least once)."""

    def __init__(self, size: int, name: str) -> None:
        self.size, self.name = size, name
        self.jobs: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...],
                                           dict[str, Any]] | None] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.idle = 0
        self.lock = threading.Lock()

    def submit(self, fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        with self.lock:
            if self.idle == 0 and len(self.threads) < self.size:
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"{self.name}-{len(self.threads)}")
                self.threads.append(thread)
                thread.start()
            else:
                self.idle -= 1  # this job will take one of the idle threads
        self.jobs.put((fn, args, kwargs))

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            fn, args, kwargs = job
            fn(*args, **kwargs)
            with self.lock:
                self.idle += 1

    def shutdown(self, *, wait: bool) -> None:
        """Stop the threads once their current job is done (queued jobs are dropped);
        with `wait`, wait for them."""
        while True:
            try:
                self.jobs.get_nowait()
            except queue.Empty:
                break
        for _ in self.threads:
            self.jobs.put(None)
        if wait:
            for thread in self.threads:
                thread.join()


class ActivityPool:
    """The threads that run attempts, what is in flight, and what waits for a slot."""

    def __init__(self, concurrency: int, inline_below: float) -> None:
        self.executor = DaemonThreads(concurrency, "tether-activity")
        self.done: queue.SimpleQueue[Done] = queue.SimpleQueue()
        self.inflight = 0  # attempts started and not yet collected, at most `concurrency`
        self.concurrency = concurrency
        self.held: deque[Callable[[], None]] = deque()  # attempts waiting for a free slot
        self.inline_below = inline_below
        self.quick: set[str] = set()  # sync activities that ran under inline_below
        self.slow: set[str] = set()  # ... and those judged slow for good (`judge`)
        self.strikes: dict[str, int] = {}  # slow attempts in a row, each a little slow
        self.running: dict[tuple[str, int, int, int], tuple[str, float]] = {}  # for Ctrl-C
        self.stopping = False  # a worker was asked to stop: start nothing new

    def full(self) -> bool:
        """No attempt may start now (`concurrency` in flight, or the engine is stopping)."""
        return self.inflight >= self.concurrency or self.stopping

    def adopting(self, inst: Instance) -> None:
        """`inst` was just claimed and loaded; its pending work is about to start."""

    def forget(self, instance_id: str) -> None:
        """The instance was released or dropped: forget what is kept about it."""

    def serving(self) -> bool:
        """Running attempts of other processes' instances (`distributed.py`)?"""
        return False

    def deliver(self, inst: Instance, message: Message) -> None:
        """An activity outcome posted by another worker (`distributed.py`): none is
        awaited here, where every attempt runs in this process; acknowledged, dropped."""
        if inst.claim is not None:
            inst.claim.ack([message.id])

    def start(self, key: tuple[str, int, int, int], name: str, fn: Callable[..., Any] | None,
              data: Any, *, inline: bool = False, outbox: str = "",
              about: observe.ActivityStarted | None = None) -> None:
        """`about`, when given, is reported to observers as the attempt starts (on the
        thread that runs it, so a tracer can make its span current for the activity)."""
        self.inflight += 1
        if inline and name in self.quick and name not in self.slow:
            self.run(key, name, fn, data, inline=True, about=about)
        else:
            self.executor.submit(self.run, key, name, fn, data, outbox=outbox, about=about)

    def start_held(self) -> None:
        """Start held-back attempts while fewer than `concurrency` are in flight."""
        while self.held and not self.full():
            self.held.popleft()()

    def describe_running(self) -> str:
        """The attempts running now, longest first: `name (4.1 s)`, for a stopping worker."""
        now = time.monotonic()
        running = sorted(self.running.values(), key=lambda r: r[1])
        return ", ".join(f"{name} ({now - since:.1f} s)" for name, since in running)

    def run(self, key: tuple[str, int, int, int], name: str, fn: Callable[..., Any] | None,
            data: Any, *, inline: bool = False, outbox: str = "",
            about: observe.ActivityStarted | None = None) -> None:
        """Run one attempt (on a pool thread, or inline) and queue its outcome for the
        engine thread."""
        # counted, and reported only if a subscriber wants it (observe.py)
        told = about is not None and observe.attempt_started(name)
        if told:
            assert about is not None
            if not inline:  # it starts now, not when it was queued
                about = observe.ActivityStarted(
                    about.instance_id, about.orchestration, trace=about.trace, task=about.task,
                    activity=about.activity, attempt=about.attempt, started=time.time())
            observe.emit(about)
        start, collections = time.perf_counter(), gc.get_count()
        self.running[key] = (name, time.monotonic())
        try:
            value, error, was_async = run_activity(name, fn, data)
        except BaseException as exc:
            if inline:  # Ctrl-C or exit on the engine thread stops the engine, as anywhere
                raise
            # on a pool thread (a bug in run_activity, or SystemExit): still report an outcome
            value, error, was_async = None, TaskFailedError(str(exc), error_type=type(exc).__name__), True
        finally:
            self.running.pop(key, None)
        # The attempt's own time, observers not included: timed after them, one slow log
        # handler sent a quick activity to the pool for good, two thread hand-offs per
        # step of a chain. A collection shows in the collector's counts of the older
        # generations (bumped or reset by every collection but a full one that finds them
        # at zero); not in a `gc.callbacks` clock, whose Python code would swallow a
        # Ctrl-C that arrived during the collection.
        seconds = time.perf_counter() - start
        timed = True  # (asked only of a slow attempt: `judge` looks at nothing else)
        if seconds >= self.inline_below:
            after = gc.get_count()
            timed = after[1] == collections[1] and after[2] == collections[2]
        if about is not None and observe.attempt_ended(name, seconds, error is not None):
            observe.emit(observe.ActivityEnded(
                about.instance_id, about.orchestration, trace=about.trace, task=about.task,
                activity=name, attempt=about.attempt,
                started=about.started if told or inline else time.time() - seconds,
                seconds=seconds,
                error=None if error is None else f"{error.error_type}: {error.message}"))
        # async activities always run on the pool (asyncio.run needs a thread without a loop)
        if was_async:
            seconds, timed = float("inf"), True
        self.done.put(Done(*key, value, error, name, seconds, timed, outbox))

    def take(self, timeout: float | None, virtual: bool) -> list[Done]:
        """The outcomes that arrived (waiting up to `timeout` for the first). Under the
        virtual clock, everything in flight or held back finishes "at once", as
        activities do in runtime.direct, so the batch (and its journal order) is no race."""
        batch: list[Done] = []
        try:
            batch.append(self.done.get(timeout=timeout) if timeout else self.done.get_nowait())
        except queue.Empty:
            return batch
        while True:
            try:
                batch.append(self.done.get_nowait())
            except queue.Empty:
                if not virtual:
                    break
                self.inflight -= len(batch)
                self.start_held()
                self.inflight += len(batch)
                if len(batch) >= self.inflight:
                    break
                batch.append(self.done.get())
        self.inflight -= len(batch)
        for d in batch:
            judge(self, d)
        return batch

    def close(self, *, wait: bool) -> None:
        self.executor.shutdown(wait=wait)


#: an attempt this many times over `inline_below` is slow at once; one a little over it
#: is a strike, and STRIKES of them in a row (no quick attempt between) make it slow
SLOW_AT_ONCE = 100
STRIKES = 3


def judge(pool: ActivityPool, d: Done) -> None:
    """Quick or slow, as the attempt's time says. Quick if under `inline_below` (and its
    strikes forgiven). Over it with no collection meanwhile (a collection's time is the
    interpreter's): slow for good if `SLOW_AT_ONCE` times over, else a strike, and slow
    for good at the `STRIKES`th in a row. A loaded machine's scheduler can make one
    attempt of a quick activity take milliseconds; that alone no longer sends it to the
    pool for good, which cost a chain two thread hand-offs per step from then on. (An
    activity that turns slow holds the engine thread, which had nothing else to do, for
    the attempt that shows it and at most STRIKES - 1 more of under SLOW_AT_ONCE x
    inline_below each.)"""
    name = d.name
    if d.seconds < pool.inline_below:
        pool.quick.add(name)
        if pool.strikes:
            pool.strikes.pop(name, None)
    elif d.timed:
        if d.seconds >= pool.inline_below * SLOW_AT_ONCE:
            pool.slow.add(name)
            return
        strikes = pool.strikes.get(name, 0) + 1
        if strikes >= STRIKES:
            pool.slow.add(name)
            pool.strikes.pop(name, None)
        else:
            pool.strikes[name] = strikes


def lookup(engine: Engine, name: str) -> Callable[..., Any] | None:
    fn = engine.overrides.get(name)
    if fn is None and name in REGISTRY.activities:
        fn = REGISTRY.activities[name].fn
    return fn


def start_activity(engine: Engine, inst: Instance, t: TaskState, *, inline: bool = False) -> None:
    """Run an attempt on the pool; or, when `inline` (the engine has nothing else to
    do) and the activity is sync and is judged quick (`judge`), right here on the engine
    thread, which saves two thread hand-offs per step of a sequential chain."""
    t.started = True
    if t.fire_at is not None:  # waiting for a retry attempt
        engine.timers.push(t.fire_at, inst.id, t.id, inst.generation)
        return
    assert t.name is not None
    if engine.pool.full():
        # Start no more than `concurrency` at once: an attempt started is one a kill
        # would repeat until its result is journaled.
        instance_id, generation, task_id = inst.id, inst.generation, t.id
        engine.pool.held.append(lambda: resume_held(engine, instance_id, generation, task_id))
        return
    engine.pool.start((inst.id, inst.generation, t.id, t.attempt), t.name,
                      lookup(engine, t.name), t.input, inline=inline,
                      about=observe.ActivityStarted(inst.id, inst.name, t.id, t.name, t.attempt,
                                                    time.time(), trace=inst.trace))


def resume_held(engine: Engine, instance_id: str, generation: int, task_id: int) -> None:
    from runtime.engine.outbox import send_activity

    inst = engine.instances.get(instance_id)
    if inst is None:
        return
    key = f"{generation}:{task_id}"
    if inst.generation != generation:  # continued as new meanwhile: owed, or dropped
        if key in inst.outbox:
            send_activity(engine, inst, key, inst.outbox[key])
        return
    t = inst.table.tasks.get(task_id)
    if t is not None and not t.done and (key in inst.outbox or not inst.ended):
        start_activity(engine, inst, t)


def collect(engine: Engine, timeout: float | None) -> bool:
    """Journal the activity outcomes that arrived (waiting up to `timeout` for one)."""
    batch = engine.pool.take(timeout, engine.clock.virtual)
    if not batch:
        return False
    if len(batch) > 1:  # (a chain's every step has one)
        batch.sort(key=lambda d: (d.instance, d.task))
    items: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    seen: set[tuple[str, int, int, int, str]] | None = set() if len(batch) > 1 else None
    for d in batch:
        # Two outcomes of one attempt can arrive together where attempts also run on
        # other workers (a queued attempt whose result comes back through the inbox while
        # a new owner runs it here again): the first is recorded, the other dropped, as
        # later ones are by `t.done` once the first is applied.
        if seen is not None:
            key = (d.instance, d.generation, d.task, d.attempt, d.outbox)
            if key in seen:
                continue
            seen.add(key)
        inst = engine.instances.get(d.instance)
        if inst is not None and inst.outbox:  # (the key is built only if anything is owed)
            owed = d.outbox or f"{d.generation}:{d.task}"
            if owed in inst.outbox and (d.outbox or inst.ended or inst.generation != d.generation):
                # fire and forget, after the end: the outcome only says it ran
                sent: dict[str, Any] = {"key": owed}
                if d.error is not None:
                    sent["error"] = error_json(d.error)
                items.setdefault(inst.id, []).append(("sent", sent))
                continue
        if inst is None or inst.ended or inst.generation != d.generation:
            continue
        t = inst.table.tasks.get(d.task)
        if t is None or t.done or t.attempt != d.attempt:
            continue
        tie = inst.claim.next_seq if inst.claim is not None else 0
        items.setdefault(inst.id, []).append(outcome(engine, inst, t, d.value, d.error, tie))
    # An instance's outcomes that arrived together are one event: one write, so a
    # crash cannot leave half of the group (when_any's winner depends on the group).
    # An earlier stage that met the fence drops every claim found lost with it
    # (`Engine.lose_all`): those instances are gone from `engine.instances` by their turn.
    records: dict[str, list[Record]] = {}
    for i, group in items.items():
        inst = engine.instances.get(i)
        if inst is not None:
            records[i] = engine.append_many(inst, group)
    engine.commit(records)
    engine.pool.start_held()
    return True


def outcome_record(engine: Engine, inst: Instance, t: TaskState, value: Any,
                   error: TaskFailedError | None) -> list[Record]:
    return engine.append(inst, *outcome(engine, inst, t, value, error))


def outcome(engine: Engine, inst: Instance, t: TaskState, value: Any,
            error: TaskFailedError | None, tie: int | None = None) -> tuple[str, dict[str, Any]]:
    """A `result`, or a `retry` when the policy allows another attempt. Results that
    arrived together share `tie` (the seq of the first): `when_any` treats them as
    completed by one event, and the lowest index wins."""
    extra = {} if tie is None else {"tie": tie}
    if error is not None and t.retry is not None and t.attempt < t.retry.max_attempts:
        now = engine.now(inst)
        fire_at = now + t.retry.delay_before(t.attempt + 1)
        first = parse_iso(t.first_at) if t.first_at else now
        timeout = t.retry.retry_timeout
        if timeout is None or fire_at - first <= timeout:
            return "retry", {"task": t.id, "attempt": t.attempt + 1,
                             "fire_at": iso(fire_at), "error": error_json(error)}
    if error is not None:
        return "result", {"task": t.id, "error": error_json(error), **extra}
    return "result", {"task": t.id, "value": value, **extra}
