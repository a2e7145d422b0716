"""One instance's append-only, self-checking journal (docs/journal.md, "Records").

Each record is one line of JSON whose first member is a CRC-32 chained over the record
before it, so a torn or corrupted tail is detected and dropped, never parsed, and no
record can be silently spliced out of the middle. A checkpoint record carries everything
needed to continue, and the `head` side file names its byte offset, so opening reads the
first record, the last checkpoint and what follows it: O(1) in history length. When the
hint is missing or wrong, opening falls back to a full scan.

Durability: `append` writes and flushes to the OS; `sync` fsyncs. The executor syncs
before acting on a record (a result is durable before it is delivered), and lets a
checkpoint ride along with the next sync: a crash before then re-runs the step.
"""

from __future__ import annotations

import json
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from runtime.backends import base

JOURNAL = "journal"
HEAD = "head"
PREFIX = b'{"crc":"'
PREFIX_LEN = len(PREFIX) + 8 + 2  # '{"crc":"' + 8 hex digits + '",'
HEAD_SIZE = 64


class JournalError(base.InstanceDamaged):
    """The journal cannot be used at all (its first record is unreadable, or a damaged
    record is followed by good ones: not a torn tail, so nothing may be dropped)."""


class NoJournal(JournalError):
    """The folder holds no journal (the instance is gone, or the folder is not one)."""


@dataclass(slots=True)
class Record(base.Record):
    """A record as the file journal holds it: where its line starts, and its CRCs."""

    offset: int = 0  # byte offset of the line in the journal
    crc: int = 0  # this record's chained CRC
    prev_crc: int = 0


# `json.dumps` with these arguments builds an encoder per call; one serves every record
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode


def encode_line(seq: int, kind: str, ts: str, data: dict[str, Any], prev_crc: int) -> tuple[bytes, int]:
    """The bytes of one record and its chained CRC."""
    body = _encode({"seq": seq, "kind": kind, "ts": ts, "data": data}).encode("ascii")
    crc = zlib.crc32(body, prev_crc)
    return b'{"crc":"%08x",' % crc + body[1:] + b"\n", crc


def decode_line(line: bytes, offset: int, prev_crc: int, seq: int) -> Record | None:
    """The record in `line` if it is whole, checks out and has sequence number `seq`."""
    if not line.endswith(b"\n") or not line.startswith(PREFIX) or len(line) < PREFIX_LEN + 2:
        return None
    try:
        crc = int(line[len(PREFIX):len(PREFIX) + 8], 16)
    except ValueError:
        return None
    if line[len(PREFIX) + 8:PREFIX_LEN] != b'",':
        return None
    body = b"{" + line[PREFIX_LEN:-1]
    if zlib.crc32(body, prev_crc) != crc:
        return None
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    if not isinstance(obj, dict) or obj.get("seq") != seq or not isinstance(obj.get("data"), dict):
        return None
    return Record(seq, str(obj["kind"]), str(obj["ts"]), obj["data"], offset, crc, prev_crc)


def _looks_like_record(line: bytes, after: int) -> bool:
    """Is `line` a whole record line (CRC aside) with a sequence number above `after`?"""
    if not line.endswith(b"\n") or not line.startswith(PREFIX) or len(line) < PREFIX_LEN + 2:
        return False
    try:
        obj = json.loads(b"{" + line[PREFIX_LEN:-1])
    except ValueError:
        return False
    return isinstance(obj, dict) and isinstance(obj.get("seq"), int) and obj["seq"] > after


def check_tail(fh: Any, bad_offset: int, seq: int, name: str) -> None:
    """Raise JournalError if whole records follow the bad record `seq` at `bad_offset`.

    A crash tears only the end of what it was writing, so a bad record followed by good
    ones is damage, not a torn tail: dropping it would drop the good ones too (and
    activities would run again), so the journal is reported, not truncated."""
    fh.seek(bad_offset)
    fh.readline()  # the bad record itself
    following = sum(1 for line in fh if _looks_like_record(line, seq))
    if following:
        raise JournalError(
            f"instance {name}: the journal is damaged at record {seq} (byte {bad_offset}), "
            f"followed by {following} good record{'s' if following != 1 else ''}: "
            "not a torn tail, so nothing is dropped; purge the instance or repair its journal")


def read_records(fh: Any, offset: int, prev_crc: int, seq: int) -> tuple[list[Record], int]:
    """Records from `offset` up to the first bad or partial one; and the end of the good part."""
    fh.seek(offset)
    out: list[Record] = []
    for line in fh:
        rec = decode_line(line, offset, prev_crc, seq)
        if rec is None:
            break
        out.append(rec)
        offset += len(line)
        prev_crc, seq = rec.crc, seq + 1
    return out, offset


@dataclass
class Opened:
    """What opening found: the first record, the last checkpoint and the records after it."""

    first: Record
    checkpoint: Record | None
    tail: list[Record]
    dropped_bytes: int = 0
    used_hint: bool = False
    last: Record | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Journal:
    """An open journal, positioned at its end, for appending (the caller holds the lock)."""

    def __init__(self, folder: Path, opened: Opened, end: int) -> None:
        self.folder = folder
        self.path = folder / JOURNAL
        self.name = str(self.path)  # for errors: not made again at every commit
        self.opened = opened
        last = opened.last or opened.first
        self.next_seq = last.seq + 1
        self.last_crc = last.crc
        self.end = end
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.device = os.fstat(self.fd).st_dev
        self.head_fd = -1
        self.writes = 0

    @classmethod
    def create(cls, folder: Path, ts: str, data: dict[str, Any], *, sync: bool = True) -> Journal:
        """Write a new journal whose first record is `created` (fsynced unless `sync` is
        False: then the caller makes it durable before anyone relies on it)."""
        line, crc = encode_line(0, "created", ts, data, 0)
        path = folder / JOURNAL
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, line)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        first = Record(0, "created", ts, data, 0, crc, 0)
        return cls(folder, Opened(first, None, [], last=first), len(line))

    @classmethod
    def open(cls, folder: Path) -> Journal:
        """Open for appending: recover (dropping a bad tail on disk) and position at the end."""
        opened, end, size = recover(folder)
        if end < size:
            with open(folder / JOURNAL, "r+b") as fh:
                fh.truncate(end)
                fh.flush()
                os.fsync(fh.fileno())
        opened.dropped_bytes = size - end
        return cls(folder, opened, end)

    def append(self, kind: str, data: dict[str, Any], ts: str) -> Record:
        """Write and flush one record (not fsynced: call `sync` before acting on it)."""
        return self.append_many([(kind, data)], ts)[0]

    def append_many(self, items: list[tuple[str, dict[str, Any]]], ts: str) -> list[Record]:
        """Write records in one `write`: a process killed meanwhile leaves all of them or
        none (results that completed together are one event; see the executor's `tie`)."""
        lines: list[bytes] = []
        records: list[Record] = []
        seq, prev, offset = self.next_seq, self.last_crc, self.end
        for kind, data in items:
            line, crc = encode_line(seq, kind, ts, data, prev)
            records.append(Record(seq, kind, ts, data, offset, crc, prev))
            lines.append(line)
            seq, prev, offset = seq + 1, crc, offset + len(line)
        blob = b"".join(lines)
        written = os.write(self.fd, blob)
        if written != len(blob):  # a short write: make the tail unmistakably partial
            raise OSError(f"short write to {self.path}: {written} of {len(blob)} bytes")
        self.next_seq, self.last_crc, self.end = seq, prev, offset
        self.writes += len(records)
        for rec in reversed(records):
            if rec.kind == "checkpoint":
                self.write_head(rec)
                break
        return records

    def sync(self) -> None:
        os.fsync(self.fd)

    def write_head(self, rec: Record) -> None:
        """Point the `head` hint at checkpoint `rec` (overwritten in place, never fsynced:
        a stale or torn hint only costs a full scan)."""
        text = f"{rec.offset} {rec.seq} {rec.prev_crc:08x}"
        line = f"{text} {zlib.crc32(text.encode()):08x}".ljust(HEAD_SIZE - 1) + "\n"
        if self.head_fd < 0:
            self.head_fd = os.open(self.folder / HEAD, os.O_WRONLY | os.O_CREAT, 0o644)
        os.pwrite(self.head_fd, line.encode("ascii"), 0)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.head_fd >= 0:
            os.close(self.head_fd)
            self.head_fd = -1


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here, not at the top: ctypes costs every `tether status` a few ms

    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    return fn


class _Lookup(Enum):
    PENDING = "not looked up yet"


#: syncfs(2), looked up on the first group commit of journals on one file system (None
#: where the platform has none). Tests and benchmarks replace it.
_syncfs: Callable[[int], int] | Literal[_Lookup.PENDING] | None = _Lookup.PENDING


def _syncfs_call() -> Callable[[int], int] | None:
    global _syncfs
    if _syncfs is _Lookup.PENDING:
        _syncfs = _load_syncfs()
    return _syncfs


def sync_all(journals: Iterable[Journal]) -> None:
    """Make every journal durable, as one fsync each would (group commit).

    On Linux, two or more journals on one file system are flushed by a single syncfs(2),
    which writes their data and commits the file system's journal once instead of once
    per file (measured: 0.3 ms for ten journals against 1.1 ms for ten fsyncs in
    parallel). Linux's syncfs waits for the writes and, since 5.8, reports their errors,
    so it gives the guarantee of an fsync on every file of that file system."""
    sync_fds([(j.fd, j.device, j.name) for j in journals])


def sync_fds(files: list[tuple[int, int, str]]) -> None:
    """`sync_all` for open files given as (fd, st_dev, name for errors)."""
    if len(files) == 1:  # one journal (a chain's every step): one fsync
        os.fsync(files[0][0])
        return
    by_device: dict[int, list[tuple[int, int, str]]] = {}
    for f in files:
        by_device.setdefault(f[1], []).append(f)
    for group in by_device.values():
        syncfs = _syncfs_call() if len(group) > 1 else None
        if syncfs is None:
            for fd, _, _ in group:
                os.fsync(fd)
        elif syncfs(group[0][0]) != 0:
            import ctypes

            err = ctypes.get_errno()
            raise OSError(err, f"syncfs: {os.strerror(err)}", group[0][2])


def read_head(folder: Path) -> tuple[int, int, int] | None:
    """(offset, seq, prev_crc) from the `head` hint, or None if missing or damaged."""
    try:
        raw = (folder / HEAD).read_bytes()[:HEAD_SIZE].decode("ascii").split()
    except (OSError, UnicodeDecodeError):
        return None
    if len(raw) != 4:
        return None
    text = " ".join(raw[:3])
    try:
        if int(raw[3], 16) != zlib.crc32(text.encode()):
            return None
        return int(raw[0]), int(raw[1]), int(raw[2], 16)
    except ValueError:
        return None


def recover(folder: Path) -> tuple[Opened, int, int]:
    """Read a journal without changing it: (what was found, end of the good part, file size)."""
    path = folder / JOURNAL
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the `with fh:` below
    except FileNotFoundError:
        raise NoJournal(f"{folder.name}: no journal") from None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        first_line = fh.readline()
        first = decode_line(first_line, 0, 0, 0)
        if first is None or first.kind != "created":
            if not first_line:
                raise JournalError(f"instance {folder.name}: the journal is empty")
            raise JournalError(f"instance {folder.name}: the journal's first record is damaged")
        hint = read_head(folder)
        if hint is not None:
            offset, seq, prev_crc = hint
            records, end = read_records(fh, offset, prev_crc, seq) if offset < size else ([], 0)
            if records and records[0].kind == "checkpoint":
                if end < size:
                    check_tail(fh, end, records[-1].seq + 1, folder.name)
                # A crash between appending a checkpoint and moving the hint leaves the
                # hint one checkpoint behind: take the last one read.
                last_cp = max(i for i, r in enumerate(records) if r.kind == "checkpoint")
                return (Opened(first, records[last_cp], records[last_cp + 1:], used_hint=True,
                               last=records[-1]), end, size)
        opened, end, size = _full_scan(fh, first, len(first_line), size)
        if end < size:
            check_tail(fh, end, (opened.last or first).seq + 1, folder.name)
        return opened, end, size


def _full_scan(fh: Any, first: Record, start: int, size: int) -> tuple[Opened, int, int]:
    checkpoint: Record | None = None
    tail: list[Record] = []
    last = first
    fh.seek(start)
    offset, prev_crc, seq = start, first.crc, 1
    for line in fh:
        rec = decode_line(line, offset, prev_crc, seq)
        if rec is None:
            break
        if rec.kind == "checkpoint":
            checkpoint, tail = rec, []
        else:
            tail.append(rec)
        last = rec
        offset += len(line)
        prev_crc, seq = rec.crc, seq + 1
    if checkpoint is None:
        tail = [r for r in tail if r.seq > 0]
    return Opened(first, checkpoint, tail, last=last), offset, size


def iter_records(folder: Path) -> Iterator[Record]:
    """Every good record from the start, stopping at the first bad one (read-only);
    JournalError there if good records follow it (damage, not a torn tail)."""
    with open(folder / JOURNAL, "rb") as fh:
        offset, prev_crc, seq = 0, 0, 0
        for line in fh:
            rec = decode_line(line, offset, prev_crc, seq)
            if rec is None:
                check_tail(fh, offset, seq, folder.name)
                return
            yield rec
            offset += len(line)
            prev_crc, seq = rec.crc, seq + 1
