"""A worker that refuses one instance (its step raised a backend error) goes on with the
others and, with --until-idle, still ends."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

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


@pytest.mark.xfail(strict=True, reason=(
    "bug for the backend engineer: when `advance` inside Engine.adopt raises (here the "
    "BackendUnavailable of a child's creation), Worker.scan reports the instance and adds it "
    "to `refused`, but Engine.adopt has already put it in `engine.instances` with its claim, "
    "so `worker --until-idle` never ends (done() needs engine.instances empty), and the "
    "instance is neither failed nor released"))
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
