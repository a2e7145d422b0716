"""Load test of `tether serve`: many starts and polls from concurrent clients on loopback.

    .venv/bin/python bench/http_load.py [--instances 1000] [--clients 50]

Serves examples/async_http_api.py with `tether serve` in a separate process (one event
loop, the worker in a thread) on a temporary store, so the load generator (httpx, in this
process) does not share the server's interpreter. Each client repeatedly starts `build_report` (one page)
and polls its `Location` until `200`, honouring no `Retry-After` (it polls every 20 ms, the
worst case for the server). Reports every instance's end state, per-request latency (p50,
p99 for starts and polls) and requests per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "async_http_api.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        server = subprocess.Popen(
            [sys.executable, "-m", "tether.cli", "serve", str(EXAMPLE), "--store", tmp,
             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/api/instances").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    print("tether serve did not start:", server.stderr.read().decode() if server.stderr else "")
                    return 1
                time.sleep(0.05)
            return asyncio.run(_load(url, args.instances, args.clients))
        finally:
            server.terminate()
            server.wait(30)


async def _load(url: str, instances: int, clients: int) -> int:
    starts: list[float] = []
    polls: list[float] = []
    ends: dict[str, str] = {}
    todo = iter(range(instances))

    async def client(http: httpx.AsyncClient) -> None:
        for _ in todo:
            t = time.perf_counter()
            r = await http.post("/api/orchestrators/build_report", json={"pages": 1})
            starts.append(time.perf_counter() - t)
            assert r.status_code == 202, r.text
            location = r.headers["Location"]
            while True:
                t = time.perf_counter()
                p = await http.get(location)
                polls.append(time.perf_counter() - t)
                if p.status_code == 200:
                    ends[p.json()["instanceId"]] = p.json()["runtimeStatus"]
                    break
                assert p.status_code == 202, p.text
                await asyncio.sleep(0.02)

    began = time.perf_counter()
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    wall = time.perf_counter() - began
    completed = sum(1 for s in ends.values() if s == "Completed")
    print(f"instances: {instances}, clients: {clients}, completed: {completed}, "
          f"other: {len(ends) - completed}")
    for what, xs in (("start", starts), ("poll", polls)):
        q = statistics.quantiles(xs, n=100)
        print(f"{what}: {len(xs)} requests, p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms")
    total = len(starts) + len(polls)
    print(f"wall {wall:.1f} s, {total / wall:.0f} requests/s, {instances / wall:.0f} instances/s")
    return 0 if completed == instances else 1


if __name__ == "__main__":
    sys.exit(main())
