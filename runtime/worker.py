"""`Worker(backend).serve()`: run every instance of a store until stopped.

Several workers may serve one store: each instance is run only by the process holding
its claim (`Backend.claim`), so no step runs twice at once and no journal has two
writers. A worker asks the backend for runnable instances (live ones: its cost does not
grow with the number of ended instances), claims those it can, runs them and releases
each one when it has ended and owes nothing.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

from runtime.api import OrchestrationError
from runtime.backends import Backend, open_backend
from runtime.backends.base import BackendError
from runtime.clock import Clock
from runtime.engine import Engine
from runtime.instance import VersionMismatchError

SCAN_LIMIT = 1000  # instances offered per scan


class Worker:
    def __init__(self, store: Backend | Path | str, *, concurrency: int = 16,
                 clock: Clock | None = None,
                 report: Callable[[str], None] | None = None) -> None:
        self.backend = open_backend(store)
        self.engine = Engine(self.backend, clock=clock, concurrency=concurrency)
        self.finished: set[str] = set()
        self.refused: set[str] = set()
        self.stop = threading.Event()
        self.report = report or (lambda line: print(line, file=sys.stderr))

    def scan(self) -> None:
        """Adopt every runnable instance no one else runs; release the ones that ended."""
        for instance_id, inst in list(self.engine.instances.items()):
            if inst.ended and not inst.outbox:
                self.finished.add(instance_id)
                self.engine.release(instance_id)
        for line in self.engine.errors:
            self.report(f"error: {line}")
        self.engine.errors.clear()
        skip = self.finished | self.refused | set(self.engine.instances)
        for instance_id in self.backend.runnable(SCAN_LIMIT, skip):
            if instance_id in self.engine.instances:
                continue
            try:
                adopted = self.engine.adopt(instance_id)
            except (BackendError, VersionMismatchError, OrchestrationError, ValueError) as exc:
                # A damaged, unusable or incompatible instance is reported once; the
                # others go on.
                self.refused.add(instance_id)
                self.report(f"error: {exc}")
                continue
            if adopted is not None and adopted.ended and not adopted.outbox:
                self.finished.add(instance_id)
                self.engine.release(instance_id)

    def serve(self, *, until_idle: bool = False) -> None:
        """Serve until `stop` is set (or, with `until_idle`, until nothing is left)."""
        self.backend.ensure()
        self.backend.recover()
        self.scan()

        def done() -> bool:
            if self.stop.is_set():
                return True
            return until_idle and not self.engine.instances and not self._unfinished()

        try:
            while not done():
                self.engine.run(done, on_idle=self.scan)
        finally:
            self.engine.close()

    def _unfinished(self) -> bool:
        skip = self.finished | self.refused
        return bool(self.backend.runnable(1, skip))
