"""The backend contract (runtime/backends/base.py), checked on every backend.

Each test states one promise of the interface; a new backend passes these before the
engine runs on it (docs/backends.md, "Writing a backend")."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runtime.backends.base import (
    Backend,
    Claim,
    NewInstance,
    Query,
)
from runtime.clock import iso, parse_iso

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def new(instance_id: str, *, name: str = "orch", at: datetime = T0, **extra: Any) -> NewInstance:
    ts = iso(at)
    data = {"name": name, "input": {"n": 1}, "graph_hash": "abc", "source": "x.py",
            "parent": None, "generation": 0, "start": ts, **extra}
    return NewInstance(instance_id, ts, data)


def claimed(backend: Backend, instance_id: str) -> Claim:
    claim = backend.claim(instance_id)
    assert claim is not None, f"could not claim {instance_id}"
    return claim


def finish(backend: Backend, instance_id: str, output: Any = "done") -> None:
    claim = claimed(backend, instance_id)
    claim.stage([("completed", {"output": output, "custom_status": None})], iso(T0))
    backend.release(claim, finished=True)


# -- creating -------------------------------------------------------------------------------


def test_create_makes_a_pending_instance_readable_without_a_claim(backend: Backend) -> None:
    assert backend.create(new("a"))
    assert backend.exists("a") and not backend.exists("b")
    doc = backend.status("a")
    assert doc is not None
    assert (doc["name"], doc["runtimeStatus"], doc["input"]) == ("orch", "Pending", {"n": 1})
    assert doc["createdTime"] == iso(T0)
    assert [r.kind for r in backend.history("a")] == ["created"]
    assert backend.status("b") is None


def test_create_refuses_an_existing_id(backend: Backend) -> None:
    assert backend.create(new("a"))
    assert not backend.create(new("a", name="other"))
    doc = backend.status("a")
    assert doc is not None and doc["name"] == "orch"


def test_create_many_skips_existing_ids_and_keeps_order(backend: Backend) -> None:
    assert backend.create(new("b"))
    made = backend.create_many([new("c"), new("b"), new("a")])
    assert made == ["c", "a"]
    assert all(backend.exists(i) for i in "abc")


def test_concurrent_creates_of_one_id_let_exactly_one_win(backend: Backend) -> None:
    wins: list[bool] = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        barrier.wait()
        wins.append(backend.create(new("same")))

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False, False, False, True]


# -- claims, staging, commit ------------------------------------------------------------------


def test_a_claim_is_exclusive_until_released(backend: Backend) -> None:
    backend.create(new("a"))
    first = claimed(backend, "a")
    assert backend.claim("a") is None
    backend.release(first)
    second = claimed(backend, "a")
    backend.release(second)


def test_claiming_an_unknown_instance_gives_none(backend: Backend) -> None:
    assert backend.claim("nobody") is None


def test_committed_records_are_loaded_by_the_next_claim(backend: Backend) -> None:
    backend.create(new("a"))
    claim = claimed(backend, "a")
    assert claim.loaded.first.kind == "created" and claim.loaded.checkpoint is None
    assert claim.next_seq == 1
    recs = claim.stage([("checkpoint", {"step": 1, "suspended": False}),
                        ("result", {"task": 0, "value": [1, "x", None]})], iso(T0))
    assert [r.seq for r in recs] == [1, 2] and claim.next_seq == 3
    backend.commit([claim])
    backend.release(claim)
    again = claimed(backend, "a")
    assert again.loaded.checkpoint is not None and again.loaded.checkpoint.seq == 1
    assert [(r.kind, r.data) for r in again.loaded.tail] == [
        ("result", {"task": 0, "value": [1, "x", None]})]
    backend.release(again)


def test_load_starts_at_the_last_checkpoint(backend: Backend) -> None:
    backend.create(new("a"))
    claim = claimed(backend, "a")
    for step in range(5):
        claim.stage([("checkpoint", {"step": step})], iso(T0))
        claim.stage([("timer", {"task": step})], iso(T0))
    backend.release(claim)
    again = claimed(backend, "a")
    assert again.loaded.checkpoint is not None and again.loaded.checkpoint.data == {"step": 4}
    assert [r.data for r in again.loaded.tail] == [{"task": 4}]
    backend.release(again)
    assert [r.seq for r in backend.history("a")] == list(range(11))


def test_status_follows_the_committed_records(backend: Backend) -> None:
    backend.create(new("a"))
    claim = claimed(backend, "a")
    claim.stage([("checkpoint", {"step": 1, "custom_status": "busy"})], iso(T0))
    backend.commit([claim])
    doc = backend.status("a")
    assert doc is not None and (doc["runtimeStatus"], doc["customStatus"]) == ("Running", "busy")
    later = T0 + timedelta(seconds=5)
    claim.stage([("failed", {"error": {"type": "ValueError", "message": "no"},
                             "custom_status": "sad"})], iso(later))
    backend.release(claim, finished=True)
    doc = backend.status("a")
    assert doc is not None
    assert doc["runtimeStatus"] == "Failed"
    assert doc["error"] == {"type": "ValueError", "message": "no"}
    assert doc["lastUpdatedTime"] == iso(later)


def test_group_commit_makes_several_instances_durable(backend: Backend) -> None:
    backend.create_many([new("a"), new("b")])
    claims = [claimed(backend, "a"), claimed(backend, "b")]
    for c in claims:
        c.stage([("event", {"name": "go", "data": c.instance_id})], iso(T0))
    backend.commit(claims)
    for c in claims:
        backend.release(c)
    for i in "ab":
        assert [r.data.get("data") for r in backend.history(i)][1:] == [i]


def test_new_generation_replaces_the_journal(backend: Backend) -> None:
    backend.create(new("a"))
    claim = claimed(backend, "a")
    claim.stage([("checkpoint", {"step": 1})], iso(T0))
    loaded = claim.new_generation({"name": "orch", "input": 2, "generation": 1, "parent": None,
                                   "start": iso(T0)}, iso(T0), [("act", 1)])
    assert loaded.first.kind == "created" and loaded.first.data["generation"] == 1
    assert claim.next_seq == 1
    backend.release(claim)
    assert [(r.kind, r.data.get("input")) for r in backend.history("a")] == [("created", 2)]
    assert backend.activity_calls("a") == [("act", 1)]


# -- messages -------------------------------------------------------------------------------------


def test_posted_messages_wait_in_order_until_acknowledged_and_committed(backend: Backend) -> None:
    backend.create(new("a"))
    first = backend.post("a", {"type": "event", "name": "x", "data": 1})
    second = backend.post("a", {"type": "terminate", "reason": "r"})
    assert [m.id for m in backend.inbox("a")] == [first, second]
    assert backend.inbox("a")[0].body == {"type": "event", "name": "x", "data": 1}
    claim = claimed(backend, "a")
    claim.stage([("event", {"name": "x", "data": 1, "msg": first})], iso(T0))
    claim.ack([first])
    assert [m.id for m in backend.inbox("a")] == [first, second]  # not before the commit
    backend.commit([claim])
    assert [m.id for m in backend.inbox("a")] == [second]
    backend.release(claim)


def test_an_empty_inbox_is_empty(backend: Backend) -> None:
    backend.create(new("a"))
    assert backend.inbox("a") == []


# -- finding work ---------------------------------------------------------------------------------


def test_runnable_offers_live_instances_only(backend: Backend) -> None:
    backend.create_many([new("a"), new("b"), new("c")])
    finish(backend, "b")
    assert sorted(backend.runnable(10)) == ["a", "c"]
    assert backend.runnable(10, skip={"a"}) == ["c"]
    assert len(backend.runnable(1)) == 1


def test_an_ended_instance_released_unfinished_stays_runnable(backend: Backend) -> None:
    # it still owes fire-and-forget work: a worker must adopt it again
    backend.create(new("a"))
    claim = claimed(backend, "a")
    claim.stage([("completed", {"output": 1, "outbox": [{"key": "0:1"}]})], iso(T0))
    backend.release(claim, finished=False)
    assert backend.runnable(10) == ["a"]


# -- queries and purge ------------------------------------------------------------------------------


def _some(backend: Backend) -> None:
    backend.create_many([new(f"job:{i}", name="job", at=T0 + timedelta(minutes=i))
                         for i in range(5)])
    backend.create(new("other", name="other", at=T0 + timedelta(minutes=10)))
    finish(backend, "job:1")
    finish(backend, "job:3")


def ids(backend: Backend, **kw: Any) -> list[str]:
    return [s.instance_id for s in backend.query(Query(**kw)).items]


def test_query_filters_by_status_name_prefix_and_time(backend: Backend) -> None:
    _some(backend)
    assert ids(backend) == [f"job:{i}" for i in range(5)] + ["other"]
    assert ids(backend, statuses=frozenset({"Completed"})) == ["job:1", "job:3"]
    assert ids(backend, statuses=frozenset({"Pending"}), name="job") == ["job:0", "job:2", "job:4"]
    assert ids(backend, name="other") == ["other"]
    assert ids(backend, id_prefix="job:") == [f"job:{i}" for i in range(5)]
    assert ids(backend, id_prefix="ot") == ["other"]
    assert ids(backend, created_from=T0 + timedelta(minutes=2),
               created_to=T0 + timedelta(minutes=4)) == ["job:2", "job:3"]
    assert ids(backend, statuses=frozenset()) == []
    row = backend.query(Query(name="other")).items[0]
    assert (row.name, row.status) == ("other", "Pending")
    assert parse_iso(row.created) == T0 + timedelta(minutes=10)


def test_query_orders_by_creation_time_not_by_its_text(backend: Backend) -> None:
    # isoformat leaves out a zero fraction: "...:01Z" sorts after "...:01.5Z" as text
    backend.create(new("whole", at=T0 + timedelta(seconds=1)))
    backend.create(new("half", at=T0 + timedelta(seconds=1.5)))
    assert ids(backend) == ["whole", "half"]
    assert ids(backend, created_from=T0 + timedelta(seconds=1.2)) == ["half"]


def test_query_pages_with_a_continuation_token(backend: Backend) -> None:
    _some(backend)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = backend.query(Query(top=2, continuation=token))
        seen += [s.instance_id for s in page.items]
        pages += 1
        token = page.continuation
        if token is None:
            break
    assert pages == 3 and seen == [f"job:{i}" for i in range(5)] + ["other"]


def test_query_newest_first_pages_the_other_way(backend: Backend) -> None:
    _some(backend)
    seen: list[str] = []
    token = None
    while True:
        page = backend.query(Query(top=2, continuation=token, newest_first=True))
        seen += [s.instance_id for s in page.items]
        token = page.continuation
        if token is None:
            break
    assert seen == ["other"] + [f"job:{i}" for i in reversed(range(5))]
    assert ids(backend, name="job", newest_first=True, top=2) == ["job:4", "job:3"]


def test_query_refuses_a_token_it_did_not_issue(backend: Backend) -> None:
    with pytest.raises(ValueError):
        backend.query(Query(continuation="not a token"))


def test_query_by_updated_time(backend: Backend) -> None:
    backend.create(new("a"))
    claim = claimed(backend, "a")
    claim.stage([("completed", {"output": 1})], iso(T0 + timedelta(hours=1)))
    backend.release(claim, finished=True)
    backend.create(new("b"))
    assert ids(backend, updated_from=T0 + timedelta(minutes=30)) == ["a"]
    assert ids(backend, updated_to=T0 + timedelta(minutes=30)) == ["b"]


def test_purge_removes_everything(backend: Backend) -> None:
    _some(backend)
    backend.post("job:1", {"type": "event", "name": "late"})
    assert backend.purge("job:1")
    assert not backend.exists("job:1") and backend.status("job:1") is None
    assert "job:1" not in ids(backend)
    assert not backend.purge("job:1")
    assert backend.create(new("job:1"))  # the id is free again
