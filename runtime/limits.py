"""The limits on what may enter tether from outside, checked at every door by one call.

A value crosses a boundary when a client starts an instance (CLI `--input`, `Client.start`
and `start_many`, `POST /api/orchestrators/...`), raises an event (`--data`,
`Client.raise_event`, `POST .../raiseEvent/...`) or gives a reason (terminate, suspend,
resume), and inside the journal runtime when an activity returns, an orchestration
returns, continues as new, sets its custom status or passes an input to an activity or a
child (`runtime.context.boundary`; `runtime.direct` makes the same call, so both runtimes
refuse alike). `check_value` is that call; `parse_json` does it for JSON text from a
command line or a request body; `check_text` for names (event names).

What is refused, as `NotJSONError` (which every door reports as a user error: exit 2,
HTTP 400), in one line naming the limit and where inside the value it was exceeded
(docs/runtime.md, "Limits"):

- what `runtime.values.check_json` refuses: a value that is not plain JSON, a cycle, and
  lists and objects nested more than `MAX_NESTING` (200) deep. That number is defined
  once, in `runtime.values`, because the frame codec applies it to checkpoints too:
  everything admitted must be saveable, and a checkpoint wraps a value in a few more
  levels that the journal's JSON codec (the standard library's, recursive) must write
  and read back in any worker. It is well above the 64 of System.Text.Json, which Durable
  Functions' .NET workers use, so what a Durable Functions client sends is admitted;
- strings (values, object keys, names) holding a lone surrogate (`"\\ud800"`): they have
  no UTF-8 form, so no JSON answer holding one could be sent (a non-UTF-8 command-line
  argument decodes to one, PEP 383);
- integers of more than `MAX_INT_DIGITS` decimal digits, which Python refuses to read
  back from JSON text (`sys.get_int_max_str_digits`).

Every walk uses an explicit stack: a value nested 100,000 deep is refused like one 201
deep, never with a RecursionError.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from runtime.values import MAX_NESTING, NotJSONError, check_json

__all__ = ["INT_BOUND", "MAX_INT_DIGITS", "MAX_NESTING", "MalformedJSON", "admitted_scalar", "check_text",
           "check_value", "parse_json"]

#: Decimal digits of the largest integer a value may hold (CPython's default for reading
#: an int from text; a larger one could be written to a journal but never read back).
MAX_INT_DIGITS = 4300
_INT_BOUND = 10**MAX_INT_DIGITS
INT_BOUND = _INT_BOUND  # an int is admitted if -INT_BOUND < value < INT_BOUND
_SURROGATE = re.compile("[\ud800-\udfff]")
_SHOWN_STEPS = 6  # path steps a message shows before eliding the rest of a deep path


class MalformedJSON(NotJSONError):
    """JSON text from outside that does not parse; the message is the parser's detail only,
    so each door words it its own way (`--input is not valid JSON: ...`)."""


def parse_json(text: str | bytes, what: str) -> Any:
    """The value of JSON text from a user, checked by `check_value`; `MalformedJSON` when
    it does not parse (NaN and Infinity, which JSON lacks, included), `NotJSONError`
    naming the limit when it parses but exceeds one."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except MalformedJSON:
        raise
    except RecursionError:  # far deeper than MAX_NESTING: json gave up before we could count
        raise NotJSONError(f"{what} nests deeper than {MAX_NESTING} levels") from None
    except UnicodeDecodeError as exc:
        raise MalformedJSON(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise MalformedJSON(str(exc)) from None
    except ValueError as exc:  # an integer literal past Python's digit limit
        if "digits" in str(exc):
            raise NotJSONError(f"{what} has an integer of more than {MAX_INT_DIGITS} digits "
                               "(tether's integer limit)") from None
        raise MalformedJSON(str(exc)) from None
    check_value(value, what)
    return value


def check_text(text: str, what: str) -> str:
    """`text` if it has a UTF-8 form; `NotJSONError` naming `what` if it holds a lone
    surrogate (a non-UTF-8 command-line argument decodes to one) or is not a str."""
    if not isinstance(text, str):
        raise NotJSONError(f"{what} must be a string, not {type(text).__name__}")
    if not text.isascii() and _SURROGATE.search(text):
        raise NotJSONError(f"{what} {_show(text)} holds a lone surrogate, which has no UTF-8 "
                           "form; send UTF-8 text")
    return text


def admitted_scalar(value: Any) -> bool:
    """`value` is None, a bool, a finite float, an ASCII str or an int within
    MAX_INT_DIGITS: admitted by `check_value` without a walk (the usual activity input
    and result, checked twice per step)."""
    kind = type(value)
    return value is None or kind is bool or (kind is str and value.isascii()) or (
        kind is int and -_INT_BOUND < value < _INT_BOUND) or (
        kind is float and math.isfinite(value))


def check_value(value: Any, what: str) -> None:
    """Refuse `value` (`NotJSONError` naming `what`, the limit and the path inside it) if
    `check_json` refuses it (not plain JSON, cyclic, nested more than MAX_NESTING deep), or
    if it holds a string with a lone surrogate or an integer of more than MAX_INT_DIGITS
    digits."""
    check_json(value, what)  # first: what follows walks a value known acyclic and shallow
    if type(value) is list or type(value) is dict:
        _walk(value, what)
    else:
        _check_scalar(value, None, None, what)


# A stack entry: the container, and how it was reached (parent entry, key), so a path is
# only built when a message needs it.
_Entry = tuple[Any, "tuple[Any, Any] | None"]


def _walk(root: list[Any] | dict[str, Any], what: str) -> None:
    stack: list[_Entry] = [(root, None)]
    while stack:
        entry = stack.pop()
        value = entry[0]
        items = enumerate(value) if type(value) is list else value.items()
        for key, item in items:
            if type(key) is str and not key.isascii() and _SURROGATE.search(key):
                raise NotJSONError(f"{_format(_chain(entry), what)} has the key {_show(key)}, "
                                   "which holds a lone surrogate (no UTF-8 form); send UTF-8 text")
            kind = type(item)
            if kind is list or kind is dict:
                stack.append((item, (entry, key)))
            elif (kind is str and not item.isascii()) or kind is int:
                _check_scalar(item, entry, key, what)


def _check_scalar(value: Any, entry: _Entry | None, key: Any, what: str) -> None:
    kind = type(value)
    if kind is str and not value.isascii() and _SURROGATE.search(value):
        raise NotJSONError(f"{_where(entry, key, what)} is the string {_show(value)}, which "
                           "holds a lone surrogate (no UTF-8 form); send UTF-8 text")
    if kind is int and not -_INT_BOUND < value < _INT_BOUND:
        raise NotJSONError(f"{_where(entry, key, what)} is an integer of more than "
                           f"{MAX_INT_DIGITS} digits (tether's integer limit)")


def _where(entry: _Entry | None, key: Any, what: str) -> str:
    return what if entry is None else _format([*_chain(entry), key], what)


def _chain(entry: _Entry) -> list[Any]:
    """The keys that lead from the root to `entry`'s container."""
    keys: list[Any] = []
    link = entry[1]
    while link is not None:
        parent, key = link
        keys.append(key)
        link = parent[1]
    return keys[::-1]


def _format(keys: list[Any], what: str) -> str:
    steps = [f"[{key!r}]" for key in keys]
    if len(steps) > _SHOWN_STEPS:
        steps = [*steps[:_SHOWN_STEPS], f"...({len(steps) - _SHOWN_STEPS} more)"]
    return what + "".join(steps)


def _show(text: str) -> str:
    """`text` as a message may print it: escaped, and cut if long."""
    shown = ascii(text)
    return shown if len(shown) <= 40 else shown[:37] + "...'"


def _no_constant(constant: str) -> Any:
    raise MalformedJSON(f"{constant} is not a JSON value")
