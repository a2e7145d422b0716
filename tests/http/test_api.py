"""Every route, status code and header of the HTTP API, over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.backends import open_backend
from runtime.backends.base import Query
from tests.http.conftest import Server, run_server

MANAGEMENT = {"id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri",
              "rewindPostUri", "purgeHistoryDeleteUri", "restartPostUri", "suspendPostUri",
              "resumePostUri"}


def test_start_answers_202_with_location_and_payload_then_poll_reaches_200(server: Server) -> None:
    r = server.http.post("/api/orchestrators/build_report", json={"pages": 2, "title": "t"})
    assert r.status_code == 202
    body = r.json()
    assert set(body) == MANAGEMENT
    assert r.headers["Location"] == body["statusQueryGetUri"]
    assert r.headers["Retry-After"] == "1"
    assert body["statusQueryGetUri"] == f"{server.url}/api/instances/{body['id']}"
    assert body["sendEventPostUri"].startswith(f"{server.url}/api/instances/{body['id']}/raiseEvent/")
    done = server.poll(body["id"])
    assert done.status_code == 200
    assert "Location" not in done.headers and "Retry-After" not in done.headers
    doc = done.json()
    assert doc["runtimeStatus"] == "Completed"
    assert doc["output"] == {"pages": ["page 1 rendered", "page 2 rendered"], "title": "t"}
    assert doc["name"] == "build_report" and doc["input"] == {"pages": 2, "title": "t"}


def test_start_with_instance_id_and_duplicate_id(passive: Server) -> None:
    r = passive.http.post("/api/orchestrators/wait_for_go/job-1", json="x")
    assert r.status_code == 202 and r.json()["id"] == "job-1"
    again = passive.http.post("/api/orchestrators/wait_for_go/job-1", json="x")
    assert again.status_code == 409


def test_poll_of_running_instance_is_202_with_location(passive: Server) -> None:
    passive.http.post("/api/orchestrators/wait_for_go/p1", json=None)
    r = passive.http.get("/api/instances/p1")
    assert r.status_code == 202
    assert r.json()["runtimeStatus"] == "Pending"
    assert r.headers["Location"] == f"{passive.url}/api/instances/p1"
    assert r.headers["Retry-After"] == "1"


@pytest.mark.parametrize("path", ["/api/instances/nope", "/api/orchestrators/no_such_orch"])
def test_unknown_is_404(server: Server, path: str) -> None:
    r = server.http.get(path) if "instances" in path else server.http.post(path)
    assert r.status_code == 404
    assert "nope" in r.json()["error"] or "no_such_orch" in r.json()["error"]


def test_show_history_adds_history_events(server: Server) -> None:
    iid = server.http.post("/api/orchestrators/build_report", json={"pages": 1}).json()["id"]
    server.poll(iid)
    plain = server.http.get(f"/api/instances/{iid}").json()
    full = server.http.get(f"/api/instances/{iid}?showHistory=true").json()
    assert "historyEvents" not in plain
    kinds = [e["eventType"] for e in full["historyEvents"]]
    assert kinds and all(isinstance(k, str) for k in kinds)
    # checkpoints show the user's variables: the loop's position and items are the compiler's
    slots = [e["slots"] for e in full["historyEvents"] if e["eventType"] == "checkpoint"]
    assert slots and all(set(s) == {"pages", "spec"} for s in slots), slots


def test_raise_event_completes_the_instance_then_410(server: Server) -> None:
    server.http.post("/api/orchestrators/wait_for_go/ev-1", json="note")
    r = server.http.post("/api/instances/ev-1/raiseEvent/Go", json={"by": "me"})
    assert r.status_code == 202
    done = server.poll("ev-1")
    assert done.status_code == 200
    assert done.json()["output"] == {"note": "note", "go": {"by": "me"}}
    late = server.http.post("/api/instances/ev-1/raiseEvent/Go", json=1)
    assert late.status_code == 410
    assert server.http.post("/api/instances/ghost/raiseEvent/Go").status_code == 404


def test_terminate_with_reason(server: Server) -> None:
    server.http.post("/api/orchestrators/wait_for_go/t-1", json=None)
    r = server.http.post("/api/instances/t-1/terminate?reason=enough")
    assert r.status_code == 202
    done = server.poll("t-1")
    assert done.status_code == 200 and done.json()["runtimeStatus"] == "Terminated"
    assert server.http.post("/api/instances/t-1/terminate").status_code == 410


def test_suspend_and_resume(server: Server) -> None:
    server.http.post("/api/orchestrators/wait_for_go/s-1", json=None)
    assert server.http.post("/api/instances/s-1/suspend?reason=hold").status_code == 202
    assert _eventually_status(server, "s-1", "Suspended")
    r = server.http.get("/api/instances/s-1")
    assert r.status_code == 202  # suspended instances have not ended
    assert server.http.post("/api/instances/s-1/resume").status_code == 202
    assert _eventually_status(server, "s-1", "Running")
    server.http.post("/api/instances/s-1/raiseEvent/Go", json=True)
    assert server.poll("s-1").json()["runtimeStatus"] == "Completed"


def _eventually_status(server: Server, iid: str, status: str) -> bool:
    import time
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if server.http.get(f"/api/instances/{iid}").json()["runtimeStatus"] == status:
            return True
        time.sleep(0.05)
    return False


def test_unknown_action_is_404(passive: Server) -> None:
    passive.http.post("/api/orchestrators/wait_for_go/a-1")
    assert passive.http.post("/api/instances/a-1/explode").status_code == 404


def test_delete_purges_ended_instance_and_refuses_running(server: Server) -> None:
    iid = server.http.post("/api/orchestrators/build_report", json={"pages": 1}).json()["id"]
    server.poll(iid)
    r = server.http.delete(f"/api/instances/{iid}")
    assert r.status_code == 200 and r.json() == {"instancesDeleted": 1}
    assert server.http.get(f"/api/instances/{iid}").status_code == 404
    assert server.http.delete(f"/api/instances/{iid}").status_code == 404
    server.http.post("/api/orchestrators/wait_for_go/r-1")
    assert server.http.delete("/api/instances/r-1").status_code == 409


def test_list_filters_newest_first_and_top(passive: Server) -> None:
    for i in range(3):
        passive.http.post(f"/api/orchestrators/wait_for_go/l-{i}")
    passive.http.post("/api/instances/l-0/terminate")
    docs = passive.http.get("/api/instances").json()
    assert [d["instanceId"] for d in docs] == ["l-2", "l-1", "l-0"]
    assert [d["instanceId"] for d in passive.http.get("/api/instances?top=2").json()] == ["l-2", "l-1"]
    term = passive.http.get("/api/instances?runtimeStatus=Terminated").json()
    assert [d["instanceId"] for d in term] == ["l-0"]
    both = passive.http.get("/api/instances?runtimeStatus=Terminated,Pending").json()
    assert len(both) == 3
    created = docs[1]["createdTime"]
    since = passive.http.get("/api/instances", params={"createdTimeFrom": created}).json()
    assert {d["instanceId"] for d in since} == {"l-1", "l-2"}
    until = passive.http.get("/api/instances", params={"createdTimeTo": created}).json()
    assert {d["instanceId"] for d in until} == {"l-0"}
    assert passive.http.get("/api/instances?top=zero").status_code == 400
    assert passive.http.get("/api/instances?createdTimeFrom=yesterday").status_code == 400


def test_malformed_json_is_400_with_the_parse_error(server: Server) -> None:
    r = server.http.post("/api/orchestrators/build_report", content=b'{"pages": ')
    assert r.status_code == 400
    assert "malformed JSON body" in r.json()["error"] and "line 1" in r.json()["error"]


@pytest.mark.parametrize("bad", ["a" * 129, "has space", "../etc", "semi;colon"])
def test_invalid_instance_id_is_400_and_writes_nothing(passive: Server, bad: str) -> None:
    r = passive.http.post(f"/api/orchestrators/wait_for_go/{bad}")
    assert r.status_code in (400, 404)  # "../etc" is normalised away by the client
    assert passive.http.get(f"/api/instances/{bad}").status_code in (400, 404)
    assert open_backend(passive.store).query(Query()).items == []


def test_invalid_id_answers_400(passive: Server) -> None:
    r = passive.http.get("/api/instances/has%20space")
    assert r.status_code == 400
    assert "has space" in r.json()["error"]


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Server]:
    yield from run_server(tmp_path / "store", worker=False, max_body=100)


def test_body_over_limit_is_413(small: Server) -> None:
    assert small.http.post("/api/orchestrators/wait_for_go", json="x" * 200).status_code == 413
    assert small.http.post("/api/orchestrators/wait_for_go", json="x" * 50).status_code == 202

    def chunks() -> Iterator[bytes]:  # no Content-Length: the stream itself is counted
        yield b'"' + b"x" * 80
        yield b"x" * 80 + b'"'
    assert small.http.post("/api/orchestrators/wait_for_go", content=chunks()).status_code == 413


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Server]:
    yield from run_server(tmp_path / "store", worker=False, api_key="s3cret")


def test_api_key_required_by_header_or_code(keyed: Server) -> None:
    assert keyed.http.get("/api/instances").status_code == 401
    assert keyed.http.get("/api/instances", headers={"x-tether-key": "wrong"}).status_code == 401
    assert keyed.http.get("/api/instances", headers={"x-tether-key": "s3cret"}).status_code == 200
    r = keyed.http.post("/api/orchestrators/wait_for_go/k-1?code=s3cret")
    assert r.status_code == 202
    assert r.json()["statusQueryGetUri"].endswith("/api/instances/k-1?code=s3cret")
    assert keyed.http.get(r.headers["Location"]).status_code == 202
    assert keyed.http.post("/api/orchestrators/wait_for_go/k-2").status_code == 401
    assert keyed.http.get("/").status_code == 200  # the page itself; its calls send the key


def test_graph_is_svg_of_the_instance(server: Server) -> None:
    import shutil
    if shutil.which("dot") is None:
        pytest.skip("Graphviz `dot` is not installed")
    iid = server.http.post("/api/orchestrators/build_report", json={"pages": 1}).json()["id"]
    server.poll(iid)
    r = server.http.get(f"/api/instances/{iid}/graph")
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    assert r.text.lstrip().startswith("<?xml") or "<svg" in r.text
    assert "render_page" in r.text
    assert server.http.get("/api/instances/ghost/graph").status_code == 404


def test_dashboard_page_is_served(server: Server) -> None:
    r = server.http.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "<title>tether dashboard</title>" in r.text
    for path, kind in [("/dashboard.js", "text/javascript"), ("/instance.js", "text/javascript"),
                       ("/dashboard.css", "text/css")]:
        asset = server.http.get(path)
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert path.lstrip("/") in r.text or path == "/instance.js"
    # the page runs its own files and nothing else: no inline script, no other origin
    assert "script-src 'self';" in r.headers["content-security-policy"]
