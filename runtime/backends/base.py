"""The backend interface: the only description of where an instance's state lives.

The engine (`runtime.engine`), the worker, the client, the HTTP app and the CLI reach
state only through a `Backend`; `runtime.backends.file` keeps it in a directory (the
journal of docs/journal.md), `runtime.backends.postgres` in a PostgreSQL database.
docs/backends.md explains the contract with examples; this module is its reference.

Vocabulary
----------
*Record*: one journal entry of an instance, `(seq, kind, ts, data)`, with `seq` counting
from 0 in each generation (`continue_as_new` starts a new one) and `kind` one of the
kinds of docs/journal.md. Record 0 of every generation is `created`. A backend stores
records exactly as given (the JSON `data` round-trips unchanged) and returns them in
`seq` order.

*Claim*: the right to run an instance and to append to its journal. At most one claim
on an instance is valid at any moment, across every process and machine using the
backend. A claim carries a *fence*: a number that grows every time the instance is
claimed. Every write made through a claim is checked against the instance's current
fence when it becomes durable (`Backend.commit`); a claim that has been superseded (its
lease ran out and another worker claimed the instance) gets `FenceLost` and nothing it
staged is kept. The file backend's claims are `flock`s, which the kernel holds until the
process dies, so its fence never moves under a live claim; a leased backend (PostgreSQL)
expires a claim that is not renewed by `heartbeat` within its lease.

*Staging and commit* (group commit): `Claim.stage` assigns sequence numbers and keeps
records in order, `Backend.commit(claims)` makes everything staged on those claims
durable as one group (the file backend: one fsync, or one syncfs(2) for several
journals; PostgreSQL: one transaction, its fences checked). Records staged together in
one `stage` call are atomic: after a crash all of them exist or none. Nothing may act on
a staged record (deliver a result, delete the message it came from, tell a parent) until
a commit that includes it has returned. Staged records may be visible to readers before
the commit (the file backend writes them to the OS at once); a crash may lose any staged,
uncommitted suffix, never a committed record, and never a record from the middle.

*Message*: a JSON object for an instance, delivered at least once, in the order posted
by one sender (`Backend.post` from outside, `Claim.send` from another instance's step,
made durable with that step's commit): `{"type": "event", "name", "data"}`, `{"type": "terminate"|"suspend"|
"resume", "reason"}`, `{"type": "sub_done", "task", "child"}`, later entity operations.
Each has an id unique in the instance's inbox; the engine journals the id of the events
it consumes (`event` records carry `msg`), so a message redelivered after a crash is
recognised and acknowledged without a second effect.

Errors
------
Every error a backend raises for reasons of state or infrastructure derives from
`BackendError` and has a message of one line fit for a user (naming the path or the URL,
with any password masked). Per-instance problems (`InstanceDamaged`, `InstanceUnusable`)
concern that instance only: the engine reports them once and serves the others.
"""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: The runtime statuses of docs/runtime.md, plus "Damaged" for an instance whose journal
#: cannot be read as a whole (shown, never run; `purge` removes it).
#: the record kinds that end a generation, and the status each gives
FINAL = {"completed": "Completed", "failed": "Failed", "terminated": "Terminated"}
ENDED_STATUSES = frozenset(FINAL.values())
DAMAGED = "Damaged"
#: `release(claim, wake_at=WAKE_NEVER)`: the instance waits for a message only
WAKE_NEVER = "9999-12-31T23:59:59Z"


class BackendError(Exception):
    """Base of the errors a backend raises; the message is one line for the user."""


class BackendUnavailable(BackendError):
    """The store cannot be reached or used at all (directory not writable, server down,
    wrong credentials, a schema from a newer tether). Not about one instance."""


class InstanceExists(BackendError, ValueError):
    """`create` of an id that exists already (a ValueError, as the client raised before)."""


class FenceLost(BackendError):
    """The claim was superseded: another worker holds the instance now. Nothing staged on
    this claim since its last successful commit was kept; drop the instance from memory.
    `instance_ids` names the instances whose claims were lost (empty: not known)."""

    def __init__(self, message: str, instance_ids: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.instance_ids = tuple(instance_ids)


class InstanceDamaged(BackendError):
    """The instance's journal is damaged beyond a torn tail (its first record, or a bad
    record followed by good, CRC-chained ones): it is shown as Damaged, never run or
    rewritten; `purge` removes it."""


class InstanceUnusable(BackendError):
    """One instance cannot be read or written for a reason of its own (permission denied,
    a file where a folder should be...). Raised once per attempt; other instances go on."""


class InstanceGone(InstanceUnusable):
    """`post` to an instance that does not exist (any more): an entity removed by
    `remove_idle` at that very moment, say. Nothing was delivered; a sender that may
    create the instance (an entity's first message does) creates it and posts again."""


@dataclass(slots=True)
class Record:
    """One journal record (docs/journal.md, "Kinds"). Never changed once made; not a
    frozen dataclass only because those set every field through `object.__setattr__`,
    and the engine makes two records per step."""

    seq: int
    kind: str
    ts: str  # ISO 8601 UTC with Z
    data: dict[str, Any]


@dataclass(frozen=True)
class Loaded:
    """What a claim found: the `created` record of the current generation, the last
    checkpoint (None before the first) and every record after it, in order. By the
    engine's invariant (a checkpoint reflects every record before it) this is all a
    resume needs, whatever the length of the history."""

    first: Record
    checkpoint: Record | None
    tail: list[Record]


@dataclass(frozen=True)
class NewInstance:
    """An instance to create: its id, creation time and `created` record data
    (`name`, `input`, `graph_hash`, `source`, `parent`, `generation`, `start`, ...).
    `earlier_calls` are activity executions of earlier attempts of a retried child
    (name, input), kept for the instance's activity account (`Backend.activity_calls`)."""

    instance_id: str
    ts: str
    data: dict[str, Any]
    earlier_calls: Sequence[tuple[str, Any]] = ()


@dataclass(frozen=True)
class Message:
    """An inbox message: `id` unique within the instance's inbox, `body` the JSON object."""

    id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Summary:
    """One row of a query: what the backend's index knows of an instance."""

    instance_id: str
    name: str
    status: str  # a runtime status, or DAMAGED
    created: str  # ISO 8601 UTC (a backend may write it in a fixed-width form)
    updated: str


@dataclass(frozen=True)
class Query:
    """A filter over the instances; every field set narrows the result.

    `statuses`: runtime statuses (DAMAGED included) to keep; `name`: orchestration name;
    `id_prefix`: instance ids starting with it; `created_from <= created < created_to`
    and likewise `updated_*`. `top` rows per page (1-1000); `continuation`: the token of
    the previous page. Results come in (created, id) order, stable across pages even
    while instances are created or change status; `newest_first` reverses it (the
    dashboard's first page: the newest instances, without reading the others).

    `entities`: an entity is stored as an instance whose id is `@name@key`; False (the
    default) keeps orchestration instances only, True entities only, None both. The
    filter is applied by the index, so a page holds `top` rows of the kind asked for
    however many of the other kind are interleaved."""

    statuses: frozenset[str] | None = None
    name: str | None = None
    id_prefix: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    top: int = 100
    continuation: str | None = None
    newest_first: bool = False
    entities: bool | None = False


@dataclass(frozen=True)
class Page:
    """One page of a query; `continuation` is None on the last page."""

    items: list[Summary]
    continuation: str | None = None


@dataclass
class WorkItem:
    """An activity attempt handed to any worker (`WorkQueue`): the owner's instance id
    and generation, the task id and attempt (unique together: a result is recorded once
    per (instance, generation, task, attempt)), the activity's name and JSON input."""

    instance_id: str
    generation: int
    task: int
    attempt: int
    name: str
    input: Any = None
    token: Any = field(default=None, compare=False)  # the backend's handle on the lease
    #: taken by the process that holds the instance's claim: retired from the queue as it
    #: was taken, to be run as that owner's own attempt (`WorkQueue.take`)
    own: bool = field(default=False, compare=False)


class Claim(abc.ABC):
    """The right to run one instance and append to its journal (see the module docstring).

    Only the engine thread that took a claim uses it. After `Backend.release` or a
    `FenceLost`, the claim must not be used again."""

    instance_id: str
    fence: int

    @property
    @abc.abstractmethod
    def loaded(self) -> Loaded:
        """The records found when the claim was taken (or by the last `new_generation`)."""

    @property
    @abc.abstractmethod
    def next_seq(self) -> int:
        """The sequence number the next staged record will get."""

    @abc.abstractmethod
    def stage(self, items: Sequence[tuple[str, dict[str, Any]]], ts: str) -> list[Record]:
        """Append records (kind, data), all stamped `ts`, atomically as a group; returns
        them with their sequence numbers. Durable only after `Backend.commit`.
        Raises `FenceLost`, or `InstanceUnusable` (e.g. a full disk, with the path)."""

    @abc.abstractmethod
    def ack(self, message_ids: Iterable[str]) -> None:
        """Inbox messages consumed by records staged on this claim: they are deleted by
        the next commit, after the records are durable (never before)."""

    @abc.abstractmethod
    def send(self, target_instance_id: str, body: dict[str, Any]) -> str:
        """Stage a message for another instance's inbox; returns its id (unique in the
        target's inbox). It is delivered by the `Backend.commit` that commits this
        claim's staged records, never before, and dropped with them when the claim is
        lost or the process dies first. PostgreSQL: in the commit's transaction, so the
        records and the message are durable together or not at all, and the message
        lands exactly once. Files: posted right after the journal is durable, at least
        once (a crash in between re-posts it, under the same id, when the sender is
        claimed again); as staged records are written at once, a crash before the
        commit may keep them without the message, so a sender re-derives from its
        records what it owes when it resumes (the engine re-sends a child's end).
        A message for an instance that does not exist (any more) is dropped.
        Raises ValueError for a body JSON cannot write or a malformed target id."""

    @abc.abstractmethod
    def new_generation(self, data: dict[str, Any], ts: str,
                       calls: Sequence[tuple[str, Any]]) -> Loaded:
        """`continue_as_new`: durably replace the journal with a new generation whose
        record 0 is `created` with `data`, and record the finished generation's activity
        executions `calls` (name, input) for `Backend.activity_calls`. Atomic: after a
        crash the instance has either the old generation (as committed) or the new one.
        Commits what was staged before. Returns the new generation's `Loaded`."""


class WorkQueue(abc.ABC):
    """Activity attempts handed to whichever worker has capacity, on any machine.

    A backend that distributes activities returns one from `Backend.work_queue`; the
    file backend returns None, and the owner of an instance runs its activities in its
    own process (docs/backends.md). Attempts run at least once; a result is recorded
    once per (instance, generation, task, attempt)."""

    @abc.abstractmethod
    def enqueue(self, claim: Claim, items: Sequence[WorkItem]) -> None:
        """Stage work items of the claimed instance, made visible by its next commit."""

    @abc.abstractmethod
    def take(self, limit: int, lease_seconds: float) -> list[WorkItem]:
        """Claim up to `limit` visible work items for this process, each with a lease; an
        item whose lease runs out becomes visible to others again. An item of an instance
        whose claim this process holds comes back with `own` set and is retired from the
        queue at once: the owner runs it as an attempt of its own, whose outcome its own
        commit records (a crash before that restarts it from the checkpoint, as any
        attempt run in the owner's process); nothing goes through `finish`."""

    def pending(self, instance_id: str, generation: int) -> set[tuple[int, int]]:
        """(task, attempt) of the instance's attempts that are queued, taken by a worker
        under a lease, or whose result waits in its inbox: a new owner leaves them to the
        queue instead of running them again (only an expired lease is taken over)."""
        return set()

    @abc.abstractmethod
    def results(self, instance_ids: Sequence[str]) -> list[tuple[str, Message]]:
        """The `result` messages waiting in these instances' inboxes, as (instance id,
        message), oldest first: what the owner polls for while attempts it queued run
        elsewhere. May return [] without asking when no wake-up came since the last
        call (it asks at least every second)."""

    def queued_mark(self) -> Any:
        """A value that changes whenever work may have been queued since (a count of
        wake-ups), or None when the backend cannot tell: the engine asks `take` again only
        when the mark moved, when it queued work itself, or every second."""
        return None

    @abc.abstractmethod
    def finish(self, item: WorkItem, outcome: dict[str, Any]) -> None:
        """Retire the item and post `{"type": "result", ...outcome}` to its owner's inbox
        in one atomic step; a no-op if the item was already retired (lease lost)."""

    def finish_many(self, done: Sequence[tuple[WorkItem, dict[str, Any]]]) -> None:
        """`finish` of each (item, outcome), in one round trip where the backend can
        (PostgreSQL: one statement, one flushed commit for all)."""
        for item, outcome in done:
            self.finish(item, outcome)

    def renew(self, items: Sequence[WorkItem], lease_seconds: float) -> None:
        """Extend the leases of items still running (activities longer than a lease)."""
        return None

    def abandon(self, items: Sequence[WorkItem]) -> None:
        """Hand taken items back at once (a worker stopping before it ran them)."""
        return None


def ended_for_good(status: str, current_generation: int, current_incarnation: str | None,
                   generation: int, incarnation: str | None) -> bool:
    """`Backend.generation_ended`'s rule, given the instance's status and its current
    generation's number and incarnation: only one generation of one incarnation runs
    under an id, so a sender of another incarnation has ended; without incarnations (on
    neither side: journals older than them) the generation numbers decide."""
    if current_incarnation != incarnation:
        return True
    if current_generation != generation:
        return current_generation > generation
    return status in ("Completed", "Terminated")


class Backend(abc.ABC):
    """Where instances live. Safe to share between threads of one process only through
    the read methods; claims belong to the thread that took them."""

    #: how the store was named (a path, or a URL with any password masked), for messages
    spec: str
    #: `Claim.send` messages are durable in the very transaction of the records they were
    #: staged with (PostgreSQL), so a sender that finds its records never re-sends; False:
    #: a crash before the commit may keep records without their messages (files)
    atomic_sends: bool = False
    #: the end of an instance that owes nothing (no parent, no outbox, no entity traffic)
    #: may be made durable by the next group commit or by its release instead of by a
    #: commit of its own (the engine's `Engine.unsynced`): for a store whose every commit
    #: is one flush whatever it holds (PostgreSQL). A crash before then runs the last step
    #: again, as for a staged checkpoint.
    ends_ride_along: bool = False

    # -- lifecycle -------------------------------------------------------------------

    @abc.abstractmethod
    def ensure(self) -> None:
        """Create what the store needs (folders, schema) if missing. Idempotent.
        Raises `BackendUnavailable` with one line when the store cannot be used."""

    def read_only(self) -> str | None:
        """After `ensure`: None if the store can be written, else one line saying why
        (it can still be read; every write raises BackendUnavailable). Default: None."""
        return None

    @abc.abstractmethod
    def close(self) -> None:
        """Free the object's resources (connections, open files). Claims must have been
        released; the object may be used again, reopening what it needs."""

    def expect_outages(self, patience: float) -> None:
        """This process runs for long (a worker, a server): if the store cannot be reached
        when first used, keep retrying for up to `patience` seconds (saying so) before
        `BackendUnavailable`, as a server restarting at that moment is not a bad URL.
        Once reached, a store that goes away is waited for anyway. Default: nothing."""
        return None

    def recover(self) -> None:
        """Repair what a crash may leave behind outside the records (indexes, staging
        files); a worker calls it when it starts. Idempotent; the default does nothing."""
        return None

    # -- creating --------------------------------------------------------------------

    @abc.abstractmethod
    def create(self, item: NewInstance) -> bool:
        """Create one instance, durable on return; False if the id exists. Two callers
        creating one id: exactly one gets True."""

    @abc.abstractmethod
    def create_many(self, items: Sequence[NewInstance]) -> list[str]:
        """Create many instances with a constant number of syncs (or one transaction);
        returns the ids created, in order; ids that exist are skipped."""

    def existing(self, instance_ids: Sequence[str]) -> list[str]:
        """Those of `instance_ids` that exist, in order: `exists` of each, in one round
        trip where the backend can (PostgreSQL: one query)."""
        return [i for i in instance_ids if self.exists(i)]

    @abc.abstractmethod
    def exists(self, instance_id: str) -> bool:
        """Is there an instance (damaged ones included) with this id?"""

    # -- owning ----------------------------------------------------------------------

    @abc.abstractmethod
    def claim(self, instance_id: str, *, wait: bool = False) -> Claim | None:
        """Claim the instance and load it (`Claim.loaded`); None if it does not exist or
        another claim holds it (with `wait`: block until that claim is released, for
        operations that must not be refused, such as purge).
        Raises `InstanceDamaged` or `InstanceUnusable` (the instance stays unclaimed)."""

    def claim_many(self, instance_ids: Sequence[str]) -> list[Claim]:
        """`claim` of each instance (never waiting), in one round trip where the backend
        can (PostgreSQL: one statement claims and loads them all); the claims it got, in
        the order asked. An instance that does not exist or that another claim holds is
        left out. An instance that cannot be loaded raises (`InstanceDamaged`,
        `InstanceUnusable`) as `claim` does, the claims got before it released."""
        got: list[Claim] = []
        try:
            for instance_id in instance_ids:
                claim = self.claim(instance_id)
                if claim is not None:
                    got.append(claim)
        except BaseException:
            for claim in got:  # each let go even if releasing one fails (a full disk)
                with contextlib.suppress(Exception):
                    self.release(claim)
            raise
        return got

    @abc.abstractmethod
    def commit(self, claims: Iterable[Claim]) -> None:
        """Make everything staged on these claims durable, as one group, then delete the
        messages they acknowledged. Raises `FenceLost` naming the first claim that lost
        its fence (the others' records are committed all the same)."""

    @abc.abstractmethod
    def release(self, claim: Claim, *, finished: bool = False, wake_at: str | None = None) -> None:
        """Give the claim up, committing what is staged first. `finished`: the instance
        has ended and owes no work (its outbox is empty), so `runnable` never offers it
        again. `wake_at` (ISO 8601 UTC, not with `finished`): the instance waits and has
        nothing to do before then (its next timer; `WAKE_NEVER`: only a message), so
        `runnable` offers it from that time on, or as soon as a message arrives (`post`,
        `Claim.send`), whichever comes first; a message that arrived before the release
        counts. None: `runnable` offers it at once."""

    def release_many(self, claims: Sequence[Claim], *, finished: bool = False) -> None:
        """`release` of every claim, as one group where the backend can (PostgreSQL: one
        group commit and one round trip); a claim another worker took meanwhile is
        skipped, as `release` skips it."""
        for claim in claims:
            self.release(claim, finished=finished)

    @abc.abstractmethod
    def heartbeat(self, claims: Iterable[Claim]) -> None:
        """Renew the leases of these claims (a no-op where claims do not expire). The
        engine calls it at least every few seconds while it holds claims."""

    @abc.abstractmethod
    def runnable(self, limit: int, skip: Iterable[str] = ()) -> list[str]:
        """Ids (at most `limit`, not in `skip`) of instances that may have work now: not
        finished and not released to sleep until later (see `release`), or with messages
        or due timers. May offer an instance
        another process holds (`claim` then gives None) or that turns out to have nothing
        to do; never hides one that has. Its cost must not grow with the number of
        finished instances."""

    # -- messages ----------------------------------------------------------------------

    @abc.abstractmethod
    def post(self, instance_id: str, body: dict[str, Any]) -> str:
        """Deliver a message to an instance's inbox, durable on return; returns its id.
        An entity's (`@name@key`) that is not there (any more) raises `InstanceGone`."""

    def post_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[str | None]:
        """`post` of many (instance id, body) messages, all durable on return, with a
        constant number of syncs (or one transaction) where the backend can; their ids,
        in order, None for a message to an entity that is not there (any more), which
        was not delivered (where `post` raises `InstanceGone`). Messages to one instance
        arrive in the order given. Not atomic: after an error, some may have been
        delivered (a retry is recognised only by what the bodies carry, such as an entity
        signal's idempotency key). Default: `post` each."""
        names: list[str | None] = []
        for instance_id, body in items:
            try:
                names.append(self.post(instance_id, body))
            except InstanceGone:
                names.append(None)
        return names

    def revive_many(self, instance_ids: Iterable[str]) -> None:
        """`revive` of each instance, as one write where the backend can."""
        for instance_id in instance_ids:
            self.revive(instance_id)

    @abc.abstractmethod
    def inbox(self, instance_id: str) -> list[Message]:
        """The instance's unacknowledged messages, oldest first (cheap when empty)."""

    # -- reading (no claim needed; safe while another process writes) -------------------

    @abc.abstractmethod
    def status(self, instance_id: str) -> dict[str, Any] | None:
        """The instance's status as its committed records say, or None if unknown:
        `name`, `instanceId`, `runtimeStatus` (DAMAGED for a damaged journal, with
        `damage`: one line), `input`, `output`, `customStatus`, `createdTime`,
        `lastUpdatedTime`, `error` ({type, message} or None), `attempt`, `parent`."""

    @abc.abstractmethod
    def history(self, instance_id: str) -> Iterator[Record]:
        """Every record of the current generation from record 0, up to the first that
        cannot be read."""

    @abc.abstractmethod
    def activity_calls(self, instance_id: str) -> list[tuple[str, Any]]:
        """(name, input) of every activity execution of the instance, all generations,
        its sub-orchestrations' in place (what the differential tests compare)."""

    @abc.abstractmethod
    def query(self, query: Query) -> Page:
        """One page of instances matching `query`, answered from an index: the cost of a
        page must not grow with the number of instances that do not match.
        Raises ValueError for a continuation token it did not issue."""

    def remove_idle(self, claim: Claim, memory: Any) -> bool:
        """Delete the claimed instance if its inbox is empty (`Client.clean_entities`:
        an entity with no state), and release the claim either way. Atomic with `post`:
        a message posted at the same moment either lands first (the instance is kept,
        False) or its `post` raises `InstanceGone`, never lands in a removed inbox. The
        caller checked the instance's records under the claim.

        `memory` is what the entity remembers of its senders, as the caller read it under
        the claim (a JSON value; None: nothing): the removal keeps it as the id's
        *tombstone*, in the same atomic step, replacing any earlier one (None drops it),
        so that the entity created anew under the id starts from it (`removed_memory`)
        and drops the repeats of what the removed one applied. Default: keep the
        instance (False)."""
        self.release(claim)
        return False

    def removed_memory(self, entity_id: str) -> Any:
        """The tombstone `remove_idle` kept for this id (the memory it was given), or None
        if there is none. Asked under a claim of the id (its first batch), while nothing
        can write or drop it: only a removal or a purge of the instance, under its claim,
        does. Default: None (a backend that keeps no tombstones never removes)."""
        return None

    @abc.abstractmethod
    def purge(self, instance_id: str) -> bool:
        """Delete the instance and everything about it (claiming it first, waiting for
        the holder), its tombstone (`remove_idle`) too; False if it did not exist (a
        tombstone is dropped all the same). The caller decides whether it may."""

    def generation_ended(self, instance_id: str, generation: int, *,
                         incarnation: str | None = None) -> bool:
        """Has generation `generation` of the instance, of incarnation `incarnation` (the
        `created` record's, runtime.entities.senders; None for a journal written before
        incarnations), ended for good, as durable records say: the instance is gone
        (purged), the current generation is of another incarnation (a later generation,
        or a new instance created under the id since), a later generation began
        (`continue_as_new`, a restart under the same id), or that generation is Completed
        or Terminated (not Failed: a rewind takes a Failed generation back to a
        checkpoint, and it may send again). Entities forget such senders
        (runtime/engine/entities.py). The default reads `status` and `history`; a backend
        whose readers may see records not yet committed makes them durable before it
        answers True."""
        doc = self.status(instance_id)
        if doc is None:
            return True
        first = next(iter(self.history(instance_id)), None)
        if first is None:
            return doc["runtimeStatus"] in ("Completed", "Terminated")
        return ended_for_good(doc["runtimeStatus"], int(first.data.get("generation", 0)),
                              first.data.get("incarnation"), generation, incarnation)

    def wait_for_work(self, timeout: float) -> bool:
        """Block up to `timeout` seconds while this process has nothing to do; True if
        it returned early because another process made work (PostgreSQL: a NOTIFY). The
        engine calls it when idle; the default just sleeps (the file backend: the next
        poll finds new work)."""
        time.sleep(timeout)
        return False

    def revive(self, instance_id: str) -> None:
        """Let `runnable` offer an instance again after it was released `finished` (a
        restart or rewind is about to give it work; issue 14). Called before that work is
        written, so a crash in between leaves an ended instance that is offered once more
        and found ended. Default: nothing (a backend whose `release(finished=False)`
        marks the instance unfinished needs no more)."""
        return None

    # -- distributing activities -------------------------------------------------------

    def work_queue(self) -> WorkQueue | None:
        """The backend's activity queue, or None: the owner runs activities itself."""
        return None
