"""`Claim.send`: messages to other instances, staged with a step and delivered by its
commit (runtime/backends/base.py), on every backend.

Crashes are real: a child process stages, sends and is SIGKILLed before the commit, or
in the middle of it (after the records are durable, before the messages are posted on
files; after the transaction on PostgreSQL), and the test reads what is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runtime.backends import open_backend
from runtime.backends.base import Backend
from runtime.clock import iso
from tests.backends.support import Stores
from tests.backends.test_contract import T0, claimed, new

ROOT = Path(__file__).resolve().parents[2]

# The child process: claim "a", stage a record, send two messages to "b", then die where
# `CRASH` says: "before-commit", "in-commit" (after the journal is durable and before the
# first message is posted: files only; PostgreSQL has no such instant) or "after-commit".
CHILD = textwrap.dedent("""
    import os, signal, sys
    from runtime.backends import open_backend
    from runtime.clock import iso
    from datetime import UTC, datetime

    store, crash = sys.argv[1], sys.argv[2]
    backend = open_backend(store)
    claim = backend.claim("a")
    assert claim is not None
    if crash == "in-commit":
        from runtime.backends.file import folders
        folders.Store.post = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    claim.stage([("checkpoint", {"suspended": False, "custom_status": "sent"})],
                iso(datetime(2026, 1, 1, tzinfo=UTC)))
    ids = [claim.send("b", {"type": "event", "name": "ping", "data": n}) for n in (1, 2)]
    print(" ".join(ids), flush=True)
    if crash != "before-commit":
        backend.commit([claim])
    os.kill(os.getpid(), signal.SIGKILL)
""")


def run_child(store: str, crash: str) -> list[str]:
    """Run CHILD until it kills itself; the message ids it staged."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", CHILD, store, crash], capture_output=True,
                          text=True, env=env, timeout=60, cwd=ROOT)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return proc.stdout.split()


@pytest.fixture
def store(stores: Stores) -> str:
    """A store with instances "a" (the sender) and "b" (the target)."""
    spec = stores()
    backend = open_backend(spec)
    backend.ensure()
    backend.create_many([new("a"), new("b")])
    backend.close()
    return spec


def reopened(store: str) -> Backend:
    backend = open_backend(store)
    backend.ensure()
    return backend


def test_a_sent_message_arrives_with_the_commit_not_before(store: str) -> None:
    # another backend object reads: on PostgreSQL, the owner's own inbox reads commit
    # what its thread left staged (docs/backends.md, "Visibility of a waiting step")
    owner, reader = reopened(store), reopened(store)
    claim = claimed(owner, "a")
    claim.stage([("checkpoint", {"suspended": False, "custom_status": None})], iso(T0))
    first = claim.send("b", {"type": "event", "name": "x", "data": 1})
    second = claim.send("b", {"type": "sub_done", "task": 3, "child": "a"})
    assert reader.inbox("b") == []
    owner.commit([claim])
    expected = [(first, {"type": "event", "name": "x", "data": 1}),
                (second, {"type": "sub_done", "task": 3, "child": "a"})]
    assert [(m.id, m.body) for m in reader.inbox("b")] == expected
    owner.commit([claim])  # nothing staged any more: nothing sent twice
    owner.release(claim)
    assert [(m.id, m.body) for m in reader.inbox("b")] == expected
    assert reader.inbox("a") == []


def test_a_message_to_an_unknown_instance_is_dropped(backend: Backend) -> None:
    backend.create(new("a"))
    claim = claimed(backend, "a")
    claim.stage([("checkpoint", {"suspended": False, "custom_status": None})], iso(T0))
    claim.send("nobody", {"type": "event", "name": "x", "data": 1})
    backend.commit([claim])
    backend.release(claim)
    assert backend.inbox("nobody") == [] and not backend.exists("nobody")
    assert [r.kind for r in backend.history("a")] == ["created", "checkpoint"]


def test_send_refuses_a_bad_target_or_body_at_once(backend: Backend) -> None:
    backend.create_many([new("a"), new("b")])
    claim = claimed(backend, "a")
    with pytest.raises(ValueError):
        claim.send("no spaces allowed", {"type": "event"})
    with pytest.raises(ValueError):
        claim.send("b", {"type": "event", "data": float("nan")})
    backend.commit([claim])
    backend.release(claim)
    assert backend.inbox("b") == []


def test_a_crash_before_the_commit_delivers_nothing(store: str) -> None:
    run_child(store, "before-commit")
    backend = reopened(store)
    assert backend.inbox("b") == []
    claim = claimed(backend, "a")  # the next owner finds nothing to send either
    backend.commit([claim])
    backend.release(claim)
    assert backend.inbox("b") == []


def test_after_the_commit_exactly_the_staged_messages_arrive_once(store: str) -> None:
    ids = run_child(store, "after-commit")
    backend = reopened(store)
    expected = [(i, {"type": "event", "name": "ping", "data": n}) for i, n in zip(ids, (1, 2), strict=True)]
    assert [(m.id, m.body) for m in backend.inbox("b")] == expected
    claim = claimed(backend, "a")
    backend.commit([claim])
    backend.release(claim)
    assert [(m.id, m.body) for m in backend.inbox("b")] == expected
    assert backend.status("a")["customStatus"] == "sent"


def test_files_repost_a_commit_cut_off_between_the_journal_and_the_inbox(
        store: str, backend_kind: str) -> None:
    if backend_kind != "file":
        pytest.skip("PostgreSQL's commit is one transaction: no instant between the two")
    ids = run_child(store, "in-commit")
    backend = reopened(store)
    assert backend.inbox("b") == []  # the journal is durable, the messages not posted yet
    assert [r.kind for r in backend.history("a")] == ["created", "checkpoint"]
    claim = claimed(backend, "a")  # the next owner posts them, under the same ids
    expected = [(i, {"type": "event", "name": "ping", "data": n}) for i, n in zip(ids, (1, 2), strict=True)]
    assert [(m.id, m.body) for m in backend.inbox("b")] == expected
    backend.release(claim)
    claim = claimed(backend, "a")  # and only once
    backend.release(claim)
    assert [(m.id, m.body) for m in backend.inbox("b")] == expected


def test_files_drop_messages_whose_records_did_not_survive(store: str, backend_kind: str) -> None:
    if backend_kind != "file":
        pytest.skip("the outgoing file is the file backend's")
    import json

    # what a power cut can leave: the messages' file durable, their record torn away
    folder = Path(store) / "instances" / "a"
    (folder / "outgoing.json").write_text(json.dumps(
        {"upto": 2, "messages": [["b", "0001.json", {"type": "event", "name": "x"}]]}))
    backend = reopened(store)
    claim = claimed(backend, "a")
    backend.release(claim)
    assert backend.inbox("b") == []
    assert not (folder / "outgoing.json").exists()
