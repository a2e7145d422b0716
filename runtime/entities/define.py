"""Defining entities: `@entity` on a class or on a function, and the entity registry.

Two forms, as Durable Functions users know them:

- class-based: `@entity class Counter:` whose public methods are the operations
  (`def add(self, amount: int) -> None`), whose fields (`vars(self)`) are the state (JSON
  values, or dataclasses rebuilt from the class's annotations), with an implicit `delete`
  operation. A new entity is `Counter()`; a stored one is rebuilt without calling
  `__init__` (for a dataclass, by calling it with the stored fields).
- function-based: `@entity def counter(ctx: EntityContext) -> None` with
  `ctx.operation_name`, `ctx.get_input()`, `ctx.get_state(default)`, `ctx.set_state(v)`,
  `ctx.set_result(v)` and `ctx.destruct_on_exit()`.

An entity's code is not an orchestrator: it may not await. An `async def` operation is
refused when the module is imported, with the file and line of the definition.

This module owns the registry (`ENTITIES`, by lower-case name) and the shape of one
operation's run (`EntityDef.run`); applying operations with rollback, in batches, is
`runtime.entities.operations`.
"""

from __future__ import annotations

import contextvars
import dataclasses
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, Union

from runtime.api import OrchestrationError, orchestrator_name
from runtime.entities.ids import NAME, EntityId, InvalidEntityId

__all__ = ["ENTITIES", "EntityAction", "EntityContext", "EntityDef", "EntityDefinitionError",
           "UnknownOperation", "entity", "entity_context", "entity_def"]

C = TypeVar("C")

_CURRENT: contextvars.ContextVar[EntityContext] = contextvars.ContextVar("tether_entity")


class EntityDefinitionError(OrchestrationError):
    """An `@entity` that cannot be an entity (the message names its file and line)."""


class UnknownOperation(LookupError):
    """An operation the entity does not have (the message lists the ones it has)."""


@dataclass(frozen=True)
class EntityAction:
    """What an operation asks for besides its state change: a signal to an entity (`at`:
    deliver no earlier than this time) or a new orchestration. Sent only if the operation
    succeeds."""

    kind: str  # "signal" or "start"
    target: str  # an entity id (signal) or an orchestrator name (start)
    operation: str | None = None
    input: Any = None
    at: datetime | None = None
    instance_id: str | None = None


@dataclass
class EntityContext:
    """What an operation sees (function-based entities get it as their argument; class
    methods reach it with `entity_context()`)."""

    entity_id: EntityId
    operation_name: str
    _input: Any = None
    _state: Any = None
    _exists: bool = False
    _result: Any = None
    _destruct: bool = False
    actions: list[EntityAction] = field(default_factory=list)

    @property
    def entity_name(self) -> str:
        """The entity's name (lower-case), as in its id `@name@key`."""
        return self.entity_id.name

    @property
    def entity_key(self) -> str:
        """The entity's key, as in its id `@name@key`."""
        return self.entity_id.key

    def get_input(self) -> Any:
        """The operation's input (a JSON value, or None)."""
        return self._input

    def get_state(self, default: Any = None) -> Any:
        """The entity's state; `default` (or `default()` when it is callable, as Durable
        Functions' initializer) for an entity that has none yet."""
        if self._exists:
            return self._state
        return default() if callable(default) else default

    def set_state(self, value: Any) -> None:
        """Replace the state (a JSON value); the entity exists from now on."""
        self._state, self._exists, self._destruct = value, True, False

    def set_result(self, value: Any) -> None:
        """The operation's result, returned to a caller (`ctx.call_entity`)."""
        self._result = value

    def destruct_on_exit(self) -> None:
        """Delete the entity (its state) when the operation ends."""
        self._destruct = True

    def signal_entity(self, entity_id: str, operation: str, input: Any = None, *,
                      at: datetime | None = None) -> None:
        """Send a one-way operation to an entity (this one included), delivered after this
        operation commits, no earlier than `at`."""
        target = EntityId.parse(entity_id)
        if not isinstance(operation, str) or not operation:
            raise InvalidEntityId(f"invalid operation name {operation!r} for entity {target}")
        self.actions.append(EntityAction("signal", target, operation, input, at))

    def start_new_orchestration(self, orchestrator: Callable[..., Any] | str, input: Any = None,
                                *, instance_id: str | None = None) -> None:
        """Start an orchestration once this operation commits."""
        self.actions.append(EntityAction("start", orchestrator_name(orchestrator), None, input,
                                         instance_id=instance_id))


def entity_context() -> EntityContext:
    """The context of the operation running now (for class-based entities)."""
    try:
        return _CURRENT.get()
    except LookupError:
        raise OrchestrationError("entity_context() is only available inside an entity operation") from None


@dataclass
class EntityDef:
    """A registered entity: its name, form and operations."""

    name: str
    form: str  # "class" or "function"
    target: Any  # the class or the function
    operations: tuple[str, ...] = ()  # class form: the public methods, then "delete"

    def run(self, ctx: EntityContext) -> None:
        """Run one operation on `ctx` (state in, state and result out). Exceptions are the
        operation's failure; the caller rolls its effects back."""
        token = _CURRENT.set(ctx)
        try:
            if self.form == "function":
                self.target(ctx)
            else:
                self._run_method(ctx)
        finally:
            _CURRENT.reset(token)

    def _run_method(self, ctx: EntityContext) -> None:
        op = ctx.operation_name
        if op == "delete":
            ctx.destruct_on_exit()
            return
        if op not in self.operations:
            raise UnknownOperation(
                f"entity {self.name!r} has no operation {op!r}; its operations: "
                + ", ".join(self.operations))
        obj = self._load(ctx)
        method = getattr(obj, op)
        takes_input = _positional_count(method) > 0
        ctx.set_result(method(ctx.get_input()) if takes_input else method())
        if not ctx._destruct:
            ctx.set_state(_fields_to_json(obj))

    def _load(self, ctx: EntityContext) -> Any:
        cls: Any = self.target
        if not ctx._exists:
            return cls()
        state = ctx.get_state()
        if not isinstance(state, dict):
            raise TypeError(f"state of entity {ctx.entity_id} is {type(state).__name__}, "
                            f"not the fields of {cls.__qualname__}")
        hints = _hints(cls)
        values = {k: _rebuild(hints.get(k), v) for k, v in state.items()}
        if dataclasses.is_dataclass(self.target):
            return cls(**values)
        obj = cls.__new__(cls)
        obj.__dict__.update(values)
        return obj


ENTITIES: dict[str, EntityDef] = {}


@typing.overload
def entity(target: C, *, name: str | None = None) -> C: ...
@typing.overload
def entity(target: None = None, *, name: str | None = None) -> Callable[[C], C]: ...
def entity(target: C | None = None, *, name: str | None = None) -> Any:
    """Register a class (public methods are operations) or a function of one
    `EntityContext` as an entity, under its lower-cased name (or `name=`)."""

    def register(t: C) -> C:
        key = str(name or getattr(t, "__name__", "")).lower()
        if not NAME.fullmatch(key):
            raise EntityDefinitionError(f"{_where(t)}: error: invalid entity name {key!r}: use "
                                        "1-64 characters of a-z 0-9 _ . -")
        if inspect.isclass(t):
            defn = EntityDef(key, "class", t, _operations(t))
        elif inspect.isfunction(t):
            if inspect.iscoroutinefunction(t):
                raise _awaits(t, key)
            if _positional_count(t) != 1:
                raise EntityDefinitionError(
                    f"{_where(t)}: error: entity function {t.__name__} must take one "
                    "argument, its EntityContext")
            defn = EntityDef(key, "function", t)
        else:
            raise EntityDefinitionError(f"@entity needs a class or a function, not {t!r}")
        ENTITIES[key] = defn
        t.__tether_entity__ = key  # type: ignore[attr-defined]
        return t

    return register(target) if target is not None else register


def entity_def(name: str) -> EntityDef:
    """The registered entity called `name` (case-insensitive)."""
    defn = ENTITIES.get(name.lower())
    if defn is None:
        known = ", ".join(sorted(ENTITIES)) or "none"
        raise UnknownOperation(f"no entity named {name!r} is registered (registered: {known})")
    return defn


# -- helpers ------------------------------------------------------------------------------------


def _operations(cls: type) -> tuple[str, ...]:
    ops = []
    for attr, member in vars(cls).items():
        if attr.startswith("_") or not inspect.isfunction(member):
            continue
        if inspect.iscoroutinefunction(member):
            raise _awaits(member, cls.__name__.lower())
        if _positional_count(member) > 2:
            raise EntityDefinitionError(
                f"{_where(member)}: error: operation {cls.__name__}.{attr} takes more than one "
                "input; operations take at most one (pass a dict or list)")
        ops.append(attr)
    if "delete" not in ops:
        ops.append("delete")
    try:
        cls()
    except TypeError as exc:
        raise EntityDefinitionError(
            f"{_where(cls)}: error: entity class {cls.__name__} must be constructible with "
            f"no arguments (a new entity is {cls.__name__}()): {exc}") from None
    return tuple(ops)


def _awaits(fn: Any, entity_name: str) -> EntityDefinitionError:
    return EntityDefinitionError(
        f"{_where(fn)}: error: {fn.__qualname__} is `async def`, but the code of entity "
        f"{entity_name!r} may not await: an entity is not an orchestrator (call activities "
        "and other work from an orchestration, or signal from here)")


def _where(obj: Any) -> str:
    try:
        path = inspect.getsourcefile(obj) or "<unknown>"
        line = inspect.getsourcelines(obj)[1]
    except (OSError, TypeError):
        return getattr(obj, "__module__", "<unknown>")
    return f"{path}:{line}"


_COUNTS: dict[Any, int] = {}  # positional parameters, by function (inspect is slow)


def _positional_count(fn: Callable[..., Any]) -> int:
    key = getattr(fn, "__func__", None)  # a bound method: counted once per class function
    if key is not None:
        found = _COUNTS.get(key)
        if found is None:
            found = _COUNTS[key] = _count_positional(fn)
        return found
    return _count_positional(fn)


def _count_positional(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # unresolvable annotations: rebuild nothing
        return {}


def _fields_to_json(obj: Any) -> dict[str, Any]:
    fields = vars(obj)
    return {k: _to_json(v) for k, v in fields.items()}


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    return value


def _rebuild(hint: Any, value: Any) -> Any:
    """`value` (from JSON) as the annotation `hint` says: dataclasses rebuilt, inside lists,
    dicts and optionals too; anything else as it is."""
    if hint is None or value is None:
        return value
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for arm in typing.get_args(hint):
            if arm is not type(None) and (dataclasses.is_dataclass(arm) or typing.get_origin(arm)):
                return _rebuild(arm, value)
        return value
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(hint) or (None,)
        return [_rebuild(item, v) for v in value]
    if origin is dict and isinstance(value, dict):
        args = typing.get_args(hint)
        return {k: _rebuild(args[1] if len(args) == 2 else None, v) for k, v in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, dict):
        sub = _hints(hint)
        rebuilt: Any = hint  # a dataclass type
        return rebuilt(**{k: _rebuild(sub.get(k), v) for k, v in value.items()})
    return value
