"""An exception's traceback as a checkpoint keeps it, and the traceback rebuilt from that.

`entries(tb)` is what Python's `traceback` module reads from a traceback, entry by entry:
the file, the function's name, and the position (line, end line, start and end column)
of the instruction the entry stands at, as JSON. `rebuild(saved)` makes a chain of real
`types.TracebackType` objects that show the same: `traceback.format_exception`,
`extract_tb`, `tb_lineno`, `tb_next` and the carets under a failing expression answer as
they did before the checkpoint, and a later `raise` of the exception adds its entries in
front, as it would have.

The frames behind the rebuilt entries are stand-ins: each is the frame of a tiny code
object compiled under the saved file name and named as the saved function, with one
instruction at exactly the saved position. They hold no locals and no caller, and their
`tb_lasti` is that stand-in's. What a frame held cannot be saved, so the compiler refuses
orchestrator code that reads a traceback's frames (`tb_frame`, `tb_lasti`, frame
introspection): see compiler/passes/collect.py. Stand-ins are cached (one per file,
function and position), so rebuilding costs a dictionary lookup per entry.
"""

from __future__ import annotations

import functools
import itertools
from types import CodeType, FrameType, TracebackType
from typing import Any

# One saved entry: [file, function, line, end line, column, end column]; the last three
# are None where the code object has no column information.
Entry = list[Any]


def entries(tb: TracebackType | None) -> list[Entry]:
    """The saved form of `tb` and the entries after it, innermost last."""
    out: list[Entry] = []
    while tb is not None:
        code = tb.tb_frame.f_code
        line, end_line, col, end_col = _position(code, tb.tb_lasti)
        # as the traceback module reads it: the code's own line, else the entry's
        out.append([code.co_filename, code.co_name, tb.tb_lineno if line is None else line,
                    end_line, col, end_col])
        tb = tb.tb_next
    return out


def rebuild(saved: list[Entry]) -> TracebackType | None:
    """A traceback chain showing the `saved` entries (see the module docstring)."""
    tb: TracebackType | None = None
    for filename, name, line, end_line, col, end_col in reversed(saved):
        frame, lasti = _stand_in(str(filename), str(name), int(line), end_line, col, end_col)
        tb = TracebackType(tb, frame, lasti, int(line))
    return tb


def stand_in_frame(filename: str, name: str) -> FrameType:
    """A finished frame of code named `name` in `filename` (a marker in a chain)."""
    return _stand_in(filename, name, 1, None, None, None)[0]


def _position(code: CodeType, lasti: int) -> tuple[Any, Any, Any, Any]:
    # what traceback._get_code_position answers (CPython 3.11+): code units are 2 bytes
    if lasti < 0:
        return None, None, None, None
    found = next(itertools.islice(code.co_positions(), lasti // 2, None), None)
    return found if found is not None else (None, None, None, None)


@functools.lru_cache(maxsize=4096)
def _stand_in(filename: str, name: str, line: int, end_line: Any, col: Any,
              end_col: Any) -> tuple[FrameType, int]:
    """A finished frame of code named `name` in `filename` and the `tb_lasti` of its
    instruction at the position given; -1 (no position: the entry's line is shown, no
    carets) when the position has no columns (or none that a small source can spell)."""
    exact = all(isinstance(v, int) for v in (end_line, col, end_col)) \
        and 0 <= end_line - line <= _MAX_SPAN and 0 <= col <= _MAX_SPAN \
        and 0 <= end_col <= _MAX_SPAN
    if exact:
        # the snippet's expression starts on its line 2; the code's first line moves it
        # to `line` (positions are kept relative to it), so no text of `line` lines
        code = compile(_source_at(end_line - line, col, end_col), filename, "exec")
        code = code.replace(co_firstlineno=max(line - 1, 0))
    else:
        code = compile("_", filename, "exec").replace(co_firstlineno=max(line, 0))
    code = code.replace(co_name=name, co_qualname=name)
    try:
        exec(code, {"__builtins__": {}})  # the one instruction raises: its frame is kept
    except (NameError, ZeroDivisionError) as stopped:
        inner = stopped.__traceback__.tb_next if stopped.__traceback__ else None
        if inner is None:  # pragma: no cover - exec always adds the code's own entry
            raise AssertionError("a traceback stand-in has no frame") from None
        frame, lasti = inner.tb_frame, inner.tb_lasti
    else:  # pragma: no cover - the source always raises
        raise AssertionError("a traceback stand-in did not raise")
    if not exact or _position(code, lasti) != (line, end_line, col, end_col):
        lasti = -1
    return frame, lasti


# Spans and columns past this are not spelled out (a saved entry is data read back from a
# journal: it must not make a stand-in's source arbitrarily long).
_MAX_SPAN = 10_000


def _source_at(lines: int, col: int, end_col: int) -> str:
    """Module source whose first failing instruction spans exactly (2, col) to (2 + lines,
    end_col): an unbound name on one line, `0/0` across lines, inside parentheses so that
    it may start at any column."""
    if lines == 0:
        parts = [" " * col + "_" * max(end_col - col, 1)]
    else:
        parts = [" " * col + "0/", *[""] * (lines - 1), " " * max(end_col - 1, 0) + "0"]
    return "\n".join(["(", *parts, ")"])
