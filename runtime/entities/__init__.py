"""Durable entities: small pieces of state that operations update one at a time.

- `runtime.entities.ids`: `EntityId(name, key)`, written `@name@key`.
- `runtime.entities.define`: `@entity` (class- or function-based), `EntityContext`, the
  registry.
- `runtime.entities.operations`: applying a batch of operations, each rolled back alone
  when it fails.
- `runtime.entities.scheduler`: which delivered messages run, in what order, exactly once.
- `runtime.entities.critical`: critical sections (`ctx.lock_entities`) and their rules.
- `runtime.entities.direct`: the in-memory entities of `runtime.direct`.
- `runtime.entities.errors`: `UnknownEntity`.

The names below are imported on first use: a client reading a status imports none of
the code that runs operations.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.entities.define import (
        ENTITIES,
        EntityAction,
        EntityContext,
        EntityDef,
        EntityDefinitionError,
        UnknownOperation,
        entity,
        entity_context,
        entity_def,
    )
    from runtime.entities.ids import EntityId, InvalidEntityId, is_entity_id
    from runtime.entities.operations import (
        EntityState,
        Operation,
        OperationOutcome,
        apply_batch,
        apply_operation,
    )

_WHERE = {
    **dict.fromkeys(["ENTITIES", "EntityAction", "EntityContext", "EntityDef",
                     "EntityDefinitionError", "UnknownOperation", "entity", "entity_context",
                     "entity_def"], "runtime.entities.define"),
    **dict.fromkeys(["EntityId", "InvalidEntityId", "is_entity_id"], "runtime.entities.ids"),
    **dict.fromkeys(["EntityState", "Operation", "OperationOutcome", "apply_batch",
                     "apply_operation"], "runtime.entities.operations"),
}

__all__ = [
    "ENTITIES", "EntityAction", "EntityContext", "EntityDef", "EntityDefinitionError",
    "EntityId", "EntityState", "InvalidEntityId", "Operation", "OperationOutcome",
    "UnknownOperation", "apply_batch", "apply_operation", "entity", "entity_context",
    "entity_def", "is_entity_id",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'runtime.entities' has no attribute {name!r}")
