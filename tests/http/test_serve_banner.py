"""`tether serve` says where it listens once it does, and logs its worker's lines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.http.conftest import EXAMPLE, _free_port


def test_serve_prints_its_url_then_logs_instances(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether.cli", "serve", str(EXAMPLE), "--store",
         str(tmp_path / "store"), "--port", str(port), "--log-format", "text"],
        cwd=tmp_path, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    try:
        assert proc.stderr is not None
        seen = [proc.stderr.readline() for _ in range(2)]  # the worker starts with the app
        banner = next(line for line in seen if line.startswith("tether serve:"))
        assert banner.startswith(f"tether serve: dashboard and API at http://127.0.0.1:{port}/ "
                                 f"(store {tmp_path / 'store'}; OpenAPI at /api/openapi.json")
        r = httpx.post(f"http://127.0.0.1:{port}/api/orchestrators/build_report/r-1",
                       json={"pages": 1})
        assert r.status_code == 202
        deadline = time.monotonic() + 20
        while httpx.get(r.headers["location"]).status_code == 202:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=20)
    assert any(" INFO tether.worker worker started on " in line for line in seen)
    assert " INFO tether.instance instance r-1 (build_report) started" in rest
    assert " INFO tether.instance instance r-1 (build_report) completed" in rest
