"""A worker that cannot create one instance's child (the store's trouble, not the step's)
breaks that instance only: it is reported once, released, not Failed; the others go on,
and `worker --until-idle` still ends. Before: Engine.adopt kept the instance (and its
claim) in `engine.instances` after Worker.scan had refused it, so --until-idle never
ended; under other callers the parent was marked Failed for good."""

from __future__ import annotations

import threading
from pathlib import Path

import compiler
from runtime.backends.base import BackendUnavailable, NewInstance
from runtime.backends.file import FileBackend
from runtime.client import Client
from runtime.worker import Worker

PROGRAM = '''
from tether import activity, orchestrator

@activity
def refused_step(x):
    return x + 1

@orchestrator
async def refused_kid(ctx, x):
    return x

@orchestrator
async def refused_parent(ctx, x):
    return await ctx.call_sub_orchestrator(refused_kid, x)

@orchestrator
async def refused_plain(ctx, x):
    return await ctx.call_activity(refused_step, x)
'''


class NoChildren(FileBackend):
    """A store that cannot create sub-orchestrations (as a full disk or a permission
    problem on its staging folder would make it)."""

    def create_many(self, items: list[NewInstance]) -> list[str]:  # type: ignore[override]
        if any(":" in item.instance_id for item in items):
            raise BackendUnavailable("store: cannot create instances: permission denied")
        return super().create_many(items)


def test_until_idle_ends_when_an_instance_is_refused(tmp_path: Path) -> None:
    module = compiler.load_source(PROGRAM, "refused.py", "_tether_refused")
    backend = NoChildren(tmp_path / "store")
    backend.ensure()
    client = Client(backend)
    client.start(module.refused_parent.__tether_machine__, 1, instance_id="parent")
    client.start(module.refused_plain.__tether_machine__, 1, instance_id="plain")
    reports: list[str] = []
    worker = Worker(backend, report=reports.append)
    thread = threading.Thread(target=worker.serve, kwargs={"until_idle": True}, daemon=True)
    thread.start()
    thread.join(20)
    stuck = thread.is_alive()
    worker.stop.set()
    thread.join(20)
    assert client.status("plain")["runtimeStatus"] == "Completed"  # the others go on
    assert [r for r in reports if "parent" in r or "cannot create" in r], reports
    assert not stuck, "worker --until-idle did not end after refusing an instance"
    assert client.status("parent")["runtimeStatus"] != "Failed"  # tried again later
