"""Errors the CLI turns into one line on stderr and an exit code."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Exit codes of every `tether` command (DESIGN.md "Command line")."""

    OK = 0
    #: lint/compile found determinism problems; run: the instance Failed or was Terminated
    FINDINGS = 1
    #: bad usage, unreadable input, unknown id, syntax error: the tool could not do its job
    ERROR = 2


class UsageError(Exception):
    """A bad input from the user: printed as `error: <message>`, exit 2."""
