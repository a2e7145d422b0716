"""The entities of `runtime.direct`: every entity a value in memory, operations applied at
once, in the order they are sent (the reference model the differential tests hold the
journal runtime to).

- `call`: applies the operation now and returns its outcome (a failed operation is rolled
  back alone, as `apply_batch` does in the runtime).
- `signal`: applies it now too (delivery order is send order), or, with `at`, once `flush`
  reaches that time; signals an operation sends are applied after it, in order.
- Orchestrations an operation starts are recorded in `started` (not run).
- `states()`: every entity's state (None for one without state), by id.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runtime.entities.define import EntityAction, entity_def
from runtime.entities.ids import EntityId
from runtime.entities.operations import EntityState, Operation, OperationOutcome, apply_operation

__all__ = ["DirectEntities"]


@dataclass
class DirectEntities:
    """In-memory entities, shared by every orchestration of one direct run (or several)."""

    entities: dict[str, EntityState] = field(default_factory=dict)
    deferred: list[tuple[datetime, int, str, str, Any]] = field(default_factory=list)
    started: list[tuple[str, Any, str | None]] = field(default_factory=list)
    applied: list[tuple[str, str, Any]] = field(default_factory=list)  # (id, op, input)

    def call(self, target: str, operation: str, input: Any) -> OperationOutcome:
        outcome = self._apply(target, operation, input)
        self._follow(outcome.actions)
        return outcome

    def signal(self, target: str, operation: str, input: Any, at: datetime | None = None,
               now: datetime | None = None) -> None:
        if at is not None and (now is None or at > now):
            self.deferred.append((at, len(self.deferred), target, operation, input))
            return
        self.call(target, operation, input)

    def flush(self, until: datetime | None = None) -> None:
        """Apply the scheduled signals due by `until` (all of them when None), by time."""
        while True:
            due = sorted(d for d in self.deferred if until is None or d[0] <= until)
            if not due:
                return
            first = due[0]
            self.deferred.remove(first)
            self.call(first[2], first[3], first[4])

    def states(self) -> dict[str, Any]:
        return {i: (s.value if s.exists else None) for i, s in sorted(self.entities.items())}

    def _apply(self, target: str, operation: str, input: Any) -> OperationOutcome:
        entity_id = EntityId.parse(target)
        defn = entity_def(entity_id.name)
        state = self.entities.get(entity_id, EntityState())
        self.applied.append((str.__str__(entity_id), operation, input))
        after, outcome = apply_operation(defn, entity_id, state, Operation(operation, input))
        self.entities[str.__str__(entity_id)] = after
        return outcome

    def _follow(self, actions: list[EntityAction]) -> None:
        queue = deque(actions)
        while queue:
            action = queue.popleft()
            if action.kind == "start":
                self.started.append((action.target, action.input, action.instance_id))
                continue
            if action.at is not None:
                self.deferred.append((action.at, len(self.deferred), action.target,
                                      action.operation or "", action.input))
                continue
            outcome = self._apply(action.target, action.operation or "", action.input)
            queue.extend(outcome.actions)
