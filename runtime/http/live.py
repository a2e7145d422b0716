"""Live updates for the dashboard: `GET /api/events`, a server-sent event stream that
says when the instances changed, so an idle page fetches nothing.

One poller per app looks at the store while at least one stream is open (none when no
one watches), every `interval` seconds, and computes a version that changes with every
journal record: on the file store a hash of each instance's id and its journal's size
and modification time (one `stat` per instance, no file read: append-only journals
grow with every record, and a rewrite changes the time); on a store without journal
files (PostgreSQL), a hash of each index row's id, status and last-updated time.
Each stream sends `event: version` with the current version when it opens, then
`event: changed` with the new one whenever it differs, and a comment line every
`HEARTBEAT` seconds so proxies keep the connection. A stream ends after `LIFETIME`
seconds; EventSource-style clients reconnect (`retry:` says after how long), which keeps
a server shutdown from waiting on pages left open.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable

from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from runtime.client import Client

HEARTBEAT = 15.0
LIFETIME = 300.0
RETRY_MS = 2000


def store_version(client: Client) -> str:
    """A short hash that changes whenever an instance is created, changes or is purged."""
    digest = hashlib.blake2b(digest_size=8)
    store = getattr(client.backend, "store", None)  # the file backend's folders
    if store is None or not hasattr(store, "folder") or not hasattr(store, "ids"):
        from runtime.http.queries import InstanceQuery, matching

        # entities too: the dashboard's entities view redraws on this feed
        everything = InstanceQuery(entities=None)
        for row in sorted(matching(client, everything), key=lambda r: r.instance_id):
            digest.update(f"{row.instance_id}\0{row.status}\0{row.updated}\n".encode())
        return digest.hexdigest()
    for instance_id in store.ids():
        try:
            st = os.stat(store.folder(instance_id) / "journal")
        except OSError:  # being created or purged right now: the next look sees it
            continue
        digest.update(f"{instance_id}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


class ChangeFeed:
    """The current store version, recomputed while anyone listens."""

    def __init__(self, version: Callable[[], str], interval: float = 1.0) -> None:
        self._version = version
        self.interval = interval
        self.current: str | None = None
        self.listeners = 0
        self._changed: asyncio.Condition | None = None
        self._poller: asyncio.Task[None] | None = None

    async def subscribe(self) -> str:
        """Start listening; returns the version now."""
        self.listeners += 1
        if self._changed is None:
            self._changed = asyncio.Condition()
        if self.current is None:
            self.current = await run_in_threadpool(self._version)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        return self.current

    def unsubscribe(self) -> None:
        self.listeners -= 1

    async def changed_since(self, version: str, timeout: float) -> str | None:
        """The new version once it differs from `version`; None after `timeout`."""
        assert self._changed is not None, "subscribe first"
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.current != version), timeout)
            except TimeoutError:
                return None
            return self.current

    async def _poll(self) -> None:
        assert self._changed is not None
        while self.listeners > 0:
            await asyncio.sleep(self.interval)
            version = await run_in_threadpool(self._version)
            if version != self.current:
                async with self._changed:
                    self.current = version
                    self._changed.notify_all()
        self.current = None  # nobody listened for a while: recompute on the next subscribe


def event_stream(feed: ChangeFeed, lifetime: float = LIFETIME) -> StreamingResponse:
    """The stream for one client; it ends after `lifetime` seconds (at most LIFETIME;
    0 answers the current version and ends, a long poll's first half)."""
    return StreamingResponse(_events(feed, min(lifetime, LIFETIME)),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _events(feed: ChangeFeed, lifetime: float) -> AsyncIterator[str]:
    version = await feed.subscribe()
    try:
        yield f"retry: {RETRY_MS}\nevent: version\ndata: {json.dumps({'version': version})}\n\n"
        ends = time.monotonic() + lifetime
        # a client that leaves cancels this generator (Starlette listens for the
        # disconnect), and `finally` still unsubscribes it
        while time.monotonic() < ends:
            new = await feed.changed_since(version, min(HEARTBEAT, ends - time.monotonic()))
            if new is None:
                yield ": keep-alive\n\n"
                continue
            version = new
            yield f"event: changed\ndata: {json.dumps({'version': version})}\n\n"
    finally:
        feed.unsubscribe()
