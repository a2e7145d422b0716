"""`Worker(backend).serve()`: run every instance of a store until stopped.

Several workers may serve one store: each instance is run only by the process holding
its claim (`Backend.claim`), so no step runs twice at once and no journal has two
writers. A worker asks the backend for runnable instances (live ones: its cost does not
grow with the number of ended instances), claims those it can, runs them and releases
each one when it has ended and owes nothing.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from runtime import observe
from runtime.api import REGISTRY, OrchestrationError
from runtime.backends import Backend, open_backend
from runtime.backends.base import BackendError
from runtime.clock import Clock
from runtime.engine import Engine
from runtime.engine.entities import release_idle
from runtime.instance import VersionMismatchError

SCAN_LIMIT = 1000  # instances offered per scan
GRACE = 10.0  # seconds a stopping worker waits for running activities (docs/runtime.md)
RESTARTS = 5  # a worker thread that fails this many times in a row takes its server down


class Worker:
    def __init__(self, store: Backend | Path | str, *, concurrency: int = 16,
                 clock: Clock | None = None,
                 report: Callable[[str], None] | None = None) -> None:
        self.backend = open_backend(store)
        self.owned = not isinstance(store, Backend)  # opened here: closed by `serve`
        self.engine = Engine(self.backend, clock=clock, concurrency=concurrency)
        self.finished: set[str] = set()
        self.refused: set[str] = set()
        self.stop = threading.Event()
        self.stop_now = threading.Event()
        self.report = report or (lambda line: print(line, file=sys.stderr))

    def scan(self) -> None:
        """Adopt every runnable instance no one else runs; release the ones that ended."""
        for instance_id, inst in list(self.engine.instances.items()):
            if inst.ended and not inst.outbox:
                self.finished.add(instance_id)
                self.engine.release(instance_id)
        self.refused.update(self.engine.reap())  # broken meanwhile: reported below, once
        for line in self.engine.errors:
            self.report(f"error: {line}")
        self.engine.errors.clear()
        release_idle(self.engine)  # entities with nothing to do: offered again when posted to
        skip = self.finished | self.refused | set(self.engine.instances) | set(self.engine.entities)
        for instance_id in self.backend.runnable(SCAN_LIMIT, skip):
            if instance_id in self.engine.instances:
                continue
            try:
                adopted = self.engine.adopt(instance_id)
            except (BackendError, VersionMismatchError, OrchestrationError) as exc:
                # A damaged, unusable or incompatible instance is reported once; the
                # others go on.
                self.refused.add(instance_id)
                self.report(f"error: {exc}")
                continue
            except Exception as exc:  # its checkpoint does not load: its problem only
                self.refused.add(instance_id)
                self.report(f"error: instance {instance_id} cannot be loaded: "
                            f"{type(exc).__name__}: {exc}")
                continue
            if adopted is not None and adopted.ended and not adopted.outbox:
                self.finished.add(instance_id)
                self.engine.release(instance_id)

    def serve(self, *, until_idle: bool = False, grace: float = GRACE) -> None:
        """Serve until `stop` is set (or, with `until_idle`, until nothing is left).

        Once stopped, activities still running have `grace` seconds to finish, so their
        results are journaled rather than run again on resume; what is waited for is
        reported in one line. Another stop request meanwhile (`stop_now`) ends the wait."""
        self.backend.ensure()
        self.backend.recover()
        observe.emit(observe.WorkerStarted(getattr(self.backend, "spec", type(self.backend).__name__),
                                           self.engine.pool.concurrency,
                                           tuple(sorted(REGISTRY.orchestrators))))
        self.scan()

        def done() -> bool:
            if self.stop.is_set():
                return True
            return (until_idle and not self.engine.instances and not self.engine.entities
                    and not self._unfinished())

        try:
            while not done():
                self.engine.run(done, on_idle=self.scan)
            if self.stop.is_set():
                self._drain(grace)
        finally:
            try:
                self.engine.close(wait=False)
            finally:
                if self.owned:
                    self.backend.close()

    def _drain(self, grace: float) -> None:
        pool = self.engine.pool
        pool.stopping = True  # outcomes are journaled; nothing new starts
        if not pool.inflight:
            return
        self.report(f"stopping: waiting up to {grace:g} s for {pool.inflight} running "
                    f"activit{'y' if pool.inflight == 1 else 'ies'} to finish, so their results "
                    f"are journaled: {pool.describe_running()}; press Ctrl-C again to stop now "
                    "(they run again when their instances resume)")
        deadline = time.monotonic() + grace
        while pool.inflight and time.monotonic() < deadline and not self.stop_now.is_set():
            self.engine.collect(min(0.1, max(0.001, deadline - time.monotonic())))
        if pool.inflight:
            self.report(f"stopped with {pool.inflight} activities still running: "
                        f"{pool.describe_running()}")

    def interrupt(self) -> None:
        """Ctrl-C: the first stops the worker gracefully, the second at once."""
        if self.stop.is_set():
            self.stop_now.set()
        self.stop.set()

    def _unfinished(self) -> bool:
        skip = self.finished | self.refused
        return bool(self.backend.runnable(1, skip))


def supervise(make: Callable[[], Worker], stop: threading.Event, *,
              report: Callable[[str], None] | None = None,
              give_up: Callable[[], None] | None = None, backoff: float = 0.5) -> None:
    """Run workers one after the other until `stop` is set: a worker that dies (any
    exception) is reported with its traceback and replaced after a backoff; after
    RESTARTS failures in a row `give_up` runs (default: SIGTERM to this process, which
    stops `tether serve` loudly), so a server never goes on answering 202 for instances
    that nothing runs (issue 17)."""
    say = report or (lambda line: print(line, file=sys.stderr, flush=True))
    failures = 0
    while not stop.is_set():
        worker = make()
        stopper = threading.Thread(target=lambda w=worker: (stop.wait(), w.stop.set()),
                                   daemon=True)
        stopper.start()
        started = time.monotonic()
        try:
            worker.serve()
            return
        except Exception as exc:
            if time.monotonic() - started > 60:
                failures = 0  # it worked for a while: count afresh
            failures += 1
            say("".join(traceback.format_exception(exc)).rstrip())
            if failures >= RESTARTS:
                say(f"error: the worker thread failed {failures} times in a row "
                    f"({type(exc).__name__}: {exc}); stopping the server")
                (give_up or _take_down)()
                return
            say(f"error: the worker thread failed ({type(exc).__name__}: {exc}); "
                f"restarting it ({failures} of {RESTARTS})")
            stop.wait(backoff * 2 ** (failures - 1))


def _take_down() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
