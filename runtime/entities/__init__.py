"""Durable entities: small pieces of state that operations update one at a time.

- `runtime.entities.ids`: `EntityId(name, key)`, written `@name@key`.
- `runtime.entities.define`: `@entity` (class- or function-based), `EntityContext`, the
  registry.
- `runtime.entities.operations`: applying a batch of operations, each rolled back alone
  when it fails.
"""

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

__all__ = [
    "ENTITIES", "EntityAction", "EntityContext", "EntityDef", "EntityDefinitionError",
    "EntityId", "EntityState", "InvalidEntityId", "Operation", "OperationOutcome",
    "UnknownOperation", "apply_batch", "apply_operation", "entity", "entity_context",
    "entity_def", "is_entity_id",
]
