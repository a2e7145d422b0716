"""`tether serve`: bad input is one line and exit 2; a real server process answers."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http.conftest import EXAMPLE
from tether.cli import main


@pytest.mark.parametrize(("argv", "fault"), [
    (["serve", str(EXAMPLE), "--port", "0"], "--port must be 1-65535, not 0"),
    (["serve", str(EXAMPLE), "--max-body", "0"], "--max-body must be at least 1"),
    (["serve", "no_such_file.py"], "no_such_file.py"),
    (["serve", str(EXAMPLE), "--api-key", ""], "--api-key is empty; omit it to serve without a key"),
], ids=["port", "max-body", "missing-src", "empty-api-key"])
def test_bad_input_is_one_line_exit_2(argv: list[str], fault: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fault in err and err.count("\n") == 1 and "Traceback" not in err


def test_serve_process_runs_an_instance_with_api_key_from_env(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TETHER_API_KEY": "k3y"}
    proc = subprocess.Popen([sys.executable, "-c", "from tether.cli import main; main()", "serve", str(EXAMPLE),
                             "--store", str(tmp_path / "store"), "--port", str(port)],
                            env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "tether serve did not start"
                time.sleep(0.1)
        assert httpx.post(url + "/api/orchestrators/build_report").status_code == 401
        r = httpx.post(url + "/api/orchestrators/build_report", json={"pages": 1},
                       headers={"x-tether-key": "k3y"})
        assert r.status_code == 202
        while (p := httpx.get(r.headers["Location"])).status_code == 202:
            assert time.monotonic() < deadline + 30
            time.sleep(0.05)
        assert p.status_code == 200 and p.json()["output"]["pages"] == ["page 1 rendered"]
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize(("host", "key", "warned"), [
    ("0.0.0.0", None, True), ("192.0.2.7", None, True), ("0.0.0.0", "k", False),
    ("127.0.0.1", None, False), ("localhost", None, False), ("::1", None, False),
])
def test_serving_beyond_loopback_without_a_key_warns(
        host: str, key: str | None, warned: bool, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from tether.commands import serve_cmd

    served: list[tuple[Any, str]] = []
    monkeypatch.setattr(serve_cmd, "_run",
                        lambda config, banner: served.append((config.app, config.host)))
    monkeypatch.delenv("TETHER_API_KEY", raising=False)
    argv = ["serve", str(EXAMPLE), "--store", str(tmp_path), "--host", host, "--no-worker"]
    assert main(argv + (["--api-key", key] if key else [])) == 0
    [(app, bound)] = served
    assert bound == host
    # bound to loopback, the app answers loopback names only (DNS rebinding)
    rebound = asyncio.run(_get(app, "evil.example:7071"))
    assert rebound == (400 if host in ("127.0.0.1", "localhost", "::1") else 200)
    assert asyncio.run(_get(app, f"{host}:7071" if ":" not in host else f"[{host}]:7071")) == 200
    err = capsys.readouterr().err
    if warned:
        assert err == (f"warning: serving {host} without an API key: anyone who can reach "
                       "port 7071 can read and change every instance\n")
    else:
        assert err == ""


async def _get(app: Any, host: str) -> int:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as http:
        return (await http.get("/", headers={"host": host})).status_code
