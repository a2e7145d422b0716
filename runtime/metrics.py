"""Prometheus metrics: what this process's engines did, and what the store holds.

Two sources, one exposition (`GET /metrics`, `Client.metrics()`):

- `PROCESS`: counters and histograms fed by the engine's events (`runtime.observe`):
  steps run, activity attempts and failures, step and activity latencies, instances
  started and ended. They count what engines *in this process* did since it started, as
  Prometheus counters do (a restart resets them; Prometheus handles resets).
- `StoreCollector`: gauges read from the store at each scrape: instances by runtime
  status, and the queue depth (instances created and not yet started by a worker, plus
  started ones with messages waiting in their inbox).

Metrics live in their own registry, not prometheus_client's global one, so an app that
exports its own metrics does not get tether's by accident (and two apps in one test
process do not collide).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from runtime.observe import (
    ActivityEnded,
    ActivityStarted,
    Event,
    InstanceEnded,
    InstanceStarted,
    StepRan,
    subscribe,
)

if TYPE_CHECKING:
    from runtime.client import Client

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
RUNTIME_STATUSES = ("Pending", "Running", "Completed", "Failed", "Terminated", "Suspended",
                    "ContinuedAsNew")
#: Latency buckets in seconds: a step is usually well under a millisecond, an activity
#: anything from a microsecond to minutes.
BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0)


class ProcessMetrics:
    """The engine-fed metrics of this process, in `registry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.started = Counter("tether_instances_started", "instances a worker here started "
                               "running", ["orchestration"], registry=r)
        self.ended = Counter("tether_instances_ended", "instances that ended here, by final "
                             "status", ["orchestration", "status"], registry=r)
        self.steps = Counter("tether_steps", "orchestrator steps run (code between two "
                             "awaits)", ["orchestration"], registry=r)
        self.attempts = Counter("tether_activity_attempts", "activity attempts started",
                                ["activity"], registry=r)
        self.failures = Counter("tether_activity_failures", "activity attempts that raised",
                                ["activity"], registry=r)
        self.step_seconds = Histogram("tether_step_seconds", "time to run one step",
                                      ["orchestration"], buckets=BUCKETS, registry=r)
        self.activity_seconds = Histogram("tether_activity_seconds", "time one activity "
                                          "attempt ran", ["activity"], buckets=BUCKETS,
                                          registry=r)

    def __call__(self, event: Event) -> None:
        """The observer subscriber: one event in, the matching series updated."""
        if isinstance(event, StepRan):
            self.steps.labels(event.orchestration).inc()
            self.step_seconds.labels(event.orchestration).observe(event.seconds)
        elif isinstance(event, ActivityStarted):
            self.attempts.labels(event.activity).inc()
        elif isinstance(event, ActivityEnded):
            self.activity_seconds.labels(event.activity).observe(event.seconds)
            if event.error is not None:
                self.failures.labels(event.activity).inc()
        elif isinstance(event, InstanceStarted):
            self.started.labels(event.orchestration).inc()
        elif isinstance(event, InstanceEnded):
            self.ended.labels(event.orchestration, event.status).inc()

    def totals(self) -> dict[str, float]:
        """Each counter summed over its labels (`tether_steps_total` -> `steps`)."""
        out: dict[str, float] = {}
        for metric in self.registry.collect():
            if metric.type != "counter":
                continue
            name = metric.name.removeprefix("tether_")
            out[name] = sum(s.value for s in metric.samples if s.name.endswith("_total"))
        return out


PROCESS = ProcessMetrics()
subscribe(PROCESS)


class StoreCollector(Collector):
    """Gauges read from the store at each scrape."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot()
        by_status = GaugeMetricFamily("tether_instances", "instances in the store by runtime "
                                      "status", labels=["status"])
        for status in RUNTIME_STATUSES:
            by_status.add_metric([status], snap["instances"].get(status, 0))
        yield by_status
        yield GaugeMetricFamily("tether_queue_depth", "instances waiting for a worker: "
                                "created and not started, or with messages in their inbox",
                                value=snap["queueDepth"])


def store_snapshot(client: Client) -> dict[str, Any]:
    """Instances by status and the queue depth, from the backend's index (no journal is
    read; an inbox is looked at only for started instances that have not ended)."""
    from runtime.backends.base import Query

    counts: Tally[str] = Tally()
    waiting = 0
    token: str | None = None
    while True:
        page = client.backend.query(Query(top=1000, continuation=token))
        for row in page.items:
            counts[row.status] += 1
            if row.status in ("Running", "Suspended", "ContinuedAsNew") and \
                    client.backend.inbox(row.instance_id):
                waiting += 1
        token = page.continuation
        if token is None:
            break
    return {"instances": {s: counts.get(s, 0) for s in RUNTIME_STATUSES},
            "queueDepth": counts.get("Pending", 0) + waiting}


def metrics_exposition(client: Client) -> Callable[[], bytes]:
    """The `/metrics` body for `client`'s store: the store's gauges, then this process's
    counters and histograms (Prometheus text format)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(lambda: store_snapshot(client)))

    def render() -> bytes:
        return generate_latest(registry) + generate_latest(PROCESS.registry)

    return render
