"""Operating-system errors are worded as what they are, naming the path, exit 2: a full
disk (ENOSPC, and the journal's own "short write"), a read-only file system (EROFS), a
`--store` that is a file. Never "internal error ... please report it", never a traceback."""

from __future__ import annotations

import errno
import gc
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.http import create_app
from tests.robustness.conftest import InProcessHTTP, fill
from tether.cli import main, os_error_line
from tether.loader import load

PROGRAM = '''
from tether import activity, orchestrator

@activity
def os_step(x):
    return x + 1

@orchestrator
async def os_wait(ctx, value):
    return await ctx.wait_for_external_event("Go")
'''


@pytest.fixture
def program(tmp_path: Path) -> Path:
    path = tmp_path / "os_prog.py"
    path.write_text(PROGRAM)
    return path


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "internal error" not in err and "please report" not in err, err
    return err


def test_a_full_disk_is_named_as_a_full_disk(program: Path, tmpfs: Callable[..., Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    store = tmpfs("256k") / "store"
    assert main(["start", f"{program}:os_wait", "--store", str(store), "--id", "w-1"]) == 0
    fill(store.parent)
    capsys.readouterr()
    assert main(["start", f"{program}:os_wait", "--store", str(store), "--id", "w-2"]) == 2
    err = one_line(capsys.readouterr().err)
    assert err.startswith((f"error: store {store}: ", f"error: {store}/")) and err.endswith(
        ": No space left on device (the disk is full: free space and run the command again; "
        "what was journaled before is kept)\n"), err
    assert main(["raise-event", "w-1", "Go", "--store", str(store), "--data",
                 json.dumps("x" * 10_000)]) == 2
    err = one_line(capsys.readouterr().err)  # names the instance the event was for
    assert err.startswith("error: instance w-1: "), err
    assert "No space left on device (the disk is full" in err
    assert main(["status", "w-1", "--store", str(store)]) == 0  # reading still works
    assert json.loads(capsys.readouterr().out)["runtimeStatus"] == "Pending"


def read_only_store(program: Path, mount: Path) -> Path:
    store = mount / "store"
    assert main(["start", f"{program}:os_wait", "--store", str(store), "--id", "w-1"]) == 0
    gc.collect()  # the command's backend (its SQLite index open for writing) is gone
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    return store


def test_a_read_only_store_is_named_as_read_only(program: Path, tmpfs: Callable[..., Path],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    store = read_only_store(program, tmpfs("1m"))
    capsys.readouterr()
    for argv in (["start", f"{program}:os_wait", "--id", "w-2"], ["terminate", "w-1"],
                 ["run", f"{program}:os_wait"]):
        assert main([*argv, "--store", str(store)]) == 2, argv
        err = one_line(capsys.readouterr().err)
        # (the index is read-only too: the write that names the path is the first one tried)
        assert err.startswith((f"error: {store}/", f"error: instance w-1: {store}/")), err
        assert "Read-only file system (the file system is read-only: use a writable " \
            "--store)" in err, err


def test_a_read_only_store_can_still_be_read(program: Path, tmpfs: Callable[..., Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Every read-only command works on a read-only store (its SQLite index is opened
    read-only: before, every command opened it in WAL mode, which writes -shm/-wal, and
    failed with 'index.sqlite: Read-only file system')."""
    store = read_only_store(program, tmpfs("1m"))
    capsys.readouterr()
    assert main(["status", "w-1", "--store", str(store)]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["runtimeStatus"] == "Pending"
    assert main(["list", "--store", str(store)]) == 0, capsys.readouterr().err
    assert [d["instanceId"] for d in json.loads(capsys.readouterr().out)] == ["w-1"]
    assert main(["history", "w-1", "--store", str(store)]) == 0, capsys.readouterr().err
    assert [e["eventType"] for e in json.loads(capsys.readouterr().out)] == ["created"]
    assert main(["status", "nope", "--store", str(store)]) == 2
    assert capsys.readouterr().err == f"error: no instance nope in {store}\n"
    assert main(["graph", f"{program}:os_wait", "--instance", "w-1", "--format", "json",
                 "--store", str(store)]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)
    http = InProcessHTTP(create_app(store, {"os_wait": load(str(program)).machine("os_wait")}))
    r = http.get("/api/instances/w-1")
    assert (r.status_code, r.json()["runtimeStatus"]) == (202, "Pending"), r.text
    assert [d["instanceId"] for d in http.get("/api/instances").json()] == ["w-1"]
    assert http.get("/api/instances/nope").status_code == 404


def test_a_read_only_store_without_a_usable_index_is_read_from_its_journals(
        program: Path, tmpfs: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    """No index file (a store copied without it), or one whose last commits are in a -wal
    that cannot be read without writing its -shm: the journals answer."""
    mount = tmpfs("1m")
    store = mount / "store"
    for n in (1, 2):
        assert main(["start", f"{program}:os_wait", "--store", str(store), "--id",
                     f"w-{n}"]) == 0
    gc.collect()
    for suffix in ("", "-wal", "-shm"):
        (store / f"index.sqlite{suffix}").unlink(missing_ok=True)
    (store / "index.sqlite-wal").write_bytes(b"\0" * 100)  # an unreadable -wal, no -shm
    (store / "index.sqlite").write_bytes(b"not sqlite")
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    capsys.readouterr()
    assert main(["list", "--store", str(store)]) == 0, capsys.readouterr().err
    assert [d["instanceId"] for d in json.loads(capsys.readouterr().out)] == ["w-1", "w-2"]
    assert main(["status", "w-2", "--store", str(store)]) == 0
    assert json.loads(capsys.readouterr().out)["runtimeStatus"] == "Pending"


@pytest.mark.parametrize("argv", [
    ["raise-event", "w-1", "Go"], ["worker", "{program}", "--until-idle"],
])
def test_writes_to_a_read_only_store_are_refused_in_one_line(
        program: Path, tmpfs: Callable[..., Path], capsys: pytest.CaptureFixture[str],
        argv: list[str]) -> None:
    store = read_only_store(program, tmpfs("1m"))
    capsys.readouterr()
    argv = [a.replace("{program}", str(program)) for a in argv]
    assert main([*argv, "--store", str(store)]) == 2, argv
    err = one_line(capsys.readouterr().err)
    assert err.startswith((f"error: {store}/", f"error: instance w-1: {store}/")), err
    assert err.endswith(": Read-only file system (the file system is read-only: use a "
                        "writable --store)\n"), err
    assert main(["status", "w-1", "--store", str(store)]) == 0  # and nothing changed
    assert json.loads(capsys.readouterr().out)["runtimeStatus"] == "Pending"


def test_serve_with_a_worker_refuses_a_read_only_store_in_one_line(
        program: Path, tmpfs: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Its worker could only fail (before: a traceback per restart, five times, then the
    server went down); without one the HTTP reads work (above)."""
    store = read_only_store(program, tmpfs("1m"))
    capsys.readouterr()
    assert main(["serve", str(program), "--store", str(store), "--port", "18979"]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"error: store {store}: Read-only file system (it can be read, not written): serve "
        "it with --no-worker to read it\n")


@pytest.mark.parametrize("argv", [
    ["start", "{program}:os_wait"], ["run", "{program}:os_wait"], ["list"], ["status", "x"],
    ["worker", "{program}", "--until-idle"], ["raise-event", "x", "Go"],
])
def test_a_store_that_is_a_file_is_named(program: Path, tmp_path: Path, argv: list[str],
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    argv = [a.replace("{program}", str(program)) for a in argv]
    assert main([*argv, "--store", str(afile)]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"error: store {afile}: is a file, not a store directory\n")
    monkeypatch.setenv("TETHER_STORE", str(afile))
    assert main(argv) == 2
    assert one_line(capsys.readouterr().err) == (
        f"error: store {afile}: is a file, not a store directory\n")


def test_http_answers_507_on_a_full_disk_and_still_reads(program: Path, tmp_path: Path,
                                                         tmpfs: Callable[..., Path]) -> None:
    store = tmpfs("1m") / "store"
    mdef = load(str(program)).machine("os_wait")
    http = InProcessHTTP(create_app(store, {"os_wait": mdef}))
    assert http.post("/api/orchestrators/os_wait/w-1").status_code == 202
    fill(store.parent)
    for url, body in (("/api/orchestrators/os_wait/w-2", None),
                      ("/api/instances/w-1/raiseEvent/Go", json.dumps("x" * 10_000))):
        r = http.post(url, content=body)
        assert r.status_code == 507, r.text
        assert r.json() == {"error": "the store's disk is full: retry once space is freed"}
        assert r.headers["retry-after"] == "60"
    assert http.get("/api/instances/w-1").json()["runtimeStatus"] == "Pending"
    assert [d["instanceId"] for d in http.get("/api/instances").json()] == ["w-1"]


@pytest.mark.parametrize(("error", "line"), [
    (OSError("short write to s/instances/a/journal: 10 of 99 bytes"),
     "short write to s/instances/a/journal: 10 of 99 bytes; is the disk full?"),
    (OSError(errno.ENOSPC, "No space left on device", "s/tmp/x"),
     "s/tmp/x: No space left on device (the disk is full: free space and run the command "
     "again; what was journaled before is kept)"),
    (OSError(errno.EACCES, "Permission denied", "s/instances"),
     "s/instances: Permission denied (permission denied: use a --store you may write)"),
    (OSError(errno.EIO, "Input/output error"), "Input/output error"),
])
def test_os_error_lines(error: OSError, line: str) -> None:
    assert os_error_line(error) == line
