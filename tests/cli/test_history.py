"""`tether history` (and `status --history`) show the orchestrator's own variables at each
checkpoint; `--all-variables` shows the compiler's invented slots too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime.journal import Journal, iter_records
from runtime.store import Store
from tether.cli import main
from tether.loader import load

PROGRAM = '''
from tether import activity, orchestrator


@activity
def double(n):
    return 2 * n


@orchestrator
async def loops(ctx, items):
    total = 0
    for item in items:
        total += await ctx.call_activity(double, item)
    tagged = [(await ctx.call_activity(double, x)) + x for x in items]
    return [total, *tagged]
'''

USER = {"items", "total", "x"}  # every user local some checkpoint saves


@pytest.fixture
def ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "loops_prog.py"
    path.write_text(PROGRAM)
    monkeypatch.setenv("TETHER_STORE", str(tmp_path / "store"))
    assert main(["run", f"{path}:loops", "--input", "[1, 2]", "--id", "h1"]) == 0
    assert json.loads(capsys.readouterr().out) == [6, 3, 6]
    return path


def slot_names(argv: list[str], capsys: pytest.CaptureFixture[str]) -> set[str]:
    assert main(argv) == 0
    doc: Any = json.loads(capsys.readouterr().out)
    events = doc["historyEvents"] if isinstance(doc, dict) else doc
    checkpoints = [e for e in events if e["eventType"] == "checkpoint"]
    assert checkpoints
    return {name for e in checkpoints for name in e["slots"]}


def copy_with_hidden(store: Path, source: Path, instance_id: str, copy_id: str) -> None:
    """The instance's journal as a runtime that records each checkpoint's invented slots
    writes it (`MachineDef.hidden_in`)."""
    mdef = load(str(source)).machine("loops")
    st = Store(store)
    records = list(iter_records(st.folder(instance_id)))
    folder = st.folder(copy_id)
    folder.mkdir(parents=True)
    journal = Journal.create(folder, records[0].ts, records[0].data)
    for rec in records[1:]:
        data = dict(rec.data)
        if rec.kind == "checkpoint":
            data["hidden"] = mdef.hidden_in(data["slots"])
        journal.append(rec.kind, data, rec.ts)
    journal.close()


def test_all_variables_shows_the_invented_slots(ran: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = slot_names(["history", "h1", "--all-variables"], capsys)
    assert {"_i0", "_seq0", "_acc0"} <= names and not names & {"x"}


def test_history_shows_the_users_variables(ran: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    copy_with_hidden(tmp_path / "store", ran, "h1", "h2")
    assert slot_names(["history", "h2"], capsys) == USER
    assert slot_names(["status", "h2", "--history"], capsys) == USER
    assert "_x_c0" in slot_names(["status", "h2", "--history", "--all-variables"], capsys)
    assert main(["history", "h2"]) == 0
    assert "hidden" not in capsys.readouterr().out  # the bookkeeping stays out of sight


def test_history_of_a_run_shows_the_users_variables(ran: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert slot_names(["history", "h1"], capsys) == USER
