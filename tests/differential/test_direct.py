"""The plain driver's semantics, one behaviour per test: these are what the journal runtime
must reproduce, so each is pinned here."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runtime.api import OrchestrationContext, RetryPolicy, Task, TaskFailedError, orchestrator
from tether.testing import run_direct

START = datetime(2026, 1, 1, tzinfo=UTC)


def echo(x: Any) -> Any:
    return x


def boom(x: Any) -> Any:
    raise ValueError(f"bad {x}")


ACTS = {"echo": echo, "boom": boom}


async def chain(ctx: OrchestrationContext, n: int) -> list[Any]:
    out = []
    for i in range(n):
        out.append(await ctx.call_activity("echo", i))
    return out


def test_activities_run_in_schedule_order_and_results_come_back() -> None:
    result = run_direct(chain, 3, activities=ACTS)
    assert (result.status, result.output, result.error) == ("Completed", [0, 1, 2], None)
    assert result.activity_calls == [("echo", 0), ("echo", 1), ("echo", 2)]


def test_task_ids_follow_creation_order_groups_included() -> None:
    async def prog(ctx: OrchestrationContext) -> list[int]:
        a = ctx.call_activity("echo", 1)
        t = ctx.create_timer(ctx.current_utc_datetime)
        g = ctx.when_all([a, t])
        e = ctx.wait_for_external_event("go")
        return [a.id, t.id, g.id, e.id]

    assert run_direct(prog, activities=ACTS).output == [0, 1, 2, 3]


def test_activities_execute_at_schedule_time_not_at_await() -> None:
    seen: list[str] = []

    def record(x: str) -> str:
        seen.append(x)
        return x

    async def prog(ctx: OrchestrationContext) -> list[str]:
        first = ctx.call_activity("record", "a")
        ctx.call_activity("record", "b")
        before = list(seen)
        await first
        return before

    assert run_direct(prog, activities={"record": record}).output == ["a", "b"]


def test_overrides_replace_registered_activities_and_async_ones_run() -> None:
    async def slow_double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    result = run_direct(chain, 2, activities={"echo": slow_double})
    assert result.output == [0, 2]


def test_registered_activity_is_used_without_override() -> None:
    from examples.hello_cities import hello_cities

    assert run_direct(hello_cities, ["Oslo"]).output == ["Hello, Oslo!"]


def test_failed_activity_raises_task_failed_error_at_the_await() -> None:
    async def prog(ctx: OrchestrationContext) -> list[Any]:
        try:
            await ctx.call_activity("boom", 7)
        except TaskFailedError as exc:
            return [exc.message, exc.error_type, exc.task_name, "ValueError" in (exc.details or "")]
        return []

    assert run_direct(prog, activities=ACTS).output == ["bad 7", "ValueError", "boom", True]


def test_uncaught_failure_fails_the_run_with_type_and_message() -> None:
    async def prog(ctx: OrchestrationContext) -> None:
        await ctx.call_activity("boom", 1)

    result = run_direct(prog, activities=ACTS)
    assert result.status == "Failed"
    assert result.error == ("TaskFailedError", "boom failed: ValueError: bad 1")
    assert result.activity_calls == [("boom", 1)]


def test_plain_exception_fails_the_run() -> None:
    async def prog(ctx: OrchestrationContext) -> None:
        await ctx.call_activity("echo", 1)
        raise KeyError("k")

    assert run_direct(prog, activities=ACTS).error == ("KeyError", "'k'")


def test_values_crossing_the_json_boundary_are_copies() -> None:
    received: list[Any] = []

    def keep(x: Any) -> Any:
        received.append(x)
        x.append("activity's")
        return x

    async def prog(ctx: OrchestrationContext, data: Any) -> Any:
        got = await ctx.call_activity("keep", data)
        got.append("mine")
        return [data, got]

    result = run_direct(prog, [1], activities={"keep": keep})
    assert result.output == [[1], [1, "activity's", "mine"]]
    assert result.activity_calls == [("keep", [1])]


def test_a_tuple_is_not_a_json_value() -> None:
    async def prog(ctx: OrchestrationContext) -> Any:
        try:
            await ctx.call_activity("pair", 1)
        except TaskFailedError as exc:
            return [exc.error_type, exc.message]
        return None

    result = run_direct(prog, activities={"pair": lambda x: (x, x)})
    assert result.output is not None and result.output[0] == "NotJSONError"
    assert "result of activity pair is a tuple" in result.output[1]


def test_awaiting_a_task_twice_gives_the_same_object() -> None:
    # as any awaitable in Python (issue 16): the first await's mutations are seen
    async def prog(ctx: OrchestrationContext) -> Any:
        t = ctx.call_activity("echo", [1])
        first = await t
        first.append(2)
        again = await t
        return [first, again, again is first]

    assert run_direct(prog, activities=ACTS).output == [[1, 2], [1, 2], True]


def test_non_json_activity_input_is_refused_at_the_call() -> None:
    async def prog(ctx: OrchestrationContext) -> Any:
        await ctx.call_activity("echo", {1, 2})

    result = run_direct(prog, activities=ACTS)
    assert result.status == "Failed"
    assert result.error is not None and result.error[0] == "NotJSONError"
    assert "input of activity echo is a set" in result.error[1]


def test_non_json_activity_result_fails_the_task() -> None:
    async def prog(ctx: OrchestrationContext) -> Any:
        try:
            await ctx.call_activity("obj", 1)
        except TaskFailedError as exc:
            return exc.error_type
        return None

    assert run_direct(prog, activities={"obj": lambda x: object()}).output == "NotJSONError"


def test_unknown_activity_fails_its_task() -> None:
    async def prog(ctx: OrchestrationContext) -> Any:
        await ctx.call_activity("no_such_activity_anywhere", 1)

    result = run_direct(prog)
    assert result.error == (
        "TaskFailedError",
        "no_such_activity_anywhere failed: OrchestrationError: "
        "no activity named 'no_such_activity_anywhere' is registered",
    )


def test_clock_starts_at_start_and_moves_to_fired_timers() -> None:
    async def prog(ctx: OrchestrationContext) -> list[str]:
        times = [ctx.current_utc_datetime.isoformat()]
        await ctx.sleep(timedelta(hours=1))
        times.append(ctx.current_utc_datetime.isoformat())
        await ctx.create_timer(ctx.current_utc_datetime - timedelta(days=1))  # in the past
        times.append(ctx.current_utc_datetime.isoformat())
        return times

    result = run_direct(prog, start=datetime(2030, 5, 1, tzinfo=UTC))
    assert result.output == [
        "2030-05-01T00:00:00+00:00", "2030-05-01T01:00:00+00:00", "2030-05-01T01:00:00+00:00",
    ]


def test_waiting_jumps_to_the_earliest_pending_timer_first() -> None:
    async def prog(ctx: OrchestrationContext) -> list[Any]:
        late = ctx.sleep(timedelta(hours=2))
        early = ctx.sleep(timedelta(hours=1))
        winner = await ctx.when_any([late, early])
        hours = [ctx.current_utc_datetime.hour]
        await late
        hours.append(ctx.current_utc_datetime.hour)
        # both complete before this group exists: a tie, the lowest index wins
        again = await ctx.when_any([late, early])
        return [hours, winner.id, again.id]

    assert run_direct(prog, start=START).output == [[1, 2], 1, 0]


def test_naive_timer_is_refused() -> None:
    async def prog(ctx: OrchestrationContext) -> None:
        await ctx.create_timer(datetime(2026, 1, 2))

    result = run_direct(prog)
    assert result.error is not None and result.error[0] == "OrchestrationError"


def test_events_reach_waiters_in_order_and_are_buffered() -> None:
    async def prog(ctx: OrchestrationContext) -> list[Any]:
        a1 = ctx.wait_for_external_event("a")
        a2 = ctx.wait_for_external_event("a")
        got = [await a2, await a1]
        got.append(await ctx.wait_for_external_event("b"))  # delivered earlier, buffered
        return got

    result = run_direct(prog, events=[("a", 1), ("b", "x"), ("a", 2)])
    assert result.output == [2, 1, "x"]


def test_events_are_delivered_before_future_timers_fire() -> None:
    async def prog(ctx: OrchestrationContext) -> str:
        timeout = ctx.sleep(timedelta(hours=1))
        answer = ctx.wait_for_external_event("ok")
        winner = await ctx.when_any([timeout, answer])
        return "answer" if winner == answer else "timeout"

    assert run_direct(prog, events=[("ok", True)]).output == "answer"
    assert run_direct(prog).output == "timeout"


def test_due_timers_fire_before_events() -> None:
    async def prog(ctx: OrchestrationContext) -> str:
        now = ctx.create_timer(ctx.current_utc_datetime)
        answer = ctx.wait_for_external_event("ok")
        winner = await ctx.when_any([answer, now])
        return "answer" if winner == answer else "timer"

    assert run_direct(prog, events=[("ok", 1)]).output == "timer"


def test_waiting_on_nothing_that_can_complete_is_stuck() -> None:
    ran_finally: list[bool] = []

    async def prog(ctx: OrchestrationContext) -> None:
        try:
            await ctx.wait_for_external_event("never")
        finally:
            ran_finally.append(True)
            await ctx.call_activity("echo", "cleanup")

    result = run_direct(prog, activities=ACTS, events=[("other", 1)])
    assert result.status == "Stuck"
    assert (result.output, result.error) == (None, None)
    assert result.waiting_on == "<Task 0 event never>"
    assert result.activity_calls == []  # abandoning the coroutine schedules nothing


def test_when_all_gives_results_in_task_order() -> None:
    async def prog(ctx: OrchestrationContext) -> Any:
        slow = ctx.sleep(timedelta(minutes=5))
        fast = ctx.call_activity("echo", "f")
        return await ctx.when_all([slow, fast])

    assert run_direct(prog, activities=ACTS).output == [None, "f"]


def test_when_all_raises_the_lowest_index_failure_after_all_complete() -> None:
    async def prog(ctx: OrchestrationContext) -> Any:
        tasks = [ctx.call_activity("echo", 0), ctx.sleep(timedelta(hours=1)),
                 ctx.call_activity("boom", 2), ctx.call_activity("boom", 3)]
        try:
            await ctx.when_all(tasks)
        except TaskFailedError as exc:
            return [exc.message, ctx.current_utc_datetime.hour]
        return None

    assert run_direct(prog, activities=ACTS, start=START).output == ["bad 2", 1]


def test_when_any_ties_go_to_the_lowest_index() -> None:
    async def prog(ctx: OrchestrationContext) -> Any:
        a = ctx.call_activity("echo", "a")
        b = ctx.call_activity("echo", "b")
        winner = await ctx.when_any([b, a])
        return await winner

    assert run_direct(prog, activities=ACTS).output == "b"


def test_when_any_returns_the_first_to_complete_even_if_it_failed() -> None:
    async def prog(ctx: OrchestrationContext) -> Any:
        timer = ctx.sleep(timedelta(hours=1))
        bad = ctx.call_activity("boom", 1)
        winner = await ctx.when_any([timer, bad])
        assert isinstance(winner, Task)
        try:
            await winner
        except TaskFailedError:
            return winner.id
        return None

    assert run_direct(prog, activities=ACTS).output == 1


def test_nested_groups_settle_in_the_same_event() -> None:
    async def prog(ctx: OrchestrationContext) -> Any:
        t = ctx.sleep(timedelta(hours=1))
        inner = ctx.when_all([t, ctx.call_activity("echo", 1)])
        later = ctx.sleep(timedelta(hours=2))
        winner = await ctx.when_any([later, inner])
        return [winner == inner, await winner]

    assert run_direct(prog, activities=ACTS).output == [True, [None, 1]]


def test_new_uuid_is_deterministic_per_instance() -> None:
    async def prog(ctx: OrchestrationContext) -> list[str]:
        return [str(ctx.new_uuid()), str(ctx.new_uuid())]

    result = run_direct(prog, instance_id="order-1")
    assert result.output == [str(uuid.uuid5(uuid.NAMESPACE_URL, f"order-1:{n}")) for n in (0, 1)]


def test_continue_as_new_restarts_with_new_input_and_records_generations() -> None:
    async def prog(ctx: OrchestrationContext, n: int) -> Any:
        got = await ctx.wait_for_external_event("tick")
        ctx.set_custom_status({"n": n})
        if n < 2:
            ctx.continue_as_new(n + 1)
            return "ignored"
        return [n, got, ctx.new_uuid() == str(uuid.uuid5(uuid.NAMESPACE_URL, "direct:0"))]

    result = run_direct(prog, 0, events=[("tick", "a"), ("tick", "b"), ("tick", "c")])
    assert result.status == "Completed"
    assert result.output == [2, "c", True]
    assert result.generations == [0, 1, 2]
    assert result.custom_status == {"n": 2}


def test_continue_as_new_is_bounded() -> None:
    async def forever(ctx: OrchestrationContext, n: int) -> None:
        ctx.continue_as_new(n + 1)

    result = run_direct(forever, 0)
    assert result.status == "Failed"
    assert len(result.generations) == 100


@orchestrator(name="direct_test_child")
async def child(ctx: OrchestrationContext, n: int) -> Any:
    if n < 0:
        raise ValueError("negative")
    await ctx.sleep(timedelta(hours=n))
    return [ctx.instance_id, await ctx.call_activity("echo", n), ctx.current_utc_datetime.hour]


def test_sub_orchestrations_run_recursively() -> None:
    async def parent(ctx: OrchestrationContext) -> Any:
        first = await ctx.call_sub_orchestrator(child, 1)
        second = await ctx.call_sub_orchestrator("direct_test_child", 2, instance_id="kid")
        try:
            await ctx.call_sub_orchestrator(child, -1)
        except TaskFailedError as exc:
            return [first, second, exc.error_type, exc.message, ctx.current_utc_datetime.hour]
        return None

    result = run_direct(parent, activities=ACTS, instance_id="p")
    # each child starts when the one before ended: 00:00-01:00, 01:00-03:00, then fails at 03:00
    assert result.output == [["p:0", 1, 1], ["kid", 2, 3], "ValueError", "negative", 3]
    assert result.activity_calls == [("echo", 1), ("echo", 2)]


def test_retry_waits_on_the_virtual_clock_and_runs_again() -> None:
    attempts: list[int] = []

    def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return x

    async def prog(ctx: OrchestrationContext) -> Any:
        retry = RetryPolicy(5, timedelta(minutes=1), backoff_coefficient=2.0)
        got = await ctx.call_activity("flaky", 9, retry=retry)
        return [got, ctx.current_utc_datetime.minute]

    result = run_direct(prog, activities={"flaky": flaky}, start=START)
    assert result.output == [9, 3]  # waited 1 + 2 minutes
    assert result.activity_calls == [("flaky", 9)] * 3


def test_retry_gives_up_after_max_attempts() -> None:
    async def prog(ctx: OrchestrationContext) -> Any:
        await ctx.call_activity("boom", 1, retry=RetryPolicy(2, timedelta(seconds=1)))

    result = run_direct(prog, activities=ACTS)
    assert result.status == "Failed"
    assert result.activity_calls == [("boom", 1), ("boom", 1)]


def test_awaiting_a_non_task_fails_clearly() -> None:
    async def prog(ctx: OrchestrationContext) -> None:
        await asyncio.sleep(0)

    result = run_direct(prog)
    assert result.status == "Failed"
    assert result.error is not None and "may only await tasks" in result.error[1]


@pytest.mark.parametrize("value", [float("nan"), object()])
def test_non_json_output_fails_the_run(value: Any) -> None:
    async def prog(ctx: OrchestrationContext) -> Any:
        return value

    result = run_direct(prog)
    assert result.status == "Failed"
    assert result.error is not None and "orchestration output" in result.error[1]


def test_a_stuck_program_with_awaiting_finallys_is_closed_quietly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc
    import sys

    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    async def prog(ctx: OrchestrationContext) -> None:
        try:
            try:
                await ctx.wait_for_external_event("never")
            finally:
                await ctx.call_activity("echo", 1)
        finally:
            await ctx.call_activity("echo", 2)

    result = run_direct(prog, activities=ACTS)
    gc.collect()
    assert result.status == "Stuck"
    assert unraisable == []
