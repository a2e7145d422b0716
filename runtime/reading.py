"""Compatibility names: the file store's readers moved to `runtime.backends.file.reading`."""

from __future__ import annotations

from runtime.backends.file.reading import activity_calls_of, all_activity_calls, read_status

__all__ = ["activity_calls_of", "all_activity_calls", "read_status"]
