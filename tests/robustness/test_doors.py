"""The nesting limit at every door: a value exactly at the limit goes end to end through a
worker (input, activity, frame, custom status, event, child, output); one level more is
refused at each door with one line naming the limit, and nothing is created."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

import compiler
from runtime.backends.base import Backend
from runtime.client import Client
from runtime.executor import run_inline
from runtime.http import create_app
from runtime.limits import MAX_NESTING
from runtime.values import NotJSONError
from tests.robustness.conftest import InProcessHTTP, nested
from tether.cli import main
from tether.testing import run_direct

PROGRAM = '''
from tether import activity, orchestrator

@activity
def limits_echo(value):
    return value

@activity
def limits_wrap(value):
    return [value]

@orchestrator
async def limits_child(ctx, value):
    return value

@orchestrator
async def limits_edge(ctx, value):
    got = await ctx.call_activity(limits_echo, value)
    ctx.set_custom_status(got)
    event = await ctx.wait_for_external_event("Deep")
    back = await ctx.call_sub_orchestrator(limits_child, event)
    return back if got == value else "the activity changed the value"

@orchestrator
async def limits_result(ctx, value):
    try:
        return await ctx.call_activity(limits_wrap, value)
    except Exception as e:
        return [e.error_type, e.message]

@orchestrator
async def limits_output(ctx, value):
    await ctx.call_activity(limits_echo, 1)
    return [value]

@orchestrator
async def limits_status(ctx, value):
    ctx.set_custom_status([value])

@orchestrator
async def limits_continue(ctx, value):
    if value != "done":
        ctx.continue_as_new([value])

@orchestrator
async def limits_activity_input(ctx, value):
    await ctx.call_activity(limits_echo, [value])

@orchestrator
async def limits_child_input(ctx, value):
    await ctx.call_sub_orchestrator(limits_child, [value])
'''

AT_LIMIT = nested(MAX_NESTING, "leaf")
OTHER_AT_LIMIT = nested(MAX_NESTING, "other leaf")
PAST_LIMIT = nested(MAX_NESTING + 1)
REFUSAL = f"nests deeper than {MAX_NESTING} levels"
REFUSED = re.escape(REFUSAL)
_n = itertools.count()


@pytest.fixture
def program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "limits_prog.py"
    path.write_text(PROGRAM)
    monkeypatch.setenv("TETHER_STORE", str(tmp_path / "store"))
    return path


def machine(name: str) -> Any:
    module = compiler.load_source(PROGRAM, "limits_prog.py", f"_tether_limits_{next(_n)}")
    return getattr(module, name).__tether_machine__


def test_a_value_at_the_limit_goes_end_to_end_through_a_worker(
        program: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["start", f"{program}:limits_edge", "--input", json.dumps(AT_LIMIT),
                 "--id", "edge"]) == 0
    assert main(["raise-event", "edge", "Deep", "--data", json.dumps(OTHER_AT_LIMIT)]) == 0
    assert main(["worker", str(program), "--until-idle"]) == 0
    capsys.readouterr()
    assert main(["status", "edge"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["runtimeStatus"], doc["output"], doc["customStatus"], doc["input"]) == (
        "Completed", OTHER_AT_LIMIT, AT_LIMIT, AT_LIMIT)
    assert main(["history", "edge"]) == 0  # every record reads back, checkpoints included
    assert any(e["eventType"] == "checkpoint" for e in json.loads(capsys.readouterr().out))
    http = InProcessHTTP(create_app(tmp_path / "store", {}))
    r = http.get("/api/instances/edge?showHistory=true")
    assert (r.status_code, r.json()["output"]) == (200, OTHER_AT_LIMIT)


def test_every_backend_saves_a_value_at_the_limit(backend: Backend) -> None:
    """Checkpoints, results and events at the limit are written and read back (PostgreSQL
    stores them as jsonb) and the run equals the plain one."""
    mdef = machine("limits_edge")
    events = [("Deep", OTHER_AT_LIMIT)]
    plain: Any = run_direct(mdef, AT_LIMIT, events=events)
    journaled = run_inline(mdef, AT_LIMIT, store=backend, events=events, instance_id="e")
    assert plain.status == journaled.status == "Completed"
    assert plain.output == journaled.output == OTHER_AT_LIMIT
    doc = Client(backend).status("e", history=True)
    assert (doc["output"], doc["customStatus"]) == (OTHER_AT_LIMIT, AT_LIMIT)


@pytest.mark.parametrize("orchestrator", [
    "limits_result", "limits_output", "limits_status", "limits_continue",
    "limits_activity_input", "limits_child_input",
])
def test_inside_the_runtime_one_level_more_is_refused_as_in_the_plain_run(
        tmp_path: Path, orchestrator: str) -> None:
    mdef = machine(orchestrator)
    plain: Any = run_direct(mdef, AT_LIMIT)
    journaled = run_inline(mdef, AT_LIMIT, store=tmp_path)
    assert (journaled.status, journaled.output, journaled.error) == (
        plain.status, plain.output, plain.error)
    assert REFUSAL in repr((plain.output, plain.error)), (plain.output, plain.error)


@pytest.mark.parametrize("argv", [
    ["start", "{program}:limits_edge", "--input", json.dumps(PAST_LIMIT)],
    ["run", "{program}:limits_edge", "--input", json.dumps(PAST_LIMIT)],
    ["start", "{program}:limits_edge", "--input", "[" * 900 + "]" * 900],
    ["raise-event", "edge", "Deep", "--data", json.dumps(PAST_LIMIT)],
    ["raise-event", "edge", "Deep", "--data", "{\"a\":" * 100_000 + "1" + "}" * 100_000],
], ids=["start", "run", "start-900", "raise-event", "raise-event-100000"])
def test_the_cli_refuses_one_level_more(program: Path, capsys: pytest.CaptureFixture[str],
                                        argv: list[str]) -> None:
    assert main(["start", f"{program}:limits_edge", "--id", "edge"]) == 0
    capsys.readouterr()
    assert main([a.replace("{program}", str(program)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --") and REFUSAL in err and err.count("\n") == 1, err
    client = Client(program.parent / "store")
    assert [d["instanceId"] for d in client.list()] == ["edge"]  # nothing else created
    assert client.history("edge")[-1]["eventType"] == "created"  # no event journaled


def test_the_client_refuses_one_level_more(tmp_path: Path) -> None:
    mdef = machine("limits_edge")
    client = Client(tmp_path / "store")
    with pytest.raises(NotJSONError, match=f"^input of orchestrator limits_edge\\[.* {REFUSED}$"):
        client.start(mdef, PAST_LIMIT)
    with pytest.raises(NotJSONError, match=f"^input 1 of orchestrator limits_edge\\[.* {REFUSED}$"):
        client.start_many(mdef, [AT_LIMIT, PAST_LIMIT])
    assert client.list() == []
    client.start(mdef, AT_LIMIT, instance_id="edge")
    with pytest.raises(NotJSONError, match=f"^data of event Deep\\[.* {REFUSED}$"):
        client.raise_event("edge", "Deep", PAST_LIMIT)
    with pytest.raises(NotJSONError, match=f"^reason to terminate edge\\[.* {REFUSED}$"):
        client.terminate("edge", PAST_LIMIT)
    assert [e["eventType"] for e in client.history("edge")] == ["created"]


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 600, 900, 100_000])
def test_http_refuses_one_level_more_with_400_naming_the_limit(tmp_path: Path,
                                                               depth: int) -> None:
    mdef = machine("limits_edge")
    http = InProcessHTTP(create_app(tmp_path / "store", {"limits_edge": mdef}))
    body = "[" * depth + "]" * depth
    r = http.post("/api/orchestrators/limits_edge/edge", content=body)
    assert r.status_code == 400, r.text
    # the place is named when json could parse the body: past ~990 levels it gives up first
    assert re.fullmatch(f"the request body(\\[0\\].*)? {REFUSED}", r.json()["error"]), r.text
    assert http.post("/api/orchestrators/limits_edge/edge",
                     content=json.dumps(AT_LIMIT)).status_code == 202
    r = http.post("/api/instances/edge/raiseEvent/Deep", content=body)
    assert r.status_code == 400 and REFUSAL in r.json()["error"]
    assert [e["eventType"] for e in Client(tmp_path / "store").history("edge")] == ["created"]
