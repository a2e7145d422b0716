"""tether mounted inside a user's ASGI app runs its worker, whatever the mounting.

Regression of issue 14: mounted as docs/http.md showed, `create_app(worker=True)` answered
every route but its instances stayed Pending forever (Starlette runs no mounted app's
lifespan), silently. Every server here is a real uvicorn on a loopback port."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from starlette.applications import Starlette
from starlette.routing import Mount

from runtime.http import TetherApp, create_app
from tests.http.conftest import EXAMPLE, _free_port
from tether.loader import load

ROOT = Path(__file__).resolve().parents[2]


def _poll(http: httpx.Client, url: str, timeout: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        r = http.get(url)
        if r.status_code != 202 or time.monotonic() > deadline:
            return r
        time.sleep(0.05)


def _serve(app: Any) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    import threading

    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "tether.http" and r.levelno == logging.WARNING]


@pytest.fixture
def machines() -> Any:
    return load(str(EXAMPLE)).orchestrators()


def test_create_app_mounted_as_documented_runs_its_instances(
        tmp_path: Path, machines: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="tether.http")
    api = create_app(tmp_path / "store", machines, worker=True)
    parent = Starlette(routes=[Mount("/tether", app=api)])  # no lifespan reaches `api`
    for url in _serve(parent):
        with httpx.Client(base_url=url, timeout=10) as http:
            r = http.post("/tether/api/orchestrators/build_report", json={"pages": 2})
            assert r.status_code == 202
            assert r.headers["location"].startswith(f"{url}/tether/api/instances/")
            done = _poll(http, r.headers["location"])
            assert done.status_code == 200, done.text
            assert done.json()["output"] == {"pages": ["page 1 rendered", "page 2 rendered"],
                                             "title": "report"}
            http.get("/tether/api/instances")  # a second request warns no more
    api.state.tether_worker.stop()
    [warning] = _warnings(caplog)
    assert "started its worker on the first request to /tether" in warning
    assert "lifespan=TetherApp.lifespan" in warning and "\n" not in warning


def _shop(tether: TetherApp, *, lifespan: bool) -> FastAPI:
    app = FastAPI(lifespan=tether.lifespan if lifespan else None)
    tether.mount(app)

    @app.post("/reports")
    async def start_report(request: Request) -> Response:
        instance_id = await tether.client.start("build_report", await request.json())
        return tether.client.create_check_status_response(request, instance_id)

    return app


@pytest.mark.parametrize("lifespan", [True, False], ids=["lifespan", "forgotten-lifespan"])
def test_fastapi_starter_route_and_mounted_api(tmp_path: Path, machines: Any, lifespan: bool,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="tether.http")
    tether = TetherApp(tmp_path / "store", machines, prefix="/wf")
    for url in _serve(_shop(tether, lifespan=lifespan)):
        with httpx.Client(base_url=url, timeout=10) as http:
            # the user's own route starts the instance: nothing has reached /wf yet
            r = http.post("/reports", json={"pages": 1, "title": "mine"})
            assert r.status_code == 202
            body = r.json()
            assert r.headers["location"] == body["statusQueryGetUri"] == \
                f"{url}/wf/api/instances/{body['id']}"
            assert r.headers["retry-after"] == "1"
            assert body["restartPostUri"] == f"{url}/wf/api/instances/{body['id']}/restart"
            done = _poll(http, body["statusQueryGetUri"])
            assert done.status_code == 200
            assert done.json()["output"] == {"pages": ["page 1 rendered"], "title": "mine"}
    warnings = _warnings(caplog)
    if lifespan:
        assert warnings == []
    else:
        [warning] = warnings
        assert "started its worker on the first instance its client started" in warning
    assert tether.worker is not None
    if lifespan:
        assert not tether.worker.running  # the lifespan stopped it with the server
    tether.worker.stop()


@pytest.fixture
def example_server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "TETHER_STORE": str(tmp_path / "store")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "fastapi_app:create_app",
         "--app-dir", str(ROOT / "examples"), "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/tether/api/instances", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "the example did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert "Traceback" not in err, err
        assert "tether started its worker" not in err  # the example passes the lifespan


def test_fastapi_example_end_to_end(example_server: str) -> None:
    url = example_server
    with httpx.Client(base_url=url, timeout=10) as http:
        r = http.post("/orders", json={"item": "book", "quantity": 2})
        assert r.status_code == 202
        body = r.json()
        assert set(body) == {"id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri",
                             "rewindPostUri", "purgeHistoryDeleteUri", "restartPostUri",
                             "suspendPostUri", "resumePostUri"}
        assert body["statusQueryGetUri"] == f"{url}/tether/api/instances/{body['id']}"
        done = _poll(http, r.headers["location"])
        assert done.status_code == 200
        assert done.json()["runtimeStatus"] == "Completed"
        assert done.json()["output"] == {"reserved": "reserved 2 x book", "charged": 24}

        quick = http.post("/orders/quick", json={"item": "pen", "quantity": 1})
        assert quick.status_code == 200  # ended within the route's 2 s: the output itself
        assert quick.json() == {"reserved": "reserved 1 x pen", "charged": 12}

        listed = http.get("/tether/api/instances").json()
        assert {d["instanceId"] for d in listed} >= {body["id"]}
