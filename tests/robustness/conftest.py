"""Helpers of the robustness tests: nested values, an in-process HTTP caller, and small
tmpfs mounts (root only: skipped, with the reason, where mounting is not permitted)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp


def nested(depth: int, leaf: Any = 1) -> Any:
    """`leaf` inside `depth` lists alternating with objects: [{"k": [... leaf ...]}]."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 == 0 else {"k": value}
    return value


class InProcessHTTP:
    """Requests to an ASGI app without a server; app exceptions come back as the 500
    the app answers, as a real server would send it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://127.0.0.1") as client:
                return await client.request(method, url, **options)
        return asyncio.run(send())

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)


@contextmanager
def mounted_tmpfs(where: Path, size: str, *options: str) -> Iterator[Path]:
    """A fresh tmpfs of `size` (e.g. "2m") mounted at `where`, unmounted afterwards."""
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join((f"size={size}", *options)),
                           "tmpfs", str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """`tmpfs(size, *options)`: mount a small tmpfs under tmp_path (several may be made)."""
    mounts: list[Any] = []

    def mount(size: str, *options: str) -> Path:
        cm = mounted_tmpfs(tmp_path / f"mnt{len(mounts)}", size, *options)
        mounts.append(cm)
        return cm.__enter__()

    yield mount
    for cm in reversed(mounts):
        cm.__exit__(None, None, None)


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the file system of `folder` with a ballast file until `leave` bytes are free
    (rounded to pages); returns the ballast, whose removal frees the space again."""
    ballast = folder / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (1 << 20, 65536, 4096, 512):
            chunk = b"\0" * size
            try:
                while os.write(fd, chunk) == size:
                    pass
            except OSError:  # ENOSPC: try a smaller chunk in the space left
                pass
        if leave:
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    finally:
        os.close(fd)
    return ballast


def fill_inodes(folder: Path, leave: int = 0) -> Path:
    """Use up the inodes of `folder`'s file system with empty files until `leave` are
    free; returns the folder holding them, whose removal frees them again."""
    ballast = folder / "ballast-inodes"
    ballast.mkdir()
    made = 0
    try:
        while True:
            os.close(os.open(ballast / str(made), os.O_WRONLY | os.O_CREAT, 0o644))
            made += 1
    except OSError:  # ENOSPC: no inode left
        pass
    for n in range(max(0, made - leave), made):
        os.unlink(ballast / str(n))
    return ballast
