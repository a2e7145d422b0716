"""Compatibility names: the file store moved to `runtime.backends.file` (issue 11).

New code selects a backend with `runtime.backends.open_backend` and never builds paths."""

from __future__ import annotations

from pathlib import Path

from runtime.backends import default_spec
from runtime.backends.file.folders import Lock, Store
from runtime.ids import ID_PATTERN, InvalidInstanceId, validate_id

__all__ = ["ID_PATTERN", "InvalidInstanceId", "Lock", "Store", "default_store", "validate_id"]


def default_store() -> Path:
    return Path(default_spec())
