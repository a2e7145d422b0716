"""Durable HTTP against real loopback servers: `ctx.call_http` follows a 202 + Location
on durable timers (Retry-After apart) until the answer is final, the same plain, compiled
and crash-resumed; a failing server's status is a response, a refused connection a
TaskFailedError naming the URL."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runtime.durable_http import HttpResponse, retry_after
from tests.differential.harness import check_case, compiled_module, plain_module
from tether.testing import run_direct

pytest.importorskip("httpx")

SEEN: list[tuple[str, str, str | None, str]] = []  # method, path, x-job header, body


class AsyncApi(BaseHTTPRequestHandler):
    """POST /jobs answers 202 (Location /jobs/7/poll/1, Retry-After 3); poll 1 answers 202
    (Location "2", relative to it, Retry-After 7); poll 2 answers 200 with a JSON body. Stateless, so
    a run resumed after a crash that repeats a request gets the same answer."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        self._seen(body)
        if self.path == "/jobs":
            self._answer(202, {"location": "/jobs/7/poll/1", "retry-after": "3"})
        elif self.path == "/broken":
            self._answer(500, {}, "the database is down")
        else:
            self._answer(404, {})

    def do_GET(self) -> None:
        self._seen("")
        if self.path == "/jobs/7/poll/1":
            self._answer(202, {"location": "2", "retry-after": "7"})  # relative
        elif self.path == "/jobs/7/poll/2":
            self._answer(200, {"content-type": "application/json"}, json.dumps({"rows": 42}))
        else:
            self._answer(404, {})

    def _seen(self, body: str) -> None:
        SEEN.append((self.command, self.path, self.headers.get("x-job"), body))

    def _answer(self, status: int, headers: dict[str, str], body: str = "") -> None:
        data = body.encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), AsyncApi)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/jobs"


SOURCE = '''
from tether import OrchestrationContext, TaskFailedError, orchestrator


@orchestrator
async def fetch(ctx: OrchestrationContext, base: str) -> dict:
    start = ctx.current_utc_datetime
    response = await ctx.call_http("POST", base + "/jobs", content='{"q": 1}',
                                   headers={"x-job": "report"})
    waited = (ctx.current_utc_datetime - start).total_seconds()
    return {"status": response.status_code, "body": response.json(), "waited": waited,
            "type": type(response).__name__}


@orchestrator
async def failing(ctx: OrchestrationContext, url: str) -> dict:
    response = await ctx.call_http("POST", url)
    return {"status": response.status_code, "text": response.text, "ok": response.is_success}


@orchestrator
async def unreachable(ctx: OrchestrationContext, url: str) -> str:
    try:
        await ctx.call_http("GET", url)
    except TaskFailedError as exc:
        return f"{exc.error_type}: {url in exc.message}"
    return "answered"
'''


def test_a_202_is_polled_on_durable_timers_until_the_final_answer(server: str) -> None:
    SEEN.clear()
    plain = plain_module(SOURCE, "fetch.py")
    result = run_direct(plain.fetch, server)
    assert result.status == "Completed", result.error
    assert result.output == {"status": 200, "body": {"rows": 42}, "waited": 10.0,
                             "type": "HttpResponse"}
    assert SEEN == [("POST", "/jobs", "report", '{"q": 1}'),
                    ("GET", "/jobs/7/poll/1", "report", ""),
                    ("GET", "/jobs/7/poll/2", "report", "")]


def test_durable_http_is_the_same_compiled_and_crash_resumed(server: str, tmp_path: Path) -> None:
    plain = plain_module(SOURCE, "fetch.py")
    compiled = compiled_module(SOURCE, "fetch.py")
    tried = check_case(plain, compiled, "fetch", server, [], tmp_path)
    assert tried > 3  # the crash points covered the request, both timers and both polls


def test_a_failing_server_is_a_response_not_an_error(server: str, tmp_path: Path) -> None:
    plain = plain_module(SOURCE, "fetch.py")
    compiled = compiled_module(SOURCE, "fetch.py")
    check_case(plain, compiled, "failing", f"{server}/broken", [], tmp_path)
    assert run_direct(plain.failing, f"{server}/broken").output == {
        "status": 500, "text": "the database is down", "ok": False}


def test_a_refused_connection_fails_the_task_naming_the_url(tmp_path: Path) -> None:
    url = closed_port()
    plain = plain_module(SOURCE, "fetch.py")
    compiled = compiled_module(SOURCE, "fetch.py")
    check_case(plain, compiled, "unreachable", url, [], tmp_path)
    assert run_direct(plain.unreachable, url).output == "ConnectionError: True"


@pytest.mark.parametrize(("method", "url", "message"), [
    ("FETCH", "http://x", "method 'FETCH' is not one of GET, POST"),
    ("GET", "ftp://files", "'ftp://files' is not an http:// or https:// URL"),
])
def test_a_bad_request_is_refused_at_the_call(method: str, url: str, message: str) -> None:
    source = SOURCE + f'''

@orchestrator
async def bad(ctx: OrchestrationContext) -> None:
    await ctx.call_http({method!r}, {url!r})
'''
    result = run_direct(plain_module(source, "bad.py").bad)
    assert result.status == "Failed"
    assert result.error is not None and message in result.error[1]


@pytest.mark.parametrize(("header", "seconds"), [
    (None, 30.0), ("12", 12.0), ("0", 0.0), ("soon", 30.0),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
])
def test_retry_after(header: str | None, seconds: float) -> None:
    assert retry_after(header) == seconds


def test_the_response_reads_like_durable_functions() -> None:
    response = HttpResponse(201, {"content-type": "application/json"}, '{"id": 3}')
    assert (response.status_code, response.text, response.json(), response.is_success) == (
        201, '{"id": 3}', {"id": 3}, True)
