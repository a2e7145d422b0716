"""The entity routes on both backends, against a live server running a worker over
examples/counter_entity.py: signal (202) then read (200, 404), idempotency keys, the
list and its paging, and one JSON line with 400 for every bad request, with nothing
queued."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.backends.support import Stores
from tests.http.conftest import Server, _store, run_server

COUNTER = Path(__file__).resolve().parents[2] / "examples" / "counter_entity.py"


@pytest.fixture
def served(stores: Stores) -> Iterator[Server]:
    yield from run_server(_store(stores), source=COUNTER, worker=True)


def state_when(server: Server, path: str, expected: Any, timeout: float = 20.0) -> httpx.Response:
    """GET `path` until it answers 200 with `expected` (the worker applies signals a
    moment after they are accepted), or the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        r = server.http.get(path)
        if (r.status_code == 200 and r.json() == expected) or time.monotonic() > deadline:
            return r
        time.sleep(0.05)


def test_signal_then_read_the_state(served: Server) -> None:
    assert served.http.get("/api/entities/counter/c1").status_code == 404
    for amount in (5, 7):
        r = served.http.post("/api/entities/counter/c1?op=add", content=str(amount))
        assert r.status_code == 202, r.text
    r = served.http.post("/api/entities/Counter/c1", params={"op": "add"}, json=-2)
    assert r.status_code == 202  # the name in any case
    r = state_when(served, "/api/entities/counter/c1", {"value": 10})
    assert (r.status_code, r.json()) == (200, {"value": 10})
    # the function form, with an empty body (null) for an operation without input
    assert served.http.post("/api/entities/tally/t?op=add", content="3").status_code == 202
    assert state_when(served, "/api/entities/tally/t", 3).json() == 3
    assert served.http.post("/api/entities/tally/t?op=reset").status_code == 202
    assert state_when(served, "/api/entities/tally/t", 0).json() == 0


def test_a_retried_request_with_the_same_key_is_applied_once(served: Server) -> None:
    for _ in range(3):
        r = served.http.post("/api/entities/counter/k?op=add", content="4",
                             headers={"Idempotency-Key": "order-17"})
        assert r.status_code == 202
    for _ in range(2):
        assert served.http.post("/api/entities/counter/k?op=add&key=order-18",
                                content="1").status_code == 202
    # the query form and the header form are one key space
    assert served.http.post("/api/entities/counter/k?op=add&key=order-17",
                            content="4").status_code == 202
    assert state_when(served, "/api/entities/counter/k", {"value": 5}).json() == {"value": 5}
    time.sleep(0.5)  # a duplicate applied late would show now
    assert served.http.get("/api/entities/counter/k").json() == {"value": 5}


def test_the_list_pages_by_continuation_token(served: Server) -> None:
    keys = [f"p{i}" for i in range(5)]
    for key in keys:
        assert served.http.post(f"/api/entities/counter/{key}?op=add", content="1").status_code == 202
    assert served.http.post("/api/entities/tally/other?op=add", content="1").status_code == 202
    for key in keys:
        state_when(served, f"/api/entities/counter/{key}", {"value": 1})
    state_when(served, "/api/entities/tally/other", 1)

    seen: list[dict[str, Any]] = []
    headers: dict[str, str] = {}
    pages = 0
    while True:
        r = served.http.get("/api/entities/counter?top=2&fetchState=true", headers=headers)
        assert r.status_code == 200, r.text
        assert len(r.json()) <= 2
        seen += r.json()
        pages += 1
        token = r.headers.get("x-ms-continuation-token")
        if token is None:
            break
        headers = {"x-ms-continuation-token": token}
    assert [d["id"] for d in seen] == [f"@counter@{k}" for k in keys] and pages == 3
    for doc in seen:
        assert doc["state"] == {"value": 1} and doc["exists"] is True
        assert doc["queueLength"] == 0 and doc["lockedBy"] is None
        assert doc["name"] == "counter" and doc["lastModifiedTime"]
    everything = served.http.get("/api/entities").json()
    assert {d["id"] for d in everything} == {d["id"] for d in seen} | {"@tally@other"}
    assert all("state" not in d for d in everything)  # fetchState is off by default
    # the token also works as a parameter
    first = served.http.get("/api/entities/counter?top=4")
    token = first.headers["x-ms-continuation-token"]
    rest = served.http.get("/api/entities/counter", params={"top": 4, "continuationToken": token})
    assert [d["id"] for d in rest.json()] == ["@counter@p4"]
    etag = first.headers["etag"]
    again = served.http.get("/api/entities/counter?top=4", headers={"If-None-Match": etag})
    assert again.status_code == 304


@pytest.mark.parametrize(("method", "url", "body", "headers", "error"), [
    ("POST", "/api/entities/counter/a%20b?op=add", "1", {},
     "invalid entity key 'a b' for entity 'counter'"),
    ("POST", "/api/entities/9lives/k?op=add", "1", {}, "invalid entity name '9lives'"),
    ("POST", "/api/entities/counter/k", "1", {}, "op is required"),
    ("POST", "/api/entities/counter/k?op=a-b", "1", {}, "invalid operation name 'a-b'"),
    ("POST", "/api/entities/counter/k?op=add", "{oops", {}, "malformed JSON body"),
    ("POST", "/api/entities/counter/k?op=add", "NaN", {}, "malformed JSON body"),
    ("POST", "/api/entities/nosuch/k?op=add", "1", {}, "nosuch"),
    ("POST", "/api/entities/counter/k?op=multiply", "1", {}, "multiply"),
    ("POST", "/api/entities/counter/k?op=add&at=soon", "1", {}, "at is not an ISO 8601 time"),
    ("POST", "/api/entities/counter/k?op=add&key=a", "1", {"Idempotency-Key": "b"},
     "the Idempotency-Key header 'b' and key='a' differ"),
    ("POST", "/api/entities/counter/k?op=add", "1", {"Idempotency-Key": "has space"},
     "idempotency key 'has space' is not 1-200 printable ASCII"),
    ("POST", "/api/entities/counter/k?op=add&opp=1", "1", {}, "unknown parameter 'opp'"),
    ("GET", "/api/entities/counter/k?fetchState=true", None, {},
     "unknown parameter 'fetchState'; this route takes none"),
    ("GET", "/api/entities?top=0", None, {}, "top must be a positive integer, not '0'"),
    ("GET", "/api/entities?top=1001", None, {}, "top must be at most 1000"),
    ("GET", "/api/entities?fetchState=yes", None, {}, "fetchState must be true or false"),
    ("GET", "/api/entities/a%20b", None, {}, "invalid entity name 'a b'"),
    ("GET", "/api/entities/counter/a%20b", None, {}, "invalid entity key 'a b'"),
    ("GET", "/api/entities?continuationToken=forged", None, {}, "forged"),
], ids=lambda v: v if isinstance(v, str) and v.startswith("/") else None)
def test_bad_request_is_one_line_400_and_queues_nothing(
        served: Server, method: str, url: str, body: str | None, headers: dict[str, str],
        error: str) -> None:
    r = served.http.request(method, url, content=body, headers=headers)
    assert r.status_code == 400, r.text
    message = r.json()["error"]
    assert error in message, message
    assert "\n" not in message and "Traceback" not in message
    assert str(served.store) not in message
    time.sleep(0.2)
    assert served.http.get("/api/entities").json() == []


def test_an_unknown_entity_reads_as_404(served: Server) -> None:
    r = served.http.get("/api/entities/counter/never")
    assert r.status_code == 404 and r.json() == {"error": "no entity @counter@never"}
    assert served.http.get("/api/entities/nosuch").json() == []
