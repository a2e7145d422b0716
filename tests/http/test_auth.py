"""The API key guards every route of the app's route table but the dashboard page.

The table is read from `create_app` itself, so a route added without a row in WITH_KEY
fails here, and a route reachable without the key fails too.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from runtime.http import create_app
from runtime.http.app import PUBLIC
from tests.http.conftest import Server, run_server

KEY = "s3cret"
_APP = create_app("unused-store", {}, api_key=KEY)
ROUTES = sorted((route.path, method) for route in _APP.routes if isinstance(route, Route)
                for method in route.methods or ())

#: (route, method) -> a request that route answers with success once the key is given,
#: against the `keyed` server below (Pending instance "p-1", Terminated instance "t-1").
WITH_KEY: dict[tuple[str, str], tuple[str, int]] = {
    ("/", "GET"): ("/", 200),
    ("/dashboard.js", "GET"): ("/dashboard.js", 200),
    ("/instance.js", "GET"): ("/instance.js", 200),
    ("/entities.js", "GET"): ("/entities.js", 200),
    ("/dashboard.css", "GET"): ("/dashboard.css", 200),
    ("/api/statusCounts", "GET"): ("/api/statusCounts", 200),
    ("/api/events", "GET"): ("/api/events?timeout=0", 200),
    ("/api/orchestrators/{name}", "POST"): ("/api/orchestrators/wait_for_go", 202),
    ("/api/orchestrators/{name}/{instance_id}", "POST"): ("/api/orchestrators/wait_for_go/n-1", 202),
    ("/api/instances", "GET"): ("/api/instances", 200),
    ("/api/instances", "DELETE"): ("/api/instances?createdTimeFrom=2000-01-01T00:00:00Z", 200),
    ("/api/instances/{instance_id}", "GET"): ("/api/instances/t-1", 200),
    ("/api/instances/{instance_id}", "DELETE"): ("/api/instances/t-1", 200),
    ("/api/instances/{instance_id}/graph", "GET"): ("/api/instances/t-1/graph", 200),
    ("/api/instances/{instance_id}/raiseEvent/{event}", "POST"): ("/api/instances/p-1/raiseEvent/Go", 202),
    ("/api/instances/{instance_id}/{action:str}", "POST"): ("/api/instances/p-1/suspend", 202),
    ("/api/instances/{instance_id}/restart", "POST"): ("/api/instances/t-1/restart", 202),
    # reaching rewind's own check (p-1 is not Failed) shows the key was accepted
    ("/api/instances/{instance_id}/rewind", "POST"): ("/api/instances/p-1/rewind", 409),
    ("/api/openapi.json", "GET"): ("/api/openapi.json", 200),
    ("/metrics", "GET"): ("/metrics", 200),
    ("/api/entities", "GET"): ("/api/entities", 200),
    ("/api/entities/{name}", "GET"): ("/api/entities/counter", 200),
    # no entity has state: reaching the lookup shows the key was accepted
    ("/api/entities/{name}/{key}", "GET"): ("/api/entities/counter/c1", 404),
    # the served module defines no entity: refused by the client, past the key
    ("/api/entities/{name}/{key}", "POST"): ("/api/entities/counter/c1?op=add", 400),
}


def _request(route: str, method: str) -> tuple[str, int]:
    get = "GET" if method == "HEAD" else method
    if (route, get) not in WITH_KEY:
        pytest.fail(f"route {method} {route} has no row in WITH_KEY: add one")
    return WITH_KEY[route, get]


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Server]:
    for server in run_server(tmp_path / "store", worker=False, api_key=KEY):
        headers = {"x-tether-key": KEY}
        server.http.post("/api/orchestrators/wait_for_go/p-1", headers=headers)
        server.http.post("/api/orchestrators/wait_for_go/t-1", headers=headers)
        server.http.post("/api/instances/t-1/terminate", headers=headers)
        yield server


def _snapshot(server: Server) -> list[tuple[str, str]]:
    docs = server.http.get("/api/instances", headers={"x-tether-key": KEY}).json()
    return sorted((d["instanceId"], d["runtimeStatus"]) for d in docs)


def test_the_route_table_is_read_and_only_the_page_is_public() -> None:
    assert all(isinstance(route, Route) for route in _APP.routes)  # no Mount hides routes
    assert len(ROUTES) >= 12  # GET routes also answer HEAD
    # the dashboard's page, script and style sheet: static text, no data
    assert {r for r in ROUTES if r[0] in PUBLIC} == {
        (path, method) for path in ("/", "/dashboard.js", "/instance.js", "/entities.js",
                                 "/dashboard.css")
        for method in ("GET", "HEAD")}


@pytest.mark.parametrize(("route", "method"), [r for r in ROUTES if r[0] not in PUBLIC],
                         ids=[f"{m} {p}" for p, m in ROUTES if p not in PUBLIC])
def test_every_data_route_needs_the_key(keyed: Server, route: str, method: str) -> None:
    url, status = _request(route, method)
    if route.endswith("/graph") and shutil.which("dot") is None:
        pytest.skip("Graphviz `dot` is not installed: the graph route answers 404")
    before = _snapshot(keyed)
    for headers in ({}, {"x-tether-key": "wrong"}, {"x-tether-key": KEY[:-1]}):
        refused = keyed.http.request(method, url, headers=headers)
        assert refused.status_code == 401, refused.text
        if method != "HEAD":
            assert "API key" in refused.json()["error"]
    wrong_code = url + ("&" if "?" in url else "?") + "code=nope"
    assert keyed.http.request(method, wrong_code).status_code == 401
    assert _snapshot(keyed) == before  # refused requests changed nothing

    answered = keyed.http.request(method, url, headers={"x-tether-key": KEY})
    assert answered.status_code == status, answered.text
    # the code parameter works as the header does (the route is idempotent for GET/HEAD)
    if method in ("GET", "HEAD"):
        by_code = keyed.http.request(method, url + ("&" if "?" in url else "?") + f"code={KEY}")
        assert by_code.status_code == status


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_the_page_needs_no_key_and_holds_no_data(keyed: Server, method: str) -> None:
    r = keyed.http.request(method, "/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    if method == "GET":
        assert "<title>tether dashboard</title>" in r.text
        assert KEY not in r.text and "p-1" not in r.text and "t-1" not in r.text
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp.split(";")[1]
    assert r.headers["referrer-policy"] == "no-referrer"


def test_unknown_paths_need_the_key_too(keyed: Server) -> None:
    assert keyed.http.get("/api/nothing").status_code == 401
    assert keyed.http.get("/favicon.ico").status_code == 401
    r = keyed.http.get("/api/nothing", headers={"x-tether-key": KEY})
    assert r.status_code == 404 and r.json() == {"error": "no route GET /api/nothing"}


def test_management_urls_carry_the_key_url_encoded(tmp_path: Path) -> None:
    key = "a&b c#d/+"
    for server in run_server(tmp_path / "store", worker=False, api_key=key):
        r = server.http.post("/api/orchestrators/wait_for_go/u-1", headers={"x-tether-key": key})
        assert r.status_code == 202
        urls = r.json()
        assert urls["statusQueryGetUri"].endswith("/api/instances/u-1?code=a%26b%20c%23d%2F%2B")
        assert httpx.get(urls["statusQueryGetUri"]).status_code == 202
        terminate = urls["terminatePostUri"].replace("{text}", "done")
        assert httpx.post(terminate).status_code == 202
        assert server.http.get(urls["statusQueryGetUri"]).json()["runtimeStatus"] == "Terminated"


def test_an_empty_key_is_refused_not_taken_as_no_key() -> None:
    with pytest.raises(ValueError, match="api_key is empty"):
        create_app("unused-store", {}, api_key="")


def test_cross_origin_browser_writes_are_refused(passive: Server) -> None:
    """Without a key any web page could POST to a local server (a "simple" request needs
    no CORS preflight); the Origin a browser sends gives such requests away."""
    evil = {"origin": "http://evil.example", "content-type": "text/plain"}
    r = passive.http.post("/api/orchestrators/wait_for_go/x-1", content=b'"hi"', headers=evil)
    assert r.status_code == 403
    assert r.json() == {"error": "cross-origin POST from http://evil.example refused"}
    assert passive.http.get("/api/instances/x-1").status_code == 404
    same = {"origin": passive.url}
    assert passive.http.post("/api/orchestrators/wait_for_go/x-1", headers=same).status_code == 202
    assert passive.http.get("/api/instances", headers=evil).status_code == 200  # reads: CORS


def test_route_table_paths_are_the_documented_ones() -> None:
    """docs/http.md has a row for every route of the table."""
    doc = (Path(__file__).parents[2] / "docs" / "http.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([A-Z]+) (/[^`?\[ ]*)", doc, re.M)
    documented = {(method, re.sub(r"\{(\w+)[^}]*\}", "{}", path)) for method, path in rows}
    for path, method in ROUTES:
        if method == "HEAD":
            continue
        assert (method, re.sub(r"\{(\w+)[^}]*\}", "{}", path)) in documented, (method, path)


def test_mounted_below_a_prefix_the_page_is_public_and_the_api_guarded(tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from tests.http.conftest import EXAMPLE
    from tether.loader import load

    inner = create_app(tmp_path / "store", load(str(EXAMPLE)).orchestrators(), api_key=KEY)
    outer = Starlette(routes=[Mount("/tether", app=inner)])
    key = {"x-tether-key": KEY}

    async def calls() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=outer),
                                     base_url="http://testserver") as http:
            assert (await http.get("/tether/")).status_code == 200
            assert (await http.post("/tether/api/orchestrators/wait_for_go/m-1")).status_code == 401
            r = await http.post("/tether/api/orchestrators/wait_for_go/m-1", headers=key)
            assert r.status_code == 202
            status_url = "http://testserver/tether/api/instances/m-1?code=" + KEY
            assert r.json()["statusQueryGetUri"] == status_url
            assert (await http.get(status_url)).status_code == 202

    asyncio.run(calls())


def test_a_rebound_host_name_is_refused(tmp_path: Path) -> None:
    """DNS rebinding: evil.example now resolves to 127.0.0.1, so a page of evil.example
    reads the API "same-origin"; the Host header it sends gives it away."""
    for server in run_server(tmp_path / "store", worker=False, hosts=("localhost", "127.0.0.1")):
        port = server.url.rsplit(":", 1)[1]
        r = server.http.get("/api/instances", headers={"host": f"evil.example:{port}"})
        assert r.status_code == 400
        assert r.json() == {"error": f"host 'evil.example:{port}' is not served here; "
                                     "use 127.0.0.1 or localhost"}
        assert server.http.get("/", headers={"host": "[zz"}).status_code == 400
        assert server.http.get("/api/instances").status_code == 200
        assert server.http.get("/api/instances", headers={"host": f"LOCALHOST:{port}"}).status_code == 200
