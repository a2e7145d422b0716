"""Dataclasses and pydantic models at the boundaries, as Durable Functions Python does for
its custom classes.

What crosses a boundary (orchestration input and output, activity input and result,
sub-orchestration input and output, event data, custom status) is stored as JSON. Here:

- `to_json(value)`: dataclass instances become JSON objects of their fields (recursively,
  inside lists and dicts too), pydantic models their `model_dump(mode="json")`; every
  other value is left as it is, for `runtime.values.check_json` to accept or refuse with
  the value named.
- `from_json(value, annotation)`: the reverse, guided by a type annotation: a dataclass
  (fields rebuilt by their own annotations), a pydantic model (`model_validate`),
  `list[X]`, `dict[str, X]`, `X | None`. Anything else comes back as the JSON it is.
- Where the annotations come from: an activity's input is rebuilt from its parameter's
  annotation (`typed_activity` wraps the registered function); an activity's and a
  sub-orchestration's result from their return annotations, when the orchestrator is
  handed the outcome (`rebuild_result`, in both runtimes); an orchestration's input from
  its input parameter's annotation (`rebuild_input`: called by `runtime.direct` for plain
  coroutines, and by compiled machines at their start).

Annotations that cannot be resolved (a name not importable at run time) rebuild nothing:
the value stays JSON, never a half-built object.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import types
import typing
from collections.abc import Callable
from typing import Any

from runtime.api import REGISTRY

_NO_TYPE: Any = object()  # "no usable annotation"


def to_json(value: Any) -> Any:
    """`value` with dataclass instances and pydantic models turned into JSON objects."""
    return _encode(value, set())


def _encode(value: Any, active: set[int]) -> Any:
    kind = type(value)
    if value is None or kind in (str, int, float, bool):
        return value
    if kind is list or kind is dict:
        if id(value) in active:  # cyclic: leave it for check_json to name
            return value
        active.add(id(value))
        try:
            if kind is list:
                items = [_encode(v, active) for v in value]
                same = all(a is b for a, b in zip(items, value, strict=True))
                return value if same else items
            pairs = {k: _encode(v, active) for k, v in value.items()}
            same = all(pairs[k] is v for k, v in value.items())
            return value if same else pairs
        finally:
            active.discard(id(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if id(value) in active:
            return value
        active.add(id(value))
        try:
            return {f.name: _encode(getattr(value, f.name), active)
                    for f in dataclasses.fields(value)}
        finally:
            active.discard(id(value))
    if _is_pydantic_model(kind):
        return value.model_dump(mode="json")
    return value


def _is_pydantic_model(kind: Any) -> bool:
    pydantic = sys.modules.get("pydantic")
    return (pydantic is not None and isinstance(kind, type)
            and issubclass(kind, pydantic.BaseModel))


def from_json(value: Any, annotation: Any, namespace: dict[str, Any] | None = None) -> Any:
    """`value` (JSON) rebuilt as `annotation` says, where it names a dataclass, a pydantic
    model or a container of them; otherwise `value` itself. `namespace` resolves a
    dataclass's field annotations when its module is not in `sys.modules`."""
    if annotation is _NO_TYPE or annotation is Any or value is None:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        options = [a for a in args if a is not type(None)]
        return from_json(value, options[0], namespace) if len(options) == 1 else value
    if origin is list and isinstance(value, list) and args:
        return [from_json(v, args[0], namespace) for v in value]
    if origin is dict and isinstance(value, dict) and len(args) == 2:
        return {k: from_json(v, args[1], namespace) for k, v in value.items()}
    if isinstance(annotation, type) and isinstance(value, dict):
        if dataclasses.is_dataclass(annotation):
            return _dataclass_from_json(annotation, value, namespace)
        if _is_pydantic_model(annotation):
            return annotation.model_validate(value)  # type: ignore[attr-defined]
    return value


def _dataclass_from_json(cls: type, value: dict[str, Any],
                         namespace: dict[str, Any] | None) -> Any:
    try:
        hints = typing.get_type_hints(cls)
    except Exception:
        try:
            hints = typing.get_type_hints(cls, globalns=namespace)
        except Exception:  # an annotation that does not resolve: the field stays JSON
            hints = {}
    kwargs = {f.name: from_json(value[f.name], hints.get(f.name, _NO_TYPE), namespace)
              for f in dataclasses.fields(cls) if f.init and f.name in value}
    return cls(**kwargs)


# ------------------------------------------------------------------ where types come from


@functools.lru_cache(maxsize=1024)
def _signature_types(fn: Callable[..., Any], skip: int) -> tuple[Any, Any]:
    """(input annotation, return annotation) of `fn`, whose first `skip` parameters are
    not its input; `_NO_TYPE` where there is none or it does not resolve."""
    declared = getattr(fn, "__tether_types__", None)
    if declared is not None:  # a compiled machine: the source's annotations, as text
        return (_eval_annotation(declared[0], fn), _eval_annotation(declared[1], fn))
    try:
        hints = typing.get_type_hints(fn)
        params = list(inspect.signature(fn).parameters.values())[skip:]
    except Exception:
        return _NO_TYPE, _NO_TYPE
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    input_type = hints.get(positional[0].name, _NO_TYPE) if positional else _NO_TYPE
    return input_type, hints.get("return", _NO_TYPE)


def _eval_annotation(text: str | None, fn: Callable[..., Any]) -> Any:
    if not text:
        return _NO_TYPE
    try:
        return eval(text, getattr(fn, "__globals__", {}))  # what typing.get_type_hints does
    except Exception:
        return _NO_TYPE


def typed_activity(fn: Callable[..., Any]) -> Callable[..., Any]:
    """What the registry runs for activity `fn`: `fn` with its input rebuilt from the
    parameter's annotation (`fn` itself when it has no annotations)."""
    if not getattr(fn, "__annotations__", None):
        return fn
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run_async(*args: Any) -> Any:
            return await fn(*_rebuilt(fn, args))

        return run_async

    @functools.wraps(fn)
    def run(*args: Any) -> Any:
        return fn(*_rebuilt(fn, args))

    return run


def _rebuilt(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, ...]:
    if not args:
        return args
    return (from_json(args[0], _signature_types(fn, 0)[0], _globals(fn)), *args[1:])


def _globals(fn: Callable[..., Any]) -> dict[str, Any] | None:
    namespace = getattr(inspect.unwrap(fn), "__globals__", None)
    return namespace if isinstance(namespace, dict) else None


def rebuild_input(value: Any, orchestrator: Callable[..., Any]) -> Any:
    """An orchestration's input as its input parameter's annotation says."""
    return from_json(value, _signature_types(orchestrator, 1)[0], _globals(orchestrator))


def rebuild_declared(value: Any, annotation: str, namespace: dict[str, Any]) -> Any:
    """A compiled machine's input, rebuilt from its source's annotation text (evaluated in
    the module's namespace, as `typing.get_type_hints` does)."""
    key = (id(namespace), annotation)
    found = _declared.get(key)
    if found is None or found[0] is not namespace:
        try:
            tp = eval(annotation, namespace)
        except Exception:
            tp = _NO_TYPE
        found = (namespace, tp)
        _declared[key] = found
    return from_json(value, found[1], namespace)


_declared: dict[tuple[int, str], tuple[dict[str, Any], Any]] = {}


def rebuild_result(kind: str, name: str | None, value: Any) -> Any:
    """A task's JSON result as the orchestrator receives it: rebuilt from the activity's or
    sub-orchestrator's return annotation (other tasks' results as they are)."""
    if value is None or type(value) in (str, int, float, bool) or name is None:
        return value
    fn: Callable[..., Any] | None = None
    if kind == "activity":
        entry = REGISTRY.activities.get(name)
        fn = inspect.unwrap(entry.fn) if entry is not None else None
    elif kind == "sub_orchestration":
        orch = REGISTRY.orchestrators.get(name)
        if orch is not None:
            fn = orch.fn if orch.fn is not None else getattr(orch.machine, "fn", None)
    if fn is None:
        return value
    return from_json(value, _signature_types(fn, 0)[1], _globals(fn))
