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
    carets) when the position has no columns."""
    exact = all(isinstance(v, int) for v in (end_line, col, end_col)) and end_line >= line
    text = _source_at(line, end_line, col, end_col) if exact else "\n" * (line - 1) + "_"
    code = compile(text, filename, "exec").replace(co_name=name, co_qualname=name)
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


def _source_at(line: int, end_line: int, col: int, end_col: int) -> str:
    """Module source whose first failing instruction spans exactly (line, col) to
    (end_line, end_col): an unbound name on one line, `0/0` across lines. Parentheses
    (or a backslash at the very start of the file) let it start at any column."""
    if line == end_line:
        width = max(end_col - col, 1)
        parts = [" " * col + "_" * width]
    else:
        parts = [" " * col + "0/", *[""] * (end_line - line - 1), " " * max(end_col - 1, 0) + "0"]
    if col == 0:
        if len(parts) > 1 and line == 1:
            parts = [p + "\\" for p in parts[:-1]] + parts[-1:]
        elif len(parts) > 1:
            parts = ["(", *parts, ")"]
            line -= 1
    elif line > 1:
        parts = ["(", *parts, ")"]
        line -= 1
    else:  # line 1, indented: the parenthesis takes the first column
        parts[0] = "(" + parts[0][1:]
        parts[-1] += ")"
    return "\n" * (line - 1) + "\n".join(parts)
