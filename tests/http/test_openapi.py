"""`GET /api/openapi.json` describes every route of the app's table, and a bounded
schemathesis run against a live server finds no 500 and no answer outside the spec."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from starlette.routing import Route

from runtime.http import create_app
from runtime.http.openapi import openapi_path
from tests.http.conftest import EXAMPLE, Server, run_server
from tether.loader import load


def _table(app: Any) -> set[tuple[str, str]]:
    return {(openapi_path(r.path), m) for r in app.routes if isinstance(r, Route)
            for m in (r.methods or ()) if m != "HEAD"}


def _described(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}


@pytest.mark.parametrize("api_key", [None, "k"])
def test_every_route_of_the_table_is_described(tmp_path: Path, api_key: str | None) -> None:
    machines = load(str(EXAMPLE)).orchestrators()
    app = create_app(tmp_path, machines, api_key=api_key)
    for server in run_server(tmp_path, api_key=api_key):
        r = server.http.get("/api/openapi.json", headers={"x-tether-key": api_key or ""})
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"] == "3.1.0"
    table = _table(app)
    assert ("/api/instances/{instanceId}", "GET") in table
    assert table == _described(doc)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(_names(path)), (method, path)
            assert op["responses"], (method, path)
            if api_key and op.get("security") != []:  # the dashboard's files are public
                assert "401" in op["responses"]
    if api_key:
        assert doc["components"]["securitySchemes"]["header"]["name"] == "x-tether-key"


def _names(path: str) -> list[str]:
    import re

    return re.findall(r"\{(\w+)\}", path)


#: the routes that page with a continuation token
PAGED = ("GET /api/instances", "GET /api/entities", "GET /api/entities/{name}")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from run_server(tmp_path_factory.mktemp("fuzz") / "store", worker=True)


def _operations(server: Server) -> list[Any]:
    spec = schemathesis.openapi.from_url(f"{server.url}/api/openapi.json")
    return [result.ok() for result in spec.get_all_operations()]


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_no_answer_outside_the_spec(live: Server, mode: Any) -> None:
    """Positive cases (valid by the spec) and negative ones (each breaking it somewhere:
    a malformed id, a wrong type, a missing required parameter)."""
    operations = _operations(live)
    described = _described(live.http.get("/api/openapi.json").json())
    # schemathesis leaves out the route its schema was loaded from
    assert {tuple(o.label.split(" ")[::-1]) for o in operations} == \
        described - {("/api/openapi.json", "GET")}
    fuzzed = 0
    for operation in operations:
        if operation.label == "GET /api/events":
            continue  # a stream that lasts minutes: tests/http/test_list_query.py covers it

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=25, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            # every check schemathesis has: no 5xx, status codes, content types, headers
            # and bodies all as described
            # (a continuation token is valid only if this server issued it, and an entity
            # name only if a loaded module defines it, which no schema can say: a made-up
            # one is a 400, so that one check is left out there)
            excluded = [schemathesis.checks.positive_data_acceptance] \
                if case.operation.label in (*PAGED, "POST /api/entities/{name}/{key}") else []
            case.call_and_validate(timeout=20, excluded_checks=excluded)

        try:
            fuzz()
        except Unsatisfiable:  # nothing to break (GET / takes no input): no negative case
            assert mode == schemathesis.GenerationMode.NEGATIVE
            continue
        fuzzed += 1
    # no input to break: "/", its four files and /metrics; /api/events is a stream
    assert fuzzed >= len(operations) - 7
