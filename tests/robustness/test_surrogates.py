"""A lone surrogate (a string with no UTF-8 form) is refused wherever a string enters:
HTTP bodies (400), non-UTF-8 command-line arguments (exit 2), client calls, and inside the
runtime (activity results, custom status), alike in the journal runtime and the plain run."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import compiler
from runtime.client import Client
from runtime.executor import run_inline
from runtime.http import create_app
from runtime.values import NotJSONError
from tests.robustness.conftest import InProcessHTTP
from tether.cli import main
from tether.testing import run_direct

PROGRAM = '''
from tether import activity, orchestrator

@activity
def surrogate_give(text):
    return {"text": text + "\\ud800"}

@orchestrator
async def surrogate_wait(ctx, value):
    return await ctx.wait_for_external_event("Go")

@orchestrator
async def surrogate_result(ctx, text):
    try:
        return await ctx.call_activity(surrogate_give, text)
    except Exception as e:
        return [e.error_type, e.message]

@orchestrator
async def surrogate_status(ctx, text):
    ctx.set_custom_status(["fine", text + "\\udfff"])

@orchestrator
async def surrogate_output(ctx, text):
    return {text + "\\udc80": 1}
'''
_n = itertools.count()
LONE = "holds a lone surrogate"


def machine(name: str) -> Any:
    module = compiler.load_source(PROGRAM, "surrogates.py", f"_tether_surrogates_{next(_n)}")
    return getattr(module, name).__tether_machine__


@pytest.fixture
def program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "surrogates.py"
    path.write_text(PROGRAM)
    monkeypatch.setenv("TETHER_STORE", str(tmp_path / "store"))
    return path


@pytest.mark.parametrize(("body", "place"), [
    (b'"\\ud800"', "the request body is the string '\\ud800'"),
    (b'{"a": ["x", "\\udfff"]}', "the request body['a'][1] is the string '\\udfff'"),
    (b'{"\\ud800": 1}', "the request body has the key '\\ud800'"),
])
def test_http_refuses_a_lone_surrogate_with_400(tmp_path: Path, body: bytes, place: str) -> None:
    http = InProcessHTTP(create_app(tmp_path / "store", {"surrogate_wait": machine("surrogate_wait")}))
    r = http.post("/api/orchestrators/surrogate_wait/s-1", content=body)
    assert r.status_code == 400 and r.json()["error"].startswith(place), r.text
    assert http.post("/api/orchestrators/surrogate_wait/s-1", content=b'"ok"').status_code == 202
    r = http.post("/api/instances/s-1/raiseEvent/Go", content=body)
    assert r.status_code == 400 and r.json()["error"].startswith(place), r.text
    assert [e["eventType"] for e in Client(tmp_path / "store").history("s-1")] == ["created"]


def test_a_non_utf8_input_argument_exits_2_in_one_line(program: Path, tmp_path: Path) -> None:
    """A real process: the argument's bytes reach Python as a lone surrogate (PEP 383)."""
    done = subprocess.run(
        [sys.executable, "-m", "tether.cli", "start", f"{program}:surrogate_wait",
         "--store", str(tmp_path / "store"), "--input", b'{"name": "caf\xe9"}'],
        capture_output=True, timeout=60, cwd=Path(__file__).parents[2])
    assert done.returncode == 2, done.stderr
    assert done.stderr.decode() == (
        "error: --input['name'] is the string 'caf\\udce9', which holds a lone surrogate "
        "(no UTF-8 form); send UTF-8 text\n")
    assert not (tmp_path / "store" / "instances").exists() or not any(
        (tmp_path / "store" / "instances").iterdir())


@pytest.mark.parametrize(("argv", "message"), [
    (["start", "{program}:surrogate_wait", "--input", '"\udcff"'],
     "error: --input is the string '\\udcff', which holds a lone surrogate"),
    (["raise-event", "s-1", "Go", "--data", '["\udcff"]'],
     "error: --data[0] is the string '\\udcff', which holds a lone surrogate"),
    (["raise-event", "s-1", "G\udcffo"],
     "error: event name 'G\\udcffo' holds a lone surrogate"),
    (["terminate", "s-1", "--reason", "because\udcff"],
     "error: reason to terminate s-1 is the string 'because\\udcff', which holds"),
    (["suspend", "s-1", "--reason", "\udcff"],
     "error: reason to suspend s-1 is the string '\\udcff', which holds"),
], ids=["input", "data", "event-name", "terminate-reason", "suspend-reason"])
def test_cli_arguments_with_a_lone_surrogate_exit_2(
        program: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(["start", f"{program}:surrogate_wait", "--id", "s-1"]) == 0
    capsys.readouterr()
    assert main([a.replace("{program}", str(program)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
    assert [e["eventType"] for e in Client(program.parent / "store").history("s-1")] == ["created"]


def test_the_client_refuses_lone_surrogates(tmp_path: Path) -> None:
    client = Client(tmp_path / "store")
    mdef = machine("surrogate_wait")
    with pytest.raises(NotJSONError, match="input of orchestrator surrogate_wait has the key"):
        client.start(mdef, {"\ud800": 1})
    client.start(mdef, "ok", instance_id="s-1")
    with pytest.raises(NotJSONError, match=f"event name 'Go\\\\ud800' {LONE}"):
        client.raise_event("s-1", "Go\ud800", 1)
    with pytest.raises(NotJSONError, match=f"data of event Go is the string '\\\\udfff', which {LONE}"):
        client.raise_event("s-1", "Go", "\udfff")
    with pytest.raises(NotJSONError, match="reason to terminate s-1 is the string"):
        client.terminate("s-1", "\ud800")
    assert [e["eventType"] for e in client.history("s-1")] == ["created"]


@pytest.mark.parametrize("orchestrator", ["surrogate_result", "surrogate_status", "surrogate_output"])
def test_inside_the_runtime_a_lone_surrogate_is_refused_as_in_the_plain_run(
        tmp_path: Path, orchestrator: str) -> None:
    mdef = machine(orchestrator)
    plain: Any = run_direct(mdef, "caf\u00e9")
    journaled = run_inline(mdef, "caf\u00e9", store=tmp_path / "store")
    assert (journaled.status, journaled.output, journaled.error) == (
        plain.status, plain.output, plain.error)
    assert LONE in repr((plain.output, plain.error))
    # the instance's answers stay sendable: its status and the list over HTTP
    http = InProcessHTTP(create_app(tmp_path / "store", {}))
    listed = http.get("/api/instances")
    assert listed.status_code == 200 and len(listed.json()) == 1
    assert http.get(f"/api/instances/{journaled.instance_id}").status_code == 200
    json.dumps(listed.json()).encode("utf-8")  # nothing unsendable came back
