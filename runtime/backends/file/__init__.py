"""The file backend: a store directory (docs/journal.md, docs/backends.md).

    <store>/instances/<id>/   one folder per instance: journal, head, inbox/, generations.jsonl,
                              outgoing.json (messages of a commit in flight: `Claim.send`)
    <store>/index.sqlite      ids, names, statuses and times (runtime/backends/file/index.py)
    <store>/tmp/              staging for new instances and messages
    <store>/removed/<id>      the tombstone of an entity `remove_idle` removed (folders.py)

A claim is an `flock` on the instance's folder, dropped by the kernel when its holder
dies, so its fence never moves under a live claim (FenceLost is never raised here).
Staged records are written to the journal at once (visible to readers, not yet durable);
`commit` makes the journals of a group durable with one fsync, or one syncfs(2) for
several, then updates the index and deletes acknowledged messages. Activities run in the
owner's process (`work_queue` is None).

Messages a claim sends to other instances (`Claim.send`) wait in memory until the
commit. The commit writes them to `outgoing.json` in the sender's folder, with the
journal length they belong to, makes that file durable with the journal, then posts each
one into its target's inbox under its id and deletes the file. A claim that finds the
file (the last commit was cut off) posts those messages again, under the same ids, if
the journal holds the records they belong to, and drops them otherwise: delivered at
least once after a commit, never without their records.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from runtime.backends.base import (
    DAMAGED,
    ENDED_STATUSES,
    FINAL,
    Backend,
    BackendUnavailable,
    Claim,
    InstanceGone,
    InstanceUnusable,
    Loaded,
    Message,
    NewInstance,
    Page,
    Query,
    Record,
)
from runtime.backends.file.folders import Lock, Store, each, message_name
from runtime.backends.file.index import Index, sortable
from runtime.backends.file.journal import (
    HEAD,
    Journal,
    JournalError,
    NoJournal,
    Opened,
    iter_records,
    sync_fds,
)
from runtime.backends.file.reading import earlier_calls, read_status, status_of
from runtime.backends.file.staging import remove_orphans
from runtime.ids import validate_id

__all__ = ["FileBackend", "FileClaim"]

STALE_ROW = 600.0  # seconds: an index row without a folder older than this is dropped
GHOST_ROW = 30.0  # seconds: an index row whose folder never came is dropped after this
OUTGOING = "outgoing.json"  # in an instance's folder: messages of a commit in flight


def _loaded(opened: Opened) -> Loaded:
    return Loaded(opened.first, opened.checkpoint, list(opened.tail))


def _unusable(instance_id: str, exc: OSError) -> InstanceUnusable:
    what = exc.filename or instance_id
    return InstanceUnusable(f"instance {instance_id}: {what}: {exc.strerror or exc}")


class FileClaim(Claim):
    """The flock on one instance's folder and its journal, open for appending."""

    def __init__(self, backend: FileBackend, instance_id: str, lock: Lock,
                 journal: Journal) -> None:
        self.instance_id = instance_id
        self.fence = 1
        self.backend = backend
        self.lock = lock
        self.journal = journal
        self._loaded = _loaded(journal.opened)
        self.acked: list[str] = []
        self.sends: list[tuple[str, str, dict[str, Any]]] = []  # (target, id, body)
        self.dirty = False  # records written since the last commit
        self.status = status_of(instance_id, journal.opened)["runtimeStatus"]
        # for the index at the next commit: the new status (None: unchanged) and the time
        # of the last record staged ("": nothing staged since)
        self.new_status: str | None = None
        self.updated = ""

    @property
    def loaded(self) -> Loaded:
        return self._loaded

    @property
    def next_seq(self) -> int:
        return self.journal.next_seq

    def stage(self, items: Sequence[tuple[str, dict[str, Any]]], ts: str) -> list[Record]:
        try:
            records = cast("list[Record]", self.journal.append_many(
                items if type(items) is list else list(items), ts))  # (no copy: it is a list)
        except OSError as exc:
            raise _unusable(self.instance_id, exc) from exc
        self.dirty = True
        for rec in records:
            kind = rec.kind
            if kind == "result" or kind == "event":  # the usual records: no new status
                continue
            if kind == "checkpoint":
                status = "Suspended" if rec.data.get("suspended") else "Running"
            elif kind in FINAL:
                status = FINAL[kind]
            elif kind == "suspended":
                status = "Suspended"
            elif kind == "resumed":
                status = "Running"
            else:
                continue
            if status != self.status:  # (a chain's checkpoints: Running, as it was)
                self.status = self.new_status = status
        if records:
            self.updated = ts
        return records

    def ack(self, message_ids: Iterable[str]) -> None:
        self.acked.extend(message_ids)

    def send(self, target_instance_id: str, body: dict[str, Any]) -> str:
        validate_id(target_instance_id)
        json.dumps(body, allow_nan=False)  # refused now, not halfway through a commit
        name = message_name()
        self.sends.append((target_instance_id, name, body))
        return name

    def new_generation(self, data: dict[str, Any], ts: str,
                       calls: Sequence[tuple[str, Any]]) -> Loaded:
        folder = self.journal.folder
        if self.dirty:
            self.backend.commit([self])
        line = json.dumps({"generation": self.journal.opened.first.data.get("generation", 0),
                           "input": self.journal.opened.first.data.get("input"),
                           "calls": [list(c) for c in calls]})
        try:
            with open(folder / "generations.jsonl", "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            staging = folder / "next"
            staging.mkdir(exist_ok=True)
            Journal.create(staging, ts, data).close()
            self.journal.close()
            os.replace(staging / "journal", folder / "journal")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(folder / HEAD)
            os.rmdir(staging)
            self.journal = Journal.open(folder)
        except OSError as exc:
            raise _unusable(self.instance_id, exc) from exc
        self._loaded = _loaded(self.journal.opened)
        self.status = self.new_status = "Pending"
        self.updated = ts
        return self._loaded

    def close(self) -> None:
        self.journal.close()
        self.lock.release()


class FileBackend(Backend):
    """A store directory shared by any number of processes on one machine."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.spec = str(root)
        self.store = Store(self.root)
        self._index: Index | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def ensure(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise BackendUnavailable(f"store {self.spec}: is a file, not a store directory")
        try:
            self.store.ensure()
        except OSError as exc:
            raise BackendUnavailable(
                f"store {self.spec}: cannot create {exc.filename or self.spec}: "
                f"{exc.strerror or exc}") from None
        self.index()

    def index(self) -> Index:
        """The store's index, opened (and built from the journals if new) on first use.
        On a store that cannot be written (a read-only file system or folder) it is opened
        read-only, so reading works and every write is refused with EROFS and the path."""
        if self._index is None:
            try:
                self.store.ensure()
                self._index = Index(self.root / "index.sqlite")
            except (BackendUnavailable, OSError, sqlite3.Error):
                if not self._read_only():
                    raise
                self._index = Index(self.root / "index.sqlite", read_only=True)
                if self._index.fresh:
                    self._index.fill(self._journal_rows(self.store.ids()))
                return self._index
            if self._index.fresh:
                self.recover()
        return self._index

    def read_only(self) -> str | None:
        if self.index().read_only:
            return f"store {self.spec}: {os.strerror(errno.EROFS)} (it can be read, not written)"
        return None

    def _read_only(self) -> bool:
        try:
            return bool(os.statvfs(self.root).f_flag & os.ST_RDONLY) or not os.access(
                self.root, os.W_OK)
        except OSError:
            return False

    def _journal_rows(self, ids: Iterable[str]) -> list[tuple[str, str, str, str, str, bool]]:
        """Index rows read from the journals of `ids` (folders without one are skipped)."""
        rows = []
        for instance_id in ids:
            if not (self.store.folder(instance_id) / "journal").exists():
                continue  # not an instance: a stray folder or file
            doc = read_status(self.store, instance_id)
            if doc is not None:
                rows.append(_row(doc))
        return rows

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    def recover(self) -> None:
        """Bring the index in line with `instances/` (instances missing from it are added,
        rows whose folder is gone dropped) and delete the staging entries in `tmp/` that
        no live process holds (staging.py)."""
        index = self.index()
        on_disk = set(self.store.ids())
        rows = index.ids()
        # A row without a folder is dropped only once it is old: `create_many` indexes an
        # instance before renaming its folder in, so a young one may be a creation in
        # flight in another process (issue 14's embedding met this race).
        cutoff = sortable(datetime.fromtimestamp(time.time() - STALE_ROW, UTC))
        index.drop({i for i in rows - on_disk
                    if (row := index.row(i)) is None or row[2] < cutoff})
        added = self._journal_rows(sorted(on_disk - rows))
        if added:
            index.put(added)
        remove_orphans(self.store.tmp)

    # -- creating -------------------------------------------------------------------------

    def create(self, item: NewInstance) -> bool:
        return self.create_many([item]) == [item.instance_id]

    def create_many(self, items: Sequence[NewInstance]) -> list[str]:
        for item in items:
            validate_id(item.instance_id)
        index = self.index()
        # indexed first (live): no instance exists that a worker cannot find
        fresh = index.insert_new([(i.instance_id, i.data.get("name", ""), i.ts) for i in items])
        try:
            created = self.store.create_many([(i.instance_id, i.ts, i.data) for i in items])
        except OSError as exc:
            index.drop(fresh)
            raise BackendUnavailable(f"store {self.spec}: cannot create instances: "
                                     f"{exc.filename or ''}: {exc.strerror or exc}") from None
        index.drop(fresh - set(created))
        for item in items:
            if item.earlier_calls and item.instance_id in created:
                self._add_generation_line(item.instance_id, -1, None, item.earlier_calls)
        return created

    def _add_generation_line(self, instance_id: str, generation: int, input: Any,
                             calls: Sequence[tuple[str, Any]]) -> None:
        # -1: no real generation, so the instance's own generations are still counted
        line = json.dumps({"generation": generation, "input": input,
                           "calls": [list(c) for c in calls]})
        with open(self.store.folder(instance_id) / "generations.jsonl", "a",
                  encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def exists(self, instance_id: str) -> bool:
        return self.store.exists(instance_id)

    # -- owning ---------------------------------------------------------------------------

    def claim(self, instance_id: str, *, wait: bool = False) -> FileClaim | None:
        try:
            lock = self.store.lock(instance_id, blocking=wait)
        except OSError as exc:
            raise _unusable(instance_id, exc) from exc
        if lock is None:
            self._forget_ghost(instance_id)
            return None
        folder = self.store.folder(instance_id)
        try:
            journal = Journal.open(folder)
        except NoJournal:
            lock.release()
            return None
        except JournalError as exc:
            lock.release()
            self._mark_damaged(instance_id)
            raise exc
        except IsADirectoryError:
            lock.release()
            raise InstanceUnusable(f"instance {instance_id}: {folder / 'journal'} is a "
                                   "directory, not a journal") from None
        except OSError as exc:
            lock.release()
            raise _unusable(instance_id, exc) from exc
        claim = FileClaim(self, instance_id, lock, journal)
        try:
            self._resend(claim)
        except BaseException:
            claim.close()
            raise
        self._repair_row(claim)
        return claim

    def _forget_ghost(self, instance_id: str) -> None:
        """An index row whose folder never came (a client died between the two)."""
        if self.store.folder(instance_id).exists():
            return
        row = self.index().row(instance_id)
        if row is not None and row[1] == "Pending":
            with contextlib.suppress(ValueError):
                from runtime.clock import parse_iso

                age = time.time() - parse_iso(row[2]).timestamp()
                if age > GHOST_ROW:
                    self.index().drop([instance_id])

    def _mark_damaged(self, instance_id: str) -> None:
        row = self.index().row(instance_id) or ("", "", "", "", False)
        if row[1] != DAMAGED:
            self.index().put([(instance_id, row[0], DAMAGED, row[2], row[3], False)])

    def _repair_row(self, claim: FileClaim) -> None:
        """After a crash the row may lag behind the journal: bring it in line."""
        if claim.instance_id in self.index().pending:
            return  # this process changed it: the batch is newer than the row
        doc = status_of(claim.instance_id, claim.journal.opened)
        row = self.index().row(claim.instance_id)
        if row is None or row[1] != doc["runtimeStatus"]:
            live = row[4] if row is not None else True
            self.index().put([(*_row(doc)[:5], live)])

    def commit(self, claims: Iterable[Claim]) -> None:
        if type(claims) is list and len(claims) == 1:  # one instance's records (a chain's step)
            c = claims[0]
            if type(c) is FileClaim and c.dirty and not c.acked and not c.sends:
                try:
                    os.fsync(c.journal.fd)
                except OSError as exc:
                    raise _unusable(c.instance_id, exc) from exc
                c.dirty = False
                if c.updated:
                    (self._index or self.index()).changed(c.instance_id, c.new_status, c.updated)
                    c.new_status, c.updated = None, ""
                return
        group: list[FileClaim] = []
        dirty: list[FileClaim] = []
        sending: list[FileClaim] = []
        for c in claims:
            if isinstance(c, FileClaim) and (c.dirty or c.acked or c.sends):
                group.append(c)
                if c.dirty:
                    dirty.append(c)
                if c.sends:
                    sending.append(c)
        if not group:
            return
        outgoing: list[tuple[int, int, str]] = []
        try:
            try:
                for c in sending:
                    outgoing.append(self._write_outgoing(c))
                sync_fds([(c.journal.fd, c.journal.device, c.journal.name)
                          for c in dirty] + outgoing)
            finally:
                for fd, _, _ in outgoing:
                    os.close(fd)
        except OSError as exc:
            raise _unusable((dirty or sending)[0].instance_id, exc) from exc
        index = self.index()
        for c in group:
            c.dirty = False
            if c.updated:
                index.changed(c.instance_id, c.new_status, c.updated)
                c.new_status, c.updated = None, ""
        acked = [(c.instance_id, name) for c in group if c.acked for name in c.acked]
        if acked:
            for c in group:
                c.acked.clear()
            self._discard(acked)
        for c in sending:
            sends, c.sends = c.sends, []
            self._deliver(c.instance_id, sends)

    def _discard(self, messages: list[tuple[str, str]]) -> None:
        """Delete acknowledged messages (instance id, name). Many are deleted by a few
        threads at once: deleting a file whose blocks are allocated waits for the disk
        (about 3 ms each where the file system is mounted with `discard`), and those
        waits overlap (`folders.each`; docs/benchmarks.md, "Entities")."""
        _, error = each(lambda m: self.store.discard(*m), messages)
        if error is not None:
            raise error

    def _write_outgoing(self, claim: FileClaim) -> tuple[int, int, str]:
        """Write the claim's messages, with the journal length they belong to, to its
        `outgoing.json`; the open file, for the commit's sync."""
        path = self.store.folder(claim.instance_id) / OUTGOING
        doc = {"upto": claim.journal.next_seq,
               "messages": [[target, name, body] for target, name, body in claim.sends]}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            blob = json.dumps(doc).encode()
            if os.write(fd, blob) != len(blob):
                raise OSError(f"short write to {path}")
        except BaseException:
            os.close(fd)
            raise
        return fd, os.fstat(fd).st_dev, str(path)

    def _deliver(self, sender: str, sends: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Post messages under their ids (a repeat replaces the same file), then forget
        them: delete the sender's `outgoing.json`."""
        for target, name, body in sends:
            if not self.store.exists(target):
                continue  # the target does not exist (any more): nobody to tell
            try:
                self.store.post(target, body, name=name)
            except FileNotFoundError:
                continue  # purged meanwhile
            except OSError as exc:
                raise _unusable(target, exc) from exc
            self.index().wake_up(target)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.store.folder(sender) / OUTGOING)

    def _resend(self, claim: FileClaim) -> None:
        """A commit with messages was cut off (`outgoing.json` is still there): post them
        again if the journal holds the records they were committed with, else drop them."""
        path = self.store.folder(claim.instance_id) / OUTGOING
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
            upto, messages = int(doc["upto"]), [(str(t), str(n), dict(b))
                                                for t, n, b in doc["messages"]]
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError):  # torn: cut off before its sync
            upto, messages = claim.journal.next_seq + 1, []
        if claim.journal.next_seq >= upto:
            self._deliver(claim.instance_id, messages)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def release(self, claim: Claim, *, finished: bool = False, wake_at: str | None = None) -> None:
        assert isinstance(claim, FileClaim)
        try:
            self.commit([claim])
            if finished:
                self.index().update(claim.instance_id, finished=True)
            elif claim.status not in ENDED_STATUSES:
                # not ended: live (again, if it was restarted or rewound after its end)
                self.revive(claim.instance_id)
            if not finished:
                self._sleep(claim.instance_id, wake_at)
        finally:
            claim.close()

    def _sleep(self, instance_id: str, wake_at: str | None) -> None:
        index = self.index()
        if wake_at is None:
            index.wake_up(instance_id)  # offered at once (a read unless it slept)
            return
        index.sleep(instance_id, wake_at)
        if self.store.has_inbox(instance_id):
            index.sleep(instance_id, None)  # a message came first: offered at once

    def revive(self, instance_id: str) -> None:
        self.index().revive(instance_id)

    def heartbeat(self, claims: Iterable[Claim]) -> None:
        return None  # flocks do not expire

    def runnable(self, limit: int, skip: Iterable[str] = ()) -> list[str]:
        return self.index().live(limit, set(skip))

    # -- messages -------------------------------------------------------------------------

    def post(self, instance_id: str, body: dict[str, Any]) -> str:
        try:
            name = self.store.post(instance_id, body)
        except FileNotFoundError as exc:
            if not self.store.exists(instance_id):
                raise InstanceGone(f"instance {instance_id} is not in {self.spec} (any "
                                   "more); nothing was posted") from exc
            raise _unusable(instance_id, exc) from exc
        except OSError as exc:
            raise _unusable(instance_id, exc) from exc
        self.index().wake_up(instance_id)  # after the message is in place (index.py)
        return name

    def post_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[str | None]:
        if len(items) <= 1:
            return super().post_many(items)
        for instance_id, _ in items:
            validate_id(instance_id)
        try:
            names = self.store.post_many(list(items))
        except OSError as exc:
            raise BackendUnavailable(f"store {self.spec}: cannot post messages: "
                                     f"{exc.filename or ''}: {exc.strerror or exc}") from None
        # after they are in place
        self.index().wake_up_many(dict.fromkeys(i for (i, _), n in zip(items, names, strict=True)
                                                if n is not None))
        return names

    def revive_many(self, instance_ids: Iterable[str]) -> None:
        self.index().revive_many(list(instance_ids))

    def inbox(self, instance_id: str) -> list[Message]:
        return [Message(name, body) for name, body in self.store.inbox(instance_id)]

    # -- reading --------------------------------------------------------------------------

    def status(self, instance_id: str) -> dict[str, Any] | None:
        return read_status(self.store, instance_id)

    def history(self, instance_id: str) -> Iterator[Record]:
        try:
            yield from iter_records(self.store.folder(instance_id))
        except FileNotFoundError:
            return

    def activity_calls(self, instance_id: str) -> list[tuple[str, Any]]:
        from runtime.accounting import generation_calls

        return earlier_calls(self.store.folder(instance_id)) + generation_calls(self, instance_id)

    def query(self, query: Query) -> Page:
        return self.index().query(query)

    def generation_ended(self, instance_id: str, generation: int, *,
                         incarnation: str | None = None) -> bool:
        if not super().generation_ended(instance_id, generation, incarnation=incarnation):
            return False
        # what was read may be staged and not yet synced (journals are written at once):
        # made durable before anyone forgets on the strength of it
        folder = self.store.folder(instance_id)
        for path in (folder / "journal", folder, self.store.instances):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return True

    def remove_idle(self, claim: Claim, memory: Any) -> bool:
        assert isinstance(claim, FileClaim)
        instance_id = claim.instance_id
        removed = False
        try:
            self.commit([claim])  # nothing staged, as a rule: made durable all the same
            self.index().drop([instance_id])  # first: a new instance of the id gets a row
            try:
                removed = self.store.remove_if_empty(instance_id, memory)
            except OSError as exc:
                raise _unusable(instance_id, exc) from exc
            finally:
                if not removed:  # kept: indexed again, as the journal says
                    doc = read_status(self.store, instance_id)
                    if doc is not None:
                        self.index().put([_row(doc)])
        finally:
            if removed:
                claim.close()  # nothing left to release
            else:
                self.release(claim)
        return removed

    def removed_memory(self, entity_id: str) -> Any:
        try:
            return self.store.read_removed(entity_id)
        except ValueError:
            raise InstanceUnusable(f"instance {entity_id}: its tombstone "
                                   f"{self.store.removed / entity_id} is not JSON") from None
        except OSError as exc:
            raise _unusable(entity_id, exc) from exc

    def purge(self, instance_id: str) -> bool:
        folder = self.store.folder(instance_id)
        try:
            lock = self.store.lock(instance_id, blocking=True)
        except OSError as exc:
            raise _unusable(instance_id, exc) from exc
        try:  # under the lock: no removal writes one meanwhile
            if instance_id.startswith("@"):  # only an entity has a tombstone to drop
                self.store.drop_removed(instance_id)
        except OSError as exc:
            if lock is not None:
                lock.release()
            raise _unusable(instance_id, exc) from exc
        if lock is None and not folder.exists():
            self.index().drop([instance_id])
            return False
        # (lock None with a folder: one without a journal, which is removed all the same)
        try:
            self.store.purge(instance_id)
        except FileNotFoundError:
            return False
        finally:
            if lock is not None:
                lock.release()
        self.index().drop([instance_id])
        return True


def _row(doc: dict[str, Any]) -> tuple[str, str, str, str, str, bool]:
    status = doc["runtimeStatus"]
    live = (status not in FINAL.values() and status != DAMAGED) or bool(doc.get("owes"))
    created = doc.get("createdTime") or ""
    return (doc["instanceId"], doc.get("name") or "", status, created,
            doc.get("lastUpdatedTime") or created, live)
