"""Critical sections: `ctx.lock_entities(*ids)` and the locking rules checked at run time.

The contract the compiler lowers `async with ctx.lock_entities(a, b) as cs:` to:

    cs = ctx.lock_entities(a, b)      # CriticalSection; ids deduplicated and sorted
    await cs.acquire()                # a durable Task[None]; acquires in id order
    try:
        ...body...
    finally:
        cs.release()                  # synchronous, idempotent; schedules the unlocks

`async with` works on it directly too (`__aenter__` acquires and returns it, `__aexit__`
releases and never swallows), so plain `async def` code under `runtime.direct` runs
unchanged. A `CriticalSection` holds only its ids and the task ids of its lock and
unlock, so it can be saved in a frame (it is live across every await of the body); the
context it belongs to is the one running the current step (`current_context`).

Rules (Durable Functions checks them at run time; the compiler checks them statically,
this module again at run time, as defence in depth): each violation is a
`LockingRuleError` naming the rule, which fails the orchestration.

- `nested`: acquiring while a critical section is held (or being acquired);
- `call-unlocked`: `call_entity` inside a critical section on an entity it does not lock
  (or before the lock is granted);
- `signal-locked`: `signal_entity` to an entity the critical section locks;
- `sub-orchestration`: a sub-orchestration started inside one;
- `parallel-calls`: a second `call_entity` to one locked entity while the first is not
  awaited yet.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.api import OrchestrationError, Task
from runtime.entities.ids import EntityId
from runtime.values import saveable

if TYPE_CHECKING:
    from runtime.api import OrchestrationContext

__all__ = ["Active", "CriticalSection", "LockingRuleError", "check_acquire", "check_call",
           "check_signal", "check_sub_orchestration", "current_context", "running_in",
           "sorted_ids"]

_CURRENT: contextvars.ContextVar[Any] = contextvars.ContextVar("tether_orchestration")


class LockingRuleError(OrchestrationError):
    """A critical-section rule was broken (the message names the rule)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"locking rule {rule}: {message}")
        self.rule = rule


def running_in(ctx: Any) -> contextvars.Token[Any]:
    """Make `ctx` the context of the step now running (reset with the token)."""
    return _CURRENT.set(ctx)


def reset(token: contextvars.Token[Any]) -> None:
    _CURRENT.reset(token)


def current_context() -> Any:
    """The orchestration context of the step now running."""
    ctx = _CURRENT.get(None)
    if ctx is None:
        raise OrchestrationError("a critical section is used outside of its orchestration's step")
    return ctx


def sorted_ids(ids: Iterable[str]) -> tuple[EntityId, ...]:
    """`ids` parsed, deduplicated and sorted (the order the locks are taken in)."""
    parsed = {EntityId.parse(i) for i in ids}
    if not parsed:
        raise OrchestrationError("lock_entities needs at least one entity id")
    return tuple(sorted(parsed))


@saveable
class CriticalSection:
    """The locks on `ids` for one orchestration (see the module docstring)."""

    ids: tuple[EntityId, ...]
    lock_task: int | None  # the task of `acquire`, once called
    released: bool

    def __init__(self, ids: tuple[EntityId, ...]) -> None:
        self.ids = ids
        self.lock_task = None
        self.released = False

    def acquire(self) -> Task[None]:
        """Ask for every lock, in id order: a durable task that completes once all are held."""
        ctx = current_context()
        task: Task[None] = ctx._acquire(self)
        return task

    def release(self) -> None:
        """Give the locks up (durably: the unlocks are journaled with the step). Idempotent;
        releasing before `acquire` does nothing."""
        if self.lock_task is None or self.released:
            self.released = True
            return
        current_context()._release(self)
        self.released = True

    async def __aenter__(self) -> CriticalSection:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        state = ("released" if self.released else "not acquired" if self.lock_task is None
                 else "acquired")
        return f"CriticalSection({', '.join(self.ids)}; {state})"


def lock_entities(ctx: OrchestrationContext, ids: Iterable[str]) -> CriticalSection:
    return CriticalSection(sorted_ids(ids))


# -- the rules, over what a context knows of its critical section -------------------------


@dataclass(frozen=True)
class Active:
    """The critical section an orchestration is in (acquiring or holding)."""

    ids: frozenset[str]
    granted: bool


def check_acquire(active: Active | None, ids: Iterable[str]) -> None:
    if active is not None:
        raise LockingRuleError(
            "nested", f"cannot lock {', '.join(ids)} while holding {', '.join(sorted(active.ids))}: "
            "critical sections do not nest (release the first, or lock every entity at once)")


def check_call(active: Active | None, target: str, unawaited: bool) -> None:
    """`unawaited`: an earlier call to `target` inside the section is not awaited yet."""
    if active is None:
        return
    if target not in active.ids:
        raise LockingRuleError(
            "call-unlocked", f"call_entity({target}) inside a critical section that locks "
            f"{', '.join(sorted(active.ids))} only: lock it too, or call it outside")
    if not active.granted:
        raise LockingRuleError(
            "call-unlocked", f"call_entity({target}) before the critical section's locks are "
            "held: await cs.acquire() first")  # (granted = acquire() awaited, in both runtimes)
    if unawaited:
        raise LockingRuleError(
            "parallel-calls", f"a second call_entity({target}) while the first is not awaited: "
            "calls to one locked entity run one after the other")


def check_signal(active: Active | None, target: str) -> None:
    if active is not None and target in active.ids:
        raise LockingRuleError(
            "signal-locked", f"signal_entity({target}) inside a critical section that locks it: "
            "use call_entity, or signal it after the section")


def check_sub_orchestration(active: Active | None, name: str) -> None:
    if active is not None:
        raise LockingRuleError(
            "sub-orchestration", f"sub-orchestration {name} started inside a critical section "
            f"(locking {', '.join(sorted(active.ids))}): start it before or after the section")
