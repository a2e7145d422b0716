"""Choosing a backend: `open_backend(spec)` for a directory path or a `postgresql://` URL.

Wherever a store is named (`--store`, `TETHER_STORE`, `Client(...)`, `create_app(store=...)`)
the name goes through `open_backend`; a `Backend` passed instead is used as it is.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from runtime.backends.base import Backend, BackendUnavailable

if TYPE_CHECKING:
    from runtime.backends.file import FileBackend

__all__ = ["Backend", "BackendUnavailable", "default_spec", "is_url", "mask", "open_backend"]

_URL = re.compile(r"^(postgres|postgresql)://", re.IGNORECASE)


def default_spec() -> str:
    """The store named by `TETHER_STORE`, else `.tether` in the working directory."""
    return os.environ.get("TETHER_STORE") or ".tether"


def is_url(spec: str) -> bool:
    return bool(_URL.match(spec))


def mask(spec: str) -> str:
    """`spec` with any password in a URL replaced by `***`, for messages."""
    return re.sub(r"^([a-z]+://[^:/@]*:)[^@/]*@", r"\1***@", spec, flags=re.IGNORECASE)


def open_backend(spec: str | Path | Backend | None = None) -> Backend:
    """The backend `spec` names (None: `default_spec()`); a Backend is returned as is.

    A path is a directory store (`runtime.backends.file`); `postgresql://...` is a
    PostgreSQL database (`runtime.backends.postgres`, needing `tether[postgres]`).
    Raises `BackendUnavailable` with one line when the spec cannot be used."""
    if isinstance(spec, Backend):
        return spec
    if spec is not None and not isinstance(spec, str | Path):
        raise TypeError(f"a store is a path, a URL or a Backend, not {type(spec).__name__}")
    text = str(spec) if spec is not None else default_spec()
    if is_url(text):
        try:
            module = importlib.import_module("runtime.backends.postgres")
        except ImportError as exc:
            missing = getattr(exc, "name", "") or ""
            if missing.startswith("psycopg") or missing == "runtime.backends.postgres":
                raise BackendUnavailable(
                    f"{mask(text)}: PostgreSQL stores need psycopg: "
                    "pip install 'tether[postgres]'") from None
            raise
        backend = module.open_postgres(text)
        assert isinstance(backend, Backend)
        return backend
    return _file(text)


def _file(path: str) -> FileBackend:
    from runtime.backends.file import FileBackend

    return FileBackend(path)
