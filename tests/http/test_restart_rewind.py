"""Restart and rewind, in the client, the CLI and the HTTP API, with crashes during them.

Rewind takes a Failed instance back to the checkpoint before its failed step: the same
variables, nothing before it run again, so once the activity is fixed the instance ends
with the output it would have had."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.client import Client, UnknownInstance
from runtime.rewind import NotRewindable, StillRunning
from runtime.worker import Worker
from tests.http.conftest import run_server
from tether.cli import main
from tether.loader import load

ROOT = Path(__file__).resolve().parents[2]
SRC = '''
from pathlib import Path

from tether import OrchestrationContext, activity, orchestrator


@activity
def fetch(job: dict) -> int:
    if not Path(job["fixed"]).exists():
        raise ConnectionError(f"{job['fixed']} is down")
    return job["n"] * 2


@orchestrator
async def flow(ctx: OrchestrationContext, job: dict) -> dict:
    first = await ctx.call_activity(fetch, {**job, "n": 1, "fixed": "/"})
    seen = [first, str(ctx.new_uuid())]
    second = await ctx.call_activity(fetch, job)
    return {"seen": seen, "second": second}


@orchestrator
async def at_once(ctx: OrchestrationContext, job: dict) -> int:
    raise ValueError("nothing to rewind to")
'''


@pytest.fixture
def store(stores: Any) -> str:
    """A fresh store of each backend (file, PostgreSQL)."""
    return str(stores())


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "flaky.py"
    path.write_text(SRC)
    load(str(path))
    return path


def _failed(tmp_path: Path, store: str, instance_id: str = "f-1") -> Client:
    client = Client(store)
    client.start("flow", {"n": 5, "fixed": str(tmp_path / "fixed")}, instance_id=instance_id)
    Worker(store).serve(until_idle=True)
    assert client.status(instance_id)["runtimeStatus"] == "Failed"
    return client


def _calls(client: Client, instance_id: str) -> list[Any]:
    return [i["n"] for _, i in client.backend.activity_calls(instance_id)]


def test_rewind_resumes_from_the_checkpoint_with_the_same_variables(
        src: Path, tmp_path: Path, store: str) -> None:
    client = _failed(tmp_path, store)
    before = client.history("f-1")
    uuid_then = next(e for e in before if e["eventType"] == "checkpoint"
                     and "seen" in str(e))  # the checkpoint that holds `seen`
    (tmp_path / "fixed").write_text("")
    client.rewind("f-1", "the service is back")
    assert client.status("f-1")["runtimeStatus"] == "Running"
    Worker(store).serve(until_idle=True)
    doc = client.status("f-1")
    assert doc["runtimeStatus"] == "Completed"
    assert doc["output"]["second"] == 10
    assert doc["output"]["seen"][0] == 2
    assert str(doc["output"]["seen"][1]) in str(uuid_then)  # the uuid made before: kept
    # the first activity ran once: nothing before the checkpoint ran again
    assert _calls(client, "f-1").count(1) == 1
    kinds = [e["eventType"] for e in client.history("f-1")]
    assert kinds[kinds.index("failed") + 1] == "checkpoint"  # the history keeps the failure
    rewound = client.history("f-1", all_variables=True)[kinds.index("failed") + 1]["rewound"]
    assert rewound["reason"] == "the service is back"


def test_rewind_refuses_what_it_cannot_rewind(src: Path, tmp_path: Path, store: str) -> None:
    client = _failed(tmp_path, store)
    with pytest.raises(UnknownInstance):
        client.rewind("nope")
    client.start("at_once", {}, instance_id="a-1")
    Worker(store).serve(until_idle=True)
    with pytest.raises(NotRewindable, match="failed in its first step, before any checkpoint: "
                                            "restart it instead"):
        client.rewind("a-1")
    (tmp_path / "fixed").write_text("")
    client.rewind("f-1")
    Worker(store).serve(until_idle=True)
    with pytest.raises(NotRewindable, match="instance f-1 is Completed; only a Failed"):
        client.rewind("f-1")


def test_restart_new_and_same_id(src: Path, tmp_path: Path, store: str) -> None:
    client = _failed(tmp_path, store)
    (tmp_path / "fixed").write_text("")
    again = client.restart("f-1")
    assert again != "f-1"
    same = client.restart("f-1", new_instance_id=False)
    assert same == "f-1"
    assert client.status("f-1")["runtimeStatus"] == "Pending"
    with pytest.raises(StillRunning, match="instance f-1 is Pending; restart it under a new id"):
        client.restart("f-1", new_instance_id=False)
    Worker(store).serve(until_idle=True)
    for instance_id in (again, "f-1"):
        assert client.status(instance_id)["output"]["second"] == 10
    assert client.status(again)["input"] == client.status("f-1")["input"]


CRASHING = '''
import os, signal, sys
from tether.loader import load
from runtime.backends import open_backend
from runtime.client import Client
load(sys.argv[1])
client = Client(sys.argv[2])
where = sys.argv[4]
backend = client.backend
real = {"stage": None}
if where == "after-write":  # killed once the record is written, before it is committed
    def commit(claims):
        os.kill(os.getpid(), signal.SIGKILL)
    backend.commit = commit
else:  # killed before anything is written
    def history(instance_id):
        os.kill(os.getpid(), signal.SIGKILL)
    backend.history = history
if sys.argv[3] == "rewind":
    client.rewind("f-1")
else:
    client.restart("f-1", new_instance_id=False)
'''


@pytest.mark.parametrize("operation", ["rewind", "restart"])
@pytest.mark.parametrize("where", ["before-write", "after-write"])
def test_a_crash_during_rewind_or_restart_leaves_one_or_the_other(
        src: Path, tmp_path: Path, store: str, operation: str, where: str) -> None:
    client = _failed(tmp_path, store)
    (tmp_path / "fixed").write_text("")
    script = tmp_path / "crash.py"
    script.write_text(CRASHING)
    done = subprocess.run([sys.executable, str(script), str(src), store,
                           operation, where], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stderr
    Worker(store).serve(until_idle=True)
    doc = client.status("f-1")
    # a record staged and not committed reaches the disk on the file backend (it is written
    # to the OS at once) and is gone on PostgreSQL (one transaction): either way the
    # operation happened whole or not at all
    unchanged = where == "before-write" or store.startswith("postgresql")
    if unchanged:
        assert doc["runtimeStatus"] == "Failed"  # nothing changed: do it again
        getattr(client, operation)("f-1", **({} if operation == "rewind"
                                              else {"new_instance_id": False}))
        Worker(store).serve(until_idle=True)
        doc = client.status("f-1")
    assert doc["runtimeStatus"] == "Completed", (operation, where, doc)
    assert doc["output"]["second"] == 10
    # a rewind runs nothing before its checkpoint again; a restart runs everything again
    assert _calls(client, "f-1").count(1) == (1 if operation == "rewind" else 2)


def test_cli_restart_and_rewind(src: Path, tmp_path: Path, store: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    _failed(tmp_path, store)
    assert main(["rewind", "nope", "--store", store]) == 2
    assert capsys.readouterr().err == "error: no instance nope\n"
    assert main(["rewind", "bad id", "--store", store]) == 2
    assert "instance id" in capsys.readouterr().err
    (tmp_path / "fixed").write_text("")
    assert main(["rewind", "f-1", "--store", store, "--reason", "fixed"]) == 0
    assert main(["rewind", "f-1", "--store", store]) == 2
    assert capsys.readouterr().err == ("error: instance f-1 is Running; only a Failed instance "
                                       "can be rewound\n")
    assert main(["restart", "f-1", "--store", store, "--id", "r-1"]) == 0
    assert capsys.readouterr().out == "r-1\n"
    assert main(["restart", "f-1", "--store", store, "--same-id"]) == 2
    assert "instance f-1 is Running; restart it under a new id" in capsys.readouterr().err
    Worker(store).serve(until_idle=True)
    assert Client(store).status("r-1")["runtimeStatus"] == "Completed"


def test_http_restart_and_rewind(src: Path, tmp_path: Path, store: str) -> None:
    _failed(tmp_path, store)
    for server in run_server(store, worker=False):
        http = server.http
        assert http.post("/api/instances/nope/rewind").status_code == 404
        (tmp_path / "fixed").write_text("")
        r = http.post("/api/instances/f-1/rewind?reason=fixed")
        assert r.status_code == 202
        r = http.post("/api/instances/f-1/rewind")
        assert r.status_code == 409
        assert r.json() == {"error": "instance f-1 is Running; only a Failed instance can be "
                                     "rewound"}
        r = http.post("/api/instances/f-1/restart")
        assert r.status_code == 202
        body = r.json()
        assert body["id"] != "f-1" and r.headers["location"] == body["statusQueryGetUri"]
        r = http.post("/api/instances/f-1/restart?restartWithNewInstanceId=false")
        assert r.status_code == 409
        assert http.post("/api/instances/f-1/restart?restartWithNewInstanceId=maybe") \
            .status_code == 400
