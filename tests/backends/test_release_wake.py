"""`Backend.release(claim, wake_at=...)`: an instance that only waits is given up with
the time it next has work, holds no claim meanwhile, and `runnable` offers it again when
that time comes or a message arrives, whichever is first (runtime/backends/base.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from runtime.backends import open_backend
from runtime.backends.base import WAKE_NEVER, Backend
from runtime.clock import iso
from tests.backends.support import Stores
from tests.backends.test_contract import T0, claimed, new


def asleep(backend: Backend, instance_id: str, wake_at: str) -> None:
    claim = claimed(backend, instance_id)
    claim.stage([("checkpoint", {"suspended": False, "custom_status": "waiting"})], iso(T0))
    backend.release(claim, wake_at=wake_at)


def test_a_sleeping_instance_is_offered_when_its_time_comes(backend: Backend) -> None:
    backend.create_many([new("a"), new("b")])
    wake = datetime.now(UTC) + timedelta(seconds=1.5)
    asleep(backend, "a", iso(wake))
    assert backend.runnable(10) == ["b"]
    assert backend.status("a")["customStatus"] == "waiting"  # committed by the release
    while datetime.now(UTC) < wake:
        time.sleep(0.1)
    time.sleep(0.1)
    assert sorted(backend.runnable(10)) == ["a", "b"]


def test_a_sleeping_instance_holds_no_claim(stores: Stores) -> None:
    spec = stores()
    owner, other = open_backend(spec), open_backend(spec)
    owner.ensure()
    owner.create(new("a"))
    asleep(owner, "a", iso(datetime.now(UTC) + timedelta(hours=1)))
    assert owner.runnable(10) == []
    claim = other.claim("a")  # another worker may take it at once (say, for a message)
    assert claim is not None and claim.loaded.checkpoint is not None
    other.release(claim)
    assert owner.runnable(10) == ["a"]  # released without a wake time: offered at once
    owner.close()
    other.close()


def test_a_message_wakes_a_sleeping_instance(backend: Backend) -> None:
    backend.create_many([new("a"), new("b")])
    asleep(backend, "a", WAKE_NEVER)
    asleep(backend, "b", iso(datetime.now(UTC) + timedelta(hours=1)))
    assert backend.runnable(10) == []
    backend.post("a", {"type": "event", "name": "go", "data": None})
    assert backend.runnable(10) == ["a"]


def test_a_message_sent_by_another_step_wakes_it(stores: Stores) -> None:
    spec = stores()
    sender, reader = open_backend(spec), open_backend(spec)
    sender.ensure()
    sender.create_many([new("a"), new("b")])
    asleep(sender, "b", WAKE_NEVER)
    claim = claimed(sender, "a")
    claim.stage([("checkpoint", {"suspended": False, "custom_status": None})], iso(T0))
    claim.send("b", {"type": "event", "name": "go", "data": 1})
    assert reader.runnable(10, skip={"a"}) == []
    sender.commit([claim])
    assert reader.runnable(10, skip={"a"}) == ["b"]
    sender.release(claim)
    sender.close()
    reader.close()


def test_a_message_that_came_before_the_release_is_not_slept_through(backend: Backend) -> None:
    backend.create(new("a"))
    claim = claimed(backend, "a")
    backend.post("a", {"type": "event", "name": "go", "data": None})  # while it was held
    backend.release(claim, wake_at=WAKE_NEVER)
    assert backend.runnable(10) == ["a"]


def test_finished_wins_over_a_wake_time(backend: Backend) -> None:
    backend.create(new("a"))
    claim = claimed(backend, "a")
    claim.stage([("completed", {"output": 1, "custom_status": None})], iso(T0))
    backend.release(claim, finished=True, wake_at=iso(datetime.now(UTC)))
    assert backend.runnable(10) == []
