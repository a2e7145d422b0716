"""One bad instance in a store never stops the list (HTTP, CLI, Client) from answering for
the others. The bad instances are planted on disk as an older version, a crash or a hand
could leave them (the format is docs/journal.md's), bypassing every door."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import compiler
from runtime.client import Client
from runtime.http import create_app
from tests.robustness.conftest import InProcessHTTP
from tether.cli import main

PROGRAM = '''
from tether import orchestrator

@orchestrator
async def planted_wait(ctx, value):
    return await ctx.wait_for_external_event("Go")
'''
TS = "2026-01-01T00:00:00Z"


def journal_line(seq: int, kind: str, data: dict[str, Any], prev_crc: int = 0,
                 ts: str = TS) -> bytes:
    body = json.dumps({"seq": seq, "kind": kind, "ts": ts, "data": data},
                      separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return b'{"crc":"%08x",' % zlib.crc32(body, prev_crc) + body[1:] + b"\n"


def created(**changes: Any) -> dict[str, Any]:
    data = {"name": "planted_wait", "input": None, "graph_hash": "0" * 16, "source": "x.py",
            "parent": None, "generation": 0, "start": TS}
    return {**data, **changes}


def plant(store: Path, instance_id: str, journal: bytes | None) -> Path:
    folder = store / "instances" / instance_id
    folder.mkdir(parents=True)
    if journal is not None:
        (folder / "journal").write_bytes(journal)
    return folder


def lone_surrogate_input(store: Path) -> None:  # written before the boundary refused them
    plant(store, "bad", journal_line(0, "created", created(input={"name": "\ud800"})))


def damaged_first_record(store: Path) -> None:
    line = bytearray(journal_line(0, "created", created()))
    line[30] ^= 0x01
    plant(store, "bad", bytes(line))


def journal_is_a_directory(store: Path) -> None:
    (plant(store, "bad", None) / "journal").mkdir()


def folder_without_journal(store: Path) -> None:
    plant(store, "bad", None)


def stray_file(store: Path) -> None:
    (store / "instances" / "bad").write_text("not an instance")


def created_time_not_iso(store: Path) -> None:  # CRC-valid, but its time is no time
    plant(store, "bad", journal_line(0, "created", created(start="yesterday"), ts="yesterday"))


PLANTS: list[Callable[[Path], None]] = [
    lone_surrogate_input, damaged_first_record, journal_is_a_directory,
    folder_without_journal, stray_file,
    created_time_not_iso,
]


@pytest.mark.parametrize("plant_bad", PLANTS, ids=lambda f: f.__name__)
def test_the_list_answers_for_the_good_instances(tmp_path: Path, plant_bad: Callable[[Path], None],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    module = compiler.load_source(PROGRAM, "planted.py", f"_tether_planted_{plant_bad.__name__}")
    mdef = module.planted_wait.__tether_machine__
    client = Client(store)
    client.start(mdef, "first", instance_id="good-1")
    plant_bad(store)
    client.start(mdef, "second", instance_id="good-2")

    http = InProcessHTTP(create_app(store, {"planted_wait": mdef}))
    r = http.get("/api/instances")
    assert r.status_code == 200, r.text
    ids = {d["instanceId"] for d in r.json()}
    assert {"good-1", "good-2"} <= ids <= {"good-1", "good-2", "bad"}
    for good in ("good-1", "good-2"):
        assert http.get(f"/api/instances/{good}").status_code == 202
    assert http.get("/api/instances/bad").status_code in (200, 202, 404, 409)
    assert main(["list", "--store", str(store)]) == 0
    assert {"good-1", "good-2"} <= {d["instanceId"] for d in json.loads(capsys.readouterr().out)}
