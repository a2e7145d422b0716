"""`Client.start` by function, name or machine; Durable Functions' response helpers;
`AsyncClient` mirrors `Client` and never runs store I/O on the event loop's thread."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from runtime.async_client import AsyncClient
from runtime.backends import open_backend
from runtime.client import Client
from runtime.http.responses import PAYLOAD_FIELDS, ManagementUrls
from runtime.worker import Worker
from tests.http.conftest import EXAMPLE
from tether.loader import load

FAILING = '''
from tether import OrchestrationContext, activity, orchestrator


@activity
def explode(x: int) -> int:
    raise ValueError(f"no {x}")


@orchestrator
async def doomed(ctx: OrchestrationContext, x: int) -> int:
    return await ctx.call_activity(explode, x)
'''


@pytest.fixture(scope="module")
def machines() -> Any:
    return load(str(EXAMPLE)).orchestrators()


def _request(path: str = "/orders", host: str = "shop.example:8080",
             scheme: str = "https") -> Request:
    return Request({"type": "http", "method": "POST", "path": path, "root_path": "",
                    "scheme": scheme, "server": ("shop.example", 8080), "query_string": b"",
                    "headers": [(b"host", host.encode())]})


def _run_all(store: Path) -> None:
    Worker(store).serve(until_idle=True)


def test_start_takes_a_function_a_name_or_a_machine(tmp_path: Path, machines: Any) -> None:
    module = __import__("async_http_api")  # the compiled module `load` imported
    client = Client(tmp_path)
    ids = [client.start(module.build_report, {"pages": 1}),
           client.start("build_report", {"pages": 1}),
           client.start(machines["build_report"], {"pages": 1})]
    _run_all(tmp_path)
    assert [client.status(i)["output"]["pages"] for i in ids] == [["page 1 rendered"]] * 3


def test_start_refuses_what_is_not_a_compiled_orchestrator(tmp_path: Path, machines: Any) -> None:
    client = Client(tmp_path)
    with pytest.raises(ValueError, match=r"no orchestrator named 'nope' is registered; found: .*"
                                         r"build_report"):
        client.start("nope")

    def plain() -> None: ...

    with pytest.raises(Exception, match="is not an @orchestrator"):
        client.start(plain)
    assert Client(tmp_path).list() == []


def test_management_payload_has_durable_functions_fields_with_key_and_prefix() -> None:
    urls = ManagementUrls("/wf", api_key="k&y")
    payload = urls.payload("https://shop.example", "order-1")
    assert tuple(payload) == PAYLOAD_FIELDS
    base = "https://shop.example/wf/api/instances/order-1"
    assert payload["statusQueryGetUri"] == base + "?code=k%26y"
    assert payload["sendEventPostUri"] == base + "/raiseEvent/{eventName}?code=k%26y"
    assert payload["terminatePostUri"] == base + "/terminate?code=k%26y&reason={text}"
    assert payload["rewindPostUri"] == base + "/rewind?code=k%26y&reason={text}"
    assert payload["restartPostUri"] == base + "/restart?code=k%26y"
    assert payload["purgeHistoryDeleteUri"] == base + "?code=k%26y"
    # without an origin the URLs are paths
    assert Client("unused", http=urls).create_http_management_payload("order-1")[
        "statusQueryGetUri"] == "/wf/api/instances/order-1?code=k%26y"


def test_check_status_response_is_addressed_as_the_request_was(tmp_path: Path) -> None:
    client = Client(tmp_path, http=ManagementUrls("/tether"))
    response = client.create_check_status_response(_request(), "order-7")
    assert response.status_code == 202
    body = json.loads(bytes(response.body))
    assert body["statusQueryGetUri"] == "https://shop.example:8080/tether/api/instances/order-7"
    assert response.headers["location"] == body["statusQueryGetUri"]
    assert response.headers["retry-after"] == "1"
    with pytest.raises(Exception, match="instance id"):
        client.create_check_status_response(_request(), "bad id")


def test_wait_for_completion_answers_as_durable_functions(tmp_path: Path, machines: Any) -> None:
    client = Client(tmp_path)
    done = client.start("build_report", {"pages": 1, "title": "t"})
    waiting = client.start("wait_for_go", "note")
    src = tmp_path / "failing.py"
    src.write_text(FAILING)
    load(str(src))
    failed = client.start("doomed", 3)
    ended = client.start("wait_for_go", "bye")
    client.terminate(ended, "enough")
    _run_all_but_waiting(tmp_path, waiting)

    r = client.wait_for_completion_or_create_check_status_response(_request(), done, 1.0, 0.01)
    assert (r.status_code, json.loads(bytes(r.body))) == (
        200, {"pages": ["page 1 rendered"], "title": "t"})
    r = client.wait_for_completion_or_create_check_status_response(_request(), failed, 1.0, 0.01)
    assert r.status_code == 500
    assert json.loads(bytes(r.body))["runtimeStatus"] == "Failed"
    assert "ValueError: no 3" in json.loads(bytes(r.body))["output"]
    r = client.wait_for_completion_or_create_check_status_response(_request(), ended, 1.0, 0.01)
    assert (r.status_code, json.loads(bytes(r.body))["runtimeStatus"]) == (200, "Terminated")
    r = client.wait_for_completion_or_create_check_status_response(_request(), waiting, 0.1, 0.02)
    assert r.status_code == 202
    assert json.loads(bytes(r.body))["id"] == waiting


def _run_all_but_waiting(store: Path, waiting: str) -> None:
    worker = Worker(store)
    stop = threading.Timer(3.0, worker.stop.set)
    stop.start()

    def idle() -> bool:
        return all(Client(store).status(i)["runtimeStatus"] in ("Completed", "Failed",
                                                                "Terminated")
                   for i in _ids(store) if i != waiting)

    def watch() -> None:
        while not idle():
            threading.Event().wait(0.02)
        worker.stop.set()

    threading.Thread(target=watch, daemon=True).start()
    worker.serve()
    stop.cancel()


def _ids(store: Path) -> list[str]:
    return [d["instanceId"] for d in Client(open_backend(store)).list()]


def test_async_client_mirrors_every_public_client_method() -> None:
    sync = {n for n, f in inspect.getmembers(Client, inspect.isfunction) if not n.startswith("_")}
    mirrored = {n for n, f in inspect.getmembers(AsyncClient, inspect.isfunction)
                if not n.startswith("_")}
    assert sync <= mirrored, f"AsyncClient lacks {sorted(sync - mirrored)}"
    no_io = {"create_http_management_payload", "create_check_status_response"}
    for name in sync - no_io:
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name


def test_async_client_keeps_fsyncs_off_the_event_loop(tmp_path: Path, machines: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        threads.append(threading.get_ident())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)

    async def scenario() -> tuple[int, dict[str, Any]]:
        client = AsyncClient(tmp_path)
        instance_id = await client.start("wait_for_go", "x", instance_id="go-1")
        await client.raise_event(instance_id, "Go", {"by": "test"})
        await client.terminate(instance_id, "done")
        return threading.get_ident(), await client.status(instance_id)

    loop_thread, doc = asyncio.run(scenario())
    assert threads, "the store fsynced nothing: this test would prove nothing"
    assert loop_thread not in threads
    assert doc["runtimeStatus"] == "Terminated"


def test_async_client_wait_returns_the_ended_document(tmp_path: Path, machines: Any) -> None:
    async def scenario() -> dict[str, Any]:
        client = AsyncClient(tmp_path)
        instance_id = await client.start("build_report", {"pages": 2})
        worker = threading.Thread(target=_run_all, args=(tmp_path,))
        worker.start()
        doc = await client.wait(instance_id, timeout=20)
        worker.join()
        return doc

    doc = asyncio.run(scenario())
    assert doc["output"]["pages"] == ["page 1 rendered", "page 2 rendered"]
