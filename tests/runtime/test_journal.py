"""The journal: record format, chained CRCs, recovery from damaged tails, the head hint."""

from __future__ import annotations

import json
import re
import shutil
import zlib
from pathlib import Path

import pytest

from runtime.backends.file.journal import Journal, JournalError, iter_records, recover

FIXTURES = Path(__file__).parent / "journals"
TS = "2026-01-01T00:00:00Z"


@pytest.mark.parametrize("damage", sorted(p.name for p in FIXTURES.iterdir()))
def test_damaged_journal_recovers_as_expected(damage: str, tmp_path: Path) -> None:
    folder = tmp_path / damage
    shutil.copytree(FIXTURES / damage, folder)
    expected = json.loads((folder / "expected.json").read_text())
    size = (folder / "journal").stat().st_size
    if "damaged" in expected:  # not a torn tail: reported, and the journal left as it is
        before = (folder / "journal").read_bytes()
        with pytest.raises(JournalError, match=re.escape(expected["damaged"])):
            Journal.open(folder)
        with pytest.raises(JournalError, match=re.escape(expected["damaged"])):
            list(iter_records(folder))
        assert (folder / "journal").read_bytes() == before
        return
    j = Journal.open(folder)
    assert j.opened.dropped_bytes == expected["dropped"]
    assert j.opened.checkpoint is not None
    assert j.opened.checkpoint.data["i"] == expected["checkpoint_i"]
    assert [r.kind for r in j.opened.tail] == expected["tail"]
    assert (folder / "journal").stat().st_size == size - expected["dropped"]  # truncated
    j.append("result", {"task": 9}, TS)  # appending after recovery continues the chain
    j.close()
    records = list(iter_records(folder))
    assert len(records) == expected["records"] + 1
    assert [r.seq for r in records] == list(range(len(records)))


def test_record_bytes_are_as_documented(tmp_path: Path) -> None:
    j = Journal.create(tmp_path, TS, {"name": "x"})
    j.append("result", {"task": 0, "value": "é"}, TS)
    j.close()
    lines = (tmp_path / "journal").read_bytes().splitlines(keepends=True)
    prev = 0
    for seq, line in enumerate(lines):
        assert line.startswith(b'{"crc":"') and line.endswith(b"\n")
        body = b"{" + line[18:-1]
        assert int(line[8:16], 16) == zlib.crc32(body, prev)
        assert json.loads(line)["seq"] == seq
        prev = int(line[8:16], 16)
    assert b"\\u00e9" in lines[1]  # ASCII only


def test_open_uses_the_head_hint_and_reads_only_after_the_checkpoint(tmp_path: Path) -> None:
    j = Journal.create(tmp_path, TS, {"name": "x"})
    for i in range(500):
        j.append("checkpoint", {"i": i}, TS)
        j.append("result", {"task": i}, TS)
    j.close()
    opened, end, size = recover(tmp_path)
    assert opened.used_hint and end == size
    assert opened.checkpoint is not None and opened.checkpoint.data["i"] == 499
    assert [r.kind for r in opened.tail] == ["result"]


def test_a_hint_one_checkpoint_behind_still_finds_the_last(tmp_path: Path) -> None:
    j = Journal.create(tmp_path, TS, {"name": "x"})
    j.append("checkpoint", {"i": 0}, TS)
    head = (tmp_path / "head").read_bytes()
    j.append("checkpoint", {"i": 1}, TS)
    j.close()
    (tmp_path / "head").write_bytes(head)  # as if we crashed before moving the hint
    opened, _, _ = recover(tmp_path)
    assert opened.checkpoint is not None and opened.checkpoint.data["i"] == 1


def test_records_appended_together_are_one_write_and_read_back_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import runtime.backends.file.journal as journal_mod

    j = Journal.create(tmp_path, TS, {"name": "x"})
    writes: list[bytes] = []
    real_write = journal_mod.os.write

    def spy(fd: int, data: bytes) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(journal_mod.os, "write", spy)
    recs = j.append_many([("result", {"task": 0, "value": 1}),
                          ("result", {"task": 1, "value": 2}),
                          ("checkpoint", {"step": 1})], TS)
    j.close()
    assert len(writes) == 1 and writes[0].count(b"\n") == 3
    assert [r.seq for r in recs] == [1, 2, 3]
    assert [(r.seq, r.kind, r.data) for r in iter_records(tmp_path)][1:] == [
        (r.seq, r.kind, r.data) for r in recs]
    assert recover(tmp_path)[0].checkpoint == recs[2]  # the head hint points at it
    # a machine that dies mid-write may keep a prefix: recovery stops at the torn record
    data = (tmp_path / "journal").read_bytes()
    (tmp_path / "journal").write_bytes(data[:recs[1].offset + 10])
    assert [r.seq for r in iter_records(tmp_path)] == [0, 1]
