"""The limits on what may enter tether from outside, defined once and checked at every door.

A value crosses a boundary when a client starts an instance (CLI `--input`, `Client.start`
and `start_many`, `POST /api/orchestrators/...`), raises an event (`--data`,
`Client.raise_event`, `POST .../raiseEvent/...`), and inside the journal runtime when an
activity returns, an orchestration returns, continues as new, sets its custom status or
passes an input to an activity or a child (`runtime.context.boundary`; `runtime.direct`
applies the same checks, so both runtimes refuse alike). Text that is not a JSON value
(event names, termination reasons) is checked with `check_text`.

What is refused, one line naming the limit and where it was exceeded (docs/runtime.md,
"Limits"), as `NotJSONError`, which every door already reports as a user error:

- containers (lists, objects) nested more than `MAX_NESTING` (200) deep: the same limit
  the frame codec applies to a checkpoint (`runtime.values`, the `compiler` branch sets
  it there too: one number for both). Everything admitted must be saveable: a checkpoint
  wraps a value in a few more levels, and the journal's JSON is written and read by the
  standard library's recursive codec in any worker; 200 stays far from its limit. It is
  also well above the 64 of System.Text.Json, which Durable Functions' .NET workers use,
  so no value a Durable Functions client sends is refused here;
- strings (values, object keys, names) holding a lone surrogate (`"\\ud800"`): they have no
  UTF-8 form, so no JSON answer that contains one could be sent;
- integers of more than `MAX_INT_DIGITS` decimal digits, which Python refuses to read
  back from JSON text (`sys.get_int_max_str_digits`).

The walk is iterative: a value nested 100,000 deep is refused, never a RecursionError.
"""

from __future__ import annotations

import json
import re
from typing import Any

from runtime.values import NotJSONError

#: The deepest nesting of lists and objects a boundary value may have: `[]` is 1 deep,
#: `{"a": [1]}` 2, a number or a string 0. The frame codec's `runtime.values.MAX_NESTING`
#: (compiler branch) is the same number; once both are merged this one imports it.
MAX_NESTING = 200
#: Decimal digits of the largest integer a value may hold (CPython's default for reading
#: an int from text; a larger one could be written to a journal but never read back).
MAX_INT_DIGITS = 4300
_INT_BOUND = 10**MAX_INT_DIGITS
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
        raise NotJSONError(f"{what} is nested more than {MAX_NESTING} deep "
                           f"(tether's nesting limit)") from None
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


def check_value(value: Any, what: str) -> None:
    """Refuse `value` (`NotJSONError` naming `what`, the limit and the path inside it) if it
    nests more than MAX_NESTING deep, holds a string with a lone surrogate or an integer of
    more than MAX_INT_DIGITS digits. Types are `values.check_json`'s business."""
    if type(value) is list or type(value) is dict:
        _walk(value, what)
    else:
        _check_scalar(value, None, None, what)


# A stack entry: the container, its depth, and how it was reached (parent entry, key),
# so the path is only built when a message needs it.
_Entry = tuple[Any, int, "tuple[Any, Any] | None"]


def _walk(root: list[Any] | dict[str, Any], what: str) -> None:
    stack: list[_Entry] = [(root, 1, None)]
    while stack:
        entry = stack.pop()
        value, depth, _ = entry
        if depth > MAX_NESTING:
            raise _too_deep(entry, what)
        items = enumerate(value) if type(value) is list else value.items()
        for key, item in items:
            if type(key) is str and not key.isascii() and _SURROGATE.search(key):
                raise NotJSONError(f"{_format(_chain(entry), what)} has the key {_show(key)}, which "
                                   "holds a lone surrogate (no UTF-8 form); send UTF-8 text")
            kind = type(item)
            if kind is list or kind is dict:
                stack.append((item, depth + 1, (entry, key)))
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
    return what if entry is None else _format([*_chain(entry), (None, key)], what)


def _too_deep(entry: _Entry, what: str) -> NotJSONError:
    chain = _chain(entry)
    seen: set[int] = set()
    for index, (container, _) in enumerate(chain):
        if id(container) in seen:  # not deep: cyclic, which check_json words this way
            return NotJSONError(f"{_format(chain[:index + 1], what)} contains itself; "
                                "JSON values cannot be cyclic")
        seen.add(id(container))
    return NotJSONError(f"{what} is nested more than {MAX_NESTING} deep (tether's nesting "
                        f"limit) at {_format(chain, '')}")


def _chain(entry: _Entry) -> list[tuple[Any, Any]]:
    """(container, key it was reached by) from the root down to `entry`."""
    out: list[tuple[Any, Any]] = []
    current: _Entry | None = entry
    while current is not None:
        container, _, link = current
        out.append((container, link[1] if link else None))
        current = link[0] if link else None
    return out[::-1]


def _format(chain: list[tuple[Any, Any]], what: str) -> str:
    steps = [f"[{key!r}]" for _, key in chain[1:]]
    if len(steps) > _SHOWN_STEPS:
        steps = [*steps[:_SHOWN_STEPS], f"...({len(steps) - _SHOWN_STEPS} more)"]
    return what + "".join(steps)


def _show(text: str) -> str:
    """`text` as a message may print it: escaped, and cut if long."""
    shown = ascii(text)
    return shown if len(shown) <= 40 else shown[:37] + "...'"


def _no_constant(constant: str) -> Any:
    raise MalformedJSON(f"{constant} is not a JSON value")
