"""Applying operations to an entity's state: one at a time, each rolled back on failure.

`apply_batch(defn, entity_id, state, operations)` runs operations in order against the
state each predecessor committed, and returns the state after the batch with one
`OperationOutcome` per operation. An operation that raises (or leaves a state, result or
signal input that is not JSON) fails alone: its state change, deletion and outgoing
signals and starts are discarded, and the next operation sees the state as it was before
it (Durable Functions' `RollbackEntityOperationsOnExceptions`, its default). A batch is
therefore one write for the runtime (group commit) while each operation's failure rolls
back only itself.

Operations receive copies of their input and state (as from JSON), so nothing an
operation keeps a reference to can change the committed state afterwards.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from runtime import context  # its `boundary`; context imports this package in turn
from runtime.entities.define import EntityAction, EntityContext, EntityDef
from runtime.entities.ids import EntityId
from runtime.values import NotJSONError

__all__ = ["EntityState", "Operation", "OperationOutcome", "apply_batch", "apply_operation"]


@dataclass(frozen=True)
class EntityState:
    """An entity's committed state: `exists` is False before the first operation that sets
    state and after a delete."""

    exists: bool = False
    value: Any = None


@dataclass(frozen=True)
class Operation:
    """One operation for an entity."""

    name: str
    input: Any = None


@dataclass
class OperationOutcome:
    """The result of one operation (`error` set when it failed and was rolled back), and
    the signals and starts it asked for (empty when it failed)."""

    value: Any = None
    error: dict[str, Any] | None = None
    actions: list[EntityAction] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.error is not None


def apply_operation(defn: EntityDef, entity_id: EntityId, state: EntityState,
                    op: Operation) -> tuple[EntityState, OperationOutcome]:
    """Run `op`; the state after it (the same `state` if it failed) and its outcome."""
    ctx = EntityContext(entity_id, op.name, _copy(op.input), _copy(state.value), state.exists)
    where = f"operation {op.name!r} of entity {entity_id}"
    try:
        defn.run(ctx)
        try:
            result = context.boundary(ctx._result, "its result")
            after = (EntityState() if ctx._destruct or not ctx._exists
                     else EntityState(True, context.boundary(ctx._state, "its state")))
            actions = [_checked(a) for a in ctx.actions]
        except NotJSONError as exc:
            raise NotJSONError(f"{where}: {exc}") from None
    except Exception as exc:
        error = {"type": type(exc).__name__, "message": str(exc),
                 "details": traceback.format_exc()}
        return state, OperationOutcome(error=error)
    return after, OperationOutcome(result, None, actions)


def apply_batch(defn: EntityDef, entity_id: EntityId, state: EntityState,
                operations: Iterable[Operation]) -> tuple[EntityState, list[OperationOutcome]]:
    """Apply `operations` in order; the final state and each operation's outcome."""
    outcomes = []
    for op in operations:
        state, outcome = apply_operation(defn, entity_id, state, op)
        outcomes.append(outcome)
    return state, outcomes


def _copy(value: Any) -> Any:
    return context.boundary(value, "entity value") if value is not None else None


def _checked(action: EntityAction) -> EntityAction:
    what = (f"the input of its signal {action.operation!r} to {action.target}"
            if action.kind == "signal" else f"the input of orchestration {action.target} it starts")
    return EntityAction(action.kind, action.target, action.operation,
                        context.boundary(action.input, what), action.at, action.instance_id)
