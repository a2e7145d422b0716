"""The frame codec: what an orchestration's locals look like in a checkpoint.

`encode_slots` turns the locals a machine saved at a suspension into a JSON-able dict;
`decode_slots` rebuilds them. Supported: JSON values, tuple, set, frozenset, bytes,
datetime/date/time/timedelta (time zone kept), UUID, Decimal, `Task` handles (saved by
task id and rebuilt through the caller's task table), and exceptions (`TaskFailedError`
with its fields; other exception classes importable by module and qualified name, with
encodable args). Identity is kept across the whole slot dict: two names for one list
stay one list, and cycles survive. docs/journal.md ("Frame encoding") has the format.

`check_json` guards the boundaries (orchestration input and output, activity input and
result, event data), where only plain JSON values may cross.
"""

from __future__ import annotations

import base64
import importlib
import math
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from runtime.api import Task, TaskFailedError

SUPPORTED = (
    "JSON values, tuple, set, frozenset, bytes, datetime, date, time, timedelta, UUID, "
    "Decimal, exceptions and Task handles can"
)
JSON_VALUES = "None, bool, int, float, str, list, dict with str keys"


class FrameValueError(Exception):
    """A local live across an await holds a value a checkpoint cannot save."""


class NotJSONError(ValueError):
    """A value crossing a boundary (input, output, activity result, event) is not JSON."""


# ---------------------------------------------------------------------------- check_json


def check_json(value: Any, what: str) -> None:
    """Raise NotJSONError naming `what`, the path inside `value` and the type at fault."""
    _check(value, what, set())


def _check(value: Any, path: str, active: set[int]) -> None:
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return
    if kind is float:
        if not math.isfinite(value):
            raise NotJSONError(f"{path} is {value!r}, which JSON cannot represent")
        return
    if kind is list or kind is dict:
        if id(value) in active:
            raise NotJSONError(f"{path} contains itself; JSON values cannot be cyclic")
        active.add(id(value))
        if kind is list:
            for i, item in enumerate(value):
                _check(item, f"{path}[{i}]", active)
        else:
            for key, item in value.items():
                if type(key) is not str:
                    raise NotJSONError(
                        f"{path} has a key of type {type(key).__name__} ({key!r}); "
                        "JSON object keys are str"
                    )
                _check(item, f"{path}[{key!r}]", active)
        active.discard(id(value))
        return
    hint = " (use a list)" if kind is tuple else ""
    raise NotJSONError(
        f"{path} is a {kind.__name__}, which is not a JSON value ({JSON_VALUES}){hint}"
    )


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (fresh lists and dicts, shared immutables)."""
    if type(value) is list:
        return [json_copy(v) for v in value]
    if type(value) is dict:
        return {k: json_copy(v) for k, v in value.items()}
    return value


# ------------------------------------------------------------------------------- encoding

_CONTAINERS = (list, dict, set, tuple, frozenset)


def encode_slots(slots: dict[str, Any], tasks: set[int] | None = None, *,
                 describe: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The JSON-able form of a frame's slots; `tasks` collects the ids of Task handles.
    `describe(slot)` names a slot in errors (`MachineDef.describe`: a compiler temporary is
    named by what it holds, not by its invented name)."""
    shared = _shared_objects(slots)
    enc = _Encoder(shared, tasks if tasks is not None else set())
    out: dict[str, Any] = {}
    for name, value in slots.items():
        enc.variable = name
        enc.slot = describe(name) if describe else f"local `{name}`"
        out[name] = enc.encode(value, name)
    return out


def _children(value: Any) -> Iterator[Any]:
    if type(value) is dict:
        for k, v in value.items():
            yield k
            yield v
    elif type(value) in _CONTAINERS:
        yield from value
    elif isinstance(value, BaseException):
        yield from value.args


def _shared_objects(slots: dict[str, Any]) -> set[int]:
    """Ids of the containers (and exceptions) reached more than once from the slots."""
    seen: set[int] = set()
    shared: set[int] = set()
    stack = list(slots.values())
    while stack:
        value = stack.pop()
        if not (type(value) in _CONTAINERS or isinstance(value, BaseException)):
            continue
        if id(value) in seen:
            shared.add(id(value))
            continue
        seen.add(id(value))
        stack.extend(_children(value))
    return shared


class _Encoder:
    def __init__(self, shared: set[int], tasks: set[int]) -> None:
        self.shared = shared
        self.tasks = tasks
        self.slot = ""  # how errors name the slot being encoded
        self.ids: dict[int, int] = {}
        self.keep: list[Any] = []  # keeps encoded objects alive so their ids stay unique
        self.variable = ""

    def encode(self, value: Any, path: str) -> Any:
        kind = type(value)
        if value is None or kind in (bool, int, str):
            return value
        if kind is float:
            return value if math.isfinite(value) else {"$float": repr(value)}
        key = id(value)
        if key in self.ids:
            return {"$ref": self.ids[key]}
        if key not in self.shared:
            return self._node(value, kind, path)
        # Registered before its children, so a cycle back to it becomes a $ref.
        self.ids[key] = len(self.ids)
        self.keep.append(value)
        node = self._node(value, kind, path)
        if type(node) is list:
            node = {"$list": node}
        elif "$" not in "".join(k[:1] for k in node):
            node = {"$obj": node}
        node["$id"] = self.ids[key]
        return node

    def _node(self, value: Any, kind: type, path: str) -> Any:
        if kind is list:
            return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind is dict:
            if all(type(k) is str and not k.startswith("$") for k in value):
                return {k: self.encode(v, f"{path}[{k!r}]") for k, v in value.items()}
            return {"$dict": [[self.encode(k, f"{path} key"), self.encode(v, f"{path}[{k!r}]")]
                              for k, v in value.items()]}
        if kind is set:
            return {"$set": [self.encode(v, f"{path} item") for v in _stable(value)]}
        if kind is tuple:
            return {"$tuple": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]}
        if kind is frozenset:
            return {"$frozenset": [self.encode(v, f"{path} item") for v in _stable(value)]}
        leaf = _encode_leaf(value, kind)
        if leaf is not None:
            return leaf
        if isinstance(value, Task):
            self.tasks.add(value.id)
            return {"$task": value.id}
        if isinstance(value, BaseException):
            return self._exception(value, path)
        raise self._refuse(kind, path)

    def _exception(self, error: BaseException, path: str) -> dict[str, Any]:
        if type(error) is TaskFailedError:
            return {"$error": "TaskFailedError", "message": error.message,
                    "error_type": error.error_type, "details": error.details,
                    "task_name": error.task_name}
        cls = type(error)
        ref = f"{cls.__module__}:{cls.__qualname__}"
        if _import(ref) is not cls:
            raise FrameValueError(
                f"cannot checkpoint {self.slot}: exception class {cls.__qualname__}"
                f"{self._where(path)} cannot be imported by name, so it cannot be saved; "
                "define it at module level"
            )
        return {"$exception": ref,
                "args": [self.encode(a, f"{path}.args[{i}]") for i, a in enumerate(error.args)]}

    def _refuse(self, kind: type, path: str) -> FrameValueError:
        return FrameValueError(
            f"cannot checkpoint {self.slot}: values of type {kind.__name__} "
            f"cannot be saved{self._where(path)} ({SUPPORTED})"
        )

    def _where(self, path: str) -> str:
        """Where in the slot the value is: the path from the variable, or from inside the
        slot when the slot is a compiler temporary (its invented name means nothing)."""
        if path == self.variable:
            return ""
        if self.slot != f"local `{self.variable}`":
            path = path[len(self.variable):].lstrip(".")
        return f" (at {path})"


def _stable(items: set[Any] | frozenset[Any]) -> list[Any]:
    """Set members in a stable order, so equal frames encode to equal text."""
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


def _encode_leaf(value: Any, kind: type) -> dict[str, Any] | None:
    if kind is bytes:
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if kind is datetime or kind is time:
        tag = "$datetime" if kind is datetime else "$time"
        node: dict[str, Any] = {tag: value.isoformat()}
        if isinstance(value.tzinfo, ZoneInfo):
            node["tz"] = value.tzinfo.key
        if value.fold:
            node["fold"] = 1
        return node
    if kind is date:
        return {"$date": value.isoformat()}
    if kind is timedelta:
        return {"$timedelta": [value.days, value.seconds, value.microseconds]}
    if kind is UUID:
        return {"$uuid": str(value)}
    if kind is Decimal:
        return {"$decimal": str(value)}
    if kind is range:  # a lowered `for i in range(n)` keeps the range, not n items
        return {"$range": [value.start, value.stop, value.step]}
    return None


def _import(ref: str) -> Any:
    module_name, _, qualname = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj


# ------------------------------------------------------------------------------- decoding


def decode_slots(data: dict[str, Any], task: Callable[[int], Task[Any]]) -> dict[str, Any]:
    """Rebuild the slots `encode_slots` saved; `task(id)` supplies Task handles."""
    dec = _Decoder(task)
    for node in data.values():
        dec.index(node)
    out = {name: dec.build(node) for name, node in data.items()}
    dec.fill()
    return out


class _Decoder:
    """Three phases, so cycles through tuples work: index every node (creating an empty
    shell for each list, dict and set), build values (immutables eagerly, mutables as
    their shells), then fill the shells."""

    def __init__(self, task: Callable[[int], Task[Any]]) -> None:
        self.task = task
        self.shells: dict[int, Any] = {}  # id(node) -> empty list/dict/set
        self.nodes: list[Any] = []  # mutable nodes (JSON lists or dicts), in order, to fill
        self.defs: dict[int, dict[str, Any]] = {}  # $id -> defining node
        self.built: dict[int, Any] = {}  # id(node) -> built immutable

    def index(self, node: Any) -> None:
        stack = [node]
        while stack:
            n = stack.pop()
            kind = _mutable_kind(n)
            if kind is not None and id(n) not in self.shells:
                self.shells[id(n)] = kind()
                self.nodes.append(n)
            if type(n) is dict and "$id" in n:
                self.defs.setdefault(n["$id"], n)
            stack.extend(_node_children(n))

    def build(self, node: Any) -> Any:
        if type(node) is list:
            return self.shells[id(node)]
        if type(node) is not dict:
            return node
        if "$ref" in node:
            target = self.defs.get(node["$ref"])
            if target is None:
                raise ValueError(f"frame data refers to undefined object {node['$ref']}")
            node = target
        if id(node) in self.shells:
            return self.shells[id(node)]
        if id(node) not in self.built:
            self.built[id(node)] = self._immutable(node)
        return self.built[id(node)]

    def _immutable(self, node: dict[str, Any]) -> Any:
        if "$tuple" in node:
            return tuple(self.build(v) for v in node["$tuple"])
        if "$frozenset" in node:
            return frozenset(self.build(v) for v in node["$frozenset"])
        if "$float" in node:
            return float(node["$float"])
        if "$task" in node:
            return self.task(int(node["$task"]))
        if "$error" in node:
            return TaskFailedError(node["message"], error_type=node["error_type"],
                                   details=node["details"], task_name=node["task_name"])
        if "$exception" in node:
            cls = _import(node["$exception"])
            if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                raise ValueError(f"frame names exception class {node['$exception']}, "
                                 "which can no longer be imported")
            return cls(*(self.build(a) for a in node["args"]))
        return _decode_leaf(node)

    def fill(self) -> None:
        for node in self.nodes:
            shell = self.shells[id(node)]
            if isinstance(node, list):
                shell.extend(self.build(v) for v in node)
            elif "$list" in node:
                shell.extend(self.build(v) for v in node["$list"])
            elif "$dict" in node:
                shell.update((self.build(k), self.build(v)) for k, v in node["$dict"])
            elif "$set" in node:
                shell.update(self.build(v) for v in node["$set"])
            else:
                fields = node.get("$obj", node)
                shell.update((k, self.build(v)) for k, v in fields.items())


def _is_plain(node: dict[str, Any]) -> bool:
    return not any(k.startswith("$") for k in node)


def _mutable_kind(node: Any) -> type | None:
    if type(node) is list:
        return list
    if type(node) is not dict:
        return None
    if _is_plain(node) or "$obj" in node or "$dict" in node:
        return dict
    if "$list" in node:
        return list
    if "$set" in node:
        return set
    return None


def _node_children(node: Any) -> list[Any]:
    if type(node) is list:
        return node
    if type(node) is not dict:
        return []
    if _is_plain(node):
        return list(node.values())
    for tag in ("$list", "$tuple", "$set", "$frozenset", "args"):
        if tag in node:
            return list(node[tag])
    if "$obj" in node:
        return list(node["$obj"].values())
    if "$dict" in node:
        return [x for pair in node["$dict"] for x in pair]
    return []


def _decode_leaf(node: dict[str, Any]) -> Any:
    if "$bytes" in node:
        return base64.b64decode(node["$bytes"])
    if "$datetime" in node or "$time" in node:
        is_dt = "$datetime" in node
        text = node["$datetime"] if is_dt else node["$time"]
        value: datetime | time = (datetime if is_dt else time).fromisoformat(text)
        zone: tzinfo | None = ZoneInfo(node["tz"]) if "tz" in node else None
        if zone is not None:
            value = value.replace(tzinfo=zone)
        if node.get("fold"):
            value = value.replace(fold=1)
        return value
    if "$date" in node:
        return date.fromisoformat(node["$date"])
    if "$timedelta" in node:
        days, seconds, micros = node["$timedelta"]
        return timedelta(days=days, seconds=seconds, microseconds=micros)
    if "$uuid" in node:
        return UUID(node["$uuid"])
    if "$decimal" in node:
        return Decimal(node["$decimal"])
    if "$range" in node:
        start, stop, step = node["$range"]
        return range(start, stop, step)
    raise ValueError(f"frame data has an unknown node {sorted(node)}")
