"""What the PostgreSQL backend promises beyond the shared contract: leases and fences
between workers, heartbeats, distributed work items recorded once, wake-ups by
LISTEN/NOTIFY, surviving a lost connection, and first use creating the schema."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runtime.backends.base import BackendUnavailable, FenceLost, NewInstance, WorkItem
from runtime.backends.postgres.backend import FLUSH_IDLE_AFTER
from runtime.backends.postgres.schema import VERSION
from tests.backends.pg import SERVER, pg_schema, pg_url, with_schema

__all__ = ["pg_schema", "pg_url"]

psycopg = pytest.importorskip("psycopg")

TS = "2026-01-01T00:00:00Z"


def new(instance_id: str) -> NewInstance:
    return NewInstance(instance_id, TS, {"name": "orch", "input": None, "graph_hash": "h",
                                         "source": "x.py", "parent": None, "generation": 0,
                                         "start": TS})


@pytest.fixture
def open_store(pg_url: str) -> Iterator[Any]:
    """`open_store(lease=None)`: a new backend object (a worker of its own) on the test's store."""
    from runtime.backends.postgres import open_postgres

    made: list[Any] = []

    def make(lease: float | None = None, report: Any = None) -> Any:
        url = pg_url + (f"&lease={lease}" if lease is not None else "")
        backend = open_postgres(url, report=report)
        backend.ensure()
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def sql(pg_schema: str, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        cur = conn.execute(statement.replace("{s}", f'"{pg_schema}"'), args)
        return cur.fetchall() if cur.description else []


def expire_lease(pg_schema: str, instance_id: str) -> None:
    """What a frozen worker's lease looks like once its time has passed."""
    sql(pg_schema, "UPDATE {s}.instances SET lease_until = now() - interval '1 second'"
                   " WHERE id = %s", instance_id)


# -- leases and fences ------------------------------------------------------------------


def test_a_worker_whose_lease_ran_out_cannot_write(open_store: Any, pg_schema: str) -> None:
    a, b = open_store(), open_store()
    assert a.create(new("x"))
    stale = a.claim("x")
    assert stale is not None and b.claim("x") is None  # held: the other worker is refused
    expire_lease(pg_schema, "x")
    fresh = b.claim("x")
    assert fresh is not None and fresh.fence > stale.fence
    stale.stage([("checkpoint", {"suspended": False, "custom_status": "zombie"})], TS)
    with pytest.raises(FenceLost, match="instance x: another worker claimed it"):
        a.commit([stale])
    fresh.stage([("checkpoint", {"suspended": False, "custom_status": "owner"})], TS)
    b.commit([fresh])
    kinds = [(r.seq, r.kind, r.data.get("custom_status")) for r in b.history("x")]
    assert kinds == [(0, "created", None), (1, "checkpoint", "owner")]
    assert b.status("x")["customStatus"] == "owner"


def test_a_lost_fence_spares_the_other_claims_of_the_group(open_store: Any, pg_schema: str) -> None:
    a, b = open_store(), open_store()
    a.create_many([new("x"), new("y")])
    cx, cy = a.claim("x"), a.claim("y")
    expire_lease(pg_schema, "x")
    assert b.claim("x") is not None
    cx.stage([("suspended", {"reason": None})], TS)
    cy.stage([("suspended", {"reason": None})], TS)
    with pytest.raises(FenceLost, match="instance x"):
        a.commit([cx, cy])
    assert [r.kind for r in a.history("y")] == ["created", "suspended"]
    assert [r.kind for r in a.history("x")] == ["created"]


def test_a_group_commit_keeps_awkward_text_exactly(open_store: Any) -> None:
    # The step statement sends its columns as binary arrays (no text-array quoting):
    # quotes, backslashes, braces, commas, non-ASCII and NULLs come back as written.
    a = open_store()
    a.create_many([new("q.1"), new("q:2")])
    awkward = {"value": 'a "quoted" \\ back\\slash {brace}, comma', "snow": "\u2603 é",
               "nul": "x\u0000y", "none": None, "nested": ["{", "}", "\\\"", ""]}
    claims = [a.claim("q.1"), a.claim("q:2")]
    for claim in claims:
        claim.stage([("result", {"task": 0, **awkward}),
                     ("checkpoint", {"suspended": False, "custom_status": '"q" \\ {}'})], TS)
    a.commit(claims)
    for instance_id in ("q.1", "q:2"):
        records = list(a.history(instance_id))
        assert records[1].data == {"task": 0, **awkward}
        assert records[2].data["custom_status"] == '"q" \\ {}'
        assert a.status(instance_id)["customStatus"] == '"q" \\ {}'


def test_a_steps_update_of_its_instance_row_is_a_heap_only_tuple_update(
        open_store: Any) -> None:
    """The row a step updates keeps every indexed column as it was (the lease is renewed
    by the heartbeat, not by the step; `updated_at` has no index since schema 4): so
    PostgreSQL updates it in place without touching the row's ten indexes (a HOT
    update): one WAL record, not twelve (EXPLAIN ANALYZE of the step, rolled back)."""
    a = open_store()
    a.create(new("hot"))
    claim = a.claim("hot")
    claim.stage([("checkpoint", {"suspended": False, "custom_status": None})], TS)
    a.commit([claim])  # Pending -> Running: the status index changes once
    claim.stage([("result", {"task": 0, "value": 1}),
                 ("checkpoint", {"suspended": False, "custom_status": "one"})], TS)
    with psycopg.connect(a.url.conninfo) as conn:
        plan = conn.execute("EXPLAIN (ANALYZE, WAL, FORMAT JSON) " + a.q.step,
                            a._step_params([claim])).fetchone()[0]
        conn.rollback()

    def nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    (update,) = [n for n in nodes(plan[0]["Plan"]) if n.get("Operation") == "Update"
                 and n.get("Relation Name") == "instances" and n.get("Actual Rows") == 1]
    assert update["WAL Records"] == 1


def test_claim_many_claims_and_loads_what_is_free_in_one_statement(
        open_store: Any, pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = open_store(), open_store()
    a.create_many([new("x"), new("y"), new("z")])
    held = b.claim("y")
    resumed = a.claim("z")
    resumed.stage([("checkpoint", {"suspended": False, "custom_status": "half"}),
                   ("result", {"task": 0, "value": 1})], TS)
    a.release(resumed)
    a._wakeups().wait_live(1.0)  # claim_many listens (inboxes known empty): not counted here
    statements: list[str] = []
    real = psycopg.Connection.execute

    def counted(conn: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        statements.append(str(query))
        return real(conn, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", counted)
    got = a.claim_many(["z", "nobody", "y", "x", "x"])
    monkeypatch.undo()
    assert [c.instance_id for c in got] == ["z", "x"]  # the order asked; y held, nobody missing
    assert len(statements) == 1
    z = got[0]
    assert [r.kind for r in [z.loaded.first, *([z.loaded.checkpoint] if z.loaded.checkpoint
                                               else []), *z.loaded.tail]] == [
        "created", "checkpoint", "result"]
    assert z.fence > resumed.fence and z.next_seq == 3
    assert a.claim_many(["x", "z"]) == []  # held by this object already
    assert b.claim("x") is None and held is not None
    # the claims are fenced and renewed like any other: a stale one cannot write
    expire_lease(pg_schema, "x")
    assert b.claim("x") is not None
    got[1].stage([("suspended", {"reason": None})], TS)
    with pytest.raises(FenceLost, match="instance x"):
        a.commit([got[1]])


def test_release_many_commits_and_releases_in_statements_not_growing_with_the_claims(
        open_store: Any, pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One transaction for the group's staged records and its release: a pipeline of the
    same few statements for 3 claims as for 30 (it was a group commit, then three
    statements per claim). A claim whose fence moved writes and releases nothing."""
    a, b = open_store(), open_store()
    real = psycopg.Connection.execute
    for count in (3, 30):
        ids = [f"r{count}-{i}" for i in range(count)]
        a.create_many([new(i) for i in ids])
        claims = a.claim_many(ids)
        for claim in claims:
            claim.stage([("completed", {"output": claim.instance_id, "custom_status": None})], TS)
        expire_lease(pg_schema, ids[1])
        taken = b.claim(ids[1])
        assert taken is not None
        statements: list[str] = []

        def counted(conn: Any, query: Any, *args: Any, seen: list[str] = statements,
                    **kwargs: Any) -> Any:
            seen.append(str(query))
            return real(conn, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Connection, "execute", counted)
        a.release_many(claims, finished=True)
        monkeypatch.undo()
        assert len(statements) == 3  # the records, the lock, the release
        for instance_id in ids:
            kinds = [r.kind for r in a.history(instance_id)]
            assert kinds == (["created"] if instance_id == ids[1] else ["created", "completed"])
        assert sql(pg_schema, "SELECT count(*) FROM {s}.instances WHERE id = ANY(%s)"
                              " AND owner IS NULL AND ready_at IS NULL", ids) == [(count - 1,)]
        assert b.claim(ids[0]) is not None  # released: free for anyone
        assert a.status(ids[1])["runtimeStatus"] == "Pending"  # the other worker's still


def test_existing_names_the_ids_that_exist_in_the_order_asked(open_store: Any) -> None:
    a = open_store()
    a.create_many([new("x"), new("y")])
    assert a.existing(["nobody", "y", "x"]) == ["y", "x"]
    assert a.existing([]) == []


def test_heartbeats_keep_a_claim_and_a_frozen_worker_loses_it(open_store: Any) -> None:
    a, b = open_store(lease=0.6), open_store(lease=0.6)
    a.create(new("x"))
    assert a.claim("x") is not None
    time.sleep(1.5)  # two and a half leases: only the heartbeat (every 0.2 s) keeps it
    assert b.claim("x") is None
    a._stop.set()  # the worker freezes: no more heartbeats
    deadline = time.monotonic() + 10
    while (got := b.claim("x")) is None:
        assert time.monotonic() < deadline, "the frozen worker's lease never ran out"
        time.sleep(0.1)
    assert got.instance_id == "x"


def test_a_finished_instance_is_not_offered_until_a_message_comes(open_store: Any) -> None:
    a = open_store()
    a.create(new("x"))
    claim = a.claim("x")
    claim.stage([("completed", {"output": 1, "custom_status": None})], TS)
    a.release(claim, finished=True)
    assert a.runnable(10) == []
    a.post("x", {"type": "event", "name": "late", "data": None})
    assert a.runnable(10) == ["x"]


def test_runnable_skips_instances_others_hold(open_store: Any) -> None:
    a, b = open_store(), open_store()
    a.create_many([new("x"), new("y")])
    assert b.claim("x") is not None
    assert a.runnable(10) == ["y"]


# -- work items -------------------------------------------------------------------------


def item(task: int, attempt: int = 1) -> WorkItem:
    return WorkItem(instance_id="x", generation=0, task=task, attempt=attempt, name="act",
                    input={"task": task})


def test_work_items_appear_with_the_owners_commit_and_split_between_workers(open_store: Any) -> None:
    owner, w1, w2 = open_store(), open_store(), open_store()
    owner.create(new("x"))
    claim = owner.claim("x")
    owner.work_queue().enqueue(claim, [item(t) for t in range(10)])
    assert w1.work_queue().take(100, 30) == []  # not before the step that made them is durable
    claim.stage([("checkpoint", {"suspended": False})], TS)
    owner.commit([claim])
    first = w1.work_queue().take(4, 30)
    second = w2.work_queue().take(100, 30)
    assert [i.task for i in first] == [0, 1, 2, 3]
    assert [i.task for i in second] == [4, 5, 6, 7, 8, 9]
    assert w1.work_queue().take(100, 30) == []


def test_a_work_item_result_is_recorded_once_even_when_two_workers_ran_it(
        open_store: Any, pg_schema: str) -> None:
    owner, slow, fast = open_store(), open_store(), open_store()
    owner.create(new("x"))
    claim = owner.claim("x")
    owner.work_queue().enqueue(claim, [item(1), item(1)])  # queued twice: kept once
    claim.stage([("checkpoint", {"suspended": False})], TS)
    owner.commit([claim])
    (taken,) = slow.work_queue().take(10, 30)
    sql(pg_schema, "UPDATE {s}.work_items SET lease_until = now() - interval '1 second'")
    (again,) = fast.work_queue().take(10, 30)  # the slow worker's lease ran out
    assert (again.task, again.attempt) == (taken.task, taken.attempt)
    fast.work_queue().finish(again, {"task": 1, "value": "fast"})
    slow.work_queue().finish(taken, {"task": 1, "value": "slow"})  # too late: a no-op
    inbox = owner.inbox("x")
    assert [m.body for m in inbox] == [{"type": "result", "task": 1, "value": "fast"}]
    assert sql(pg_schema, "SELECT count(*) FROM {s}.work_items") == [(0,)]


def test_a_work_item_whose_taker_died_is_taken_again(open_store: Any, pg_schema: str) -> None:
    owner, dead, alive = open_store(), open_store(), open_store()
    owner.create(new("x"))
    claim = owner.claim("x")
    owner.work_queue().enqueue(claim, [item(1)])
    owner.commit([claim])
    assert len(dead.work_queue().take(10, 30)) == 1
    assert alive.work_queue().take(10, 30) == []
    sql(pg_schema, "UPDATE {s}.work_items SET lease_until = now() - interval '1 second'")
    (got,) = alive.work_queue().take(10, 30)
    alive.work_queue().finish(got, {"task": 1, "value": 7})
    assert [m.body["value"] for m in owner.inbox("x")] == [7]


# -- wake-ups ----------------------------------------------------------------------------


def test_a_post_wakes_a_waiting_worker(open_store: Any) -> None:
    waiter, poster = open_store(), open_store()
    poster.create(new("x"))
    waiter.wait_for_work(0.5)  # start listening; drop the wake-up of the listener's start
    while waiter.wait_for_work(0.2):
        pass
    woke: list[bool] = []
    thread = threading.Thread(target=lambda: woke.append(waiter.wait_for_work(30)))
    thread.start()
    time.sleep(0.2)
    poster.post("x", {"type": "event", "name": "go", "data": None})
    thread.join(35)
    assert woke == [True]
    assert not waiter.wait_for_work(0.3)  # and nothing more came


# -- lost connections ---------------------------------------------------------------------


def terminate_connections(backend: Any) -> int:
    """Drop the server sessions of `backend`'s connection pool, as a server restart does,
    and no one else's (other tests and test runs share the server)."""
    pids = [rc.conn.info.backend_pid for rc in backend.sessions._pool.idle
            if rc.conn is not None and not rc.conn.closed]
    with psycopg.connect(SERVER, autocommit=True) as conn:
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE pid = ANY(%s)", (pids,)).fetchall()
    return len(rows)


def test_a_commit_after_the_server_dropped_us_is_made_once(open_store: Any) -> None:
    a = open_store()
    a.create(new("x"))
    claim = a.claim("x")
    claim.stage([("checkpoint", {"suspended": False})], TS)
    assert terminate_connections(a) >= 1  # as a server restart does
    a.commit([claim])
    claim.stage([("suspended", {"reason": None})], TS)
    a.commit([claim])
    assert [r.kind for r in a.history("x")] == ["created", "checkpoint", "suspended"]


def test_a_commit_whose_outcome_was_lost_is_not_repeated(open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The COMMIT reached the server, the answer did not: the retry must see it is done."""
    from runtime.backends.postgres import backend as module

    a = open_store()
    a.create(new("x"))
    claim = a.claim("x")
    claim.stage([("checkpoint", {"suspended": False})], TS)
    real = module.PostgresBackend._commit_op
    calls: list[int] = []

    def commit_then_lose(self: Any, conn: Any, claims: Any) -> Any:
        lost = real(self, conn, claims)
        calls.append(1)
        if len(calls) == 1:
            conn.execute("COMMIT")  # the transaction is durable now
            conn.close()  # ... and the client never hears back
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return lost

    monkeypatch.setattr(module.PostgresBackend, "_commit_op", commit_then_lose)
    a.commit([claim])
    assert calls == [1]  # the check found the commit made: nothing ran twice
    assert [r.kind for r in a.history("x")] == ["created", "checkpoint"]
    claim.stage([("suspended", {"reason": None})], TS)
    a.commit([claim])
    assert [r.seq for r in a.history("x")] == [0, 1, 2]


def test_an_unreachable_server_is_reported_once_every_few_seconds() -> None:
    from runtime.backends.postgres.connection import Reconnector, StoreUnreachable
    from runtime.backends.postgres.url import parse

    lines: list[str] = []
    rc = Reconnector(parse("postgresql://u:pw@127.0.0.1:1/db"), report=lines.append)
    started = time.monotonic()
    with pytest.raises(StoreUnreachable):
        rc.get(give_up=lambda: time.monotonic() - started > 1.5)  # several attempts
    assert len(lines) == 1
    assert lines[0].startswith("warning: cannot reach PostgreSQL at postgresql://u:***@127.0.0.1:1/db")
    assert "pw" not in lines[0].replace("postgresql", "")


# -- opening ------------------------------------------------------------------------------


def test_first_use_creates_the_schema(pg_url: str, pg_schema: str) -> None:
    from runtime.backends import open_backend

    backend = open_backend(pg_url)
    try:
        assert backend.create(new("x"))  # no `tether db init` before
        assert backend.status("x")["runtimeStatus"] == "Pending"
    finally:
        backend.close()
    assert sql(pg_schema, "SELECT max(version) FROM {s}.schema_version") == [(VERSION,)]


def test_a_store_of_a_newer_tether_is_refused_on_open(pg_url: str, pg_schema: str) -> None:
    from runtime.backends import open_backend

    open_backend(pg_url).ensure()
    sql(pg_schema, "INSERT INTO {s}.schema_version (version) VALUES (99)")
    backend = open_backend(pg_url)
    with pytest.raises(BackendUnavailable,
                       match=f"schema version 99, newer than this tether's {VERSION}"):
        backend.ensure()
    backend.close()


def test_an_unreachable_store_fails_at_once_with_the_password_masked() -> None:
    from runtime.backends import open_backend

    backend = open_backend("postgresql://u:pw@127.0.0.1:1/db?schema=s")
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as caught:
        backend.exists("x")
    assert time.monotonic() - started < 5
    assert str(caught.value).startswith("cannot reach PostgreSQL at postgresql://u:***@127.0.0.1:1/db")
    assert backend.spec == "postgresql://u:***@127.0.0.1:1/db?schema=s"
    backend.close()


def test_stores_in_two_schemas_do_not_see_each_other(pg_url: str, pg_schema: str) -> None:
    from runtime.backends import open_backend
    from tests.backends.pg import drop_schema

    other = open_backend(with_schema(SERVER, pg_schema + "_b"))
    mine = open_backend(pg_url)
    try:
        assert mine.create(new("x")) and other.create(new("x"))
        assert not other.exists("y") and mine.runnable(10) == ["x"]
    finally:
        mine.close()
        other.close()
        drop_schema(pg_schema + "_b")


def test_a_heartbeat_names_a_claim_taken_over_and_renews_the_others(
        open_store: Any, pg_schema: str) -> None:
    a, b = open_store(), open_store()
    a.create_many([new("x"), new("y")])
    cx, cy = a.claim("x"), a.claim("y")
    expire_lease(pg_schema, "x")
    expire_lease(pg_schema, "y")
    assert b.claim("x") is not None
    with pytest.raises(FenceLost, match="instance x"):
        a.heartbeat([cx, cy])
    assert b.claim("y") is None  # renewed
    with pytest.raises(FenceLost):
        cx.stage([("suspended", {"reason": None})], TS)
    a.release(cx)  # a lost claim is released quietly


def test_a_closed_backend_can_be_used_again(open_store: Any) -> None:
    a = open_store()
    a.create(new("x"))
    a.close()
    assert a.exists("x")
    claim = a.claim("x")
    assert claim is not None
    a.release(claim)


def test_an_abandoned_work_item_is_taken_again_at_once(open_store: Any) -> None:
    owner, leaving, staying = open_store(), open_store(), open_store()
    owner.create(new("x"))
    claim = owner.claim("x")
    owner.work_queue().enqueue(claim, [item(1), item(2)])
    owner.commit([claim])
    taken = leaving.work_queue().take(10, 30)
    assert staying.work_queue().take(10, 30) == []
    leaving.work_queue().abandon(taken[1:])  # stopping before it ran the second
    assert [i.task for i in staying.work_queue().take(10, 30)] == [2]


def test_renewing_keeps_a_long_work_item(open_store: Any, pg_schema: str) -> None:
    owner, runner, other = open_store(), open_store(), open_store()
    owner.create(new("x"))
    claim = owner.claim("x")
    owner.work_queue().enqueue(claim, [item(1)])
    owner.commit([claim])
    taken = runner.work_queue().take(10, 0.5)
    runner.work_queue().renew(taken, 60)
    time.sleep(0.7)
    assert other.work_queue().take(10, 30) == []


def _hold_in_child(pg_url: str, instance_id: str, *, work: bool = False) -> Any:
    """A child process that claims the instance (or takes its work items) and then waits."""
    import subprocess
    import sys

    code = (
        "import sys, time\n"
        "from runtime.backends.postgres import open_postgres\n"
        f"b = open_postgres({pg_url!r})\n"
        + ("assert b.work_queue().take(10, 60)\n" if work else
           f"assert b.claim({instance_id!r}) is not None\n")
        + "print('held', flush=True)\n"
        "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=str(__import__("pathlib").Path(__file__).parents[2]))
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_dead_process_of_this_machine_is_taken_over_at_once(open_store: Any,
                                                               pg_url: str) -> None:
    a = open_store()
    a.create(new("x"))
    holder = _hold_in_child(pg_url, "x")
    try:
        assert a.claim("x") is None  # alive: its lease (30 s) stands
    finally:
        holder.kill()
        holder.wait()
    started = time.monotonic()
    assert a.claim("x") is not None  # dead, on this machine: no need to wait 30 s
    assert time.monotonic() - started < 5


def test_recover_frees_the_work_items_of_a_dead_local_worker(open_store: Any,
                                                             pg_url: str) -> None:
    owner, b = open_store(), open_store()
    owner.create(new("x"))
    claim = owner.claim("x")
    owner.work_queue().enqueue(claim, [item(1)])
    owner.commit([claim])
    holder = _hold_in_child(pg_url, "x", work=True)
    assert b.work_queue().take(10, 30) == []
    holder.kill()
    holder.wait()
    b.recover()
    assert [i.task for i in b.work_queue().take(10, 30)] == [1]


class Proxy:
    """A TCP proxy to the server that can be taken down and brought back, as a server
    restart or a network cut looks to a client."""

    def __init__(self) -> None:
        import socket

        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.conns: list[Any] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            server = socket.create_connection(("127.0.0.1", 5432))
            self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: Any, b: Any) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.close()

    def down(self) -> None:
        self.up.clear()
        for c in self.conns:
            try:
                c.shutdown(2)
                c.close()
            except OSError:
                pass
        self.conns.clear()

    def close(self) -> None:
        self.down()
        self.listener.close()


def test_a_worker_waits_out_an_outage_saying_so_and_loses_nothing(pg_schema: str) -> None:
    from runtime.backends.postgres import open_postgres

    proxy = Proxy()
    lines: list[str] = []
    url = f"postgresql://127.0.0.1:{proxy.port}/test?schema={pg_schema}"
    backend = open_postgres(url, report=lines.append)
    try:
        backend.create(new("x"))
        claim = backend.claim("x")
        claim.stage([("checkpoint", {"suspended": False})], TS)
        proxy.down()
        committed = threading.Event()
        thread = threading.Thread(target=lambda: (backend.commit([claim]), committed.set()))
        thread.start()
        time.sleep(1.5)
        assert not committed.is_set()  # waiting for the server, not failing
        proxy.up.set()
        thread.join(30)
        assert committed.is_set()
        assert [r.kind for r in backend.history("x")] == ["created", "checkpoint"]
        assert lines[0].startswith(f"warning: cannot reach PostgreSQL at {url}")
        assert len([line for line in lines if line.startswith("warning")]) == 1  # 1.5 s < 5 s
        assert lines[-1] == f"reconnected to PostgreSQL at {url}"
    finally:
        backend.close()
        proxy.close()


def test_an_idle_inbox_costs_no_query_until_a_notification_names_it(
        open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from runtime.backends.postgres.backend import QUIET_FOR

    a, b = open_store(), open_store()
    a.create_many([new("x"), new("y")])
    a.inbox("x")  # starts listening
    deadline = time.monotonic() + 10
    while not a._listener.live:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert a.inbox("x") == [] and a.inbox("y") == []
    reads: list[int] = []
    real = a._read
    monkeypatch.setattr(a, "_read", lambda op: (reads.append(1), real(op))[1])
    for _ in range(20):
        assert a.inbox("x") == []
    assert reads == []  # known empty: not read again
    posted = time.monotonic()
    b.post("x", {"type": "event", "name": "go", "data": 1})
    while not (got := a.inbox("x")):
        assert time.monotonic() - posted < 5
        time.sleep(0.005)
    assert time.monotonic() - posted < QUIET_FOR  # the notification said so, not the timeout
    assert [m.body["data"] for m in got] == [1]
    assert a.inbox("y") == []  # another instance's inbox is still known empty
    assert len(reads) >= 1


def test_claim_many_knows_the_empty_inboxes_without_reading_them(
        open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = open_store(), open_store()
    a.create_many([new("x"), new("y"), new("z")])
    b.post("y", {"type": "event", "name": "early", "data": 1})
    a.inbox("z")  # starts listening
    deadline = time.monotonic() + 10
    while not a._listener.live:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    claims = a.claim_many(["x", "y"])
    assert [c.instance_id for c in claims] == ["x", "y"]
    reads: list[int] = []
    real = a._read
    monkeypatch.setattr(a, "_read", lambda op: (reads.append(1), real(op))[1])
    assert a.inbox("x") == []
    assert reads == []  # known empty from the claim: not read (it was one read each)
    assert [m.body["data"] for m in a.inbox("y")] == [1]  # not empty: read
    assert len(reads) == 1
    posted = time.monotonic()
    b.post("x", {"type": "event", "name": "late", "data": 2})
    while not (got := a.inbox("x")):  # the notification makes it read again
        assert time.monotonic() - posted < 5
        time.sleep(0.005)
    assert [m.body["data"] for m in got] == [2]


def test_a_waiting_instances_last_step_becomes_visible_at_the_next_inbox_poll(
        open_store: Any) -> None:
    """Regression: a checkpoint staged before a wait stayed invisible (status Pending
    while the instance waited for an event: tests/http test_suspend_and_resume)."""
    a = open_store()
    a.create(new("x"))
    claim = a.claim("x")
    claim.stage([("checkpoint", {"suspended": False, "custom_status": "waiting"})], TS)
    time.sleep(FLUSH_IDLE_AFTER)  # no commit came for it: idle
    other = threading.Thread(target=lambda: a.inbox("x"))  # not the claim's thread
    other.start()
    other.join()
    assert a.status("x")["runtimeStatus"] == "Pending"
    assert a.inbox("x") == []  # the engine's poll, on the claim's thread
    doc = a.status("x")
    assert (doc["runtimeStatus"], doc["customStatus"]) == ("Running", "waiting")


def test_a_checkpoint_staged_moments_ago_rides_with_the_next_commit(
        open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An inbox poll while the instance's activity runs does not commit its checkpoint
    alone: the result is due any moment, and both go in one commit (a chain whose
    activity ran on a pool thread paid 1,242 commits for 1,000 steps)."""
    a = open_store()
    a.create(new("x"))
    claim = a.claim("x")
    commits: list[int] = []
    real = type(a).commit
    monkeypatch.setattr(type(a), "commit",
                        lambda self, claims: (commits.append(1), real(self, claims))[1])
    claim.stage([("checkpoint", {"suspended": False, "custom_status": "busy"})], TS)
    a._flushed_idle.clear()
    assert a.inbox("x") == []
    assert commits == [] and a.status("x")["runtimeStatus"] == "Pending"
    claim.stage([("result", {"task": 0, "value": 1})], TS)
    a.commit([claim])
    assert len(commits) == 1
    assert [r.kind for r in a.history("x")] == ["created", "checkpoint", "result"]


def test_releasing_a_claim_taken_over_writes_nothing_and_does_not_raise(
        open_store: Any, pg_schema: str) -> None:
    a, b = open_store(), open_store()
    a.create(new("x"))
    stale = a.claim("x")
    expire_lease(pg_schema, "x")
    fresh = b.claim("x")
    stale.stage([("suspended", {"reason": None})], TS)
    a.release(stale)  # an engine closing: its other claims must still be released
    assert [r.kind for r in a.history("x")] == ["created"]
    fresh.stage([("resumed", {"reason": None})], TS)
    b.commit([fresh])  # the new owner is untouched
    assert [r.kind for r in a.history("x")] == ["created", "resumed"]


def _forward_later(delay: float, target: tuple[str, int],
                   go: threading.Event | None = None) -> tuple[int, threading.Event]:
    """A free port on which, after `delay` seconds (or once `go` is set), a TCP
    forwarder to `target` listens (a server that comes up while a worker starts); set
    the event returned to stop it."""
    import socket

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    stop = threading.Event()

    def pipe(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(65536):
                b.sendall(data)
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        if go is None:
            time.sleep(delay)
        else:
            go.wait(delay)
        listener = socket.create_server(("127.0.0.1", port))
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            server = socket.create_connection(target)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return port, stop


def test_a_starting_worker_waits_for_a_server_that_comes_up(pg_url: str) -> None:
    # regression: a worker started while the server restarted exited 2 with "cannot
    # reach PostgreSQL" (the soak's restart round); with `expect_outages` it waits
    from urllib.parse import urlsplit, urlunsplit

    from runtime.backends import open_backend

    parts = urlsplit(pg_url)
    port, stop = _forward_later(1.5, (parts.hostname or "127.0.0.1", parts.port or 5432))
    url = urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{port}"))
    lines: list[str] = []
    impatient = open_backend(url)
    with pytest.raises(BackendUnavailable, match="cannot reach PostgreSQL"):
        impatient.ensure()  # a command: one line at once
    from runtime.backends.postgres import open_postgres

    backend = open_postgres(url, report=lines.append)
    backend.expect_outages(30)
    try:
        backend.ensure()
        assert backend.create(new("x")) and backend.status("x")["runtimeStatus"] == "Pending"
    finally:
        backend.close()
        stop.set()
    assert lines[0].startswith("warning: cannot reach PostgreSQL at") and lines[0].endswith("retrying")
    assert lines[-1].startswith("reconnected to PostgreSQL at")


def test_tether_worker_started_before_its_server_answers_serves_it(pg_url: str, tmp_path: Any) -> None:
    # regression: `tether worker` ensured its store before the worker could wait, so one
    # started during the soak's server restart exited 2 ("the database system is shutting
    # down"); now it says it cannot reach the server, waits, and serves
    import os
    import subprocess
    import sys
    from pathlib import Path
    from urllib.parse import urlsplit, urlunsplit

    from runtime.client import Client
    from tether.loader import load

    parts = urlsplit(pg_url)
    go = threading.Event()
    port, stop = _forward_later(60, (parts.hostname or "127.0.0.1", parts.port or 5432), go)
    late = urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{port}"))
    log = tmp_path / "worker.err"
    (tmp_path / "flow.py").write_text(
        "from tether import orchestrator\n\n@orchestrator\nasync def hello(ctx, n):\n"
        "    return n + 1\n")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "tether.cli", "worker", "flow.py",
                             "--store", late], cwd=tmp_path, stderr=log.open("wb"),
                            env=dict(os.environ, PYTHONPATH=str(root)))
    try:
        limit = time.monotonic() + 60
        while "warning: cannot reach PostgreSQL at" not in log.read_text():
            assert proc.poll() is None, log.read_text()[-2000:]  # before the fix: exit 2
            assert time.monotonic() < limit, "the worker never said it was waiting"
            time.sleep(0.05)
        go.set()  # the server answers now
        client = Client(pg_url)
        client.start(load(str(tmp_path / "flow.py")).machine("hello"), 41, instance_id="w")
        limit = time.monotonic() + 60
        while (client.status("w") or {}).get("runtimeStatus") != "Completed":
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < limit, "the worker did not serve the instance"
            time.sleep(0.1)
        assert client.status("w")["output"] == 42
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        stop.set()
    assert "reconnected to PostgreSQL" in log.read_text()


# -- a message posted while its instance is being released ---------------------------------


def slow_release(backend: Any, seconds: float) -> None:
    """Make `backend`'s release statement sleep after taking its snapshot (READ
    COMMITTED: at the statement's start), so a post can commit inside that window."""
    q = backend.q
    q.release_many = q.release_many.replace(
        "WITH h AS", f"WITH pause AS (SELECT pg_sleep({seconds})), h AS", 1) + (
        " AND EXISTS (SELECT 1 FROM pause)")


@pytest.mark.parametrize("how", ["post", "send", "finish"])
@pytest.mark.parametrize("finished", [True, False])
def test_a_message_that_lands_during_a_release_keeps_the_instance_runnable(
        open_store: Any, how: str, finished: bool) -> None:
    """Regression: a worker released an idle entity (no message when it looked) while a
    client's signal was being posted; the post saw the claimed row as ready already and
    left it alone, the release then cleared `ready_at`, and the signal sat in the inbox of
    an instance no worker would ever offer again (found by tests/http/test_entities.py on
    PostgreSQL: a signal never applied). Every way a message arrives (post, a step's
    Claim.send, a work item's result) must leave the instance runnable."""
    owner, poster = open_store(), open_store()
    owner.create_many([new("x"), new("sender")])
    claim = owner.claim("x")
    assert claim is not None and owner.inbox("x") == []
    slow_release(owner, 0.6)
    if how == "finish":  # an attempt of x's, taken by another worker before the release
        queue = poster.work_queue()
        queue.enqueue(claim, [WorkItem("x", 0, 1, 0, "act", None)])
        owner.commit([claim])
        (item,) = queue.take(1, 30)
    releasing = threading.Thread(target=lambda: owner.release(
        claim, finished=finished, wake_at=None if finished else "2999-01-01T00:00:00Z"))
    releasing.start()
    time.sleep(0.2)  # the release statement has its snapshot, and sleeps
    if how == "post":
        poster.post("x", {"type": "event", "name": "go", "data": None})
    elif how == "send":
        sender = poster.claim("sender")
        sender.send("x", {"type": "event", "name": "go", "data": None})
        sender.stage([("checkpoint", {"suspended": False})], TS)
        poster.commit([sender])
    else:
        queue.finish(item, {"value": 1})
    releasing.join(10)
    assert len(owner.inbox("x")) == 1
    assert "x" in poster.runnable(10)  # offered again: the message will be read


# -- a collected backend's finalizer --------------------------------------------------------


def test_a_collected_backends_finalizer_takes_no_lock(open_store: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: the finalizer that unsubscribes a collected backend from the process's
    listener took the module's locks; a garbage collection runs finalizers on whatever
    thread it happens, holding whatever that thread holds, and a worker hung for good
    (regression 027 on PostgreSQL, under load). The finalizer must return at once with
    the locks held elsewhere, and the subscription is dropped soon after anyway."""
    from runtime.backends.postgres import backend as module
    from runtime.backends.postgres import wakeups

    registered: list[Any] = []
    monkeypatch.setattr(module.weakref, "finalize",
                        lambda obj, fn, *a: registered.append(fn))
    store = open_store()
    store.wait_for_work(0.01)  # subscribes
    (finalizer,) = registered
    sub = store._listener
    holding, release = threading.Event(), threading.Event()

    def hold_the_locks() -> None:
        with wakeups._listeners_lock, sub.listener.lock:
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_locks)
    holder.start()
    holding.wait(5)
    done = threading.Event()
    caller = threading.Thread(target=lambda: (finalizer(), done.set()))
    caller.start()
    try:
        assert done.wait(2), "the finalizer waited for a lock another thread holds"
    finally:
        release.set()
        holder.join(5)
        caller.join(5)
    deadline = time.monotonic() + 5
    while sub in sub.listener.channels.get(sub.channel, set()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sub not in sub.listener.channels.get(sub.channel, set())


def test_the_claim_of_a_new_entity_brings_its_tombstone_along(open_store: Any,
                                                               pg_schema: str) -> None:
    """A new entity's first batch reads its id's tombstone (`removed_memory`); the claim's
    own statement reads it, so that read costs no round trip of its own. An entity with a
    checkpoint is not given one (it does not ask), and is answered by a query."""
    from runtime.backends.postgres.claim import UNASKED

    backend = open_store()
    memory = {"last_seq": {"@counter@s/ab": 2}, "client_keys": []}
    entity = {"name": "@counter", "entity": "counter", "generation": 0}
    assert backend.create(NewInstance("@counter@t", TS, entity))
    claim = backend.claim("@counter@t")
    assert claim.tombstone is None  # asked: none yet
    assert backend.remove_idle(claim, memory)
    assert backend.create(NewInstance("@counter@t", TS, entity))
    claim = backend.claim("@counter@t")
    assert claim is not None and claim.tombstone is not UNASKED
    queries = backend.q

    class NoTombstoneQuery:
        def __getattr__(self, name: str) -> Any:
            assert name != "removed_memory", "read the tombstone again"
            return getattr(queries, name)

    backend.q = NoTombstoneQuery()
    try:
        assert backend.removed_memory("@counter@t") == memory
    finally:
        backend.q = queries
    claim.stage([("checkpoint", {"state": 1})], TS)
    backend.release(claim)
    again = backend.claim("@counter@t")
    assert again is not None and again.tombstone is UNASKED
    assert backend.removed_memory("@counter@t") == memory  # by its query
    assert backend.claim("plain") is None
    assert backend.create(new("plain"))
    plain = backend.claim("plain")
    assert plain is not None and plain.tombstone is UNASKED  # not an entity
    backend.release(plain)
    backend.release(again)
