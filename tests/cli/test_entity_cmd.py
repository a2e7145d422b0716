"""`tether entity signal|get|list|clean` on both backends: what a signal does once a
worker has applied it, idempotency keys, paging, cleaning, and one line with exit 2 for
every bad input (with nothing sent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.backends.support import Stores
from tether.cli import main

MODULE = '''
from tether import entity, EntityContext


@entity
class Tally:
    def __init__(self) -> None:
        self.value = 0

    def add(self, amount: int) -> int:
        self.value += amount
        return self.value

    def reset(self) -> None:
        self.value = 0


@entity
def gauge(ctx: EntityContext) -> None:
    if ctx.operation_name == "set":
        ctx.set_state(ctx.get_input())
    elif ctx.operation_name == "clear":
        ctx.destruct_on_exit()
    else:
        raise ValueError(f"gauge has no operation {ctx.operation_name!r}")
'''


@pytest.fixture
def project(tmp_path: Path, stores: Stores) -> tuple[Path, str]:
    path = tmp_path / "tally_entities.py"
    path.write_text(MODULE)
    return path, stores()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def signal(capsys: pytest.CaptureFixture[str], path: Path | None, store: str, entity_id: str,
           op: str, *extra: str) -> tuple[int, str, str]:
    """`tether entity signal`, with `--src` unless `path` is None."""
    src = ["--src", str(path)] if path is not None else []
    return run(capsys, "entity", "signal", entity_id, op, *extra, "--store", store, *src)


def work(capsys: pytest.CaptureFixture[str], path: Path, store: str) -> None:
    """Apply everything queued (a worker serving the module until nothing is left)."""
    code, _, err = run(capsys, "worker", str(path), "--store", store, "--until-idle")
    assert code == 0, err


def get(capsys: pytest.CaptureFixture[str], store: str, entity_id: str, *extra: str) -> Any:
    code, out, err = run(capsys, "entity", "get", entity_id, "--store", store, *extra)
    assert code == 0, err
    return json.loads(out)


def test_signal_then_get_shows_the_applied_state(project: tuple[Path, str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path, store = project
    for amount in (5, 7, -2):
        code, out, err = signal(capsys, path, store, "@tally@t1", "add", "--input", str(amount))
        assert (code, out, err) == (0, "", "")
    assert signal(capsys, path, store, "@gauge@g", "set", "--input", '{"level": 3}')[0] == 0
    # once the store holds a tally, the client knows the name without --src
    assert signal(capsys, None, store, "@tally@t1", "add", "--input", "0")[0] == 0
    work(capsys, path, store)
    assert get(capsys, store, "@tally@t1") == {"value": 10}
    assert get(capsys, store, "@Gauge@g") == {"level": 3}  # the name is case-insensitive
    doc = get(capsys, store, "@tally@t1", "--full")
    assert doc["id"] == "@tally@t1" and doc["name"] == "tally" and doc["key"] == "t1"
    assert doc["exists"] is True and doc["state"] == {"value": 10}
    assert doc["queueLength"] == 0 and doc["lockedBy"] is None
    assert doc["lastModifiedTime"]


def test_the_same_key_is_applied_once(project: tuple[Path, str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path, store = project
    for _ in range(3):  # a retried command: the key makes the retries no-ops
        assert signal(capsys, path, store, "@tally@k", "add", "--input", "4",
                      "--key", "payment-17")[0] == 0
    assert signal(capsys, path, store, "@tally@k", "add", "--input", "1",
                  "--key", "payment-18")[0] == 0
    work(capsys, path, store)
    assert get(capsys, store, "@tally@k") == {"value": 5}


def test_an_entity_without_state_is_not_found(project: tuple[Path, str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    _, store = project
    code, out, err = run(capsys, "entity", "get", "@tally@never", "--store", store)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "@tally@never" in err and err.count("\n") == 1
    code, out, err = run(capsys, "entity", "get", "@tally@never", "--full", "--store", store)
    assert code == 2 and "@tally@never" in err and err.count("\n") == 1


def test_list_pages_through_every_entity_once(project: tuple[Path, str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path, store = project
    keys = [f"e{i:02d}" for i in range(7)]
    for key in keys:
        assert signal(capsys, path, store, f"@tally@{key}", "add", "--input", "1")[0] == 0
    assert signal(capsys, path, store, "@gauge@only", "set", "--input", "1")[0] == 0
    work(capsys, path, store)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        argv = ["entity", "list", "--name", "Tally", "--limit", "3", "--store", store]
        code, out, err = run(capsys, *argv, *(["--cursor", cursor] if cursor else []))
        assert code == 0, err
        page = json.loads(out)
        assert len(page["entities"]) <= 3
        seen += [doc["id"] for doc in page["entities"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [f"@tally@{k}" for k in keys] and pages == 3
    code, out, _ = run(capsys, "entity", "list", "--store", store)
    everything = json.loads(out)
    assert {d["id"] for d in everything["entities"]} == {*seen, "@gauge@only"}
    assert everything["nextCursor"] is None


def test_clean_removes_emptied_entities_and_prints_both_counts(
        project: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    path, store = project
    assert signal(capsys, path, store, "@gauge@a", "set", "--input", "1")[0] == 0
    assert signal(capsys, path, store, "@gauge@b", "set", "--input", "2")[0] == 0
    work(capsys, path, store)
    assert signal(capsys, path, store, "@gauge@a", "clear")[0] == 0
    work(capsys, path, store)
    code, out, err = run(capsys, "entity", "clean", "--store", store)
    assert code == 0, err
    counts = json.loads(out)
    assert counts == {"removedEmpty": 1, "releasedLocks": 0}
    code, out, _ = run(capsys, "entity", "list", "--store", store)
    assert [d["id"] for d in json.loads(out)["entities"]] == ["@gauge@b"]
    code, out, _ = run(capsys, "entity", "clean", "--store", store)
    assert json.loads(out) == {"removedEmpty": 0, "releasedLocks": 0}


@pytest.mark.parametrize(("argv", "message"), [
    (["signal", "@tally", "add"], "'@tally': it has no key"),
    (["signal", "tally@t1", "add"], "'tally@t1': write it as @name@key"),
    (["signal", "@tally@a b", "add"], "invalid entity key 'a b'"),
    (["signal", "@tally@t1", "add", "--input", "{oops"], "--input is not valid JSON"),
    (["signal", "@tally@t1", "add", "--at", "tomorrow"], "--at: 'tomorrow' is not an ISO 8601 time"),
    (["signal", "@tally@t1", "add", "--at", "2030-01-01T00:00:00"], "needs a time zone"),
    (["signal", "@tally@t1", "add", "--key", ""], "--key is empty"),
    (["signal", "@tally@t1", "add", "--key", "x" * 201], "invalid idempotency key"),
    (["signal", "@nosuch@t1", "add", "--src", "{src}"], "no entity named 'nosuch'"),
    (["signal", "@tally@t1", "multiply", "--src", "{src}"],
     "entity 'tally' has no operation 'multiply'; its operations: add, reset, delete"),
    (["get", "@@t1"], "invalid entity name ''"),
    (["list", "--limit", "0"], "--limit must be between 1 and 1000, not 0"),
    (["list", "--name", "a b"], "--name 'a b' is not an entity name"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_input_is_one_line_exit_2_and_sends_nothing(
        project: tuple[Path, str], capsys: pytest.CaptureFixture[str], argv: list[str],
        message: str) -> None:
    path, store = project
    argv = [a.replace("{src}", str(path)) for a in argv]
    code, out, err = run(capsys, "entity", *argv, "--store", store)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    code, out, _ = run(capsys, "entity", "list", "--store", store)
    assert json.loads(out) == {"entities": [], "nextCursor": None}


def test_an_unknown_operation_sent_without_src_fails_only_itself(
        project: tuple[Path, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --src the CLI cannot know the operations; the worker's entity refuses the
    unknown one, and the operations around it are applied."""
    from runtime.entities.define import ENTITIES

    path, store = project
    assert signal(capsys, path, store, "@tally@m", "add", "--input", "2")[0] == 0
    with monkeypatch.context() as patch:  # as a fresh `tether` process without --src
        patch.delitem(ENTITIES, "tally")
        assert signal(capsys, None, store, "@tally@m", "multiply", "--input", "3")[0] == 0
    assert signal(capsys, path, store, "@tally@m", "add", "--input", "1")[0] == 0
    work(capsys, path, store)
    assert get(capsys, store, "@tally@m") == {"value": 3}


def test_the_first_signal_to_a_name_needs_the_module(
        project: tuple[Path, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --src (and no module of this process defining it), a name the store has
    never held is refused, with the way out."""
    from runtime.entities.define import ENTITIES

    path, store = project
    monkeypatch.delitem(ENTITIES, "tally", raising=False)  # another test may have loaded it
    code, out, err = signal(capsys, None, store, "@tally@t1", "add", "--input", "1")
    assert code == 2 and out == ""
    assert "no entity named 'tally' is registered" in err
    assert err.rstrip().endswith("pass --src SRC, the module that defines it")
    assert err.count("\n") == 1
    assert signal(capsys, path, store, "@tally@t1", "add", "--input", "1")[0] == 0
    monkeypatch.delitem(ENTITIES, "tally", raising=False)
    assert signal(capsys, None, store, "@tally@t1", "add", "--input", "1")[0] == 0
