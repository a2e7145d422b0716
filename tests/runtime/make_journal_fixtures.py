"""Regenerate tests/runtime/journals/: a healthy journal, damaged in one way per folder.

    python -m tests.runtime.make_journal_fixtures
Each folder holds `journal`, maybe `head`, and `expected.json`: what opening must find.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from runtime.backends.file.journal import Journal

HERE = Path(__file__).parent / "journals"
TS = "2026-01-01T00:00:00Z"


def healthy(folder: Path) -> list[int]:
    """created, checkpoint, result, checkpoint, result; returns each record's offset."""
    folder.mkdir(parents=True)
    j = Journal.create(folder, TS, {"name": "demo", "input": [1, 2]})
    offsets = [0]
    for i in range(2):
        offsets.append(j.append("checkpoint", {"step": 1, "i": i}, TS).offset)
        offsets.append(j.append("result", {"task": i, "value": i * 10}, TS).offset)
    j.close()
    return offsets


def main() -> None:
    shutil.rmtree(HERE, ignore_errors=True)
    cases: dict[str, dict[str, object]] = {}

    f = HERE / "truncated-record"
    offs = healthy(f)
    data = (f / "journal").read_bytes()
    (f / "journal").write_bytes(data[:-7])  # the last result lost its end
    cases[f.name] = {"records": 4, "checkpoint_i": 1, "tail": [], "dropped": len(data) - 7 - offs[4]}

    f = HERE / "flipped-byte-before-good-records"
    offs = healthy(f)
    data = bytearray((f / "journal").read_bytes())
    data[offs[2] + 40] ^= 0x01  # inside the first result, with good records after it:
    (f / "journal").write_bytes(bytes(data))  # damage, not a torn tail (issue 17)
    (f / "head").unlink()
    cases[f.name] = {"damaged": f"damaged at record 2 (byte {offs[2]}), followed by "
                                f"{len(offs) - 3} good records"}

    f = HERE / "partial-checkpoint"
    offs = healthy(f)
    data = (f / "journal").read_bytes()
    partial = b'{"crc":"0badf00d","seq":3,"kind":"checkp'  # the hint points at it
    (f / "journal").write_bytes(data[:offs[3]] + partial)
    cases[f.name] = {"records": 3, "checkpoint_i": 0, "tail": ["result"], "dropped": len(partial)}

    f = HERE / "bad-head-hint"
    offs = healthy(f)
    (f / "head").write_text("12 3 00000000 deadbeef".ljust(63) + "\n")
    cases[f.name] = {"records": 5, "checkpoint_i": 1, "tail": ["result"], "dropped": 0}

    for name, expected in cases.items():
        (HERE / name / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    main()
