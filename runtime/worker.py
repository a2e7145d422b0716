"""`Worker(backend).serve()`: run every instance of a store until stopped.

Several workers may serve one store: each instance is run only by the process holding
its claim (`Backend.claim`), so no step runs twice at once and no journal has two
writers. A worker asks the backend for runnable instances (live ones: its cost does not
grow with the number of ended instances), claims those it can, runs them and releases
each one when it has ended and owes nothing, or while it only waits for a timer or a
message (`runtime.engine.idle`: released with its wake time, offered again when due).
"""

from __future__ import annotations

import contextlib
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
from runtime.backends.base import BackendError, Claim
from runtime.clock import Clock
from runtime.engine import Engine, idle
from runtime.engine.entities import release_idle as release_idle_entities
from runtime.instance import Instance, VersionMismatchError

SCAN_LIMIT = 1000  # instances offered per scan
GRACE = 10.0  # seconds a stopping worker waits for running activities (docs/runtime.md)
STARTUP_PATIENCE = 30.0  # seconds a starting worker waits for an unreachable store
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
        # release instances that only wait (`runtime.engine.idle`); not when serving
        # until idle, which waits for the instances it holds
        self.release_idle = True
        self.left_waiting: list[str] = []  # --until-idle left these waiting for a client

    def scan(self) -> None:
        """Adopt every runnable instance no one else runs; release the ones that ended."""
        ended = [i for i, inst in self.engine.instances.items() if inst.ended and not inst.outbox]
        self.finished.update(ended)
        self.engine.release_many(ended)  # one group: a round trip, not one per instance
        if self.release_idle:
            idle.release_idle(self.engine)  # `runnable` offers them again when due
        self.refused.update(self.engine.reap())  # broken meanwhile: reported below, once
        self._report_errors()
        release_idle_entities(self.engine)  # entities with nothing to do: offered again when posted to
        skip = self.finished | self.refused | set(self.engine.instances) | set(self.engine.entities)
        found = [i for i in self.backend.runnable(SCAN_LIMIT, skip) if i not in self.engine.instances]
        claims = self._claim_many([i for i in found if not i.startswith("@")])
        try:
            self._adopt_found(found, claims)
        finally:
            for claim in (claims or {}).values():  # not adopted (the scan was cut short)
                with contextlib.suppress(BackendError):
                    self.backend.release(claim)

    def _adopt_found(self, found: list[str], claims: dict[str, Claim] | None) -> None:
        """Adopt what a scan found, with the claims got for it (`_claim_many`; None:
        each is claimed by `adopt`); each adopted claim is taken out of `claims`."""
        for instance_id in found:
            claim = None
            if claims is not None and not instance_id.startswith("@"):
                claim = claims.pop(instance_id, None)
                if claim is None:
                    continue  # held by another worker (or gone): as a refused `claim`
            try:
                adopted = self.engine.adopt(instance_id, claim=claim)
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

    def _report_errors(self) -> None:
        """Say what the engine found since the last time (claims lost to the fence,
        instances that cannot be loaded), once each."""
        for line in self.engine.errors:
            self.report(f"error: {line}")
        self.engine.errors.clear()

    def _claim_many(self, instance_ids: list[str]) -> dict[str, Claim] | None:
        """Claims for the instances a scan found, got in one go (`Backend.claim_many`);
        None when that failed (an instance that cannot be loaded, a store error): each
        is then claimed on its own by `adopt`, which reports the one at fault."""
        if len(instance_ids) < 2 or type(self.backend).claim_many is Backend.claim_many:
            # one claim at a time gains nothing there, and a worker on a full disk that
            # held the claims of everything it found ahead never went idle
            # (tests/robustness/test_enospc.py): `adopt` claims each instead
            return None
        try:
            return {c.instance_id: c for c in self.backend.claim_many(instance_ids)}
        except BackendError:
            return None

    def serve(self, *, until_idle: bool = False, grace: float = GRACE) -> None:
        """Serve until `stop` is set (or, with `until_idle`, until nothing is left that it
        can do by itself: what is left waits for an event or a resume from a client, and
        is named in one `note:` line).

        Once stopped, activities still running have `grace` seconds to finish, so their
        results are journaled rather than run again on resume; what is waited for is
        reported in one line. Another stop request meanwhile (`stop_now`) ends the wait."""
        self.release_idle = not until_idle
        self.backend.expect_outages(STARTUP_PATIENCE)  # a server restarting as we start
        self.backend.ensure()
        self.backend.recover()
        observe.emit(observe.WorkerStarted(getattr(self.backend, "spec", type(self.backend).__name__),
                                           self.engine.pool.concurrency,
                                           tuple(sorted(REGISTRY.orchestrators))))
        self.scan()

        def done() -> bool:
            if self.stop.is_set():
                return True
            if not until_idle:
                return False
            if not self.engine.instances and not self.engine.entities:
                return not self._unfinished()
            if self.engine.entities:  # entity traffic is never waiting for a client
                return False
            # Idle too when what is left waits for a client (issue 17: out of inodes, the
            # clients' raise-events were refused, and --until-idle waited for them forever)
            waiting = waiting_on_clients(self.engine)
            if waiting is None or self._unfinished(set(self.engine.instances)):
                return False
            self.left_waiting = waiting
            return True

        try:
            while not done():
                self.engine.run(done, on_idle=self.scan)
            # what the last round found, after the last scan: a worker that lost every
            # claim to the fence went idle at once and exited without saying so
            self._report_errors()
            if self.stop.is_set():
                self._drain(grace)
            elif self.left_waiting:
                ids = self.left_waiting
                self.report(
                    f"note: idle: {len(ids)} instance{'s wait' if len(ids) != 1 else ' waits'} "
                    f"for an event or a resume from a client ({', '.join(ids[:5])}"
                    f"{', ...' if len(ids) > 5 else ''}); a worker started later runs "
                    f"{'them' if len(ids) != 1 else 'it'} on")
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

    def _unfinished(self, owned: set[str] | None = None) -> bool:
        """Is an instance runnable that this worker has not finished or refused (nor
        owns, among `owned`)?"""
        skip = self.finished | self.refused | (owned or set())
        return bool(self.backend.runnable(1, skip))


#: task kinds that only a client's message completes, or that are done when their
#: children are
_CLIENT_TASKS = frozenset({"event", "when_all", "when_any"})


def waiting_on_clients(engine: Engine) -> list[str] | None:
    """The ids of the instances `engine` holds if nothing is under way (no activity
    running, no timer set) and each waits only for what a client sends: an external
    event, or a resume, with nothing in its inbox; else None. A sub-orchestration held here
    that waits so counts as waiting so for its parent."""
    if engine.pool.inflight or engine.next_deadline() is not None:
        return None

    def waits(inst: Instance, parents: frozenset[str]) -> bool:
        if inst.ended or inst.broken or inst.outbox or inst.pending_events:
            return False
        if not (inst.suspended or inst.blocked()):
            return False  # it can take a step
        for task in inst.table.tasks.values():
            if task.done or task.kind in _CLIENT_TASKS:
                continue
            child = engine.instances.get(task.child_id or "")
            if (task.kind == "sub_orchestration" and child is not None
                    and child.id not in parents and waits(child, parents | {inst.id})):
                continue
            return False
        return True

    insts = list(engine.instances.values())
    if not all(waits(inst, frozenset()) for inst in insts):
        return None
    # and nothing has come since the last poll (a worker that just adopted them has not
    # read their inboxes yet)
    if any(engine.backend.inbox(inst.id) for inst in insts):
        return None
    return sorted(inst.id for inst in insts)


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
