"""The protocol between emitted modules and the runtime.

The compiler turns each `@orchestrator async def f(ctx, input)` into a *machine*: a
plain function `f(ctx, frame) -> Step`, registered with `@machine(...)`. A call runs
the orchestration from `frame.state` until its next suspension or its end:

- `Suspend(task)`: the machine saved the locals live at its resume state into
  `frame.slots` (`frame.suspend`) and waits for `task`. The runtime checkpoints the
  frame, makes progress, delivers the task's outcome (`frame.deliver`) and calls the
  machine again.
- `Return(value)`: the orchestration finished with `value`.
- an exception: the orchestration failed with it.

A machine never re-executes code from its start: a call restores only the slots of
the state it resumes at. Values in slots are what `runtime.values` can save.

Besides the user's locals, slots hold locals the compiler invented (a loop's position,
a comprehension's items so far, ...). The compiler lists those it saves (`hidden=`),
so history can show what the user wrote and messages can say what a slot holds;
nothing here guesses from a name, since a user may call a local `_i0` too.
"""

from __future__ import annotations

import functools

# The builtins emitted code calls, re-exported so that a machine whose orchestrator binds
# one of these names (a local `len`, a global `Exception`) reaches them as `_rt.len`.
from builtins import AssertionError as AssertionError
from builtins import BaseException as BaseException
from builtins import Exception as Exception
from builtins import isinstance as isinstance
from builtins import len as len
from builtins import locals as locals
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

from runtime.api import REGISTRY, OrchestratorDef, Task
from runtime.tracebacks import stand_in_frame
from runtime.values import AWAITED, live_outcomes
from runtime.walks import iter_source as iter_source  # what a lowered loop walks


@dataclass(frozen=True)
class Suspend:
    task: Task[Any]


@dataclass(frozen=True)
class Return:
    value: Any


Step = Suspend | Return


@dataclass(frozen=True)
class Outcome:
    """How an awaited task ended: its value, or the error to raise at the await."""

    value: Any = None
    error: BaseException | None = None


@dataclass
class Frame:
    """The resumable state of one orchestration: where it is and the locals it needs.

    The outcomes of awaited tasks the orchestration may await again (a task kept in a
    variable) are kept by task id, in `slots` under `values.AWAITED` too, so that every
    await of one task gives the same object, also after a resume, as an awaitable does
    in Python."""

    state: int = 0
    slots: dict[str, Any] = field(default_factory=dict)
    input: Any = None
    awaiting: Task[Any] | None = None
    outcome: Outcome | None = None
    awaited: dict[int, tuple[Any, BaseException | None]] = field(default_factory=dict)
    _prune_at: int = 32

    def __post_init__(self) -> None:
        saved = self.slots.get(AWAITED)
        if isinstance(saved, tuple) and not self.awaited:
            self.awaited = saved[1]

    def suspend(self, state: int, task: Task[Any], /, **slots: Any) -> Suspend:
        """Save the live locals and wait for `task`; the machine resumes at `state`."""
        if not isinstance(task, Task):
            raise TypeError(
                f"await of {type(task).__name__} value: an orchestrator may only await "
                "tasks from its context (call_activity, create_timer, when_all, ...)"
            )
        self.state = state
        self.slots = slots
        if self.awaited:
            if len(self.awaited) > self._prune_at:  # forget tasks no local refers to
                self.awaited = live_outcomes(self.awaited, [*slots.values(), task])
                self._prune_at = 2 * len(self.awaited) + 32
            slots[AWAITED] = (task, self.awaited)
        self.awaiting = task
        self.outcome = None
        return Suspend(task)

    def restore(self, *names: str) -> tuple[Any, ...]:
        """The saved values of `names`, in order. The compiler asks only for locals bound
        on every path to the await (others it rebinds only if saved), so a missing one
        means the frame was saved by other code."""
        missing = [n for n in names if n not in self.slots]
        if missing:
            raise RuntimeError(f"the frame at state {self.state} lacks slots {missing}; it was "
                               "checkpointed by different code (see the graph hash)")
        return tuple(self.slots[n] for n in names)

    def deliver(self, outcome: Outcome) -> None:
        self.outcome = outcome

    def received(self) -> Any:
        """The awaited task's result; raises its error at the `await`."""
        task = self.awaiting
        if task is not None and task.kind == "when_all" and self.outcome is not None:
            self.outcome = self._gathered(task, self.outcome)
        return self._take()

    def received_shared(self) -> Any:
        """`received()` for a task that may be awaited again: its first outcome, kept, is
        every await's (the same object, the same exception)."""
        task = self.awaiting
        if task is not None and task.id in self.awaited:
            self.outcome = Outcome(*self.awaited[task.id])
        elif task is not None and self.outcome is not None:
            if task.kind == "when_all":
                self.outcome = self._gathered(task, self.outcome)
            self.awaited[task.id] = (self.outcome.value, self.outcome.error)
        return self._take()

    def _take(self) -> Any:
        outcome, task = self.outcome, self.awaiting
        if outcome is None:
            raise RuntimeError(
                f"machine resumed at state {self.state} before its task had an outcome"
            )
        self.outcome = None
        self.awaiting = None
        if outcome.error is not None:
            if task is None:
                raise outcome.error
            _raise_at_await(task, outcome.error)
        return outcome.value

    def _gathered(self, group: Task[Any], delivered: Outcome | None) -> Outcome:
        """A when_all's outcome made of its children's, as Python's `gather` makes it: the
        list holds the very objects an await of each child gives (kept here, so a child
        awaited before or after is the same object), its error is the lowest-index failed
        child's own. `delivered` is the runtime's fresh outcome of `group` (None inside a
        failed group: each child's is then read from its handle, all completed by now)."""
        values = delivered.value if delivered is not None and delivered.error is None else None
        items: list[Any] = []
        for index, child in enumerate(group.children):
            kept = self.awaited.get(child.id)
            if kept is None:
                if values is not None and child.kind == "when_all":
                    part = self._gathered(child, Outcome(values[index]))
                elif values is not None:
                    part = Outcome(values[index])
                elif child.kind == "when_all":
                    part = self._gathered(child, None)
                else:
                    seen, value, error = child._seen()
                    if not seen:  # a handle without a view: the runtime's outcome as is
                        return delivered if delivered is not None else Outcome()
                    part = Outcome(value, error)
                kept = self.awaited[child.id] = (part.value, part.error)
            if kept[1] is not None:
                return Outcome(error=kept[1])
            items.append(kept[0])
        return Outcome(items)


def _raise_at_await(task: Task[Any], error: BaseException) -> None:
    """Raise `error` as plain Python's `await task` raises it (runtime.direct throws it
    into the coroutine): from the `yield` in `Task.__await__`, so that its traceback ends
    in that frame, as the plain run's does. `catch` then drops the entries of the runtime
    frames between it and the machine."""
    awaiting = Task.__await__(task)
    next(awaiting)
    awaiting.throw(error)


# The runtime frames an exception raised at an await passes through on its way from
# `Task.__await__` to the machine: not in the plain run's traceback, so not in the machine's.
_AWAIT_CODES = frozenset({Frame.received.__code__, Frame.received_shared.__code__,
                          Frame._take.__code__, _raise_at_await.__code__})


def reraise(error: BaseException) -> BaseException:
    """`raise _rt.reraise(e)`: a lowered re-raise (a bare `raise`, the end of a `finally`
    left by an exception, an `except` that matched nothing), which in Python adds no
    traceback entry. The `raise` adds the machine's; marked, `catch` drops it again."""
    if error.__traceback__ is not None:
        error.__traceback__ = TracebackType(error.__traceback__, _RERAISE, -1, 0)
    return error


_RERAISE = stand_in_frame("<tether re-raise>", "reraise")


MachineFn = Callable[[Any, Frame], Step]


@dataclass(frozen=True)
class StepInfo:
    """What the runtime and `tether graph` need to know about one resumable state."""

    state: int
    line: int
    label: str


@dataclass(frozen=True)
class HiddenSlot:
    """A slot the compiler invented: `shown_as` is the name the user wrote for it (a
    comprehension's loop variable), or ''; `what` says what it holds, for messages."""

    name: str
    shown_as: str
    what: str


@dataclass(frozen=True)
class MachineDef:
    name: str
    fn: MachineFn
    graph_hash: str
    takes_input: bool
    source: str
    steps: tuple[StepInfo, ...] = ()
    hidden: tuple[HiddenSlot, ...] = ()

    def step(self, state: int) -> StepInfo | None:
        return self._steps_by_state.get(state)

    @functools.cached_property
    def _steps_by_state(self) -> dict[int, StepInfo]:
        return {info.state: info for info in self.steps}

    @functools.cached_property
    def _shown_as(self) -> dict[str, str]:
        return {h.name: h.shown_as for h in self.hidden}

    def hidden_in(self, slots: Iterable[str]) -> dict[str, str]:
        """The invented ones among `slots`, each with the name it is shown as ('' for
        none): what a checkpoint records so that history can show the user's locals."""
        shown = self._shown_as
        return {n: shown[n] for n in sorted(slots) if n in shown}

    def describe(self, slot: str) -> str:
        """A slot as a message names it: "local `total`", or what an invented one holds."""
        if slot == AWAITED:
            return "the results of tasks awaited before"
        for h in self.hidden:
            if h.name == slot:
                return h.what
        return f"local `{slot}`"


def user_variables(slots: Mapping[str, Any], hidden: Mapping[str, str]) -> dict[str, Any]:
    """A checkpoint's encoded slots (`runtime.values.encode_slots`) as the user wrote
    them: invented slots dropped, except those standing for a name the user wrote, shown
    under that name. `hidden` is what the checkpoint recorded (`MachineDef.hidden_in`).

    Should the written name also be a saved local (a comprehension reusing an outer
    name), or be shown for an earlier slot (nested comprehensions both binding `x`), the
    slot keeps its invented name rather than hide either. A value
    shared with a dropped slot (`for c in cities` walks `cities` itself) was encoded
    there, so it is written out where a kept slot first refers to it."""
    taken = {n for n in slots if n not in hidden}
    out: dict[str, Any] = {}
    for name, value in slots.items():
        if name == AWAITED:  # the runtime's own: kept outcomes of tasks awaited before
            continue
        shown_as = hidden.get(name)
        if shown_as is None:
            out[name] = value
        elif shown_as:
            out[name if shown_as in taken else shown_as] = value
            taken.add(shown_as)
    if len(out) == len(slots):
        return out
    defs: dict[int, Any] = {}
    for value in slots.values():
        _collect_defs(value, defs)
    emitted: set[int] = set()
    return {name: _inline_refs(value, defs, emitted) for name, value in out.items()}


def _collect_defs(node: Any, defs: dict[int, Any]) -> None:
    if isinstance(node, dict):
        if "$id" in node:
            defs.setdefault(node["$id"], node)
        for child in node.values():
            _collect_defs(child, defs)
    elif isinstance(node, list):
        for child in node:
            _collect_defs(child, defs)


def _inline_refs(node: Any, defs: dict[int, Any], emitted: set[int]) -> Any:
    """`node` with its first reference to each shared value replaced by the value's
    encoding (a definition met after its value was written out becomes a reference)."""
    if isinstance(node, list):
        return [_inline_refs(child, defs, emitted) for child in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if ref is not None and ref not in emitted and ref in defs:
        node = defs[ref]
    key = node.get("$id")
    if key is not None:
        if key in emitted:
            return {"$ref": key}
        emitted.add(key)
    return {k: _inline_refs(v, defs, emitted) for k, v in node.items()}


def user_view(event: Mapping[str, Any]) -> dict[str, Any]:
    """A history event as `tether history` shows it by default: a checkpoint's slots are
    the user's variables (`user_variables`), and its list of invented slots is left out."""
    out = dict(event)
    hidden = out.pop("hidden", None)
    if hidden and isinstance(out.get("slots"), dict):
        out["slots"] = user_variables(out["slots"], hidden)
    return out


def machine(
    *, name: str, graph_hash: str, takes_input: bool, source: str,
    steps: tuple[tuple[int, int, str], ...] = (),
    hidden: tuple[tuple[str, str, str], ...] = (),
) -> Callable[[MachineFn], MachineFn]:
    """Register a compiled orchestrator (used by emitted modules). `hidden` lists the
    slots the compiler invented as (slot, shown as, what it holds); modules emitted
    before it existed register none."""

    def register(fn: MachineFn) -> MachineFn:
        mdef = MachineDef(
            name, fn, graph_hash, takes_input, source,
            tuple(StepInfo(s, line, label) for s, line, label in steps),
            tuple(HiddenSlot(*entry) for entry in hidden),
        )
        entry = REGISTRY.orchestrators.get(name)
        if entry is None:
            entry = OrchestratorDef(name, None, takes_input, fn.__module__)
            REGISTRY.orchestrators[name] = entry
        entry.machine = mdef
        fn.__tether_orchestrator__ = name  # type: ignore[attr-defined]
        fn.__tether_machine__ = mdef  # type: ignore[attr-defined]
        return fn

    return register


# Completion records of a lowered `finally`: how the protected code ended.
NEXT: Final = 0  # fell off the end: continue after the try statement
RETURN: Final = 1  # `return value`: finish the machine (or hand to an enclosing finally)
JUMP: Final = 2  # `break`/`continue`: go to a state
RAISE: Final = 3  # an exception: re-raise it


def catch(error: Exception, handlers: dict[int, int], state: int) -> int:
    """The handler state for an exception raised in `state`; re-raises when there is none.
    First its traceback is made the plain run's: the entry a `reraise` marked is dropped,
    and so are those of `_AWAIT_CODES` frames right after the machine's own."""
    tb = error.__traceback__
    if tb is not None and tb.tb_next is not None and tb.tb_next.tb_frame is _RERAISE:
        error.__traceback__ = tb = tb.tb_next.tb_next
    if tb is not None:
        after = tb.tb_next
        while after is not None and after.tb_frame.f_code in _AWAIT_CODES:
            after = after.tb_next
        tb.tb_next = after
    handler = handlers.get(state)
    if handler is None:
        raise error
    return handler


def bound(namespace: dict[str, Any], *names: str) -> dict[str, Any]:
    """The locals among `names` that are bound (`locals()` holds only those): a local that
    some path leaves unassigned is saved when it has a value and left out when not."""
    return {n: namespace[n] for n in names if n in namespace}


def unknown_state(name: str, state: int) -> RuntimeError:
    """A frame names a state its machine lacks: the journal and the code disagree."""
    return RuntimeError(
        f"orchestrator {name} has no state {state}; the instance was checkpointed by "
        "different code (see the graph hash in its history)"
    )
