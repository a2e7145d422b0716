"""Every bad request is one JSON line naming what is at fault; never a traceback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import runtime.client
from runtime.clock import Clock
from tests.http.conftest import Server, run_server


@pytest.mark.parametrize(("method", "url", "body", "status", "error"), [
    ("GET", "/api/instances?top=\u00b2", None, 400, "top must be a positive integer, not '\u00b2'"),
    ("GET", "/api/instances?top=" + "1" * 5000, None, 400, "top must be a positive integer"),
    ("GET", "/api/instances?top=0", None, 400, "top must be a positive integer, not '0'"),
    ("GET", "/api/instances?runtimeStatus=Done", None, 400,
     "runtimeStatus 'Done' is not a runtime status; use Pending, Running, Completed, Failed, "
     "Terminated, Suspended, ContinuedAsNew"),
    ("GET", "/api/instances?status=Running", None, 400,
     "unknown parameter 'status'; use runtimeStatus, name, instanceIdPrefix, createdTimeFrom, "
     "createdTimeTo, lastUpdatedTimeFrom, lastUpdatedTimeTo, top, continuationToken"),
    ("GET", "/api/instances/p-1?showHistory=yes", None, 400,
     "showHistory must be true or false, not 'yes'"),
    ("GET", "/api/instances/p-1?showhistory=true", None, 400,
     "unknown parameter 'showhistory'; use showHistory"),
    ("POST", "/api/orchestrators/wait_for_go?instanceId=x", None, 400,
     "unknown parameter 'instanceId'; this route takes none"),
    ("POST", "/api/instances/p-1/terminate?reasn=x", None, 400,
     "unknown parameter 'reasn'; use reason"),
    ("POST", "/api/orchestrators/wait_for_go", b'{"a": NaN}', 400,
     "malformed JSON body: NaN is not a JSON value"),
    ("POST", "/api/instances/p-1/raiseEvent/Go", b"-Infinity", 400,
     "malformed JSON body: -Infinity is not a JSON value"),
    ("POST", "/api/orchestrators/wait_for_go", b"[" * 200_000, 400,
     "malformed JSON body: nested too deeply"),
    ("GET", "/api/instances/ghost", None, 404, "no instance ghost"),
    ("DELETE", "/api/instances/ghost", None, 404, "no instance ghost"),
    ("GET", "/api/instances/ghost/graph", None, 404, "no instance ghost"),
    ("GET", "/api/nowhere", None, 404, "no route GET /api/nowhere"),
    ("PUT", "/api/instances", None, 405, "PUT is not allowed on /api/instances; use "),
    ("GET", "/api/instances/p-1/terminate", None, 405,
     "GET is not allowed on /api/instances/p-1/terminate; use POST"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None)
def test_bad_request_is_one_json_line(passive: Server, method: str, url: str,
                                      body: bytes | None, status: int, error: str) -> None:
    passive.http.post("/api/orchestrators/wait_for_go/p-1")
    r = passive.http.request(method, url, content=body)
    assert r.status_code == status, r.text
    message = r.json()["error"]
    assert message.startswith(error), message
    assert "\n" not in message and "Traceback" not in message
    assert str(passive.store) not in message  # answers never show the store's directory


def test_durable_functions_storage_parameters_are_accepted_and_ignored(passive: Server) -> None:
    # a Durable Functions client adds taskHub/connection to every management URL
    passive.http.post("/api/orchestrators/wait_for_go/p-1")
    r = passive.http.get("/api/instances/p-1?taskHub=Hub&connection=Storage")
    assert (r.status_code, r.json()["instanceId"]) == (202, "p-1")
    r = passive.http.post("/api/instances/p-1/terminate?reason=x&taskHub=Hub")
    assert r.status_code == 202, r.text


def test_405_says_which_methods_are_allowed(passive: Server) -> None:
    r = passive.http.put("/api/instances")
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD", "DELETE"}


def test_list_is_newest_first_across_a_whole_second(passive: Server,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """isoformat leaves out a zero fraction: as text "...:31Z" sorts after "...:31.5Z"."""
    times = iter([datetime(2026, 1, 1, 0, 0, 31, tzinfo=UTC),
                  datetime(2026, 1, 1, 0, 0, 31, 500_000, tzinfo=UTC)])

    class Frozen(Clock):
        def now(self) -> datetime:
            return next(times)

    monkeypatch.setattr(runtime.client, "Clock", Frozen)
    passive.http.post("/api/orchestrators/wait_for_go/older")
    passive.http.post("/api/orchestrators/wait_for_go/newer")
    docs = passive.http.get("/api/instances").json()
    assert [d["createdTime"] for d in docs] == ["2026-01-01T00:00:31.500000Z",
                                                "2026-01-01T00:00:31Z"]
    assert [d["instanceId"] for d in docs] == ["newer", "older"]


def test_unexpected_failure_is_500_one_line_without_details(tmp_path: Path) -> None:
    def broken(store: Path, instance_id: str, name: str) -> bytes | None:
        raise RuntimeError(f"cannot read {store}")

    for server in run_server(tmp_path / "store", worker=False, draw_graph=broken):
        server.http.post("/api/orchestrators/wait_for_go/p-1")
        r = server.http.get("/api/instances/p-1/graph")
        assert r.status_code == 500
        assert r.json() == {"error": "internal error (RuntimeError); see the server log"}
