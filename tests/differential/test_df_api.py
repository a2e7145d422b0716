"""Durable Functions' names and semantics, held to plain == compiled == crash-resumed:
`Task.result`/`is_completed`/`is_faulted`, `get_input()`, `parent_instance_id`,
`new_uuid()` as a str, `wait_for_external_event(name, timeout=...)`, and dataclasses at
the boundaries."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.differential.harness import check_case, compiled_module, plain_module, run_plain

SOURCE = '''
from dataclasses import dataclass, field
from datetime import timedelta

from tether import OrchestrationContext, OrchestrationError, TaskFailedError, activity, orchestrator


@activity
def double(x: int) -> int:
    return 2 * x


@activity
def explode(x: int) -> int:
    raise ValueError(f"no {x}")


@orchestrator
async def task_views(ctx: OrchestrationContext, n: int) -> list:
    a = ctx.call_activity(double, n)
    b = ctx.call_activity(explode, n)
    before = [a.is_completed, b.is_completed]
    winner = await ctx.when_any([a, ctx.create_timer(ctx.current_utc_datetime + timedelta(days=1))])
    try:
        await b
    except TaskFailedError:
        pass
    views = [winner == a, a.is_completed, a.result, a.is_faulted, b.is_completed, b.is_faulted]
    try:
        b.result
    except TaskFailedError as exc:
        views.append(exc.error_type)
    return before + views


@orchestrator
async def early_result(ctx: OrchestrationContext) -> int:
    task = ctx.wait_for_external_event("never")
    try:
        return task.result
    except OrchestrationError as exc:
        return str(exc)


@orchestrator
async def child_ids(ctx: OrchestrationContext, tag: str) -> dict:
    return {"input": ctx.get_input(), "parent": ctx.parent_instance_id, "id": ctx.instance_id,
            "uuid": ctx.new_uuid(), "uuid_type": type(ctx.new_uuid()).__name__}


@orchestrator
async def parent_ids(ctx: OrchestrationContext) -> list:
    me = {"input": ctx.get_input(), "parent": ctx.parent_instance_id}
    child = await ctx.call_sub_orchestrator(child_ids, "t")
    return [me, child]


@orchestrator
async def timed_wait(ctx: OrchestrationContext, seconds: int) -> list:
    out = []
    try:
        out.append(await ctx.wait_for_external_event("answer", timeout=timedelta(seconds=seconds)))
    except TimeoutError as exc:
        out.append(f"timeout: {exc}")
        # a later `answer` goes to the next wait, not to the one that timed out
        out.append(await ctx.wait_for_external_event("answer"))
    out.append((ctx.current_utc_datetime - ctx.current_utc_datetime).total_seconds())
    return out


@orchestrator
async def bad_timeout(ctx: OrchestrationContext) -> None:
    await ctx.wait_for_external_event("x", timeout=5)


@dataclass
class Point:
    x: int
    y: int


@dataclass
class Path:
    name: str
    points: list[Point] = field(default_factory=list)
    closed: bool | None = None


@activity
def stretch(path: Path) -> Path:
    return Path(path.name.upper(), [Point(p.x * 2, p.y) for p in path.points], path.closed)


@activity
def length(path: Path) -> int:
    return sum(abs(p.x) + abs(p.y) for p in path.points)


@orchestrator
async def child_path(ctx: OrchestrationContext, path: Path) -> Path:
    return await ctx.call_activity(stretch, path)


@orchestrator
async def typed_paths(ctx: OrchestrationContext, path: Path) -> dict:
    first = path.points[0].x
    longer = await ctx.call_sub_orchestrator(child_path, path)
    kinds = [type(longer).__name__, type(longer.points[0]).__name__]
    # (no dataclass stays live across an await: saving one in the frame is the frame
    # codec's, runtime/values.py)
    shown = {"name": longer.name, "xs": [p.x for p in longer.points], "closed": longer.closed}
    total = await ctx.call_activity(length, longer)
    return {"first": first, "kinds": kinds, "total": total, "path": shown}


@orchestrator
async def not_json(ctx: OrchestrationContext) -> None:
    await ctx.call_activity(length, object())
'''


@pytest.fixture(scope="module")
def modules() -> tuple[Any, Any]:
    return plain_module(SOURCE, "df_api.py"), compiled_module(SOURCE, "df_api.py")


CASES = [
    ("task_views", 4, [],
     [False, False, True, True, 8, False, True, True, "ValueError"]),
    ("early_result", None, [], None),
    ("parent_ids", None, [], [
        {"input": None, "parent": None},
        {"input": "t", "parent": "diff", "id": "diff:0",
         "uuid": "b9e0c8f0-0000-0000-0000-000000000000", "uuid_type": "str"}]),
    ("timed_wait", 60, [("answer", "yes")], ["yes", 0.0]),
    ("timed_wait", 60, [], None),
    ("typed_paths", {"name": "p", "points": [{"x": 1, "y": 2}, {"x": -3, "y": 4}]}, [], {
        "first": 1, "kinds": ["Path", "Point"], "total": 14,
        "path": {"name": "P", "xs": [2, -6], "closed": None}}),
]


@pytest.mark.parametrize(("orchestrator", "value", "events", "expected"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_the_same_plain_compiled_and_crashed(
    modules: tuple[Any, Any], orchestrator: str, value: Any, events: list[tuple[str, Any]],
    expected: Any, tmp_path: Path,
) -> None:
    plain, compiled = modules
    check_case(plain, compiled, orchestrator, value, events, tmp_path)
    got = run_plain(plain, orchestrator, value, events)
    if orchestrator == "parent_ids":
        assert isinstance(got.output[1]["uuid"], str) and len(got.output[1]["uuid"]) == 36
        got.output[1]["uuid"] = expected[1]["uuid"]
    if expected is not None:
        assert got.output == expected, got


def test_result_before_completion_is_a_clear_error(modules: tuple[Any, Any]) -> None:
    got = run_plain(modules[0], "early_result", None)
    assert got.output == ("<Task 0 event never>.result: the task has not completed yet; await "
                          "it (or a when_any/when_all over it) first")


def test_a_timed_out_wait_raises_timeout_error_and_frees_the_name(
    modules: tuple[Any, Any], tmp_path: Path,
) -> None:
    # Only a real clock lets an event arrive after the timer: the harness's event feed is
    # always read before virtual time moves on.
    from runtime.client import Client
    from runtime.clock import Clock
    from runtime.engine import run_inline
    from tests.differential.harness import machine_of

    store = tmp_path / "store"
    mdef = machine_of(modules[1], "timed_wait")
    done: list[Any] = []
    worker = threading.Thread(target=lambda: done.append(run_inline(
        mdef, 1, store=store, instance_id="late-1", clock=Clock())))
    worker.start()
    client = Client(store)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the timeout was delivered, then answer
        events = [e["eventType"] for e in client.history("late-1")] if store.exists() and \
            client.backend.exists("late-1") else []
        if events.count("checkpoint") >= 2:
            break
        time.sleep(0.05)
    client.raise_event("late-1", "answer", "late")
    worker.join(30)
    assert done and done[0].status == "Completed", done
    assert done[0].output == ["timeout: no event 'answer' arrived within 0:00:01", "late", 0.0]


def test_a_timeout_that_is_not_a_timedelta_is_refused(modules: tuple[Any, Any],
                                                      tmp_path: Path) -> None:
    plain, compiled = modules
    check_case(plain, compiled, "bad_timeout", None, [], tmp_path)
    got = run_plain(plain, "bad_timeout", None)
    assert got.error == ("OrchestrationError", "wait_for_external_event('x', timeout=...) needs "
                         "a positive timedelta, got 5")


def test_a_value_that_is_no_dataclass_is_still_refused_by_name(modules: tuple[Any, Any],
                                                               tmp_path: Path) -> None:
    plain, compiled = modules
    check_case(plain, compiled, "not_json", None, [], tmp_path)
    got = run_plain(plain, "not_json", None)
    assert got.error is not None
    assert got.error[0] == "NotJSONError"
    assert got.error[1].startswith("input of activity length is a object, which is not a JSON value")
