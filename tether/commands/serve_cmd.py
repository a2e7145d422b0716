"""`tether serve SRC`: the HTTP management API and dashboard, with a worker in-process."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.commands import log_options
from tether.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from runtime.backends import Backend


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="HTTP management API and web dashboard")
    p.add_argument("src", metavar="SRC")
    p.add_argument("--store", metavar="DIR|URL",
                   help="store directory or postgresql:// URL (default: $TETHER_STORE or .tether)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7071, help="port (default 7071)")
    p.add_argument("--no-worker", action="store_true", help="serve the API only; run no instances")
    p.add_argument("--api-key", help="require this key on every route but the dashboard page "
                                     "(default: $TETHER_API_KEY)")
    p.add_argument("--max-body", type=int, default=1024 * 1024, metavar="BYTES",
                   help="largest accepted request body (default 1 MiB)")
    log_options.add(p)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from runtime.backends import default_spec, open_backend
    from runtime.backends.base import BackendError
    from runtime.http import create_app
    from runtime.worker import STARTUP_PATIENCE
    from tether.loader import load

    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be 1-65535, not {args.port}")
    if args.max_body < 1:
        raise UsageError("--max-body must be at least 1")
    if args.api_key == "":
        raise UsageError("--api-key is empty; omit it to serve without a key")
    loaded = load(args.src)
    try:
        store = open_backend(args.store or default_spec())
        store.expect_outages(STARTUP_PATIENCE)  # a server restarting as it starts
        store.ensure()
        why = store.read_only()
    except BackendError as exc:
        raise UsageError(str(exc)) from None
    if why is not None and not args.no_worker:  # its worker could only fail, again and again
        raise UsageError(f"{why}: serve it with --no-worker to read it")
    machines = loaded.orchestrators()
    api_key = args.api_key or os.environ.get("TETHER_API_KEY") or None
    if api_key is None and not _loopback(args.host):
        print(f"warning: serving {args.host} without an API key: anyone who can reach port "
              f"{args.port} can read and change every instance", file=sys.stderr)
    app = create_app(store, machines, worker=not args.no_worker,
                     draw_graph=graph_drawer({n: Path(m.source) for n, m in machines.items()}),
                     api_key=api_key, max_body=args.max_body,
                     hosts=(*LOOPBACK_NAMES, args.host) if _loopback(args.host) else None)
    with log_options.applied(args):
        _run(uvicorn.Config(app, host=args.host, port=args.port, log_level="warning"),
             f"tether serve: dashboard and API at {_url(args.host, args.port)} (store "
             f"{getattr(store, 'spec', '?')}; OpenAPI at /api/openapi.json; Ctrl-C stops)")
    return ExitCode.OK


def _url(host: str, port: int) -> str:
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _run(config: Any, banner: str) -> None:
    """Run uvicorn, printing `banner` on stderr once it listens (a failure to bind says
    why itself, and prints no URL that does not answer)."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[Any] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                print(banner, file=sys.stderr, flush=True)

    Server(config).run()


#: The names a server bound to loopback answers to; any other Host header is a web page
#: that rebound its own name to 127.0.0.1 (DNS rebinding) to read the API.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def graph_drawer(sources: dict[str, Path]) -> Callable[[Backend, str, str], bytes | None]:
    """Draw an instance's step graph as SVG coloured by its progress (tether.graphing).

    Compiled graphs are cached per orchestrator; None when the orchestrator is not one
    of `sources`, Graphviz is missing, or the instance ran another graph version.
    """
    import shutil

    import networkx as nx

    from tether.graphing import render
    from tether.graphing.progress import from_store

    cache: dict[str, nx.DiGraph | None] = {}

    def graph_of(name: str) -> nx.DiGraph | None:
        if name not in cache:
            import compiler

            cache[name] = None
            if name in sources:
                machine = compiler.compile_file(sources[name]).machine(name)
                cache[name] = machine.graph
        return cache[name]

    def draw(store: Backend, instance_id: str, name: str) -> bytes | None:
        graph = graph_of(name)
        if graph is None or shutil.which("dot") is None:
            return None
        progress = from_store(store, instance_id)
        drawn = render(graph, "svg", progress)
        return drawn if isinstance(drawn, bytes) else drawn.encode()

    return draw
