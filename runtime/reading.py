"""Compatibility names: the file store's readers moved to `runtime.backends.file.reading`."""

from __future__ import annotations

from runtime.backends.file.reading import read_status

__all__ = ["read_status"]
