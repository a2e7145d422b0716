"""A minimal eager context for compiler tests: activities run at schedule time, and a
machine's frame is deep-copied at every suspension (a checkpoint and restore that keeps
aliasing, as the frame codec must). It drives both the plain `async def` and the compiled
machine, so the lowering can be tested without the journal runtime."""

from __future__ import annotations

import copy
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from runtime.api import OrchestrationContext, Task, TaskFailedError, activity_name
from runtime.machine import Frame, MachineDef, Outcome, Return, Suspend


@dataclass
class Result:
    output: Any = None
    error: tuple[str, str] | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    suspensions: int = 0


class EagerContext(OrchestrationContext):
    def __init__(self, activities: dict[str, Callable[[Any], Any]]) -> None:
        self.activities = activities
        self.outcomes: dict[int, Outcome] = {}
        self.next_id = 0
        self.calls: list[tuple[str, Any]] = []
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    @property
    def instance_id(self) -> str:
        return "eager"

    @property
    def current_utc_datetime(self) -> datetime:
        return self.now

    def _task(self, kind: str, name: str | None, input: Any, children: tuple[Task[Any], ...] = ()) -> Task[Any]:
        task: Task[Any] = Task(self.next_id, kind, name, input, children)
        self.next_id += 1
        return task

    def call_activity(self, activity: Any, input: Any = None, *, retry: Any = None) -> Task[Any]:
        name = activity_name(activity)
        task = self._task("activity", name, input)
        self.calls.append((name, copy.deepcopy(input)))
        try:
            self.outcomes[task.id] = Outcome(value=self.activities[name](input))
        except Exception as exc:
            self.outcomes[task.id] = Outcome(error=TaskFailedError(
                str(exc), error_type=type(exc).__name__, task_name=name))
        return task

    def create_timer(self, fire_at: datetime) -> Task[None]:
        task = self._task("timer", None, fire_at.isoformat())
        self.now = max(self.now, fire_at)
        self.outcomes[task.id] = Outcome(value=None)
        return task

    def when_all(self, tasks: Iterable[Task[Any]]) -> Task[list[Any]]:
        children = tuple(tasks)
        task = self._task("when_all", None, None, children)
        errors = [self.outcomes[c.id].error for c in children if self.outcomes[c.id].error]
        if errors:
            self.outcomes[task.id] = Outcome(error=errors[0])
        else:
            self.outcomes[task.id] = Outcome(value=[self.outcomes[c.id].value for c in children])
        return task

    def when_any(self, tasks: Iterable[Task[Any]]) -> Task[Task[Any]]:
        children = tuple(tasks)
        task = self._task("when_any", None, None, children)
        self.outcomes[task.id] = Outcome(value=children[0])
        return task

    def outcome(self, task: Task[Any]) -> Outcome:
        out = self.outcomes[task.id]
        if out.error is not None:  # a fresh exception object per delivery, as a journal gives
            err = out.error
            assert isinstance(err, TaskFailedError)
            return Outcome(error=TaskFailedError(err.message, error_type=err.error_type,
                                                 task_name=err.task_name))
        return Outcome(value=copy.deepcopy(out.value))


def run_plain(fn: Callable[..., Any], input: Any, activities: dict[str, Callable[[Any], Any]],
              takes_input: bool = True) -> Result:
    ctx = EagerContext(activities)
    coro = fn(ctx, input) if takes_input else fn(ctx)
    result = Result(calls=ctx.calls)
    to_send: Outcome | None = None
    while True:
        try:
            if to_send is None:
                task = coro.send(None)
            elif to_send.error is not None:
                task = coro.throw(to_send.error)
            else:
                task = coro.send(to_send.value)
        except StopIteration as stop:
            result.output = stop.value
            return result
        except Exception as exc:
            result.error = (type(exc).__name__, str(exc))
            return result
        result.suspensions += 1
        to_send = ctx.outcome(task)


def run_compiled(mdef: MachineDef, input: Any, activities: dict[str, Callable[[Any], Any]]) -> Result:
    ctx = EagerContext(activities)
    frame = Frame(input=input)
    result = Result(calls=ctx.calls)
    while True:
        try:
            step = mdef.fn(ctx, frame)
        except Exception as exc:
            result.error = (type(exc).__name__, str(exc))
            return result
        if isinstance(step, Return):
            result.output = step.value
            return result
        assert isinstance(step, Suspend)
        result.suspensions += 1
        # checkpoint + restore: nothing but the frame survives, aliasing kept
        frame = Frame(state=frame.state, slots=copy.deepcopy(frame.slots))
        frame.deliver(ctx.outcome(step.task))


_counter = 0


def compile_module(source: str, path: str = "prog.py") -> types.ModuleType:
    import compiler

    global _counter
    _counter += 1
    return compiler.load_source(source, path, f"_tether_test_{_counter}")


def machine_of(module: types.ModuleType, name: str) -> MachineDef:
    mdef = getattr(getattr(module, name), "__tether_machine__", None)
    assert isinstance(mdef, MachineDef), f"{name} is not compiled"
    return mdef


def plain_module(source: str) -> types.ModuleType:
    global _counter
    _counter += 1
    module = types.ModuleType(f"_tether_plain_{_counter}")
    exec(compile(source, "prog.py", "exec"), module.__dict__)
    return module


def assert_same(source: str, orch: str, inputs: Iterable[Any],
                activities: dict[str, Callable[[Any], Any]] | None = None) -> None:
    """Run `orch` from `source` plainly and compiled for every input; results must match."""
    plain = plain_module(source)
    compiled = compile_module(source)
    mdef = machine_of(compiled, orch)
    acts = activities if activities is not None else _registered(plain)
    for value in inputs:
        expected = run_plain(getattr(plain, orch), value, acts, mdef.takes_input)
        got = run_compiled(mdef, value, acts)
        assert (got.output, got.error, got.calls) == (expected.output, expected.error, expected.calls), (
            f"input {value!r}:\n plain    {expected}\n compiled {got}")


def _registered(module: types.ModuleType) -> dict[str, Callable[[Any], Any]]:
    out: dict[str, Callable[[Any], Any]] = {}
    for value in vars(module).values():
        name = getattr(value, "__tether_activity__", None)
        if name is not None:
            fn = value
            out[name] = (lambda f: (lambda x: f(x)))(fn)
    return out


_ = timedelta
