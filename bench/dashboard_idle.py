"""What an idle dashboard costs: requests and bytes per minute over N instances.

    .venv/bin/python bench/dashboard_idle.py [--instances 500] [--seconds 20] [--rounds 3]

Serves examples/async_http_api.py in this process (uvicorn in a thread, no worker, so
the instances stay Pending and nothing changes) on a temporary store with N instances,
behind an ASGI middleware that counts requests and response bytes (headers and body).
Side by side in each round, for the same number of seconds:

- `dashboard`: today's page, open in headless chromium (Playwright, the system's
  `/usr/bin/chromium`) on the list, idle: one server-sent event stream, nothing else;
- `polling`: what the page did before (a loop doing its requests: the whole list every
  1.5 s), run with httpx.

Prints the median, over the rounds, of requests and bytes per minute for each, and
the server's CPU seconds per minute spent answering them (process CPU time, the
in-process server being the only thing busy in each phase).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime.client import Client  # noqa: E402
from runtime.http import create_app  # noqa: E402
from tether.loader import load  # noqa: E402

EXAMPLE = ROOT / "examples" / "async_http_api.py"
Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                Awaitable[None]]


class Counting:
    """Counts requests and the bytes of every response (status line aside)."""

    def __init__(self, app: ASGI) -> None:
        self.app = app
        self.requests = 0
        self.bytes = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.requests += 1

        async def counted(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.bytes += sum(len(k) + len(v) + 4 for k, v in message.get("headers", []))
            elif message["type"] == "http.response.body":
                self.bytes += len(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, counted)


def serve(store: Path) -> tuple[str, Counting, uvicorn.Server]:
    machines = load(str(EXAMPLE)).orchestrators()
    counter = Counting(create_app(store, machines))
    server = uvicorn.Server(uvicorn.Config(counter, host="127.0.0.1", port=0,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}", counter, server


def measure(counter: Counting, seconds: float, run: Callable[[float], None]) -> tuple[float, ...]:
    requests, sent, cpu = counter.requests, counter.bytes, time.process_time()
    run(seconds)
    per_minute = 60 / seconds
    return ((counter.requests - requests) * per_minute, (counter.bytes - sent) * per_minute,
            (time.process_time() - cpu) * per_minute)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        client = Client(store)
        machine = load(str(EXAMPLE)).orchestrators()["wait_for_go"]
        client.start_many(machine, [None] * args.instances)
        url, counter, server = serve(store)
        results: dict[str, list[tuple[float, ...]]] = {"dashboard": [], "polling": []}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                         args=["--no-sandbox", "--disable-gpu",
                                               "--disable-background-networking",
                                               "--disable-component-update", "--disable-sync",
                                               "--no-first-run"])
            page = browser.new_page()
            page.goto(url + "/")
            page.wait_for_selector("#live.on")
            page.wait_for_timeout(1000)  # the first load is not idle
            with httpx.Client(base_url=url) as http:
                def old_page(seconds: float) -> None:
                    ends = time.monotonic() + seconds
                    while time.monotonic() < ends:
                        http.get("/api/instances").raise_for_status()
                        time.sleep(1.5)

                for _ in range(args.rounds):
                    results["dashboard"].append(
                        measure(counter, args.seconds, lambda s: page.wait_for_timeout(s * 1000)))
                    page.evaluate("() => 0")  # keep the page busy-free; the stream stays open
                    results["polling"].append(measure(counter, args.seconds, old_page))
            browser.close()
        server.should_exit = True
    print(f"instances: {args.instances}, {args.rounds} rounds of {args.seconds:.0f} s each")
    for name, rows in results.items():
        req, sent, cpu = (statistics.median(col) for col in zip(*rows, strict=True))
        print(f"{name:>9}: {req:7.1f} requests/min  {sent:12,.0f} bytes/min  "
              f"server CPU {cpu:6.2f} s/min")


if __name__ == "__main__":
    main()
