"""Orchestration listings leave entities out, on every backend: an entity is stored as an
instance whose id is `@name@key`, and `Backend.query`, `Client.list`/`query`, the
metrics, `tether list`, `GET /api/instances` and `GET /api/statusCounts` show the
orchestrations only, a page of N holding N of them however many entities are
interleaved. Entities have their own listing (`Client.entities`, `tether entity list`,
`GET /api/entities`). The orchestration commands given an entity's id (status, purge,
events, terminate, ...) refuse it with one line saying where the entity is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runtime.backends import open_backend
from runtime.backends.base import Backend, NewInstance, Query
from runtime.client import Client, NotAnOrchestration
from runtime.engine.entities import created_data
from runtime.entities.ids import EntityId
from runtime.entities.senders import new_incarnation
from runtime.metrics import store_snapshot
from tests.backends.support import Stores
from tests.entities import kinds  # noqa: F401  (registers the entities)
from tests.http.conftest import Server, _store, run_server
from tether.cli import main

N = 130  # orchestrations, and as many entities, created alternately
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def interleaved(backend: Backend) -> tuple[list[str], list[str]]:
    """N orchestration instances and N entities, created one of each in turn (each at
    its own time, so they interleave in creation order too); (orchestrations, entities)
    in creation order."""
    orchestrations, entities, items = [], [], []
    for n in range(N):
        ts = (START + timedelta(seconds=2 * n)).isoformat().replace("+00:00", "Z")
        then = (START + timedelta(seconds=2 * n + 1)).isoformat().replace("+00:00", "Z")
        orchestrations.append(f"o-{n:03d}")
        items.append(NewInstance(f"o-{n:03d}", ts, {"name": "flow", "input": n, "parent": None,
                                                   "generation": 0, "start": ts}))
        entity = EntityId("counter", f"k{n:03d}")
        entities.append(str.__str__(entity))
        items.append(NewInstance(str.__str__(entity), then, created_data(entity, then, new_incarnation())))
    assert len(backend.create_many(items)) == 2 * N
    return orchestrations, entities


def flat(pages: list[list[str]]) -> list[str]:
    return [instance_id for page in pages for instance_id in page]


def every_page(backend: Backend, query: Query) -> list[list[str]]:
    pages, token = [], None
    while True:
        page = backend.query(Query(**{**query.__dict__, "continuation": token}))
        pages.append([row.instance_id for row in page.items])
        token = page.continuation
        if token is None:
            return pages


@pytest.fixture
def store(stores: Stores) -> Iterator[str]:
    spec = stores()
    backend = open_backend(spec)
    backend.ensure()
    try:
        yield spec
    finally:
        backend.close()


def test_a_page_of_orchestrations_holds_no_entity_and_is_full(store: str) -> None:
    backend = open_backend(store)
    try:
        orchestrations, entities = interleaved(backend)
        pages = every_page(backend, Query(top=100))
        assert [len(p) for p in pages] == [100, N - 100]
        assert flat(pages) == orchestrations
        newest = every_page(backend, Query(top=100, newest_first=True))
        assert flat(newest) == orchestrations[::-1] and len(newest[0]) == 100
        pending = every_page(backend, Query(top=100, statuses=frozenset({"Pending"})))
        assert flat(pending) == orchestrations and len(pending[0]) == 100
        # asked for: the entities alone, or everything
        only = every_page(backend, Query(top=100, entities=True))
        assert [len(p) for p in only] == [100, N - 100] and flat(only) == entities
        both = flat(every_page(backend, Query(top=100, entities=None)))
        assert sorted(both) == sorted(orchestrations + entities) and len(both) == 2 * N
        # an entity's name or prefix finds nothing among the orchestrations
        assert backend.query(Query(id_prefix="@counter@")).items == []
        assert backend.query(Query(name="@counter")).items == []
        assert len(backend.query(Query(name="@counter", entities=True, top=1000)).items) == N
    finally:
        backend.close()


def test_client_listings_counts_and_metrics_show_orchestrations(store: str) -> None:
    with Client(store) as client:
        orchestrations, entities = interleaved(client.backend)
        assert [d["instanceId"] for d in client.list()] == orchestrations
        assert [d["instanceId"] for d in client.list(top=5, newest_first=True)] == \
            orchestrations[::-1][:5]
        docs, token = client.query(Query(top=100))
        assert [d["instanceId"] for d in docs] == orchestrations[:100] and token is not None
        docs, token = client.query(Query(top=100, continuation=token))
        assert [d["instanceId"] for d in docs] == orchestrations[100:] and token is None
        asked, _ = client.query(Query(top=3, entities=True))
        assert [d["id"] for d in asked] == entities[:3]  # entities come as entity documents
        seen, cursor = [], None
        while True:
            page, cursor = client.entities(limit=100, cursor=cursor)
            seen += [d["id"] for d in page]
            if cursor is None:
                break
        assert seen == entities
        snapshot = store_snapshot(client)
        assert snapshot["instances"]["Pending"] == N and snapshot["instances"]["Running"] == 0
        assert client.purge_where(status={"Pending"}) == []  # not ended: kept, as before


def test_cli_list_shows_no_entity(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    backend = open_backend(store)
    try:
        orchestrations, _ = interleaved(backend)
    finally:
        backend.close()
    assert main(["list", "--store", store]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [d["instanceId"] for d in listed] == orchestrations


def entity_with_state(store: str) -> str:
    from tests.entities.support import settle

    with Client(store) as client:
        client.signal_entity("@counter@kept", "add", 4)
    settle(store)
    return "@counter@kept"


@pytest.mark.parametrize(("argv", "says"), [
    (["status"], "it has no orchestration status; `tether entity get @counter@kept` "),
    (["purge"], "it is not purged; `tether entity clean` (Client.clean_entities) removes"),
    (["terminate"], "`terminate` does not apply to it; entities take operations"),
    (["raise-event"], "event 'go' was not sent"),
    (["rewind"], "it cannot be rewound"),
    (["restart"], "it cannot be restarted"),
], ids=["status", "purge", "terminate", "raise-event", "rewind", "restart"])
def test_orchestration_commands_refuse_an_entity_in_one_line(
        store: str, capsys: pytest.CaptureFixture[str], argv: list[str], says: str) -> None:
    entity = entity_with_state(store)
    extra = ["go"] if argv[0] == "raise-event" else []
    code = main([*argv, entity, *extra, "--store", store])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith(f"error: {entity} is an entity, not an orchestration instance: ")
    assert says in err and err.count("\n") == 1
    with Client(store) as client:  # nothing was done to it
        assert client.entity_state(entity) == {"value": 4}
        assert client.entity(entity) is not None


def test_the_client_refuses_an_entity_id_before_asking_the_store(store: str) -> None:
    entity = entity_with_state(store)
    with Client(store) as client:
        for call in (lambda: client.status(entity), lambda: client.purge(entity),
                     lambda: client.terminate(entity), lambda: client.suspend(entity),
                     lambda: client.resume(entity), lambda: client.raise_event(entity, "x"),
                     lambda: client.wait(entity, timeout=1)):
            with pytest.raises(NotAnOrchestration, match="is an entity, not an orchestration"):
                call()
        assert client.history(entity)[-1]["eventType"] == "checkpoint"  # still readable
        assert client.entity_state(entity) == {"value": 4}


@pytest.fixture
def passive_interleaved(stores: Stores) -> Iterator[tuple[Server, list[str]]]:
    store = _store(stores)
    backend = open_backend(store)
    try:
        backend.ensure()
        orchestrations, _ = interleaved(backend)
    finally:
        backend.close()
    for server in run_server(store, worker=False):
        yield server, orchestrations


def instance_ids(answer: Any) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [d["instanceId"] for d in answer.json()]


def test_http_instance_list_and_counts_leave_entities_out(
        passive_interleaved: tuple[Server, list[str]]) -> None:
    server, orchestrations = passive_interleaved
    first = server.http.get("/api/instances?top=100")
    assert instance_ids(first) == orchestrations[::-1][:100]
    token = first.headers["x-ms-continuation-token"]
    rest = server.http.get("/api/instances?top=100", headers={"x-ms-continuation-token": token})
    assert instance_ids(rest) == orchestrations[::-1][100:]
    assert "x-ms-continuation-token" not in rest.headers
    assert instance_ids(server.http.get("/api/instances")) == orchestrations[::-1]
    live = server.http.get("/api/instances?runtimeStatus=Pending,Running&top=100")
    assert instance_ids(live) == orchestrations[::-1][:100]
    counts = server.http.get("/api/statusCounts").json()
    assert counts["Pending"] == N and counts["Running"] == 0
    entities = server.http.get("/api/entities?top=1000")
    assert entities.status_code == 200 and len(entities.json()) == N


def test_http_status_of_an_entity_is_404_naming_its_route(
        passive_interleaved: tuple[Server, list[str]]) -> None:
    server, _ = passive_interleaved
    for method, path in (("GET", "/api/instances/@counter@k001"),
                         ("DELETE", "/api/instances/@counter@k001"),
                         ("POST", "/api/instances/@counter@k001/terminate")):
        answer = server.http.request(method, path)
        assert answer.status_code == 404, (method, answer.text)
        message = answer.json()["error"] if isinstance(answer.json(), dict) else answer.text
        assert "@counter@k001 is an entity, not an orchestration instance" in message
        assert "GET /api/entities/counter/k001 shows it" in message
    assert server.http.get("/api/entities/counter/k001").status_code in (200, 404)


def test_the_filters_survive_a_store_made_before_them(tmp_path: Path) -> None:
    """The file index gains its partial indexes on an index made without them (the
    schema's CREATE INDEX IF NOT EXISTS runs whenever it is opened)."""
    import sqlite3

    store = tmp_path / "old"
    backend = open_backend(str(store))
    backend.ensure()
    try:
        orchestrations, _ = interleaved(backend)
    finally:
        backend.close()
    db = sqlite3.connect(store / "index.sqlite")
    db.execute("DROP INDEX orchestrations_by_created")
    db.execute("DROP INDEX orchestrations_by_status")
    db.commit()
    db.close()
    backend = open_backend(str(store))
    try:
        assert flat(every_page(backend, Query(top=100))) == orchestrations
    finally:
        backend.close()
    db = sqlite3.connect(store / "index.sqlite")
    names = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    db.close()
    assert {"orchestrations_by_created", "orchestrations_by_status"} <= names


def test_tether_run_refuses_an_entity_id(store: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    program = tmp_path / "flows_prog.py"
    program.write_text("from tether import orchestrator\n\n\n@orchestrator\n"
                       "async def flow(ctx, n):\n    return n\n")
    entity = entity_with_state(store)
    code = main(["run", f"{program}:flow", "--id", entity, "--store", store])
    _, err = capsys.readouterr()
    assert code == 2
    assert err == (f"error: --id {entity} names an entity (@name@key), not an orchestration "
                   "instance; pick another --id\n")
    with Client(store) as client:
        assert client.entity_state(entity) == {"value": 4}

