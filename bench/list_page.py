"""Latency of the dashboard's list requests on a big file store.

    .venv/bin/python bench/list_page.py [--instances 20000] [--ended 0.9] [--repeat 20]

Creates N Pending instances (examples/async_http_api.py's wait_for_go) in a temporary
store and terminates the fraction `--ended` of them (the live ones are what costs: the
list reads the status of every live row, see runtime/http/queries.py), then times, in this process through the ASGI app (httpx's ASGI transport, no
network), the requests the dashboard makes for its first page: the newest 50, the next
page through the continuation token, one orchestration's newest 50, an id prefix, and
the counts per status. Prints the median and the slowest of `--repeat` runs of each.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime.client import Client  # noqa: E402
from runtime.http import create_app  # noqa: E402
from tether.loader import load  # noqa: E402

EXAMPLE = ROOT / "examples" / "async_http_api.py"


async def timed(http: httpx.AsyncClient, url: str, repeat: int,
                headers: dict[str, str] | None = None) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        r = await http.get(url, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        r.raise_for_status()
    return statistics.median(times), max(times)


async def run(store: Path, repeat: int) -> None:
    app = create_app(store, load(str(EXAMPLE)).orchestrators())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        first = await http.get("/api/instances?top=50")
        token = first.headers["x-ms-continuation-token"]
        cases = [
            ("newest 50", "/api/instances?top=50", None),
            ("next 50 (token)", "/api/instances?top=50", {"x-ms-continuation-token": token}),
            ("name, newest 50", "/api/instances?top=50&name=wait_for_go", None),
            ("id prefix", "/api/instances?top=50&instanceIdPrefix=i-00001", None),
            ("counts per status", "/api/statusCounts", None),
        ]
        for label, url, headers in cases:
            median, worst = await timed(http, url, repeat, headers)
            print(f"{label:>18}: median {median:7.1f} ms, slowest {worst:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=20000)
    parser.add_argument("--ended", type=float, default=0.9)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        client = Client(store)
        machine = load(str(EXAMPLE)).orchestrators()["wait_for_go"]
        start = time.perf_counter()
        for base in range(0, args.instances, 1000):
            n = min(1000, args.instances - base)
            client.start_many(machine, [None] * n,
                              instance_ids=[f"i-{i:06}" for i in range(base, base + n)])
        ended = int(args.instances * args.ended)
        for i in range(ended):
            client.terminate(f"i-{i:06}", "bench")
        print(f"instances: {args.instances}, {ended} ended, {args.instances - ended} live "
              f"(made in {time.perf_counter() - start:.1f} s)")
        asyncio.run(run(store, args.repeat))


if __name__ == "__main__":
    main()
