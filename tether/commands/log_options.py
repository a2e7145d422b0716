"""`--log-level` and `--log-format` of the commands that run instances (`worker`, `serve`).

They log under the `tether` logger (runtime/logs.py): at INFO one line per worker start
and per instance start, resume, end and failure, on stderr; `json` writes one object per
line with the structured fields (instance_id, orchestration, ...).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

# runtime.logs checks the same names; not imported here, so that building the parser of
# every command does not import `logging`
LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")


def add(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-level", default="info", type=str.lower, choices=LEVELS,
                   help="lines logged on stderr (default info: worker start, instance "
                        "start/end/failure; debug adds steps and activity attempts)")
    p.add_argument("--log-format", default="text", choices=FORMATS,
                   help="text lines (default), or one JSON object per line")


@contextlib.contextmanager
def applied(args: argparse.Namespace) -> Iterator[None]:
    """The `tether` logger configured as the options say, for the command's run (undone
    after, so `main([...])` called in-process leaves logging as it found it)."""
    from runtime.logs import configure, unconfigure

    handler = configure(args.log_level, args.log_format)
    try:
        yield
    finally:
        unconfigure(handler)
