"""`DELETE /api/instances?...`: purge the ended instances a filter matches, as Durable
Functions does; instances that have not ended are kept."""

from __future__ import annotations

import pytest

from runtime.clock import parse_iso
from tests.http.conftest import Server

SINCE_EVER = "createdTimeFrom=1970-01-01T00:00:00Z"


def _ids(server: Server) -> set[str]:
    return {d["instanceId"] for d in server.http.get("/api/instances").json()}


def _start_and_terminate(server: Server, *ids: str) -> None:
    for iid in ids:
        assert server.http.post(f"/api/orchestrators/wait_for_go/{iid}").status_code == 202
        assert server.http.post(f"/api/instances/{iid}/terminate").status_code == 202


def test_purges_every_ended_match_keeps_the_rest_then_404(passive: Server) -> None:
    _start_and_terminate(passive, "t-1", "t-2")
    passive.http.post("/api/orchestrators/wait_for_go/p-1")  # Pending: never purged
    r = passive.http.delete(f"/api/instances?{SINCE_EVER}")
    assert r.status_code == 200 and r.json() == {"instancesDeleted": 2}
    assert _ids(passive) == {"p-1"}
    assert passive.http.get("/api/instances/t-1").status_code == 404
    again = passive.http.delete(f"/api/instances?{SINCE_EVER}")
    assert again.status_code == 404
    assert again.json() == {"error": "no ended instance matches the filter; "
                                     "1 matching instance(s) have not ended and were kept"}


def test_running_instances_are_kept_even_when_their_status_is_named(server: Server) -> None:
    done = server.http.post("/api/orchestrators/build_report", json={"pages": 1}).json()["id"]
    assert server.poll(done).status_code == 200
    server.http.post("/api/orchestrators/wait_for_go/waiting")
    r = server.http.delete(f"/api/instances?{SINCE_EVER}&runtimeStatus=Completed,Running,Pending")
    assert r.status_code == 200 and r.json() == {"instancesDeleted": 1}
    assert _ids(server) == {"waiting"}
    assert server.http.get("/api/instances/waiting").status_code == 202


def test_status_filter(passive: Server) -> None:
    _start_and_terminate(passive, "t-1")
    nothing = passive.http.delete(f"/api/instances?{SINCE_EVER}&runtimeStatus=Completed,Failed")
    assert nothing.status_code == 404
    assert nothing.json() == {"error": "no ended instance matches the filter"}
    assert _ids(passive) == {"t-1"}
    r = passive.http.delete(f"/api/instances?{SINCE_EVER}&runtimeStatus=failed&runtimeStatus=terminated")
    assert r.status_code == 200 and r.json() == {"instancesDeleted": 1}


def test_created_time_window_from_inclusive_to_exclusive(passive: Server) -> None:
    _start_and_terminate(passive, "a", "b", "c")
    created = {d["instanceId"]: d["createdTime"] for d in passive.http.get("/api/instances").json()}
    assert parse_iso(created["a"]) < parse_iso(created["b"]) < parse_iso(created["c"])
    window = {"createdTimeFrom": created["b"], "createdTimeTo": created["c"]}
    r = passive.http.delete("/api/instances", params=window)
    assert r.status_code == 200 and r.json() == {"instancesDeleted": 1}
    assert _ids(passive) == {"a", "c"}
    r = passive.http.delete("/api/instances", params={"createdTimeFrom": created["c"]})
    assert r.json() == {"instancesDeleted": 1} and _ids(passive) == {"a"}


@pytest.mark.parametrize(("query", "error"), [
    ("", "createdTimeFrom is required: purge instances created at or after this ISO 8601 "
         "time (1970-01-01T00:00:00Z for all)"),
    ("createdTimeFrom=yesterday", "createdTimeFrom is not an ISO 8601 time: 'yesterday'"),
    (f"{SINCE_EVER}&createdTimeTo=2024-13-01", "createdTimeTo is not an ISO 8601 time: '2024-13-01'"),
    (f"{SINCE_EVER}&runtimeStatus=Terminated,Done", "runtimeStatus 'Done' is not a runtime status; "
     "use Pending, Running, Completed, Failed, Terminated, Suspended, ContinuedAsNew"),
    (f"{SINCE_EVER}&runtimStatus=Failed", "unknown parameter 'runtimStatus'; use runtimeStatus, "
     "createdTimeFrom, createdTimeTo"),
    (f"{SINCE_EVER}&top=1", "unknown parameter 'top'; use runtimeStatus, createdTimeFrom, createdTimeTo"),
], ids=["no-from", "bad-from", "bad-to", "bad-status", "misspelt", "top"])
def test_bad_filter_is_400_naming_parameter_and_value_and_purges_nothing(
        passive: Server, query: str, error: str) -> None:
    _start_and_terminate(passive, "t-1")
    r = passive.http.delete(f"/api/instances?{query}")
    assert r.status_code == 400
    assert r.json() == {"error": error}
    assert _ids(passive) == {"t-1"}
