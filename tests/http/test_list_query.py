"""`GET /api/instances` paging and filters, `GET /api/statusCounts`, conditional
requests, and the `GET /api/events` stream, over a real server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from runtime.http import queries
from tests.http.conftest import Server


@pytest.fixture
def eight(passive: Server) -> Iterator[Server]:
    """Pending instances a-0..a-4 (wait_for_go) and b-0..b-2 (build_report), created in
    that order; a-1 terminated."""
    for n in range(5):
        assert passive.http.post(f"/api/orchestrators/wait_for_go/a-{n}").status_code == 202
    for n in range(3):
        assert passive.http.post(f"/api/orchestrators/build_report/b-{n}", json={}).status_code == 202
    assert passive.http.post("/api/instances/a-1/terminate").status_code == 202
    yield passive


def ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [d["instanceId"] for d in r.json()]


def test_pages_follow_the_continuation_token_to_the_end(eight: Server) -> None:
    seen: list[str] = []
    headers: dict[str, str] = {}
    pages = 0
    while True:
        r = eight.http.get("/api/instances?top=3", headers=headers)
        seen += ids(r)
        pages += 1
        token = r.headers.get("x-ms-continuation-token")
        if token is None:
            break
        headers = {"x-ms-continuation-token": token}
    assert pages == 3
    assert seen == ["b-2", "b-1", "b-0", "a-4", "a-3", "a-2", "a-1", "a-0"]  # newest first, once each
    everything = eight.http.get("/api/instances")
    assert ids(everything) == seen and "x-ms-continuation-token" not in everything.headers


def test_the_token_also_works_as_a_parameter_and_survives_new_instances(eight: Server) -> None:
    first = eight.http.get("/api/instances?top=4")
    assert ids(first) == ["b-2", "b-1", "b-0", "a-4"]
    token = first.headers["x-ms-continuation-token"]
    # instances created meanwhile are newer: they do not shift the next page
    eight.http.post("/api/orchestrators/wait_for_go/late-1")
    second = eight.http.get("/api/instances", params={"top": 4, "continuationToken": token})
    assert ids(second) == ["a-3", "a-2", "a-1", "a-0"]


@pytest.mark.parametrize(("query", "want"), [
    ("name=build_report", ["b-2", "b-1", "b-0"]),
    ("instanceIdPrefix=a-", ["a-4", "a-3", "a-2", "a-1", "a-0"]),
    ("instanceIdPrefix=b-1", ["b-1"]),
    ("runtimeStatus=Terminated", ["a-1"]),
    ("runtimeStatus=Pending&name=wait_for_go&top=2", ["a-4", "a-3"]),
    ("name=nothing_by_this_name", []),
], ids=["name", "prefix", "prefix-one", "status", "combined", "no-match"])
def test_filters(eight: Server, query: str, want: list[str]) -> None:
    assert ids(eight.http.get(f"/api/instances?{query}")) == want


def test_time_ranges_on_created_and_last_updated(eight: Server) -> None:
    docs = {d["instanceId"]: d for d in eight.http.get("/api/instances").json()}
    created = docs["a-3"]["createdTime"]
    assert ids(eight.http.get("/api/instances", params={"createdTimeFrom": created,
                                                         "name": "wait_for_go"})) == ["a-4", "a-3"]
    assert ids(eight.http.get("/api/instances", params={"createdTimeTo": created})) == \
        ["a-2", "a-1", "a-0"]
    # a-1 was terminated last: it is the only one updated at or after its own update
    updated = docs["a-1"]["lastUpdatedTime"]
    assert ids(eight.http.get("/api/instances", params={"lastUpdatedTimeFrom": updated})) == ["a-1"]
    assert "a-1" not in ids(eight.http.get("/api/instances",
                                           params={"lastUpdatedTimeTo": updated}))


def test_counts_per_status_with_filters(eight: Server) -> None:
    r = eight.http.get("/api/statusCounts")
    assert r.status_code == 200
    assert r.json() == {"Pending": 7, "Running": 0, "Completed": 0, "Failed": 0,
                        "Terminated": 1, "Suspended": 0, "ContinuedAsNew": 0}
    assert eight.http.get("/api/statusCounts?name=build_report").json()["Pending"] == 3
    assert eight.http.get("/api/statusCounts?instanceIdPrefix=a-").json()["Terminated"] == 1
    refused = eight.http.get("/api/statusCounts?runtimeStatus=Pending")
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("unknown parameter 'runtimeStatus'; use name, ")


def test_conditional_requests_answer_304_until_something_changes(eight: Server) -> None:
    for path in ("/api/instances?top=3", "/api/statusCounts"):
        first = eight.http.get(path)
        etag = first.headers["etag"]
        again = eight.http.get(path, headers={"if-none-match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
    eight.http.post("/api/orchestrators/wait_for_go/new-1")
    changed = eight.http.get("/api/instances?top=3", headers={"if-none-match": etag})
    assert changed.status_code == 200 and ids(changed)[0] == "new-1"


@pytest.mark.parametrize(("query", "error"), [
    ("top=0", "top must be a positive integer, not '0'"),
    ("top=1001", "top must be at most 1000 (follow the continuation token for more), not 1001"),
    ("createdTimeFrom=soon", "createdTimeFrom is not an ISO 8601 time: 'soon'"),
    ("lastUpdatedTimeTo=x", "lastUpdatedTimeTo is not an ISO 8601 time: 'x'"),
    ("continuationToken=bm9wZQ", "continuation token 'bm9wZQ' is not one this server gave; "
                                 "start again without it"),
    ("instanceIdprefix=a", "unknown parameter 'instanceIdprefix'; use runtimeStatus, name, "
                           "instanceIdPrefix, createdTimeFrom, createdTimeTo, lastUpdatedTimeFrom, "
                           "lastUpdatedTimeTo, top, continuationToken"),
], ids=["top-zero", "top-big", "bad-from", "bad-updated", "bad-token", "misspelt"])
def test_bad_parameters_are_one_line_400(eight: Server, query: str, error: str) -> None:
    r = eight.http.get(f"/api/instances?{query}")
    assert r.status_code == 400 and r.json() == {"error": error}


def test_a_bad_token_header_is_400_too(eight: Server) -> None:
    r = eight.http.get("/api/instances", headers={"x-ms-continuation-token": "%%%"})
    assert r.status_code == 400 and "continuation token '%%%'" in r.json()["error"]


def _read_events(url: str, headers: dict[str, str], out: list[dict[str, Any]],
                 ready: threading.Event) -> None:
    with httpx.stream("GET", url, headers=headers, timeout=30) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                out.append({"event": event, **json.loads(line[5:])})
                ready.set()
                if len(out) == 2:
                    return


def test_events_say_when_the_store_changed(passive: Server) -> None:
    got: list[dict[str, Any]] = []
    ready = threading.Event()
    reader = threading.Thread(target=_read_events, args=(
        f"{passive.url}/api/events?timeout=20", {}, got, ready))
    reader.start()
    assert ready.wait(10)
    assert got[0]["event"] == "version"
    time.sleep(1.5)  # nothing happens: no event
    assert len(got) == 1
    passive.http.post("/api/orchestrators/wait_for_go/e-1")
    reader.join(10)
    assert [g["event"] for g in got] == ["version", "changed"]
    assert got[1]["version"] != got[0]["version"]


def test_events_with_timeout_zero_answer_the_version_and_end(passive: Server) -> None:
    r = passive.http.get("/api/events?timeout=0")
    assert r.status_code == 200
    assert r.text.startswith("retry: 2000\nevent: version\ndata: {\"version\": ")
    assert passive.http.get("/api/events?timeout=soon").status_code == 400


def test_the_version_changes_with_every_journal_record(passive: Server) -> None:
    from runtime.client import Client
    from runtime.http.live import store_version

    client = Client(passive.store)
    empty = store_version(client)
    passive.http.post("/api/orchestrators/wait_for_go/v-1")
    created = store_version(client)
    passive.http.post("/api/instances/v-1/suspend")
    suspended = store_version(client)
    assert len({empty, created, suspended}) == 3
    assert store_version(client) == suspended  # stable while nothing happens


def test_tokens_round_trip_and_order() -> None:
    from datetime import UTC, datetime

    key = (datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), "order:17")
    assert queries._decode_token(queries._encode_token(key)) == key
    with pytest.raises(queries.QueryError):
        queries._decode_token(queries._encode_token(key)[:-3] + "!!!")


def test_counts_and_status_filter_agree_with_the_status_document(server: Server) -> None:
    # regression: the file index kept a waiting instance as Pending after its first step
    # (until its worker let go of it), so the counts said Pending while the instance's
    # own status said Running, and runtimeStatus=Running found nothing
    server.http.post("/api/orchestrators/wait_for_go/w-1", json="note")
    deadline = time.monotonic() + 5  # (on the file store its first step takes a moment)
    while time.monotonic() < deadline and not any(
            e["eventType"] == "checkpoint" for e in server.http.get(
                "/api/instances/w-1?showHistory=true").json()["historyEvents"]):
        time.sleep(0.05)
    shown = server.http.get("/api/instances/w-1").json()["runtimeStatus"]
    counts = server.http.get("/api/statusCounts").json()
    assert counts[shown] == 1 and sum(counts.values()) == 1
    assert ids(server.http.get(f"/api/instances?runtimeStatus={shown}")) == ["w-1"]
    others = [s for s in queries.RUNTIME_STATUSES if s != shown]
    assert ids(server.http.get("/api/instances", params={"runtimeStatus": ",".join(others)})) == []
