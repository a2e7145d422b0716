"""`--log-level` and `--log-format` of the commands that run instances (`worker`, `serve`).

They log under the `tether` logger (runtime/logs.py): at INFO one line per worker start
and per instance start, resume, end and failure, on stderr; `json` writes one object per
line with the structured fields (instance_id, orchestration, ...).
"""

from __future__ import annotations

import argparse

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


def apply(args: argparse.Namespace) -> None:
    """Configure the `tether` logger as the options say."""
    from runtime.logs import configure

    configure(args.log_level, args.log_format)
