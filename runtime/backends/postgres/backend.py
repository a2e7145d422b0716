"""`PostgresBackend`: the backend interface (runtime/backends/base.py) on PostgreSQL.

Guarantees, and how (docs/backends.md, "PostgreSQL", has the long form):

- **One owner.** `claim` is `UPDATE instances SET owner, lease_until, fence = fence + 1
  WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED)` on a row whose lease is free or has run
  out: two workers never both get it, and neither waits on the other. A thread renews
  every held lease (`lease/3` seconds apart); a process that dies or freezes loses its
  claims after `lease` seconds and another worker resumes them from the last checkpoint.
  No advisory locks (they outlive a frozen process for as long as its connection does).
- **Fenced writes, group commit.** `commit(claims)` is one transaction for many
  instances: lock their rows, keep only the claims whose fence is unchanged, insert
  their records (journal primary key (instance, generation, seq)), update their status
  columns, delete the messages they consumed, insert the messages they send to other
  instances (`Claim.send`), queue their work items, notify. A claim
  that lost its fence writes nothing and gets `FenceLost`.
- **Lost connections.** Every write runs through `Sessions.run` with a check of its own
  effect, so a COMMIT cut off by a server restart is neither lost nor repeated.
- **Wake-ups.** Creating an instance, posting a message, queuing or finishing a work item
  `pg_notify` the store's channel; `wait_for_work` returns on it (`wakeups.py`).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import psycopg

from runtime.backends.base import (
    Backend,
    BackendUnavailable,
    Claim,
    FenceLost,
    InstanceGone,
    Loaded,
    Message,
    NewInstance,
    Page,
    Query,
    Record,
    WorkQueue,
)
from runtime.backends.postgres import owners, reads, schema
from runtime.backends.postgres.claim import UNASKED, PostgresClaim, dump, new_message_id
from runtime.backends.postgres.connection import StoreRefused, StoreUnreachable
from runtime.backends.postgres.queries import SET_NO_FLUSH, Queries
from runtime.backends.postgres.sessions import Conn, Sessions
from runtime.backends.postgres.setup import StoreError, checked_url
from runtime.backends.postgres.status import StatusFold
from runtime.backends.postgres.url import StoreURL
from runtime.backends.postgres.wakeups import Subscription, subscribe

Row = tuple[Any, ...]

#: an inbox read empty is taken to stay empty this long unless a notification names it
QUIET_FOR = 1.0
#: seconds between two scans for idle staged records by one thread (`_flush_idle`)
FLUSH_IDLE_EVERY = 0.01
#: seconds staged records wait for the engine's next commit before `_flush_idle` commits
#: them alone: an instance whose activity is running gets its result within that time
#: and the checkpoint rides along (flushing at once cost a chain 1,242 commits for
#: 1,000 steps, against 1,001, when its activity ran on a pool thread)
FLUSH_IDLE_AFTER = 0.1


class PostgresBackend(Backend):
    atomic_sends = True  # `Claim.send` rows are inserted by the step's own statement
    ends_ride_along = True  # a group commit costs one flush, whatever it holds

    def __init__(self, spec: str | StoreURL, *, report: Callable[[str], None] | None = None) -> None:
        try:
            self.url = checked_url(spec)
        except StoreError as exc:
            raise BackendUnavailable(str(exc)) from None
        self.spec = self.url.masked
        self.schema = self.url.schema
        self.lease = self.url.lease
        self.owner = owners.new_owner_id()
        self.sessions = Sessions(self.url, report or _stderr)
        self.q = Queries(self.schema)
        self._ready = False
        self._ready_lock = threading.Lock()
        self._claims: dict[str, PostgresClaim] = {}
        self._claims_lock = threading.Lock()
        self._listener: Subscription | None = None
        self._quiet: dict[str, tuple[float, int]] = {}  # inboxes read empty: when, epoch
        self._flushed_idle: dict[int, float] = {}  # by thread: when `_flush_idle` last ran
        self._heartbeat: threading.Thread | None = None
        self._stop = threading.Event()
        self._work: WorkQueue | None = None

    # -- lifecycle -------------------------------------------------------------------

    def ensure(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            try:
                self.sessions.run(lambda conn: schema.ensure(conn, self.schema, self.spec),
                                  transaction=False)
            except (StoreUnreachable, StoreRefused, schema.SchemaTooNew) as exc:
                raise BackendUnavailable(str(exc)) from None
            except psycopg.Error as exc:
                raise BackendUnavailable(f"cannot set up the PostgreSQL store {self.spec}: "
                                         f"{str(exc).strip().splitlines()[0]}") from None
            self._ready = True

    def expect_outages(self, patience: float) -> None:
        self.sessions.patience = patience

    def _conn_run(self, op: Callable[[Conn], Any], verify: Callable[[Conn], Any] | None = None,
                  *, transaction: bool = True) -> Any:
        self.ensure()
        return self.sessions.run(op, verify, transaction=transaction)

    def _read(self, op: Callable[[Conn], Any]) -> Any:
        """A read of one statement: autocommit, one round trip (no BEGIN/COMMIT)."""
        return self._conn_run(op, transaction=False)

    def close(self) -> None:
        """Stop the heartbeat and the listener and close the connections; claims still
        held are released first. The object may be used again: it reconnects."""
        with self._claims_lock:
            held = list(self._claims.values())
        for claim in held:
            with contextlib.suppress(FenceLost, psycopg.Error, BackendUnavailable):
                self.release(claim)
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=2)
            self._heartbeat = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self.sessions.close()
        self._quiet.clear()
        self._stop = threading.Event()

    # -- creating --------------------------------------------------------------------

    def create(self, item: NewInstance) -> bool:
        return self.create_many([item]) == [item.instance_id]

    def create_many(self, items: Sequence[NewInstance]) -> list[str]:
        if not items:
            return []
        q = self.q

        unique = list({i.instance_id: i for i in reversed(items)}.values())[::-1]
        earlier = [i for i in unique if i.earlier_calls]
        params = [
            [i.instance_id for i in unique], [str(i.data.get("name", "")) for i in unique],
            [i.data.get("created", i.ts) for i in unique], [i.ts for i in unique],
            [dump(i.data.get("input")) for i in unique], [dump(i.data.get("parent")) for i in unique],
            [(i.data.get("parent") or {}).get("id") for i in unique],
            [int(i.data.get("attempt", 1)) for i in unique],
            [int(i.data.get("generation", 0)) for i in unique], [dump(i.data) for i in unique],
            [i.instance_id for i in earlier],
            [dump({"generation": -1, "calls": list(i.earlier_calls)}) for i in earlier],
            schema.channel(self.schema)]

        def op(conn: Conn) -> list[str]:
            made = {r[0] for r in conn.execute(q.create_instances, params).fetchall()}
            seen: set[str] = set()
            out = []
            for i in items:  # in the caller's order; a repeated id counts once
                if i.instance_id in made and i.instance_id not in seen:
                    seen.add(i.instance_id)
                    out.append(i.instance_id)
            return out

        def verify(conn: Conn) -> list[str] | None:
            # Ours if record 0 holds exactly our `created` data; an id created by someone
            # else meanwhile stays "exists".
            rows = conn.execute(q.created_texts, ([i.instance_id for i in items],)).fetchall()
            found = {r[0]: r[1] for r in rows}
            if not any(found.get(i.instance_id) == dump(i.data) for i in items):
                return None  # our transaction did not commit: run it again
            return [i.instance_id for i in items if found.get(i.instance_id) == dump(i.data)]

        result: list[str] = self._conn_run(op, verify, transaction=False)
        return result

    def existing(self, instance_ids: Sequence[str]) -> list[str]:
        if not instance_ids:
            return []
        rows = self._read(lambda c: c.execute(self.q.existing, (list(instance_ids),)).fetchall())
        found = {r[0] for r in rows}
        return [i for i in instance_ids if i in found]

    def exists(self, instance_id: str) -> bool:
        row = self._read(lambda c: c.execute(self.q.exists, (instance_id,)).fetchone())
        return row is not None

    # -- owning ----------------------------------------------------------------------

    def claim(self, instance_id: str, *, wait: bool = False) -> Claim | None:
        while True:
            got = self._try_claim(instance_id)
            if got is not None or not self.exists(instance_id):
                return got
            if self._free_dead_holders(instance_id):
                continue  # its holder was a dead process of this machine: try again now
            if not wait:
                return None
            time.sleep(0.05)

    def recover(self) -> None:
        """Free the claims and work items of dead processes of this machine (a worker
        restarted after a crash), so they are taken over now, not when their leases end."""
        self.ensure()
        self._free_dead_holders(None)

    def _free_dead_holders(self, instance_id: str | None) -> bool:
        q = self.q
        prefix = owners.machine_prefix() + "%"
        rows = self._read(lambda c: c.execute(q.local_holders, (
            instance_id, instance_id, prefix, instance_id, prefix)).fetchall())
        dead = [owner for (owner,) in rows if owners.dead_here(owner)]

        def free(conn: Conn) -> None:
            for owner in dead:
                for statement in q.free_owner:
                    conn.execute(statement, (owner,))

        if dead:
            self._conn_run(free)  # repeatable: freeing twice frees nothing more
        return bool(dead)

    def _try_claim(self, instance_id: str) -> PostgresClaim | None:
        q = self.q
        if instance_id in self._claims:
            return None  # this object holds it already (as a second flock would be refused)

        def op(conn: Conn) -> PostgresClaim | None:
            rows = conn.execute(q.claim, (self.owner, self.lease, instance_id, self.owner)).fetchall()
            if not rows:
                return None
            fence, generation, next_seq = rows[0][:3]
            records = [Record(r[3], r[4], r[5], r[6]) for r in rows if r[3] is not None]
            claim = self._claim_of(instance_id, fence, generation, next_seq, records)
            if rows[0][7]:  # an entity with no checkpoint: its tombstone came along
                claim.tombstone = rows[0][8]
            return claim

        # A claim whose COMMIT was cut off is simply run again: if it had committed, the
        # row's owner is us, which the claim accepts (this object holds no claim on it:
        # checked above), and the fence moves on once more.
        claim: PostgresClaim | None = self._conn_run(op, transaction=False)
        if claim is not None:
            claim.thread = threading.get_ident()
            with self._claims_lock:
                self._claims[instance_id] = claim
                self._start_heartbeat()
        return claim

    def claim_many(self, instance_ids: Sequence[str]) -> list[Claim]:
        """One statement (`Queries.claim_many`) for every instance asked: claimed and
        loaded together, one round trip instead of one per instance (a worker's scan
        finding 200 new instances paid 200). It also says whose inboxes are empty, which
        are then known quiet as a read of each would have made them (`inbox`): the
        engine's first poll of 200 new instances read 200 empty inboxes."""
        q = self.q
        wanted = [i for i in dict.fromkeys(instance_ids) if i not in self._claims]
        if not wanted:
            return []
        listener = self._wakeups()
        listener.wait_live(0.05)  # a worker's first scan comes right after it subscribed
        epochs = {i: listener.reading(i) for i in wanted}  # before the statement's snapshot
        started = time.monotonic()

        def op(conn: Conn) -> dict[str, PostgresClaim]:
            rows = conn.execute(q.claim_many, (self.owner, self.lease, wanted, self.owner)).fetchall()
            for row in rows:
                if not row[8] and epochs[row[0]] >= 0:
                    self._quiet[row[0]] = (started, epochs[row[0]])
            by_id: dict[str, list[Row]] = {}
            for row in rows:
                by_id.setdefault(row[0], []).append(row)
            out = {}
            for instance_id, got in by_id.items():
                fence, generation, next_seq = got[0][1:4]
                records = [Record(r[4], r[5], r[6], r[7]) for r in got if r[4] is not None]
                out[instance_id] = self._claim_of(instance_id, fence, generation, next_seq,
                                                  records)
            return out

        # Repeatable as `claim` is: rows a cut-off COMMIT claimed are ours (owner), which
        # the statement accepts again.
        claims: dict[str, PostgresClaim] = self._conn_run(op, transaction=False)
        for instance_id in wanted:
            if instance_id not in claims:  # `reading` forgot a notification that named it
                self._quiet.pop(instance_id, None)
        me = threading.get_ident()
        with self._claims_lock:
            for claim in claims.values():
                claim.thread = me
                self._claims[claim.instance_id] = claim
            if claims:
                self._start_heartbeat()
        return [claims[i] for i in wanted if i in claims]

    def _claim_of(self, instance_id: str, fence: int, generation: int, next_seq: int,
                  records: list[Record]) -> PostgresClaim:
        first = records[0]
        rest = records[1:]
        checkpoint = next((r for r in rest if r.kind == "checkpoint"), None)
        if checkpoint is not None:
            rest = [r for r in rest if r.seq > checkpoint.seq]
        loaded = Loaded(first, checkpoint, rest)
        fold = StatusFold.of([first, *([checkpoint] if checkpoint else []), *rest])
        return PostgresClaim(instance_id, fence, generation, loaded, next_seq, fold,
                             self._new_generation)

    def commit(self, claims: Iterable[Claim]) -> None:
        pending = [c for c in claims if isinstance(c, PostgresClaim) and c.staged]
        if not pending:
            return
        pending.sort(key=lambda c: c.instance_id)  # one lock order for every committer
        lost = self._conn_run(lambda conn: self._commit_op(conn, pending),
                              lambda conn: self._commit_verify(conn, pending), transaction=False)
        for claim in pending:
            if claim.instance_id not in lost:
                for target, _, _ in claim.staged.sends:
                    self._quiet.pop(target, None)  # ours: no need to wait for the notification
                claim.committed()
        if lost:
            for instance_id in lost:
                self._forget(instance_id, lost=True)
            raise FenceLost(f"instance {lost[0]}: another worker claimed it "
                            f"(lease of {self.lease:g} s ran out); its last step was not saved", lost)

    def _commit_op(self, conn: Conn, claims: list[PostgresClaim]) -> list[str]:
        """The whole group in one statement (`Queries.step`), so one round trip and, in
        autocommit, one transaction: fenced updates of the claims' rows, then the records,
        acknowledgements and work items of the claims whose update matched; the ids whose
        fence had moved."""
        kept = {row[0] for row in conn.execute(self.q.step, self._step_params(claims)).fetchall()}
        return [c.instance_id for c in claims if c.instance_id not in kept]

    def _step_params(self, claims: list[PostgresClaim]) -> list[Any]:
        """The parameters of `Queries.step` for what `claims` have staged."""
        rows: list[tuple[Any, ...]] = []
        records: list[tuple[Any, ...]] = []
        acks: list[tuple[str, str]] = []
        work: list[tuple[Any, ...]] = []
        sends: list[tuple[str, str, str, str]] = []
        for c in claims:
            fold = c.fold
            rows.append((c.instance_id, c.fence, c.next_seq, c.head_seq, fold.status,
                         _json(fold.output), _json(fold.error), _json(fold.custom_status),
                         fold.updated or None))
            records.extend((c.instance_id, c.generation, r.seq, r.kind, r.ts, text)
                           for r, text in zip(c.staged.records, c.staged.texts, strict=True))
            acks.extend((c.instance_id, name) for name in c.staged.acks)
            work.extend((c.instance_id, w.generation, w.task, w.attempt, w.name, dump(w.input))
                        for w in c.staged.work)
            sends.extend((c.instance_id, *sent) for sent in c.staged.sends)
        channel = schema.channel(self.schema)
        return [dump([rows, records, acks, work, sends]), channel, channel, bool(work)]

    def _commit_verify(self, conn: Conn, claims: list[PostgresClaim]) -> list[str] | None:
        """After a lost connection: did the cut-off commit happen? (next_seq tells.)"""
        rows = dict((r[0], (r[1], r[2])) for r in conn.execute(
            self.q.seqs, ([c.instance_id for c in claims],)).fetchall())
        ours = [c for c in claims if rows.get(c.instance_id, (None, None))[1] == c.fence]
        # only a claim with records moves next_seq; a group without any runs again (its
        # acknowledgements, work items and messages are keyed: a repeat adds nothing
        # unless a receiver consumed a message in between)
        if any(rows[c.instance_id][0] == c.next_seq for c in ours if c.staged.records):
            return [c.instance_id for c in claims if c not in ours]
        return None  # nothing of it committed: run it again

    def release(self, claim: Claim, *, finished: bool = False, wake_at: str | None = None) -> None:
        assert isinstance(claim, PostgresClaim)
        if claim.released:
            return
        try:
            self._release_together([claim], finished=finished,
                                   wake_at=None if finished else wake_at)
        finally:
            self._forget(claim.instance_id)
            claim.released = True

    def release_many(self, claims: Sequence[Claim], *, finished: bool = False) -> None:
        """`release` of every claim in one transaction (one round trip, not one per
        instance; `_release_together`)."""
        held = sorted((c for c in claims if isinstance(c, PostgresClaim) and not c.released),
                      key=lambda c: c.instance_id)  # one lock order for every committer
        try:
            if held:
                self._release_together(held, finished=finished, wake_at=None)
        finally:
            for claim in claims:
                if isinstance(claim, PostgresClaim):
                    self._forget(claim.instance_id)
                    claim.released = True

    def _release_together(self, held: list[PostgresClaim], *, finished: bool,
                          wake_at: str | None) -> None:
        """Commit what `held` have staged and release them, in one transaction sent as
        one pipeline: one round trip (it was a group commit, then a pipeline of three
        statements per claim). Flushed only when something is staged: a release alone
        lost to a server crash leaves a lease to run out. A claim whose fence moved
        writes nothing and releases nothing: another worker has it (not raised: there
        is nothing of ours to keep or give up)."""
        q = self.q
        staged = [c for c in held if c.staged]
        ids, fences = [c.instance_id for c in held], [c.fence for c in held]
        release = {"ids": ids, "fences": fences, "finished": finished, "wake": wake_at}

        def op(conn: Conn) -> list[str]:
            with conn.pipeline():
                with conn.transaction():
                    if not staged:
                        conn.execute(SET_NO_FLUSH)
                    step = conn.execute(q.step, self._step_params(staged)) if staged else None
                    # Lock the rows first: a post() that bumped ready_at before us is
                    # then committed and seen by the next statement's snapshot.
                    conn.execute(q.lock_many, (ids, fences))
                    conn.execute(q.release_many, release)
                kept = {row[0] for row in step.fetchall()} if step is not None else set()
            return [c.instance_id for c in staged if c.instance_id not in kept]

        def verify(conn: Conn) -> list[str] | None:
            # the records and the release are one transaction: committed together or not
            # (without records, the release is simply made again: fenced, repeatable)
            return self._commit_verify(conn, staged) if staged else None

        lost: list[str] = self._conn_run(op, verify, transaction=False)
        for claim in staged:
            if claim.instance_id not in lost:
                for target, _, _ in claim.staged.sends:
                    self._quiet.pop(target, None)
                claim.committed()
        for instance_id in lost:
            self._forget(instance_id, lost=True)

    def _forget(self, instance_id: str, *, lost: bool = False) -> None:
        with self._claims_lock:
            claim = self._claims.pop(instance_id, None)
        if claim is not None:
            claim.released = True
            claim.lost = claim.lost or lost

    def heartbeat(self, claims: Iterable[Claim]) -> None:
        """Renew the leases; FenceLost (naming the first) for claims another worker took
        meanwhile, which are dropped (the others are renewed all the same)."""
        mine = [c for c in claims if isinstance(c, PostgresClaim)]
        # claims the heartbeat thread found lost already (it cannot tell the engine: it
        # marks them, and this call, the engine's, names them)
        lost = [c.instance_id for c in mine if c.lost]
        held = [c for c in mine if not c.released and not c.lost]
        if held:
            rows = self._conn_run(lambda c: c.execute(
                self.q.renew, (self.lease, [c.instance_id for c in held],
                               [c.fence for c in held], self.owner)).fetchall())
            renewed = {r[0] for r in rows}
            gone = [c.instance_id for c in held if c.instance_id not in renewed]
            for instance_id in gone:
                self._forget(instance_id, lost=True)
            lost += gone
        if lost:
            raise FenceLost(lost_claims(lost, self.lease), lost)

    def _start_heartbeat(self) -> None:
        """Start the heartbeat thread if it is not running (under `_claims_lock`). It
        runs while claims are held, and holds the backend only weakly, so a backend
        nobody uses any more is collected, closing its connections."""
        if self._heartbeat is not None:
            return
        self._heartbeat = threading.Thread(target=_beat, args=(weakref.ref(self), self._stop),
                                           name="tether-pg-heartbeat", daemon=True)
        self._heartbeat.start()

    def runnable(self, limit: int, skip: Iterable[str] = ()) -> list[str]:
        skipped = list(skip)
        rows = self._read(lambda c: c.execute(self.q.runnable, (skipped, limit)).fetchall())
        return [r[0] for r in rows]

    def wait_for_work(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds, waking when another process makes work."""
        return self._wakeups().wait(timeout)

    # -- generations -----------------------------------------------------------------

    def _new_generation(self, claim: PostgresClaim, data: dict[str, Any], ts: str,
                        calls: Sequence[tuple[str, Any]]) -> Loaded:
        self.commit([claim])
        q = self.q
        generation = int(data.get("generation", claim.generation + 1))
        first = Record(0, "created", ts, data)

        def op(conn: Conn) -> bool:
            if conn.execute(q.lock_own, (claim.instance_id, claim.fence)).fetchone() is None:
                return False
            conn.execute(q.insert_generation, (claim.instance_id, claim.generation,
                                               dump({"generation": claim.generation,
                                                     "calls": list(calls)})))
            conn.execute(q.delete_records, (claim.instance_id, claim.generation))
            conn.execute(q.insert_record, (claim.instance_id, generation, 0, "created", ts, dump(data)))
            conn.execute(q.new_generation, (generation, dump(data.get("input")), ts, ts,
                                            claim.instance_id))
            return True

        def verify(conn: Conn) -> bool | None:
            row = conn.execute(q.seqs, ([claim.instance_id],)).fetchone()
            if row is None or row[2] != claim.fence:
                return False
            got = conn.execute(q.generation_of, (claim.instance_id,)).fetchone()
            return True if got is not None and got[0] == generation else None

        if not self._conn_run(op, verify):
            self._forget(claim.instance_id, lost=True)
            raise FenceLost(f"instance {claim.instance_id}: another worker claimed it "
                            f"(lease of {self.lease:g} s ran out)", [claim.instance_id])
        loaded = Loaded(first, None, [])
        claim.reset(loaded, generation, 1, StatusFold.of([first]))
        return loaded

    # -- messages --------------------------------------------------------------------

    def post(self, instance_id: str, body: dict[str, Any]) -> str:
        message_id = new_message_id()
        q = self.q

        def op(conn: Conn) -> str:
            if instance_id.startswith("@"):  # an entity: see `post_entity`
                row = conn.execute(q.post_entity, (instance_id, message_id, dump(body),
                                                   schema.channel(self.schema),
                                                   instance_id)).fetchone()
                if row is None or not row[0]:
                    raise InstanceGone(f"entity {instance_id} is not in {self.spec} (any "
                                       "more); nothing was posted")
                return message_id
            conn.execute(q.post, (instance_id, message_id, dump(body), instance_id,
                                  schema.channel(self.schema), instance_id))
            return message_id

        # Repeatable: the message id is unique, so a retry after a lost COMMIT adds nothing.
        result: str = self._conn_run(op, transaction=False)
        self._quiet.pop(instance_id, None)  # ours: no need to wait for the notification
        return result

    def post_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[str | None]:
        from runtime.backends.postgres.posting import post_many  # entity batches (issue 12)

        return post_many(self, items)

    def generation_ended(self, instance_id: str, generation: int, *,
                         incarnation: str | None = None) -> bool:
        from runtime.backends.postgres.generations import generation_ended  # one query

        return generation_ended(self, instance_id, generation, incarnation)

    def inbox(self, instance_id: str) -> list[Message]:
        """The messages, read from the table unless the inbox is known to be empty: it was
        empty when last read, under `QUIET_FOR` seconds ago, and no notification has
        named the instance since (the engine asks about every instance it holds at every
        poll; this makes an idle instance cost nothing but its NOTIFY)."""
        self._flush_idle()
        listener = self._wakeups()
        known = self._quiet.get(instance_id)
        if (known is not None and time.monotonic() - known[0] < QUIET_FOR
                and listener.known_quiet(instance_id, known[1])):
            return []
        epoch = listener.reading(instance_id)
        started = time.monotonic()
        rows = self._read(lambda c: c.execute(self.q.inbox, (instance_id,)).fetchall())
        if rows or epoch < 0:
            self._quiet.pop(instance_id, None)
        else:
            self._quiet[instance_id] = (started, epoch)
        return [Message(name, body) for name, body in rows]

    def _flush_idle(self) -> None:
        """Commit what this thread's claims have staged. The engine stages a checkpoint
        and lets it ride with the next commit; when the instance then waits (for an event,
        a timer), no next commit comes for a while, and here nothing staged is visible to
        readers until it does (the file backend's staged bytes are readable at once). The
        engine reads its instances' inboxes at every poll, so this is where a waiting
        instance's last step becomes visible: Running, its custom status, its history,
        once it has waited FLUSH_IDLE_AFTER seconds for a commit that did not come.
        A lost fence is not raised here: the claim is marked lost, and the engine hears
        of it at its next write. Done at most once per FLUSH_IDLE_EVERY per thread: the
        engine asks for every held instance's inbox in one go, and a scan of every claim
        per inbox was quadratic in the instances held (0.8 s of 200 x 3 on one worker)."""
        me = threading.get_ident()
        now = time.monotonic()
        if now - self._flushed_idle.get(me, 0.0) < FLUSH_IDLE_EVERY:
            return
        self._flushed_idle[me] = now
        with self._claims_lock:
            # Records riding along without acknowledgements: what an engine leaves staged
            # once a round is done (anything it acted on, it committed already).
            staged = [c for c in self._claims.values() if c.thread == me
                      and c.staged.records and not c.staged.acks and c.staged_at is not None
                      and now - c.staged_at >= FLUSH_IDLE_AFTER]
        if staged:
            with contextlib.suppress(FenceLost):
                self.commit(staged)

    def _wakeups(self) -> Subscription:
        if self._listener is None:
            self.ensure()
            self._listener = subscribe(self.url)
            # unsubscribe when this backend is collected (the listener holds no reference
            # to it); the last subscription stops the process's listener. Later, not in
            # the finalizer, which must take no lock (`Subscription.close_later`).
            weakref.finalize(self, self._listener.close_later)
        return self._listener

    # -- reading ---------------------------------------------------------------------

    def status(self, instance_id: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._read(
            lambda c: reads.status(c, self.q, instance_id))
        return result

    def history(self, instance_id: str) -> Iterator[Record]:
        records: list[Record] = self._read(lambda c: reads.history(c, self.q, instance_id))
        return iter(records)

    def activity_calls(self, instance_id: str) -> list[tuple[str, Any]]:
        result: list[tuple[str, Any]] = self._conn_run(
            lambda c: reads.activity_calls(c, self.q, instance_id))
        return result

    def query(self, query: Query) -> Page:
        page: Page = self._read(lambda c: reads.query(c, self.schema, query))
        return page

    def remove_idle(self, claim: Claim, memory: Any) -> bool:
        assert isinstance(claim, PostgresClaim)
        self.commit([claim])  # nothing staged, as a rule: made durable all the same
        q, instance_id = self.q, claim.instance_id
        kept = None if memory is None else dump(memory)

        def op(conn: Conn) -> bool:
            if conn.execute(q.lock_for_removal, (instance_id, claim.fence)).fetchone() is None:
                return False  # superseded: someone else holds it now
            (waiting,) = conn.execute(q.has_inbox, (instance_id,)).fetchone() or (True,)
            if waiting:
                return False
            for statement in q.delete_instance:
                conn.execute(statement, (instance_id,))
            # the tombstone, in the transaction that deletes the rows
            if kept is None:
                conn.execute(q.drop_removed, (instance_id,))
            else:
                conn.execute(q.keep_removed, (instance_id, kept))
            return True

        removed = False
        try:
            removed = bool(self._conn_run(op))  # one transaction
        finally:
            if removed:
                self._forget(instance_id)
            else:
                self.release(claim)
        return removed

    def removed_memory(self, entity_id: str) -> Any:
        """Under a claim of this object on a new entity, what the claim's statement read
        (no round trip: the tombstone cannot change while the claim is held); else one
        query."""
        held = self._claims.get(entity_id)
        if held is not None and held.tombstone is not UNASKED:
            text = held.tombstone
        else:
            row = self._read(lambda c: c.execute(self.q.removed_memory, (entity_id,)).fetchone())
            text = None if row is None else row[0]
        return None if text is None else json.loads(str(text))

    def purge(self, instance_id: str) -> bool:
        claim = self.claim(instance_id, wait=True)
        entity = instance_id.startswith("@")  # only an entity has a tombstone to drop
        if claim is None:
            if entity:
                self._conn_run(lambda c: c.execute(self.q.drop_removed, (instance_id,)))
            return False
        assert isinstance(claim, PostgresClaim)
        q = self.q

        def op(conn: Conn) -> bool:
            for statement in q.purge if entity else q.delete_instance:
                conn.execute(statement, (instance_id,))
            return True

        try:
            self._conn_run(op)  # repeatable: deleting twice deletes nothing more
        finally:
            self._forget(instance_id)
        return True

    # -- distributing activities -------------------------------------------------------

    def work_queue(self) -> WorkQueue | None:
        if self._work is None:
            from runtime.backends.postgres.work import PostgresWorkQueue

            self._work = PostgresWorkQueue(self)
        return self._work


def _beat(ref: weakref.ref[PostgresBackend], stop: threading.Event) -> None:
    """The heartbeat thread: renew every held lease each `lease/3` seconds."""
    while True:
        backend = ref()
        if backend is None:
            return
        interval = backend.lease / 3
        del backend
        if stop.wait(interval):
            return
        backend = ref()
        if backend is None:
            return
        with backend._claims_lock:
            held = list(backend._claims.values())
            if not held:  # nothing to renew: stop until the next claim
                backend._heartbeat = None
                return
        # A failure is reported by the session; the engine learns of a lost lease at its
        # next commit or heartbeat.
        with contextlib.suppress(psycopg.Error, BackendUnavailable, FenceLost):
            backend.heartbeat(held)
        del backend, held


def lost_claims(instance_ids: Sequence[str], lease: float) -> str:
    """The one line that says claims were lost to other workers."""
    if len(instance_ids) == 1:
        return (f"instance {instance_ids[0]}: another worker claimed it (lease of {lease:g} s "
                "ran out); its unsaved steps run there")
    shown = ", ".join(instance_ids[:5]) + (", ..." if len(instance_ids) > 5 else "")
    return (f"lost the claims on {len(instance_ids)} instances ({shown}): other workers "
            f"claimed them (lease of {lease:g} s ran out); their unsaved steps run there")


def _json(value: Any) -> str | None:
    return None if value is None else dump(value)


def _stderr(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)
