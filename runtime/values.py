"""The frame codec: what an orchestration's locals look like in a checkpoint.

`encode_slots` turns the locals a machine saved at a suspension into a JSON-able dict;
`decode_slots` rebuilds them. Supported: JSON values, tuple, set, frozenset, bytes,
datetime/date/time/timedelta (time zone kept), UUID, Decimal, range, `collections`'
Counter, OrderedDict, defaultdict and deque, `Task` handles (saved by task id and rebuilt
through the caller's task table), functions and classes importable by name (saved as
that name), dataclass instances, pydantic models and classes registered with `saveable`
(saved as their fields, rebuilt without calling `__init__`), and exceptions (saved as
`__reduce_ex__` describes them, plus their `__dict__`, `__cause__`, `__context__`,
`__suppress_context__` and what their traceback shows, rebuilt by `runtime.tracebacks`;
a user's class rebuilt without calling its `__init__`).

Identity is kept across the whole slot dict: two names for one list stay one list, and
cycles survive. Neither direction recurses on the C stack; values may nest at most
`MAX_NESTING` levels, here as at every boundary. docs/journal.md ("Frame encoding") has
the format.

`check_json` guards the boundaries (orchestration input and output, activity input and
result, event data), where only plain JSON values may cross.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import math
import sys
import types
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from runtime import tracebacks
from runtime.api import Task, TaskFailedError

# How deep values may nest (a list in a list counts one per level), at every boundary
# (CLI, Client, HTTP) and in a frame. The journal's JSON is parsed and written by the
# standard library's recursive codec; 200 levels stay far from its limit even after the
# frame encoding wraps each tuple or set in a tagged object.
MAX_NESTING = 200

SUPPORTED = (
    "JSON values, tuple, set, frozenset, bytes, datetime, date, time, timedelta, UUID, "
    "Decimal, range, Counter, OrderedDict, defaultdict, deque, dataclass instances, "
    "pydantic models, exceptions, functions and classes importable by name, and Task handles can"
)
JSON_VALUES = "None, bool, int, float, str, list, dict with str keys"

T = TypeVar("T")


class FrameValueError(Exception):
    """A local live across an await holds a value a checkpoint cannot save."""


class NotJSONError(ValueError):
    """A value crossing a boundary (input, output, activity result, event) is not JSON."""


# ------------------------------------------------------------------------ registration

# Classes saved as their fields although they are not dataclasses: "module:qualname" ->
# class. Dataclasses need no registration.
_SAVEABLE: dict[str, type] = {}


def saveable(cls: type[T]) -> type[T]:
    """Class decorator: instances of `cls` may be kept in locals across an await.

    They are saved as their fields (dataclass fields, else `__dict__` and `__slots__`)
    and rebuilt without calling `__init__`, as `copy` and `pickle` rebuild objects. The
    class must be importable by module and qualified name. Dataclasses are saveable
    without it; the authoring API registers its own types with it (one line each).
    """
    _SAVEABLE[_ref(cls)] = cls
    return cls


# `str` subclasses saved as text under a tag (`{"$entity": "@counter@a"}`), with the
# function that rebuilds one: tag -> (class, parse). Registered by their own modules.
_STR_LEAVES: dict[str, tuple[type, Callable[[str], Any]]] = {}


def saveable_str(tag: str, cls: type, parse: Callable[[str], Any]) -> None:
    """Instances of the `str` subclass `cls` may be kept in locals across an await: saved
    as `{"$<tag>": text}` and rebuilt with `parse(text)` (`EntityId` registers itself)."""
    _STR_LEAVES[tag] = (cls, parse)


def _ref(obj: Any) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def _import(ref: str) -> Any:
    module_name, _, qualname = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, ValueError):
        return None
    return obj


def _importable(obj: Any) -> bool:
    return _import(_ref(obj)) is obj


def _is_record(cls: type) -> bool:
    """Instances of `cls` are saved as their fields."""
    return dataclasses.is_dataclass(cls) or _SAVEABLE.get(_ref(cls)) is cls or (
        issubclass(cls, tuple) and hasattr(cls, "_fields")) or _is_pydantic_model(cls)


def _is_pydantic_model(cls: type) -> bool:
    # A pydantic model is saved as its fields like a dataclass: `__dict__` holds them, and
    # `__slots__` the set of fields given, the extra fields and private attributes, so
    # `_fields` sees the model whole and the rebuilt model is the same (issue 13).
    # Never imported here: a model exists only once its class's module imported pydantic.
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and issubclass(cls, pydantic.BaseModel)


# Immutable built-in types a saveable class may extend (EntityId is a str, a namedtuple a
# tuple): the instance is saved as its built-in value plus its own fields, and rebuilt by
# the built-in type's __new__, never the class's own (which may take other arguments).
_BASES = (str, int, float, bytes, tuple, frozenset)


def _base(cls: type) -> type | None:
    return next((b for b in _BASES if issubclass(cls, b)), None)


def _fields(value: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(value):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)
                if hasattr(value, f.name)}
    out = dict(getattr(value, "__dict__", {}))
    for klass in type(value).__mro__:
        for name in getattr(klass, "__slots__", ()):
            if name not in ("__dict__", "__weakref__") and hasattr(value, name):
                out[name] = getattr(value, name)
    return out


def _hashable_record(cls: type) -> bool:
    # a frozen dataclass or a str/tuple/... subclass may be a dict key or set member: it is
    # built from its parts before anything hashes it (a mutable record is filled in
    # later, like a list)
    if _base(cls) is not None:
        return True
    if getattr(cls, "__hash__", None) is None:
        return False
    if _is_pydantic_model(cls):  # `model_config = ConfigDict(frozen=True)`
        return bool(cls.model_config.get("frozen"))  # type: ignore[attr-defined]
    return dataclasses.is_dataclass(cls) \
        and bool(cls.__dataclass_params__.frozen)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- check_json


def check_json(value: Any, what: str) -> None:
    """Raise NotJSONError naming `what`, the path inside `value` and the type at fault
    (or that it nests deeper than `MAX_NESTING`). Walks with an explicit stack."""
    active: set[int] = set()  # the containers on the path being walked (cycles)
    # (value, path, depth); `_LEAVE` entries mark where a container's walk ends
    stack: list[tuple[Any, str, int]] = [(value, what, 1)]
    while stack:
        item, path, depth = stack.pop()
        if item is _LEAVE:
            active.discard(depth)  # a leave marker carries the container's id
            continue
        kind = type(item)
        if item is None or kind in (bool, int, str):
            continue
        if kind is float:
            if not math.isfinite(item):
                raise NotJSONError(f"{path} is {item!r}, which JSON cannot represent")
            continue
        if kind is not list and kind is not dict:
            hint = " (use a list)" if kind is tuple else ""
            raise NotJSONError(
                f"{path} is a {kind.__name__}, which is not a JSON value ({JSON_VALUES}){hint}"
            )
        if id(item) in active:
            raise NotJSONError(f"{path} contains itself; JSON values cannot be cyclic")
        if depth > MAX_NESTING:
            raise NotJSONError(f"{_short(path)} nests deeper than {MAX_NESTING} levels")
        active.add(id(item))
        stack.append((_LEAVE, path, id(item)))
        children: list[tuple[Any, str, int]] = []
        if kind is list:
            children = [(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item)]
        else:
            for key, v in item.items():
                if type(key) is not str:
                    raise NotJSONError(
                        f"{path} has a key of type {type(key).__name__} ({key!r}); "
                        "JSON object keys are str"
                    )
                children.append((v, f"{path}[{key!r}]", depth + 1))
        stack.extend(reversed(children))


_LEAVE = object()


def _short(path: str) -> str:
    """A path inside a value, cut to fit one readable line."""
    return path if len(path) <= 100 else f"{path[:60]} ... {path[-30:]}"


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (fresh lists and dicts, shared immutables)."""
    out: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, out, 0)]
    while stack:
        item, into, key = stack.pop()
        kind = type(item)
        if kind is list:
            copy: Any = [None] * len(item)
            stack.extend((v, copy, i) for i, v in enumerate(item))
        elif kind is dict:
            copy = dict.fromkeys(item)
            stack.extend((v, copy, k) for k, v in item.items())
        else:
            copy = item
        into[key] = copy
    return out[0]


# ------------------------------------------------------------------------------- encoding

_CONTAINERS = (list, dict, set, tuple, frozenset, Counter, OrderedDict, defaultdict, deque)
_PAIRS = {Counter: "$counter", OrderedDict: "$ordereddict", defaultdict: "$defaultdict"}
_PAIR_KINDS = {tag: kind for kind, tag in _PAIRS.items()}

_PLAIN = frozenset({type(None), bool, int, str})  # saved as they are
# Leaves of `_encode_leaf` but str subclasses: saved by it, with nothing inside to walk
_LEAF_KINDS = frozenset({bytes, datetime, time, date, timedelta, Decimal, range})
_NOT_COMPOSITE = _PLAIN | _LEAF_KINDS | {float}  # never containers nor records


def encode_slots(slots: dict[str, Any], tasks: set[int] | None = None, *,
                 describe: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The JSON-able form of a frame's slots; `tasks` collects the ids of Task handles.
    `describe(slot)` names a slot in errors (`MachineDef.describe`: a compiler temporary is
    named by what it holds, not by its invented name)."""
    if slots.get(AWAITED):
        slots = _prune_awaited(slots)
    shared = _shared_objects(slots)
    enc = _Encoder(shared, tasks if tasks is not None else set())
    out: dict[str, Any] = {}
    for name, value in slots.items():
        # the usual slots (a counter, a loop's range) as `_one` saves them, without a walk
        kind = type(value)
        if kind in _PLAIN:
            out[name] = value
            continue
        if kind in _LEAF_KINDS:
            out[name] = _encode_leaf(value, kind)
            continue
        enc.variable = name
        enc.slot = describe(name) if describe else f"local `{name}`"
        out[name] = enc.encode(value, name)
    return out


def _composite(value: Any) -> bool:
    if type(value) in _NOT_COMPOSITE:
        return False
    return type(value) in _CONTAINERS or isinstance(value, BaseException) \
        or (not isinstance(value, type) and _is_record(type(value)))


def _children(value: Any) -> Iterator[Any]:
    kind = type(value)
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield v
        if isinstance(value, defaultdict):
            yield value.default_factory
    elif kind in _CONTAINERS:
        yield from value
    elif isinstance(value, BaseException):
        yield from value.args
        yield from vars(value).values()
        yield value.__cause__
        yield value.__context__
    else:
        yield from _fields(value).values()


# The slot where a frame keeps the outcomes of tasks it awaited that may be awaited again,
# as (the task awaited now, {task id: (value, error)}), so that a second await returns
# the same object, also after a resume (runtime.machine.Frame). Only the outcomes of
# tasks the other slots (or the task awaited now) still refer to are saved.
AWAITED = "$awaited"


def task_ids(values: Iterable[Any]) -> set[int]:
    """Ids of the Task handles reachable from `values`."""
    seen: set[int] = set()
    found: set[int] = set()
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, Task):
            found.add(value.id)
            stack.extend(value.children)
            continue
        if not _composite(value) or id(value) in seen:
            continue
        seen.add(id(value))
        stack.extend(_children(value))
    return found


def live_outcomes(kept: dict[int, Any], roots: Iterable[Any]) -> dict[int, Any]:
    """The entries of `kept` for tasks reachable from `roots` (or from kept outcomes
    themselves: when_any's winner)."""
    out: dict[int, Any] = {}
    frontier = task_ids(roots)
    while frontier:
        new = {tid: kept[tid] for tid in frontier if tid in kept and tid not in out}
        out.update(new)
        frontier = task_ids(new.values()) - out.keys()
    return out


def _prune_awaited(slots: dict[str, Any]) -> dict[str, Any]:
    waiting, kept = slots[AWAITED]
    out = {k: v for k, v in slots.items() if k != AWAITED}
    pruned = live_outcomes(kept, [*out.values(), waiting])
    if pruned:
        out[AWAITED] = (waiting, pruned)
    return out


def _shared_objects(slots: dict[str, Any]) -> set[int]:
    """Ids of the containers, exceptions and records reached more than once."""
    seen: set[int] = set()
    shared: set[int] = set()
    stack = list(slots.values())
    while stack:
        value = stack.pop()
        if not _composite(value):
            continue
        if id(value) in seen:
            shared.add(id(value))
            continue
        seen.add(id(value))
        stack.extend(_children(value))
    return shared


# One unit of encoding work: the value, its path for messages, its depth, and where its
# node goes (a container and a key or index in it).
_Work = tuple[Any, str, int, Any, Any]


class _Encoder:
    def __init__(self, shared: set[int], tasks: set[int]) -> None:
        self.shared = shared
        self.tasks = tasks
        self.slot = ""  # how errors name the slot being encoded
        self.ids: dict[int, int] = {}
        self.keep: list[Any] = []  # keeps encoded objects alive so their ids stay unique
        self.variable = ""

    def encode(self, value: Any, path: str) -> Any:
        """The node for `value`, built with an explicit stack (any depth up to the limit
        costs no C stack), children in order, so ids are numbered as a recursive walk
        would number them."""
        root: list[Any] = [None]
        stack: list[_Work] = [(value, path, 1, root, 0)]
        while stack:
            item, where, depth, into, key = stack.pop()
            work: list[_Work] = []
            into[key] = self._one(item, where, depth, work)
            stack.extend(reversed(work))
        return root[0]

    def _one(self, value: Any, path: str, depth: int, work: list[_Work]) -> Any:
        kind = type(value)
        if value is None or kind in (bool, int, str):
            return value
        if kind is float:
            return value if math.isfinite(value) else {"$float": repr(value)}
        key = id(value)
        if key in self.ids:
            return {"$ref": self.ids[key]}
        if depth > MAX_NESTING and _composite(value):
            raise FrameValueError(
                f"cannot checkpoint {self.slot}: the value nests deeper than {MAX_NESTING} "
                f"levels{self._where(path)}"
            )
        if key not in self.shared:
            return self._node(value, kind, path, depth, work)
        # Registered before its children, so a cycle back to it becomes a $ref.
        self.ids[key] = len(self.ids)
        self.keep.append(value)
        node = self._node(value, kind, path, depth, work)
        if type(node) is list:
            node = {"$list": node}
        elif "$" not in "".join(k[:1] for k in node):
            node = {"$obj": node}
        node["$id"] = self.ids[key]
        return node

    def _items(self, items: list[tuple[Any, str]], depth: int, work: list[_Work]) -> list[Any]:
        out: list[Any] = [None] * len(items)
        work.extend((v, p, depth + 1, out, i) for i, (v, p) in enumerate(items))
        return out

    def _pairs(self, value: dict[Any, Any], path: str, depth: int,
               work: list[_Work]) -> list[Any]:
        out: list[Any] = []
        for k, v in value.items():
            pair: list[Any] = [None, None]
            work.append((k, f"{path} key", depth + 1, pair, 0))
            work.append((v, f"{path}[{k!r}]", depth + 1, pair, 1))
            out.append(pair)
        return out

    def _node(self, value: Any, kind: type, path: str, depth: int, work: list[_Work]) -> Any:
        if kind is list:
            return self._items([(v, f"{path}[{i}]") for i, v in enumerate(value)], depth, work)
        if kind is dict:
            if all(type(k) is str and not k.startswith("$") for k in value):
                node: dict[str, Any] = {}
                work.extend((v, f"{path}[{k!r}]", depth + 1, node, k) for k, v in value.items())
                return node
            return {"$dict": self._pairs(value, path, depth, work)}
        if kind in (set, frozenset):
            tag = "$set" if kind is set else "$frozenset"
            return {tag: self._items([(v, f"{path} item") for v in _stable(value)], depth, work)}
        if kind is tuple:
            return {"$tuple": self._items([(v, f"{path}[{i}]") for i, v in enumerate(value)],
                                          depth, work)}
        if kind in _PAIRS:
            node = {_PAIRS[kind]: self._pairs(value, path, depth, work)}
            if kind is defaultdict:
                work.append((value.default_factory, f"{path}.default_factory", depth + 1,
                             node, "factory"))
            return node
        if kind is deque:
            return {"$deque": self._items([(v, f"{path}[{i}]") for i, v in enumerate(value)],
                                          depth, work), "maxlen": value.maxlen}
        leaf = _encode_leaf(value, kind)
        if leaf is not None:
            return leaf
        if isinstance(value, Task):
            self.tasks.add(value.id)
            return {"$task": value.id}
        if isinstance(value, BaseException):
            return self._exception(value, path, depth, work)
        if isinstance(value, type | types.FunctionType | types.BuiltinFunctionType):
            if _importable(value):
                return {"$callable": _ref(value)}
            raise FrameValueError(
                f"cannot checkpoint {self.slot}: values of type {kind.__name__} cannot be "
                f"saved{self._where(path)} unless importable by name, and "
                f"{value.__qualname__} is not; define it at module level"
            )
        if _is_record(kind):
            return self._record(value, path, depth, work)
        raise self._refuse(kind, path)

    def _record(self, value: Any, path: str, depth: int, work: list[_Work]) -> dict[str, Any]:
        cls = type(value)
        if not _importable(cls):
            raise FrameValueError(
                f"cannot checkpoint {self.slot}: class {cls.__qualname__}{self._where(path)} "
                "cannot be imported by name, so its instances cannot be saved; define it at "
                "module level"
            )
        fields: dict[str, Any] = {}
        work.extend((v, f"{path}.{k}", depth + 1, fields, k) for k, v in _fields(value).items())
        node = {"$record": _ref(cls), "fields": fields}
        base = _base(cls)
        if base is not None:
            work.append((base(value), path, depth + 1, node, "value"))
        return node

    def _exception(self, error: BaseException, path: str, depth: int,
                   work: list[_Work]) -> dict[str, Any]:
        if type(error) is TaskFailedError and not vars(error).keys() - _TASK_ERROR_FIELDS \
                and error.__cause__ is None and error.__context__ is None:
            failed: dict[str, Any] = {
                "$error": "TaskFailedError", "message": error.message,
                "error_type": error.error_type, "details": error.details,
                "task_name": error.task_name}
            if error.__traceback__ is not None:
                failed["traceback"] = tracebacks.entries(error.__traceback__)
            return failed
        cls = type(error)
        if not _importable(cls):
            raise FrameValueError(
                f"cannot checkpoint {self.slot}: exception class {cls.__qualname__}"
                f"{self._where(path)} cannot be imported by name, so it cannot be saved; "
                "define it at module level"
            )
        node: dict[str, Any] = {"$exception": _ref(cls)}
        if cls.__module__ == "builtins":
            # a built-in class keeps state outside args (OSError's filename, ...): its own
            # reduction says how to call it
            reduced = error.__reduce_ex__(4)
            args = reduced[1] if isinstance(reduced, tuple) and len(reduced) > 1 else error.args
        else:
            args = error.args
        node["args"] = self._items([(a, f"{path}.args[{i}]") for i, a in enumerate(args)],
                                   depth, work)
        state: dict[str, Any] = {}
        work.extend((v, f"{path}.{k}", depth + 1, state, k) for k, v in vars(error).items())
        if state or vars(error):
            node["state"] = state
        for attr, tag in (("__cause__", "cause"), ("__context__", "context")):
            linked = getattr(error, attr)
            if linked is not None:
                work.append((linked, f"{path}.{attr}", depth + 1, node, tag))
        if error.__suppress_context__:
            node["suppress_context"] = True
        if error.__traceback__ is not None:
            node["traceback"] = tracebacks.entries(error.__traceback__)
        return node

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
        return f" (at {_short(path)})"


_TASK_ERROR_FIELDS = frozenset({"message", "error_type", "details", "task_name"})


def _stable(items: set[Any] | frozenset[Any]) -> list[Any]:
    """Set members in a stable order, so equal frames encode to equal text."""
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


def _uuid_class() -> type | None:
    # Not imported to be compared with: a UUID exists only once something imported `uuid`
    # (which imports `platform`, a cost on every `tether run`).
    module = sys.modules.get("uuid")
    return module.UUID if module is not None else None


def _encode_leaf(value: Any, kind: type) -> dict[str, Any] | None:
    if kind is range:  # a lowered `for i in range(n)` keeps the range, not n items
        return {"$range": [value.start, value.stop, value.step]}
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
    if kind is _uuid_class():
        return {"$uuid": str(value)}
    if kind is Decimal:
        return {"$decimal": str(value)}
    for tag, (cls, _) in _STR_LEAVES.items():
        if kind is cls:
            return {f"${tag}": str.__str__(value)}
    return None


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
    """Three phases, so cycles work: index every node (creating an empty shell for each
    mutable one: list, dict, set, deque, Counter, ..., mutable record), build values
    (immutables from their children, post-order on an explicit stack; mutables as their
    shells), then fill the shells (and give exceptions their state), building what the
    filling reaches."""

    def __init__(self, task: Callable[[int], Task[Any]]) -> None:
        self.task = task
        self.shells: dict[int, Any] = {}  # id(node) -> empty mutable object
        self.nodes: list[Any] = []  # nodes to fill (mutables, exceptions), in order
        self.defs: dict[int, dict[str, Any]] = {}  # $id -> defining node
        self.built: dict[int, Any] = {}  # id(node) -> built immutable

    def index(self, node: Any) -> None:
        stack = [node]
        while stack:
            n = stack.pop()
            if id(n) not in self.shells:
                shell = _shell(n)
                if shell is not None:
                    self.shells[id(n)] = shell
                    self.nodes.append(n)
            if type(n) is dict and "$id" in n:
                self.defs.setdefault(n["$id"], n)
            stack.extend(_node_children(n))

    def deref(self, node: Any) -> Any:
        if type(node) is dict and "$ref" in node:
            target = self.defs.get(node["$ref"])
            if target is None:
                raise ValueError(f"frame data refers to undefined object {node['$ref']}")
            return target
        return node

    def build(self, node: Any) -> Any:
        node = self.deref(node)
        if type(node) is list or id(node) in self.shells:
            return self.shells[id(node)]
        if type(node) is not dict:
            return node
        if id(node) in self.built:
            return self.built[id(node)]
        # post-order: an immutable is made once the immutables it holds are made
        stack: list[dict[str, Any]] = [node]
        making: set[int] = set()
        while stack:
            top = stack[-1]
            if id(top) in self.built:
                stack.pop()
                continue
            pending = [c for c in map(self.deref, _parts(top)) if type(c) is dict
                       and id(c) not in self.shells and id(c) not in self.built]
            if pending and id(top) not in making:
                making.add(id(top))
                stack.extend(reversed(pending))
                continue
            if pending:
                raise ValueError("frame data has a cycle through immutable values")
            stack.pop()
            self.built[id(top)] = self._immutable(top)
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
            failed = TaskFailedError(node["message"], error_type=node["error_type"],
                                     details=node["details"], task_name=node["task_name"])
            failed.__traceback__ = tracebacks.rebuild(node.get("traceback", []))
            return failed
        if "$exception" in node:
            error = _new_exception(node["$exception"], [self.build(a) for a in node["args"]])
            error.__traceback__ = tracebacks.rebuild(node.get("traceback", []))
            self.nodes.append(node)  # its state, cause and context come in `fill`
            self.shells[id(node)] = error
            return error
        if "$record" in node:  # a hashable (frozen) record: whole before anyone hashes it
            record = _new_record(node["$record"], self.build(node["value"]) if "value" in node
                                 else _NO_VALUE)
            for k, v in _in_class_order(type(record), node["fields"]):
                object.__setattr__(record, k, self.build(v))
            return record
        if "$callable" in node:
            return _callable(node["$callable"])
        return _decode_leaf(node)

    def fill(self) -> None:
        i = 0
        while i < len(self.nodes):  # filling may build exceptions, which join the queue
            node = self.nodes[i]
            i += 1
            shell = self.shells[id(node)]
            if isinstance(node, list):
                shell.extend(self.build(v) for v in node)
            elif "$list" in node or "$deque" in node:
                shell.extend(self.build(v) for v in node.get("$list", node.get("$deque")))
            elif "$dict" in node or any(tag in node for tag in _PAIR_KINDS):
                tag = next(t for t in ("$dict", *_PAIR_KINDS) if t in node)
                for k, v in node[tag]:
                    shell[self.build(k)] = self.build(v)
            elif "$set" in node:
                shell.update(self.build(v) for v in node["$set"])
            elif "$exception" in node:
                _fill_exception(shell, node, self.build)
            elif "$record" in node:
                for k, v in _in_class_order(type(shell), node["fields"]):
                    object.__setattr__(shell, k, self.build(v))
            else:
                fields = node.get("$obj", node)
                shell.update((k, self.build(v)) for k, v in fields.items() if k != "$id")


def _in_class_order(cls: type, fields: dict[str, Any]) -> list[tuple[str, Any]]:
    """A record's saved fields in the order its class declares them (the rest after, as
    saved): the journal's JSON may sort keys, and a pydantic model's dump and `vars()`
    follow the order its `__dict__` was filled in."""
    if _is_pydantic_model(cls):
        declared: list[str] = list(cls.model_fields)  # type: ignore[attr-defined]
    elif dataclasses.is_dataclass(cls):
        declared = [f.name for f in dataclasses.fields(cls)]
    else:
        return list(fields.items())
    rank = {name: i for i, name in enumerate(declared)}
    return sorted(fields.items(), key=lambda item: rank.get(item[0], len(rank)))


def _callable(ref: str) -> Any:
    obj = _import(ref)
    if obj is None:
        raise ValueError(f"frame names {ref}, which can no longer be imported")
    return obj


_NO_VALUE = object()


def _new_record(ref: str, value: Any = _NO_VALUE) -> Any:
    cls: Any = _import(ref)
    if not (isinstance(cls, type) and _is_record(cls)):
        raise ValueError(f"frame names class {ref}, which can no longer be imported "
                         "(or is no longer a dataclass or saveable)")
    base = _base(cls)
    if base is not None and value is not _NO_VALUE:
        return base.__new__(cls, value)
    new: Any = cls.__new__
    return new(cls)


def _new_exception(ref: str, args: list[Any]) -> BaseException:
    cls = _import(ref)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        raise ValueError(f"frame names exception class {ref}, which can no longer be imported")
    if cls.__module__ == "builtins":
        error: BaseException = cls(*args)
    else:
        # not cls(*args): a user's __init__(self, code) would get the message as its code
        error = cls.__new__(cls, *args)
        error.args = tuple(args)
    return error


def _fill_exception(error: BaseException, node: dict[str, Any],
                    build: Callable[[Any], Any]) -> None:
    for k, v in node.get("state", {}).items():
        setattr(error, k, build(v))
    if "cause" in node:
        error.__cause__ = build(node["cause"])
    if "context" in node:
        error.__context__ = build(node["context"])
    error.__suppress_context__ = bool(node.get("suppress_context", False))


def _shell(node: Any) -> Any:
    """An empty mutable object for `node`, or None for immutables and leaves."""
    if type(node) is list:
        return []
    if type(node) is not dict:
        return None
    if _is_plain(node) or "$obj" in node or "$dict" in node:
        return {}
    if "$list" in node:
        return []
    if "$set" in node:
        return set()
    if "$deque" in node:
        return deque(maxlen=node.get("maxlen"))
    if "$counter" in node:
        return Counter()
    if "$ordereddict" in node:
        return OrderedDict()
    if "$defaultdict" in node:
        factory = node.get("factory")
        return defaultdict(_callable(factory["$callable"]) if factory else None)
    if "$record" in node:
        cls = _import(node["$record"])
        if isinstance(cls, type) and _hashable_record(cls):
            return None
        return _new_record(node["$record"])
    return None


def _is_plain(node: dict[str, Any]) -> bool:
    return not any(k.startswith("$") for k in node)


def _parts(node: dict[str, Any]) -> list[Any]:
    """What must exist before an immutable node can be made."""
    for tag in ("$tuple", "$frozenset", "args"):
        if tag in node:
            return list(node[tag])
    if "$record" in node:
        return [*node["fields"].values(), *([node["value"]] if "value" in node else [])]
    return []


def _node_children(node: Any) -> list[Any]:
    if type(node) is list:
        return node
    if type(node) is not dict:
        return []
    if _is_plain(node):
        return list(node.values())
    out: list[Any] = []
    for tag in ("$list", "$tuple", "$set", "$frozenset", "$deque", "args"):
        out.extend(node.get(tag, ()))
    if "$obj" in node:
        out.extend(node["$obj"].values())
    for tag in ("$dict", *_PAIR_KINDS):
        out.extend(x for pair in node.get(tag, ()) for x in pair)
    for tag in ("fields", "state"):
        out.extend(node.get(tag, {}).values())
    if "$record" in node and "value" in node:
        out.append(node["value"])
    out.extend(node[tag] for tag in ("cause", "context") if tag in node)
    return out


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
        from uuid import UUID

        return UUID(node["$uuid"])
    if "$decimal" in node:
        return Decimal(node["$decimal"])
    if "$range" in node:
        start, stop, step = node["$range"]
        return range(start, stop, step)
    for tag, (_, parse) in _STR_LEAVES.items():
        if f"${tag}" in node:
            return parse(node[f"${tag}"])
    raise ValueError(f"frame data has an unknown node {sorted(node)}")
