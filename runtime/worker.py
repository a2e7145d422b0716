"""`serve(store)`: run every instance of a store until stopped.

Several workers may serve one store: each instance is run only by the process holding
its lock (`fcntl.flock`, released by the kernel if the process dies), so no step runs
twice at once and no journal has two writers. A worker scans the store for instances it
can lock, runs them, and releases each one when it ends.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

from runtime.api import OrchestrationError
from runtime.clock import Clock
from runtime.executor import Engine
from runtime.instance import VersionMismatchError
from runtime.journal import JournalError
from runtime.store import Store


class Worker:
    def __init__(self, store: Store, *, concurrency: int = 16, clock: Clock | None = None,
                 report: Callable[[str], None] | None = None) -> None:
        self.engine = Engine(store, clock=clock, concurrency=concurrency)
        self.store = store
        self.finished: set[str] = set()
        self.refused: set[str] = set()
        self.stop = threading.Event()
        self.report = report or (lambda line: print(line, file=sys.stderr))

    def scan(self) -> None:
        """Adopt every instance no one else runs; release the ones that ended."""
        for instance_id, inst in list(self.engine.instances.items()):
            if inst.ended and not inst.outbox:
                self.finished.add(instance_id)
                self.engine.release(instance_id)
        for instance_id in self.store.ids():
            if instance_id in self.finished or instance_id in self.refused:
                continue
            if instance_id in self.engine.instances:
                continue
            try:
                adopted = self.engine.adopt(instance_id)
            except (JournalError, VersionMismatchError, OrchestrationError, ValueError) as exc:
                # A corrupt or incompatible instance is reported once; the others go on.
                self.refused.add(instance_id)
                self.report(f"error: {exc}")
                continue
            if adopted is not None and adopted.ended and not adopted.outbox:
                self.finished.add(instance_id)
                self.engine.release(instance_id)

    def serve(self, *, until_idle: bool = False) -> None:
        """Serve until `stop` is set (or, with `until_idle`, until nothing is left)."""
        self.store.ensure()
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
        return any(i not in self.finished and i not in self.refused for i in self.store.ids())
