"""OpenTelemetry traces: a span per instance, step, activity attempt, timer and event
wait; one trace across sub-orchestrations, crashes and processes; each span emitted once;
a user's activity spans nest under tether's. Checked with the SDK's in-memory exporter."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runtime import tracing
from runtime.engine import SimulatedCrash, run_inline
from tether.loader import load

ROOT = Path(__file__).resolve().parents[2]
SRC = '''
from datetime import timedelta

from opentelemetry import trace

from tether import OrchestrationContext, activity, orchestrator


@activity
def charge(amount: int) -> int:
    with trace.get_tracer("shop").start_as_current_span("payment provider call"):
        return amount * 2


@orchestrator
async def child(ctx: OrchestrationContext, n: int) -> int:
    return await ctx.call_activity(charge, n)


@orchestrator
async def parent(ctx: OrchestrationContext, n: int) -> dict:
    approval = await ctx.wait_for_external_event("approve")
    paid = await ctx.call_activity(charge, n)
    await ctx.create_timer(ctx.current_utc_datetime + timedelta(seconds=5))
    sub = await ctx.call_sub_orchestrator(child, paid, instance_id="child-1")
    return {"paid": paid, "approval": approval, "sub": sub}
'''

EXPORTER = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
trace.set_tracer_provider(_provider)


@pytest.fixture
def traced() -> Iterator[InMemorySpanExporter]:
    tracing.enable()
    EXPORTER.clear()
    yield EXPORTER
    tracing.disable()
    EXPORTER.clear()


@pytest.fixture
def mdef(tmp_path: Path) -> Any:
    path = tmp_path / "shop.py"
    path.write_text(SRC)
    return load(str(path)).machine("parent")


def _run(mdef: Any, store: Path, crash_after: int | None = None) -> Any:
    return run_inline(mdef, 4, store=store, instance_id="order-1",
                      events=[("approve", "yes")], crash_after_writes=crash_after)


def _check_tree(spans: list[ReadableSpan]) -> dict[str, ReadableSpan]:
    """The shape every run must have; returns the instance spans by instance id."""
    ids = [s.context.span_id for s in spans]
    assert len(ids) == len(set(ids)), "a span id emitted twice"
    assert len({s.context.trace_id for s in spans}) == 1, "more than one trace"
    by_name = Counter(s.name for s in spans)
    assert by_name["orchestration parent"] == 1 and by_name["orchestration child"] == 1
    instances = {s.attributes["tether.instance_id"]: s for s in spans
                 if s.name.startswith("orchestration ")}
    root, sub = instances["order-1"], instances["child-1"]
    assert root.parent is None and root.attributes["tether.status"] == "Completed"
    assert sub.parent is not None and sub.parent.span_id == root.context.span_id
    by_id = {s.context.span_id: s for s in spans}
    for s in spans:
        if s.name.startswith("orchestration "):
            continue
        if s.name == "payment provider call":  # the user's span, inside the activity's
            assert s.parent is not None and by_id[s.parent.span_id].name == "activity charge"
            continue
        owner = instances[s.attributes["tether.instance_id"]]
        assert s.parent is not None and s.parent.span_id == owner.context.span_id, s.name
        assert owner.start_time <= s.start_time <= s.end_time
    assert by_name["timer"] == 1 and by_name["event approve"] == 1
    assert by_name["activity charge"] == by_name["payment provider call"] >= 2
    return instances


def test_spans_of_a_run(traced: InMemorySpanExporter, mdef: Any, tmp_path: Path) -> None:
    result = _run(mdef, tmp_path / "s")
    assert result.output == {"paid": 8, "approval": "yes", "sub": 16}
    spans = list(traced.get_finished_spans())
    _check_tree(spans)
    by_name = Counter(s.name for s in spans)
    assert by_name["activity charge"] == 2
    assert by_name["parent step"] == 5 and by_name["child step"] == 2
    timer = next(s for s in spans if s.name == "timer")
    assert (timer.end_time - timer.start_time) == 5 * 10**9  # journaled times


def test_crash_and_resume_continue_the_trace_each_span_once(
        traced: InMemorySpanExporter, mdef: Any, tmp_path: Path) -> None:
    crashed = 0
    for crash_after in range(1, 30):
        traced.clear()
        store = tmp_path / f"s{crash_after}"
        try:
            _run(mdef, store, crash_after)
        except SimulatedCrash:
            crashed += 1
            result = _run(mdef, store)
        else:
            break
        assert result.status == "Completed"
        spans = list(traced.get_finished_spans())
        _check_tree(spans)
        steps = Counter(s.name for s in spans)
        # nothing is replayed: at most the one step (or attempt) the crash cut short twice
        assert steps["parent step"] + steps["child step"] <= 7 + 1, (crash_after, steps)
        assert steps["activity charge"] <= 2 + 1
    assert crashed >= 8


def test_a_started_instance_is_a_child_of_the_callers_span(
        traced: InMemorySpanExporter, mdef: Any, tmp_path: Path) -> None:
    from runtime.client import Client
    from runtime.worker import Worker

    with trace.get_tracer("web").start_as_current_span("POST /orders") as request:
        Client(tmp_path / "s").start(mdef, 4, instance_id="order-1")
    Client(tmp_path / "s").raise_event("order-1", "approve", "ok")
    Worker(tmp_path / "s").serve(until_idle=True)
    spans = list(traced.get_finished_spans())
    root = next(s for s in spans if s.name == "orchestration parent")
    assert root.parent is not None
    assert root.parent.span_id == request.get_span_context().span_id
    assert root.context.trace_id == request.get_span_context().trace_id


WORKER = '''
import json, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

class ToFile(SpanExporter):
    def export(self, spans):
        with open(sys.argv[3], "a") as fh:
            for s in spans:
                fh.write(json.dumps({"name": s.name, "trace": s.context.trace_id,
                    "span": s.context.span_id, "parent": s.parent.span_id if s.parent else None,
                    "instance": s.attributes.get("tether.instance_id")}) + "\\n")
                fh.flush()
        return SpanExportResult.SUCCESS

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(ToFile()))
trace.set_tracer_provider(provider)
from tether.loader import load
from runtime.worker import Worker
load(sys.argv[1])
Worker(sys.argv[2]).serve(until_idle=True)
'''

SLOW = '''
import time
from pathlib import Path

from tether import OrchestrationContext, activity, orchestrator


@activity
def step(job: dict) -> int:
    if job["i"] == 2:
        while not Path(job["go"]).exists():  # the first worker is killed here
            time.sleep(0.02)
    return job["i"]


@orchestrator
async def slow(ctx: OrchestrationContext, go: str) -> list[int]:
    return [await ctx.call_activity(step, {"i": i, "go": go}) for i in range(4)]
'''


def test_a_killed_worker_and_its_successor_write_one_trace(tmp_path: Path) -> None:
    src = tmp_path / "slow.py"
    src.write_text(SLOW)
    store, go = tmp_path / "store", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TETHER_OTEL": "1"}
    started = subprocess.run(
        [sys.executable, "-m", "tether.cli", "start", f"{src}:slow", "--input",
         json.dumps(str(go)), "--id", "slow-1", "--store", str(store)],
        env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    first = subprocess.Popen([sys.executable, str(script), str(src), str(store),
                              str(tmp_path / "a.jsonl")], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 60
    while sum(1 for _ in _read(tmp_path / "a.jsonl") if _["name"] == "activity step") < 2:
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.05)
    time.sleep(0.3)  # inside the third attempt, which waits for `go`
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    go.write_text("")
    second = subprocess.run([sys.executable, str(script), str(src), str(store),
                             str(tmp_path / "b.jsonl")], env=env, cwd=tmp_path, timeout=120)
    assert second.returncode == 0
    before, after = list(_read(tmp_path / "a.jsonl")), list(_read(tmp_path / "b.jsonl"))
    spans = before + after
    [root] = [s for s in spans if s["name"] == "orchestration slow"]
    assert root in after  # the instance span comes from the process that ended it
    assert {s["trace"] for s in spans} == {root["trace"]}
    assert all(s["parent"] == root["span"] for s in spans if s is not root)
    assert len({s["span"] for s in spans}) == len(spans)
    attempts = [s for s in spans if s["name"] == "activity step"]
    assert len([s for s in attempts if s in before]) == 2  # the third never ended there
    assert len([s for s in attempts if s in after]) == 2  # nothing done is traced again


def _read(path: Path) -> Iterator[dict[str, Any]]:
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                yield json.loads(line)
