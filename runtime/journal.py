"""Compatibility names: the file journal moved to `runtime.backends.file.journal`."""

from __future__ import annotations

from runtime.backends.file.journal import (
    HEAD,
    JOURNAL,
    Journal,
    JournalError,
    Opened,
    Record,
    decode_line,
    encode_line,
    iter_records,
    recover,
    sync_all,
    sync_fds,
)

__all__ = ["HEAD", "JOURNAL", "Journal", "JournalError", "Opened", "Record", "decode_line",
           "encode_line", "iter_records", "recover", "sync_all", "sync_fds"]
