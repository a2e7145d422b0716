"""A user's mistake while SRC is imported, as one line naming their file and line.

Importing SRC runs the user's module-level code: a missing module, a NameError, an
`@activity` with two parameters, `from tether import when_all`, or any exception their
code raises there is their mistake, not tether's, and `tether.cli` must not call it an
internal error. `describe(exc, src)` finds the innermost frame of the traceback that is
the user's code (not tether's packages, not the import machinery) and words the problem
as what it is, with a hint where tether deliberately differs from Durable Functions.
"""

from __future__ import annotations

import os
import re
import traceback
from pathlib import Path

from runtime.api import OrchestrationError

_OURS = tuple(str(Path(__file__).resolve().parents[1] / p) + os.sep
              for p in ("tether", "runtime", "compiler", "lint"))

# names a Durable Functions user may import from tether that live elsewhere here
IMPORT_HINTS = {
    "when_all": "`when_all` is a method of the context: `await ctx.when_all(tasks)`",
    "when_any": "`when_any` is a method of the context: `await ctx.when_any(tasks)`",
    "task_all": "tether calls it `ctx.when_all(tasks)`",
    "task_any": "tether calls it `ctx.when_any(tasks)`",
    "DurableOrchestrationContext": "tether calls it `OrchestrationContext`",
    "Orchestrator": "decorate the `async def` with `@orchestrator` instead",
    "RetryOptions": "tether calls it `RetryPolicy`, passed as `retry=`",
}


def describe(exc: BaseException, src: str) -> str:
    """One line: `file:line: what went wrong while importing src`."""
    where = _user_location(exc) or (src, None)
    place = f"{_shown(where[0])}:{where[1]}" if where[1] else _shown(where[0])
    return f"{place}: {_what(exc, src)}"


def _what(exc: BaseException, src: str) -> str:
    if isinstance(exc, ModuleNotFoundError):
        return f"no module named {exc.name!r} (imported by {src}'s code)"
    if isinstance(exc, ImportError):
        message = re.sub(r" \((?:/|[A-Za-z]:\\)[^)]*\)$", "", str(exc))
        missing = re.match(r"cannot import name '(\w+)'", message)
        hint = IMPORT_HINTS.get(missing.group(1)) if missing else None
        return f"{message}; {hint}" if hint else message
    if isinstance(exc, SyntaxError):
        return f"syntax error: {exc.msg}"
    if isinstance(exc, OrchestrationError):
        return str(exc)
    return f"importing {src} raised {type(exc).__name__}: {exc}"


def _user_location(exc: BaseException) -> tuple[str, int | None] | None:
    if isinstance(exc, SyntaxError) and exc.filename and not _is_ours(exc.filename):
        return exc.filename, exc.lineno
    found: tuple[str, int | None] | None = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if not _is_ours(frame.filename) and not frame.filename.startswith("<"):
            found = (frame.filename, frame.lineno)
    return found


def _is_ours(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_OURS)


def _shown(filename: str) -> str:
    """A path as the user knows it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(filename) if not os.path.relpath(filename).startswith("..") \
            else filename
    except ValueError:  # another drive
        return filename
