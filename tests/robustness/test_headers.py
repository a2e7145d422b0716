"""Every answer of the HTTP API carries `X-Content-Type-Options: nosniff`: every route and
method of the app's route table, and the refusals and errors that no route writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.routing import Route

import compiler
from runtime.http import create_app
from tests.robustness.conftest import InProcessHTTP

PROGRAM = '''
from tether import orchestrator

@orchestrator
async def sniff_wait(ctx, value):
    return await ctx.wait_for_external_event("Go")
'''
PARAMS = {"name": "sniff_wait", "instance_id": "s-1", "event": "Go", "action": "terminate",
          "key": "k-1"}


def _draw(store: Path, instance_id: str, name: str) -> bytes | None:
    if instance_id == "broken":
        raise RuntimeError("a drawing bug")
    return b"<svg xmlns='http://www.w3.org/2000/svg'/>"


@pytest.fixture
def http(tmp_path: Path) -> InProcessHTTP:
    module = compiler.load_source(PROGRAM, "sniff.py", "_tether_sniff")
    mdef = module.sniff_wait.__tether_machine__
    app = create_app(tmp_path / "store", {"sniff_wait": mdef}, draw_graph=_draw, max_body=100)
    http = InProcessHTTP(app)
    assert http.post("/api/orchestrators/sniff_wait/s-1").status_code == 202
    assert http.post("/api/orchestrators/sniff_wait/broken").status_code == 202
    http.routes = [r for r in app.routes if isinstance(r, Route)]  # type: ignore[attr-defined]
    return http


def test_every_route_and_method_of_the_route_table_answers_nosniff(http: InProcessHTTP) -> None:
    walked = set()
    for route in http.routes:  # type: ignore[attr-defined]
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PARAMS[m.group(1)], route.path)
        for method in sorted(route.methods or ()):
            query = "?createdTimeFrom=1970-01-01T00:00:00Z" if (
                method == "DELETE" and path == "/api/instances") else ""
            if path == "/api/events":  # a live stream: ask it to end at once
                query = "?timeout=0"
            r = http.request(method, path + query)
            assert r.status_code < 500, (method, path, r.text)
            assert r.headers.get("x-content-type-options") == "nosniff", (method, path)
            walked.add(route.path)
    assert walked >= {"/", "/api/orchestrators/{name}", "/api/instances",
                      "/api/instances/{instance_id}", "/api/instances/{instance_id}/graph",
                      "/api/instances/{instance_id}/raiseEvent/{event}"}


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("GET", "/api/nowhere", None, 404),
    ("PUT", "/api/instances", None, 405),
    ("GET", "/api/instances/bad%20id", None, 400),
    ("GET", "/api/instances/ghost", None, 404),
    ("POST", "/api/orchestrators/sniff_wait/s-2", b"[" * 101, 413),
    ("POST", "/api/orchestrators/sniff_wait/s-2", b"{", 400),
    ("POST", "/api/orchestrators/sniff_wait/s-1", None, 409),
    ("GET", "/api/instances/broken/graph", None, 500),
])
def test_refusals_and_errors_answer_nosniff(http: InProcessHTTP, method: str, path: str,
                                            body: bytes | None, status: int) -> None:
    r = http.request(method, path, content=body)
    assert r.status_code == status, r.text
    assert r.headers.get("x-content-type-options") == "nosniff"
    assert r.headers["content-type"] == "application/json"


def test_a_refusal_before_routing_answers_nosniff(tmp_path: Path) -> None:
    http = InProcessHTTP(create_app(tmp_path / "store", {}, api_key="k"))
    r = http.get("/api/instances")
    assert r.status_code == 401 and r.headers.get("x-content-type-options") == "nosniff"
